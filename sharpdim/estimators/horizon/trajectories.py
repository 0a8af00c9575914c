"""The optimizer's own trajectory along ``k`` minibatches: ``(1/k) ln σ_i(J_k⋯J_1)`` with the
state advanced (:mod:`sharpdim.estimators.horizon`).

**Trajectory.** ``J_t = Dφ_t(s_{t−1})`` is the Jacobian of the update map for minibatch ``t``
at the state ``s_{t−1}`` reached after ``t − 1`` actual steps (``s_t = φ_t(s_{t−1})``; Adam's
step index ``t`` advances too). The state is **advanced, not held fixed**: by the cocycle
property ``Dφ(k, ω, s) = Dφ(1, θ^{k−1}ω, s_{k−1}) ⋯ Dφ(1, ω, s_0)`` (chain rule), which is
the product whose growth rates define the Lyapunov exponents; holding ``s`` fixed would be the
product of Jacobians of a different (frozen) system. The ``k`` minibatches of a window are
drawn independently (with-replacement-across-steps SGD sampling, the RDS convention of
:mod:`sharpdim.estimators.data`).

**Matrix-free method** (large ``N``): products with the Jacobian operators
(:class:`~sharpdim.curvature.update_jacobian.UpdateJacobianOperator`, one Hessian-vector
product per ``J u`` or ``Jᵀ u``) give ``PᵀP v`` for ``2k`` HVPs, and Lanczos
(:func:`~sharpdim.curvature.lanczos.extreme_eigenvalues`) finds its ``top`` largest
eigenvalues ``μ_i = σ_i(P)²``: exponents ``ln μ_i / (2k)``, with the Ritz-residual bound
``−ln(1 − r_i/μ_i) / (2k)`` (distance to *an* eigenvalue; that it is the ``i``-th one rests
on Lanczos finding the extremes first, certain only when run to ``n_steps = S``). Only the
leading exponents are resolved (``PᵀP`` spans
``e^{2k(Λ_1 − Λ_S)}``, and a Krylov method resolves it relative to ``μ_1``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from sharpdim._numerics import resolve_seed
from sharpdim.curvature.functional import NonFiniteError
from sharpdim.curvature.lanczos import extreme_eigenvalues
from sharpdim.curvature.update_jacobian import UpdateJacobianOperator, update_jacobian
from sharpdim.curvature.update_maps import GradientFn, UpdateMap
from sharpdim.estimators.horizon.products import (
    DEFAULT_SWEEPS,
    _is_int,
    product_log_singular_values,
)

__all__ = ["HORIZON_METHODS", "ProductExponents", "trajectory_exponents"]

HORIZON_METHODS = ("dense", "lanczos")


def _map_at(update: UpdateMap, step: int) -> UpdateMap:
    """The update map for the ``step``-th step after the given state: its ``after(step)``
    (Adam's ``t`` advances), or the map itself when it has no step counter."""
    after = getattr(update, "after", None)
    return update if after is None or step == 0 else after(step)


@dataclass(frozen=True)
class ProductExponents:
    """One window: ``exponents`` ``(1/k) ln σ_i(J_k⋯J_1)`` descending (all ``S`` for
    ``"dense"``, the ``top`` largest for ``"lanczos"``); ``error_bound`` (same scale: the
    certified bound of :class:`ProductSpectrum` over ``k``, or the largest Ritz-residual
    bound); ``final_state`` ``s_k``; ``n_hvp`` loss Hessian-vector products; ``n_sweeps``
    (dense) / ``n_lanczos_steps``; ``lanczos_seed`` (``None`` for dense)."""

    horizon: int
    method: str
    exponents: np.ndarray
    error_bound: float
    converged: bool
    final_state: torch.Tensor
    n_hvp: int
    n_sweeps: int | None
    n_lanczos_steps: int | None
    lanczos_seed: int | None


class _ProductGram:
    """``PᵀP`` for ``P = J_k⋯J_1`` given as Jacobian operators (``SymmetricOperator``)."""

    def __init__(self, ops: Sequence[UpdateJacobianOperator]) -> None:
        self.ops = list(ops)
        self.shape = ops[0].shape
        self.dtype = ops[0].dtype
        self.device = ops[0].device
        self.n_hvp = 0

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        u = v
        for op in self.ops:
            u = op.matvec(u)
        for op in reversed(self.ops):
            u = op.rmatvec(u)
        self.n_hvp += 1
        return u

    def matmat(self, V: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.matvec(V[:, j]) for j in range(V.shape[1])], dim=1)


