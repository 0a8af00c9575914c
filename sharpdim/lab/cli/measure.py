"""``sharpdim measure SWEEP.sqlite --group NAME``: add a measure group to finished runs from
their stored weights, without retraining (resumable; see
:mod:`sharpdim.lab.sweeps.remeasure`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("measure", help="add a measure group to finished runs",
                              description="Add a measure group to the finished runs of a "
                              "sweep file from their stored weights (no retraining; a rerun "
                              "skips runs already measured).")
    p.add_argument("sweep", type=Path, metavar="SWEEP.sqlite",
                   help="the sweep file whose finished runs get the group")
    p.add_argument("--group", required=True, action="append",
                   help="measure group name (repeatable), e.g. jiang or heldout")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sharpdim.lab.sweeps.remeasure import remeasure
    from sharpdim.lab.sweeps.storage import StorageError

    try:
        for group in args.group:
            counts = remeasure(args.sweep, group, log=lambda t: print(t, file=sys.stderr))
            print(f"{group}: {counts['measured']} measured, {counts['skipped_done']} already "
                  f"measured, {counts['no_weights']} without stored weights")
    except (ValueError, StorageError) as exc:
        print(f"sharpdim measure: {exc}", file=sys.stderr)
        return 2
    return 0
