"""Partial Spearman correlation of a measure and the gap given the hyperparameters (Tan et al.
2024): regress the ranks of ``m`` and of ``g`` on the ranks of the hyperparameters (least squares
with an intercept) and take the Spearman correlation of the two residual vectors. A measure whose
partial correlation vanishes is a readout of the hyperparameters. Ranks are average ranks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.stats import rankdata

from sharpdim.lab.evaluation.records import column, complete_rows

__all__ = ["partial_spearman"]

_RESIDUAL_FLOOR = 1e-10  # relative: residual ranks below this are rounding of an exact fit


def _pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else None


def partial_spearman(records: Sequence[Mapping[str, Any]], measure: str, target: str,
                     hyperparameters: Sequence[str]) -> float | None:
    """Spearman correlation of the residuals of ``rank(m)`` and ``rank(g)`` after least squares
    on ``[1, rank(h) for h in hyperparameters]``; ``None`` when a residual is identically 0 (the
    hyperparameters explain that variable exactly: nothing is left to correlate).

    >>> runs = [{"lr": lr, "m": lr + e, "g": lr + e} for lr in (1, 2, 3)
    ...         for e in (0.0, 0.1, 0.2)]
    >>> round(partial_spearman(runs, "m", "g", ["lr"]), 12)   # the seed-level part agrees
    1.0
    >>> partial_spearman(runs, "lr", "g", ["lr"]) is None      # η given η: nothing left
    True
    """
    if isinstance(hyperparameters, str):
        raise TypeError(f"hyperparameters must be a sequence of column names, got the string "
                        f"{hyperparameters!r}")
    rows = complete_rows(records, [measure, target, *hyperparameters])
    n = len(rows)
    if n < len(hyperparameters) + 3:
        raise ValueError(f"partial_spearman needs more runs than hyperparameters + 2, got {n} "
                         f"runs for {len(hyperparameters)} hyperparameters")
    design = np.column_stack([np.ones(n)] + [rankdata(column(rows, h))
                                             for h in hyperparameters])
    residuals = []
    for name in (measure, target):
        r = rankdata(column(rows, name))
        res = r - design @ np.linalg.lstsq(design, r, rcond=None)[0]
        if np.abs(res).max() <= _RESIDUAL_FLOOR * n:
            return None
        residuals.append(res)
    return _pearson(rankdata(residuals[0]), rankdata(residuals[1]))
