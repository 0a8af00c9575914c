"""Horizon-``k`` sharpness: ``(1/k)·ln σ_i(J_k⋯J_1)`` along the optimizer's own trajectory.

**Why.** The one-step values ``ln σ_i(J)`` of docs/theory.md §2 are singular values in the
Euclidean norm of the *stacked state* the update map acts on: ``w`` for SGD, ``(w, v)`` for
heavy ball, ``(w, m, v)`` for Adam/AdamW (:mod:`sharpdim.curvature.update_maps`). For a
non-normal Jacobian they change when the state is rescaled, e.g. ``v ↦ c·v`` turns ``J`` into
``C J C⁻¹`` with ``C = diag(I, cI)``: same eigenvalues, other singular values. For the
``k``-step product ``P_k = J_k⋯J_1`` the same change gives ``C P_k C⁻¹``, whose singular values
are within a factor ``κ(C)`` of those of ``P_k``, so

    |(1/k) ln σ_i(C P_k C⁻¹) − (1/k) ln σ_i(P_k)| ≤ ln κ(C) / k  →  0,

and the limit ``k → ∞`` — the Lyapunov exponents of the optimizer seen as a random dynamical
system (Oseledets) — does not depend on the norm: it is coordinate-free. For a constant
``J = V Λ V⁻¹`` the same argument gives ``|(1/k) ln σ_i(J^k) − ln|λ_i|| ≤ ln κ(V) / k``
(``σ_1(J^k) ∈ [ρ(J)^k, κ(V) ρ(J)^k]``; for 2×2 blocks ``σ_1σ_2 = |det J|^k``): the rate is
``O(1/k)`` for non-normal ``J`` and exact (every ``k``) for normal ``J`` (GD, ``I − ηH``).

Where it lives (one concept per module, every name importable from this package):
:mod:`~sharpdim.estimators.horizon.products` (the dense ``k``-step product, certified),
:mod:`~sharpdim.estimators.horizon.trajectories` (the optimizer's own trajectory, dense or
matrix-free), :mod:`~sharpdim.estimators.horizon.windows` (independent windows and their
seeds) and :mod:`~sharpdim.estimators.horizon.estimate` (:func:`horizon_sharpness`,
:func:`check_horizon` and the ``horizon > 1`` branch of :func:`sharpdim.estimate_sharpness`).
"""

from __future__ import annotations

# every module-level name of the single module this package was, so every old import works
from sharpdim.estimators.horizon.estimate import (
    check_horizon,
    estimate_with_horizon,
    horizon_sharpness,
)
from sharpdim.estimators.horizon.products import (  # noqa: F401 (re-exported)
    _EPS,
    _GROUP_TOL,
    DEFAULT_SWEEPS,
    ProductSpectrum,
    _backward_sweep,
    _certified_values,
    _forward_sweep,
    _groups,
    _is_int,
    _stalled,
    product_log_singular_values,
)
from sharpdim.estimators.horizon.trajectories import (  # noqa: F401 (re-exported)
    HORIZON_METHODS,
    ProductExponents,
    _map_at,
    _ProductGram,
    trajectory_exponents,
)
from sharpdim.estimators.horizon.windows import (  # noqa: F401 (re-exported)
    HorizonSharpness,
    _stderr,
    _window_batches,
)

__all__ = [
    "HORIZON_METHODS",
    "ProductSpectrum",
    "ProductExponents",
    "HorizonSharpness",
    "check_horizon",
    "product_log_singular_values",
    "trajectory_exponents",
    "horizon_sharpness",
    "estimate_with_horizon",
]
