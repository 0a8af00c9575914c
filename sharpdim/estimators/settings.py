"""The settings of one :func:`sharpdim.estimate_sharpness` call, validated before any work.

``settings → plan → runner``: this module turns the call's arguments into checked values —
the update map whose steps are examined (:func:`resolve_optimizer`), the method's choices and
numbers (:func:`checked_settings`), the sizes that depend on the model (:func:`sized_settings`)
— and the notes an estimate records about them (:func:`call_notes`). Nothing here evaluates
the loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sharpdim import _validate
from sharpdim.curvature.functional import FlatLoss, mode_description
from sharpdim.curvature.slq import DEFAULT_REORTHOGONALIZATION
from sharpdim.curvature.update_maps import UpdateMap, make_update_map
from sharpdim.estimators.density import DEFAULT_EPSILON, DEFAULT_SMOOTHING
from sharpdim.estimators.horizon import check_horizon
from sharpdim.estimators.options import (
    EstimateOptions,
    torch_optimizer_settings,
    update_map_settings,
)
from sharpdim.vocabulary import (
    AGGREGATES,
    EPSILON_FORMS,
    JACOBIANS,
    METHODS,
    OPTIMIZERS,
    REORTHOGONALIZATIONS,
    SMOOTHINGS,
)

__all__ = ["Optimizer", "resolve_optimizer", "checked_options", "checked_settings",
           "sized_settings", "call_notes", "DEFAULT_BATCHES", "DEFAULT_STEPS",
           "DEFAULT_QUANTILES"]

DEFAULT_BATCHES = {"exact": 20, "slq": 100, "kde": 100, "ps": 100}
DEFAULT_STEPS = 100  # the paper's m (capped at the operator size)
DEFAULT_QUANTILES = 1000  # M for the pseudo-spectrum and the sup of densities (capped at S)


@dataclass(frozen=True)
class Optimizer:
    """The optimizer whose steps are examined: its update map, canonical name (or a user's
    map's class name), ``lr`` (``None`` for a user's map without one), momentum and weight
    decay, and the state to take Jacobians at (a torch optimizer, when one was passed)."""

    update: UpdateMap
    kind: str
    lr: float | None
    momentum: float
    weight_decay: float
    state: object


def _from_torch(opt: torch.optim.Optimizer, model: torch.nn.Module) -> UpdateMap:
    held = torch_optimizer_settings(opt, [p for p in model.parameters() if p.requires_grad])
    return make_update_map(held["optimizer"], lr=held["lr"], momentum=held["momentum"],
                           weight_decay=held["weight_decay"],
                           betas=held.get("betas", (0.9, 0.999)), eps=held.get("adam_eps", 1e-8))


def _from_name(name, lr) -> UpdateMap:
    name = _validate.choice("optimizer", name, OPTIMIZERS)
    if lr is None:
        raise ValueError("lr must be given (a finite number > 0), or an update map as "
                         "optimizer, got None")
    return make_update_map(name, lr=_validate.real("lr", lr, minimum=0, open_min=True))


def _check_state_optimizer(state: torch.optim.Optimizer, held: dict) -> None:
    """A torch optimizer passed only as ``optimizer_state`` must agree with the optimizer
    examined: its own hyperparameters are never silently replaced."""
    theirs = torch_optimizer_settings(state)
    differ = {k: (held.get(k), v) for k, v in theirs.items() if held.get(k) != v}
    if differ:
        said = ", ".join(f"{k}={a!r} (the optimizer's: {b!r})" for k, (a, b) in differ.items())
        raise ValueError(f"optimizer_state must be an optimizer whose settings match the "
                         f"keywords, got {said}; pass it as optimizer= to use its own settings")


def resolve_optimizer(optimizer, lr, model: torch.nn.Module, jacobian: str,
                      optimizer_state) -> Optimizer:
    """One channel per setting: a name takes ``lr``; a torch optimizer or an update map
    carries its own (an ``lr`` keyword that disagrees is an error)."""
    if isinstance(optimizer, torch.optim.Optimizer):
        if optimizer_state is None and jacobian == "update":
            optimizer_state = optimizer
        update, source = _from_torch(optimizer, model), "the torch optimizer"
    elif isinstance(optimizer, str):
        update, source = _from_name(optimizer, lr), None
    else:
        update, source = optimizer, "the update map"
    held = update_map_settings(update)
    if source is not None and lr is not None and lr != held["lr"]:
        raise ValueError(f"lr is given twice with different values: {lr!r} as a keyword and "
                         f"{held['lr']!r} in {source}")
    if source != "the torch optimizer" and isinstance(optimizer_state, torch.optim.Optimizer):
        _check_state_optimizer(optimizer_state, held)
    if held["lr"] is not None:
        held["lr"] = _validate.real("lr", held["lr"], minimum=0, open_min=True)
    return Optimizer(update=update, kind=held["optimizer"], lr=held["lr"],
                     momentum=held["momentum"], weight_decay=held["weight_decay"],
                     state=optimizer_state)


def checked_options(options) -> EstimateOptions:
    """``options`` (``None``: the defaults) as an :class:`EstimateOptions`."""
    if options is None:
        return EstimateOptions()
    if not isinstance(options, EstimateOptions):
        raise _validate.ArgumentTypeError(
            f"options must be an EstimateOptions, got {type(options).__name__}")
    return options


def _density_only(method: str, opts: EstimateOptions) -> dict:
    """``epsilon``, ``smoothing`` and ``reorthogonalization`` with their method defaults."""
    reorth = opts.reorthogonalization
    if reorth is not None:
        reorth = _validate.choice("reorthogonalization", reorth, REORTHOGONALIZATIONS)
        if method == "exact":
            raise ValueError("reorthogonalization is only used by the density methods "
                             f"('slq', 'kde', 'ps'), got {reorth!r} with method='exact'")
    elif method != "exact":
        reorth = DEFAULT_REORTHOGONALIZATION
    eps = opts.epsilon
    if eps is not None:
        eps = _validate.non_negative("epsilon", eps)
    eps = (0.0 if method == "exact" else DEFAULT_EPSILON) if eps is None else eps
    if method != "exact" and eps == 0:
        raise ValueError("epsilon must be > 0 for density methods (a Ritz value with σ = 0 "
                         "would give ln 0), got 0")
    smoothing = opts.smoothing
    if smoothing is not None:
        smoothing = _validate.choice("smoothing", smoothing, SMOOTHINGS)
    if method in ("exact", "slq"):
        if smoothing is not None:
            raise ValueError(f"smoothing is only used by method='kde' or 'ps', got "
                             f"smoothing={smoothing!r} with method={method!r}")
    else:
        smoothing = DEFAULT_SMOOTHING[method] if smoothing is None else smoothing
    return dict(epsilon=eps, smoothing=smoothing, reorthogonalization=reorth)


def checked_settings(*, method, aggregate, jacobian, opt: Optimizer, opts: EstimateOptions,
                     batch_size, n_batches, dry_run) -> dict:
    """The method's choices and numbers, each validated and defaulted."""
    method = _validate.choice("method", method, METHODS)
    aggregate = _validate.choice("aggregate", aggregate, AGGREGATES)
    jacobian = _validate.choice("jacobian", jacobian, JACOBIANS)
    if jacobian == "gd" and opt.lr is None:
        raise ValueError(f"jacobian='gd' needs the step size: optimizer must have an lr "
                         f"attribute, got a {opt.kind} without one")
    epsilon_form = _validate.choice("epsilon_form", opts.epsilon_form, EPSILON_FORMS)
    horizon = check_horizon(opts.horizon, method=method, jacobian=jacobian,
                            plain_sgd=opt.kind == "sgd")
    if batch_size is None:
        raise ValueError("batch_size must be an int >= 1, got None")
    if opts.dtype not in (torch.float32, torch.float64):  # no half kernels in the eigensolvers
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {opts.dtype!r}")
    _validate.flag("dry_run", dry_run)
    if dry_run and horizon > 1:
        raise ValueError(f"dry_run plans one-step estimates, got horizon={horizon}")
    bandwidth = None if opts.bandwidth is None else _validate.non_negative("bandwidth",
                                                                           opts.bandwidth)
    return dict(
        method=method, aggregate=aggregate, jacobian=jacobian, epsilon_form=epsilon_form,
        horizon=horizon, batch_size=_validate.integer("batch_size", batch_size, minimum=1),
        n_batches=DEFAULT_BATCHES[method] if n_batches is None
        else _validate.integer("n_batches", n_batches, minimum=1),
        n_steps=None if opts.n_steps is None else _validate.integer("n_steps", opts.n_steps,
                                                                    minimum=1),
        n_quantiles=None if opts.n_quantiles is None
        else _validate.integer("n_quantiles", opts.n_quantiles, minimum=1),
        n_bins=_validate.integer("n_bins", opts.n_bins, minimum=1), bandwidth=bandwidth,
        **_density_only(method, opts),
    )


