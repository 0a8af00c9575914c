"""The measures taken on a trained network, as a list of named groups.

Each :class:`MeasureGroup` names the values it produces (``outputs``), says when it does
not apply (``skip``: a reason, or ``None``) and computes them (``compute``). A group whose
backend is missing or raises is recorded as an ``error`` outcome for each of its outputs,
with the message; the sweep never stops because of a measure.

Groups (all randomness from the run's measure seed; the estimators draw the same
minibatches for every method given a seed):

* ``performance`` — train/test loss and accuracy, ``gen_gap = |acc_train − acc_test|``,
  ``loss_gap = |loss_train − loss_test|`` (docs/theory.md §6 targets). Always taken.
* ``sd_exact`` — exact SD and ``λ_1`` with ``ln|1 − ηα|`` of minibatch Hessians, mean over
  minibatches (the paper's practice); keeps the ``λ_k`` profile. Only up to
  ``exact_max_params`` parameters.
* ``sd_sup`` — the same with the definition's sup over the last iterates before the mean.
* ``sd_slq``, ``sd_kde``, ``sd_ps`` — the density estimators (any size).
* ``sd_update`` — SD with the optimizer's true step Jacobian (heavy ball ``2N``, Adam ``3N``,
  or SGD with weight decay); exact up to the threshold (on the state size), SLQ above.
* ``sd_modal`` — heavy ball only: the coordinate-free SD of the step's modes ``ln|z±|``
  (roots of ``z² − (1 + β − η(α + κ)) z + β``) over the SLQ measure of ``sd_slq`` (the same
  runs), mass ``2N``; also divided by the state size ``2N``
  (:mod:`sharpdim.estimators.modal`).
* ``hessian`` — classical sharpness of the training loss (all examples, or a fixed random
  subset of ``n_examples``): top Hessian eigenvalue and trace; exact eigendecomposition up
  to the threshold (spectrum kept), Lanczos and Hutchinson above (``method`` forces one;
  ``"slq"``, full-batch runs only: both from the Lanczos runs of ``sd_slq``, no extra
  products).
* ``topology`` — PH dimension and α-weighted lifetime sums of the last iterates, with the
  Euclidean metric and the data-dependent loss metric.

Protocol groups (the decisive-test protocol; option tables of the same names):

* ``norms`` — ``weight_norm``, the Euclidean norm of the parameters: the baseline a sceptic
  of grokking tries first (weight decay shrinks it while test accuracy rises).
* ``training`` — how training ended: ``steps``, ``epochs``, ``converged`` (1 / 0: train
  cross-entropy ``≤ target_loss`` or 100 % train accuracy at the end).
* ``baselines`` — the hyperparameter baselines ``lr`` (η), ``inv_batch_size`` (1/b) and
  ``lr_over_batch_size`` (η/b); the other baselines (train accuracy and loss, steps, top
  Hessian eigenvalue, trace) come from ``performance``, ``training`` and ``hessian``.
* ``standard_errors`` — test-set noise of the targets: ``gen_gap_se = √(p(1 − p)/n_test)``
  (p the test accuracy; the training accuracy of a given model is exact) and
  ``loss_gap_se = s/√n_test`` (s the sample standard deviation of per-example test losses).
* ``eos`` — edge-of-stability diagnostics: ``eta_lambda_max`` (η × top eigenvalue of the
  training-loss Hessian, all examples or ``[measures.hessian] n_examples``),
  ``eta_lambda_max_minibatch`` (η × mean top eigenvalue of minibatch Hessians at the training
  batch size), ``eos_threshold`` (2, or 2(1 + β) with heavy-ball momentum β: the linear
  stability limit of η·λ), ``negative_fraction`` (share of the training Hessian's eigenvalues
  below ``−N·eps·max|α|``: exact spectrum up to ``exact_max_params``, SLQ mass below 0
  above; ``[measures.eos] method = "exact" | "lanczos"`` forces one), and where λ₁ > 0 comes
  from: ``lambda_1_top_share`` / ``lambda_1_negative_share`` = share of minibatches whose
  largest ``ln|1 − ηα|`` is positive and attained at the top eigenvalue (``ηα_max > 2``) /
  at the bottom one (``α_min < 0``); ``lambda_1_eos`` is the mean of that largest value.
* ``sd_fixed_batch`` — SD with minibatch Hessians of one fixed size for every run
  (``[measures.fixed_batch] batch_size``), so the rank effect of b (rank ≤ b(C − 1)) can be
  told from the dynamics; exact up to ``exact_max_params``, SLQ above.
* ``bound`` — the measured inputs of Theorem 4.5 on the last iterates: ``bound_L`` (largest
  per-example gradient norm: the Lipschitz constant), ``bound_B`` (largest per-example
  training loss: the loss bound) and ``bound_B_test`` (largest per-example test loss: the
  theorem's B bounds every example, so the report uses the larger), ``worst_loss_gap``
  (largest test − train mean loss over those iterates: the measured worst-case gap),
  ``n_train``. The bound itself needs an SD and is
  evaluated by :func:`sharpdim.lab.bounds.theorem_4_5_bound`.
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

from sharpdim.dynamics.topology import lifetime_sum, loss_distance_matrix, ph_dimension
from sharpdim.lab.sweeps.data import Dataset
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
    "STATE_FACTOR",
    "state_size",
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


def _performance(ctx: MeasureContext) -> GroupValues:
    from sharpdim.lab.sweeps.training import evaluate

    d = ctx.data
    tr = evaluate(ctx.model, d.x_train, d.y_train, ctx.loss_fn)
    te = evaluate(ctx.model, d.x_test, d.y_test, ctx.loss_fn)
    return GroupValues({
        "train_loss": tr.loss, "train_acc": tr.accuracy,
        "test_loss": te.loss, "test_acc": te.accuracy,
        "gen_gap": abs(tr.accuracy - te.accuracy), "loss_gap": abs(tr.loss - te.loss),
    }, details={"n_train": d.n_train, "n_test": d.n_test})


def _skip_heldout(ctx: MeasureContext) -> str | None:
    return None if ctx.data.n_heldout else "no held-out split (task option heldout_fraction)"


def _heldout(ctx: MeasureContext) -> GroupValues:
    """The positive control's oracle: the gap estimated on the held-out part of the training
    distribution instead of the test set (absolute and signed), with its standard error."""
    from sharpdim.lab.sweeps.training import evaluate

    d = ctx.data
    tr = evaluate(ctx.model, d.x_train, d.y_train, ctx.loss_fn)
    ho = evaluate(ctx.model, d.x_heldout, d.y_heldout, ctx.loss_fn)
    return GroupValues({
        "heldout_acc": ho.accuracy, "heldout_loss": ho.loss,
        "heldout_gen_gap": abs(tr.accuracy - ho.accuracy),
        "heldout_signed_gen_gap": tr.accuracy - ho.accuracy,
        "heldout_loss_gap": abs(tr.loss - ho.loss),
        "heldout_signed_loss_gap": ho.loss - tr.loss,
        "heldout_gen_gap_se": math.sqrt(ho.accuracy * (1.0 - ho.accuracy) / d.n_heldout),
    }, details={"n_heldout": d.n_heldout, "rule": "gap on the held-out split; se "
                                                  "sqrt(p(1-p)/n_heldout)"})


def _jiang(ctx: MeasureContext) -> GroupValues:
    from sharpdim.lab.sweeps import jiang_measures as jm

    d, values, errors, details = ctx.data, {}, {}, {}
    try:
        values["path_norm"] = jm.path_norm(ctx.model, int(d.x_train[0].numel()))
    except ValueError as exc:
        errors["path_norm"] = str(exc)
    if ctx.initial_state is not None:
        values["dist_from_init"] = jm.distance_from_init(ctx.model, ctx.initial_state)
    else:
        errors["dist_from_init"] = "no initial parameters at this stage"
    values["inverse_margin"] = jm.inverse_margin(ctx.model, d.x_train, d.y_train)
    values["pacbayes_mag_flatness"], sigma = jm.pacbayes_magnitude_flatness(
        ctx.model, d.x_train, d.y_train, seed=ctx.seed)
    details.update({"sigma_prime": sigma, "flatness": jm.FLATNESS_SETTINGS,
                    "margin_percentile": 10, "seed": ctx.seed})
    return GroupValues(values, details=details, errors=errors)


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


def _density_estimate(ctx: MeasureContext, method: str):
    """The density estimate of ``method`` at this stage, computed once (``sd_modal`` reuses
    the SLQ measure of ``sd_slq``: the same Lanczos runs, no extra products)."""
    key = ("density_estimate", method)
    if key not in ctx.cache:
        ctx.cache[key] = _estimate(ctx, method=method, jacobian="gd",
                                   options=ctx.settings.density)
    return ctx.cache[key]


def _density(method: str) -> Callable[[MeasureContext], GroupValues]:
    def compute(ctx: MeasureContext) -> GroupValues:
        est = _density_estimate(ctx, method)
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


STATE_FACTOR = {"sgd": 1, "momentum": 2, "adam": 3, "adamw": 3}
"""State size of each optimizer in units of N: ``w``; ``(w, v)``; ``(w, m, v)``."""


def state_size(optimizer: str, n_parameters: int) -> int:
    """Size of the optimizer's state, on which its update Jacobian acts:
    ``STATE_FACTOR[optimizer] · N``."""
    if optimizer not in STATE_FACTOR:
        raise ValueError(f"optimizer must be one of {sorted(STATE_FACTOR)}, got {optimizer!r}")
    return STATE_FACTOR[optimizer] * int(n_parameters)


def _state_size(ctx: MeasureContext) -> int:
    return state_size(ctx.optimizer, ctx.n_parameters)


def _sd_update(ctx: MeasureContext) -> GroupValues:
    options = dict(ctx.settings.update)
    method = options.pop("method", None)
    if method is None:
        method = "exact" if _too_big(ctx, _state_size(ctx)) is None else "slq"
    est = _estimate(ctx, method=method, jacobian="update", options=options,
                    optimizer_state=ctx.torch_optimizer)
    arrays = {} if est.sharpness is None else {"rds_sharpness_update": np.asarray(est.sharpness)}
    return GroupValues({"sd_update": est.dimension, "lambda_1_update": est.lambda_1,
                        "sd_update_per_state": est.dimension / _state_size(ctx)},
                       arrays=arrays,
                       details={"method": method, "diagnostics": jsonable(est.diagnostics)})


def _skip_modal(ctx: MeasureContext) -> str | None:
    if ctx.optimizer != "momentum":
        return (f"{ctx.optimizer}: the modal SD is defined for heavy ball (for plain SGD it is "
                "the GD SD, sd_slq)")
    return None


def _sd_modal(ctx: MeasureContext) -> GroupValues:
    from sharpdim.estimators.modal import modal_dimension

    est = _density_estimate(ctx, "slq")
    diag = est.diagnostics
    d = modal_dimension(est.curvature_measure, lr=ctx.lr, momentum=ctx.momentum,
                        weight_decay=ctx.weight_decay, eps=diag.epsilon,
                        epsilon_form=diag.epsilon_form)
    return GroupValues({"sd_modal": d.dimension, "lambda_1_modal": d.lambda_1,
                        "sd_modal_per_state": d.dimension / _state_size(ctx)},
                       details={"crossing": d.crossing, "expanding_mass": d.expanding_mass,
                                "state_size": _state_size(ctx), "epsilon": diag.epsilon,
                                "epsilon_form": diag.epsilon_form,
                                "source": "the SLQ measure of sd_slq (same runs)"})


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
    if method == "slq":
        return _hessian_from_slq(ctx, n_examples, t0)
    if method == "exact":
        alpha = _full_spectrum(ctx, f, x, y, n_examples, exact_hessian_eigenvalues)
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


def _hessian_from_slq(ctx: MeasureContext, n_examples: int, t0: float) -> GroupValues:
    """Top eigenvalue and trace from the Lanczos runs of ``sd_slq`` (no extra products): the
    largest Ritz value (a lower bound of ``λ_max``; Lanczos converges to the extremes first)
    and the pooled measure's first moment, which is exactly Hutchinson's estimator with the
    runs' Rademacher probes (Gauss quadrature integrates ``α`` exactly: ``Σ ω θ = q₁ᵀHq₁ =
    vᵀHv/N``). The SLQ runs are of Hessians at the training batch size, so this is the
    training-loss Hessian only for full-batch training."""
    n = ctx.data.n_train
    if ctx.batch_size != n or n_examples != n:
        raise ValueError(
            f"measures.hessian.method = 'slq' needs full-batch training (the SLQ runs are of "
            f"Hessians at the training batch size), got batch_size={ctx.batch_size}, "
            f"n_examples={n_examples}, n_train={n}")
    cm = _density_estimate(ctx, "slq").curvature_measure
    runs = np.unique(cm.run_ids)
    per_run = np.array([len(runs) * float(cm.weights[cm.run_ids == r] @ cm.nodes[cm.run_ids == r])
                        for r in runs])
    stderr = float(per_run.std(ddof=1) / math.sqrt(per_run.size)) if per_run.size > 1 else None
    return GroupValues(
        {"top_eigenvalue": float(cm.nodes.max()), "trace": float(per_run.mean())},
        details={"method": "from the SLQ runs of sd_slq: largest Ritz value (lower bound) and "
                 "Hutchinson's trace with the runs' probes", "n_runs": int(runs.size),
                 "trace_stderr": stderr, "n_examples": n_examples, "seed": ctx.seed,
                 "seconds": time.perf_counter() - t0})


def _full_spectrum(ctx: MeasureContext, f, x, y, n_examples: int, eig) -> np.ndarray:
    """Exact training-loss Hessian spectrum, computed once per context (``hessian`` and
    ``eos`` share it)."""
    key = ("full_hessian_spectrum", n_examples)
    if key not in ctx.cache:
        ctx.cache[key] = eig(f, f.theta0, x, y)
    return ctx.cache[key]


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
            # the run's own loss (cross-entropy or MSE), per example: the loss-metric PH distance
            # of Andreeva et al. is between the training losses the optimizer saw
            out[i] = _per_example(ctx.loss_fn, logits, y).double().numpy()
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


# -- protocol groups ------------------------------------------------------------------------


def _norms(ctx: MeasureContext) -> GroupValues:
    with torch.no_grad():
        sq = sum(float(p.double().pow(2).sum()) for p in ctx.model.parameters()
                 if p.requires_grad)
    return GroupValues({"weight_norm": math.sqrt(sq)}, details={"norm": "Euclidean, all "
                                                                "trained parameters"})


def _skip_training(ctx: MeasureContext) -> str | None:
    return None if ctx.training is not None else "no training summary at this stage"


def _training(ctx: MeasureContext) -> GroupValues:
    t = ctx.training or {}
    converged = t.get("converged")
    return GroupValues({"steps": float(t["steps"]), "epochs": float(t["epochs"]),
                        "converged": None if converged is None else float(bool(converged))},
                       details={"stopped_by": t.get("stopped_by"),
                                "final_train_loss": t.get("final_train_loss"),
                                "final_train_acc": t.get("final_train_acc")})


def hyperparameter_baselines(lr: float, batch_size: int) -> dict[str, float]:
    """The hyperparameter baselines of a run: η, 1/b and η/b."""
    return {"lr": float(lr), "inv_batch_size": 1.0 / batch_size,
            "lr_over_batch_size": lr / batch_size}


def _baselines(ctx: MeasureContext) -> GroupValues:
    return GroupValues(hyperparameter_baselines(ctx.lr, ctx.batch_size))


def _per_example(loss_fn: Callable, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``loss_fn`` (a minibatch mean) of each example on its own."""
    from torch.func import vmap

    return vmap(lambda o, t: loss_fn(o.unsqueeze(0), t.unsqueeze(0)))(out, y)


