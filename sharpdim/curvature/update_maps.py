"""Optimizer steps as pure maps ``state -> state`` (layer 4: torch).

An optimizer with a fixed minibatch is a deterministic map of its state; its Jacobian at a
state is the one-step Jacobian ``Dφ(1, ω, ·)`` of docs/theory.md §2. The state is one flat
tensor made of ``n_blocks`` stacked copies of the parameter length ``d`` (so
:func:`torch.func.jacfwd` and friends see a plain function of one vector):

* :class:`SGDUpdate` — state ``w`` (``d``):  ``w' = w − η (∇L(w) + κ w)``.
* :class:`HeavyBallUpdate` — state ``(w, v)`` (``2d``), PyTorch's ``SGD(momentum=β)``
  without dampening or Nesterov:  ``v' = β v + ∇L(w) + κ w``,  ``w' = w − η v'``.
  Its Jacobian ``[[I − η(H + κI), −ηβ I], [H + κI, β I]]`` does not depend on ``v``.
* :class:`AdamUpdate` — state ``(w, m, v)`` (``3d``), PyTorch's ``Adam``/``AdamW`` (no
  AMSGrad): ``g = ∇L(w) (+ κ w for Adam)``, ``m' = β₁ m + (1 − β₁) g``,
  ``v' = β₂ v + (1 − β₂) g²``, ``w' = c w − (η / b₁) m' / (√(v' / b₂) + ε)`` with
  ``b_i = 1 − β_i^t``, ``c = 1 − ηκ`` for AdamW (decoupled decay) and ``c = 1`` for Adam.
  ``t`` is the 1-based index of the step being taken: an optimizer whose state
  records ``s`` completed steps takes step ``t = s + 1`` next. The Jacobian depends on
  ``m``, ``v`` and ``t``; no default is assumed for them (see :func:`initial_state`).

``κ`` is the weight decay. ``grad_fn(w)`` is the gradient of the minibatch *mean* loss with
the minibatch held fixed; it must be differentiable by :mod:`torch.func` (e.g.
``torch.func.grad`` of a :class:`~sharpdim.curvature.functional.FlatLoss` call), since the
Jacobians in :mod:`sharpdim.curvature.update_jacobian` differentiate through it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

import torch

from sharpdim.vocabulary import OPTIMIZERS as _OPTIMIZERS
from sharpdim.vocabulary import canonical_optimizer

__all__ = [
    "GradientFn",
    "UpdateMap",
    "SGDUpdate",
    "HeavyBallUpdate",
    "AdamUpdate",
    "OPTIMIZERS",
    "make_update_map",
    "initial_state",
    "split_state",
]

GradientFn = Callable[[torch.Tensor], torch.Tensor]

# the one vocabulary (sharpdim.vocabulary): "momentum" = "sgd" with momentum > 0
OPTIMIZERS = _OPTIMIZERS


@runtime_checkable
class UpdateMap(Protocol):
    """One optimizer step with a fixed minibatch, as a pure function of a flat state.

    Any object with these three members is an update map (a protocol, not a base class):
    :func:`sharpdim.estimate_sharpness` accepts a user's own. Optional members it reads:
    ``lr`` and ``weight_decay`` (needed for ``jacobian="gd"``, ``ln|1 − η(α + κ)|``), and
    ``non_differentiable`` (below).
    """

    n_blocks: int
    block_names: tuple[str, ...]

    def step(self, state: torch.Tensor, grad_fn: GradientFn) -> torch.Tensor: ...


# An update map may also define ``non_differentiable(output) -> bool tensor (d,)``: the
# parameters where the step is not differentiable (Adam at v' = 0); Jacobians check it; and
# ``after(steps) -> UpdateMap``: the map of a later step, for a map with a step counter (Adam's
# bias corrections); the k-step products advance it. A map without it is the same every step.


def _positive(name: str, value: float) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return float(value)


def _non_negative(name: str, value: float) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return float(value)


def _unit_interval(name: str, value: float) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value < 1:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return float(value)


def _blocks(state: torch.Tensor, n_blocks: int) -> tuple[torch.Tensor, ...]:
    if state.ndim != 1 or state.numel() % n_blocks:
        raise ValueError(
            f"state must be a flat tensor of {n_blocks} equal blocks, got shape "
            f"{tuple(state.shape)}"
        )
    return tuple(state.chunk(n_blocks))


@dataclass(frozen=True)
class SGDUpdate:
    """Plain SGD: ``w' = w − η (∇L(w) + κ w)``; Jacobian ``I − η(H + κI)`` (symmetric).

    >>> sgd = SGDUpdate(lr=0.5)
    >>> w = torch.tensor([1.0, -2.0])
    >>> sgd.step(w, lambda w: 3.0 * w).tolist()   # L = 1.5|w|², so w' = (1 - 1.5) w
    [-0.5, 1.0]
    """

    lr: float
    weight_decay: float = 0.0
    n_blocks: ClassVar[int] = 1  # structural constants, not settings
    block_names: ClassVar[tuple[str, ...]] = ("w",)

    def __post_init__(self) -> None:
        _positive("lr", self.lr)
        _non_negative("weight_decay", self.weight_decay)

    def step(self, state: torch.Tensor, grad_fn: GradientFn) -> torch.Tensor:
        (w,) = _blocks(state, 1)
        return w - self.lr * (grad_fn(w) + self.weight_decay * w)


@dataclass(frozen=True)
class HeavyBallUpdate:
    """Heavy-ball momentum on ``(w, v)``: ``v' = βv + ∇L(w) + κw``, ``w' = w − ηv'``.

    Per Hessian eigen-direction with curvature ``α`` (and ``κ = 0``) the Jacobian is the 2×2
    block ``[[1 − ηα, −ηβ], [α, β]]`` with determinant ``β`` and characteristic polynomial
    ``μ² − (1 + β − ηα) μ + β``.

    >>> hb = HeavyBallUpdate(lr=0.1, momentum=0.9)
    >>> s = torch.tensor([1.0, 0.0], dtype=torch.float64)            # w = 1, v = 0
    >>> out = hb.step(s, lambda w: 2.0 * w)                          # v' = 2, w' = 1 - 0.2
    >>> [round(x, 12) for x in out.tolist()]
    [0.8, 2.0]
    """

    lr: float
    momentum: float
    weight_decay: float = 0.0
    n_blocks: ClassVar[int] = 2  # structural constants, not settings
    block_names: ClassVar[tuple[str, ...]] = ("w", "v")

    def __post_init__(self) -> None:
        _positive("lr", self.lr)
        _unit_interval("momentum", self.momentum)
        _non_negative("weight_decay", self.weight_decay)

    def step(self, state: torch.Tensor, grad_fn: GradientFn) -> torch.Tensor:
        w, v = _blocks(state, 2)
        v_new = self.momentum * v + grad_fn(w) + self.weight_decay * w
        return torch.cat([w - self.lr * v_new, v_new])


@dataclass(frozen=True)
class AdamUpdate:
    """Adam (``decoupled=False``) or AdamW (``decoupled=True``) on ``(w, m, v)``.

    ``t`` is the 1-based index of the step taken (bias corrections ``1 − β^t``).

    >>> adam = AdamUpdate(lr=0.1, t=1)
    >>> state = torch.tensor([1.0, 0.0, 0.0])          # w = 1, m = v = 0
    >>> out = adam.step(state, lambda w: 2.0 * w)      # first step: m̂ = g, v̂ = g²
    >>> round(out[0].item(), 6)                        # w − 0.1 · 2 / (2 + 1e-8)
    0.9
    """

    lr: float
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    decoupled: bool = False
    t: int = 1
    n_blocks: ClassVar[int] = 3  # structural constants, not settings
    block_names: ClassVar[tuple[str, ...]] = ("w", "m", "v")

    def __post_init__(self) -> None:
        _positive("lr", self.lr)
        if not isinstance(self.betas, tuple | list) or len(self.betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {self.betas!r}")
        for i, b in enumerate(self.betas):
            _unit_interval(f"betas[{i}]", b)
        object.__setattr__(self, "betas", (float(self.betas[0]), float(self.betas[1])))
        _positive("eps", self.eps)
        _non_negative("weight_decay", self.weight_decay)
        if not isinstance(self.t, int) or isinstance(self.t, bool) or self.t < 1:
            raise ValueError(
                f"t must be an int >= 1 (the 1-based index of the step taken; an optimizer "
                f"that has completed s steps takes step s + 1), got {self.t!r}"
            )

    def step(self, state: torch.Tensor, grad_fn: GradientFn) -> torch.Tensor:
        w, m, v = _blocks(state, 3)
        b1, b2 = self.betas
        g = grad_fn(w)
        if self.decoupled:
            decayed = w * (1.0 - self.lr * self.weight_decay)
        else:
            g = g + self.weight_decay * w
            decayed = w
        m_new = b1 * m + (1.0 - b1) * g
        v_new = b2 * v + (1.0 - b2) * g * g
        c1 = 1.0 - b1**self.t
        c2 = 1.0 - b2**self.t
        w_new = decayed - (self.lr / c1) * m_new / (torch.sqrt(v_new) / math.sqrt(c2) + self.eps)
        return torch.cat([w_new, m_new, v_new])

    def after(self, steps: int) -> AdamUpdate:
        """The map of the step ``steps`` later (``t + steps``): Adam's one piece of state that
        is not in the flat state, since the step's Jacobian has no derivative in it.

        >>> AdamUpdate(lr=0.1, t=3).after(2).t
        5
        """
        return dataclasses.replace(self, t=self.t + steps)

    def non_differentiable(self, output: torch.Tensor) -> torch.Tensor:
        """Parameters (length ``d``, bool) where the step taken to reach ``output`` has no
        Jacobian: ``v' = 0``, where ``√v'`` is not differentiable (a parameter that never
        received a gradient, e.g. a dead unit, with zero moments)."""
        return _blocks(output, 3)[2] == 0


def make_update_map(
    optimizer: str,
    *,
    lr: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    step: int = 1,
) -> SGDUpdate | HeavyBallUpdate | AdamUpdate:
    """The update map of a PyTorch optimizer by name.

    ``"sgd"`` with ``momentum = 0`` is :class:`SGDUpdate`; ``"momentum"``, or ``"sgd"`` with
    ``momentum > 0`` (the same thing: :func:`sharpdim.vocabulary.canonical_optimizer`), is heavy
    ball (PyTorch's ``SGD(momentum=β)``); ``"adam"``/``"adamw"`` are :class:`AdamUpdate` with
    coupled/decoupled weight decay (``momentum`` must then be 0: Adam's is ``betas[0]``).

    >>> type(make_update_map("sgd", lr=0.1, momentum=0.9)).__name__
    'HeavyBallUpdate'
    >>> make_update_map("momentum", lr=0.1, momentum=0.9) == make_update_map(
    ...     "sgd", lr=0.1, momentum=0.9)
    True
    """
    kind = canonical_optimizer(optimizer, momentum)
    if kind == "sgd":
        return SGDUpdate(lr=lr, weight_decay=weight_decay)
    if kind == "momentum":
        return HeavyBallUpdate(lr=lr, momentum=momentum, weight_decay=weight_decay)
    return AdamUpdate(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                      decoupled=optimizer == "adamw", t=step)


def initial_state(
    update: UpdateMap,
    theta: torch.Tensor,
    *,
    velocity: torch.Tensor | None = None,
    exp_avg: torch.Tensor | None = None,
    exp_avg_sq: torch.Tensor | None = None,
) -> torch.Tensor:
    """The flat state of ``update`` at parameters ``theta``.

    * SGD: ``theta`` itself (a velocity or moments are an error).
    * Heavy ball: ``(theta, velocity)``; ``velocity`` defaults to **0**, which is exact for
      the Jacobian (it does not depend on ``v``) and only matters for where the step lands.
    * Adam/AdamW: ``(theta, exp_avg, exp_avg_sq)``, both **required** — the Jacobian depends
      on them (at ``m = v = 0`` the step is ``η·sign(g)``-like and its Jacobian is
      ε-dominated), so no default would give a meaningful number. Take them from the
      optimizer (``torch.optim.Adam``'s ``exp_avg``/``exp_avg_sq``, flattened in parameter
      order); ``exp_avg_sq`` must be ``>= 0``.
    """
    if not isinstance(theta, torch.Tensor) or theta.ndim != 1:
        raise ValueError(f"theta must be a flat 1-D tensor, got {theta!r:.60}")

    def _block(name: str, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.shape != theta.shape:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{name} must be a tensor of shape {tuple(theta.shape)}, got {shape}")
        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"{name} must be finite, got a non-finite entry")
        return x.to(dtype=theta.dtype, device=theta.device)

    if update.n_blocks == 1:
        if velocity is not None or exp_avg is not None or exp_avg_sq is not None:
            raise ValueError("plain SGD has no velocity or moments; pass only theta")
        return theta
    if update.n_blocks == 2:
        if exp_avg is not None or exp_avg_sq is not None:
            raise ValueError("heavy ball has a velocity, not Adam moments (exp_avg, exp_avg_sq)")
        v = torch.zeros_like(theta) if velocity is None else _block("velocity", velocity)
        return torch.cat([theta, v])
    if velocity is not None:
        raise ValueError("Adam has moments exp_avg and exp_avg_sq, not a velocity")
    if exp_avg is None or exp_avg_sq is None:
        raise ValueError(
            "exp_avg and exp_avg_sq must be given for Adam/AdamW (the step's Jacobian depends "
            "on the moments; no default is assumed), got "
            f"exp_avg={'set' if exp_avg is not None else None}, "
            f"exp_avg_sq={'set' if exp_avg_sq is not None else None}"
        )
    m, v = _block("exp_avg", exp_avg), _block("exp_avg_sq", exp_avg_sq)
    if bool((v < 0).any()):
        raise ValueError(f"exp_avg_sq must be >= 0, got min {float(v.min()):.3g}")
    return torch.cat([theta, m, v])


def split_state(update: UpdateMap, state: torch.Tensor) -> dict[str, torch.Tensor]:
    """``{block name: block}`` views of a flat state (``w``; ``w, v``; ``w, m, v``)."""
    return dict(zip(update.block_names, _blocks(state, update.n_blocks), strict=True))
