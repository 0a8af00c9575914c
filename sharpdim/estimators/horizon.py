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

**Trajectory.** ``J_t = Dφ_t(s_{t−1})`` is the Jacobian of the update map for minibatch ``t``
at the state ``s_{t−1}`` reached after ``t − 1`` actual steps (``s_t = φ_t(s_{t−1})``; Adam's
step index ``t`` advances too). The state is **advanced, not held fixed**: by the cocycle
property ``Dφ(k, ω, s) = Dφ(1, θ^{k−1}ω, s_{k−1}) ⋯ Dφ(1, ω, s_0)`` (chain rule), which is
the product whose growth rates define the Lyapunov exponents; holding ``s`` fixed would be the
product of Jacobians of a different (frozen) system. The ``k`` minibatches of a window are
drawn independently (with-replacement-across-steps SGD sampling, the RDS convention of
:mod:`sharpdim.estimators.data`).

**Dense method** (small state size ``S``; exact Jacobians from
:func:`~sharpdim.curvature.update_jacobian.update_jacobian`). The product is never formed (its
entries span ``e^{k(Λ_1 − Λ_S)}`` and would lose the small singular values or overflow):
:func:`product_log_singular_values` runs the product QR iteration (Oliveira & Stewart 2000,
"Exponential splittings of products of matrices and accurately computing singular values of
long products", LAA 309; also Golub, Sølna & Van Dooren 2000). A forward sweep re-normalises
at every factor, ``J_t Q_{t−1} = Q_t R_t``, so ``P Q_0 = Q_k T`` with ``T = R_k⋯R_1`` kept as
``T = D(I + E)`` (``D`` the accumulated diagonal, stored by its logarithms; ``E`` strictly
upper triangular, bounded when ``T`` is graded); a backward sweep through ``J_tᵀ`` gives the
next ``Q_0``: one forward + backward pair is one step of orthogonal iteration on ``PᵀP``, so
``Q_0`` tends to the right singular vectors and ``E`` to 0 at rate ``(σ_{j}/σ_i)²`` per pair.
Then the indices are grouped (``|E_ij| > √eps`` joins ``i`` and ``j``), each group's
``D_g(I + E_gg)`` is rescaled and SVD-ed, and the result is certified by the multiplicative
perturbation bound (Eisenstat & Ipsen 1995, Thm 3.3: ``σ_i(AB) ∈ σ_i(A)·[σ_min(B), ‖B‖]``)
with ``T = T_bd (I + F)``, ``F = (I + E_bd)⁻¹ E_off``:

    |ln σ_i(P) − computed_i| ≤ −ln(1 − ‖F‖₂) − ln(1 − 4n_g·eps·σ_max,g/σ_min,g)

(the second term the rounding of each group's SVD; the rounding of the QR steps is not
included), reported per window as ``error_bound`` on the ``(1/k) ln σ`` scale. A zero
singular value (a singular factor) gives ``−∞`` and an infinite bound.

**Matrix-free method** (large ``N``): products with the Jacobian operators
(:class:`~sharpdim.curvature.update_jacobian.UpdateJacobianOperator`, one Hessian-vector
product per ``J u`` or ``Jᵀ u``) give ``PᵀP v`` for ``2k`` HVPs, and Lanczos
(:func:`~sharpdim.curvature.lanczos.extreme_eigenvalues`) finds its ``top`` largest
eigenvalues ``μ_i = σ_i(P)²``: exponents ``ln μ_i / (2k)``, with the Ritz-residual bound
``−ln(1 − r_i/μ_i) / (2k)`` (distance to *an* eigenvalue; that it is the ``i``-th one rests
on Lanczos finding the extremes first, certain only when run to ``n_steps = S``). Only the
leading exponents are resolved (``PᵀP`` spans
``e^{2k(Λ_1 − Λ_S)}``, and a Krylov method resolves it relative to ``μ_1``).

Windows: ``R`` independent windows (``n_windows``), window ``r`` uses the minibatches of seeds
``batch_seeds[t·R + r]``, ``t = 0..k−1`` (``batch_seeds = slq_run_seeds(seed, R·k)``), so
the first minibatch of each window is the one the ``horizon=1`` estimate with the same seed
uses. Exponents are averaged over windows order by order, with their standard errors.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from tqdm.auto import tqdm

from sharpdim._numerics import resolve_seed
from sharpdim.curvature.functional import FlatLoss, NonFiniteError
from sharpdim.curvature.lanczos import extreme_eigenvalues
from sharpdim.curvature.slq import slq_run_seeds
from sharpdim.curvature.update_jacobian import (
    UpdateJacobianOperator,
    gradient_function,
    update_jacobian,
)
from sharpdim.curvature.update_maps import AdamUpdate, GradientFn, SGDUpdate, UpdateMap
from sharpdim.dimension import sharpness_dimension
from sharpdim.estimators.aggregate import aggregate_profiles, pooled_weights
from sharpdim.estimators.conditioning import conditioning
from sharpdim.estimators.data import minibatch, training_data
from sharpdim.estimators.result import EstimateDiagnostics, SharpnessEstimate

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

HORIZON_METHODS = ("dense", "lanczos")
DEFAULT_SWEEPS = 30
# |E_ij| above this joins i and j into one group whose block is SVD-ed directly; below it
# the entry counts in the certified coupling F (so the bound is ~ S·√eps at worst).
_EPS = float(np.finfo(np.float64).eps)
_GROUP_TOL = math.sqrt(_EPS)


def _is_int(value) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def check_horizon(horizon, *, method: str = "exact", jacobian: str = "update",
                  plain_sgd: bool = True) -> int:
    """Validate ``horizon`` for :func:`sharpdim.estimate_sharpness` (an int ``>= 1``).

    ``horizon > 1`` needs ``method="exact"`` (the dense product: every exponent, hence the
    SD) and the optimizer's true Jacobians: ``jacobian="update"``, or ``"gd"`` for plain SGD,
    where the two are the same map ``I − η(H + κI)``.

    >>> check_horizon(4)
    4
    >>> check_horizon(0)
    Traceback (most recent call last):
    ...
    ValueError: horizon must be an int >= 1 (the number of consecutive steps in the product), got 0
    """
    if not _is_int(horizon) or horizon < 1:
        raise ValueError("horizon must be an int >= 1 (the number of consecutive steps in "
                         f"the product), got {horizon!r}")
    horizon = int(horizon)
    if horizon > 1 and method != "exact":
        raise ValueError(
            f"horizon > 1 is supported for method='exact' only (the k-step product's full "
            f"spectrum, needed for the SD), got method={method!r} with horizon={horizon}; "
            "for the leading exponents of a large model use "
            "sharpdim.estimators.horizon.horizon_sharpness(..., method='lanczos')")
    if horizon > 1 and jacobian == "gd" and not plain_sgd:
        raise ValueError(
            f"horizon > 1 multiplies the optimizer's true step Jacobians along its trajectory; "
            f"jacobian='gd' (ln|1 - ηα| of the loss Hessian) is not the Jacobian of a momentum "
            f"or Adam step: pass jacobian='update', got jacobian='gd' with horizon={horizon}")
    return horizon


# ----------------------------------------------------------------------------- dense products


@dataclass(frozen=True)
class ProductSpectrum:
    """``ln σ_i(A_k⋯A_1)`` of a product of square factors (not divided by ``k``).

    ``log_singular_values`` descending (float64, ``−∞`` for a zero singular value);
    ``error_bound``: certified ``max_i |ln σ_i − computed_i|`` from the multiplicative
    perturbation bound ``−ln(1 − ‖F‖₂)`` plus the groups' SVD rounding (``inf`` when not
    certified: a singular factor, or ``‖F‖₂ ≥ 1``), rounding of the QR steps not included;
    ``n_sweeps`` forward sweeps run (of the best bound); ``converged``: the bound reached
    ``tol`` before ``max_sweeps`` or a stall; ``n_groups``: blocks
    SVD-ed directly (near-equal singular values that the iteration had not separated)."""

    log_singular_values: np.ndarray
    error_bound: float
    n_sweeps: int
    converged: bool
    n_groups: int


def _forward_sweep(factors: Sequence[torch.Tensor], Q: torch.Tensor):
    """``A_t Q_{t−1} = Q_t R_t`` for ``t = 1..k``; returns ``Q_k``, ``ln|diag T|`` and
    ``M = D⁻¹T`` (``T = R_k⋯R_1``, unit diagonal, computed without forming ``D``)."""
    S = Q.shape[0]
    logd = torch.zeros(S, dtype=torch.float64, device=Q.device)
    M = torch.eye(S, dtype=Q.dtype, device=Q.device)
    for A in factors:
        Q, R = torch.linalg.qr(A @ Q)
        diag = torch.diagonal(R)
        with torch.no_grad():
            # T_t = R_t D_{t−1} M_{t−1} = D_t · [|diag R|⁻¹ (D⁻¹ R D) M_{t−1}]; M keeps the
            # signs (diagonal ±1), D = diag(e^logd) > 0, so T = D M exactly
            scale = torch.exp(logd[None, :] - logd[:, None]).to(R.dtype)  # d_j / d_i
            M = (torch.triu(R * scale) / diag.abs()[:, None]) @ M
            logd = logd + torch.log(diag.abs()).double()
    return Q, logd, M


def _backward_sweep(factors: Sequence[torch.Tensor], Q: torch.Tensor) -> torch.Tensor:
    for A in reversed(factors):
        Q, _ = torch.linalg.qr(A.T @ Q)
    return Q


def _groups(E: np.ndarray) -> list[np.ndarray]:
    """Connected components of ``{(i, j): |E_ij| > √eps}`` (union-find), sorted."""
    S = E.shape[0]
    parent = list(range(S))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.abs(E) > _GROUP_TOL), strict=True):
        a, b = find(int(i)), find(int(j))
        if a != b:
            parent[max(a, b)] = min(a, b)
    roots: dict[int, list[int]] = {}
    for i in range(S):
        roots.setdefault(find(i), []).append(i)
    return [np.array(v) for v in roots.values()]


