"""How far the weighted sharpness dimension can move when its measure moves (numpy).

For a measure ``ν`` of total mass ``W`` on the log singular values, with decreasing quantile
function ``Q`` (``Q(u)`` = the value at mass ``u`` counted from the top), put
``Φ(M) = ∫_0^M Q(u) du``. The weighted Kaplan–Yorke formula of :mod:`sharpdim.dimension` is
exactly ``SD(ν) = max{M ∈ [0, W] : Φ(M) ≥ 0}`` (``Φ`` is concave, zero at 0, and linear on
each atom, which is the formula's interpolation). Hence, for two measures of equal mass,

    |Φ_1 − Φ_2| ≤ W_1(ν_1, ν_2) = ∫_0^W |Q_1 − Q_2|      (1-Wasserstein, unnormalized)

and, since ``Φ_i`` falls at rate ``≥ |z_i^next|`` past ``SD_i`` (``z^next < 0``: the value
right after the transition),

    |SD_1 − SD_2| ≤ W_1(ν_1, ν_2) / min_i |z_i^next|

(a side with ``SD_i = W`` needs no bound). The bound holds across SD's jumps too: where a
partial sum reaches 0 with a vanishing next value, ``|z^next| → 0`` and the bound grows to cover
the jump (an atom at 0 moved by ``−s`` drops SD from its mass ``m`` to 0, and the bound is
``m·s/s = m`` exactly). Measures of unequal mass are compared after scaling
``ν_2`` to the mass of ``ν_1`` (``SD`` scales with the mass), the scaling term added.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sharpdim.dimension import kaplan_yorke_decomposition

__all__ = ["wasserstein_1", "SDPerturbation", "sd_perturbation_bound"]


def _clean(nodes, weights) -> tuple[np.ndarray, np.ndarray]:
    z = np.asarray(nodes, dtype=np.float64).reshape(-1)
    w = np.ones_like(z) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    if z.shape != w.shape or z.size == 0:
        raise ValueError(f"nodes and weights must be non-empty with equal shapes, got {z.shape} "
                         f"and {w.shape}")
    if not np.isfinite(z).all() or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError("nodes must be finite and weights finite, >= 0, with positive sum")
    return z, w


def _quantile_gaps(z1, w1, z2, w2) -> tuple[np.ndarray, np.ndarray]:
    """The merged breakpoints' widths ``du`` (fractions of mass) and ``|Q_1 − Q_2|`` on each
    piece, for two cleaned measures each normalized to mass 1."""
    o1, o2 = np.argsort(z1, kind="stable"), np.argsort(z2, kind="stable")
    z1, z2 = z1[o1], z2[o2]
    c1 = np.cumsum(w1[o1]) / w1.sum()
    c2 = np.cumsum(w2[o2]) / w2.sum()
    c1[-1] = c2[-1] = 1.0
    cuts = np.unique(np.concatenate([[0.0], c1, c2]))
    mid = 0.5 * (cuts[1:] + cuts[:-1])
    q1 = z1[np.minimum(np.searchsorted(c1, mid, side="left"), z1.size - 1)]
    q2 = z2[np.minimum(np.searchsorted(c2, mid, side="left"), z2.size - 1)]
    return np.diff(cuts), np.abs(q1 - q2)


def wasserstein_1(nodes_1, weights_1, nodes_2, weights_2, *, mass: float | None = None) -> float:
    """``∫_0^W |Q_1 − Q_2| du``: the 1-Wasserstein distance of the two measures, each scaled to
    total mass ``W = mass`` (default: the first one's), computed exactly from the merged
    breakpoints of the two quantile step functions.

    >>> wasserstein_1([0.0], [2.0], [1.0], [2.0])       # mass 2 moved by 1
    2.0
    """
    z1, w1 = _clean(nodes_1, weights_1)
    z2, w2 = _clean(nodes_2, weights_2)
    W = float(w1.sum()) if mass is None else float(mass)
    du, gap = _quantile_gaps(z1, w1, z2, w2)
    return float(W * np.sum(du * gap))


def _wasserstein_over_slope(z1, w1, z2, w2, slope: float) -> float:
    """``W_1 / slope`` with each piece divided before the sum: ``W_1`` itself can underflow
    where ``slope`` is subnormal (an atom at 0 of mass 0.5 moved by −5e-324 has ``W_1`` =
    2.5e-324, which rounds to 0, while the ratio is exactly 0.5). A piece with ``|Q_1 − Q_2|``
    far above a tiny slope gives ``inf`` (a true, uninformative bound), never NaN."""
    du, gap = _quantile_gaps(z1, w1, z2, w2)
    with np.errstate(over="ignore"):
        return float(w1.sum() * np.sum(du * (gap / slope)))


@dataclass(frozen=True)
class SDPerturbation:
    """``bound`` on ``|SD(ν_1) − SD(ν_2)|``; its parts: ``wasserstein`` (``W_1`` at the mass
    of ``ν_1``), ``slope`` (``min |z^next|``, ``inf`` when both dimensions are full),
    ``mass_term`` (``SD_2 · |1 − W_1/W_2|`` from rescaling ``ν_2``); and the two dimensions."""

    bound: float
    wasserstein: float
    slope: float
    mass_term: float
    dimension_1: float
    dimension_2: float


def sd_perturbation_bound(nodes_1, weights_1, nodes_2, weights_2) -> SDPerturbation:
    """Bound ``|SD(ν_1) − SD(ν_2)|`` by ``W_1 / min|z^next|`` (see the module docstring).

    >>> b = sd_perturbation_bound([1.0, -2.0], None, [1.2, -2.0], None)
    >>> round(b.dimension_2 - b.dimension_1, 12), round(b.bound, 12)   # 0.1 ≤ 0.2 / 2
    (0.1, 0.1)
    """
    z1, w1 = _clean(nodes_1, weights_1)
    z2, w2 = _clean(nodes_2, weights_2)
    W1, W2 = float(w1.sum()), float(w2.sum())
    d1 = kaplan_yorke_decomposition(z1, w1)
    d2_scaled = kaplan_yorke_decomposition(z2, w2 * (W1 / W2))
    d2 = kaplan_yorke_decomposition(z2, w2)
    dist = wasserstein_1(z1, w1, z2, w2, mass=W1)
    # Q just past SD: the next atom's value, or the top value when SD = 0 (all values < 0)
    nexts = [abs(d.next_value if d.next_value is not None else float(z.max()))
             for d, z in ((d1, z1), (d2_scaled, z2)) if d.dimension < d.total_mass]
    slope = min(nexts) if nexts else float("inf")
    # both dimensions full: they are equal
    core = _wasserstein_over_slope(z1, w1, z2, w2, slope) if nexts else 0.0
    mass_term = abs(d2.dimension - d2_scaled.dimension)
    return SDPerturbation(core + mass_term, dist, slope, mass_term, d1.dimension, d2.dimension)