def sized_settings(checked: dict, size: int) -> dict:
    """``n_steps`` and ``n_quantiles`` capped at the operator size ``S`` (``None`` where the
    method does not use them)."""
    method, n_steps, n_quantiles = checked["method"], checked["n_steps"], checked["n_quantiles"]
    if method != "exact":
        n_steps = min(DEFAULT_STEPS, size) if n_steps is None else n_steps
        if n_steps > size:
            raise ValueError(f"n_steps must be <= the operator size {size}, got {n_steps}")
    else:
        n_steps = None
    if method == "ps":
        n_quantiles = min(DEFAULT_QUANTILES, size) if n_quantiles is None else n_quantiles
    else:
        n_quantiles = None
    return dict(n_steps=n_steps, n_quantiles=n_quantiles)


def call_notes(f: FlatLoss, opt: Optimizer, checked: dict, dtype: torch.dtype) -> list[str]:
    """What the estimate records about its own setting: approximations, defaults, flags."""
    notes = []
    if checked["jacobian"] == "gd" and opt.kind != "sgd":
        notes.append(f"jacobian='gd' applies ln|1 - lr·(α + weight_decay)| to the loss Hessian "
                     f"for a {opt.kind} run: the paper's approximation; jacobian='update' gives "
                     "the true step Jacobian")
    if checked["method"] != "exact" and checked["aggregate"] == "sup":
        notes.append("aggregate='sup' over one point is the mean over minibatches (the sup "
                     "over a single point is that point)")
    if f.flags.any:
        notes.append(f"{mode_description(f.flags)}: the loss is random or batch-coupled")
    if f.dtype != dtype:
        notes.append(f"the model's parameters are {str(f.dtype).removeprefix('torch.')}; its "
                     f"curvature was computed in {str(dtype).removeprefix('torch.')} (the "
                     "dtype argument; the model itself is unchanged)")
    if f.frozen_names:
        notes.append(f"{len(f.frozen_names)} frozen parameter(s) held fixed, not in θ: "
                     f"{list(f.frozen_names)[:8]}{' …' if len(f.frozen_names) > 8 else ''}")
    return notes
