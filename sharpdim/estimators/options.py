"""How :func:`sharpdim.estimate_sharpness` estimates, as one small frozen value.

The optimizer whose steps are examined is one object: a ``torch.optim`` optimizer (its
hyperparameters read by :func:`torch_optimizer_settings`), an update map — anything meeting
the :class:`~sharpdim.curvature.update_maps.UpdateMap` protocol, the analogue of optax's
``GradientTransformation``: ``make_update_map("momentum", lr=0.1, momentum=0.9)`` — or a name
with ``lr``. *How* the sharpness is estimated — Lanczos steps, ``ε`` and its form, kernel
smoothing, the horizon, precision, how the model and data are read — is one
:class:`EstimateOptions`. Each setting has exactly one channel; ``n_batches`` and ``seed``,
which nearly every call sets, stay keywords of the call.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from sharpdim.curvature.update_maps import AdamUpdate, HeavyBallUpdate, SGDUpdate, UpdateMap
from sharpdim.vocabulary import (
    OPTIMIZERS,
    EpsilonForm,
    LossReduction,
    Reorthogonalization,
    Smoothing,
)

__all__ = ["EstimateOptions", "OPTION_NAMES", "torch_optimizer_settings",
           "update_map_settings"]


@dataclass(frozen=True)
class EstimateOptions:
    """Numerical and reading settings of an estimate; ``None`` means the documented default.

    Numerics: ``n_steps`` Lanczos steps ``m`` per minibatch (default ``min(100, S)``);
    ``epsilon`` ``ε`` and ``epsilon_form`` (``"clamp"``: ``ln max(σ, ε)``; ``"additive"``, the
    paper's: ``ln(σ + ε)``); ``smoothing`` of kde/ps (``"curvature"``, ``"log"``);
    ``bandwidth`` of the Gaussian kernel (default Silverman's robust rule); ``n_quantiles``
    ``M`` (default ``min(1000, S)``); ``n_bins`` of the paper's histogram; ``horizon`` ``k``
    of the k-step product (default 1); ``reorthogonalization`` of the density methods'
    Lanczos runs; ``dtype`` of the curvature products; ``progress`` bars (``None``: on a
    terminal only).

    Reading the model and data: ``train`` (the mode the model is evaluated in), ``output``
    (what the loss reads from the model's return value), ``loss_reduction`` (``"sum"``: the
    loss sums over the batch), ``n_examples`` (the first examples of an ``IterableDataset``),
    ``target_key`` (the targets' entry of dict batches).

    >>> EstimateOptions(n_steps=40, epsilon_form="additive").n_steps
    40
    """

    n_steps: int | None = None
    epsilon: float | None = None
    epsilon_form: EpsilonForm = "clamp"
    smoothing: Smoothing | None = None
    bandwidth: float | None = None
    n_quantiles: int | None = None
    n_bins: int = 100
    horizon: int = 1
    reorthogonalization: Reorthogonalization | None = None
    dtype: torch.dtype = torch.float64
    progress: bool | None = None
    train: bool = False
    output: object = None
    loss_reduction: LossReduction = "mean"
    n_examples: int | None = None
    target_key: str = "labels"


OPTION_NAMES = tuple(f.name for f in fields(EstimateOptions))


def update_map_settings(update) -> dict:
    """``optimizer`` (the canonical name, or the class name of a user's own map), ``lr``,
    ``momentum``, ``weight_decay`` (and ``betas``, ``adam_eps`` for Adam) of an update map:
    any object meeting the :class:`~sharpdim.curvature.update_maps.UpdateMap` protocol. A
    user's map without ``lr`` records ``lr=None``.

    >>> update_map_settings(HeavyBallUpdate(lr=0.1, momentum=0.9))["optimizer"]
    'momentum'
    """
    if isinstance(update, AdamUpdate):
        return dict(optimizer="adamw" if update.decoupled else "adam", lr=update.lr,
                    momentum=0.0, weight_decay=update.weight_decay, betas=update.betas,
                    adam_eps=update.eps)
    if not isinstance(update, UpdateMap):
        raise TypeError(f"optimizer must be a name {OPTIMIZERS}, a torch.optim optimizer or an "
                        f"update map (an object with n_blocks, block_names and step), got "
                        f"{type(update).__name__}")
    own = {SGDUpdate: "sgd", HeavyBallUpdate: "momentum"}.get(type(update))
    return dict(optimizer=own or type(update).__name__, lr=getattr(update, "lr", None),
                momentum=float(getattr(update, "momentum", 0.0)),
                weight_decay=float(getattr(update, "weight_decay", 0.0)))


def _flag(group: dict, name: str, unsupported: str, kind: str) -> None:
    if group.get(name):
        raise ValueError(f"optimizer must be a plain {kind} without {name}, got {name}="
                         f"{group[name]!r}: {unsupported}")


def torch_optimizer_settings(opt: torch.optim.Optimizer, params=None) -> dict:
    """``optimizer``, ``lr``, ``momentum``, ``weight_decay``, ``betas``, ``adam_eps`` of a
    ``torch.optim`` ``SGD`` (with or without momentum), ``Adam`` or ``AdamW``, read from its
    single param group. ``params``: the model's trainable parameters, which the optimizer
    must hold (the same tensors). Raises ``ValueError`` for several param groups and for
    options whose step map is not implemented (Nesterov, dampening, AMSGrad, maximize),
    ``TypeError`` for another optimizer class.

    >>> w = torch.nn.Parameter(torch.zeros(2))
    >>> s = torch_optimizer_settings(torch.optim.SGD([w], lr=0.1, momentum=0.9))
    >>> s["optimizer"], s["lr"], s["momentum"]
    ('momentum', 0.1, 0.9)
    """
    groups = opt.param_groups
    if len(groups) != 1:
        raise ValueError(f"optimizer must have one param group (one lr, momentum and weight "
                         f"decay for every parameter), got {len(groups)} groups")
    g = groups[0]
    if params is not None:
        held, own = {id(p) for p in g["params"]}, {id(p) for p in params}
        if held != own:
            raise ValueError(f"optimizer must optimize exactly the model's {len(own)} trainable "
                             f"parameter tensors, got {len(held)} tensors, "
                             f"{len(held & own)} of them the model's")
    lr = float(g["lr"])  # a tensor lr (capturable optimizers) is read as its value
    if isinstance(opt, torch.optim.SGD):
        for name in ("nesterov", "dampening", "maximize"):
            _flag(g, name, "the step map of plain heavy ball is implemented", "SGD")
        momentum = float(g["momentum"])
        return dict(optimizer="momentum" if momentum > 0 else "sgd", lr=lr, momentum=momentum,
                    weight_decay=float(g["weight_decay"]))
    if isinstance(opt, torch.optim.Adam | torch.optim.AdamW):
        decoupled = isinstance(opt, torch.optim.AdamW) or bool(g.get("decoupled_weight_decay"))
        kind = "adamw" if decoupled else "adam"
        for name in ("amsgrad", "maximize"):
            _flag(g, name, "the step map of plain Adam/AdamW is implemented", kind)
        return dict(optimizer=kind, lr=lr, momentum=0.0, weight_decay=float(g["weight_decay"]),
                    betas=tuple(float(b) for b in g["betas"]), adam_eps=float(g["eps"]))
    raise TypeError(f"optimizer must be torch.optim.SGD, Adam or AdamW (or a name, or an update "
                    f"map), got {type(opt).__name__}")
