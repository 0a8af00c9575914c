"""``sharpdim sweep CONFIG.toml``: train and measure a grid, resumably, into one SQLite file.

Exit status: 0 when every run of the grid has a terminal result (finished or diverged),
1 when some run failed (rerun the command to retry those), 2 for a bad configuration,
scheduler or sweep file (nothing was trained), 130 when interrupted (Ctrl-C: the runs
recorded so far are kept; rerunning resumes). Finished runs that are degenerate (zero
curvature: see :mod:`sharpdim.lab.sweeps.degenerate`) are counted in the summary line.
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
                   help="sweep file (default: the config's output, else "
                        "reports/<name>/sweep.sqlite); a relative path, here or in the config, "
                        "is relative to the current directory, not to the config file")
    p.add_argument("--report", action="store_true",
                   help="write the report (sharpdim report) when the sweep is complete")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sharpdim.lab.sweeps.config import ConfigError, load_config
    from sharpdim.lab.sweeps.engine import check_scheduler, probe_scheduler
    from sharpdim.lab.sweeps.storage import StorageError
    from sharpdim.lab.sweeps.sweep import run_sweep

    try:
        config = load_config(args.config)
        check_scheduler(args.scheduler)
        if args.workers is not None and args.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {args.workers}")
        probe_scheduler(args.scheduler)
    except (ConfigError, ValueError, ConnectionError) as exc:
        print(f"sharpdim sweep: {exc}", file=sys.stderr)
        return 2
    output = args.output or Path(config.output)
    try:
        summary = run_sweep(config, output=output, scheduler=args.scheduler,
                            workers=args.workers, progress=not args.quiet)
    except (StorageError, ConnectionError) as exc:
        print(f"sharpdim sweep: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nsharpdim sweep: interrupted; {_kept(output)} kept in {output}, rerun the "
              "same command to resume", file=sys.stderr)
        return 130
    counts = ", ".join(f"{v} {k}" for k, v in sorted(summary.outcomes.items())) or "nothing run"
    flagged = _degenerate_count(summary.path)
    print(f"sweep {config.name}: {summary.planned} runs planned, {summary.already_done} "
          f"already done, {summary.executed} run now ({counts}) in {summary.seconds:.1f} s "
          f"-> {summary.path}")
    if flagged:
        print(f"sharpdim sweep: {flagged} finished run(s) are degenerate (zero curvature: "
              "their SD counts flat directions of a dead network); the report marks them",
              file=sys.stderr)
    if summary.failed:
        print(f"sharpdim sweep: {summary.failed} run(s) failed; their tracebacks are in the "
              "sweep file (runs.error); rerun the command to retry them", file=sys.stderr)
        return 1
    if args.report:
        from sharpdim.lab.reports.sweep_report import write_report

        out = write_report(summary.path)
        print(f"report -> {out}")
    return 0


def _kept(path: Path) -> str:
    """``"N runs"`` with a terminal result in the sweep file (read-only), for the message."""
    from sharpdim.lab.sweeps.storage import StorageError, SweepStore

    try:
        with SweepStore.open_readonly(path) as store:
            n = len(store.terminal_ids())
    except StorageError:
        return "no runs"
    return f"{n} run{'s' if n != 1 else ''}"


def _degenerate_count(path: str | Path) -> int:
    from sharpdim.lab.sweeps.degenerate import degenerate_reason
    from sharpdim.lab.sweeps.storage import SweepStore

    with SweepStore.open_readonly(path) as store:
        profiles = {rid: a for (rid, _), a in sorted(store.arrays("rds_sharpness").items())}
        hessians = {rid: a for (rid, _), a in sorted(store.arrays("hessian_eigenvalues").items())}
        return sum(
            degenerate_reason(r, profile=profiles.get(r["run_id"]),
                              hessian=hessians.get(r["run_id"])) is not None
            for r in store.records() if r["status"] == "finished")