@torch.no_grad()
def _per_example_test_losses(ctx: MeasureContext, chunk: int = 4096) -> tuple[np.ndarray, float]:
    was = ctx.model.training
    ctx.model.eval()
    try:
        losses, correct = [], 0
        x, y = ctx.data.x_test, ctx.data.y_test
        for a in range(0, int(y.shape[0]), chunk):
            out = ctx.model(x[a:a + chunk])
            losses.append(_per_example(ctx.loss_fn, out, y[a:a + chunk]).double().numpy())
            correct += int((out.argmax(dim=1) == y[a:a + chunk]).sum())
    finally:
        ctx.model.train(was)
    return np.concatenate(losses), correct / int(y.shape[0])


def _standard_errors(ctx: MeasureContext) -> GroupValues:
    losses, p = _per_example_test_losses(ctx)
    n = losses.size
    return GroupValues({"gen_gap_se": math.sqrt(p * (1.0 - p) / n),
                        "loss_gap_se": float(losses.std(ddof=1)) / math.sqrt(n) if n > 1
                        else None},
                       details={"n_test": n, "test_acc": p,
                                "rule": "sqrt(p(1-p)/n_test); sd(per-example loss)/sqrt(n_test)"})


def eos_threshold(optimizer: str, momentum: float) -> float:
    """Linear-stability limit of ``η·λ`` on a quadratic: 2 for GD/SGD, ``2(1 + β)`` for heavy
    ball with momentum β (PyTorch's form ``v' = βv + g``, ``w' = w − ηv'``). Adam has no such
    constant; 2 is returned and the diagnostic is labelled with the optimizer."""
    return 2.0 * (1.0 + momentum) if optimizer == "momentum" else 2.0