def trajectory_exponents(
    update: UpdateMap,
    state: torch.Tensor,
    grad_fns: Sequence[GradientFn],
    *,
    method: str = "dense",
    top: int | None = None,
    seed: int | None = None,
    n_steps: int | None = None,
    tol: float | None = None,
    max_sweeps: int = DEFAULT_SWEEPS,
    describe: Callable[[int], str] | None = None,
    labels: Sequence[str] | None = None,
) -> ProductExponents:
    """``(1/k) ln σ_i(J_k⋯J_1)`` along the trajectory ``s_t = φ_t(s_{t−1})`` from ``state``.

    ``grad_fns[t]`` is the gradient of minibatch ``t`` (``k = len(grad_fns)``), differentiable
    by :mod:`torch.func` (e.g. :func:`~sharpdim.curvature.update_jacobian.gradient_function`);
    ``J_t = Dφ_t(s_{t−1})``. ``method="dense"``: every exponent (exact Jacobians, product QR
    iteration); ``"lanczos"``: the ``top`` largest (default 1) from Lanczos on ``PᵀP`` with a
    start vector drawn from ``seed`` (``n_steps``/``tol`` as in
    :func:`~sharpdim.curvature.lanczos.extreme_eigenvalues`). ``labels[t]`` names minibatch
    ``t`` in errors.

    >>> from sharpdim.curvature.update_maps import SGDUpdate
    >>> H = torch.diag(torch.tensor([3.0, 0.5], dtype=torch.float64))
    >>> res = trajectory_exponents(SGDUpdate(lr=1.0), torch.ones(2, dtype=torch.float64),
    ...                            [lambda w: H @ w] * 5)
    >>> np.allclose(res.exponents, [np.log(2.0), np.log(0.5)])   # ln|1 − ηα|, every k
    True
    """
    if method not in HORIZON_METHODS:
        raise ValueError(f"method must be one of {HORIZON_METHODS}, got {method!r}")
    fns = list(grad_fns)
    if not fns:
        raise ValueError("grad_fns must hold at least one minibatch gradient (k >= 1), got 0")
    k = len(fns)
    labels = [f"minibatch {t} of the window" for t in range(k)] if labels is None \
        else list(labels)
    if len(labels) != k:
        raise ValueError(f"labels must have one entry per minibatch ({k}), got {len(labels)}")
    s = state.detach()
    if method == "dense":
        if top is not None:
            raise ValueError(f"top is only used with method='lanczos', got top={top!r}")
        factors, n_hvp = [], 0
        for t, g in enumerate(fns):
            upd = _map_at(update, t)
            J = update_jacobian(upd, s, g, describe=describe, batch=labels[t])
            factors.append(J)
            n_hvp += J.shape[0]
            with torch.no_grad():
                s = upd.step(s, g).detach()
        spec = product_log_singular_values(factors, max_sweeps=max_sweeps)
        return ProductExponents(k, method, spec.log_singular_values / k,
                                spec.error_bound / k, spec.converged, s, int(n_hvp),
                                spec.n_sweeps, None, None)
    top = 1 if top is None else top
    S = s.numel()
    if not _is_int(top) or not 1 <= top <= S:
        raise ValueError(f"top must be an int in [1, S={S}], got {top!r}")
    seed = resolve_seed(seed)
    ops = []
    for t, g in enumerate(fns):
        op = UpdateJacobianOperator(_map_at(update, t), s, g, describe=describe,
                                    batch=labels[t])
        ops.append(op)
        s = op.output
    gram = _ProductGram(ops)
    res = extreme_eigenvalues(gram, k=top, which="largest", n_steps=n_steps, seed=seed, tol=tol)
    mu = np.asarray(res.top, dtype=np.float64)
    if not np.all(np.isfinite(mu)) or np.any(mu <= 0):
        raise NonFiniteError(
            f"Lanczos on the {k}-step Gram operator gave Ritz values {mu[:3]} ≤ 0 or not "
            "finite (the product under- or overflows: lower horizon)", batch=labels[-1],
            parameter=None)
    # a Ritz value θ with residual r lies within r of an eigenvalue μ of PᵀP:
    # |ln μ − ln θ| ≤ −ln(1 − r/θ)
    ratio = np.asarray(res.top_residuals, dtype=np.float64) / mu
    bound = float(np.max(-np.log1p(-ratio))) if np.all(ratio < 1) else math.inf
    n_hvp = sum(op.n_hvp for op in ops)
    return ProductExponents(k, method, np.sort(np.log(mu))[::-1] / (2 * k), bound / (2 * k),
                            bool(res.converged), s.detach(), int(n_hvp), None,
                            int(res.n_steps), int(res.seed))

