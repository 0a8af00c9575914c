"""``estimate_sharpness``: the sharpness dimension of a torch model at a trained point.

One call samples ``R`` minibatches (the same ones for every method, given the seed), forms
the one-step Jacobian of the optimizer for each — ``I − ηH_B`` (``jacobian="gd"``, the
paper's practice, also used by the paper for momentum and AdamW runs) or the optimizer's true
step Jacobian (``jacobian="update"``) — and turns its log singular values into ``λ_1 ≥ … ≥
λ_S`` (exact) or a spectral density (SLQ/KDE/PS), then into the SD (PAPER_NOTES §2–§5).
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from tqdm.auto import tqdm

from sharpdim.curvature.functional import NonFiniteError, flat_loss
from sharpdim.curvature.slq import slq_run_seeds
from sharpdim.curvature.update_maps import (
    OPTIMIZERS,
    AdamUpdate,
    HeavyBallUpdate,
    make_update_map,
)
from sharpdim.dimension import sharpness_dimension
from sharpdim.estimators.aggregate import AGGREGATES, aggregate_profiles, pooled_weights
from sharpdim.estimators.data import minibatch, resolve_seed, training_data
from sharpdim.estimators.density import (
    DEFAULT_EPSILON,
    DENSITY_METHODS,
    density_dimension,
    log_singular_value_map,
    pooled_measure,
    run_statistics,
    slq_quadratures,
    sup_quantile_measure,
)
from sharpdim.estimators.exact import exact_spectrum
from sharpdim.estimators.horizon import check_horizon, estimate_with_horizon
from sharpdim.estimators.points import resolve_points, resolve_states
from sharpdim.estimators.result import EstimateDiagnostics, SharpnessEstimate

__all__ = ["estimate_sharpness", "METHODS", "JACOBIANS"]

METHODS = ("exact", *DENSITY_METHODS)
JACOBIANS = ("gd", "update")
DEFAULT_BATCHES = {"exact": 20, "slq": 100, "kde": 100, "ps": 100}
DEFAULT_STEPS = 100  # the paper's m (capped at the operator size)
DEFAULT_QUANTILES = 1000  # M for the pseudo-spectrum and the sup of densities (capped at S)


def _choice(name: str, value, options: tuple[str, ...]) -> str:
    if value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def _int_at_least(name: str, value, low: int, default: int | None = None) -> int | None:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


def _number(name: str, value, *, positive: bool) -> float:
    ok = isinstance(value, int | float | np.floating | np.integer) and not isinstance(value, bool)
    if not ok or not math.isfinite(float(value)) or (float(value) <= 0 if positive
                                                     else float(value) < 0):
        raise ValueError(f"{name} must be a finite number {'> 0' if positive else '>= 0'}, "
                         f"got {value!r}")
    return float(value)


def estimate_sharpness(
    model: torch.nn.Module,
    loss_fn,
    data,
    *,
    lr: float,
    batch_size: int,
    method: str = "exact",
    aggregate: str = "mean",
    optimizer: str = "sgd",
    momentum: float = 0.0,
    jacobian: str = "gd",
    horizon: int = 1,
    seed: int | None = None,
    points=None,
    optimizer_state=None,
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
    adam_eps: float = 1e-8,
    n_batches: int | None = None,
    n_steps: int | None = None,
    epsilon: float | None = None,
    bandwidth: float | None = None,
    n_quantiles: int | None = None,
    n_bins: int = 100,
    train: bool = False,
    dtype: torch.dtype = torch.float64,
    progress: bool | None = None,
) -> SharpnessEstimate:
    """Sharpness dimension, ``λ_1`` and Hessian summaries of ``model`` on ``data``.

    * ``loss_fn(outputs, targets)`` returns the minibatch **mean** loss (like
      ``F.cross_entropy``); its Hessian is the minibatch Hessian. ``data``: ``(inputs,
      targets)`` tensors or a map-style ``Dataset`` of pairs. ``train``: the mode the model is
      evaluated in (train-mode dropout/batch norm is flagged and warned about).
    * ``lr``, ``batch_size``, ``optimizer`` (``"sgd"`` — heavy ball when ``momentum > 0`` —,
      ``"adam"``, ``"adamw"``), ``weight_decay``, ``betas``, ``adam_eps``: the optimizer whose
      steps are examined.
    * ``method``: ``"exact"`` (dense Hessians/Jacobians, ``ε = 0``), ``"slq"``, ``"kde"``,
      ``"ps"`` (densities from ``n_steps`` Lanczos steps per minibatch, default
      ``ε = DEFAULT_EPSILON``; see :mod:`sharpdim.estimators.density`).
    * ``aggregate``: ``"mean"`` over minibatches and points order by order (the paper's
      practice) or ``"sup"`` over ``points`` order by order, then the mean over minibatches
      (the definition). ``points``: attractor points (flat vectors or state_dicts; default the
      model's parameters).
    * ``jacobian``: ``"gd"`` (``ln|1 − ηα|`` of the loss Hessian, the paper's practice for
      every optimizer, weight decay ignored) or ``"update"`` (the true step Jacobian: ``S =
      2N`` for heavy ball, ``3N`` for Adam; ``optimizer_state`` gives the velocity — default
      0, which the Jacobian does not depend on — or Adam's moments and step count, required;
      see :mod:`sharpdim.estimators.points`).
    * ``horizon``: ``k`` (default 1, the one-step values). One-step singular values are in
      the Euclidean norm of the stacked state — ``w``; ``(w, v)`` for heavy ball; ``(w, m,
      v)`` for Adam — and for a non-normal Jacobian they change when a block is rescaled.
      ``horizon=k > 1`` uses ``(1/k)·ln σ_i(J_k⋯J_1)`` of the optimizer's true Jacobians along
      ``k`` consecutive minibatches of its own trajectory (``n_batches`` independent windows);
      a rescaling moves these by at most ``ln κ(C)/k``, so they tend to the norm-free Lyapunov
      exponents as ``k`` grows. ``method="exact"`` only, ``jacobian="update"`` (or ``"gd"``
      for plain SGD); see :mod:`sharpdim.estimators.horizon`.
    * ``n_batches`` minibatches ``R`` (default 20 exact, 100 density), each drawn from its own
      seed derived from ``seed`` (``None``: fresh entropy, recorded); ``n_steps`` Lanczos
      steps (default ``min(100, S)``); ``bandwidth`` of the Gaussian kernel (default
      Silverman's rule); ``n_quantiles`` ``M`` (default ``min(1000, S)``); ``n_bins`` of the
      paper's histogram (``diagnostics.histogram_dimension``); ``dtype`` of the curvature
      products (default float64); ``progress``: tqdm bars (``None``: on a terminal only).

    Raises ``ValueError`` for bad settings before any work, and
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
    method = _choice("method", method, METHODS)
    aggregate = _choice("aggregate", aggregate, AGGREGATES)
    jacobian = _choice("jacobian", jacobian, JACOBIANS)
    optimizer = _choice("optimizer", optimizer, OPTIMIZERS)
    horizon = check_horizon(horizon, method=method, jacobian=jacobian,  # k-step product
                            plain_sgd=optimizer == "sgd" and momentum == 0)
    lr = _number("lr", lr, positive=True)
    momentum = _number("momentum", momentum, positive=False)
    weight_decay = _number("weight_decay", weight_decay, positive=False)
    batch_size = _int_at_least("batch_size", batch_size, 1, default=None)
    if batch_size is None:
        raise ValueError("batch_size must be an int >= 1, got None")
    R = _int_at_least("n_batches", n_batches, 1, DEFAULT_BATCHES[method])
    n_steps = _int_at_least("n_steps", n_steps, 1)
    n_quantiles = _int_at_least("n_quantiles", n_quantiles, 1)
    n_bins = _int_at_least("n_bins", n_bins, 1)
    if epsilon is not None:
        epsilon = _number("epsilon", epsilon, positive=False)
    eps = (0.0 if method == "exact" else DEFAULT_EPSILON) if epsilon is None else epsilon
    if method != "exact" and eps == 0:
        raise ValueError("epsilon must be > 0 for density methods (a Ritz value with σ = 0 "
                         "would give ln 0), got 0")
    if bandwidth is not None:
        bandwidth = _number("bandwidth", bandwidth, positive=True)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating torch dtype, got {dtype!r}")
    update = make_update_map(optimizer, lr=lr, momentum=momentum, weight_decay=weight_decay,
                             betas=tuple(betas), eps=adam_eps)

    f = flat_loss(model, loss_fn, train=train)
    train_data = training_data(data, device=f.device)
    if batch_size > train_data.n:
        raise ValueError(f"batch_size must be <= the number of examples ({train_data.n}), "
                         f"got {batch_size}")
    if jacobian == "update" and f.flags.dropout:
        raise ValueError(
            f"jacobian='update' needs a deterministic loss, got train-mode dropout in "
            f"{list(f.flags.dropout)} (each product would draw a new mask); pass train=False "
            "or jacobian='gd'"
        )
    thetas = resolve_points(f, points)
    P = len(thetas)
    if jacobian == "update":
        updates, states, notes = resolve_states(f, update, thetas, optimizer_state)
        size = int(states[0].numel())
    else:
        if optimizer_state is not None:
            raise ValueError("optimizer_state is only used with jacobian='update', got one "
                             "with jacobian='gd'")
        updates, states, notes, size = None, None, (), f.n_params
    notes = list(notes)
    kind = _optimizer_kind(update)
    if jacobian == "gd" and (kind != "sgd" or weight_decay):
        notes.append(f"jacobian='gd' applies ln|1 - lr·α| to the loss Hessian for a {kind} "
                     f"run (weight decay {weight_decay:g} ignored): the paper's "
                     "approximation; jacobian='update' gives the true step Jacobian")
    if f.flags.any:
        notes.append(f"train-mode dropout {list(f.flags.dropout)} / batch norm "
                     f"{list(f.flags.batch_norm)}: the loss is random or batch-coupled")
    if method != "exact":
        n_steps = min(DEFAULT_STEPS, size) if n_steps is None else n_steps
        if n_steps > size:
            raise ValueError(f"n_steps must be <= the operator size {size}, got {n_steps}")
    else:
        n_steps = None
    uses_quantiles = method == "ps" or (method != "exact" and aggregate == "sup")
    if uses_quantiles:
        n_quantiles = min(DEFAULT_QUANTILES, size) if n_quantiles is None else n_quantiles
    else:
        n_quantiles = None

    seed = resolve_seed(seed)
    batch_seeds = slq_run_seeds(seed, R)
    batches = [minibatch(i, s, train_data.n, batch_size) for i, s in enumerate(batch_seeds)]
    setting = dict(
        method=method, aggregate=aggregate, jacobian=jacobian, optimizer=kind, lr=lr,
        batch_size=batch_size, momentum=momentum, weight_decay=weight_decay,
        n_params=f.n_params, state_dim=size, n_examples=train_data.n, seed=seed,
        batch_seeds=tuple(batch_seeds), batch_index_hashes=tuple(b.index_hash for b in batches),
        n_batches=R, n_points=P, n_steps=n_steps, n_quantiles=n_quantiles, epsilon=eps,
        dtype=str(dtype).removeprefix("torch."), device=str(f.device), train=f.train,
        dropout=f.flags.dropout, batch_norm=f.flags.batch_norm,
    )
    if horizon > 1:  # k-step product along the trajectory (sharpdim.estimators.horizon)
        return estimate_with_horizon(f, train_data, thetas, update, updates, states, setting,
                                     notes, horizon=horizon, dtype=dtype, progress=progress,
                                     t_start=t_start)
    if method == "exact":
        return _exact(f, train_data, batches, thetas, updates, states, setting, notes,
                      dtype, progress, t_start)
    return _density(f, train_data, batches, thetas, updates, states, setting, notes,
                    dtype, bandwidth, n_bins, progress, t_start)


def _optimizer_kind(update) -> str:
    if isinstance(update, HeavyBallUpdate):
        return "heavy_ball"
    if isinstance(update, AdamUpdate):
        return "adamw" if update.decoupled else "adam"
    return "sgd"


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
                    eps=setting["epsilon"],
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
    diagnostics = EstimateDiagnostics(
        **setting, bandwidth=None, n_bins=None, residuals=tuple(residuals),
        residual_kind="max|H - Hᵀ| / max|H| (rounding of the Hessian products)",
        trace_stderr=float(traces.std(ddof=1) / np.sqrt(R)) if distinct > 1 else None,
        pooled_dimension=pooled, histogram_dimension=None, n_hvp=int(n_hvp),
        seconds=time.perf_counter() - t_start, notes=tuple(notes),
    )
    return SharpnessEstimate(
        dimension=sharpness_dimension(lam), lambda_1=float(lam[0]), sharpness=lam,
        measure=None, curvature_measure=None,
        top_eigenvalue=float(alpha[:, :, -1].mean()),
        bottom_eigenvalue=float(alpha[:, :, 0].mean()),
        trace=float(traces.mean()), diagnostics=diagnostics,
    )


def _density(f, data, batches, thetas, updates, states, setting, notes, dtype, bandwidth,
             n_bins, progress, t_start):
    jacobian, aggregate, size = setting["jacobian"], setting["aggregate"], setting["state_dim"]
    quads = slq_quadratures(
        f, data, batches, thetas=thetas, jacobian=jacobian, n_steps=setting["n_steps"],
        dtype=dtype, updates=updates, states=states,
        progress=progress,
    )
    g = log_singular_value_map(jacobian, lr=setting["lr"], eps=setting["epsilon"])
    stats = run_statistics(quads, g, size, aggregate)
    pooled = pooled_measure(quads, size)
    base = pooled if aggregate == "mean" else sup_quantile_measure(
        quads, g, size, setting["n_quantiles"])
    view = density_dimension(setting["method"], base, g, aggregate=aggregate,
                             n_quantiles=setting["n_quantiles"] or 1, bandwidth=bandwidth,
                             n_bins=n_bins)
    hessian = jacobian == "gd"
    diagnostics = EstimateDiagnostics(
        **setting, bandwidth=view.bandwidth,
        n_bins=n_bins if setting["method"] == "slq" else None,
        residuals=stats["residuals"],
        residual_kind="largest Lanczos residual β_m|S_mℓ| of the extreme Ritz pairs",
        trace_stderr=stats["trace_stderr"] if hessian else None,
        pooled_dimension=None, histogram_dimension=view.histogram_dimension,
        n_hvp=stats["n_hvp"], seconds=time.perf_counter() - t_start, notes=tuple(notes),
    )
    return SharpnessEstimate(
        dimension=view.dimension, lambda_1=stats["lambda_1"], sharpness=None,
        measure=view.measure, curvature_measure=pooled,
        top_eigenvalue=stats["top"] if hessian else None,
        bottom_eigenvalue=stats["bottom"] if hessian else None,
        trace=stats["trace"] if hessian else None, diagnostics=diagnostics,
    )
