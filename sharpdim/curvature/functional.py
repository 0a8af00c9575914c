"""A model's minibatch-mean loss as a pure function of one flat parameter vector.

``flat_loss(model, loss_fn, train=...)`` snapshots the model's trainable parameters into a
flat vector ``theta0`` (concatenated in ``named_parameters`` order, each block flattened in
row-major order) and returns a :class:`FlatLoss` ``L(θ; x, y) = loss_fn(model_θ(x), y)``
evaluated with :func:`torch.func.functional_call`, so the model itself is never mutated.

* Parameters with ``requires_grad=False`` are left out of ``θ`` and held fixed (their names
  are listed in ``frozen_names``); buffers are snapshotted too, so ``L`` is a pure function.
* The train/eval mode is an explicit argument applied during each call and restored after
  it. Dropout or batch norm in *train* mode make ``L`` random or batch-coupled: they are
  flagged in ``FlatLoss.flags`` and a :class:`TrainModeWarning` is issued, never changed.
* ``loss_fn(outputs, targets)`` must return the minibatch *mean* loss (like
  ``F.cross_entropy``): the Hessian of that mean is what an SGD step differentiates. Every
  call checks that it returned a 0-d tensor; :func:`check_loss_contract` checks once, on one
  batch, that the loss depends on the parameters and does not grow with the batch size (a
  ``reduction='sum'`` loss would scale the Hessian by the batch size).
* A ``θ`` of another floating dtype (e.g. float64 for an exact Hessian) casts the floating
  inputs, targets, buffers and frozen parameters to that dtype for the call.
* Inputs are a tensor, a tuple of tensors (positional arguments) or a dict of tensors
  (keyword arguments, e.g. ``input_ids`` and ``attention_mask``); ``output`` selects the
  loss's first argument from what the model returns: ``None`` (the output itself), a key
  (``"logits"``: a dict item or an attribute, as of a ``transformers`` ``ModelOutput``), an
  index into a tuple, or a callable.
* Every evaluation runs inside :func:`curvature_kernels`: attention through
  ``scaled_dot_product_attention`` uses the math kernel (the fused CPU kernels have no second
  derivative) and ``vmap``'s "batching rule" performance warnings are silenced.
* Buffers are copied for every call, so a ``forward`` that updates a buffer in place (a step
  counter, running statistics) never changes the model's own.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call

from sharpdim import _validate
from sharpdim.vocabulary import LOSS_REDUCTIONS, LossReduction, choice

__all__ = [
    "FlatLoss",
    "LossScaleError",
    "ModeFlags",
    "NonFiniteError",
    "TrainModeWarning",
    "batch_fingerprint",
    "check_loss_contract",
    "curvature_kernels",
    "flat_loss",
    "mode_description",
    "select_output",
]

# A mean loss of a batch and of that batch twice over agree up to the rounding of the two
# sums (relative error ~ n·eps, 1e-4 at most for float32 batches of 1e3 examples); a sum
# loss doubles. Half-way (in ratio) between the two contracts separates them with a margin
# of orders of magnitude over the rounding.
_SCALE_RATIO_LIMIT = 1.5


@contextlib.contextmanager
def curvature_kernels() -> Iterator[None]:
    """The kernels second derivatives need: ``scaled_dot_product_attention`` on the math
    backend (the flash and memory-efficient CPU kernels have no double backward), with the
    ``vmap`` "batching rule" performance warnings silenced (a slower per-example loop is
    still exact). Restores both on exit; nothing global is changed."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel(SDPBackend.MATH), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*batching rule.*", category=UserWarning)
        yield


