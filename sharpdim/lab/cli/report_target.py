"""Where a command writes its report: one rule for every command that owns a committed file."""

from __future__ import annotations

import sys
from pathlib import Path

from sharpdim.lab.provenance import checkout_target

__all__ = ["report_target"]


def report_target(explicit: Path | None, committed: str, *, partial: str | None) -> Path | None:
    """``explicit`` (``--report PATH``) when given; else ``None`` for a partial or quick run
    (``partial`` says what made it partial: a committed report is never replaced by one); else
    the committed file ``<checkout>/committed`` when the command runs inside the source checkout,
    and ``None`` elsewhere. Every ``None`` is explained on stderr."""
    if explicit is not None:
        return explicit
    if partial is not None:
        print(f"report not written: {partial} never replaces the committed {committed}; pass "
              "--report PATH to write one", file=sys.stderr)
        return None
    target = checkout_target(committed)
    if target is None:
        print(f"report not written: run from inside the source checkout to update its "
              f"{committed}, or pass --report PATH", file=sys.stderr)
    return target
