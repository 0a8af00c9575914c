"""``sharpdim study NAME [--output DIR] [--quick]``: run one study of :mod:`sharpdim.lab.studies`.

    sharpdim study --list                              # the studies, one line each
    sharpdim study trajectory_lyapunov                 # regenerates reports/trajectory_lyapunov/
    sharpdim study trajectory_lyapunov --quick --output /tmp/tl   # two tiny runs

Each study runs through the same functions as its older entry point (``python -m ...``, or
``sharpdim bench curvature`` for the re-orthogonalization study, whose committed table is a
subsection of ``reports/benchmarks.md``), so the reports it writes are the same. ``--output
DIR`` is the folder it writes into; without it a full-size run started inside the source
checkout rewrites the committed report, and a ``--quick`` run (or one started elsewhere)
writes nothing: it is refused with exit status 2 (the re-orthogonalization study, which owns no
committed file, prints its table instead). Exit status 2 also for an unknown ``NAME`` and for
``--quick`` on a study without a quick mode.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sharpdim.lab.provenance import checkout_target

__all__ = ["STUDIES", "Study", "add_parser", "run"]


@dataclass(frozen=True)
class Study:
    """One study: what it finds (``summary``), the committed output it regenerates (a file
    or a folder below the checkout; ``None``: it owns none), the name of that output below
    ``--output DIR`` (``None``: DIR itself), whether it has a quick mode, and ``run(target,
    quick)``, which writes to ``target`` (``None``: print only) and returns the exit status."""

    summary: str
    committed: str | None
    output_name: str | None
    has_quick: bool
    run: Callable[[Path | None, bool], int]


def _estimator_convergence(target: Path | None, quick: bool) -> int:
    from sharpdim.lab.studies.estimator_convergence import (
        write_network_section,
        write_synthetic_section,
    )

    target.parent.mkdir(parents=True, exist_ok=True)
    write_synthetic_section(target)   # python -m sharpdim.lab.bench.convergence
    write_network_section(target)     # python -m sharpdim.lab.sweeps.estimator_validation
    return 0


def _reorthogonalization(target: Path | None, quick: bool) -> int:
    from sharpdim.lab.cli.bench import QUICK, _single_threaded
    from sharpdim.lab.studies.reorthogonalization import (
        render_reorthogonalization_markdown,
        reorthogonalization_study,
    )

    options = QUICK["curvature"]["reorth_options"] if quick else {}
    with _single_threaded():          # as in sharpdim bench curvature
        rows = reorthogonalization_study(**options)
    text = "\n".join(render_reorthogonalization_markdown(rows)).lstrip("\n") + "\n"
    print(text, end="")
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        print(f"report: {target}", file=sys.stderr)
    return 0


def _trajectory_lyapunov(target: Path | None, quick: bool) -> int:
    from sharpdim.lab.studies.trajectory_lyapunov import main

    return main([str(target), *(["--tiny"] if quick else [])])


def _dysts_maps(target: Path | None, quick: bool) -> int:
    from sharpdim.lab.studies.dysts_maps import main

    target.parent.mkdir(parents=True, exist_ok=True)
    return main([str(target)])


STUDIES: dict[str, Study] = {
    "estimator_convergence": Study(
        "SD-SLQ/KDE/PS against the exact SD as runs and Lanczos steps grow, synthetic cases "
        "and trained networks (slow: tens of minutes)",
        "reports/estimator_convergence.md", "estimator_convergence.md", False,
        _estimator_convergence),
    "reorthogonalization": Study(
        "SD error of each Lanczos re-orthogonalization mode, the data behind the default "
        "(committed in reports/benchmarks.md by `sharpdim bench curvature`)",
        None, "reorthogonalization.md", True, _reorthogonalization),
    "trajectory_lyapunov": Study(
        "Lyapunov spectrum, D_KY and SD along small networks' own training trajectories",
        "reports/trajectory_lyapunov", None, True, _trajectory_lyapunov),
    "dysts_maps": Study(
        "dysts' discrete maps checked with sharpdim (QR spectra against published values)",
        "reports/audits/dysts_maps.md", "dysts_maps.md", False, _dysts_maps),
}


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("study", help="run one study (reports/...; --list names them)")
    p.add_argument("name", nargs="?", metavar="NAME", help=f"one of {', '.join(STUDIES)}")
    p.add_argument("--list", action="store_true", help="list the studies and exit")
    p.add_argument("--output", type=Path, default=None, metavar="DIR",
                   help="folder to write into (default: the committed report of the checkout, "
                        "written only by a full-size run started inside the checkout)")
    p.add_argument("--quick", action="store_true",
                   help="the study's smoke sizes; writes only where --output says")
    p.set_defaults(run=run)


def _target(study: Study, output: Path | None, quick: bool) -> tuple[Path | None, str]:
    """Where the study writes, and why not when it writes nowhere (``""``: it may go on)."""
    if output is not None:
        return (output if study.output_name is None else output / study.output_name), ""
    if study.committed is None:
        return None, ""
    if quick:
        return None, (f"a --quick run never replaces the committed {study.committed}; pass "
                      "--output DIR")
    target = checkout_target(study.committed)
    if target is None:
        return None, (f"run from inside the source checkout to update its {study.committed}, "
                      "or pass --output DIR")
    return target, ""


def run(args: argparse.Namespace) -> int:
    if args.list:
        width = max(map(len, STUDIES))
        for name, study in STUDIES.items():
            print(f"{name:<{width}}  {study.summary}")
        return 0
    if args.name not in STUDIES:
        got = "no NAME" if args.name is None else repr(args.name)
        print(f"sharpdim study: NAME must be one of {', '.join(STUDIES)}, got {got}",
              file=sys.stderr)
        return 2
    study = STUDIES[args.name]
    if args.quick and not study.has_quick:
        print(f"sharpdim study: {args.name} has no quick mode", file=sys.stderr)
        return 2
    target, why = _target(study, args.output, args.quick)
    if why:
        print(f"sharpdim study {args.name}: not run: {why}", file=sys.stderr)
        return 2
    return int(study.run(target, args.quick) or 0)
