"""The ``sharpdim`` command line: check, bench, estimate, sweep, measure, report, audit, study.

Each subcommand lives in its own module exposing ``add_parser(subparsers)`` and
``run(args) -> int`` (the exit status).
"""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["main", "build_parser"]

_SUBCOMMANDS = ("check", "bench", "estimate", "sweep", "measure", "report", "audit",
                "study")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sharpdim",
        description="Sharpness dimension of optimizers as random dynamical systems.",
    )
    from sharpdim import __version__

    parser.add_argument("--version", action="version", version=f"sharpdim {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _SUBCOMMANDS:
        try:
            module = importlib.import_module(f"sharpdim.lab.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"sharpdim.lab.cli.{name}":
                raise
            continue
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
