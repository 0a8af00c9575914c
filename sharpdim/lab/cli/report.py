"""``sharpdim report SWEEP.sqlite``: Markdown + PNG report of a sweep file.

Writes ``README.md``, figures, ``results.csv`` and ``kendall.json`` to ``--out`` (default:
the sweep file's folder when it is named after the sweep, else ``<name>/`` beside the sweep
file). The sweep file itself is only read (see
:meth:`sharpdim.lab.sweeps.storage.SweepStore.open_readonly`). Exit status 2 when the file
is missing, corrupt or not a sweep file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("report", help="tables and figures of a sweep file",
                              description="Write the Markdown report of a sweep file.")
    p.add_argument("sweeps", type=Path, nargs="+", metavar="SWEEP.sqlite",
                   help="sweep file(s) written by `sharpdim sweep`")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default: the sweep file's own folder when that folder "
                        "is named after the sweep, as reports/<name>/sweep.sqlite is, else a "
                        "folder <name>/ beside the sweep file); only with one file")
    p.add_argument("--overview", type=Path, default=None, metavar="PATH",
                   help="also write PATH: the Regime section of every report written, in "
                        "one page (reports/REGIMES.md)")
    p.add_argument("--claims", type=Path, default=None, metavar="PATH",
                   help="also write PATH: every claim of the paper with each report's verdict "
                        "(reports/CLAIMS.md); --extra adds report folders that are not sweeps")
    p.add_argument("--extra", type=Path, action="append", default=[], metavar="FOLDER",
                   help="a report folder (with README.md and results.csv) that --claims also "
                        "reads, e.g. reports/trajectory_lyapunov; repeat for more")
    p.add_argument("--pages-only", action="store_true",
                   help="write only the --overview / --claims pages, from the reports already "
                        "written beside the sweep files (no report is regenerated)")
    p.add_argument("--resamples", type=int, default=400,
                   help="bootstrap resamples per interval (default 400)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sharpdim.lab.reports.sweep_report import write_report
    from sharpdim.lab.sweeps.storage import StorageError

    if args.out is not None and len(args.sweeps) > 1:
        print("sharpdim report: --out needs exactly one sweep file", file=sys.stderr)
        return 2
    if args.resamples < 1:
        print(f"sharpdim report: --resamples must be >= 1, got {args.resamples}",
              file=sys.stderr)
        return 2
    if args.pages_only and args.overview is None and args.claims is None:
        print("sharpdim report: --pages-only needs --overview or --claims", file=sys.stderr)
        return 2
    readmes = []
    for path in args.sweeps:
        if args.pages_only:
            readme = Path(path).parent / "README.md"
            if not readme.is_file():
                print(f"sharpdim report: --pages-only needs the report {readme}, which does "
                      "not exist", file=sys.stderr)
                return 2
        else:
            try:
                readme = write_report(path, args.out, n_resamples=args.resamples)
            except StorageError as exc:
                print(f"sharpdim report: {exc}", file=sys.stderr)
                return 2
            print(f"report -> {readme}")
        readmes.append(Path(readme))
    for folder in args.extra:
        if not (Path(folder) / "README.md").is_file():
            print(f"sharpdim report: --extra {folder} must be a report folder with a "
                  "README.md", file=sys.stderr)
            return 2
    if args.claims is not None:
        from sharpdim.lab.provenance import git_state
        from sharpdim.lab.reports.claims_page import render_claims

        commit = git_state(exclude=("reports",)).describe()
        pages = readmes + [Path(f) / "README.md" for f in args.extra]
        args.claims.write_text(render_claims(pages, args.claims, commit=commit),
                               encoding="utf-8")
        print(f"claims -> {args.claims}")
    if args.overview is not None:
        from sharpdim.lab.reports.overview import render_overview

        args.overview.write_text(render_overview(readmes, args.overview) + "\n",
                                 encoding="utf-8")
        print(f"overview -> {args.overview}")
    return 0
