"""``sharpdim audit MODULE:FUNCTION --kind KIND``: check someone else's estimator against
sharpdim's analytic oracles.

    sharpdim audit mypkg.lyap:spectrum --kind lyapunov-map
    sharpdim audit sharpdim.testing.adapters.pyhessian:eigenvalues_defaults \\
        --kind hessian-spectrum --quantity top_eigenvalues --report reports/audits/pyhessian.md
    sharpdim audit sharpdim.testing.adapters.nolds --report reports/audits/nolds.md
    sharpdim audit --list          # every adapter, kind, library version last run with

``MODULE`` alone audits every entry of the module's ``AUDITS`` list (the adapters have one).
The current directory is importable, as with ``python -m``. Prints one table per audit (or
JSON with ``--json``); ``--report PATH`` rewrites the audit's own section of the Markdown file
``PATH`` and merges its JSON into ``PATH`` with the suffix ``.json``. Exit status: 0 when every
case of every audit passed, 1 when one failed, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import sys
from pathlib import Path

__all__ = ["add_parser", "run"]

from sharpdim.vocabulary import AUDIT_KINDS as _KINDS
from sharpdim.vocabulary import AUDIT_SIGNATURES


def add_parser(subparsers) -> None:
    epilog = "kinds and the call each makes of your estimator:\n" + "\n".join(
        f"  {kind:<22} {AUDIT_SIGNATURES[kind]}" for kind in _KINDS)
    p = subparsers.add_parser(
        "audit", help="check an estimator against analytic oracles",
        description="Audit MODULE:FUNCTION (or every entry of MODULE.AUDITS) against the "
                    "oracle cases of its kind.", epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", metavar="MODULE[:FUNCTION]", nargs="?", default=None,
                   help="the estimator, e.g. mypkg.mod:func (importable from the current "
                        "directory)")
    p.add_argument("--list", action="store_true", dest="list_adapters",
                   help="list every adapter, its kind, the library version installed and "
                        "the one its committed report (reports/audits/) was last run with")
    p.add_argument("--kind", choices=_KINDS, default=None,
                   help="kind of estimator (required with :FUNCTION unless the function's "
                        "audit_info implies it)")
    p.add_argument("--quantity", choices=("top_eigenvalues", "trace", "density"),
                   default=None, help="hessian-spectrum only: the quantity returned")
    p.add_argument("--profile", choices=("quick", "thorough"), default="quick",
                   help="quick (CI-sized cases) or thorough (more and longer cases)")
    p.add_argument("--json", action="store_true", help="print the reports as JSON")
    p.add_argument("--report", type=Path, default=None,
                   help="Markdown report to update (JSON written beside it)")
    p.add_argument("--time-limit", type=float, default=None,
                   help="seconds per case (default: 120 quick, 900 thorough); not with "
                        "--isolation inline")
    p.add_argument("--isolation", choices=("auto", "process", "thread", "inline"),
                   default="auto", help="how calls are bounded (default: a worker process "
                                        "when the estimator can be pickled)")
    p.add_argument("--case", action="append", dest="cases", default=None, metavar="NAME",
                   help="run only this case (repeatable)")
    p.set_defaults(run=run)


def _resolve(target: str, kind: str | None, quantity: str | None):
    """``[(callable, kind, quantity)]`` for ``MODULE:FUNCTION`` or ``MODULE`` (its AUDITS)."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module_name, _, function = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise
    except BaseException as exc:  # SyntaxError, or any error raised while importing
        if isinstance(exc, KeyboardInterrupt):
            raise
        where = ""
        if isinstance(exc, SyntaxError):
            where = f" ({exc.filename}, line {exc.lineno})"
        raise ValueError(f"cannot import {module_name}: {type(exc).__name__}: "
                         f"{getattr(exc, 'msg', None) or exc}{where}") from None
    if function:
        obj = module
        for part in function.split("."):
            obj = getattr(obj, part)
        if kind is None:
            raise ValueError(f"--kind is required for {target} (one of {', '.join(_KINDS)})")
        return [(obj, kind, quantity)]
    entries = getattr(module, "AUDITS", None)
    if not entries:
        raise ValueError(f"{module_name} has no AUDITS list; give MODULE:FUNCTION and --kind")
    out = []
    for name, entry_kind, entry_quantity in entries:
        if kind is not None and entry_kind != kind:
            continue
        if quantity is not None and entry_quantity != quantity:
            continue
        out.append((getattr(module, name), entry_kind, entry_quantity))
    if not out:
        raise ValueError(f"no entry of {module_name}.AUDITS matches the given --kind/--quantity")
    return out


def _progress(name: str, row) -> None:
    print(f"  {name}: {row.verdict}", file=sys.stderr, flush=True)


def _list() -> int:
    from sharpdim.testing.auditing.listing import format_listing, list_adapters

    print(format_listing(list_adapters()))
    return 0


def run(args: argparse.Namespace) -> int:
    from sharpdim.testing.auditing import audit, write_json, write_markdown
    from sharpdim.testing.auditing.report import read_json

    if args.report is not None:
        try:  # before any work: a report we could not merge into must fail now
            read_json(args.report.with_suffix(".json"))
        except ValueError as exc:
            print(f"sharpdim audit: {exc}", file=sys.stderr)
            return 2

    if getattr(args, "list_adapters", False):
        return _list()
    if args.target is None:
        print("sharpdim audit: give MODULE[:FUNCTION] (or --list)", file=sys.stderr)
        return 2

    try:
        targets = _resolve(args.target, args.kind, args.quantity)
    except (ImportError, AttributeError, ValueError) as exc:
        print(f"sharpdim audit: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    reports = []
    for estimator, kind, quantity in targets:
        print(f"auditing {args.target} as {kind}{f' ({quantity})' if quantity else ''}, "
              f"profile {args.profile}", file=sys.stderr)
        try:
            report = audit(estimator, kind, args.profile, quantity=quantity,
                           time_limit=args.time_limit, isolation=args.isolation,
                           only=args.cases, progress=_progress)
        except (ValueError, TypeError) as exc:
            print(f"sharpdim audit: {exc}", file=sys.stderr)
            return 2
        from sharpdim.lab.reports.provenance import git_commit

        report = dataclasses.replace(report, provenance={"commit": git_commit(),
                                                         **report.provenance})
        reports.append(report)
        if not args.json:
            print(report.to_terminal(), end="\n\n")
        if args.report is not None:
            library = (report.adapter or {}).get("library")
            title = f"Audit of {library}" if library else "Audit report"
            intro = "" if ":" in args.target else (
                f"Regenerate every section: `sharpdim audit {args.target} --profile "
                f"{args.profile} --report {args.report}`.")
            write_markdown(args.report, report, title=title, intro=intro)
            write_json(args.report.with_suffix(".json"), report)
    if args.json:
        payload = [r.to_dict() for r in reports]
        print(json.dumps(payload[0] if len(payload) == 1 else payload, indent=2))
    if args.report is not None:
        print(f"report: {args.report} (+ {args.report.with_suffix('.json').name})",
              file=sys.stderr)
    return 0 if all(r.passed for r in reports) else 1
