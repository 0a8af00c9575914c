"""Hessian-vector products behind one symmetric-operator type.

:class:`HessianOperator` is the minibatch Hessian ``H = ∇²L(θ; x, y)`` of a
:class:`~sharpdim.curvature.functional.FlatLoss`, applied matrix-free:
``matvec(v) = H v`` and ``matmat(V) = H V`` (``V`` of shape ``(N, k)``: ``k`` probes at
once). Strategies (``method``), with costs in gradients per product as measured by
``sharpdim bench curvature`` (reports/benchmarks.md):

* ``"graph"`` — build ``g = ∇L`` once with ``create_graph=True`` (≈ 1 gradient) and
  differentiate ``vᵀg`` again for each product (double backward through a reused graph;
  ``matmat`` batches the probes with ``is_grads_batched``). The default (``"auto"``): as
  cheap per product as ``"linearize"`` without its tracing cost, and with train-mode dropout
  the one mask drawn when the graph was built is used by every product, so the operator
  stays one fixed symmetric matrix.
* ``"jvp"`` — forward-over-reverse ``jvp(grad(L))`` through ``functional_call``, rebuilt for
  every product (``matmat`` via ``vmap``): no stored graph, the most work per product.
* ``"linearize"`` — ``torch.func.linearize(grad(L))`` once (tracing: 35–430 gradients
  measured), then the linear map per product (``matmat`` via ``vmap``).

:class:`MatrixOperator` wraps an explicit symmetric matrix with the same interface (planted
spectra in tests). :class:`HessianStack` holds ``R`` minibatch Hessians at one ``θ`` and
applies them in one call, ``(H_1 v_1, …, H_R v_R)``, for SLQ runs in lockstep.
"""

from __future__ import annotations

import warnings
from typing import Protocol, runtime_checkable

import torch
from torch.func import grad as func_grad
from torch.func import jvp, linearize, vmap

from sharpdim._numerics import symmetry_tolerance
from sharpdim.curvature.functional import FlatLoss, batch_fingerprint
from sharpdim.curvature.operator import CurvatureOperator, default_chunk
from sharpdim.vocabulary import HVP_METHODS, HvpMethod, choice

__all__ = [
    "HVP_METHODS",
    "SymmetricOperator",
    "HessianOperator",
    "GraphHessian",
    "LinearizeHessian",
    "JvpHessian",
    "MatrixOperator",
    "HessianStack",
    "hessian_operator",
    "hessian_stack",
]



@runtime_checkable
class SymmetricOperator(Protocol):
    """What Lanczos and trace estimators need: a symmetric linear map on torch vectors
    (every :class:`~sharpdim.curvature.operator.CurvatureOperator` with ``symmetric = True``
    follows it; a user's own object needs only these members)."""

    shape: tuple[int, int]
    dtype: torch.dtype
    device: torch.device
    n_hvp: int

    def matvec(self, v: torch.Tensor) -> torch.Tensor: ...

    def matmat(self, V: torch.Tensor) -> torch.Tensor: ...


_default_chunk = default_chunk  # the old private name, imported by estimators.cost


class MatrixOperator(CurvatureOperator):
    """An explicit symmetric ``N × N`` matrix as an operator (``n_hvp`` counts products).

    Symmetry is checked to ``N · eps · max|A|`` (rounding of a symmetrized product).
    """

    def __init__(self, matrix) -> None:
        super().__init__()
        A = torch.as_tensor(matrix)
        if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] == 0:
            raise ValueError(f"matrix must be square and non-empty, got shape {tuple(A.shape)}")
        if not A.is_floating_point():
            A = A.to(torch.float64)
        if not bool(torch.isfinite(A).all()):
            raise ValueError("matrix must be finite, got a non-finite entry")
        n = A.shape[0]
        bound = symmetry_tolerance(n, float(A.abs().max()), eps=torch.finfo(A.dtype).eps)
        asym = float((A - A.T).abs().max())
        if asym > bound:
            raise ValueError(
                f"matrix must be symmetric, got max|A - Aᵀ| = {asym:.3g} > {bound:.3g}"
            )
        self.matrix = A
        self.shape = (n, n)
        self.dtype = A.dtype
        self.device = A.device

    def _matvec(self, v: torch.Tensor) -> torch.Tensor:  # gemv: its own rounding, kept
        return self.matrix @ v

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        return self.matrix @ V


