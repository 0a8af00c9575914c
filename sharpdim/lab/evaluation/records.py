"""The run table the evaluation statistics read: one mapping per trained run.

A column is read as float64; a run whose measure, target or any named hyperparameter is missing
or non-finite is dropped by :func:`complete_rows` before a statistic is computed (both values of
a comparison must come from the same runs).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["finite_value", "complete_rows", "column", "configuration_keys"]


def finite_value(value: Any) -> float | None:
    """``value`` as a float when it is a finite real number (bools refused), else ``None``.

    >>> finite_value("0.5"), finite_value(""), finite_value(float("nan")), finite_value(3)
    (0.5, None, None, 3.0)
    """
    if isinstance(value, bool) or value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def complete_rows(records: Sequence[Mapping[str, Any]], names: Sequence[str]) -> list[dict]:
    """The runs with a finite value in every column of ``names``, those values as floats."""
    if isinstance(records, Mapping):
        raise TypeError(f"records must be a sequence of mappings (one per run), got a "
                        f"{type(records).__name__}")
    out = []
    for record in records:
        values = {k: finite_value(record.get(k)) for k in names}
        if all(v is not None for v in values.values()):
            out.append({**record, **values})
    return out


def column(rows: Sequence[Mapping[str, Any]], name: str) -> np.ndarray:
    """The column ``name`` of (complete) rows as a float64 array."""
    return np.array([float(r[name]) for r in rows], dtype=np.float64)


def configuration_keys(rows: Sequence[Mapping[str, Any]],
                       hyperparameters: Sequence[str]) -> list[tuple]:
    """Each run's configuration: the tuple of its hyperparameter values."""
    return [tuple(r[h] for h in hyperparameters) for r in rows]
