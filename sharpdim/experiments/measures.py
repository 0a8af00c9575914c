"""The measures taken on a trained network, as a list of named groups.

Each :class:`MeasureGroup` names the values it produces (``outputs``), says when it does
not apply (``skip``: a reason, or ``None``) and computes them (``compute``). A group whose
backend is missing or raises is recorded as an ``error`` outcome for each of its outputs,
with the message; the sweep never stops because of a measure.

Groups (all randomness from the run's measure seed; the estimators draw the same
minibatches for every method given a seed):

* ``performance`` — train/test loss and accuracy, ``gen_gap = |acc_train − acc_test|``,
  ``loss_gap = |loss_train − loss_test|`` (PAPER_NOTES §6 targets). Always taken.
* ``sd_exact`` — exact SD and ``λ_1`` with ``ln|1 − ηα|`` of minibatch Hessians, mean over
  minibatches (the paper's practice); keeps the ``λ_k`` profile. Only up to
  ``exact_max_params`` parameters.
* ``sd_sup`` — the same with the definition's sup over the last iterates before the mean.
* ``sd_slq``, ``sd_kde``, ``sd_ps`` — the density estimators (any size).
* ``sd_update`` — SD with the optimizer's true step Jacobian (heavy ball ``2N``, Adam ``3N``,
  or SGD with weight decay); exact up to the threshold (on the state size), SLQ above.
* ``hessian`` — classical sharpness of the training loss (all examples, or a fixed random
  subset of ``n_examples``): top Hessian eigenvalue and trace; exact eigendecomposition up
  to the threshold (spectrum kept), Lanczos and Hutchinson above (``method`` forces one).
* ``topology`` — PH dimension and α-weighted lifetime sums of the last iterates, with the
  Euclidean metric and the data-dependent loss metric.
"""

from __future__ import annotations

import dataclasses
import math
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from sharpdim.experiments.data import Dataset
from sharpdim.experiments.topology import lifetime_sum, loss_distance_matrix, ph_dimension
from sharpdim.vocabulary import MeasureStatus

__all__ = [
    "MeasureSettings",
    "MeasureContext",
    "GroupValues",
    "MeasureGroup",
    "MeasureOutcome",
    "GROUPS",
    "group_names",
    "output_names",
    "compute_measures",
]


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


def _estimate(ctx: MeasureContext, *, method: str, jacobian: str, options: Mapping[str, Any],
              **extra: Any):
    from sharpdim.estimators import estimate_sharpness

    optimizer, momentum = _estimator_optimizer(ctx)
    x, y = ctx.data.x_train, ctx.data.y_train
    return estimate_sharpness(
        ctx.model, ctx.loss_fn, (x, y), lr=ctx.lr, batch_size=ctx.batch_size, method=method,
        optimizer=optimizer, momentum=momentum, weight_decay=ctx.weight_decay,
        betas=ctx.betas, jacobian=jacobian, seed=ctx.seed, progress=ctx.progress,
        **{**dict(options), **extra},
    )


def _too_big(ctx: MeasureContext, size: int | None = None) -> str | None:
    size = ctx.n_parameters if size is None else size
    limit = ctx.settings.exact_max_params
    if size > limit:
        return f"{size} > exact_max_params = {limit}: exact spectra not computed"
    return None


def _performance(ctx: MeasureContext) -> GroupValues:
    from sharpdim.experiments.training import evaluate

    d = ctx.data
    tr = evaluate(ctx.model, d.x_train, d.y_train, ctx.loss_fn)
    te = evaluate(ctx.model, d.x_test, d.y_test, ctx.loss_fn)
    return GroupValues({
        "train_loss": tr.loss, "train_acc": tr.accuracy,
        "test_loss": te.loss, "test_acc": te.accuracy,
        "gen_gap": abs(tr.accuracy - te.accuracy), "loss_gap": abs(tr.loss - te.loss),
    }, details={"n_train": d.n_train, "n_test": d.n_test})


def _sd_exact(ctx: MeasureContext) -> GroupValues:
    est = _estimate(ctx, method="exact", jacobian="gd", options=ctx.settings.exact)
    return GroupValues({"sd_exact": est.dimension, "lambda_1": est.lambda_1},
                       arrays={"rds_sharpness": np.asarray(est.sharpness)},
                       details={"diagnostics": jsonable(est.diagnostics)})