def select_output(outputs, output):
    """The tensor the loss takes from a model's ``outputs``: ``output=None`` the outputs
    themselves; a ``str`` key of a mapping or an attribute (``"logits"`` of a ``ModelOutput``);
    an ``int`` index of a tuple or list; a callable applied to them. ``KeyError``/``TypeError``
    name what the outputs hold when the selector does not fit."""
    if output is None:
        return outputs
    if callable(output):
        return output(outputs)
    if isinstance(output, str):
        if isinstance(outputs, dict) or hasattr(outputs, "keys"):
            if output in outputs.keys():
                return outputs[output]
        elif hasattr(outputs, output):
            return getattr(outputs, output)
        held = (list(outputs.keys()) if hasattr(outputs, "keys")
                else type(outputs).__name__)
        raise KeyError(f"output must name an entry of the model's outputs, got {output!r}; "
                       f"the outputs hold {held}")
    if isinstance(output, int) and not isinstance(output, bool):
        if not isinstance(outputs, tuple | list):
            raise TypeError(f"output={output} indexes a tuple of outputs, got "
                            f"{type(outputs).__name__}")
        return outputs[output]
    raise TypeError("output must be None, a key (str), an index (int) or a callable, got "
                    f"{type(output).__name__} {output!r}")


class TrainModeWarning(UserWarning):
    """Dropout or batch norm evaluated in train mode: the loss is random or batch-coupled."""


class LossScaleError(ValueError):
    """The loss grows with the batch size (a sum, not a mean) and ``reduction="sum"`` was not
    stated: its Hessian would be scaled by the batch size."""


class NonFiniteError(FloatingPointError):
    """A loss, gradient or Hessian-vector product that is not finite.

    ``batch`` describes the minibatch (size and content hash, plus the SLQ run when known),
    ``parameter`` names the first offending parameter entry (``"name[i, j]"``) or ``None``.
    """

    def __init__(self, message: str, *, batch: str, parameter: str | None) -> None:
        super().__init__(message)
        self.batch = batch
        self.parameter = parameter


@dataclass(frozen=True)
class ModeFlags:
    """Modules that make the loss random or couple a batch's examples, in mode ``train``.

    ``dropout`` lists train-mode dropout modules; ``batch_norm`` the batch norms that use
    the batch's statistics — every one in train mode, and in eval mode those without running
    statistics (``track_running_stats=False``). Both are empty for an eval-mode model whose
    loss is deterministic and per-example.
    """

    train: bool
    dropout: tuple[str, ...]
    batch_norm: tuple[str, ...]

    @property
    def any(self) -> bool:
        """True when the loss is random (dropout) or couples the batch (batch norm)."""
        return bool(self.dropout or self.batch_norm)


def batch_fingerprint(inputs, targets=None) -> str:
    """Short description of a minibatch: its size and a SHA-1 prefix of its contents."""
    digest = hashlib.sha1()
    tensors = (list(inputs.values()) if isinstance(inputs, dict)
               else list(inputs) if isinstance(inputs, tuple | list) else [inputs])
    if targets is not None:
        tensors.append(targets)
    n = None
    for t in tensors:
        if isinstance(t, torch.Tensor):
            n = int(t.shape[0]) if n is None and t.ndim else n
            digest.update(t.detach().cpu().contiguous().numpy().tobytes())
    size = "?" if n is None else str(n)
    return f"batch of {size} examples (sha1 {digest.hexdigest()[:12]})"


def _batch_coupled(m: nn.Module, train: bool) -> bool:
    """Batch norm that normalizes with the batch's own statistics: in train mode, or in eval
    mode without running statistics (``track_running_stats=False``)."""
    return isinstance(m, nn.modules.batchnorm._BatchNorm) and (
        train or getattr(m, "running_mean", None) is None)


def _mode_flags(model: nn.Module, train: bool) -> ModeFlags:
    dropout = () if not train else tuple(
        name or type(m).__name__
        for name, m in model.named_modules()
        if isinstance(m, nn.modules.dropout._DropoutNd | nn.AlphaDropout | nn.FeatureAlphaDropout)
    )
    batch_norm = tuple(name or type(m).__name__ for name, m in model.named_modules()
                       if _batch_coupled(m, train))
    return ModeFlags(train, dropout, batch_norm)


