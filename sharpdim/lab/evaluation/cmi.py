"""Conditional mutual information between a measure's and the gap's pairwise rankings
(Jiang et al. 2019, *Fantastic generalization measures*, §4; the PGDL competition's score).

Over ordered pairs of runs ``(i, j)`` put ``V_g = [g_i > g_j]`` and ``V_m = [m_i > m_j]``
(strict; a tie is "not greater"). For a set ``S`` of hyperparameters a pair's cell is
``U_S = ((h_i, h_j) for h in S)``. In bits,

* :func:`cmi_pgdl` (the competition's program): for each pair of distinct hyperparameters
  ``S = {h1, h2}`` build the 2 × 2 table of ``(V_g, V_m)`` in every cell, average ``I(V_g; V_m)``
  and ``H(V_g)`` *uniformly* over the cells that hold pairs, score ``mean I / mean H``; the result
  is the minimum over ``S``. Pairs include ``i = j``, as that program's do.
* :func:`cmi_weighted` (the paper's ``Î(V_m, V_g | U_S) / H(V_g | U_S)``): cells weighted by their
  share of pairs, minimized over every ``S`` with ``|S| ≤ 2``, the empty set included; pairs
  ``i ≠ j``.

With a single hyperparameter the PGDL form conditions on that one (there is no pair). A table
whose ``H(V_g)`` is 0 everywhere (a constant gap) has no information to explain: ``None``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sharpdim.lab.evaluation.records import column, complete_rows

__all__ = ["cmi_pgdl", "cmi_weighted", "mutual_information_bits", "entropy_bits"]


def entropy_bits(p: np.ndarray) -> float:
    """Shannon entropy in bits of a probability vector (``0 log 0 = 0``).

    >>> entropy_bits(np.array([0.5, 0.5])), entropy_bits(np.array([1.0, 0.0]))
    (1.0, 0.0)
    """
    p = np.asarray(p, dtype=np.float64).ravel()
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum()) + 0.0 if p.size else 0.0   # + 0.0: no −0.0


def mutual_information_bits(table: np.ndarray) -> float:
    """``I(X; Y)`` in bits of a 2-D count table: ``H(X) + H(Y) − H(X, Y)``.

    >>> mutual_information_bits(np.array([[5, 0], [0, 5]]))
    1.0
    >>> mutual_information_bits(np.ones((2, 2)))
    0.0
    """
    t = np.asarray(table, dtype=np.float64)
    p = t / t.sum()
    return max(0.0, entropy_bits(p.sum(1)) + entropy_bits(p.sum(0)) - entropy_bits(p))


def _pair_tables(rows, measure, target, hyperparameters, subset, include_self):
    """The 2 × 2 count table of ``(V_g, V_m)`` in every cell of ``U_subset``."""
    g, m = column(rows, target), column(rows, measure)
    n = len(rows)
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    keep = np.ones_like(i, dtype=bool) if include_self else i != j
    i, j = i[keep], j[keep]
    vg, vm = (g[i] > g[j]).astype(int), (m[i] > m[j]).astype(int)
    cells: dict[tuple, np.ndarray] = {}
    for a, b, x, y in zip(i.tolist(), j.tolist(), vg.tolist(), vm.tolist(), strict=True):
        key = tuple((rows[a][h], rows[b][h]) for h in subset)
        cells.setdefault(key, np.zeros((2, 2)))[x, y] += 1
    return cells


def _rows(records, measure, target, hyperparameters):
    if isinstance(hyperparameters, str):
        raise TypeError(f"hyperparameters must be a sequence of column names, got the string "
                        f"{hyperparameters!r}")
    rows = complete_rows(records, [measure, target])
    missing = [h for h in hyperparameters for r in rows if h not in r]
    if missing:
        raise ValueError(f"every run must have hyperparameter {missing[0]!r}, got a run without")
    if len(rows) < 2:
        raise ValueError(f"a CMI needs at least 2 runs with finite {measure!r} and {target!r}, "
                         f"got {len(rows)}")
    return rows


def cmi_pgdl(records: Sequence[Mapping[str, Any]], measure: str, target: str,
             hyperparameters: Sequence[str]) -> float | None:
    """The PGDL competition's conditional mutual information score (module docstring).

    >>> runs = [{"lr": a, "b": b, "m": a + b + s / 10, "g": a + b + s / 10}
    ...         for a in (1, 2) for b in (1, 3) for s in (0, 1)]
    >>> cmi_pgdl(runs, "m", "g", ["lr", "b"])    # a measure equal to the gap: 1
    1.0
    """
    rows = _rows(records, measure, target, hyperparameters)
    hs = list(hyperparameters)
    subsets = list(itertools.combinations(hs, 2)) if len(hs) >= 2 else [tuple(hs)]
    scores = []
    for subset in subsets:
        cells = _pair_tables(rows, measure, target, hs, subset, include_self=True).values()
        mi = np.mean([mutual_information_bits(t) for t in cells])
        h = np.mean([entropy_bits(t.sum(1) / t.sum()) for t in cells])
        if h > 0:
            scores.append(float(mi / h))
    return min(scores) if scores else None


def cmi_weighted(records: Sequence[Mapping[str, Any]], measure: str, target: str,
                 hyperparameters: Sequence[str]) -> float | None:
    """Jiang et al.'s ``min_{|S| ≤ 2} Î(V_m, V_g | U_S) / H(V_g | U_S)`` (module docstring).

    >>> runs = [{"lr": a, "m": 0.0, "g": a} for a in (1, 2, 3)]
    >>> cmi_weighted(runs, "m", "g", ["lr"])     # a constant measure carries nothing: 0
    0.0
    """
    rows = _rows(records, measure, target, hyperparameters)
    hs = list(hyperparameters)
    subsets = [()] + [(h,) for h in hs] + list(itertools.combinations(hs, 2))
    scores = []
    for subset in subsets:
        cells = list(_pair_tables(rows, measure, target, hs, subset, include_self=False).values())
        weights = np.array([t.sum() for t in cells]) / sum(t.sum() for t in cells)
        mi = float(np.dot(weights, [mutual_information_bits(t) for t in cells]))
        h = float(np.dot(weights, [entropy_bits(t.sum(1) / t.sum()) for t in cells]))
        if h > 0:
            scores.append(mi / h)
    return min(scores) if scores else None