def _sup_points(ctx: MeasureContext) -> list[torch.Tensor]:
    k = int(ctx.settings.sup.get("n_points", 5))
    traj = ctx.trajectory
    rows = np.unique(np.round(np.linspace(0, traj.shape[0] - 1, k)).astype(int))
    dtype = next(ctx.model.parameters()).dtype
    return [torch.as_tensor(traj[r]).to(dtype) for r in rows]


def _skip_sup(ctx: MeasureContext) -> str | None:
    if ctx.trajectory is None or ctx.trajectory.shape[0] < 2:
        return "no trajectory iterates kept (measures.topology.iterates = 0)"
    return _too_big(ctx)


def _sd_sup(ctx: MeasureContext) -> GroupValues:
    options = {k: v for k, v in ctx.settings.sup.items() if k != "n_points"}
    points = _sup_points(ctx)
    est = _estimate(ctx, method="exact", jacobian="gd", options=options, aggregate="sup",
                    points=points)
    return GroupValues({"sd_sup": est.dimension, "lambda_1_sup": est.lambda_1},
                       arrays={"rds_sharpness_sup": np.asarray(est.sharpness)},
                       details={"diagnostics": jsonable(est.diagnostics),
                                "n_points": len(points)})


def _density(method: str) -> Callable[[MeasureContext], GroupValues]:
    def compute(ctx: MeasureContext) -> GroupValues:
        est = _estimate(ctx, method=method, jacobian="gd", options=ctx.settings.density)
        values: dict[str, float | None] = {f"sd_{method}": est.dimension}
        arrays = {}
        if method == "slq":
            values["lambda_1_slq"] = est.lambda_1
            cm = est.curvature_measure
            if cm is not None:
                arrays = {"slq_nodes": np.asarray(cm.nodes), "slq_weights": np.asarray(cm.weights)}
        return GroupValues(values, arrays=arrays,
                           details={"diagnostics": jsonable(est.diagnostics)})
    return compute


def _skip_update(ctx: MeasureContext) -> str | None:
    if ctx.optimizer == "sgd":
        return ("plain SGD: the update Jacobian I − η(H + κI) is the GD Jacobian (sd_exact, "
                "which includes the weight decay κ)")
    return None


def _state_size(ctx: MeasureContext) -> int:
    return ctx.n_parameters * {"sgd": 1, "momentum": 2, "adam": 3, "adamw": 3}[ctx.optimizer]


def _sd_update(ctx: MeasureContext) -> GroupValues:
    options = dict(ctx.settings.update)
    method = options.pop("method", None)
    if method is None:
        method = "exact" if _too_big(ctx, _state_size(ctx)) is None else "slq"
    est = _estimate(ctx, method=method, jacobian="update", options=options,
                    optimizer_state=ctx.torch_optimizer)
    arrays = {} if est.sharpness is None else {"rds_sharpness_update": np.asarray(est.sharpness)}
    return GroupValues({"sd_update": est.dimension, "lambda_1_update": est.lambda_1},
                       arrays=arrays,
                       details={"method": method, "diagnostics": jsonable(est.diagnostics)})


