"""``estimate_sharpness``: the sharpness dimension of a torch model at a trained point.

One call samples ``R`` minibatches (the same ones for every method, given the seed), forms
the one-step Jacobian of the optimizer for each — ``I − ηH_B`` (``jacobian="gd"``, the
paper's practice, also used by the paper for momentum and AdamW runs) or the optimizer's true
step Jacobian (``jacobian="update"``) — and turns its log singular values into ``λ_1 ≥ … ≥
λ_S`` (exact) or a spectral density (SLQ/KDE/PS), then into the SD (docs/theory.md §2–§5).

The call is settings → plan → runner: :mod:`sharpdim.estimators.settings` checks every
argument before any work, :func:`~sharpdim.estimators.cost.plan_cost` plans a large call, and
the exact, density and horizon runners estimate.
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
import torch
from tqdm.auto import tqdm

from sharpdim import _validate
from sharpdim._numerics import EPS
from sharpdim.curvature.functional import (
    NonFiniteError,
    check_loss_contract,
    curvature_kernels,
    flat_loss,
)
from sharpdim.curvature.slq import slq_run_seeds
from sharpdim.curvature.spectral_measure import SpectralMeasure
from sharpdim.curvature.update_maps import UpdateMap
from sharpdim.dimension import sharpness_dimension
from sharpdim.estimators.aggregate import aggregate_profiles, pooled_weights
from sharpdim.estimators.conditioning import conditioning, with_advice
from sharpdim.estimators.cost import CostPlan, plan_cost
from sharpdim.estimators.data import minibatch, training_data
from sharpdim.estimators.density import (
    density_dimension,
    log_singular_value_map,
    pooled_measure,
    run_statistics,
    slq_quadratures,
)
from sharpdim.estimators.exact import exact_spectrum
from sharpdim.estimators.horizon import estimate_with_horizon
from sharpdim.estimators.moved_keywords import accepts_moved_keywords
from sharpdim.estimators.options import EstimateOptions
from sharpdim.estimators.perturbation import wasserstein_1
from sharpdim.estimators.points import resolve_points, resolve_states
from sharpdim.estimators.result import EstimateDiagnostics, SharpnessEstimate
from sharpdim.estimators.settings import (
    DEFAULT_BATCHES,  # noqa: F401 (re-exported: the documented defaults)
    DEFAULT_QUANTILES,  # noqa: F401
    DEFAULT_STEPS,  # noqa: F401
    Optimizer,
    call_notes,
    checked_options,
    checked_settings,
    resolve_optimizer,
    sized_settings,
)
from sharpdim.vocabulary import JACOBIANS, METHODS, Aggregate, JacobianKind, Method
from sharpdim.vocabulary import Optimizer as OptimizerName

__all__ = ["estimate_sharpness", "CostWarning", "METHODS", "JACOBIANS"]

_PLAN_ABOVE_HVPS = 10_000  # calls with more products are planned (and warned about) first


class CostWarning(UserWarning):
    """An estimate predicted to take longer than ``COST_WARNING_SECONDS``."""


def _product_count(setting: dict, n: int) -> int:
    """Products the call will make, counted without measuring (exact: ``S`` per distinct
    minibatch and point; density: ``m`` per run and point)."""
    R, P = setting["n_batches"], setting["n_points"]
    if setting["method"] == "exact":
        return (1 if setting["batch_size"] == n else R) * P * setting["state_dim"]
    return R * P * setting["n_steps"]


@accepts_moved_keywords
def estimate_sharpness(
    model: torch.nn.Module,
    loss_fn,
    data,
    *,
    lr: float | None = None,
    batch_size: int,
    method: Method = "exact",
    aggregate: Aggregate = "mean",
    optimizer: OptimizerName | UpdateMap | torch.optim.Optimizer = "sgd",
    jacobian: JacobianKind = "gd",
    n_batches: int | None = None,
    seed: int | None = None,
    points=None,
    optimizer_state=None,
    options: EstimateOptions | None = None,
    dry_run: bool = False,
) -> SharpnessEstimate | CostPlan:
    """Sharpness dimension, ``λ_1`` and Hessian summaries of ``model`` on ``data``.

    Every setting has one channel. The call's keywords:

    * ``loss_fn(outputs, targets)`` returns the minibatch **mean** loss (like
      ``F.cross_entropy``); its Hessian is the minibatch Hessian. ``data``: ``(inputs,
      targets)`` tensors, a map-style ``Dataset`` of pairs, a ``DataLoader``, an
      ``IterableDataset`` or dict batches (:mod:`sharpdim.estimators.data`).
    * ``optimizer``, the optimizer whose steps are examined, as one object: a name
      (``"sgd"``, ``"adam"``, ``"adamw"``) with ``lr``; an update map — anything meeting the
      :class:`~sharpdim.curvature.update_maps.UpdateMap` protocol, e.g.
      ``make_update_map("momentum", lr=0.1, momentum=0.9, weight_decay=κ)`` or a user's own
      class; diagnostics record the canonical name or the class name —; or a ``torch.optim``
      ``SGD``, ``Adam`` or ``AdamW`` over the model's parameters (one param group; its
      hyperparameters are read from it, and with ``jacobian="update"`` its state is the
      default ``optimizer_state``). An ``lr`` that disagrees with the object's is an error.
      ``batch_size``: the minibatch size of the steps.
    * ``method``: ``"exact"`` (dense Hessians/Jacobians, ``ε = 0``), ``"slq"``, ``"kde"``,
      ``"ps"`` (densities from ``n_steps`` Lanczos steps per minibatch, default
      ``ε = DEFAULT_EPSILON``; see :mod:`sharpdim.estimators.density`).
    * ``aggregate``: ``"mean"`` over minibatches and points order by order (the paper's
      practice) or ``"sup"`` over ``points`` order by order, then the mean over minibatches
      (the definition). ``points``: attractor points (flat vectors or state_dicts; default the
      model's parameters). With one point the two are the same quantity by definition. A
      density method with ``aggregate="sup"`` and several points is refused: a pooled
      spectral density has no per-order values at a point, and the order-by-order max of noisy
      per-run quantile functions is biased upward with no proven rate.
    * ``jacobian``: ``"gd"`` (``ln|1 − η(α + κ)|`` of the loss Hessian — the Jacobian
      ``I − η(H + κI)`` of SGD with weight decay ``κ``; the paper's practice for every
      optimizer) or ``"update"`` (the true step Jacobian: ``S = 2N`` for heavy ball, ``3N``
      for Adam; ``optimizer_state`` gives the velocity — default 0, which the Jacobian does
      not depend on —, Adam's moments and step count, required, or a user's map's flat state;
      see :mod:`sharpdim.estimators.points`).
    * ``n_batches`` minibatches ``R`` (default 20 exact, 100 density), each drawn from its own
      seed derived from ``seed`` (``None``: fresh entropy, recorded).
    * ``options``: an :class:`~sharpdim.estimators.options.EstimateOptions` with the
      numerical knobs — ``n_steps``, ``epsilon`` and ``epsilon_form`` (``"clamp"``, default,
      ``ln max(σ, ε)``; ``"additive"``, the paper's ``ln(σ + ε)``, which shifts every neutral
      value by ``+ε``), ``smoothing`` of kde/ps (``"curvature"``, default: the kernel density
      of ``α`` pushed through ``ln|1 − ηα|``, the paper's; ``"log"``: a mean-preserving
      spread, biased upward), ``bandwidth`` (default Silverman's robust rule; 0 when all mass
      sits on one value), ``n_quantiles``, ``n_bins`` of the paper's histogram
      (``diagnostics.histogram_dimension``), ``reorthogonalization`` of the density methods'
      Lanczos runs (default
      :data:`~sharpdim.curvature.slq.DEFAULT_REORTHOGONALIZATION`), ``dtype`` of the
      curvature products (default float64), ``progress`` bars — and ``horizon`` ``k``: with
      ``k > 1``, ``(1/k)·ln σ_i(J_k⋯J_1)`` of the optimizer's true Jacobians along ``k``
      consecutive minibatches of its own trajectory (``method="exact"`` only; one-step values
      of a non-normal Jacobian depend on the norm of the stacked state, these tend to the
      norm-free Lyapunov exponents; :mod:`sharpdim.estimators.horizon`). How the model and
      data are read is there too: ``train`` (the mode the model is evaluated in; train-mode
      dropout/batch norm is flagged and warned about), ``output`` (the loss's input from what
      the model returns: ``"logits"`` of a dict or a ``ModelOutput``, an index, a callable),
      ``loss_reduction="sum"`` (``loss_fn`` sums over the batch; a summed loss not so stated
      is an error), ``n_examples`` of an ``IterableDataset``, ``target_key`` of dict batches.
    * ``dry_run=True`` validates everything, times a few products on the first minibatches and
      returns a :class:`~sharpdim.estimators.cost.CostPlan` (predicted HVPs, seconds, memory)
      instead of estimating; a call whose cheap count exceeds 10,000 products is planned the
      same way first and warns (:class:`CostWarning`) when predicted above
      :data:`~sharpdim.estimators.cost.COST_WARNING_SECONDS`.

    The keywords of the release before (``momentum=``, ``weight_decay=``, ``betas=``,
    ``adam_eps=`` and every :class:`EstimateOptions` field) still work for one release, with a
    ``DeprecationWarning`` naming the new spelling (:mod:`sharpdim.estimators.moved_keywords`).

    Attention (``scaled_dot_product_attention``) runs on the math kernel, whose second
    derivative exists. The model, its buffers and torch's random state are left as they were.
    ``diagnostics.conditioning`` (ours, not the paper's) says how far the estimation error
    could move the SD: :class:`~sharpdim.estimators.conditioning.Conditioning`.

    Raises ``ValueError`` for bad settings before any work (``TypeError`` — also a
    ``ValueError`` — for an argument of the wrong type: :mod:`sharpdim._validate`), and
    :class:`~sharpdim.curvature.functional.NonFiniteError` naming the minibatch and the
    parameter when a loss, gradient or product is not finite.

    >>> import torch
    >>> X = torch.tensor([[1.0, 0.0], [0.0, 2.0]])      # 2XᵀX/n = diag(1, 4)
    >>> lin = torch.nn.Linear(2, 1, bias=False)
    >>> est = estimate_sharpness(lin, torch.nn.functional.mse_loss, (X, torch.zeros(2, 1)),
    ...                          lr=1.0, batch_size=2, seed=0)
    >>> est.sharpness.tolist() == [np.log(3.0), -np.inf]    # ln|1 − 4|, ln|1 − 1|
    True
    >>> est.dimension                                       # j* = 1, then λ_2 = -inf
    1.0
    """
    t_start = time.perf_counter()
    opts = checked_options(options)
    opt = resolve_optimizer(optimizer, lr, model, jacobian, optimizer_state)
    checked = checked_settings(method=method, aggregate=aggregate, jacobian=jacobian, opt=opt,
                               opts=opts, batch_size=batch_size, n_batches=n_batches,
                               dry_run=dry_run)
    f = flat_loss(model, loss_fn, train=opts.train, output=opts.output,
                  reduction=opts.loss_reduction)
    train_data = training_data(data, device=f.device, n_examples=opts.n_examples,
                               target_key=opts.target_key)
    thetas, updates, states, notes, size = _points_and_states(f, train_data, opt, checked,
                                                              points)
    notes += call_notes(f, opt, checked, opts.dtype)
    checked |= sized_settings(checked, size)
    seed = _validate.seed(seed)
    batch_seeds = slq_run_seeds(seed, checked["n_batches"])
    batches = [minibatch(i, s, train_data.n, checked["batch_size"])
               for i, s in enumerate(batch_seeds)]
    check_loss_contract(f, *train_data.take(batches[0].indices))  # after all validation
    setting = _setting_record(checked, opt, f, opts, train_data.n, size, len(thetas), seed,
                              batches)
    if dry_run or (checked["horizon"] == 1
                   and _product_count(setting, train_data.n) > _PLAN_ABOVE_HVPS):
        with curvature_kernels(), torch.random.fork_rng(devices=[]):
            plan = plan_cost(f, train_data, batches, thetas, setting, dtype=opts.dtype)
        if dry_run:
            return plan
        if plan.advice:
            warnings.warn(f"estimate_sharpness: {plan.advice} ({plan.summary()}); pass "
                          "dry_run=True to plan without estimating", CostWarning, stacklevel=3)
    cuda = [f.device.index or 0] if f.device.type == "cuda" else []
    with curvature_kernels(), torch.random.fork_rng(devices=cuda):  # the user's RNG untouched
        if checked["horizon"] > 1:  # k-step product along the trajectory (estimators.horizon)
            return estimate_with_horizon(f, train_data, thetas, opt.update, updates, states,
                                         setting, notes, horizon=checked["horizon"],
                                         dtype=opts.dtype, progress=opts.progress,
                                         t_start=t_start)
        if checked["method"] == "exact":
            return _exact(f, train_data, batches, thetas, updates, states, setting, notes,
                          opts.dtype, opts.progress, t_start)
        return _density(f, train_data, batches, thetas, updates, states, setting, notes,
                        opts.dtype, checked["bandwidth"], checked["n_bins"], opts.progress,
                        t_start)


def _points_and_states(f, train_data, opt: Optimizer, checked: dict, points):
    """The attractor points, and with ``jacobian="update"`` the update map and flat state at
    each; checks that need the model and the data."""
    if checked["batch_size"] > train_data.n:
        raise ValueError(f"batch_size must be <= the number of examples ({train_data.n}), "
                         f"got {checked['batch_size']}")
    if checked["jacobian"] == "update" and f.flags.dropout:
        raise ValueError(
            f"jacobian='update' needs a deterministic loss, got train-mode dropout in "
            f"{list(f.flags.dropout)} (each product would draw a new mask); pass train=False "
            "or jacobian='gd'"
        )
    thetas = resolve_points(f, points)
    P = len(thetas)
    if checked["method"] != "exact" and checked["aggregate"] == "sup" and P > 1:
        raise ValueError(
            f"aggregate='sup' with method={checked['method']!r} and {P} points is not "
            "supported: the definition takes the sup over points of each order's log singular "
            "value, a spectral density pooled over Lanczos probes has no per-order values at a "
            "point, and the order-by-order max of noisy per-run quantile functions is biased "
            "upward with no proven rate; use method='exact' for the sup, or aggregate='mean'"
        )
    if checked["jacobian"] == "update":
        updates, states, notes = resolve_states(f, opt.update, thetas, opt.state)
        return thetas, updates, states, list(notes), int(states[0].numel())
    if opt.state is not None:
        raise ValueError("optimizer_state is only used with jacobian='update', got one "
                         "with jacobian='gd'")
    return thetas, None, None, [], f.n_params


def _output_name(output) -> str | None:
    if output is None:
        return None
    if isinstance(output, str | int):
        return str(output)
    return getattr(output, "__name__", repr(output))


def _setting_record(checked: dict, opt: Optimizer, f, opts: EstimateOptions, n: int, size: int,
                    n_points: int, seed: int, batches) -> dict:
    """The setting an estimate's diagnostics record (:class:`EstimateDiagnostics` fields)."""
    return dict(
        method=checked["method"], aggregate=checked["aggregate"],
        jacobian=checked["jacobian"], optimizer=opt.kind,
        lr=float("nan") if opt.lr is None else opt.lr, batch_size=checked["batch_size"],
        momentum=opt.momentum, weight_decay=opt.weight_decay, n_params=f.n_params,
        state_dim=size, n_examples=n, seed=seed, batch_seeds=tuple(b.seed for b in batches),
        batch_index_hashes=tuple(b.index_hash for b in batches),
        n_batches=checked["n_batches"], n_points=n_points, n_steps=checked["n_steps"],
        n_quantiles=checked["n_quantiles"], epsilon=checked["epsilon"],
        epsilon_form=checked["epsilon_form"], smoothing=checked["smoothing"],
        dtype=str(opts.dtype).removeprefix("torch."),
        reorthogonalization=checked["reorthogonalization"], device=str(f.device),
        train=f.train, dropout=f.flags.dropout, batch_norm=f.flags.batch_norm,
        frozen=f.frozen_names, output=_output_name(opts.output),
    )


def _split_half(values: np.ndarray, aggregate: str) -> float:
    """Sampling error per value of an order-by-order aggregate over minibatches: half the mean
    ``|λ^(1)_k − λ^(2)_k|`` between the two halves of the minibatches (each half has twice the
    variance of the whole, so this is ``≈ 0.8`` standard errors); 0 with fewer than 2."""
    R = values.shape[0]
    if R < 2:
        return 0.0
    h = R // 2
    a, b = aggregate_profiles(values[:h], aggregate), aggregate_profiles(values[h:2 * h], aggregate)
    both = np.isfinite(a) & np.isfinite(b)
    diff = np.abs(a[both] - b[both])
    return float(diff.mean() / 2) if diff.size else 0.0


def _exact(f, data, batches, thetas, updates, states, setting, notes, dtype, progress,
           t_start):
    R, P = len(batches), len(thetas)
    full_batch = setting["batch_size"] == data.n
    if full_batch and R > 1:
        notes.append("batch_size equals the number of examples: every minibatch is the full "
                     "training set (the mean loss ignores order), so it was computed once")
    z_rows, alpha_rows, residuals, n_hvp = [], [], [], 0
    for mb in tqdm(batches, desc="exact spectra", unit="batch", leave=False,
                   disable=None if progress is None else not progress):
        if full_batch and z_rows:
            z_rows.append(z_rows[0])
            alpha_rows.append(alpha_rows[0])
            residuals.append(residuals[0])
            continue
        inputs, targets = data.take(mb.indices)
        zs, alphas, res = [], [], 0.0
        for p, theta in enumerate(thetas):
            try:
                spec = exact_spectrum(
                    f, inputs, targets, theta=theta, lr=setting["lr"],
                    jacobian=setting["jacobian"],
                    update=None if updates is None else updates[p],
                    state=None if states is None else states[p],
                    dtype=dtype, label=mb.label(),
                    eps=setting["epsilon"], epsilon_form=setting["epsilon_form"],
                    weight_decay=setting["weight_decay"],
                )
            except NonFiniteError as err:
                raise NonFiniteError(f"{mb.label()}, point {p}: {err}", batch=err.batch,
                                     parameter=err.parameter) from err
            zs.append(spec.log_singular_values)
            alphas.append(spec.hessian_eigenvalues)
            res = max(res, spec.symmetry_residual)
            n_hvp += spec.n_hvp
        z_rows.append(np.stack(zs))
        alpha_rows.append(np.stack(alphas))
        residuals.append(res)
    z = np.stack(z_rows)            # (R, P, S)
    alpha = np.stack(alpha_rows)    # (R, P, N)
    lam = aggregate_profiles(z, setting["aggregate"])
    pooled = None
    if setting["aggregate"] == "mean":
        pooled = sharpness_dimension(z.ravel(), pooled_weights(R, P, z.shape[2]))
    traces = alpha.sum(axis=2).mean(axis=1)
    distinct = 1 if full_batch else R
    # per-value error: rounding of eigvalsh/svdvals (backward error ≤ n·eps·‖·‖, plus the
    # Hessian's asymmetry), first order in ln|1 − ηα| at a neutral value (|1 − ηα| ≈ 1)
    size = z.shape[2]
    if setting["jacobian"] == "gd":
        scale = setting["lr"] * (float(np.abs(alpha).max()) + setting["weight_decay"])
    else:
        scale = max(1.0, math.exp(float(np.max(z))))   # σ_max of the step Jacobian
    rounding = size * (EPS + max(residuals)) * scale
    sampling = _split_half(z if distinct > 1 else z[:1], setting["aggregate"])
    cond = conditioning(
        lam, tolerance=rounding + sampling,
        tolerance_kind=(f"rounding S·(eps + asymmetry)·‖ηH‖ = {rounding:.3g} + split-half "
                        f"sampling error mean_k|λ_k(1st half) − λ_k(2nd half)|/2 = "
                        f"{sampling:.3g} (our choice)"),
    )
    cond = with_advice(cond, {"rounding": rounding, "sampling": sampling}, size)
    diagnostics = EstimateDiagnostics(
        **setting, bandwidth=None, n_bins=None, residuals=tuple(residuals),
        residual_kind="max|H - Hᵀ| / max|H| (rounding of the Hessian products)",
        trace_stderr=float(traces.std(ddof=1) / np.sqrt(R)) if distinct > 1 else None,
        pooled_dimension=pooled, histogram_dimension=None, n_hvp=int(n_hvp),
        seconds=time.perf_counter() - t_start, notes=tuple(notes), conditioning=cond,
    )
    return SharpnessEstimate(
        dimension=sharpness_dimension(lam), lambda_1=float(lam[0]), sharpness=lam,
        measure=None,
        curvature_measure=SpectralMeasure(alpha.mean(axis=(0, 1)), np.ones(alpha.shape[2]),
                                          diagnostics={"kind": "order-by-order mean of the "
                                                       "minibatch Hessian eigenvalues"}),
        top_eigenvalue=float(alpha[:, :, -1].mean()),
        bottom_eigenvalue=float(alpha[:, :, 0].mean()),
        trace=float(traces.mean()), diagnostics=diagnostics,
    )


def _half_measures(pooled: SpectralMeasure, g) -> tuple[SpectralMeasure, SpectralMeasure] | None:
    """The push-forwards of the first and second halves of the runs (each rescaled to the
    full mass), or ``None`` with fewer than 2 runs."""
    runs = pooled.run_ids
    R = int(runs.max()) + 1
    if R < 2:
        return None
    h = R // 2
    out = []
    for keep in (runs < h, (runs >= h) & (runs < 2 * h)):
        w = pooled.weights[keep]
        out.append(SpectralMeasure(g(pooled.nodes[keep]), w * (pooled.total_mass / w.sum())))
    return out[0], out[1]


def _density(f, data, batches, thetas, updates, states, setting, notes, dtype, bandwidth,
             n_bins, progress, t_start):
    jacobian, size = setting["jacobian"], setting["state_dim"]
    quads = slq_quadratures(
        f, data, batches, thetas=thetas, jacobian=jacobian, n_steps=setting["n_steps"],
        dtype=dtype, updates=updates, states=states,
        reorthogonalize=setting["reorthogonalization"],
        progress=progress,
    )
    g = log_singular_value_map(jacobian, lr=setting["lr"], eps=setting["epsilon"],
                               weight_decay=setting["weight_decay"] if jacobian == "gd" else 0.0,
                               epsilon_form=setting["epsilon_form"])
    stats = run_statistics(quads, g, size, setting["aggregate"])
    pooled = pooled_measure(quads, size)
    view = density_dimension(setting["method"], pooled, g, aggregate="mean",
                             n_quantiles=setting["n_quantiles"] or 1, bandwidth=bandwidth,
                             n_bins=n_bins, smoothing=setting["smoothing"])
    hessian = jacobian == "gd"
    # per-value error: Lanczos residual of the extreme Ritz pairs (bounds their eigenvalue
    # error), split-half sampling W₁ per unit mass, and the kernel's W₁ per unit mass h√(2/π)
    # (in ln σ; η h √(2/π) to first order at a neutral value for smoothing in α)
    lip = setting["lr"] if hessian else 0.5
    rounding = lip * max(stats["residuals"])
    halves = _half_measures(pooled, g)
    sampling = 0.0 if halves is None else wasserstein_1(
        halves[0].nodes, halves[0].weights, halves[1].nodes, halves[1].weights) / (2 * size)
    h = view.bandwidth or 0.0
    smooth = h * math.sqrt(2 / math.pi) * (1.0 if view.smoothing == "log" else lip)
    cond = conditioning(
        view.measure.nodes, view.measure.weights, tolerance=rounding + sampling + smooth,
        tolerance_kind=(f"Lanczos residual {rounding:.3g} + split-half sampling W₁ per unit "
                        f"mass / 2 = {sampling:.3g} + kernel W₁ per unit mass {smooth:.3g} "
                        "(our choice)"),
        z_next=view.crossing, use_z_next=True,
    )
    cond = with_advice(cond, {"lanczos": rounding, "sampling": sampling, "kernel": smooth},
                       size)
    diagnostics = EstimateDiagnostics(
        **setting, bandwidth=view.bandwidth,
        n_bins=n_bins if setting["method"] == "slq" else None,
        residuals=stats["residuals"],
        residual_kind="largest Lanczos residual β_m|S_mℓ| of the extreme Ritz pairs",
        trace_stderr=stats["trace_stderr"] if hessian else None,
        pooled_dimension=None, histogram_dimension=view.histogram_dimension,
        n_hvp=stats["n_hvp"], seconds=time.perf_counter() - t_start, notes=tuple(notes),
        conditioning=cond,
    )
    return SharpnessEstimate(
        dimension=view.dimension, lambda_1=stats["lambda_1"], sharpness=None,
        measure=view.measure, curvature_measure=pooled,
        top_eigenvalue=stats["top"] if hessian else None,
        bottom_eigenvalue=stats["bottom"] if hessian else None,
        trace=stats["trace"] if hessian else None, diagnostics=diagnostics,
    )
