"""Fractal dimensions of point clouds: box counting and correlation (Grassberger–Procaccia).

Both fit a straight line by ordinary least squares in log–log coordinates and report its
slope with the regression standard error ``sqrt(SSR / (m − 2) / Σ(x − x̄)²)`` (``m`` scales).
That standard error measures the scatter about the line only: it does not include the
finite-size bias of the chosen range, nor the correlation between counts at nested scales.

* Box counting: ``N(ε)`` = number of occupied cells of the grid ``origin + ε·Z^dim`` (cells
  half-open, ``[o + jε, o + (j+1)ε)``); ``D_box`` = slope of ``ln N(ε)`` against ``ln(1/ε)``.
* Correlation: ``C(r)`` = fraction of the ``n(n−1)/2`` distinct pairs at distance ``≤ r``;
  ``D_2`` = slope of ``ln C(r)`` against ``ln r``.

Default ranges are heuristics (documented at each function); for a claim about a particular
set pass ``scales``/``radii`` chosen for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sharpdim import _validate
from sharpdim.vocabulary import DISTANCE_METRICS, DistanceMetric

__all__ = [
    "BoxCountingDimension",
    "CorrelationDimension",
    "LogLogFit",
    "box_counting_dimension",
    "correlation_dimension",
    "loglog_fit",
]

# the Minkowski p of each distance metric (cKDTree's ``p``)
_P_NORMS = {"euclidean": 2.0, "chebyshev": np.inf}
assert tuple(_P_NORMS) == DISTANCE_METRICS, "a p-norm for every metric of the vocabulary"
_LADDER = np.sqrt(2.0)  # ratio between consecutive default scales


@dataclass(frozen=True)
class LogLogFit:
    """OLS line ``y = intercept + slope·x`` with the regression standard error of the slope."""

    slope: float
    stderr: float
    intercept: float


def loglog_fit(x: np.ndarray, y: np.ndarray) -> LogLogFit:
    """Least-squares line through ``(x_i, y_i)`` (``m ≥ 3`` points, distinct ``x``).

    >>> fit = loglog_fit(np.array([0.0, 1.0, 2.0]), np.array([1.0, 3.0, 5.0]))
    >>> fit.slope, fit.stderr, fit.intercept
    (2.0, 0.0, 1.0)
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    dx = x - x.mean()
    sxx = float(dx @ dx)
    slope = float(dx @ (y - y.mean())) / sxx
    intercept = float(y.mean() - slope * x.mean())
    resid = y - intercept - slope * x
    ssr = float(resid @ resid)
    return LogLogFit(slope, float(np.sqrt(ssr / (x.size - 2) / sxx)), intercept)


@dataclass(frozen=True)
class BoxCountingDimension:
    """``dimension`` = fitted slope of ``ln N(ε)`` vs ``ln(1/ε)``, ``stderr`` its regression
    standard error; ``scales`` (descending) and ``counts`` are the values fitted."""

    dimension: float
    stderr: float
    scales: np.ndarray
    counts: np.ndarray
    origin: np.ndarray
    n_points: int


@dataclass(frozen=True)
class CorrelationDimension:
    """``dimension`` = fitted slope of ``ln C(r)`` vs ``ln r``, ``stderr`` its regression
    standard error; ``radii`` (ascending), ``pair_counts`` (distinct pairs within ``r``) and
    ``correlation`` ``C(r)`` are the values fitted. ``n_points_used < n_points`` when the cloud
    was subsampled (without replacement, by ``np.random.default_rng(seed)``)."""

    dimension: float
    stderr: float
    radii: np.ndarray
    pair_counts: np.ndarray
    correlation: np.ndarray
    n_points: int
    n_points_used: int
    seed: int
    metric: str


