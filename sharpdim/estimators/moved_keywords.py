"""The keywords :func:`sharpdim.estimate_sharpness` took before each setting had one channel.

Until this release the numerical settings (``n_steps``, ``epsilon``, ``dtype``, ``horizon``, …)
and the optimizer's hyperparameters (``momentum``, ``weight_decay``, ``betas``, ``adam_eps``)
were keywords of the call as well as fields of :class:`EstimateOptions` or an update map. They
are accepted for one more release: :func:`accepts_moved_keywords` folds them into ``options``
and ``optimizer`` and warns (:class:`DeprecationWarning`) with the new spelling. A moved keyword
that disagrees with the value its new home holds is an error, not a silent choice.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from dataclasses import replace

import torch

from sharpdim import _validate
from sharpdim.curvature.update_maps import make_update_map
from sharpdim.estimators.options import (
    OPTION_NAMES,
    EstimateOptions,
    torch_optimizer_settings,
    update_map_settings,
)
from sharpdim.vocabulary import OPTIMIZERS

__all__ = ["OPTIMIZER_KEYWORDS", "accepts_moved_keywords", "warn_moved", "options_spelling"]

OPTIMIZER_KEYWORDS = {"momentum": 0.0, "weight_decay": 0.0, "betas": (0.9, 0.999),
                      "adam_eps": 1e-8}  # with the defaults they had


def _into_options(options, moved: dict) -> EstimateOptions:
    base = EstimateOptions() if options is None else options
    if not isinstance(base, EstimateOptions):
        raise _validate.ArgumentTypeError(
            f"options must be an EstimateOptions, got {type(base).__name__}")
    default = EstimateOptions()
    for name, value in moved.items():
        held = getattr(base, name)
        if held != getattr(default, name) and held != value:
            raise ValueError(f"{name} is given twice with different values: {value!r} as a "
                             f"keyword and {held!r} in options")
    return replace(base, **moved)


def _check_agreement(moved: dict, held: dict, source: str) -> None:
    for name, value in moved.items():
        theirs = held.get(name, OPTIMIZER_KEYWORDS[name])
        value = tuple(value) if isinstance(value, list) else value
        if value != OPTIMIZER_KEYWORDS[name] and value != theirs:
            raise ValueError(f"{name} is given twice with different values: {value!r} as a "
                             f"keyword and {theirs!r} in {source}")


def _into_optimizer(moved: dict, kwargs: dict) -> dict:
    """``optimizer=name, lr=…`` plus moved hyperparameters → ``optimizer=update map``."""
    optimizer, lr = kwargs.get("optimizer", "sgd"), kwargs.get("lr")
    if isinstance(optimizer, torch.optim.Optimizer):
        _check_agreement(moved, torch_optimizer_settings(optimizer), "the torch optimizer")
        return kwargs
    if not isinstance(optimizer, str):
        _check_agreement(moved, update_map_settings(optimizer), "the update map")
        return kwargs
    name = _validate.choice("optimizer", optimizer, OPTIMIZERS)
    for key in ("momentum", "weight_decay"):
        if key in moved:
            _validate.non_negative(key, moved[key])
    if lr is None:  # the call is refused by the core with "lr must be given"
        return kwargs
    betas = moved.get("betas", OPTIMIZER_KEYWORDS["betas"])
    update = make_update_map(name, lr=_validate.real("lr", lr, minimum=0, open_min=True),
                             momentum=moved.get("momentum", 0.0),
                             weight_decay=moved.get("weight_decay", 0.0),
                             betas=tuple(betas) if isinstance(betas, list) else betas,
                             eps=moved.get("adam_eps", 1e-8))
    return {**kwargs, "optimizer": update, "lr": None}


def _split(moved: dict) -> tuple[dict, dict]:
    return ({k: v for k, v in moved.items() if k in OPTION_NAMES},
            {k: v for k, v in moved.items() if k in OPTIMIZER_KEYWORDS})


def _new_spelling(moved: dict, kwargs: dict) -> str:
    """How the call is written now (the warning's text)."""
    to_options, to_optimizer = _split(moved)
    hints = []
    if to_optimizer:
        optimizer = kwargs.get("optimizer", "sgd")
        if isinstance(optimizer, str):
            spelled = ", ".join(f"{'eps' if k == 'adam_eps' else k}={v!r}"
                                for k, v in to_optimizer.items())
            hints.append(f"optimizer=make_update_map({optimizer!r}, lr=..., {spelled})")
        else:
            hints.append(f"nothing for {sorted(to_optimizer)}: the optimizer object holds them")
    if to_options:
        hints.append(options_spelling(to_options))
    return " and ".join(hints)


def _respelled(moved: dict, kwargs: dict) -> dict:
    to_options, to_optimizer = _split(moved)
    if to_optimizer:
        kwargs = _into_optimizer(to_optimizer, kwargs)
    if to_options:
        kwargs = {**kwargs, "options": _into_options(kwargs.get("options"), to_options)}
    return kwargs


def warn_moved(caller: str, moved: dict, spelling: str, *, stacklevel: int) -> None:
    """The one deprecation warning of a moved keyword, naming the new ``spelling``."""
    warnings.warn(f"{caller}: the keyword(s) {sorted(moved)} moved and will be removed in the "
                  f"next release; pass {spelling}", DeprecationWarning, stacklevel=stacklevel)


def options_spelling(moved: dict) -> str:
    """``options=EstimateOptions(k=v, …)`` for the moved option fields."""
    return "options=EstimateOptions(" + ", ".join(f"{k}={v!r}" for k, v in moved.items()) + ")"


def accepts_moved_keywords(fn):
    """Wrap ``fn`` (keeping its signature) so the moved keywords still work, with a warning."""
    moved_names = set(OPTION_NAMES) | set(OPTIMIZER_KEYWORDS)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        moved = {k: kwargs.pop(k) for k in tuple(kwargs) if k in moved_names}
        if moved:
            warn_moved(fn.__name__, moved, _new_spelling(moved, kwargs), stacklevel=3)
            kwargs = _respelled(moved, kwargs)
        return fn(*args, **kwargs)

    wrapper.__signature__ = inspect.signature(fn)
    return wrapper