def _hessian_rows(ctx: MeasureContext, n_examples: int | None):
    x, y = ctx.data.x_train, ctx.data.y_train
    n = ctx.data.n_train if n_examples is None else min(int(n_examples), ctx.data.n_train)
    if n < ctx.data.n_train:  # the same fixed subset as the hessian group
        rows = np.sort(np.random.default_rng(ctx.seed).choice(ctx.data.n_train, n,
                                                              replace=False))
        x, y = x[torch.as_tensor(rows)], y[torch.as_tensor(rows)]
    return x, y, n


def _extremes(op, n_steps: int, seed: int):
    from sharpdim.curvature import LanczosNotConverged, extreme_eigenvalues

    try:
        return extreme_eigenvalues(op, k=1, which="both", n_steps=n_steps, seed=seed)
    except LanczosNotConverged as exc:  # Ritz values are inner bounds; recorded as such
        return exc.partial


def _eos(ctx: MeasureContext) -> GroupValues:
    from sharpdim.curvature import (
        exact_hessian_eigenvalues,
        flat_loss,
        hessian_operator,
        slq_spectral_measure,
    )

    opts = dict(ctx.settings.eos)
    n_batches = int(opts.get("n_batches", 10))
    n_steps = min(int(opts.get("n_steps", 100)), ctx.n_parameters)
    eta = ctx.lr
    f = flat_loss(ctx.model, ctx.loss_fn)
    x, y, n_ex = _hessian_rows(ctx, ctx.settings.hessian.get("n_examples"))
    details: dict[str, Any] = {"n_batches": n_batches, "n_steps": n_steps, "seed": ctx.seed,
                               "n_examples": n_ex, "optimizer": ctx.optimizer}
    method = opts.get("method", "auto")
    if method == "auto":
        method = "exact" if _too_big(ctx) is None else "lanczos"
    if method == "exact":
        alpha = _full_spectrum(ctx, f, x, y, n_ex, exact_hessian_eigenvalues)
        top, neg = float(alpha[-1]), negative_share(alpha)
        details["full_batch"] = "exact eigendecomposition (float64)"
    else:
        op = hessian_operator(f, f.theta0, x, y, dtype=torch.float64)
        ext = _extremes(op, n_steps, ctx.seed)
        top = float(ext.top[0])
        sm = slq_spectral_measure(f, f.theta0, (x, y), n_runs=int(opts.get("slq_runs", 10)),
                                  n_steps=n_steps, batch_size=n_ex, seed=ctx.seed,
                                  dtype=torch.float64)
        w = np.asarray(sm.weights, dtype=np.float64)
        neg = float(w[np.asarray(sm.nodes) < 0].sum() / w.sum())
        details["full_batch"] = ("Lanczos top eigenvalue; negative share = SLQ mass below 0 "
                                 f"({int(opts.get('slq_runs', 10))} runs × {n_steps} steps)")
        details["lanczos_converged"] = bool(ext.converged)
    rng = np.random.default_rng(ctx.seed)
    tops, bottoms, lam1, from_top, from_neg = [], [], [], 0, 0
    for i in range(n_batches):
        idx = torch.as_tensor(np.sort(rng.choice(ctx.data.n_train, ctx.batch_size,
                                                 replace=False)))
        op = hessian_operator(f, f.theta0, ctx.data.x_train[idx], ctx.data.y_train[idx],
                              dtype=torch.float64)
        e = _extremes(op, n_steps, ctx.seed + i)
        a_max, a_min = float(e.top[0]), float(e.bottom[0])
        tops.append(a_max)
        bottoms.append(a_min)
        up, down = abs(1.0 - eta * a_max), abs(1.0 - eta * a_min)
        lam1.append(math.log(max(up, down)))
        if max(up, down) > 1.0:
            if up >= down:
                from_top += 1
            else:
                from_neg += 1
    details.update({"minibatch_top": tops, "minibatch_bottom": bottoms,
                    "full_batch_top": top})
    return GroupValues({
        "eta_lambda_max": eta * top,
        "eta_lambda_max_minibatch": eta * float(np.mean(tops)),
        "eos_threshold": eos_threshold(ctx.optimizer, ctx.momentum),
        "negative_fraction": neg,
        "lambda_1_top_share": from_top / n_batches,
        "lambda_1_negative_share": from_neg / n_batches,
        "lambda_1_eos": float(np.mean(lam1)),
    }, details=details)