def _validated_cloud(points: Any, min_points: int) -> np.ndarray:
    pts = np.array(points, dtype=np.float64)
    if pts.ndim == 1:
        pts = pts[:, None]
    if pts.ndim != 2 or pts.shape[1] < 1:
        raise ValueError(
            f"points must have shape (n_points,) or (n_points, dim), got shape {np.shape(points)}"
        )
    if pts.shape[0] < min_points:
        raise ValueError(f"points must hold at least {min_points} points, got {pts.shape[0]}")
    if not np.isfinite(pts).all():
        row = int(np.flatnonzero(~np.isfinite(pts).all(axis=1))[0])
        raise ValueError(f"points must be finite, got {pts[row]} in row {row}")
    return pts


def _validated_ladder(name: str, values: Any) -> np.ndarray:
    v = np.array(values, dtype=np.float64)
    if v.ndim != 1 or v.size < 3:
        raise ValueError(f"{name} must be a 1-D sequence of at least 3 values, got shape {v.shape}")
    if not np.isfinite(v).all() or (v <= 0).any():
        raise ValueError(f"{name} must be finite and > 0, got {v.tolist()}")
    if np.unique(v).size != v.size:
        raise ValueError(f"{name} must be distinct, got {v.tolist()}")
    return v


def _extent(pts: np.ndarray) -> float:
    extent = float(np.ptp(pts, axis=0).max())
    if extent == 0.0:
        raise ValueError("points must not all coincide (zero extent), got a single repeated point")
    return extent


def occupied_boxes(points: np.ndarray, scale: float, origin: np.ndarray) -> int:
    """Number of cells ``[o + jε, o + (j+1)ε)`` (per coordinate) holding at least one point."""
    idx = np.floor((points - origin) / scale).astype(np.int64)
    idx -= idx.min(axis=0)
    sizes = [int(s) + 1 for s in idx.max(axis=0)]
    if int(np.prod(np.array(sizes, dtype=object))) < 2**62:
        keys = np.ravel_multi_index(tuple(idx.T), sizes)
        return int(np.unique(keys).size)
    return int(np.unique(idx, axis=0).shape[0])


def box_counting_dimension(
    points: Any,
    *,
    scales: Any = None,
    origin: Any = None,
) -> BoxCountingDimension:
    """Box-counting dimension of a point cloud ``(n_points, dim)`` (see the module docstring).

    ``origin`` anchors the grid (default: the coordinatewise minimum of the points). Default
    ``scales``: ``extent/4, extent/(4√2), …`` (extent = largest coordinate range) while the
    mean occupancy ``n_points / N(ε)`` stays ``≥ 5`` — below that the sample, not the set,
    limits ``N(ε)``; at least 3 scales must survive.

    >>> x = (np.arange(4096) + 0.5) / 4096      # a segment, 8 points per finest cell
    >>> fit = box_counting_dimension(x, scales=2.0 ** -np.arange(1, 10), origin=[0.0])
    >>> fit.counts.tolist()[:3], round(fit.dimension, 12)
    ([2, 4, 8], 1.0)
    """
    pts = _validated_cloud(points, 2)
    extent = _extent(pts)
    if origin is None:
        o = pts.min(axis=0)
    else:
        o = np.array(origin, dtype=np.float64).reshape(-1)
        if o.shape != (pts.shape[1],) or not np.isfinite(o).all():
            raise ValueError(f"origin must be {pts.shape[1]} finite numbers, got {origin!r}")
    reach = float(np.abs(pts - o).max())
    if scales is None:
        eps, counts = [], []
        e = extent / 4.0
        while e > reach * 1e-12:
            n_boxes = occupied_boxes(pts, e, o)
            if pts.shape[0] < 5 * n_boxes:
                break
            eps.append(e)
            counts.append(n_boxes)
            e /= _LADDER
        if len(eps) < 3:
            raise ValueError(
                f"too few points ({pts.shape[0]}) for default box-counting scales: only "
                f"{len(eps)} scale(s) from extent/4 keep >= 5 points per occupied box; pass "
                "scales= or more points"
            )
        eps_arr = np.array(eps)
        count_arr = np.array(counts, dtype=np.int64)
    else:
        eps_arr = np.sort(_validated_ladder("scales", scales))[::-1].copy()
        if eps_arr[-1] < reach * 1e-12:
            raise ValueError(
                f"scales must be >= 1e-12 × the cloud's reach from the origin ({reach:.3g}) so "
                f"that box indices are exact, got {eps_arr[-1]:.3g}"
            )
        count_arr = np.array([occupied_boxes(pts, e, o) for e in eps_arr], dtype=np.int64)
    fit = loglog_fit(-np.log(eps_arr), np.log(count_arr))
    for a in (eps_arr, count_arr, o):
        a.setflags(write=False)
    return BoxCountingDimension(fit.slope, fit.stderr, eps_arr, count_arr, o, pts.shape[0])


