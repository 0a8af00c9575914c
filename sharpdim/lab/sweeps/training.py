"""Minibatch training of a task's network, with divergence as an outcome.

Every step uses exactly ``batch_size`` examples: each epoch draws a permutation of the
training set from its own generator and drops the incomplete last batch, so training is
the random dynamical system of docs/theory.md §1 (minibatch indices are the noise).
Optimizers are PyTorch's, by name:

* ``"sgd"``: ``w' = w − η(∇L_B(w) + κw)`` (``momentum`` must be 0);
* ``"momentum"``: heavy ball, PyTorch's ``SGD(momentum=β)`` without dampening;
* ``"adam"`` / ``"adamw"``: coupled / decoupled weight decay ``κ``.

A run *diverges* when a minibatch loss is non-finite or exceeds ``divergence_loss``, or a
parameter becomes non-finite; training then stops and the result says where and why —
divergence is recorded as an outcome, never an exception and never silent NaN.

Stopping (``TrainSettings.stop``):

* ``"epochs"`` — the paper's schedule: exactly ``epochs`` epochs (or until divergence);
* ``"criterion"`` — Jiang et al. (2019)'s criterion: stop at the end of the first epoch
  after which the *full training set* (eval mode) has mean cross-entropy ``≤ target_loss``
  (default 0.01) **or** 100 % accuracy; ``epochs`` (and ``max_steps``, when set) is the cap;
* ``"train_loss"`` — the loss alone: stop at the end of the first epoch after which the full
  training set has mean loss ``≤ target_loss``; 100 % accuracy does not stop a run, so every
  run that stops has fit to the same loss (Jiang et al.'s comparable runs); same caps.

In both modes ``TrainResult.converged`` says whether the criterion holds at the end
(``None`` for a diverged run), so fixed-epoch runs that did not fit are flagged too.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from sharpdim import _validate
from sharpdim.lab.sweeps.data import Dataset
from sharpdim.vocabulary import OPTIMIZERS, canonical_optimizer

__all__ = ["OPTIMIZERS", "STOP_MODES", "TrainSettings", "TrainResult", "Evaluation", "evaluate",
           "criterion_met", "train"]

# OPTIMIZERS: re-exported from the one vocabulary
STOP_MODES = ("epochs", "criterion", "train_loss")


@dataclass(frozen=True)
class TrainSettings:
    """What to train for: optimizer and its hyperparameters, epochs, and what to keep.

    ``checkpoint_epochs``: epochs after which ``on_checkpoint`` is called (0 = before the
    first step). ``trajectory``: number of last iterates (parameter vectors after each of the
    last steps) to keep for the topological measures. ``stop``: ``"epochs"`` (fixed
    schedule), ``"criterion"`` (train loss ``≤ target_loss`` or 100 % train accuracy) or
    ``"train_loss"`` (the loss alone), capped by ``epochs`` and ``max_steps``; see the module
    docstring.
    """

    lr: float
    batch_size: int
    epochs: int
    optimizer: str = "sgd"
    momentum: float = 0.0
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    trajectory: int = 0
    checkpoint_epochs: tuple[int, ...] = ()
    divergence_loss: float = 1e4
    stop: str = "epochs"
    target_loss: float = 0.01
    max_steps: int | None = None

    def __post_init__(self) -> None:
        _validate.positive("lr", self.lr)
        for name in ("batch_size", "epochs"):
            _validate.integer(name, getattr(self, name), minimum=1)
        # one vocabulary: "sgd" with momentum > 0 is heavy ball, recorded as "momentum"
        object.__setattr__(self, "optimizer", canonical_optimizer(self.optimizer, self.momentum))
        _validate.non_negative("weight_decay", self.weight_decay)
        _validate.integer("trajectory", self.trajectory, minimum=0)
        bad = [e for e in self.checkpoint_epochs if not 0 <= e <= self.epochs]
        if bad:
            raise ValueError(f"checkpoint_epochs must lie in [0, epochs={self.epochs}], got {bad}")
        _validate.positive("divergence_loss", self.divergence_loss)
        _validate.choice("stop", self.stop, STOP_MODES)
        _validate.positive("target_loss", self.target_loss)
        if self.max_steps is not None:
            _validate.integer("max_steps", self.max_steps, minimum=1)

    @property
    def torch_momentum(self) -> float:
        return self.momentum if self.optimizer == "momentum" else 0.0


@dataclass(frozen=True)
class Evaluation:
    """Mean loss and accuracy of a model on a labelled set."""

    loss: float
    accuracy: float


@dataclass(frozen=True)
class TrainResult:
    """How training ended. The model passed to :func:`train` holds the final parameters.

    ``diverged``: whether training stopped early; ``divergence``: why (``None`` otherwise);
    ``steps``: optimizer steps taken; ``epochs_completed``; ``trajectory``: the last
    iterates as a ``(k, n_params)`` float32 array (``None`` when none were kept);
    ``optimizer``: the torch optimizer (its state feeds the update-Jacobian measures);
    ``losses``: mean minibatch loss of each completed epoch; ``seconds``: wall time;
    ``converged``: the stopping criterion (full-training-set loss ``≤ target_loss`` or
    accuracy 1; the loss alone with ``stop="train_loss"``) holds at the end (``None`` when
    diverged); ``stopped_by``: ``"criterion"``, ``"train_loss"``,
    ``"epochs"``, ``"max_steps"`` or ``"divergence"``; ``final_train_loss`` /
    ``final_train_acc``: the full training set at the end (eval mode; ``None`` when diverged).
    """

    diverged: bool
    divergence: str | None
    steps: int
    epochs_completed: int
    trajectory: np.ndarray | None
    optimizer: torch.optim.Optimizer = field(repr=False)
    losses: tuple[float, ...]
    seconds: float
    converged: bool | None = None
    stopped_by: str = "epochs"
    final_train_loss: float | None = None
    final_train_acc: float | None = None


def criterion_met(loss: float, accuracy: float, target_loss: float,
                  stop: str = "criterion") -> bool:
    """Whether training has fit: mean training loss ``≤ target_loss``, or (``stop`` other than
    ``"train_loss"``, Jiang et al.'s rule) 100 % training accuracy.

    >>> [criterion_met(loss, acc, 0.01) for loss, acc in ((0.01, 0.98), (0.5, 1.0), (0.02, 0.99))]
    [True, True, False]
    >>> criterion_met(0.5, 1.0, 0.01, stop="train_loss")     # the loss alone decides
    False
    """
    return loss <= target_loss or (stop != "train_loss" and accuracy >= 1.0)


@torch.no_grad()
def evaluate(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
             loss_fn: Callable, *, chunk: int = 4096) -> Evaluation:
    """Mean loss and accuracy in eval mode (the mode is restored afterwards)."""
    was = model.training
    model.eval()
    try:
        total, correct = 0.0, 0
        for a in range(0, int(targets.shape[0]), chunk):
            out = model(inputs[a:a + chunk])
            y = targets[a:a + chunk]
            total += float(loss_fn(out, y)) * int(y.shape[0])
            correct += int((out.argmax(dim=1) == y).sum())
    finally:
        model.train(was)
    n = int(targets.shape[0])
    return Evaluation(loss=total / n, accuracy=correct / n)


def _optimizer(model: nn.Module, s: TrainSettings) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if s.optimizer in ("sgd", "momentum"):
        return torch.optim.SGD(params, lr=s.lr, momentum=s.torch_momentum,
                               weight_decay=s.weight_decay)
    cls = torch.optim.AdamW if s.optimizer == "adamw" else torch.optim.Adam
    return cls(params, lr=s.lr, betas=s.betas, weight_decay=s.weight_decay)


def _flat(model: nn.Module) -> np.ndarray:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()
                      if p.requires_grad]).to(torch.float32).cpu().numpy()


def _minibatch_divergence(value: float, limit: float, step: int, epoch: int) -> str | None:
    """Why a minibatch loss ``value`` at optimizer step ``step`` ends the run (not finite, or
    above ``limit``); ``None`` when it does not."""
    if math.isfinite(value) and value <= limit:
        return None
    why = "is not finite" if not math.isfinite(value) else f"exceeds divergence_loss = {limit:g}"
    return f"minibatch loss {value:.4g} at step {step} (epoch {epoch}) {why}"


def _has_nonfinite_parameter(model: nn.Module) -> bool:
    return not all(bool(torch.isfinite(p).all()) for p in model.parameters())


@dataclass
class _Progress:
    """The mutable state of one :func:`train` call (private to it)."""

    steps: int = 0
    completed: int = 0
    losses: list[float] = field(default_factory=list)
    divergence: str | None = None
    stopped_by: str = "epochs"


def _run_epoch(model: nn.Module, data: Dataset, opt: torch.optim.Optimizer, loss_fn: Callable,
               settings: TrainSettings, order: torch.Tensor, epoch: int, state: _Progress,
               iterates: deque[np.ndarray] | None) -> float:
    """One epoch of minibatch steps in ``order``: the sum of its minibatch losses. It stops
    early at ``settings.max_steps`` or a diverging minibatch loss, recorded in ``state``;
    ``iterates`` (``None``: none kept) receives the parameters after each step."""
    bs = settings.batch_size
    running = 0.0
    for b in range(data.n_train // bs):
        if settings.max_steps is not None and state.steps >= settings.max_steps:
            state.stopped_by = "max_steps"
            break
        idx = order[b * bs:(b + 1) * bs]
        loss = loss_fn(model(data.x_train[idx]), data.y_train[idx])
        value = float(loss.detach())
        state.divergence = _minibatch_divergence(value, settings.divergence_loss,
                                                 state.steps + 1, epoch)
        if state.divergence is not None:
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        state.steps += 1
        running += value
        if iterates is not None:
            iterates.append(_flat(model))
    return running


def _stops_at_criterion(model: nn.Module, data: Dataset, loss_fn: Callable,
                        settings: TrainSettings) -> bool:
    """Whether ``settings.stop``'s criterion holds on the full training set now (always
    ``False`` under the fixed ``"epochs"`` schedule); the model is left in train mode."""
    if settings.stop not in ("criterion", "train_loss"):
        return False
    ev = evaluate(model, data.x_train, data.y_train, loss_fn)
    model.train()
    return criterion_met(ev.loss, ev.accuracy, settings.target_loss, settings.stop)


def _result(model: nn.Module, data: Dataset, loss_fn: Callable, settings: TrainSettings,
            state: _Progress, iterates: deque[np.ndarray], opt: torch.optim.Optimizer,
            t0: float) -> TrainResult:
    """The :class:`TrainResult` of a finished loop begun at ``time.perf_counter() = t0`` (the
    final training-set evaluation is skipped for a diverged run)."""
    diverged = state.divergence is not None
    final = None if diverged else evaluate(model, data.x_train, data.y_train, loss_fn)
    return TrainResult(
        diverged=diverged,
        divergence=state.divergence,
        steps=state.steps,
        epochs_completed=state.completed,
        trajectory=np.stack(iterates) if iterates and not diverged else None,
        optimizer=opt,
        losses=tuple(state.losses),
        seconds=time.perf_counter() - t0,
        converged=None if final is None else criterion_met(final.loss, final.accuracy,
                                                           settings.target_loss, settings.stop),
        stopped_by="divergence" if diverged else state.stopped_by,
        final_train_loss=None if final is None else final.loss,
        final_train_acc=None if final is None else final.accuracy,
    )


def train(
    model: nn.Module,
    data: Dataset,
    settings: TrainSettings,
    loss_fn: Callable,
    *,
    seed: int,
    on_checkpoint: Callable[[int, int, torch.optim.Optimizer, np.ndarray | None], None]
    | None = None,
    progress: bool = False,
    desc: str = "train",
) -> TrainResult:
    """Train ``model`` in place on ``data.x_train``/``y_train``.

    ``seed`` drives the minibatch order (a ``torch.Generator``; no global state).
    ``on_checkpoint(epoch, steps, optimizer, window)`` is called at each of
    ``settings.checkpoint_epochs`` with the model holding the parameters of that moment
    (training is paused meanwhile; the callback must not change the parameters); ``window``
    is the ``(k, n_params)`` array of the last ``k ≤ settings.trajectory`` iterates up to that
    moment (``None`` when none are kept yet), for measures of the trajectory near it.
    """
    seed = _validate.integer("seed", seed, minimum=0)
    n = data.n_train
    bs = settings.batch_size
    if bs > n:
        raise ValueError(f"batch_size must be <= the training set size {n}, got {bs}")
    per_epoch = n // bs
    gen = torch.Generator().manual_seed(seed)
    opt = _optimizer(model, settings)
    checkpoints = set(settings.checkpoint_epochs)
    iterates: deque[np.ndarray] = deque(maxlen=settings.trajectory or None)
    state = _Progress()
    t0 = time.perf_counter()
    model.train()
    if 0 in checkpoints and on_checkpoint is not None:
        on_checkpoint(0, 0, opt, None)
        model.train()
    bar = tqdm(range(1, settings.epochs + 1), desc=desc, unit="epoch", leave=False,
               disable=not progress, mininterval=1.0)
    for epoch in bar:
        order = torch.randperm(n, generator=gen)
        running = _run_epoch(model, data, opt, loss_fn, settings, order, epoch, state,
                             iterates if settings.trajectory > 0 else None)
        if state.divergence is None and _has_nonfinite_parameter(model):
            state.divergence = f"non-finite parameter after epoch {epoch} (step {state.steps})"
        if state.divergence is not None or state.stopped_by == "max_steps":
            break
        state.completed = epoch
        state.losses.append(running / per_epoch)
        bar.set_postfix(loss=f"{state.losses[-1]:.4f}", refresh=False)
        if epoch in checkpoints and on_checkpoint is not None:
            on_checkpoint(epoch, state.steps, opt, np.stack(iterates) if iterates else None)
            model.train()
        if _stops_at_criterion(model, data, loss_fn, settings):
            state.stopped_by = settings.stop
            break
    bar.close()
    model.eval()
    return _result(model, data, loss_fn, settings, state, iterates, opt, t0)
