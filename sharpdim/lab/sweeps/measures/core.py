"""The machinery every measure group shares: the settings, the context a group reads,
what a group returns and what is recorded (:class:`MeasureOutcome`), :func:`jsonable`, and the
estimate helper (``_estimate``: ``estimate_sharpness`` with the run's optimizer as an update
map; ``_too_big``: the ``exact_max_params`` skip). The groups themselves live in the family
modules of this package, their registry in the package itself
(:mod:`sharpdim.lab.sweeps.measures`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from sharpdim.lab.sweeps.data import Dataset
from sharpdim.vocabulary import MeasureStatus

__all__ = ["MeasureSettings", "MeasureContext", "GroupValues", "MeasureGroup", "MeasureOutcome",
           "jsonable"]


@dataclass(frozen=True)
class MeasureSettings:
    """Which groups to take at the end (``final``) and at checkpoints (``checkpoint``), and
    their options (``[measures.*]`` tables of a sweep config; keyword arguments of
    ``estimate_sharpness`` for ``exact``, ``density``, ``update`` and ``sup``)."""

    final: tuple[str, ...] = ("sd_exact", "hessian")
    checkpoint: tuple[str, ...] = ()
    exact_max_params: int = 5000
    exact: Mapping[str, Any] = field(default_factory=dict)
    density: Mapping[str, Any] = field(default_factory=dict)
    update: Mapping[str, Any] = field(default_factory=dict)
    sup: Mapping[str, Any] = field(default_factory=lambda: {"n_points": 5})
    hessian: Mapping[str, Any] = field(default_factory=dict)
    topology: Mapping[str, Any] = field(default_factory=dict)
    fixed_batch: Mapping[str, Any] = field(default_factory=dict)
    eos: Mapping[str, Any] = field(default_factory=dict)
    bound: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MeasureContext:
    """Everything a measure may read: the trained model (parameters fixed), the data, the
    optimizer that trained it, the last iterates and the measure seed."""

    model: nn.Module
    loss_fn: Callable
    data: Dataset
    lr: float
    batch_size: int
    optimizer: str
    momentum: float
    weight_decay: float
    betas: tuple[float, float]
    n_parameters: int
    seed: int
    settings: MeasureSettings
    trajectory: np.ndarray | None = None
    torch_optimizer: torch.optim.Optimizer | None = None
    progress: bool = False
    training: Mapping[str, Any] | None = None
    initial_state: Mapping[str, torch.Tensor] | None = field(default=None, repr=False)
    cache: dict = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class GroupValues:
    """What a group computed: ``values`` by output name, named ``arrays`` (spectra),
    JSON-able ``details`` (seeds, costs, settings, notes) and per-output ``errors`` (an
    output that failed while its siblings did not)."""

    values: Mapping[str, float | None]
    arrays: Mapping[str, np.ndarray] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MeasureGroup:
    name: str
    outputs: tuple[str, ...]
    compute: Callable[[MeasureContext], GroupValues]
    skip: Callable[[MeasureContext], str | None] = lambda ctx: None
    description: str = ""


@dataclass(frozen=True)
class MeasureOutcome:
    """One measure at one stage: ``status`` is ``"ok"`` (``value`` set; it may be ``inf`` for
    a PH dimension with no finite fit), ``"error"`` (``error`` holds the message) or
    ``"skipped"`` (``error`` holds the reason)."""

    name: str
    group: str
    status: MeasureStatus
    value: float | None
    error: str | None
    seconds: float
    details: Mapping[str, Any]


def jsonable(x: Any) -> Any:
    """Plain JSON types from dataclasses, numpy scalars/arrays, tuples and dtypes."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {f.name: jsonable(getattr(x, f.name)) for f in dataclasses.fields(x)}
    if isinstance(x, Mapping):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist()) if x.size <= 64 else f"<array shape {x.shape}>"
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating | float):
        v = float(x)
        return v if math.isfinite(v) else str(v)
    if isinstance(x, bool | int | str) or x is None:
        return x
    return str(x)


def _estimator_optimizer(ctx: MeasureContext) -> tuple[str, float]:
    # one vocabulary: the estimator takes the sweep's names as they are
    return ctx.optimizer, ctx.momentum if ctx.optimizer in ("sgd", "momentum") else 0.0


_CALL_KEYWORDS = ("n_batches", "aggregate", "points", "optimizer_state")  # not options


def _estimate(ctx: MeasureContext, *, method: str, jacobian: str, options: Mapping[str, Any],
              **extra: Any):
    """``estimate_sharpness`` of the run's model with the run's optimizer as an update map and
    the config's measure settings split into the call's keywords and its ``EstimateOptions``."""
    from sharpdim.curvature.update_maps import make_update_map
    from sharpdim.estimators import EstimateOptions, estimate_sharpness

    optimizer, momentum = _estimator_optimizer(ctx)
    update = make_update_map(optimizer, lr=ctx.lr, momentum=momentum,
                             weight_decay=ctx.weight_decay, betas=ctx.betas)
    settings = {**dict(options), **extra}
    call = {k: settings.pop(k) for k in _CALL_KEYWORDS if k in settings}
    x, y = ctx.data.x_train, ctx.data.y_train
    return estimate_sharpness(
        ctx.model, ctx.loss_fn, (x, y), batch_size=ctx.batch_size, method=method,
        optimizer=update, jacobian=jacobian, seed=ctx.seed,
        options=EstimateOptions(progress=ctx.progress, **settings), **call,
    )


def _too_big(ctx: MeasureContext, size: int | None = None) -> str | None:
    size = ctx.n_parameters if size is None else size
    limit = ctx.settings.exact_max_params
    if size > limit:
        return f"{size} > exact_max_params = {limit}: exact spectra not computed"
    return None


def _per_example(loss_fn: Callable, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``loss_fn`` (a minibatch mean) of each example on its own."""
    from torch.func import vmap

    return vmap(lambda o, t: loss_fn(o.unsqueeze(0), t.unsqueeze(0)))(out, y)