def negative_share(alpha: np.ndarray) -> float:
    """Share of eigenvalues below ``−N·eps·max|α|`` (float64): exactly-flat directions
    (dead units, rescaling symmetries) come out of an eigensolver as ±(rounding), and
    ``N·eps·‖H‖`` bounds that rounding (backward error of a symmetric eigensolver), so
    they are not counted as negative curvature."""
    a = np.asarray(alpha, dtype=np.float64)
    tol = a.size * np.finfo(np.float64).eps * float(np.abs(a).max(initial=0.0))
    return float(np.mean(a < -tol))


def _skip_fixed_batch(ctx: MeasureContext) -> str | None:
    b = ctx.settings.fixed_batch.get("batch_size")
    if b is None:
        return "no [measures.fixed_batch] batch_size given"
    if int(b) > ctx.data.n_train:
        return f"fixed batch size {b} > the {ctx.data.n_train} training examples"
    return None


def _sd_fixed_batch(ctx: MeasureContext) -> GroupValues:
    options = dict(ctx.settings.fixed_batch)
    b = int(options.pop("batch_size"))
    method = options.pop("method", None) or ("exact" if _too_big(ctx) is None else "slq")
    est = _estimate(dataclasses.replace(ctx, batch_size=b), method=method, jacobian="gd",
                    options=options)
    return GroupValues({"sd_fixed_batch": est.dimension, "lambda_1_fixed_batch": est.lambda_1},
                       details={"batch_size": b, "method": method,
                                "diagnostics": jsonable(est.diagnostics)})


