"""0-dimensional persistent homology of point clouds: MST lifetimes, α-weighted lifetime
sums and the PH dimension (Birdal et al. 2021; Dupuis et al. 2023 for the loss metric).

For the Vietoris–Rips filtration of a finite metric space every 0-dimensional class is
born at 0 and dies when its component merges, and the death times are exactly the edge
lengths of a minimum spanning tree (Kruskal's algorithm is the merge order). So

    E_α(W) = Σ_{e ∈ MST(W)} |e|^α

is the α-weighted lifetime sum, computed here with ``scipy.sparse.csgraph``. For ``n``
points sampled from a set of upper box dimension ``D > α``, ``E_α(W_n) ≍ n^{(D − α)/D}``;
fitting the slope ``m`` of ``log E_α`` against ``log n`` gives ``dim_PH = α / (1 − m)``.

Duplicate points are merged before the tree is built: they add zero-length edges, which
change no ``E_α`` with ``α > 0``, while scipy reads a zero in a dense distance matrix as a
missing edge (which would make the tree wrong).

Two metrics are used on trajectories of training: the Euclidean distance between parameter
vectors, and the data-dependent pseudo-metric ``ρ_S(w, w') = (1/n) Σ_i |ℓ(w, z_i) −
ℓ(w', z_i)|`` (the mean absolute difference of the per-example losses, Dupuis et al.).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse.csgraph import minimum_spanning_tree
from scipy.spatial.distance import pdist, squareform

from sharpdim import _validate

__all__ = [
    "PHDimension",
    "mst_edge_lengths",
    "lifetime_sum",
    "ph_dimension",
    "loss_distance_matrix",
]


def _points(points) -> np.ndarray:
    x = np.asarray(points, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"points must be an (n, d) array, got shape {np.shape(points)}")
    if x.shape[0] < 2:
        raise ValueError(f"points must hold at least 2 points, got {x.shape[0]}")
    if not np.isfinite(x).all():
        raise ValueError("points must be finite, got a non-finite coordinate")
    return x


def _distance_matrix(distances) -> np.ndarray:
    D = np.asarray(distances, dtype=np.float64)
    if D.ndim != 2 or D.shape[0] != D.shape[1] or D.shape[0] < 2:
        raise ValueError(f"distances must be a square (n, n) matrix with n >= 2, got {D.shape}")
    if not np.isfinite(D).all() or (D < 0).any():
        raise ValueError("distances must be finite and non-negative")
    if not np.allclose(D, D.T, rtol=0, atol=0):
        raise ValueError("distances must be symmetric")
    return D


def _mst_from_matrix(D: np.ndarray) -> np.ndarray:
    """Edge lengths of the MST of the complete graph on ``D``, where zero off-diagonal
    entries are merged first (see the module docstring)."""
    n = D.shape[0]
    # Union of points at distance 0: keep the first of each class.
    keep = np.ones(n, dtype=bool)
    zero = (D == 0) & ~np.eye(n, dtype=bool)
    for i in range(n):
        if keep[i]:
            keep[np.flatnonzero(zero[i, i + 1:]) + i + 1] = False
    D = D[np.ix_(keep, keep)]
    if D.shape[0] == 1:
        return np.zeros(0)
    tree = minimum_spanning_tree(D)
    edges = np.sort(tree.data)
    if edges.size != D.shape[0] - 1:  # a (pseudo-)metric without zero edges is connected
        raise RuntimeError(f"MST has {edges.size} edges for {D.shape[0]} distinct points")
    return edges


def mst_edge_lengths(points=None, *, distances=None) -> np.ndarray:
    """Sorted edge lengths of a minimum spanning tree = the finite 0-dimensional persistence
    lifetimes of the Rips filtration. Give ``points`` (Euclidean, ``(n, d)``) or a full
    ``distances`` matrix. ``n − 1`` lengths for ``n`` distinct points.

    >>> mst_edge_lengths(np.array([0.0, 0.25, 1.0, 1.5])).tolist()   # on a line: the gaps
    [0.25, 0.5, 0.75]
    """
    if (points is None) == (distances is None):
        raise ValueError("give exactly one of points and distances")
    if distances is None:
        x = _points(points)
        x = np.unique(x, axis=0)
        if x.shape[0] == 1:
            return np.zeros(0)
        return _mst_from_matrix(squareform(pdist(x)))
    return _mst_from_matrix(_distance_matrix(distances))


def lifetime_sum(points=None, *, alpha: float = 1.0, distances=None) -> float:
    """``E_α = Σ_{e ∈ MST} |e|^α`` (α-weighted 0-dimensional lifetime sum), ``α > 0``.

    >>> lifetime_sum(np.array([[0, 0], [1, 0], [1, 1], [0, 1]]), alpha=2.0)  # 3 unit edges
    3.0
    """
    if not (np.isfinite(alpha) and alpha > 0):
        raise ValueError(f"alpha must be > 0 and finite, got {alpha}")
    return float(np.sum(mst_edge_lengths(points, distances=distances) ** alpha))


@dataclass(frozen=True)
class PHDimension:
    """PH dimension ``α / (1 − m)`` from the fitted slope ``m`` of ``log E_α(W_n)`` vs
    ``log n``. ``dimension`` is ``inf`` when ``m ≥ 1`` (the sums grow at least linearly: no
    finite dimension fits). ``sizes``/``sums``: the subsample sizes and their ``E_α``;
    ``r2``: coefficient of determination of the fit; ``seed``: subsampling seed."""

    dimension: float
    slope: float
    intercept: float
    r2: float
    alpha: float
    sizes: np.ndarray
    sums: np.ndarray
    n_points: int
    seed: int
    metric: str


def ph_dimension(
    points=None,
    *,
    distances=None,
    alpha: float = 1.0,
    min_points: int | None = None,
    n_sizes: int = 8,
    seed: int,
    metric: str = "euclidean",
) -> PHDimension:
    """PH dimension of a point cloud (Birdal et al. 2021, Alg. 1, 0-dimensional).

    For ``n_sizes`` subsample sizes log-spaced from ``min_points`` (default ``n / 10``, at
    least 10) to ``n``, draw a subsample without replacement (``seed``), compute ``E_α``,
    fit ``log E_α = m log n + c`` by least squares and return ``α / (1 − m)``.

    >>> t = np.linspace(0.0, 1.0, 400)       # a segment: E_1 = range of the subsample ≈ 1
    >>> round(ph_dimension(t, seed=0).dimension, 1)
    1.0
    """
    if (points is None) == (distances is None):
        raise ValueError("give exactly one of points and distances")
    D = squareform(pdist(_points(points))) if distances is None else _distance_matrix(distances)
    n = D.shape[0]
    _validate.positive("alpha", alpha)
    _validate.integer("n_sizes", n_sizes, minimum=2)
    lo = max(10, n // 10) if min_points is None else min_points
    if isinstance(lo, bool) or not isinstance(lo, int) or not 2 <= lo < n:
        raise ValueError(f"min_points must be an integer in [2, n={n}), got {lo!r}")
    seed = _validate.integer("seed", seed, minimum=0)
    sizes = np.unique(np.round(np.geomspace(lo, n, n_sizes)).astype(int))
    if sizes.size < 2:
        raise ValueError(f"need at least 2 distinct subsample sizes, got {sizes.tolist()}")
    rng = np.random.default_rng(int(seed))
    sums = np.empty(sizes.size)
    for k, size in enumerate(sizes):
        idx = rng.choice(n, size=int(size), replace=False)
        sums[k] = float(np.sum(_mst_from_matrix(D[np.ix_(idx, idx)]) ** alpha))
    if (sums <= 0).any():
        raise ValueError(
            "a subsample has E_alpha = 0 (all its points coincide); the PH dimension of a "
            "point is not estimable this way")
    logn, loge = np.log(sizes), np.log(sums)
    slope, intercept = np.polyfit(logn, loge, 1)
    resid = loge - (slope * logn + intercept)
    total = float(np.sum((loge - loge.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid**2)) / total if total > 0 else 1.0
    dimension = alpha / (1.0 - slope) if slope < 1 else float("inf")
    return PHDimension(
        dimension=float(dimension), slope=float(slope), intercept=float(intercept), r2=r2,
        alpha=float(alpha), sizes=sizes, sums=sums, n_points=n, seed=int(seed), metric=metric,
    )


def loss_distance_matrix(losses) -> np.ndarray:
    """``ρ_S(w_i, w_j) = mean_k |ℓ(w_i, z_k) − ℓ(w_j, z_k)|`` for a ``(n_points,
    n_examples)`` array of per-example losses (Dupuis et al.'s data-dependent pseudo-metric).

    >>> float(loss_distance_matrix(np.array([[0.0, 1.0], [2.0, 1.0]]))[0, 1])   # (2 + 0) / 2
    1.0
    """
    L = np.asarray(losses, dtype=np.float64)
    if L.ndim != 2 or L.shape[0] < 2 or L.shape[1] < 1:
        raise ValueError(f"losses must be an (n_points >= 2, n_examples >= 1) array, got {L.shape}")
    if not np.isfinite(L).all():
        raise ValueError("losses must be finite")
    return squareform(pdist(L, metric="cityblock")) / L.shape[1]
