"""Lanczos tridiagonalization, one run or many in lockstep, with full, partial or no
re-orthogonalization.

From a unit start ``q_1``, ``m`` steps of ``w = H q_j − α_j q_j − β_{j−1} q_{j−1}``,
``α_j = q_jᵀ H q_j``, ``β_j = ‖w‖``, ``q_{j+1} = w / β_j`` build ``H Q_m = Q_m T_m + β_m
q_{m+1} e_mᵀ`` with ``T_m`` tridiagonal (diagonal ``α``, off-diagonal ``β_1..β_{m−1}``).
Full re-orthogonalization (classical Gram–Schmidt, applied twice) keeps ``Q_m`` orthonormal
to working precision, so no spurious copies of converged eigenvalues appear; partial
re-orthogonalization (Simon) keeps it to ``√eps``, enough for ``T_m`` to be the projection of
the operator to ``O(eps)``; without re-orthogonalization converged Ritz values reappear as
ghost copies sharing the original's weight (Paige; the quadrature of smooth functions is
still accurate, Knizhnerman 1996). Which one SLQ uses is decided by measured SD error and
cost (:data:`sharpdim.curvature.slq.DEFAULT_REORTHOGONALIZATION`).

From ``T_m = S diag(θ) Sᵀ`` (``eigh`` in float64): Ritz values ``θ_ℓ``; quadrature weights
``ω_ℓ = S_{1ℓ}²`` (they sum to 1 and satisfy ``Σ_ℓ ω_ℓ θ_ℓ^p = q_1ᵀ H^p q_1`` for
``p ≤ 2m − 1`` — Gauss quadrature, the basis of SLQ); residual norms
``‖H y_ℓ − θ_ℓ y_ℓ‖ = β_m |S_{mℓ}|`` for the Ritz vectors ``y_ℓ = Q_m S_{:ℓ}``.

A breakdown (``β_j ≤ 10 √N · eps · ‖T‖``: the Krylov space is invariant up to rounding)
ends a run early — its quadrature is then exact — except in :func:`extreme_eigenvalues`,
which restarts with a fresh random vector orthogonal to the basis so that all of the
spectrum stays reachable.

One concept per module: :mod:`~sharpdim.curvature.lanczos.recurrence` (the three-term
recurrence, runs in lockstep, the entry points :func:`lanczos`, :func:`lanczos_lockstep`,
:func:`lanczos_plain`), :mod:`~sharpdim.curvature.lanczos.reorthogonalization` (full and
partial), :mod:`~sharpdim.curvature.lanczos.extremes` (:func:`extreme_eigenvalues`),
:mod:`~sharpdim.curvature.lanczos.results` (the result types) and
:mod:`~sharpdim.curvature.lanczos.clock` (the clock runs are timed with: ``clock=`` or
:func:`timing_clock`). Every name stays importable from ``sharpdim.curvature.lanczos``.
"""

from __future__ import annotations

from sharpdim.curvature.lanczos.clock import _CLOCKS, _clock, resolve_clock, timing_clock
from sharpdim.curvature.lanczos.extremes import _extremes, extreme_eigenvalues
from sharpdim.curvature.lanczos.recurrence import (
    _Lockstep,
    _mode,
    _unit_rows,
    lanczos,
    lanczos_lockstep,
    lanczos_plain,
)
from sharpdim.curvature.lanczos.results import (
    ExtremeEigenvalues,
    LanczosNotConverged,
    LanczosResult,
    _result,
    _ritz,
)

__all__ = [
    "LanczosResult",
    "ExtremeEigenvalues",
    "LanczosNotConverged",
    "lanczos",
    "lanczos_lockstep",
    "lanczos_plain",
    "extreme_eigenvalues",
    "timing_clock",
    "resolve_clock",
]
# the old module's private names, for code that reached into it
_PRIVATE = (_CLOCKS, _clock, _extremes, _Lockstep, _mode, _unit_rows, _result, _ritz)