def _certified_values(logd: np.ndarray, M: np.ndarray) -> tuple[np.ndarray, float, int]:
    """Singular values of ``T = D M`` by groups, and the bound ``−ln(1 − ‖F‖₂)``."""
    S = logd.size
    if not (np.all(np.isfinite(logd)) and np.all(np.isfinite(M))):
        return np.sort(logd)[::-1], math.inf, S
    # M = Sgn(I + E) with Sgn = diag(M) = ±1, and σ(D Sgn (I + E)) = σ(D (I + E))
    E = np.triu(np.diag(M)[:, None] * M, 1)
    groups = _groups(E)
    values = np.empty(S)
    block = np.zeros((S, S))
    rounding = 0.0
    for g in groups:
        ref = float(logd[g].max())
        sub = np.eye(g.size) + E[np.ix_(g, g)]
        block[np.ix_(g, g)] = sub
        sv = np.linalg.svd(np.exp(logd[g] - ref)[:, None] * sub, compute_uv=False)
        with np.errstate(divide="ignore"):
            values[g] = np.log(sv) + ref
        if g.size > 1:
            # LAPACK SVD: |δσ| ≤ 4·n·eps·‖A‖ (absolute), i.e. relative 4n·eps·σ_max/σ_i
            rel = 4 * g.size * _EPS * sv[0] / sv[-1] if sv[-1] > 0 else math.inf
            rounding = max(rounding, -math.log1p(-rel) if rel < 1 else math.inf)
    off = E - (block - np.eye(S))
    if np.any(off):
        F = np.linalg.solve(block, off)
        f = float(np.linalg.norm(F, 2))
        coupling = -math.log1p(-f) if f < 1 else math.inf
    else:
        coupling = 0.0
    return np.sort(values)[::-1], coupling + rounding, len(groups)


