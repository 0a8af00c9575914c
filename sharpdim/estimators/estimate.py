"""``estimate_sharpness``: the sharpness dimension of a torch model at a trained point.

One call samples ``R`` minibatches (the same ones for every method, given the seed), forms
the one-step Jacobian of the optimizer for each — ``I − ηH_B`` (``jacobian="gd"``, the
paper's practice, also used by the paper for momentum and AdamW runs) or the optimizer's true
step Jacobian (``jacobian="update"``) — and turns its log singular values into ``λ_1 ≥ … ≥
λ_S`` (exact) or a spectral density (SLQ/KDE/PS), then into the SD (docs/theory.md §2–§5).
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
import torch
from tqdm.auto import tqdm

from sharpdim._numerics import EPS, positive_int, resolve_seed
from sharpdim.curvature.functional import (
    NonFiniteError,
    check_loss_contract,
    curvature_kernels,
    flat_loss,
    mode_description,
)
from sharpdim.curvature.slq import DEFAULT_REORTHOGONALIZATION, slq_run_seeds
from sharpdim.curvature.spectral_measure import SpectralMeasure
from sharpdim.curvature.update_maps import UpdateMap, make_update_map
from sharpdim.dimension import sharpness_dimension
from sharpdim.estimators.aggregate import aggregate_profiles, pooled_weights
from sharpdim.estimators.conditioning import conditioning, with_advice
from sharpdim.estimators.cost import CostPlan, plan_cost
from sharpdim.estimators.data import minibatch, training_data
from sharpdim.estimators.density import (
    DEFAULT_EPSILON,
    DEFAULT_SMOOTHING,
    density_dimension,
    log_singular_value_map,
    pooled_measure,
    run_statistics,
    slq_quadratures,
)
from sharpdim.estimators.exact import exact_spectrum
from sharpdim.estimators.horizon import check_horizon, estimate_with_horizon
from sharpdim.estimators.options import (
    EstimateOptions,
    merge_options,
    torch_optimizer_settings,
    update_map_settings,
)
from sharpdim.estimators.perturbation import wasserstein_1
from sharpdim.estimators.points import resolve_points, resolve_states
from sharpdim.estimators.result import EstimateDiagnostics, SharpnessEstimate
from sharpdim.vocabulary import (
    AGGREGATES,
    EPSILON_FORMS,
    JACOBIANS,
    METHODS,
    OPTIMIZERS,
    REORTHOGONALIZATIONS,
    SMOOTHINGS,
    LossReduction,
    canonical_optimizer,
    choice,
)

__all__ = ["estimate_sharpness", "CostWarning", "METHODS", "JACOBIANS"]

DEFAULT_BATCHES = {"exact": 20, "slq": 100, "kde": 100, "ps": 100}
DEFAULT_STEPS = 100  # the paper's m (capped at the operator size)
DEFAULT_QUANTILES = 1000  # M for the pseudo-spectrum and the sup of densities (capped at S)


def _int_at_least(name: str, value, low: int, default: int | None = None) -> int | None:
    return default if value is None else positive_int(name, value, minimum=low)


def _number(name: str, value, *, positive: bool) -> float:
    ok = isinstance(value, int | float | np.floating | np.integer) and not isinstance(value, bool)
    if not ok or not math.isfinite(float(value)) or (float(value) <= 0 if positive
                                                     else float(value) < 0):
        raise ValueError(f"{name} must be a finite number {'> 0' if positive else '>= 0'}, "
                         f"got {value!r}")
    return float(value)


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


_KEYWORD_DEFAULTS = dict(lr=None, momentum=0.0, weight_decay=0.0, betas=(0.9, 0.999),
                         adam_eps=1e-8)


def _adopt(held: dict, given: dict, source: str) -> tuple[str, dict]:
    """The optimizer name and hyperparameters held by ``source`` (a torch optimizer or an
    update map); a keyword set to another value than its default and than the held one is an
    error (one setting, one channel)."""
    for name, value in held.items():
        if name != "optimizer" and given[name] != _KEYWORD_DEFAULTS[name] and given[name] != value:
            raise ValueError(f"{name} is given twice with different values: {given[name]!r} "
                             f"as a keyword and {value!r} in {source}")
    return held["optimizer"], {**given, **{k: v for k, v in held.items() if k != "optimizer"}}


def _check_state_optimizer(opt: torch.optim.Optimizer, name: str, given: dict) -> None:
    """A torch optimizer passed only as ``optimizer_state`` must agree with the keywords:
    its own hyperparameters are never silently replaced by them."""
    held = torch_optimizer_settings(opt)
    mine = {**given, "optimizer": canonical_optimizer(name, given["momentum"])}
    differ = {k: (mine[k], v) for k, v in held.items() if mine[k] != v}
    if differ:
        said = ", ".join(f"{k}={a!r} (the optimizer's: {b!r})" for k, (a, b) in differ.items())
        raise ValueError(f"optimizer_state must be an optimizer whose settings match the "
                         f"keywords, got {said}; pass it as optimizer= to use its own settings")


def estimate_sharpness(
    model: torch.nn.Module,
    loss_fn,
    data,
    *,
    lr: float | None = None,
    batch_size: int,
    method: str = "exact",
    aggregate: str = "mean",
    optimizer: str | UpdateMap | torch.optim.Optimizer = "sgd",
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
    epsilon_form: str = "clamp",
    smoothing: str | None = None,
    bandwidth: float | None = None,
    n_quantiles: int | None = None,
    n_bins: int = 100,
    train: bool = False,
    dtype: torch.dtype = torch.float64,
    progress: bool | None = None,
    reorthogonalization: str | None = None,
    options: EstimateOptions | None = None,
    output=None,
    loss_reduction: LossReduction = "mean",
    n_examples: int | None = None,
    target_key: str = "labels",
    dry_run: bool = False,
) -> SharpnessEstimate | CostPlan:
    """Sharpness dimension, ``λ_1`` and Hessian summaries of ``model`` on ``data``.

    * ``loss_fn(outputs, targets)`` returns the minibatch **mean** loss (like
      ``F.cross_entropy``); its Hessian is the minibatch Hessian. ``data``: ``(inputs,
      targets)`` tensors or a map-style ``Dataset`` of pairs. ``train``: the mode the model is
      evaluated in (train-mode dropout/batch norm is flagged and warned about).
    * ``lr``, ``batch_size``, ``optimizer`` (``"sgd"``, ``"momentum"`` — heavy ball, the same
      as ``"sgd"`` with ``momentum > 0``; diagnostics record the canonical name —, ``"adam"``,
      ``"adamw"``), ``momentum``, ``weight_decay`` ``κ``, ``betas``, ``adam_eps``: the
      optimizer whose steps are examined.
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
      not depend on — or Adam's moments and step count, required; see
      :mod:`sharpdim.estimators.points`).
    * ``epsilon`` ``ε`` and ``epsilon_form``: ``"clamp"`` (default) ``ln max(σ, ε)`` or
      ``"additive"`` (the paper's) ``ln(σ + ε)``, which shifts every neutral value by ``+ε``
      (partial sums drift by ``≈ N·ε``). Both are recorded in the diagnostics.
    * ``smoothing`` of kde/ps: ``"curvature"`` (default: the kernel density of ``α`` pushed
      through ``ln|1 − ηα|``, the paper's) or ``"log"`` (the kernel density of the log
      singular values: a mean-preserving spread, biased upward) —
      :data:`sharpdim.estimators.density.DEFAULT_SMOOTHING` says why.
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
      Silverman's robust rule; 0 when all mass sits on one value, which makes kde/ps the exact
      SD of the atoms); ``n_quantiles`` ``M`` (default ``min(1000, S)``); ``n_bins`` of the
      paper's histogram (``diagnostics.histogram_dimension``); ``dtype`` of the curvature
      products (default float64); ``progress``: tqdm bars (``None``: on a terminal only);
      ``reorthogonalization`` of the density methods' Lanczos runs, ``"full"``,
      ``"partial"`` or ``"none"`` (default
      :data:`~sharpdim.curvature.slq.DEFAULT_REORTHOGONALIZATION`, chosen by measured SD
      error and cost; see reports/benchmarks.md).

    ``optimizer`` may also be a ``torch.optim`` ``SGD``, ``Adam`` or ``AdamW`` over the
    model's parameters (one param group; its ``lr``, ``momentum``, ``weight_decay``,
    ``betas``, ``eps`` are read from it — a keyword that disagrees is an error — and with
    ``jacobian="update"`` its state is the default ``optimizer_state``) or an update map
    (``make_update_map(...)``: the hyperparameters are then its own), and ``options`` an
    :class:`~sharpdim.estimators.options.EstimateOptions` holding ``n_batches`` … ``progress``;
    a setting given both ways must agree.

    Models and data people have: ``output`` selects the loss's input from what the model
    returns (``"logits"`` of a dict or a ``transformers`` ``ModelOutput``, an index, a
    callable; :func:`~sharpdim.curvature.functional.select_output`); ``data`` may also be a
    ``DataLoader``, an ``IterableDataset`` (its first ``n_examples`` examples) or dict batches
    whose ``target_key`` entry holds the targets and whose other entries are the model's
    keyword inputs (:mod:`sharpdim.estimators.data`); ``loss_reduction="sum"`` states that
    ``loss_fn`` sums over the batch (it is then divided by the batch size; a summed loss not
    so stated is an error). Attention (``scaled_dot_product_attention``) runs on the math
    kernel, whose second derivative exists. The model, its buffers and torch's random state
    are left as they were.

    ``dry_run=True`` validates everything, times a few products on the first minibatches and
    returns a :class:`~sharpdim.estimators.cost.CostPlan` (predicted HVPs, seconds, memory)
    instead of estimating; a call whose cheap count exceeds 10,000 products is planned the
    same way first and warns (:class:`CostWarning`) when predicted above
    :data:`~sharpdim.estimators.cost.COST_WARNING_SECONDS`.

    ``diagnostics.conditioning`` (ours, not the paper's) says how far the estimation error
    could move the SD: :class:`~sharpdim.estimators.conditioning.Conditioning`.

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
    merged = merge_options(options, n_batches=n_batches, n_steps=n_steps, epsilon=epsilon,
                           epsilon_form=epsilon_form, smoothing=smoothing, bandwidth=bandwidth,
                           n_quantiles=n_quantiles, n_bins=n_bins, dtype=dtype,
                           progress=progress, reorthogonalization=reorthogonalization)
    n_batches, n_steps, epsilon = merged["n_batches"], merged["n_steps"], merged["epsilon"]
    epsilon_form, smoothing = merged["epsilon_form"], merged["smoothing"]
    bandwidth, n_quantiles, n_bins = merged["bandwidth"], merged["n_quantiles"], merged["n_bins"]
    dtype, progress = merged["dtype"], merged["progress"]
    reorthogonalization = merged["reorthogonalization"]
    given = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, adam_eps=adam_eps,
                 betas=tuple(betas) if isinstance(betas, tuple | list) else betas)
    if isinstance(optimizer, torch.optim.Optimizer):
        if optimizer_state is None and jacobian == "update":
            optimizer_state = optimizer
        held = torch_optimizer_settings(optimizer, [p for p in model.parameters()
                                                    if p.requires_grad])
        optimizer, given = _adopt(held, given, "the torch optimizer")
    elif not isinstance(optimizer, str):
        optimizer, given = _adopt(update_map_settings(optimizer), given, "the update map")
    elif isinstance(optimizer_state, torch.optim.Optimizer):
        _check_state_optimizer(optimizer_state, optimizer, given)
    lr, momentum, weight_decay = given["lr"], given["momentum"], given["weight_decay"]
    betas, adam_eps = given["betas"], given["adam_eps"]
    if lr is None:
        raise ValueError("lr must be given (a finite number > 0), or an update map as "
                         "optimizer, got None")
    method = choice("method", method, METHODS)
    aggregate = choice("aggregate", aggregate, AGGREGATES)
    jacobian = choice("jacobian", jacobian, JACOBIANS)
    optimizer = choice("optimizer", optimizer, OPTIMIZERS)
    epsilon_form = choice("epsilon_form", epsilon_form, EPSILON_FORMS)
    if smoothing is not None:
        smoothing = choice("smoothing", smoothing, SMOOTHINGS)
    if reorthogonalization is not None:
        reorthogonalization = choice("reorthogonalization", reorthogonalization,
                                     REORTHOGONALIZATIONS)
        if method == "exact":
            raise ValueError("reorthogonalization is only used by the density methods "
                             f"('slq', 'kde', 'ps'), got {reorthogonalization!r} with "
                             "method='exact'")
    elif method != "exact":
        reorthogonalization = DEFAULT_REORTHOGONALIZATION
    lr = _number("lr", lr, positive=True)
    momentum = _number("momentum", momentum, positive=False)
    weight_decay = _number("weight_decay", weight_decay, positive=False)
    kind = canonical_optimizer(optimizer, momentum)
    horizon = check_horizon(horizon, method=method, jacobian=jacobian,  # k-step product
                            plain_sgd=kind == "sgd")
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
        bandwidth = _number("bandwidth", bandwidth, positive=False)
    if method in ("exact", "slq"):
        if smoothing is not None:
            raise ValueError(f"smoothing is only used by method='kde' or 'ps', got "
                             f"smoothing={smoothing!r} with method={method!r}")
    else:
        smoothing = DEFAULT_SMOOTHING[method] if smoothing is None else smoothing
    if dtype not in (torch.float32, torch.float64):  # the eigensolvers have no half kernels
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
    update = make_update_map(kind, lr=lr, momentum=momentum, weight_decay=weight_decay,
                             betas=betas, eps=adam_eps)

    f = flat_loss(model, loss_fn, train=train, output=output, reduction=loss_reduction)
    train_data = training_data(data, device=f.device, n_examples=n_examples,
                               target_key=target_key)
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
    if method != "exact" and aggregate == "sup" and P > 1:
        raise ValueError(
            f"aggregate='sup' with method={method!r} and {P} points is not supported: the "
            "definition takes the sup over points of each order's log singular value, a "
            "spectral density pooled over Lanczos probes has no per-order values at a point, "
            "and the order-by-order max of noisy per-run quantile functions is biased upward "
            "with no proven rate; use method='exact' for the sup, or aggregate='mean'"
        )
    if jacobian == "update":
        updates, states, notes = resolve_states(f, update, thetas, optimizer_state)
        size = int(states[0].numel())
    else:
        if optimizer_state is not None:
            raise ValueError("optimizer_state is only used with jacobian='update', got one "
                             "with jacobian='gd'")
        updates, states, notes, size = None, None, (), f.n_params
    notes = list(notes)
    if jacobian == "gd" and kind != "sgd":
        notes.append(f"jacobian='gd' applies ln|1 - lr·(α + weight_decay)| to the loss Hessian "
                     f"for a {kind} run: the paper's approximation; jacobian='update' gives the "
                     "true step Jacobian")
    if method != "exact" and aggregate == "sup":
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

    seed = resolve_seed(seed)
    batch_seeds = slq_run_seeds(seed, R)
    batches = [minibatch(i, s, train_data.n, batch_size) for i, s in enumerate(batch_seeds)]
    check_loss_contract(f, *train_data.take(batches[0].indices))  # after all validation
    if not isinstance(dry_run, bool):
        raise TypeError(f"dry_run must be a bool, got {dry_run!r}")
    if dry_run and horizon > 1:
        raise ValueError(f"dry_run plans one-step estimates, got horizon={horizon}")
    setting = dict(
        method=method, aggregate=aggregate, jacobian=jacobian, optimizer=kind, lr=lr,
        batch_size=batch_size, momentum=momentum, weight_decay=weight_decay,
        n_params=f.n_params, state_dim=size, n_examples=train_data.n, seed=seed,
        batch_seeds=tuple(batch_seeds), batch_index_hashes=tuple(b.index_hash for b in batches),
        n_batches=R, n_points=P, n_steps=n_steps, n_quantiles=n_quantiles, epsilon=eps,
        epsilon_form=epsilon_form, smoothing=smoothing, dtype=str(dtype).removeprefix("torch."),
        reorthogonalization=reorthogonalization,
        device=str(f.device), train=f.train,
        dropout=f.flags.dropout, batch_norm=f.flags.batch_norm, frozen=f.frozen_names,
        output=None if output is None else (str(output) if isinstance(output, str | int)
                                            else getattr(output, "__name__", repr(output))),
    )
    if dry_run or (horizon == 1 and _product_count(setting, train_data.n) > _PLAN_ABOVE_HVPS):
        with curvature_kernels(), torch.random.fork_rng(devices=[]):
            plan = plan_cost(f, train_data, batches, thetas, setting, dtype=dtype)
        if dry_run:
            return plan
        if plan.advice:
            warnings.warn(f"estimate_sharpness: {plan.advice} ({plan.summary()}); pass "
                          "dry_run=True to plan without estimating", CostWarning, stacklevel=2)
    cuda = [f.device.index or 0] if f.device.type == "cuda" else []
    with curvature_kernels(), torch.random.fork_rng(devices=cuda):  # the user's RNG untouched
        if horizon > 1:  # k-step product along the trajectory (sharpdim.estimators.horizon)
            return estimate_with_horizon(f, train_data, thetas, update, updates, states,
                                         setting, notes, horizon=horizon, dtype=dtype,
                                         progress=progress, t_start=t_start)
        if method == "exact":
            return _exact(f, train_data, batches, thetas, updates, states, setting, notes,
                          dtype, progress, t_start)
        return _density(f, train_data, batches, thetas, updates, states, setting, notes,
                        dtype, bandwidth, n_bins, progress, t_start)


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
