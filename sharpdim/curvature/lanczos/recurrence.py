"""The Lanczos recurrence: ``R`` runs advanced in lockstep (:class:`_Lockstep`), and the
entry points :func:`lanczos` (one operator), :func:`lanczos_lockstep` (``R`` at once) and
:func:`lanczos_plain` (one run, no re-orthogonalization, scalars kept as Python floats)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch

from sharpdim import _validate
from sharpdim.curvature.hvp import SymmetricOperator
from sharpdim.curvature.lanczos.clock import Clock, resolve_clock
from sharpdim.curvature.lanczos.reorthogonalization import (
    orthogonalize,
    partial_reorthogonalize,
)
from sharpdim.curvature.lanczos.results import LanczosResult, _result
from sharpdim.vocabulary import REORTHOGONALIZATIONS, Reorthogonalization, choice

__all__ = ["lanczos", "lanczos_lockstep", "lanczos_plain"]


# A computed residual w carries rounding of norm ~ √N · eps · ‖H‖ (entrywise errors of
# size eps·‖H‖ adding up like a random walk); a β below 10× that level is noise: breakdown.
_BREAKDOWN = 10.0


def _rowdot(X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """``(x_r · y_r)_r`` of two ``(R, N)`` tensors: one BLAS ``dot`` per row (measured
    2.5–3× faster per row on CPU than ``vecdot``, ``bmm`` or ``(X * Y).sum(1)``)."""
    if X.shape[0] == 1:
        return torch.dot(X[0], Y[0]).reshape(1)
    return torch.stack([torch.dot(x, y) for x, y in zip(X, Y, strict=True)])


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _Lockstep:
    """``R`` Lanczos runs advanced together: ``apply(Q)[i] = H_i Q[i]`` for ``Q`` of shape
    ``(R, N)``; the basis (kept for ``"full"`` and ``"partial"``) is ``(R, n_max, N)``.

    ``check(Q, HQ)``, when given, is called only if a step's ``α`` or ``β`` is not finite
    (``α_j = q_jᵀ(H q_j)`` is finite exactly when every entry of ``H q_j`` is, ``q_j`` being
    finite), with the raw products, to raise the error that names the culprit: the
    products themselves are never scanned on the fast path."""

    def __init__(self, apply: Callable[[torch.Tensor], torch.Tensor], Q0: torch.Tensor,
                 n_max: int, *, reorthogonalize: str, restart_rng=None,
                 check: Callable[[torch.Tensor, torch.Tensor], None] | None = None,
                 inplace: bool = False, clock: Clock | None = None) -> None:
        R, N = Q0.shape
        self.clock = resolve_clock(clock)
        self.apply, self.R, self.N, self.n_max = apply, R, N, n_max
        self.mode, self.restart_rng, self.check = reorthogonalize, restart_rng, check
        self.inplace = inplace  # apply returns a new tensor each call: update it in place
        self.reorth = reorthogonalize != "none"
        self.device, self.dtype = Q0.device, Q0.dtype
        self.basis = (torch.empty((R, n_max, N), dtype=self.dtype, device=self.device)
                      if self.reorth else None)
        self.alphas = np.zeros((R, n_max))
        self.betas = np.zeros((R, n_max))  # betas[:, j] = β_{j+1}, the norm after step j
        self.steps = np.zeros(R, dtype=np.int64)
        self.alive = np.ones(R, dtype=bool)
        self.breakdown = np.zeros(R, dtype=bool)
        self.scale = np.zeros(R)
        self.q, self.q_prev = Q0, torch.zeros_like(Q0)
        self.beta_prev = torch.zeros(R, dtype=self.dtype, device=self.device)
        self.j = 0
        self.restarted = False
        self.hvp_seconds = self.reorth_seconds = 0.0
        self.eps = float(torch.finfo(self.dtype).eps)
        self.tiny = _BREAKDOWN * np.sqrt(N) * self.eps  # × scale: the breakdown level
        self.n_alive = R
        self.beta_prev_l = [0.0] * R
        self.n_reorth = np.zeros(R, dtype=np.int64)  # steps that re-orthogonalized, per run
        if reorthogonalize == "partial":
            # Simon's estimates ω_jk ≈ q_jᵀq_k of the current and previous vectors
            self.omega = np.zeros((R, n_max + 1))
            self.omega_prev = np.zeros((R, n_max + 1))
            self.omega[:, 0] = 1.0
            self.eps1 = np.sqrt(N) * self.eps / 2     # PROPACK's rounding level per step
            self.pending = np.zeros(R, dtype=bool)    # re-orthogonalize q_{j+1} as well

    # re-orthogonalization (reorthogonalization.py): full Gram–Schmidt and Simon's partial
    _orthogonalize = orthogonalize
    _partial = partial_reorthogonalize

    def step(self) -> None:
        j, R = self.j, self.R
        if self.reorth:
            self.basis[:, j] = self.q
        t0 = self.clock()
        w = self.apply(self.q)
        if not self.inplace:
            w = w.clone()
        _sync(self.device)
        t1 = self.clock()
        # α first: a non-finite product shows in it, and the raw product is still intact
        a = _rowdot(self.q, w)
        a_l = a.tolist()  # one transfer; also the host sync that ends the product
        if not all(map(math.isfinite, a_l)):
            if self.check is not None:
                self.check(self.q, w)  # raises, naming the culprit
            raise FloatingPointError(f"Lanczos step {j + 1}: a product is not finite")
        # w = Hq − α q − β q_prev in place (the product is ours: no temporaries)
        # (row by row with scalar coefficients: 2–3× faster on CPU than a broadcast addcmul)
        if R == 1:
            w.add_(self.q, alpha=-a_l[0])
            if j:
                w.add_(self.q_prev, alpha=-self.beta_prev_l[0])
        else:
            for r in range(R):
                w[r].add_(self.q[r], alpha=-a_l[r])
                if j:
                    w[r].add_(self.q_prev[r], alpha=-self.beta_prev_l[r])
        if self.mode == "full":
            w = self._orthogonalize(w, j + 1)
            self.n_reorth[self.alive] += 1
        b = torch.linalg.vector_norm(w, dim=1)
        b_l = b.tolist()
        if not all(map(math.isfinite, b_l)):
            raise FloatingPointError(f"Lanczos step {j + 1}: ‖w‖ overflowed ({b_l})")
        a_np, b_np = np.array(a_l), np.array(b_l)
        all_live = self.n_alive == R
        live = self.alive if all_live else self.alive.copy()
        rows = slice(None) if all_live else live
        self.alphas[rows, j] = a_np[rows]
        np.maximum(self.scale, np.maximum(np.abs(a_np), b_np), out=self.scale)
        if self.mode == "partial":
            w, b, b_np = self._partial(w, b, b_np, live)
        self.reorth_seconds += self.clock() - t1
        self.hvp_seconds += t1 - t0
        self.betas[rows, j] = b_np[rows]
        self.steps[rows] = j + 1
        broke = b_np <= self.tiny * self.scale
        if not all_live:
            broke &= live
        any_broke = bool(broke.any())
        if all_live and not any_broke:
            q_next = w
            for r in range(R):
                w[r].mul_(1.0 / float(b_np[r]))
            beta_next = b
        else:
            keep = torch.as_tensor(live & ~broke, device=self.device)
            safe_b = torch.where(keep, b, torch.ones_like(b))
            q_next = torch.where(keep[:, None], w / safe_b[:, None], torch.zeros_like(w))
            beta_next = torch.where(keep, b, torch.zeros_like(b))
        self.restarted = False
        if any_broke and self.restart_rng is not None and j + 1 < min(self.N, self.n_max):
            q_next, beta_next = self._restart(q_next, beta_next, broke)
            self.betas[broke, j] = 0.0  # T decouples into blocks
            self.restarted = True
        elif any_broke:
            self.breakdown |= broke
            self.alive &= ~broke
            self.n_alive = int(self.alive.sum())
        self.q_prev, self.q, self.beta_prev = self.q, q_next, beta_next
        self.beta_prev_l = beta_next.tolist()
        self.j += 1

    def run_single_plain(self, matvec: Callable[[torch.Tensor], torch.Tensor],
                         check: Callable[[torch.Tensor, torch.Tensor], None] | None) -> None:
        """All steps of one run without re-orthogonalization, with the scalars kept as
        Python floats (no per-step numpy bookkeeping) and the normalization folded into them.

        The vectors are kept unnormalized, ``u_j = s_j q_j`` with ``s_j = ‖u_j‖`` known, and
        the product is linear, so ``H u_j = s_j H q_j`` and the recurrence reads

            α_j = u_jᵀ(H u_j) / s_j²,
            u_{j+1} = H u_j − α_j u_j − (β_{j−1} s_j / s_{j−1}) u_{j−1} = s_j β_j q_{j+1},
            β_j = ‖u_{j+1}‖ / s_j,   s_{j+1} = ‖u_{j+1}‖:

        the same ``α``, ``β`` as :meth:`step` in exact arithmetic (and ``q_{j+1}`` without
        the rounding of a division), with four passes over the vectors a step instead of
        five. Each pass costs far more between two products than alone (measured 3× at 13k
        parameters: the product evicts the vectors from cache), so the pass saved matters.
        ``s`` is brought back to ``[½, 1)`` by an exact power-of-two scaling whenever it
        leaves ``[2⁻²⁴, 2²⁴]``, so products and ``s²`` stay far from overflow and underflow
        in float32.

        ``matvec(u) = H u`` on 1-D tensors and ``check(u, H u)`` (called only when ``α`` is
        not finite) spare each step the views ``apply`` of an ``(R, N)`` block would need."""
        # 1-D rows: elementwise ops and reductions on (1, N) tensors measured a few percent
        # of a step slower at 13k parameters (on a shared machine: ±5 % between runs)
        u, u_prev = self.q[0], self.q_prev[0]
        s, s_prev, b_prev, scale, tiny = 1.0, 1.0, 0.0, 0.0, self.tiny
        alphas, betas = [], []
        hvp_s = other_s = 0.0
        broke = False
        inplace, cuda, device = self.inplace, self.device.type == "cuda", self.device
        clock, isfinite, frexp, ldexp = self.clock, math.isfinite, math.frexp, math.ldexp
        t0 = clock()
        for j in range(self.n_max):
            w = matvec(u)
            if not inplace:
                w = w.clone()
            if cuda:
                torch.cuda.synchronize(device)
            t1 = clock()
            a = float(torch.dot(u, w)) / (s * s)
            if not isfinite(a):
                if check is not None:
                    check(u, w)
                raise FloatingPointError(f"Lanczos step {j + 1}: a product is not finite")
            w.add_(u, alpha=-a)
            if j:
                w.add_(u_prev, alpha=-b_prev * s / s_prev)
            norm = float(torch.linalg.vector_norm(w))
            b = norm / s
            if not isfinite(b):
                raise FloatingPointError(f"Lanczos step {j + 1}: ‖w‖ overflowed ({b})")
            alphas.append(a)
            betas.append(b)
            scale = max(scale, abs(a), b)
            hvp_s += t1 - t0
            if b <= tiny * scale:
                broke = True
                other_s += clock() - t1
                break
            e = frexp(norm)[1]
            if not -24 <= e <= 24:  # exact rescaling by 2⁻ᵉ: ‖w‖ ∈ [½, 1)
                w.mul_(ldexp(1.0, -e))
                norm = ldexp(norm, -e)
            u_prev, u, s_prev, s, b_prev = u, w, s, norm, b
            t0 = clock()  # one reading ends this step's recurrence and starts the next product
            other_s += t0 - t1
        m = len(alphas)
        self.alphas[0, :m], self.betas[0, :m] = alphas, betas
        self.steps[0], self.j = m, m
        self.breakdown[0] = broke
        self.alive[0] = not broke
        self.n_alive = int(self.alive.sum())
        self.hvp_seconds += hvp_s
        self.reorth_seconds += other_s

    def _restart(self, q_next, beta_next, broke):
        for r in np.flatnonzero(broke):
            v = torch.as_tensor(self.restart_rng.standard_normal(self.N), dtype=self.dtype,
                                device=self.device)[None]
            v = self._orthogonalize(v, self.j + 1) if self.R == 1 else v
            v = v / torch.linalg.vector_norm(v)
            q_next = q_next.clone()
            q_next[r] = v[0]
            beta_next = beta_next.clone()
            beta_next[r] = 0.0
        return q_next, beta_next

    @property
    def done(self) -> bool:
        return self.j >= self.n_max or self.n_alive == 0

    def tridiagonal(self, r: int) -> tuple[np.ndarray, np.ndarray, float]:
        m = int(self.steps[r])
        return self.alphas[r, :m].copy(), self.betas[r, :m - 1].copy(), float(self.betas[r, m - 1])


def _mode(reorthogonalize) -> str:
    """``True`` ↦ ``"full"``, ``False`` ↦ ``"none"``, else one of :data:`REORTHOGONALIZATIONS`."""
    if isinstance(reorthogonalize, bool):
        return "full" if reorthogonalize else "none"
    return choice("reorthogonalize", reorthogonalize, REORTHOGONALIZATIONS)


def _unit_rows(V0: torch.Tensor) -> tuple[torch.Tensor, np.ndarray]:
    norms = torch.linalg.vector_norm(V0, dim=1)
    if not bool(torch.isfinite(V0).all()) or bool((norms == 0).any()):
        raise ValueError("v0 must be finite and nonzero, got a zero or non-finite start vector")
    return V0 / norms[:, None], norms.double().cpu().numpy()


def lanczos(
    op: SymmetricOperator, v0, n_steps: int, *,
    reorthogonalize: bool | Reorthogonalization = True, clock: Clock | None = None,
) -> LanczosResult:
    """``n_steps`` Lanczos steps of the symmetric operator ``op`` from ``v0`` (normalized
    here), in ``op``'s dtype and device; ``T``, Ritz values and weights in float64.

    ``reorthogonalize``: ``"full"`` (``True``, the default), ``"partial"`` (Simon's
    semi-orthogonality, re-orthogonalizing only when the estimated loss of orthogonality
    passes ``√eps``) or ``"none"`` (``False``: the plain three-term recurrence; converged
    Ritz values then reappear as ghost copies that share the weight of the original, and the
    Gauss quadrature of smooth functions stays accurate — Knizhnerman 1996). ``clock``
    times the run (default: :func:`~sharpdim.curvature.lanczos.clock.timing_clock`'s, else
    wall time). ``n_hvp`` is ``n_steps`` products of ``op``, in ``op``'s unit
    (``op.hvp_per_product`` per product when it has one: two for a Gram operator ``JᵀJ``).

    >>> import torch
    >>> from sharpdim.curvature.hvp import MatrixOperator
    >>> op = MatrixOperator(torch.diag(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)))
    >>> res = lanczos(op, torch.ones(3, dtype=torch.float64), 3)
    >>> np.allclose(res.ritz_values, [1, 2, 3]), np.allclose(res.ritz_weights, 1 / 3)
    (True, True)
    """
    N = op.shape[0]
    n_steps = _validate.integer("n_steps", n_steps, minimum=1, maximum=N)
    v0 = torch.as_tensor(v0).to(device=op.device, dtype=op.dtype)
    if v0.shape != (N,):
        raise ValueError(f"v0 must have shape ({N},), got {tuple(v0.shape)}")
    (result,) = lanczos_lockstep(lambda Q: op.matvec(Q[0])[None], v0[None], n_steps,
                                 reorthogonalize=reorthogonalize, clock=clock)
    per = getattr(op, "hvp_per_product", 1)
    return result if per == 1 else replace(result, n_hvp=result.n_steps * per)


def lanczos_lockstep(
    apply: Callable[[torch.Tensor], torch.Tensor],
    V0: torch.Tensor,
    n_steps: int,
    *,
    reorthogonalize: bool | Reorthogonalization = True,
    check: Callable[[torch.Tensor, torch.Tensor], None] | None = None,
    inplace: bool = False,
    clock: Clock | None = None,
) -> tuple[LanczosResult, ...]:
    """``R`` independent Lanczos runs advanced together: ``apply(Q)[i] = H_i Q[i]`` for
    ``Q`` of shape ``(R, N)`` (e.g. :meth:`HessianStack.apply`), start rows ``V0[i]``.

    Each run is the same as :func:`lanczos` on ``H_i`` from ``V0[i]``; the products and the
    re-orthogonalizations of all runs are batched. A run that breaks down stops (its rows are
    zero from then on). ``reorthogonalize`` as in :func:`lanczos`. The products are not
    scanned for non-finite entries; a non-finite ``α`` or ``β`` calls ``check(Q, apply(Q))``
    (which should raise the error naming the culprit), else raises ``FloatingPointError``.
    ``inplace=True`` promises that ``apply`` returns a new tensor on every call, which the
    recurrence then overwrites instead of copying. ``clock`` as in :func:`lanczos`.
    """
    if not isinstance(V0, torch.Tensor) or V0.ndim != 2:
        raise ValueError(f"V0 must be an (R, N) tensor, got {getattr(V0, 'shape', V0)!r}")
    n_steps = _validate.integer("n_steps", n_steps, minimum=1, maximum=V0.shape[1])
    Q0, norms = _unit_rows(V0)
    clock = resolve_clock(clock)
    t0 = clock()
    engine = _Lockstep(apply, Q0, n_steps, reorthogonalize=_mode(reorthogonalize),
                       check=check, inplace=inplace, clock=clock)
    if engine.R == 1 and engine.mode == "none":
        engine.run_single_plain(lambda u: apply(u[None])[0],
                                None if check is None else lambda u, w: check(u[None], w[None]))
    while not engine.done:
        engine.step()
    seconds = clock() - t0
    return tuple(_result(engine, r, float(norms[r]), seconds) for r in range(engine.R))


def lanczos_plain(
    matvec: Callable[[torch.Tensor], torch.Tensor],
    v0: torch.Tensor,
    n_steps: int,
    *,
    check: Callable[[torch.Tensor, torch.Tensor], None] | None = None,
    inplace: bool = False,
    clock: Clock | None = None,
) -> LanczosResult:
    """One Lanczos run without re-orthogonalization (the plain three-term recurrence) on a
    product of 1-D tensors, ``matvec(u) = H u`` for ``u`` of shape ``(N,)``, from ``v0``
    (normalized here).

    The same run as ``lanczos_lockstep(apply, v0[None], n_steps, reorthogonalize="none")``
    with ``apply(Q) = matvec(Q[0])[None]``, without the views each step of that form takes
    (a few percent of a step at 13k parameters). ``check(u, matvec(u))`` is called only when
    a step's ``α`` is not finite, to raise the error naming the culprit; ``inplace`` and
    ``clock`` as in :func:`lanczos_lockstep`.

    >>> H = torch.diag(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    >>> res = lanczos_plain(lambda u: H @ u, torch.ones(3, dtype=torch.float64), 3)
    >>> np.allclose(res.ritz_values, [1, 2, 3]), np.allclose(res.ritz_weights, 1 / 3)
    (True, True)
    """
    if not isinstance(v0, torch.Tensor) or v0.ndim != 1:
        raise ValueError(f"v0 must be a 1-D tensor, got {getattr(v0, 'shape', v0)!r}")
    n_steps = _validate.integer("n_steps", n_steps, minimum=1, maximum=v0.shape[0])
    Q0, norms = _unit_rows(v0[None])
    clock = resolve_clock(clock)
    t0 = clock()
    engine = _Lockstep(lambda Q: matvec(Q[0])[None], Q0, n_steps, reorthogonalize="none",
                       inplace=inplace, clock=clock)
    engine.run_single_plain(matvec, check)
    return _result(engine, 0, float(norms[0]), clock() - t0)
