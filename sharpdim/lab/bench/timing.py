"""Timing conventions shared by the benchmark suites.

A benchmark here times the compared functions in turns (A, B, C, A, B, C, …). Within one
turn they run on the same machine state, so the ratio of two of them is taken turn by turn
and summarized by its median, with the least and largest turn as its range: a change of the
machine's speed between turns (common on a shared machine) cancels in each ratio, where the
least times of the two could come from different turns.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["within_turn_ratio"]


def within_turn_ratio(num: Sequence[float], den: Sequence[float]) -> tuple[float, float, float]:
    """Median, least and largest over the turns of ``num[i] / den[i]``.

    >>> within_turn_ratio([1.1, 2.4, 1.2], [1.0, 2.0, 1.0])   # turn 2 on a slower machine
    (1.2, 1.1, 1.2)
    """
    n, d = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    if n.shape != d.shape or n.ndim != 1 or n.size == 0:
        raise ValueError(f"num and den must be equally long non-empty sequences of turns, got "
                         f"shapes {n.shape} and {d.shape}")
    r = n / d
    return float(np.median(r)), float(r.min()), float(r.max())