def _hessian(ctx: MeasureContext) -> GroupValues:
    from sharpdim.curvature import (
        exact_hessian_eigenvalues,
        extreme_eigenvalues,
        flat_loss,
        hessian_operator,
        hutchinson_trace,
    )

    opts = dict(ctx.settings.hessian)
    f = flat_loss(ctx.model, ctx.loss_fn)
    x, y = ctx.data.x_train, ctx.data.y_train
    n_examples = min(int(opts.get("n_examples", ctx.data.n_train)), ctx.data.n_train)
    if n_examples < ctx.data.n_train:  # a fixed random subset, the same at every checkpoint
        rows = np.sort(np.random.default_rng(ctx.seed).choice(ctx.data.n_train, n_examples,
                                                              replace=False))
        x, y = x[torch.as_tensor(rows)], y[torch.as_tensor(rows)]
    method = opts.get("method", "auto")
    if method == "auto":
        method = "exact" if _too_big(ctx) is None else "lanczos"
    t0 = time.perf_counter()
    if method == "exact":
        alpha = exact_hessian_eigenvalues(f, f.theta0, x, y)
        return GroupValues(
            {"top_eigenvalue": float(alpha[-1]), "trace": float(alpha.sum())},
            arrays={"hessian_eigenvalues": alpha},
            details={"method": "exact eigendecomposition of the training-loss Hessian (float64)",
                     "n_examples": n_examples, "seed": ctx.seed,
                     "seconds": time.perf_counter() - t0})
    op = hessian_operator(f, f.theta0, x, y, dtype=torch.float64)
    top = extreme_eigenvalues(op, k=1, which="largest", n_steps=opts.get("n_steps"), seed=ctx.seed)
    n_samples = int(opts.get("trace_samples", 64))
    tr = hutchinson_trace(op, n_samples=n_samples, seed=ctx.seed)
    return GroupValues(
        {"top_eigenvalue": float(top.top[0]), "trace": tr.value},
        details={"method": "Lanczos (top) and Hutchinson (trace) on the training-loss Hessian "
                 "(float64)", "n_examples": n_examples, "lanczos": jsonable(top),
                 "trace_stderr": tr.stderr, "trace_samples": n_samples, "seed": ctx.seed,
                 "seconds": time.perf_counter() - t0})


def _skip_topology(ctx: MeasureContext) -> str | None:
    if ctx.trajectory is None or ctx.trajectory.shape[0] < 20:
        n = 0 if ctx.trajectory is None else ctx.trajectory.shape[0]
        return f"needs at least 20 kept iterates, got {n} (measures.topology.iterates)"
    return None


@torch.no_grad()
def _per_example_losses(ctx: MeasureContext, rows: np.ndarray) -> np.ndarray:
    from torch.func import functional_call

    names = [n for n, p in ctx.model.named_parameters() if p.requires_grad]
    shapes = [p.shape for n, p in ctx.model.named_parameters() if p.requires_grad]
    sizes = [math.prod(s) for s in shapes]
    x, y = ctx.data.x_train[rows], ctx.data.y_train[rows]
    dtype = next(ctx.model.parameters()).dtype
    out = np.empty((ctx.trajectory.shape[0], rows.size))
    was = ctx.model.training
    ctx.model.eval()
    try:
        for i, w in enumerate(ctx.trajectory):
            blocks = torch.split(torch.as_tensor(w).to(dtype), sizes)
            params = {n: b.view(s) for n, b, s in zip(names, blocks, shapes, strict=True)}
            logits = functional_call(ctx.model, params, (x,))
            out[i] = torch.nn.functional.cross_entropy(logits, y, reduction="none").double().numpy()
    finally:
        ctx.model.train(was)
    return out


def _topology(ctx: MeasureContext) -> GroupValues:
    opts = dict(ctx.settings.topology)
    alpha = float(opts.get("alpha", 1.0))
    n_sizes = int(opts.get("n_sizes", 8))
    n_loss = min(int(opts.get("loss_examples", 1000)), ctx.data.n_train)
    rng = np.random.default_rng(ctx.seed)
    rows = np.sort(rng.choice(ctx.data.n_train, size=n_loss, replace=False))
    traj = ctx.trajectory.astype(np.float64)
    D_loss = loss_distance_matrix(_per_example_losses(ctx, rows))
    values: dict[str, float | None] = {
        "e_alpha_euclidean": lifetime_sum(traj, alpha=alpha),
        "e_alpha_loss": lifetime_sum(distances=D_loss, alpha=alpha)}
    details: dict[str, Any] = {"alpha": alpha, "n_iterates": int(traj.shape[0]),
                               "loss_examples": n_loss, "seed": ctx.seed}
    errors: dict[str, str] = {}
    for name, kwargs in (("euclidean", {"points": traj}),
                         ("loss", {"distances": D_loss, "metric": "loss"})):
        try:  # a PH fit can fail (e.g. iterates that all coincide) while E_α is still defined
            fit = ph_dimension(alpha=alpha, n_sizes=n_sizes, seed=ctx.seed, **kwargs)
        except ValueError as exc:
            values[f"ph_dim_{name}"] = None
            errors[f"ph_dim_{name}"] = f"ValueError: {exc}"
            continue
        values[f"ph_dim_{name}"] = fit.dimension
        details[f"{name}_fit"] = jsonable(fit)
    return GroupValues(values, details=details, errors=errors)


