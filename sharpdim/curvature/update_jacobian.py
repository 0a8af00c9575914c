"""Exact Jacobians of optimizer update maps, dense or matrix-free.

For an update map ``φ`` (:mod:`sharpdim.curvature.update_maps`) with the minibatch fixed,
``J = Dφ(s)`` at a state ``s`` is the one-step Jacobian whose log singular values are the
RDS sharpness values of docs/theory.md §2. For heavy ball and Adam it is not symmetric, so the
singular values come from an SVD (dense) or from Lanczos on the symmetric Gram operator
``JᵀJ`` (matrix-free), never from ``ln|1 − ηα|``.

* :func:`update_jacobian` — the dense ``S × S`` matrix (``S = n_blocks · d``), row chunks of
  batched reverse-mode products through the step's graph (``S`` vector-Jacobian products,
  each one Hessian-vector product of the loss); for small models.
* :class:`UpdateJacobianOperator` — ``J u`` (forward mode) and ``Jᵀ u`` (reverse mode)
  without forming ``J``; :meth:`~UpdateJacobianOperator.gram` is ``JᵀJ`` as a
  :class:`~sharpdim.curvature.hvp.SymmetricOperator`, so Lanczos, SLQ and Hutchinson apply.
* :func:`update_singular_values` — all singular values (dense SVD), float64, descending.
* :func:`extreme_singular_values` — the top and/or bottom ``k`` via Lanczos on ``JᵀJ``.

Each product of ``J`` or ``Jᵀ`` costs one Hessian-vector product of the minibatch loss;
``n_jvp``/``n_vjp`` count them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.func import grad as func_grad

from sharpdim import _validate
from sharpdim.curvature.functional import FlatLoss, NonFiniteError
from sharpdim.curvature.lanczos import extreme_eigenvalues
from sharpdim.curvature.operator import CurvatureOperator
from sharpdim.curvature.update_maps import GradientFn, UpdateMap

__all__ = [
    "gradient_function",
    "update_jacobian",
    "update_singular_values",
    "UpdateJacobianOperator",
    "GramOperator",
    "SingularValues",
    "extreme_singular_values",
]


def gradient_function(f: FlatLoss, inputs, targets) -> GradientFn:
    """``θ ↦ ∇L(θ; inputs, targets)`` (minibatch mean loss, minibatch fixed), composable with
    :mod:`torch.func` transforms; inputs follow ``θ``'s dtype (see ``FlatLoss``)."""
    if not isinstance(f, FlatLoss):
        raise TypeError(f"f must be a FlatLoss (see flat_loss), got {type(f).__name__}")
    return func_grad(lambda theta: f(theta, inputs, targets))


def _check_state(update: UpdateMap, state: torch.Tensor) -> None:
    if not isinstance(state, torch.Tensor) or state.ndim != 1:
        raise ValueError(f"state must be a flat 1-D tensor, got {type(state).__name__}")
    if state.numel() % update.n_blocks:
        raise ValueError(
            f"state must have {update.n_blocks} equal blocks ({', '.join(update.block_names)}), "
            f"got length {state.numel()}"
        )
    if not state.is_floating_point():
        raise ValueError(f"state must be floating point, got {state.dtype}")


def _state_entry(update: UpdateMap, n: int, index: int,
                 describe: Callable[[int], str] | None) -> str:
    d = n // update.n_blocks
    block, local = divmod(index, d)
    where = describe(local) if describe is not None else f"[{local}]"
    return f"{update.block_names[block]} block, parameter {where}"


def _check_differentiable(update: UpdateMap, state: torch.Tensor, output: torch.Tensor,
                          describe: Callable[[int], str] | None, batch: str) -> None:
    check = getattr(update, "non_differentiable", None)
    if check is None:
        return
    bad = check(output.detach())
    if bool(bad.any()):
        index = int(bad.nonzero()[0, 0])
        name = describe(index) if describe is not None else f"[{index}]"
        raise NonFiniteError(
            f"the {type(update).__name__} step is not differentiable at parameter {name} on the "
            f"{batch}: its new second moment v' is exactly 0 (no gradient and zero moments), "
            "where √v' has no derivative; drop the parameter or take the moments from a run",
            batch=batch, parameter=name,
        )