def mode_description(flags: ModeFlags) -> str:
    """``"train-mode dropout ['drop'] and batch norm using batch statistics ['bn']"``, naming
    only the kinds present (empty when none)."""
    parts = []
    if flags.dropout:
        parts.append(f"train-mode dropout {list(flags.dropout)}")
    if flags.batch_norm:
        parts.append(f"batch norm using batch statistics {list(flags.batch_norm)}"
                     + ("" if flags.train else " (track_running_stats=False: also in eval "
                        "mode)"))
    return " and ".join(parts)


def _cast(x, dtype: torch.dtype):
    if isinstance(x, torch.Tensor) and x.is_floating_point() and x.dtype != dtype:
        return x.to(dtype)
    if isinstance(x, tuple | list):
        return type(x)(_cast(t, dtype) for t in x)
    if isinstance(x, dict):
        return {k: _cast(t, dtype) for k, t in x.items()}
    return x


class _Mode:
    """Context manager: put every submodule in ``train`` mode, restore each one's flag after."""

    def __init__(self, model: nn.Module, train: bool) -> None:
        self.model, self.train = model, train

    def __enter__(self) -> None:
        self._saved = [(m, m.training) for m in self.model.modules()]
        self.model.train(self.train)

    def __exit__(self, *exc) -> None:
        for m, flag in self._saved:
            m.training = flag


