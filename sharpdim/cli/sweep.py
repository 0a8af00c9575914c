"""``sharpdim sweep CONFIG.toml``: train and measure a grid, resumably, into one SQLite file.

Exit status: 0 when every run of the grid has a terminal result (finished or diverged),
1 when some run failed (rerun the command to retry those), 2 for a bad configuration,
scheduler or sweep file (nothing was trained).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "sweep", help="train + measure a grid of runs (resumable; SQLite output)",
        description="Train and measure every run of CONFIG.toml's grid; rerunning resumes.")
    p.add_argument("config", type=Path, help="sweep configuration (TOML)")
    p.add_argument("--scheduler", default="local",
                   help="'local' (default: start a Dask LocalCluster here), 'inline' (no "
                        "Dask, one run at a time in this process) or tcp://HOST:PORT of an "
                        "existing Dask scheduler")
    p.add_argument("--workers", type=int, default=None,
                   help="LocalCluster worker processes (default: [engine] workers, else 2)")
    p.add_argument("--output", type=Path, default=None,
                   help="sweep file (default: the config's output, reports/<name>/sweep.sqlite)")
    p.add_argument("--report", action="store_true",
                   help="write the report (sharpdim report) when the sweep is complete")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sharpdim.experiments.config import ConfigError, load_config
    from sharpdim.experiments.engine import check_scheduler
    from sharpdim.experiments.storage import StorageError
    from sharpdim.experiments.sweep import run_sweep

    try:
        config = load_config(args.config)
        check_scheduler(args.scheduler)
        if args.workers is not None and args.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {args.workers}")
    except (ConfigError, ValueError) as exc:
        print(f"sharpdim sweep: {exc}", file=sys.stderr)
        return 2
    try:
        summary = run_sweep(config, output=args.output, scheduler=args.scheduler,
                            workers=args.workers, progress=not args.quiet)
    except StorageError as exc:
        print(f"sharpdim sweep: {exc}", file=sys.stderr)
        return 2
    counts = ", ".join(f"{v} {k}" for k, v in sorted(summary.outcomes.items())) or "nothing run"
    print(f"sweep {config.name}: {summary.planned} runs planned, {summary.already_done} "
          f"already done, {summary.executed} run now ({counts}) in {summary.seconds:.1f} s "
          f"-> {summary.path}")
    if summary.failed:
        print(f"sharpdim sweep: {summary.failed} run(s) failed; their tracebacks are in the "
              "sweep file (runs.error); rerun the command to retry them", file=sys.stderr)
        return 1
    if args.report:
        from sharpdim.report.sweep_report import write_report

        out = write_report(summary.path)
        print(f"report -> {out}")
    return 0