def product_log_singular_values(
    factors: Sequence[torch.Tensor],
    *,
    max_sweeps: int = DEFAULT_SWEEPS,
    tol: float | None = None,
    start_seed: int = 0,
) -> ProductSpectrum:
    """``ln σ_i(A_k⋯A_1)`` (``factors = [A_1, …, A_k]``, ``A_1`` applied first) by the
    product QR iteration with the certified group SVD described in the module docstring.

    Sweeps stop when the certified bound is ``≤ tol`` (default ``64·S·eps·k``: a few
    roundings per factor), when the diagonal stops moving, or after ``max_sweeps``. The
    product is never formed. The first sweep starts from a random orthonormal frame (QR of a
    Gaussian matrix drawn with ``start_seed``): an axis-aligned start can sit in invariant
    subspaces (e.g. the blocks of a diagonal quadratic) and then never sorts the values. The
    values do not depend on the frame beyond the certified bound.

    >>> A = torch.tensor([[2.0, 1.0], [0.0, 0.5]], dtype=torch.float64)
    >>> res = product_log_singular_values([A] * 40)          # A^40 = [[2^40, ·], [0, 2^-40]]
    >>> big = np.linalg.svd(np.linalg.matrix_power(A.numpy(), 40), compute_uv=False)
    >>> bool(abs(res.log_singular_values[0] - np.log(big[0])) < 1e-12)
    True
    >>> bool(abs(res.log_singular_values.sum()) < 1e-12)        # det A^40 = 1
    True
    """
    mats = list(factors)
    if not mats:
        raise ValueError("factors must contain at least one matrix, got an empty sequence")
    S = mats[0].shape[0]
    for i, A in enumerate(mats):
        if not isinstance(A, torch.Tensor) or A.ndim != 2 or A.shape != (S, S):
            got = tuple(A.shape) if isinstance(A, torch.Tensor) else type(A).__name__
            raise ValueError(f"factors[{i}] must be a square ({S}, {S}) tensor, got {got}")
        if not A.is_floating_point() or not bool(torch.isfinite(A).all()):
            raise ValueError(f"factors[{i}] must be finite and floating point")
    if not _is_int(max_sweeps) or max_sweeps < 1:
        raise ValueError(f"max_sweeps must be an int >= 1, got {max_sweeps!r}")
    k = len(mats)
    eps = float(torch.finfo(mats[0].dtype).eps)
    tol = 64 * S * eps * k if tol is None else float(tol)
    if not (math.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be finite and > 0, got {tol}")
    frame = np.linalg.qr(np.random.default_rng(start_seed).standard_normal((S, S)))[0]
    Q = torch.as_tensor(frame, dtype=mats[0].dtype, device=mats[0].device)
    best, previous = None, None
    for sweep in range(1, max_sweeps + 1):
        Q_left, logd, M = _forward_sweep(mats, Q)
        logd = logd.cpu().numpy()
        values, bound, n_groups = _certified_values(logd, M.double().cpu().numpy())
        if best is None or bound <= best[1]:
            best = (values, bound, n_groups, sweep)
        if bound <= tol:
            return ProductSpectrum(values, bound, sweep, True, n_groups)
        if previous is not None and _stalled(previous, logd, tol):
            break  # e.g. a singular factor (ln 0 = −∞): further sweeps change nothing
        previous = logd
        Q = _backward_sweep(mats, Q_left)
    values, bound, n_groups, sweep = best
    return ProductSpectrum(values, bound, sweep, False, n_groups)


def _stalled(previous: np.ndarray, current: np.ndarray, tol: float) -> bool:
    """No diagonal entry moved by more than ``tol`` and the ``−∞`` entries are the same."""
    a, b = np.sort(previous), np.sort(current)
    fin = np.isfinite(a) & np.isfinite(b)
    same_inf = np.array_equal(np.isneginf(a), np.isneginf(b))
    return bool(same_inf and np.all(np.abs(a[fin] - b[fin]) <= tol))


# ----------------------------------------------------------------------------- trajectories


def _map_at(update: UpdateMap, step: int) -> UpdateMap:
    """The update map for the ``step``-th step after the given state (Adam's ``t`` advances)."""
    if isinstance(update, AdamUpdate):
        return replace(update, t=update.t + step)
    return update


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


# ----------------------------------------------------------------------------- windows


def _stderr(values: np.ndarray) -> np.ndarray | None:
    """Standard error over windows (axis 0), ``None`` with one window; equal ``−∞`` → 0."""
    R = values.shape[0]
    if R < 2:
        return None
    with np.errstate(invalid="ignore"):
        dev = values - values.mean(axis=0)
    dev = np.where(np.isneginf(values) & np.isneginf(values.mean(axis=0)), 0.0, dev)
    dev = np.where(np.isnan(dev), np.inf, dev)
    return np.sqrt((dev**2).sum(axis=0) / (R - 1)) / math.sqrt(R)


@dataclass(frozen=True)
class HorizonSharpness:
    """Horizon-``k`` exponents averaged over ``R`` independent windows.

    * ``exponents``: ``(1/k) ln σ_i(J_k⋯J_1)``, mean over windows order by order, descending
      (length ``S`` for ``"dense"``, ``top`` for ``"lanczos"``); ``stderr`` the standard
      error over windows (``None`` for one window); ``window_exponents`` ``(R, ·)``.
    * ``dimension``: the SD of ``exponents`` (dense only; ``None`` for a partial spectrum).
    * ``error_bounds``/``converged``: per window (see :class:`ProductExponents`).
    * Randomness: ``seed``; ``batch_seeds`` (``R·k``; window ``r``, step ``t`` is
      ``batch_seeds[t·R + r]``), ``batch_index_hashes``; ``lanczos_seeds`` (or ``None``).
    * ``state_dim`` ``S``, ``n_hvp``, ``seconds``.
    """

    horizon: int
    method: str
    exponents: np.ndarray
    stderr: np.ndarray | None
    window_exponents: np.ndarray
    dimension: float | None
    error_bounds: tuple[float, ...]
    converged: tuple[bool, ...]
    seed: int
    batch_seeds: tuple[int, ...]
    batch_index_hashes: tuple[str, ...]
    lanczos_seeds: tuple[int, ...] | None
    state_dim: int
    n_hvp: int
    seconds: float

    @property
    def lambda_1(self) -> float:
        """The leading horizon-``k`` exponent (mean over windows)."""
        return float(self.exponents[0])


def _window_batches(seed: int, n_windows: int, horizon: int, n: int, batch_size: int):
    seeds = slq_run_seeds(seed, n_windows * horizon)
    batches = [minibatch(i, s, n, batch_size) for i, s in enumerate(seeds)]
    windows = [[batches[t * n_windows + r] for t in range(horizon)] for r in range(n_windows)]
    return seeds, batches, windows


def horizon_sharpness(
    f: FlatLoss,
    data,
    update: UpdateMap,
    state: torch.Tensor,
    *,
    horizon: int,
    batch_size: int,
    n_windows: int = 10,
    seed: int | None = None,
    method: str = "dense",
    top: int | None = None,
    n_steps: int | None = None,
    tol: float | None = None,
    dtype: torch.dtype = torch.float64,
    progress: bool | None = None,
) -> HorizonSharpness:
    """Horizon-``k`` exponents of ``update`` (see :func:`make_update_map`) started at the flat
    ``state`` (:func:`~sharpdim.curvature.update_maps.initial_state`), over ``n_windows``
    windows of ``horizon`` consecutive minibatches of ``data`` (``(inputs, targets)`` or a
    ``Dataset``) of size ``batch_size``. ``seed`` (``None``: fresh entropy, recorded) derives
    every minibatch and Lanczos start; ``method``/``top``/``n_steps``/``tol`` as in
    :func:`trajectory_exponents`; products in ``dtype``.
    """
    t0 = time.perf_counter()
    horizon = check_horizon(horizon)
    for name, value in (("n_windows", n_windows), ("batch_size", batch_size)):
        if not _is_int(value) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    if not isinstance(f, FlatLoss):
        raise TypeError(f"f must be a FlatLoss (see flat_loss), got {type(f).__name__}")
    if not isinstance(state, torch.Tensor) or state.ndim != 1:
        raise ValueError(f"state must be a flat 1-D tensor, got {type(state).__name__}")
    if state.numel() != update.n_blocks * f.n_params:
        raise ValueError(f"state must have length {update.n_blocks}·N = "
                         f"{update.n_blocks * f.n_params}, got {state.numel()}")
    train = training_data(data, device=f.device)
    if batch_size > train.n:
        raise ValueError(f"batch_size must be <= the number of examples ({train.n}), "
                         f"got {batch_size}")
    seed = resolve_seed(seed)
    seeds, batches, windows = _window_batches(seed, n_windows, horizon, train.n, batch_size)
    # spawned after the minibatch seeds (SeedSequence.spawn keeps the prefix unchanged)
    lanczos_seeds = (slq_run_seeds(seed, n_windows * (horizon + 1))[n_windows * horizon:]
                     if method == "lanczos" else None)
    rows, bounds, conv, n_hvp = [], [], [], 0
    s0 = state.detach().to(device=f.device, dtype=dtype)
    for r, window in enumerate(tqdm(windows, desc=f"horizon {horizon}", unit="window",
                                    leave=False,
                                    disable=None if progress is None else not progress)):
        fns = [gradient_function(f, *train.take(mb.indices)) for mb in window]
        res = trajectory_exponents(
            update, s0, fns, method=method, top=top, n_steps=n_steps, tol=tol,
            seed=None if lanczos_seeds is None else lanczos_seeds[r],
            describe=f.parameter_of, labels=[mb.label() for mb in window])
        rows.append(res.exponents)
        bounds.append(res.error_bound)
        conv.append(res.converged)
        n_hvp += res.n_hvp
    values = np.stack(rows)
    with np.errstate(invalid="ignore"):
        mean = values.mean(axis=0)
    return HorizonSharpness(
        horizon=horizon, method=method, exponents=mean, stderr=_stderr(values),
        window_exponents=values,
        dimension=sharpness_dimension(mean) if method == "dense" else None,
        error_bounds=tuple(float(b) for b in bounds), converged=tuple(conv), seed=seed,
        batch_seeds=tuple(seeds), batch_index_hashes=tuple(b.index_hash for b in batches),
        lanczos_seeds=lanczos_seeds, state_dim=int(s0.numel()), n_hvp=int(n_hvp),
        seconds=time.perf_counter() - t0,
    )


# ----------------------------------------------------------------------------- estimate_sharpness


def estimate_with_horizon(f, data, thetas, update, updates, states, setting, notes, *,
                          horizon: int, dtype, progress, t_start) -> SharpnessEstimate:
    """The ``horizon > 1`` branch of :func:`sharpdim.estimate_sharpness` (``method="exact"``).

    ``setting["n_batches"]`` windows per point, each of ``horizon`` minibatches; the profiles
    ``(R, P, S)`` are aggregated like one-step profiles (``"mean"`` or ``"sup"`` over points).
    No Hessian is examined (its summaries are ``None``); ``residuals`` are the certified
    per-window error bounds of the exponents.
    """
    R, P = setting["n_batches"], len(thetas)
    if updates is None:  # jacobian="gd" with plain SGD: the same map I − η(H + κI)
        if not isinstance(update, SGDUpdate):
            raise ValueError("jacobian='gd' with horizon > 1 needs plain SGD")
        updates, states = (update,) * P, thetas
    seeds, batches, windows = _window_batches(setting["seed"], R, horizon, data.n,
                                              setting["batch_size"])
    z = np.empty((R, P, int(states[0].numel())))
    residuals, n_hvp = [], 0
    # the one-step "gd" caveat (weight decay ignored) does not apply: these are the map's own
    # Jacobians, weight decay included
    notes = [n for n in notes if not n.startswith("jacobian='gd' applies")]
    full_batch = setting["batch_size"] == data.n
    if full_batch and R > 1:
        notes.append("batch_size equals the number of examples: every window is the same "
                     "full-batch GD trajectory, so it was computed once")
    for r, window in enumerate(tqdm(windows, desc=f"horizon {horizon}", unit="window",
                                    leave=False,
                                    disable=None if progress is None else not progress)):
        if full_batch and r > 0:
            z[r] = z[0]
            residuals.append(residuals[0])
            continue
        fns = [gradient_function(f, *data.take(mb.indices)) for mb in window]
        worst = 0.0
        for p in range(P):
            try:
                res = trajectory_exponents(updates[p], states[p].detach().to(dtype), fns,
                                           describe=f.parameter_of,
                                           labels=[mb.label() for mb in window])
            except NonFiniteError as err:
                raise NonFiniteError(f"window {r}, point {p}: {err}", batch=err.batch,
                                     parameter=err.parameter) from err
            z[r, p] = res.exponents
            worst = max(worst, res.error_bound)
            n_hvp += res.n_hvp
        residuals.append(worst)
    lam = aggregate_profiles(z, setting["aggregate"])
    pooled = (sharpness_dimension(z.ravel(), pooled_weights(R, P, z.shape[2]))
              if setting["aggregate"] == "mean" else None)
    se = _stderr(z.reshape(R, -1)) if P == 1 and not full_batch else None
    if setting["weight_decay"]:
        notes.append(f"horizon {horizon}: the step Jacobians include the weight decay "
                     f"{setting['weight_decay']:g} (I − η(H + κI) for SGD)")
    notes.append(
        f"horizon {horizon}: (1/k)·ln σ_i of the {horizon}-step product of update Jacobians "
        f"along the trajectory (state advanced), {R} windows; window r, step t uses "
        "batch_seeds[t·R + r]"
        + (f"; stderr of λ_1 over windows {float(se[0]):.3g}" if se is not None else ""))
    setting = dict(setting, batch_seeds=tuple(seeds),
                   batch_index_hashes=tuple(b.index_hash for b in batches))
    bound = float(max(residuals)) if residuals else 0.0
    sampling = float(np.mean(se)) if se is not None else 0.0
    cond = conditioning(
        lam, tolerance=bound + sampling,
        tolerance_kind=(f"certified product-QR bound max_r −ln(1 − ‖F‖₂)/k = {bound:.3g} + mean "
                        f"standard error over windows = {sampling:.3g} (our choice)"),
    )
    diagnostics = EstimateDiagnostics(
        **setting, bandwidth=None, n_bins=None, residuals=tuple(residuals),
        residual_kind="certified bound on |(1/k) ln σ_i − computed| of the product QR "
                      "iteration, −ln(1 − ‖F‖₂)/k (rounding not included)",
        trace_stderr=None, pooled_dimension=pooled, histogram_dimension=None,
        n_hvp=int(n_hvp), seconds=time.perf_counter() - t_start, notes=tuple(notes),
        horizon=horizon, conditioning=cond,
    )
    return SharpnessEstimate(
        dimension=sharpness_dimension(lam), lambda_1=float(lam[0]), sharpness=lam,
        measure=None, curvature_measure=None, top_eigenvalue=None, bottom_eigenvalue=None,
        trace=None, diagnostics=diagnostics,
    )
