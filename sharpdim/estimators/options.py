"""How :func:`sharpdim.estimate_sharpness` estimates, as one small frozen value.

The optimizer whose steps are examined is a ``torch.optim`` optimizer (its hyperparameters
read by :func:`torch_optimizer_settings`), an update map (:mod:`sharpdim.curvature.update_maps`,
the analogue of optax's ``GradientTransformation``: ``make_update_map("momentum", lr=0.1,
momentum=0.9)``) or its name plus hyperparameters; *how* the sharpness is estimated — sample
sizes, ``ε`` and its form, kernel smoothing, precision — is an :class:`EstimateOptions`. Both
can be passed whole (``estimate_sharpness(..., optimizer=update_map, options=opts)``) or as the
documented keywords; giving one setting both ways with different values is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from sharpdim.curvature.update_maps import AdamUpdate, HeavyBallUpdate, SGDUpdate

__all__ = ["EstimateOptions", "merge_options", "torch_optimizer_settings",
           "update_map_settings"]


@dataclass(frozen=True)
class EstimateOptions:
    """Numerical settings of an estimate (the keywords of the same names of
    :func:`sharpdim.estimate_sharpness`; ``None`` means the documented default)."""

    n_batches: int | None = None
    n_steps: int | None = None
    epsilon: float | None = None
    epsilon_form: str = "clamp"
    smoothing: str | None = None
    bandwidth: float | None = None
    n_quantiles: int | None = None
    n_bins: int = 100
    dtype: torch.dtype = torch.float64
    progress: bool | None = None
    reorthogonalization: str | None = None


_DEFAULTS = EstimateOptions()


def merge_options(options: EstimateOptions | None, **keywords) -> dict:
    """The settings from ``options`` and the keywords: a keyword left at its default takes the
    value of ``options`` (a missing keyword counts as left at its default); one set to
    something else must agree with ``options``.

    >>> merge_options(EstimateOptions(n_batches=5), n_batches=None, n_bins=100)["n_batches"]
    5
    """
    if options is None:
        return dict(keywords)
    if not isinstance(options, EstimateOptions):
        raise TypeError(f"options must be an EstimateOptions, got {type(options).__name__}")
    out = {}
    for field in fields(EstimateOptions):
        name = field.name
        default, held = getattr(_DEFAULTS, name), getattr(options, name)
        given = keywords.get(name, default)
        if given != default and held != default and given != held:
            raise ValueError(f"{name} is given twice with different values: {given!r} as a "
                             f"keyword and {held!r} in options")
        out[name] = given if given != default else held
    return out


def update_map_settings(update) -> dict:
    """``optimizer`` (the canonical name), ``lr``, ``momentum``, ``weight_decay``, ``betas``,
    ``adam_eps`` of an update map.

    >>> update_map_settings(HeavyBallUpdate(lr=0.1, momentum=0.9))["optimizer"]
    'momentum'
    """
    if isinstance(update, SGDUpdate):
        return dict(optimizer="sgd", lr=update.lr, momentum=0.0,
                    weight_decay=update.weight_decay)
    if isinstance(update, HeavyBallUpdate):
        return dict(optimizer="momentum", lr=update.lr, momentum=update.momentum,
                    weight_decay=update.weight_decay)
    if isinstance(update, AdamUpdate):
        return dict(optimizer="adamw" if update.decoupled else "adam", lr=update.lr,
                    momentum=0.0, weight_decay=update.weight_decay, betas=update.betas,
                    adam_eps=update.eps)
    raise TypeError(f"optimizer must be a name {('sgd', 'momentum', 'adam', 'adamw')} or an "
                    f"update map (SGDUpdate, HeavyBallUpdate, AdamUpdate), got "
                    f"{type(update).__name__}")


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