def _raise_non_finite(update: UpdateMap, state: torch.Tensor, values: torch.Tensor, what: str,
                      describe: Callable[[int], str] | None, batch: str) -> None:
    bad = ~torch.isfinite(values)
    if not bool(bad.any()):
        return
    # values is (S,) or (S, k); name the first output row that is not finite
    row = int(bad.reshape(values.shape[0], -1).any(1).nonzero()[0, 0])
    name = _state_entry(update, state.numel(), row, describe)
    raise NonFiniteError(
        f"non-finite {what} of the update map at output {name} on the {batch} (a zero second "
        "moment under Adam's square root, or an overflow in the loss)",
        batch=batch, parameter=name,
    )


def update_jacobian(
    update: UpdateMap,
    state: torch.Tensor,
    grad_fn: GradientFn,
    *,
    chunk_size: int | None = None,
    describe: Callable[[int], str] | None = None,
    batch: str = "minibatch",
) -> torch.Tensor:
    """Dense Jacobian ``Dφ(s)`` of ``state ↦ update.step(state, grad_fn)``, shape ``(S, S)``.

    Built from reverse-mode products on identity rows, ``chunk_size`` at a time (default: a
    probe block of about 64 MiB), in the state's dtype; ``grad_fn`` must be differentiable
    twice (e.g. :func:`gradient_function`). ``describe(i)`` names parameter
    ``i`` in error messages (e.g. ``FlatLoss.parameter_of``); ``batch`` names the minibatch.

    >>> from sharpdim.curvature.update_maps import HeavyBallUpdate
    >>> hb = HeavyBallUpdate(lr=0.5, momentum=0.5)
    >>> s = torch.zeros(2, dtype=torch.float64)             # d = 1, H = 2 (loss w²)
    >>> J = update_jacobian(hb, s, lambda w: 2.0 * w)       # [[1 - ηH, -ηβ], [H, β]]
    >>> J.tolist(), float(torch.linalg.det(J))               # det = β
    ([[0.0, -0.25], [2.0, 0.5]], 0.5)
    """
    _check_state(update, state)
    n = state.numel()
    if chunk_size is None:
        chunk_size = max(1, min(n, (64 * 2**20) // max(1, n * state.element_size())))
    else:
        chunk_size = _validate.integer("chunk_size", chunk_size, minimum=1)
    s_req, out = _linearize(update, state, grad_fn)
    _raise_non_finite(update, state, out.detach(), "step", describe, batch)
    _check_differentiable(update, state, out, describe, batch)
    J = torch.empty((n, n), dtype=state.dtype, device=state.device)
    eye = torch.eye(n, dtype=state.dtype, device=state.device)
    for a in range(0, n, chunk_size):
        b = min(n, a + chunk_size)
        # rows a..b-1 of J are (Jᵀ e_i)ᵀ: one batched reverse pass through the step's graph
        J[a:b] = _pullback(out, s_req, eye[a:b], batched=True)
    _raise_non_finite(update, state, J, "Jacobian", describe, batch)
    return J


def _linearize(update: UpdateMap, state: torch.Tensor,
               grad_fn: GradientFn) -> tuple[torch.Tensor, torch.Tensor]:
    """``(s, φ(s))`` with the graph of ``φ`` kept (``create_graph``-ready) for products."""
    s_req = state.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        out = update.step(s_req, grad_fn)
    return s_req, out


def _pullback(out: torch.Tensor, s_req: torch.Tensor, cotangent: torch.Tensor, *,
              batched: bool = False, create_graph: bool = False) -> torch.Tensor:
    if batched and cotangent.shape[0] > 1:
        try:
            (res,) = torch.autograd.grad(out, s_req, cotangent, retain_graph=True,
                                         allow_unused=True, materialize_grads=True,
                                         is_grads_batched=True)
            return res
        except RuntimeError:  # an op without a batching rule: one row at a time
            return torch.stack([_pullback(out, s_req, c) for c in cotangent])
    c = cotangent[0] if batched else cotangent
    (res,) = torch.autograd.grad(out, s_req, c, retain_graph=True, create_graph=create_graph,
                                 allow_unused=True, materialize_grads=True)
    return res[None] if batched else res


def update_singular_values(
    update: UpdateMap,
    state: torch.Tensor,
    grad_fn: GradientFn,
    *,
    dtype: torch.dtype = torch.float64,
    describe: Callable[[int], str] | None = None,
    batch: str = "minibatch",
) -> np.ndarray:
    """All singular values of ``Dφ(s)``, descending, float64 numpy (dense SVD in ``dtype``).

    >>> from sharpdim.curvature.update_maps import SGDUpdate
    >>> sv = update_singular_values(SGDUpdate(lr=1.0), torch.zeros(2), lambda w: 3.0 * w)
    >>> sv.tolist()                                          # |1 - ηα| = |1 - 3|
    [2.0, 2.0]
    """
    J = update_jacobian(update, state.detach().to(dtype), grad_fn, describe=describe,
                        batch=batch)
    return torch.linalg.svdvals(J).double().cpu().numpy()


class UpdateJacobianOperator(CurvatureOperator):
    """``J = Dφ(s)`` applied matrix-free: ``matvec(u) = J u``, ``rmatvec(u) = Jᵀ u``.

    The step ``φ(s)`` is evaluated once with its graph kept; ``Jᵀu`` is a reverse pass through
    it and ``J u`` a reverse pass through the graph of ``c ↦ Jᵀc`` (linear in ``c``), the
    "double backward" trick — each about one Hessian-vector product of the loss, and much
    cheaper than re-tracing a forward-mode product per call.
    ``shape = (S, S)``; ``n_jvp``/``n_vjp`` count ``J`` and ``Jᵀ`` products, ``n_hvp`` their
    sum (one loss Hessian-vector product each); ``adjoint()`` is ``Jᵀ``; ``output`` is
    ``φ(s)``.
    """

    symmetric = False

    def __init__(self, update: UpdateMap, state: torch.Tensor, grad_fn: GradientFn, *,
                 describe: Callable[[int], str] | None = None,
                 batch: str = "minibatch") -> None:
        _check_state(update, state)
        super().__init__()
        self.update = update
        self.state = state.detach()
        n = state.numel()
        self.shape = (n, n)
        self.dtype = state.dtype
        self.device = state.device
        self.n_jvp = 0
        self.n_vjp = 0
        self._describe, self._batch = describe, batch
        self._s, self._out = _linearize(update, self.state, grad_fn)
        self.output = self._out.detach()
        _raise_non_finite(update, self.state, self.output, "step", describe, batch)
        _check_differentiable(update, self.state, self.output, describe, batch)
        # Jᵀc is linear in c; differentiating it in c gives J u by one more reverse pass
        self._c = torch.zeros_like(self.output, requires_grad=True)
        self._jt_c = _pullback(self._out, self._s, self._c, create_graph=True)

    def _vector(self, u, name: str = "u", *, n: int | None = None) -> torch.Tensor:
        return super()._vector(u, "u", n=n)

    def _count(self, k: int, *, adjoint: bool = False) -> None:
        super()._count(k, adjoint=adjoint)
        if adjoint:
            self.n_vjp += k
        else:
            self.n_jvp += k

    def _checked(self, out: torch.Tensor, what: str) -> torch.Tensor:
        _raise_non_finite(self.update, self.state, out, what, self._describe, self._batch)
        return out

    def _matvec(self, u: torch.Tensor) -> torch.Tensor:
        """``J u`` (one Jacobian-vector product)."""
        if self._jt_c.requires_grad:
            (out,) = torch.autograd.grad(self._jt_c, self._c, u, retain_graph=True,
                                         allow_unused=True, materialize_grads=True)
        else:  # a step that does not depend on the state: J = 0
            out = torch.zeros_like(u)
        return self._checked(out, "Jacobian-vector product")

    def _rmatvec(self, u: torch.Tensor) -> torch.Tensor:
        """``Jᵀ u`` (one vector-Jacobian product)."""
        return self._checked(_pullback(self._out, self._s, u), "vector-Jacobian product")

    def gram(self) -> GramOperator:
        """``JᵀJ`` as a symmetric positive semi-definite operator (eigenvalues ``σ_i²``)."""
        return GramOperator(self)


class GramOperator(CurvatureOperator):
    """``JᵀJ`` of an :class:`UpdateJacobianOperator` (symmetric, positive semi-definite).

    ``n_hvp`` counts loss Hessian-vector products, as for every operator: two per Gram
    product (one ``J u``, one ``Jᵀ``), which the underlying ``jacobian`` records as well.
    """

    hvp_per_product = 2

    def __init__(self, jacobian: UpdateJacobianOperator) -> None:
        super().__init__()
        self.jacobian = jacobian
        self.shape = jacobian.shape
        self.dtype = jacobian.dtype
        self.device = jacobian.device

    def _matvec(self, v: torch.Tensor) -> torch.Tensor:
        return self.jacobian.rmatvec(self.jacobian.matvec(v))


@dataclass(frozen=True)
class SingularValues:
    """Extreme singular values of ``J`` from Lanczos on ``JᵀJ``.

    ``top`` (descending) / ``bottom`` (ascending): float64 arrays, ``None`` for an end not
    asked for; ``top_residuals``/``bottom_residuals``: Lanczos residual norms of the matching
    Ritz pairs of ``JᵀJ`` (units of ``σ²``); ``n_hvp``: loss Hessian-vector products spent (two
    per Gram product); ``seed`` of the Lanczos start vector.
    """

    top: np.ndarray | None
    bottom: np.ndarray | None
    top_residuals: np.ndarray | None
    bottom_residuals: np.ndarray | None
    n_hvp: int
    seed: int


def _sqrt_clipped(x) -> np.ndarray | None:
    # rounding can push a Ritz value of the PSD operator JᵀJ slightly below zero
    return None if x is None else np.sqrt(np.maximum(np.asarray(x, dtype=np.float64), 0.0))


def extreme_singular_values(
    jacobian: UpdateJacobianOperator,
    *,
    k: int = 1,
    which: str = "both",
    n_steps: int | None = None,
    seed: int,
    tol: float | None = None,
) -> SingularValues:
    """Largest and/or smallest ``k`` singular values of ``J`` via Lanczos on ``JᵀJ``.

    ``σ_i = √max(μ_i, 0)`` for the Ritz values ``μ_i`` of ``JᵀJ``; ``which`` in
    ``{"both", "largest", "smallest"}``; ``n_steps``/``tol`` as in
    :func:`~sharpdim.curvature.lanczos.extreme_eigenvalues` (which raises
    ``LanczosNotConverged`` when the budget runs out); ``seed`` draws the start vector.
    """
    before = jacobian.n_hvp
    res = extreme_eigenvalues(jacobian.gram(), k=k, which=which, n_steps=n_steps, seed=seed,
                              tol=tol)
    return SingularValues(
        top=_sqrt_clipped(res.top), bottom=_sqrt_clipped(res.bottom),
        top_residuals=res.top_residuals, bottom_residuals=res.bottom_residuals,
        n_hvp=jacobian.n_hvp - before, seed=res.seed,
    )