GROUPS: dict[str, MeasureGroup] = {g.name: g for g in (
    MeasureGroup("performance", ("train_loss", "train_acc", "test_loss", "test_acc", "gen_gap",
                                 "loss_gap"), _performance,
                 description="accuracy and loss on train and test, and their gaps"),
    MeasureGroup("sd_exact", ("sd_exact", "lambda_1"), _sd_exact, _too_big,
                 "exact SD and λ_1 (ln|1 − ηα| of minibatch Hessians, mean over minibatches)"),
    MeasureGroup("sd_sup", ("sd_sup", "lambda_1_sup"), _sd_sup, _skip_sup,
                 "exact SD with the sup over the last iterates before the mean (definition)"),
    MeasureGroup("sd_slq", ("sd_slq", "lambda_1_slq"), _density("slq"),
                 description="SD-SLQ (push-forward of the SLQ spectral measure)"),
    MeasureGroup("sd_kde", ("sd_kde",), _density("kde"),
                 description="SD-KDE (Gaussian-smoothed density of ln σ)"),
    MeasureGroup("sd_ps", ("sd_ps",), _density("ps"),
                 description="SD-PS (pseudo-spectrum of equal-mass quantiles)"),
    MeasureGroup("sd_update", ("sd_update", "lambda_1_update"), _sd_update, _skip_update,
                 "SD with the optimizer's true one-step Jacobian"),
    MeasureGroup("hessian", ("top_eigenvalue", "trace"), _hessian,
                 description="top eigenvalue and trace of the full training-set Hessian"),
    MeasureGroup("topology", ("ph_dim_euclidean", "ph_dim_loss", "e_alpha_euclidean",
                              "e_alpha_loss"), _topology, _skip_topology,
                 "PH dimension and α-weighted MST lifetime sums of the last iterates"),
)}


def group_names() -> list[str]:
    return list(GROUPS)


def output_names(groups: Sequence[str]) -> list[str]:
    """The measure names produced by ``groups`` (in order)."""
    return [o for g in groups for o in GROUPS[g].outputs]


def _outcomes(group: MeasureGroup, status: str, values: Mapping[str, Any], error: str | None,
              seconds: float, details: Mapping[str, Any],
              errors: Mapping[str, str] | None = None) -> list[MeasureOutcome]:
    out = []
    for name in group.outputs:
        v = values.get(name)
        v = None if v is None else float(v)
        st = status
        if st == "ok" and errors and name in errors:
            st, err = "error", errors[name]
        elif st == "ok" and (v is None or math.isnan(v)):
            st, err = "error", f"{group.name} returned no value for {name} ({v})"
        else:
            err = error
        out.append(MeasureOutcome(name, group.name, st, v if st == "ok" else None, err,
                                  seconds, details))
    return out


def compute_measures(
    ctx: MeasureContext, groups: Sequence[str]
) -> tuple[list[MeasureOutcome], dict[str, np.ndarray]]:
    """Run ``groups`` (``performance`` first, always) on ``ctx``; never raises for a failing
    group: its outputs become ``error`` outcomes carrying the exception's message."""
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        raise ValueError(f"unknown measure group(s) {unknown}; known: {group_names()}")
    order = ["performance"] + [g for g in groups if g != "performance"]
    outcomes: list[MeasureOutcome] = []
    arrays: dict[str, np.ndarray] = {}
    for name in order:
        group = GROUPS[name]
        t0 = time.perf_counter()
        try:
            reason = group.skip(ctx)
            if reason is not None:
                outcomes += _outcomes(group, "skipped", {}, reason, 0.0, {})
                continue
            result = group.compute(ctx)
        except Exception as exc:  # a failing backend is an outcome, not a crash
            message = f"{type(exc).__name__}: {exc}"
            tb = traceback.format_exc(limit=6)
            outcomes += _outcomes(group, "error", {}, message, time.perf_counter() - t0,
                                  {"traceback": tb})
            continue
        outcomes += _outcomes(group, "ok", result.values, None, time.perf_counter() - t0,
                              result.details, result.errors)
        arrays.update({k: np.asarray(v, dtype=np.float64) for k, v in result.arrays.items()})
    return outcomes, arrays
