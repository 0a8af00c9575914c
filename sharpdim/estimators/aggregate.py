"""Aggregating per-minibatch, per-point sharpness profiles into ``λ_1 ≥ … ≥ λ_S`` (numpy).

``values[b, p, k]`` is the ``k``-th largest log singular value of the one-step Jacobian for
minibatch ``b`` at attractor point ``p`` (each row sorted descending). docs/theory.md §2:

* ``"sup"`` (the definition ``λ_k = E_ω[sup_{w ∈ A(ω)} ln σ_k(ω, w)]``): the max over points,
  order by order, then the mean over minibatches;
* ``"mean"`` (the paper's practice at one trained point): the mean over minibatches and
  points, order by order.

With one point the two coincide for these per-order profiles (the exact method). The density
methods have no per-order values at a point, only a spectral measure pooled over Lanczos
probes: for them ``"sup"`` over one point is the mean by definition, and over several points it
is refused (see :func:`sharpdim.estimators.estimate.estimate_sharpness`). ``-inf`` (a zero
singular value) propagates as ``-inf``.
"""

from __future__ import annotations

import numpy as np

from sharpdim.vocabulary import AGGREGATES, Aggregate, choice

__all__ = ["AGGREGATES", "aggregate_profiles", "pooled_weights"]


def aggregate_profiles(values, aggregate: Aggregate) -> np.ndarray:
    """``λ_k`` from ``values`` of shape ``(n_batches, n_points, S)``, rows sorted descending.

    >>> v = np.array([[[2.0, 0.0], [1.0, 1.0]], [[0.0, -2.0], [1.0, -1.0]]])
    >>> aggregate_profiles(v, "sup").tolist()      # max over points per order, mean over batches
    [1.5, 0.0]
    >>> aggregate_profiles(v, "mean").tolist()     # mean of everything per order
    [1.0, -0.5]
    """
    choice("aggregate", aggregate, AGGREGATES)
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 3 or 0 in v.shape:
        raise ValueError(f"values must have shape (n_batches, n_points, S) with no empty axis, "
                         f"got {v.shape}")
    if np.isnan(v).any():
        raise ValueError("values must not contain NaN")
    with np.errstate(invalid="ignore"):  # mean of -inf entries is -inf, not NaN
        if aggregate == "sup":
            return v.max(axis=1).mean(axis=0)
        return v.mean(axis=(0, 1))


def pooled_weights(n_batches: int, n_points: int, size: int) -> np.ndarray:
    """Unit mass per order spread over all ``n_batches · n_points`` profiles: the weights that
    make the pooled atoms ``values.ravel()`` a measure of total mass ``size``."""
    return np.full(n_batches * n_points * size, 1.0 / (n_batches * n_points))
