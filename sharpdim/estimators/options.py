"""How :func:`sharpdim.estimate_sharpness` estimates, as one small frozen value.

The optimizer whose steps are examined is an update map (:mod:`sharpdim.curvature.update_maps`,
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

__all__ = ["EstimateOptions", "merge_options", "update_map_settings"]


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
