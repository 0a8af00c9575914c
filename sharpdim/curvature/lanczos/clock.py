"""The clock Lanczos reads its times from (``seconds``, ``hvp_seconds``,
``reorth_seconds``): a parameter of every run (``clock=``), defaulting to the innermost
:func:`timing_clock` block, else wall time (``time.perf_counter``)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

__all__ = ["timing_clock", "resolve_clock"]

Clock = Callable[[], float]

_CLOCKS = [time.perf_counter]


def _clock() -> float:
    return _CLOCKS[-1]()


@contextlib.contextmanager
def timing_clock(clock: Callable[[], float]) -> Iterator[None]:
    """Within the block, the times Lanczos records (``seconds``, ``hvp_seconds``,
    ``reorth_seconds``) are read from ``clock`` instead of wall time — e.g.
    ``time.thread_time``, so that a benchmark's split of one run is in the same clock as its
    totals."""
    _CLOCKS.append(clock)
    try:
        yield
    finally:
        _CLOCKS.pop()


def resolve_clock(clock: Clock | None) -> Clock:
    """``clock``, or when ``None`` the one in effect: the innermost :func:`timing_clock`
    block's, else ``time.perf_counter``."""
    return _CLOCKS[-1] if clock is None else clock
