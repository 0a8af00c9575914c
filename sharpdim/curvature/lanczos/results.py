"""What a Lanczos run returns: the tridiagonal ``T_m``, its Ritz values, Gauss quadrature
weights and residual norms (:class:`LanczosResult`), the extreme eigenvalues
(:class:`ExtremeEigenvalues`) and the error of a run out of steps
(:class:`LanczosNotConverged`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.linalg import eigh_tridiagonal

if TYPE_CHECKING:
    from sharpdim.curvature.lanczos.recurrence import _Lockstep

__all__ = ["LanczosResult", "ExtremeEigenvalues", "LanczosNotConverged"]


@dataclass(frozen=True)
class LanczosResult:
    """One Lanczos run (float64 numpy arrays).

    ``alphas`` (``m``) and ``betas`` (``m − 1``) define ``T_m``; ``beta_last`` is ``β_m``;
    ``ritz_values`` ascending, ``ritz_weights`` their squared first components (sum 1),
    ``residual_norms`` ``β_m |S_{mℓ}|``; ``n_steps`` = ``m`` (fewer than asked after a
    breakdown, ``breakdown`` then True); ``v0_norm`` the start vector's norm; seconds: wall
    time of the run (``hvp_seconds`` in products, ``reorth_seconds`` in re-orthogonalization;
    for runs in lockstep these are the shared totals of the group); ``reorthogonalization``
    the mode (``"full"``, ``"partial"``, ``"none"``) and ``n_reorth`` the steps of this run
    that re-orthogonalized (all of them for ``"full"``, none for ``"none"``).
    """

    alphas: np.ndarray
    betas: np.ndarray
    beta_last: float
    ritz_values: np.ndarray
    ritz_weights: np.ndarray
    residual_norms: np.ndarray
    n_steps: int
    n_hvp: int
    breakdown: bool
    reorthogonalized: bool
    v0_norm: float
    seconds: float
    hvp_seconds: float
    reorth_seconds: float
    reorthogonalization: str = "full"
    n_reorth: int = 0


@dataclass(frozen=True)
class ExtremeEigenvalues:
    """Extreme eigenvalues from Lanczos: ``top`` (``k`` largest, descending) and ``bottom``
    (``k`` smallest, ascending), ``None`` for an end not asked for; ``*_residuals`` their
    residual norms ``β_m |S_{mℓ}|``; ``converged`` when every wanted residual is ``≤ tol ·
    max|θ|``; cost ``n_steps``/``n_hvp``/``seconds``; ``seed`` of the start vector(s)."""

    top: np.ndarray | None
    bottom: np.ndarray | None
    top_residuals: np.ndarray | None
    bottom_residuals: np.ndarray | None
    converged: bool
    which: str
    k: int
    tol: float
    n_steps: int
    n_hvp: int
    seed: int
    seconds: float


class LanczosNotConverged(RuntimeError):
    """Lanczos ran out of steps before the wanted Ritz pairs converged; ``partial`` holds the
    :class:`ExtremeEigenvalues` reached (``converged=False``)."""

    def __init__(self, message: str, partial: ExtremeEigenvalues) -> None:
        super().__init__(message)
        self.partial = partial


def _ritz(alphas: np.ndarray, betas: np.ndarray, beta_last: float):
    theta, S = eigh_tridiagonal(alphas, betas)
    return theta, S[0] ** 2, np.abs(beta_last * S[-1])


def _result(engine: _Lockstep, r: int, v0_norm: float, seconds: float) -> LanczosResult:
    alphas, betas, beta_last = engine.tridiagonal(r)
    theta, weights, residuals = _ritz(alphas, betas, beta_last)
    return LanczosResult(
        alphas=alphas, betas=betas, beta_last=beta_last, ritz_values=theta,
        ritz_weights=weights, residual_norms=residuals, n_steps=int(engine.steps[r]),
        n_hvp=int(engine.steps[r]), breakdown=bool(engine.breakdown[r]),
        reorthogonalized=engine.reorth, v0_norm=v0_norm, seconds=seconds,
        hvp_seconds=engine.hvp_seconds, reorth_seconds=engine.reorth_seconds,
        reorthogonalization=engine.mode, n_reorth=int(engine.n_reorth[r]),
    )