class FlatLoss:
    """``L(θ; inputs, targets)``: a model's minibatch-mean loss as a function of flat ``θ``.

    Built by :func:`flat_loss`. Attributes: ``theta0`` (the model's trainable parameters,
    flattened, on the model's device and dtype), ``n_params``, ``names``/``shapes``/``numels``
    (the blocks of ``θ``, in order), ``frozen_names`` (parameters left out because they do not
    require grad), ``train`` and ``flags`` (:class:`ModeFlags`).

    >>> import torch
    >>> lin = torch.nn.Linear(2, 1, bias=False)
    >>> f = flat_loss(lin, torch.nn.functional.mse_loss)
    >>> x, y = torch.eye(2), torch.zeros(2, 1)
    >>> theta = torch.tensor([3.0, 4.0])          # L = mean((x θ)²) = (9 + 16) / 2
    >>> float(f(theta, x, y))
    12.5
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: Callable,
        *,
        train: bool,
        names: tuple[str, ...],
        shapes: tuple[torch.Size, ...],
        theta0: torch.Tensor,
        constants: dict[str, torch.Tensor],
        frozen_names: tuple[str, ...],
        flags: ModeFlags,
        buffer_names: tuple[str, ...] = (),
        output=None,
        reduction: str = "mean",
    ) -> None:
        self.reduction = reduction
        self.model = model
        self.loss_fn = loss_fn
        self.output = output
        self.buffer_names = buffer_names
        self.train = train
        self.names = names
        self.shapes = shapes
        self.numels = tuple(math.prod(s) for s in shapes)
        self.theta0 = theta0
        self.frozen_names = frozen_names
        self.flags = flags
        self._constants = constants
        self._offsets = tuple(int(o) for o in torch.tensor((0, *self.numels)).cumsum(0))

    @property
    def n_params(self) -> int:
        return int(self.theta0.numel())

    @property
    def device(self) -> torch.device:
        return self.theta0.device

    @property
    def dtype(self) -> torch.dtype:
        return self.theta0.dtype

    def __repr__(self) -> str:
        return (f"FlatLoss(n_params={self.n_params}, blocks={len(self.names)}, "
                f"train={self.train}, dtype={self.dtype}, device={self.device})")

    def _check_theta(self, theta: torch.Tensor) -> None:
        if not isinstance(theta, torch.Tensor):
            raise TypeError(f"theta must be a torch.Tensor, got {type(theta).__name__}")
        if theta.shape != (self.n_params,):
            raise ValueError(
                f"theta must have shape ({self.n_params},) (the flat trainable parameters), "
                f"got {tuple(theta.shape)}"
            )

    def unflatten(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split flat ``θ`` into ``{name: block}`` views with the parameters' shapes."""
        self._check_theta(theta)
        # split (not slicing): its backward is one cat, where slices zero-fill N per block
        blocks = torch.split(theta, self.numels)
        return {
            name: block.view(shape)
            for name, shape, block in zip(self.names, self.shapes, blocks, strict=True)
        }

    def flatten(self, blocks: dict[str, torch.Tensor]) -> torch.Tensor:
        """Inverse of :meth:`unflatten`: concatenate the named blocks in ``θ`` order."""
        missing = [n for n in self.names if n not in blocks]
        if missing:
            raise ValueError(f"blocks must contain every trainable parameter, missing {missing}")
        return torch.cat([blocks[n].reshape(-1) for n in self.names])

    def parameter_of(self, index: int) -> str:
        """Name of the parameter entry at flat ``index``, as ``"name[i, j]"``."""
        if not 0 <= index < self.n_params:
            raise ValueError(f"index must be in [0, {self.n_params}), got {index}")
        block = max(k for k, o in enumerate(self._offsets[:-1]) if o <= index)
        local = index - self._offsets[block]
        multi = []
        for size in reversed(self.shapes[block]):
            multi.append(local % size)
            local //= size
        return f"{self.names[block]}[{', '.join(str(i) for i in reversed(multi))}]"

    def __call__(self, theta: torch.Tensor, inputs, targets) -> torch.Tensor:
        """Minibatch-mean loss at ``θ`` (a scalar tensor, differentiable in ``θ``)."""
        self._check_theta(theta)
        tensors = dict(self._constants)
        if theta.dtype != self.dtype:
            tensors = {k: _cast(v, theta.dtype) for k, v in tensors.items()}
            inputs, targets = _cast(inputs, theta.dtype), _cast(targets, theta.dtype)
        for k in self.buffer_names:  # a forward that updates a buffer in place (running
            tensors[k] = tensors[k].clone()  # statistics, a counter) changes only this copy
        tensors.update(self.unflatten(theta))
        args, kwargs = ((), dict(inputs)) if isinstance(inputs, dict) else (
            (tuple(inputs) if isinstance(inputs, tuple | list) else (inputs,)), None)
        with _Mode(self.model, self.train), curvature_kernels():
            outputs = functional_call(self.model, tensors, args, kwargs)
            loss = self.loss_fn(select_output(outputs, self.output), targets)
        if self.reduction == "sum" and isinstance(loss, torch.Tensor):
            loss = loss / _batch_len(targets)
        if not isinstance(loss, torch.Tensor):
            raise TypeError(
                "loss_fn must return the minibatch mean loss as a 0-d torch.Tensor (like "
                f"F.cross_entropy), got {type(loss).__name__} {loss!r}; do not call .item() "
                "or float() on it")
        if loss.ndim != 0:
            raise ValueError(
                "loss_fn must return the minibatch mean loss as a 0-d tensor, got shape "
                f"{tuple(loss.shape)} (per-example losses? use reduction='mean')")
        return loss

    def loss_and_gradient(
        self, theta: torch.Tensor, inputs, targets
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(L(θ), ∇L(θ))``, both detached; raises :class:`NonFiniteError` if either is not
        finite, naming the batch and the first offending parameter entry."""
        theta_r = theta.detach().requires_grad_(True)
        loss = self(theta_r, inputs, targets)
        (grad,) = torch.autograd.grad(loss, theta_r, allow_unused=True, materialize_grads=True)
        self.check_finite(theta, loss, grad, inputs, targets, what="gradient")
        return loss.detach(), grad.detach()

    def gradient(self, theta: torch.Tensor, inputs, targets) -> torch.Tensor:
        """``∇L(θ)`` (flat, detached); see :meth:`loss_and_gradient` for the finiteness check."""
        return self.loss_and_gradient(theta, inputs, targets)[1]

    def check_finite(
        self,
        theta: torch.Tensor,
        loss: torch.Tensor | None,
        vector: torch.Tensor | None,
        inputs,
        targets,
        *,
        what: str,
        batch: str | None = None,
    ) -> None:
        """Raise :class:`NonFiniteError` if ``θ``, ``loss`` or ``vector`` (a gradient or a
        Hessian-vector product, called ``what``) has a non-finite entry."""
        bad_theta = ~torch.isfinite(theta.detach())
        loss_ok = loss is None or bool(torch.isfinite(loss.detach()).all())
        vec_ok = vector is None or bool(torch.isfinite(vector.detach()).all())
        if loss_ok and vec_ok and not bool(bad_theta.any()):
            return
        batch = batch or batch_fingerprint(inputs, targets)
        if bad_theta.any():
            name = self.parameter_of(int(bad_theta.nonzero()[0, 0]))
            raise NonFiniteError(
                f"theta must be finite, got a non-finite entry at parameter {name} "
                f"(evaluating the {what} on the {batch})", batch=batch, parameter=name)
        name = None
        if vector is not None and not vec_ok:
            name = self.parameter_of(int((~torch.isfinite(vector.detach())).nonzero()[0, 0]))
        loss_txt = "" if loss is None else f"loss = {float(loss.detach()):.6g}, "
        where = f"first non-finite {what} entry at parameter {name}" if name else (
            f"the {what} is finite" if vector is not None else "")
        raise NonFiniteError(
            f"non-finite loss or {what} on the {batch}: {loss_txt}{where}; parameters are "
            "finite, so the model or loss overflowed here (lower the learning rate, or check "
            "the inputs of this batch)", batch=batch, parameter=name)


def _batch_len(targets) -> int:
    """Examples in a batch: the leading dimension of its targets."""
    return int(targets.shape[0]) if isinstance(targets, torch.Tensor) and targets.ndim else 1


def _twice(x):
    """The batch ``x`` followed by itself (tensors along dim 0, tuples entry by entry)."""
    if isinstance(x, torch.Tensor):
        return torch.cat([x, x]) if x.ndim else x
    if isinstance(x, tuple | list):
        return type(x)(_twice(t) for t in x)
    if isinstance(x, dict):
        return {k: _twice(t) for k, t in x.items()}
    return x


def check_loss_contract(f: FlatLoss, inputs, targets) -> float:
    """Check once, on the batch ``(inputs, targets)`` at ``f.theta0``, that ``f``'s loss is a
    minibatch *mean*: a 0-d tensor that depends on the parameters, whose scale does not grow
    with the batch size. Returns the ratio ``L(B ∪ B) / L(B)`` of the loss on the batch
    taken twice to the loss on the batch (``1`` up to rounding for a mean, ``2`` for a sum).

    Raises ``TypeError`` for a loss that is not a tensor (e.g. a float from ``.item()``),
    ``ValueError`` for a tensor of another shape, one without gradient history in ``θ``
    (detached), or a model and batch that do not fit each other (torch's own error quoted),
    and :class:`LossScaleError` when the ratio exceeds 1.5 (a sum loss multiplies the Hessian
    by the batch size) unless ``f`` was built with ``reduction="sum"``, which divides it.
    The ratio test is skipped (``nan`` returned) with train-mode
    dropout (each call draws a new mask) and when ``L(B) = 0``.

    >>> lin = torch.nn.Linear(2, 1, bias=False)
    >>> _ = torch.nn.init.constant_(lin.weight, 1.5)   # every output is 3: L = 9 on B and B∪B
    >>> x, y = torch.ones(4, 2), torch.zeros(4, 1)
    >>> check_loss_contract(flat_loss(lin, torch.nn.functional.mse_loss), x, y)
    1.0
    >>> sum_loss = lambda o, t: torch.nn.functional.mse_loss(o, t, reduction="sum")
    >>> check_loss_contract(flat_loss(lin, sum_loss, reduction="sum"), x, y)   # 72/8 / 36/4
    1.0
    """
    with torch.enable_grad():
        theta = f.theta0.detach().clone().requires_grad_(True)
        try:
            loss = f(theta, inputs, targets)
        except (RuntimeError, IndexError) as exc:  # shapes/dtypes of model and data disagree
            raise ValueError(
                f"loss_fn(model(inputs), targets) failed on a {batch_fingerprint(inputs, targets)}"
                f" with the model's {f.dtype} parameters: {str(exc).splitlines()[0]} (do the "
                "inputs' shape and dtype fit the model, and the targets the loss?)") from exc
        if loss.grad_fn is None or not loss.requires_grad:
            raise ValueError(
                "loss_fn must return a tensor computed from the model outputs (it must depend "
                "on the parameters), got a tensor without gradient history (detached, or "
                "rebuilt from a Python number)")
    if f.flags.dropout:
        return float("nan")
    with torch.no_grad():
        single = float(loss.detach())
        double = float(f(f.theta0, _twice(inputs), _twice(targets)))
    if single == 0.0 or not math.isfinite(single) or not math.isfinite(double):
        return float("nan")
    ratio = double / single
    if abs(ratio) > _SCALE_RATIO_LIMIT:
        raise LossScaleError(
            f"loss_fn must return the minibatch mean loss (reduction='mean'), got a loss that "
            f"grows with the batch size: a batch taken twice gives {ratio:.3g} times the loss "
            "of the batch (a mean gives 1, a sum 2), which scales the Hessian by the batch "
            "size; pass a mean loss, or state the scale with loss_reduction='sum' (the loss is "
            "then divided by the batch size)")
    return ratio


def flat_loss(model: nn.Module, loss_fn: Callable, *, train: bool = False,
              output=None, reduction: LossReduction = "mean") -> FlatLoss:
    """Wrap ``model`` and ``loss_fn`` as a :class:`FlatLoss` of the trainable parameters.

    ``train`` is the mode the model is evaluated in (default eval). Train-mode dropout or
    batch norm using batch statistics is flagged in ``.flags`` and warned about
    (:class:`TrainModeWarning`). ``output`` selects the loss's input from the model's
    outputs (:func:`select_output`). ``reduction``: how ``loss_fn`` reduces a batch,
    ``"mean"`` (the contract) or ``"sum"`` (then divided by the batch size, so ``L`` is the
    mean either way).
    Raises ``ValueError`` for a model without trainable parameters or with trainable
    parameters of mixed dtype/device.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable as loss_fn(outputs, targets), got {loss_fn!r}")
    _validate.flag("train", train)  # the mode to evaluate the model in
    if not (output is None or callable(output) or isinstance(output, str)
            or (isinstance(output, int) and not isinstance(output, bool))):
        raise TypeError("output must be None, a key (str), an index (int) or a callable, got "
                        f"{type(output).__name__} {output!r}")
    reduction = choice("reduction", reduction, LOSS_REDUCTIONS)
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not trainable:
        raise ValueError(
            "model must have at least one trainable parameter (requires_grad=True), got none"
        )
    kinds = {(p.dtype, p.device) for _, p in trainable}
    if len(kinds) > 1:
        raise ValueError(
            f"trainable parameters must share one dtype and device, got {sorted(map(str, kinds))}"
        )
    if not trainable[0][1].is_floating_point():
        raise ValueError(
            f"trainable parameters must be floating point, got {trainable[0][1].dtype}"
        )
    frozen = tuple(n for n, p in model.named_parameters() if not p.requires_grad)
    constants = {n: p.detach() for n, p in model.named_parameters() if not p.requires_grad}
    buffers = {n: b.detach().clone() for n, b in model.named_buffers()}
    constants.update(buffers)
    flags = _mode_flags(model, train)
    if flags.any:
        advice = ("pass train=False unless that is meant" if flags.train else
                  "track running statistics, or accept a Hessian that depends on the batch")
        warnings.warn(
            f"model evaluated with {mode_description(flags)}: the loss is random or couples "
            f"the examples of a batch, so its Hessian depends on the draw; {advice}",
            TrainModeWarning,
            stacklevel=2,
        )
    theta0 = torch.cat([p.detach().reshape(-1) for _, p in trainable]).clone()
    return FlatLoss(
        model,
        loss_fn,
        train=train,
        names=tuple(n for n, _ in trainable),
        shapes=tuple(p.shape for _, p in trainable),
        theta0=theta0,
        constants=constants,
        frozen_names=frozen,
        flags=flags,
        buffer_names=tuple(buffers),
        output=output,
        reduction=reduction,
    )