class HessianOperator(CurvatureOperator):
    """Minibatch Hessian ``H = ∇²L(θ; x, y)`` applied matrix-free (see module docstring).

    Made by :func:`hessian_operator`; one subclass per strategy (:class:`GraphHessian`,
    :class:`LinearizeHessian`, :class:`JvpHessian`), each overriding ``_matvec`` and
    ``_batched``. ``shape = (N, N)``; ``dtype``/``device`` are those of the products (the
    model's, or the requested ``dtype``); ``n_hvp`` counts products; ``method`` is the
    strategy used; ``loss`` and ``gradient`` at ``θ`` are kept (``gradient`` is ``None`` for
    ``"jvp"``, which stores nothing). ``fallback`` records why a block product ran one column
    at a time (an op without a batching rule), ``None`` when it never did.
    """

    method = "graph"

    def __init__(self, f: FlatLoss, theta: torch.Tensor, inputs, targets, *,
                 dtype: torch.dtype) -> None:
        super().__init__()
        self.f = f
        self.dtype = dtype
        self.device = theta.device
        n = f.n_params
        self.shape = (n, n)
        self.theta = theta.detach().to(dtype=dtype)
        self.inputs, self.targets = inputs, targets
        self._batch = batch_fingerprint(inputs, targets)
        self.loss: torch.Tensor | None = None
        self.gradient: torch.Tensor | None = None
        self.fallback: str | None = None
        self._setup()

    def _setup(self) -> None:
        raise NotImplementedError

    def _batched(self, V: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return (f"HessianOperator(N={self.shape[0]}, method={self.method!r}, "
                f"dtype={self.dtype}, device={self.device}, n_hvp={self.n_hvp})")

    def _checked(self, out: torch.Tensor) -> torch.Tensor:
        if not bool(torch.isfinite(out).all()):
            bad = (~torch.isfinite(out)).reshape(out.shape[0], -1).any(0)
            col = out if out.ndim == 1 else out[:, int(bad.nonzero()[0, 0])]
            self.f.check_finite(self.theta, None, col, self.inputs, self.targets,
                                what="Hessian-vector product", batch=self._batch)
        return out

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        if V.shape[1] == 1:
            return self._matvec(V[:, 0])[:, None]
        try:
            out = self._batched(V)
        except torch.OutOfMemoryError:
            raise                        # never hidden behind the one-at-a-time fallback
        except RuntimeError as err:
            # an op without a batching rule (or train-mode randomness): one product at a time
            self.fallback = f"{type(err).__name__}: {str(err)[:200]}"
            return super()._matmat(V)
        return self._checked(out)


class GraphHessian(HessianOperator):
    """``"graph"``: keep the graph of ``∇L`` and double-backward through it per product."""

    method = "graph"

    def _setup(self) -> None:
        f = self.f
        self._theta_r = self.theta.clone().requires_grad_(True)
        loss = f(self._theta_r, self.inputs, self.targets)
        (g,) = torch.autograd.grad(loss, self._theta_r, create_graph=True,
                                   allow_unused=True, materialize_grads=True)
        f.check_finite(self.theta, loss, g, self.inputs, self.targets, what="gradient",
                       batch=self._batch)
        self._g = g
        self.loss, self.gradient = loss.detach(), g.detach()

    def _double_backward(self, grads: torch.Tensor, batched: bool) -> torch.Tensor:
        if not self._g.requires_grad:  # loss linear in θ: the Hessian is zero
            return torch.zeros_like(grads)
        (out,) = torch.autograd.grad(self._g, self._theta_r, grads, retain_graph=True,
                                     allow_unused=True, materialize_grads=True,
                                     is_grads_batched=batched)
        return out

    def _matvec(self, v: torch.Tensor) -> torch.Tensor:
        return self._checked(self._double_backward(v, batched=False))

    def _batched(self, V: torch.Tensor) -> torch.Tensor:
        return self._double_backward(V.T.contiguous(), batched=True).T

    def to_dense(self, *, chunk_size: int | None = None) -> torch.Tensor:
        """The ``N × N`` matrix, row block by row block: ``H[a:b] = (H E_{a:b})ᵀ`` is one
        batched double backward with the identity's rows ``a..b−1`` as probes, written
        straight into contiguous rows (no transposed copy); ``chunk_size`` probes per block
        (default :func:`~sharpdim.curvature.operator.default_chunk`). Row ``i`` is the
        product ``H e_i`` as computed, so the matrix is symmetric up to the products'
        rounding."""
        n = self.shape[0]
        chunk = chunk_size or default_chunk(n, self.dtype)
        out = torch.empty((n, n), dtype=self.dtype, device=self.device)
        E = torch.zeros((min(chunk, n), n), dtype=self.dtype, device=self.device)
        rows = torch.arange(E.shape[0], device=self.device)
        for a in range(0, n, chunk):
            b = min(n, a + chunk)
            k = b - a
            if a:
                E[rows, rows + a - chunk] = 0  # clear the previous block's ones only
            E[rows[:k], rows[:k] + a] = 1
            block = self._double_backward(E[:k], batched=True) if k > 1 else \
                self._double_backward(E[0], batched=False)[None]
            # one reduction per block; the entry-wise scan only when it is not finite
            if not bool(torch.isfinite(block.sum())):
                self._checked(block.T)
            out[a:b] = block
            self._count(b - a)
        return out


_ZERO_TENSOR_BUG = "ZeroTensors are immutable"


def _forward_over_reverse(method: str, grad_fn, theta: torch.Tensor, v: torch.Tensor):
    """``jvp(grad_fn, θ, v)``, with torch's known failure of forward-over-reverse through a
    loss (``F.mse_loss`` with ``reduction="mean"`` mutates an efficient ZeroTensor in its
    forward-mode formula, pytorch/pytorch#123996) turned into a ``ValueError`` that names
    ``method`` and the remedies."""
    try:
        return jvp(grad_fn, (theta,), (v,))
    except RuntimeError as err:
        if _ZERO_TENSOR_BUG not in str(err):
            raise
        raise ValueError(
            f"method must be 'graph' (the default) for this loss, got {method!r}: torch "
            f"cannot run forward-over-reverse through it ({_ZERO_TENSOR_BUG}; torch's "
            "forward-mode formula of F.mse_loss with reduction='mean' fails this way, "
            "pytorch/pytorch#123996). Use method='graph', or write the loss as "
            "((outputs - targets) ** 2).mean()") from err


class LinearizeHessian(HessianOperator):
    """``"linearize"``: ``torch.func.linearize`` of ``∇L`` traced once, then replayed.

    One forward-over-reverse product is taken first (:func:`_forward_over_reverse`): the
    tracing of a loss that torch cannot differentiate that way has crashed the process
    (a segmentation fault, with ``F.mse_loss``), where the product raises a clear error."""

    method = "linearize"

    def _setup(self) -> None:
        f = self.f
        grad_fn = func_grad(lambda t: f(t, self.inputs, self.targets))
        _forward_over_reverse(self.method, grad_fn, self.theta, torch.zeros_like(self.theta))
        with warnings.catch_warnings():  # torch.fx const-folding chatter, not ours
            warnings.filterwarnings("ignore", message="Attempted to insert a get_attr")
            g, self._lin = linearize(grad_fn, self.theta)
        f.check_finite(self.theta, None, g, self.inputs, self.targets, what="gradient",
                       batch=self._batch)
        self.gradient = g.detach()

    def _matvec(self, v: torch.Tensor) -> torch.Tensor:
        return self._checked(self._lin(v))

    def _batched(self, V: torch.Tensor) -> torch.Tensor:
        return vmap(self._lin)(V.T).T


class JvpHessian(HessianOperator):
    """``"jvp"``: forward-over-reverse ``jvp`` of ``∇L`` per product; stores nothing."""

    method = "jvp"

    def _setup(self) -> None:
        self._grad_fn = func_grad(lambda t: self.f(t, self.inputs, self.targets))

    def _matvec(self, v: torch.Tensor) -> torch.Tensor:
        return self._checked(_forward_over_reverse(self.method, self._grad_fn, self.theta, v)[1])

    def _batched(self, V: torch.Tensor) -> torch.Tensor:
        return vmap(lambda v: _forward_over_reverse(self.method, self._grad_fn, self.theta,
                                                   v)[1])(V.T).T


_HVP_CLASSES = {"graph": GraphHessian, "linearize": LinearizeHessian, "jvp": JvpHessian}


def _resolve_method(method: HvpMethod) -> str:
    choice("method", method, HVP_METHODS)
    # "graph": as cheap per product as "linearize" and ~1 gradient to set up, against
    # 35-430 gradients of tracing for linearize (sharpdim bench curvature)
    return "graph" if method == "auto" else method


def _check_point(f: FlatLoss, theta: torch.Tensor, dtype: torch.dtype | None) -> torch.dtype:
    if not isinstance(f, FlatLoss):
        raise TypeError(f"f must be a FlatLoss (see flat_loss), got {type(f).__name__}")
    if not isinstance(theta, torch.Tensor) or theta.shape != (f.n_params,):
        shape = tuple(theta.shape) if isinstance(theta, torch.Tensor) else type(theta).__name__
        raise ValueError(f"theta must be a tensor of shape ({f.n_params},), got {shape}")
    dtype = theta.dtype if dtype is None else dtype
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating dtype, got {dtype}")
    return dtype


def hessian_operator(
    f: FlatLoss,
    theta: torch.Tensor,
    inputs,
    targets,
    *,
    dtype: torch.dtype | None = None,
    method: HvpMethod = "auto",
) -> HessianOperator:
    """Minibatch Hessian of ``f`` at ``θ`` on ``(inputs, targets)`` as a matrix-free operator.

    ``dtype`` (default ``θ``'s) is the precision of the products; ``method`` one of
    ``HVP_METHODS`` (``"auto"`` = ``"graph"``). Raises :class:`NonFiniteError` when the loss
    or gradient at ``θ`` is not finite.

    >>> import torch
    >>> from sharpdim.curvature import flat_loss
    >>> lin = torch.nn.Linear(2, 1, bias=False)
    >>> f = flat_loss(lin, torch.nn.functional.mse_loss)
    >>> X = torch.tensor([[1.0, 0.0], [0.0, 2.0]])       # H = 2 XᵀX / n = diag(1, 4)
    >>> H = hessian_operator(f, f.theta0, X, torch.zeros(2, 1), dtype=torch.float64)
    >>> H.matvec(torch.ones(2)).tolist()
    [1.0, 4.0]
    """
    dtype = _check_point(f, theta, dtype)
    return _HVP_CLASSES[_resolve_method(method)](f, theta, inputs, targets, dtype=dtype)


class HessianStack:
    """``R`` minibatch Hessians at one ``θ``: ``apply(V)[i] = H_i V[i]`` for ``V`` of shape
    ``(R, N)``.

    Strategy ``"stacked"``: ``R`` copies ``Θ = (θ, …, θ)`` and the summed loss
    ``F(Θ) = Σ_i L(θ_i; batch_i)``, evaluated with ``vmap`` over the copies. ``∇²F`` is block
    diagonal with blocks ``H_i``, so one double backward through the reused graph of ``∇F``
    gives all ``R`` products with batched matrix multiplies. Falls back to ``"per-run"``
    (``R`` separate ``"graph"`` operators) when the model cannot be vmapped (e.g. train-mode
    batch norm or dropout); ``strategy`` records which one ran and ``fallback`` why (the
    error, ``None`` when stacking worked). Out-of-memory errors are never taken for a
    fallback: they propagate.
    """

    def __init__(self, f: FlatLoss, theta: torch.Tensor, batches, *, dtype: torch.dtype,
                 stacked: bool = True) -> None:
        self.f = f
        self.R = len(batches)
        n = f.n_params
        self.shape = (self.R, n)
        self.dtype = dtype
        self.device = theta.device
        self.theta = theta.detach().to(dtype)
        self.batches = batches
        self.fingerprints = tuple(batch_fingerprint(x, y) for x, y in batches)
        self.n_hvp = 0
        self.strategy = "per-run"
        self.fallback: str | None = None
        self.losses: torch.Tensor | None = None
        if stacked and self.R > 1 and not f.flags.any:
            try:
                self._build_stacked()
                self.strategy = "stacked"
            except torch.OutOfMemoryError:
                raise                    # never hidden behind the per-run fallback
            except RuntimeError as err:  # the model cannot be vmapped: one graph per run
                self.strategy = "per-run"
                self.fallback = f"{type(err).__name__}: {str(err)[:200]}"
        if self.strategy == "per-run":
            self._ops = [GraphHessian(f, self.theta, x, y, dtype=dtype) for x, y in batches]
            self.losses = torch.stack([op.loss for op in self._ops])

    def _build_stacked(self) -> None:
        xs = _stack([x for x, _ in self.batches])
        ys = _stack([y for _, y in self.batches])
        theta_r = self.theta.expand(self.R, -1).clone().requires_grad_(True)
        losses = vmap(self.f)(theta_r, xs, ys)
        (G,) = torch.autograd.grad(losses.sum(), theta_r, create_graph=True,
                                   allow_unused=True, materialize_grads=True)
        for i in range(self.R):
            x, y = self.batches[i]
            self.f.check_finite(self.theta, losses[i], G[i], x, y, what="gradient",
                                batch=self.fingerprints[i])
        self._theta_r, self._G, self.losses = theta_r, G, losses.detach()

    def apply(self, V: torch.Tensor, *, check: bool = True) -> torch.Tensor:
        """``(H_1 V[0], …, H_R V[R-1])`` as an ``(R, N)`` tensor. ``check=False`` skips the
        scan for non-finite entries (a caller that sees them downstream, as Lanczos does in
        ``α = qᵀHq``, calls :meth:`check_products` only then)."""
        if V.shape != self.shape:
            raise ValueError(f"V must have shape {self.shape}, got {tuple(V.shape)}")
        V = V.to(device=self.device, dtype=self.dtype)
        if self.strategy == "stacked":
            if self._G.requires_grad:
                (out,) = torch.autograd.grad(self._G, self._theta_r, V, retain_graph=True,
                                             allow_unused=True, materialize_grads=True)
            else:
                out = torch.zeros_like(V)
        else:
            out = (self._ops[0]._double_backward(V[0], batched=False)[None] if self.R == 1
                   else torch.stack([op._double_backward(v, batched=False)
                                     for op, v in zip(self._ops, V, strict=True)]))
            for op in self._ops:
                op._count(1)
        if check:
            self.check_products(V, out)
        self.n_hvp += self.R
        return out

    def run_product(self, i: int, v: torch.Tensor) -> torch.Tensor:
        """``H_i v`` for one run of a ``"per-run"`` stack, unchecked (like ``apply(...,
        check=False)`` restricted to row ``i``): runs whose products are not batched can then
        advance one at a time. :meth:`check_run_product` locates a non-finite entry."""
        if self.strategy != "per-run":
            raise ValueError(f"run_product needs the 'per-run' strategy, got {self.strategy!r}")
        op = self._ops[i]
        op._count(1)
        self.n_hvp += 1
        return op._double_backward(v, batched=False)

    def check_run_product(self, i: int, out: torch.Tensor) -> None:
        """Raise the error naming run ``i``'s minibatch and the parameter of the first
        non-finite entry of ``out = run_product(i, v)``; return quietly when all are finite."""
        self._ops[i]._checked(out)

    def check_products(self, V: torch.Tensor, out: torch.Tensor) -> None:
        """Raise :class:`~sharpdim.curvature.functional.NonFiniteError` naming the minibatch
        and the parameter of the first non-finite entry of the products ``out = apply(V)``;
        return quietly when all are finite."""
        if bool(torch.isfinite(out).all()):
            return
        i = int((~torch.isfinite(out)).any(1).nonzero()[0, 0])
        x, y = self.batches[i]
        self.f.check_finite(self.theta, None, out[i], x, y, what="Hessian-vector product",
                            batch=self.fingerprints[i])


def _stack(items):
    if isinstance(items[0], dict):
        return {k: torch.stack([it[k] for it in items]) for k in items[0]}
    if isinstance(items[0], tuple | list):
        return type(items[0])(torch.stack(parts) for parts in zip(*items, strict=True))
    return torch.stack(items)


def hessian_stack(
    f: FlatLoss,
    theta: torch.Tensor,
    batches,
    *,
    dtype: torch.dtype | None = None,
    stacked: bool = True,
) -> HessianStack:
    """:class:`HessianStack` of the minibatches ``batches = [(inputs_i, targets_i), …]``
    (equal batch sizes) at ``θ``; ``stacked=False`` forces one graph per minibatch."""
    dtype = _check_point(f, theta, dtype)
    if len(batches) == 0:
        raise ValueError("batches must contain at least one (inputs, targets) pair, got none")
    return HessianStack(f, theta, list(batches), dtype=dtype, stacked=stacked)