def correlation_dimension(
    points: Any,
    *,
    radii: Any = None,
    metric: DistanceMetric = "euclidean",
    max_points: int = 5000,
    seed: int = 0,
    min_pairs: int = 200,
    max_correlation: float = 0.05,
) -> CorrelationDimension:
    """Correlation dimension ``D_2`` of a point cloud (Grassberger–Procaccia).

    Pair counts come from a k-d tree (``scipy.spatial.cKDTree.count_neighbors``; ``metric``
    ``"euclidean"`` or ``"chebyshev"`` = max-norm). Clouds larger than ``max_points`` are
    subsampled with ``seed``. Default ``radii``: ``extent·2^(−j/2)`` for which at least
    ``min_pairs`` pairs lie within ``r`` (relative counting error ``≤ 1/√min_pairs``) and
    ``C(r) ≤ max_correlation`` (small radii, away from the set's overall size).

    >>> x = np.random.default_rng(0).uniform(size=(2000, 1))   # C(r) = 2r − r² on [0, 1]
    >>> fit = correlation_dimension(x, radii=[0.002, 0.004, 0.008, 0.016])
    >>> bool(abs(fit.dimension - 1.0) < 0.05)
    True
    """
    from scipy.spatial import cKDTree  # imported here: scipy.spatial is slow to import

    _validate.choice("metric", metric, DISTANCE_METRICS)
    for name, value, low in (("max_points", max_points, 3), ("min_pairs", min_pairs, 1),
                             ("seed", seed, 0)):
        _validate.integer(name, value, minimum=low)
    _validate.real("max_correlation", max_correlation, minimum=0.0, maximum=1.0, open_min=True)
    pts = _validated_cloud(points, 3)
    n_points = pts.shape[0]
    if n_points > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(n_points, max_points, replace=False))
        pts = pts[keep]
    n = pts.shape[0]
    n_pairs = n * (n - 1) // 2
    tree = cKDTree(pts)
    p = _P_NORMS[metric]

    def pairs_within(r: np.ndarray) -> np.ndarray:
        # count_neighbors counts ordered pairs (i, j) including i == j.
        return (np.asarray(tree.count_neighbors(tree, r, p=p), dtype=np.int64) - n) // 2

    if radii is None:
        extent = _extent(pts)
        ladder = extent * _LADDER ** -np.arange(0.0, 80.0)
        counts = pairs_within(ladder)
        ok = (counts >= min_pairs) & (counts <= max_correlation * n_pairs)
        if ok.sum() < 3:
            raise ValueError(
                f"too few points ({n}) for default correlation radii: only {int(ok.sum())} "
                f"radius(es) have >= {min_pairs} pairs and C(r) <= {max_correlation}; pass "
                "radii= or more points"
            )
        r_arr, count_arr = ladder[ok][::-1].copy(), counts[ok][::-1].copy()
    else:
        r_arr = np.sort(_validated_ladder("radii", radii))
        count_arr = pairs_within(r_arr)
        if (count_arr == 0).any():
            r0 = float(r_arr[np.flatnonzero(count_arr == 0)[-1]])
            raise ValueError(
                f"radii must each enclose at least one pair, got none within r = {r0:.3g}; "
                "choose larger radii"
            )
    corr = count_arr / n_pairs
    fit = loglog_fit(np.log(r_arr), np.log(corr))
    for a in (r_arr, count_arr, corr):
        a.setflags(write=False)
    return CorrelationDimension(
        fit.slope, fit.stderr, r_arr, count_arr, corr, n_points, n, int(seed), metric
    )