def _per_example_grad_norms_and_losses(ctx: MeasureContext, theta: torch.Tensor, x, y,
                                       chunk: int) -> tuple[np.ndarray, np.ndarray]:
    from torch.func import functional_call, grad_and_value, vmap

    names = [n for n, p in ctx.model.named_parameters() if p.requires_grad]
    shapes = [p.shape for n, p in ctx.model.named_parameters() if p.requires_grad]
    sizes = [math.prod(s) for s in shapes]

    def one(th, xi, yi):
        params = {n: b.view(s) for n, b, s in zip(names, torch.split(th, sizes), shapes,
                                                  strict=True)}
        out = functional_call(ctx.model, params, (xi.unsqueeze(0),))
        return ctx.loss_fn(out, yi.unsqueeze(0))

    per = vmap(grad_and_value(one), in_dims=(None, 0, 0))
    norms, losses = [], []
    for a in range(0, int(y.shape[0]), chunk):
        g, v = per(theta, x[a:a + chunk], y[a:a + chunk])
        norms.append(torch.linalg.vector_norm(g.double(), dim=1).numpy())
        losses.append(v.detach().double().numpy())
    return np.concatenate(norms), np.concatenate(losses)


def _bound(ctx: MeasureContext) -> GroupValues:
    opts = dict(ctx.settings.bound)
    k = int(opts.get("n_points", 5))
    chunk = int(opts.get("chunk", 512))
    traj = ctx.trajectory
    rows = np.unique(np.round(np.linspace(0, traj.shape[0] - 1, k)).astype(int))
    dtype = next(ctx.model.parameters()).dtype
    d = ctx.data
    was = ctx.model.training
    ctx.model.eval()
    L = B = B_test = 0.0
    gaps = []
    try:
        for r in rows:
            theta = torch.as_tensor(traj[r]).to(dtype)
            g_tr, l_tr = _per_example_grad_norms_and_losses(ctx, theta, d.x_train, d.y_train,
                                                            chunk)
            _, l_te = _per_example_grad_norms_and_losses(ctx, theta, d.x_test, d.y_test, chunk)
            L = max(L, float(g_tr.max()))
            B = max(B, float(l_tr.max()))
            B_test = max(B_test, float(l_te.max()))
            gaps.append(float(l_te.mean() - l_tr.mean()))
    finally:
        ctx.model.train(was)
    # the theorem's B bounds the loss of every example: the test maximum is recorded too
    return GroupValues({"bound_L": L, "bound_B": B, "bound_B_test": B_test,
                        "worst_loss_gap": max(gaps), "n_train": float(d.n_train)},
                       details={"iterates": [int(r) for r in rows], "loss_gaps": gaps,
                                "rule": "L = max ||grad l(w, z_i)||, B = max l(w, z_i) over "
                                "training examples and the listed last iterates (bound_B_test: "
                                "over test examples); worst gap = max over them of mean test "
                                "loss - mean train loss"})


def _skip_bound(ctx: MeasureContext) -> str | None:
    if ctx.trajectory is None or ctx.trajectory.shape[0] < 1:
        return "no trajectory iterates kept (measures.topology.iterates = 0)"
    return None


GROUPS: dict[str, MeasureGroup] = {g.name: g for g in (
    MeasureGroup("performance", ("train_loss", "train_acc", "test_loss", "test_acc", "gen_gap",
                                 "loss_gap"), _performance,
                 description="accuracy and loss on train and test, and their gaps"),
    MeasureGroup("heldout", ("heldout_acc", "heldout_loss", "heldout_gen_gap",
                             "heldout_signed_gen_gap", "heldout_loss_gap",
                             "heldout_signed_loss_gap", "heldout_gen_gap_se"),
                 _heldout, _skip_heldout,
                 "the gap on a held-out 20 % of the training distribution (the protocol's "
                 "positive control)"),
    MeasureGroup("jiang", ("path_norm", "dist_from_init", "inverse_margin",
                           "pacbayes_mag_flatness"), _jiang,
                 description="Jiang et al.'s strongest measures: path norm, distance from "
                 "initialization, inverse 10th-percentile margin, magnitude-aware PAC-Bayes "
                 "flatness"),
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
    MeasureGroup("sd_update", ("sd_update", "lambda_1_update", "sd_update_per_state"),
                 _sd_update, _skip_update,
                 "SD with the optimizer's true one-step Jacobian"),
    MeasureGroup("sd_modal", ("sd_modal", "lambda_1_modal", "sd_modal_per_state"), _sd_modal,
                 _skip_modal, "coordinate-free heavy-ball SD: ln|z±| of the step's modes over "
                 "the SLQ measure of the Hessian (mass 2N)"),
    MeasureGroup("hessian", ("top_eigenvalue", "trace"), _hessian,
                 description="top eigenvalue and trace of the full training-set Hessian"),
    MeasureGroup("topology", ("ph_dim_euclidean", "ph_dim_loss", "e_alpha_euclidean",
                              "e_alpha_loss"), _topology, _skip_topology,
                 "PH dimension and α-weighted MST lifetime sums of the last iterates"),
    MeasureGroup("norms", ("weight_norm",), _norms,
                 description="Euclidean norm of the parameters (the weight-decay baseline of "
                 "grokking)"),
    MeasureGroup("training", ("steps", "epochs", "converged"), _training, _skip_training,
                 "optimizer steps, epochs and whether the stopping criterion holds at the end"),
    MeasureGroup("baselines", ("lr", "inv_batch_size", "lr_over_batch_size"), _baselines,
                 description="hyperparameter baselines η, 1/b and η/b"),
    MeasureGroup("standard_errors", ("gen_gap_se", "loss_gap_se"), _standard_errors,
                 description="test-set standard errors of the accuracy and loss gaps"),
    MeasureGroup("eos", ("eta_lambda_max", "eta_lambda_max_minibatch", "eos_threshold",
                         "negative_fraction", "lambda_1_top_share", "lambda_1_negative_share",
                         "lambda_1_eos"), _eos,
                 description="edge-of-stability diagnostics (η·λ_max against 2(1+β), negative "
                 "curvature, where λ₁ > 0 comes from)"),
    MeasureGroup("sd_fixed_batch", ("sd_fixed_batch", "lambda_1_fixed_batch"), _sd_fixed_batch,
                 _skip_fixed_batch, "SD from minibatch Hessians of one fixed size for all runs"),
    MeasureGroup("bound", ("bound_L", "bound_B", "bound_B_test", "worst_loss_gap", "n_train"),
                 _bound, _skip_bound, "measured inputs of Theorem 4.5 on the last iterates"),
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
