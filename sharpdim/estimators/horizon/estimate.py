"""Horizon-``k`` sharpness for a model: :func:`horizon_sharpness`, the ``horizon > 1`` branch of
:func:`sharpdim.estimate_sharpness` and its check (:mod:`sharpdim.estimators.horizon`)."""

from __future__ import annotations

import time

import numpy as np
import torch
from tqdm.auto import tqdm

from sharpdim._numerics import resolve_seed
from sharpdim.curvature.functional import FlatLoss, NonFiniteError
from sharpdim.curvature.slq import slq_run_seeds
from sharpdim.curvature.update_jacobian import gradient_function
from sharpdim.curvature.update_maps import SGDUpdate, UpdateMap
from sharpdim.dimension import sharpness_dimension
from sharpdim.estimators.aggregate import aggregate_profiles, pooled_weights
from sharpdim.estimators.conditioning import conditioning
from sharpdim.estimators.data import training_data
from sharpdim.estimators.horizon.products import _is_int
from sharpdim.estimators.horizon.trajectories import trajectory_exponents
from sharpdim.estimators.horizon.windows import HorizonSharpness, _stderr, _window_batches
from sharpdim.estimators.result import EstimateDiagnostics, SharpnessEstimate

__all__ = ["check_horizon", "horizon_sharpness", "estimate_with_horizon"]


def check_horizon(horizon, *, method: str = "exact", jacobian: str = "update",
                  plain_sgd: bool = True) -> int:
    """Validate ``horizon`` for :func:`sharpdim.estimate_sharpness` (an int ``>= 1``).

    ``horizon > 1`` needs ``method="exact"`` (the dense product: every exponent, hence the
    SD) and the optimizer's true Jacobians: ``jacobian="update"``, or ``"gd"`` for plain SGD,
    where the two are the same map ``I − η(H + κI)``.

    >>> check_horizon(4)
    4
    >>> check_horizon(0)
    Traceback (most recent call last):
    ...
    ValueError: horizon must be an int >= 1 (the number of consecutive steps in the product), got 0
    """
    if not _is_int(horizon) or horizon < 1:
        raise ValueError("horizon must be an int >= 1 (the number of consecutive steps in "
                         f"the product), got {horizon!r}")
    horizon = int(horizon)
    if horizon > 1 and method != "exact":
        raise ValueError(
            f"horizon > 1 is supported for method='exact' only (the k-step product's full "
            f"spectrum, needed for the SD), got method={method!r} with horizon={horizon}; "
            "for the leading exponents of a large model use "
            "sharpdim.estimators.horizon.horizon_sharpness(..., method='lanczos')")
    if horizon > 1 and jacobian == "gd" and not plain_sgd:
        raise ValueError(
            f"horizon > 1 multiplies the optimizer's true step Jacobians along its trajectory; "
            f"jacobian='gd' (ln|1 - ηα| of the loss Hessian) is not the Jacobian of a momentum "
            f"or Adam step: pass jacobian='update', got jacobian='gd' with horizon={horizon}")
    return horizon


def horizon_sharpness(
    f: FlatLoss,
    data,
    update: UpdateMap,
    state: torch.Tensor,
    *,
    horizon: int,
    batch_size: int,
    n_windows: int = 10,
    seed: int | None = None,
    method: str = "dense",
    top: int | None = None,
    n_steps: int | None = None,
    tol: float | None = None,
    dtype: torch.dtype = torch.float64,
    progress: bool | None = None,
) -> HorizonSharpness:
    """Horizon-``k`` exponents of ``update`` (see :func:`make_update_map`) started at the flat
    ``state`` (:func:`~sharpdim.curvature.update_maps.initial_state`), over ``n_windows``
    windows of ``horizon`` consecutive minibatches of ``data`` (``(inputs, targets)`` or a
    ``Dataset``) of size ``batch_size``. ``seed`` (``None``: fresh entropy, recorded) derives
    every minibatch and Lanczos start; ``method``/``top``/``n_steps``/``tol`` as in
    :func:`trajectory_exponents`; products in ``dtype``.
    """
    t0 = time.perf_counter()
    horizon = check_horizon(horizon)
    for name, value in (("n_windows", n_windows), ("batch_size", batch_size)):
        if not _is_int(value) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    if not isinstance(f, FlatLoss):
        raise TypeError(f"f must be a FlatLoss (see flat_loss), got {type(f).__name__}")
    if not isinstance(state, torch.Tensor) or state.ndim != 1:
        raise ValueError(f"state must be a flat 1-D tensor, got {type(state).__name__}")
    if state.numel() != update.n_blocks * f.n_params:
        raise ValueError(f"state must have length {update.n_blocks}·N = "
                         f"{update.n_blocks * f.n_params}, got {state.numel()}")
    train = training_data(data, device=f.device)
    if batch_size > train.n:
        raise ValueError(f"batch_size must be <= the number of examples ({train.n}), "
                         f"got {batch_size}")
    seed = resolve_seed(seed)
    seeds, batches, windows = _window_batches(seed, n_windows, horizon, train.n, batch_size)
    # spawned after the minibatch seeds (SeedSequence.spawn keeps the prefix unchanged)
    lanczos_seeds = (slq_run_seeds(seed, n_windows * (horizon + 1))[n_windows * horizon:]
                     if method == "lanczos" else None)
    rows, bounds, conv, n_hvp = [], [], [], 0
    s0 = state.detach().to(device=f.device, dtype=dtype)
    for r, window in enumerate(tqdm(windows, desc=f"horizon {horizon}", unit="window",
                                    leave=False,
                                    disable=None if progress is None else not progress)):
        fns = [gradient_function(f, *train.take(mb.indices)) for mb in window]
        res = trajectory_exponents(
            update, s0, fns, method=method, top=top, n_steps=n_steps, tol=tol,
            seed=None if lanczos_seeds is None else lanczos_seeds[r],
            describe=f.parameter_of, labels=[mb.label() for mb in window])
        rows.append(res.exponents)
        bounds.append(res.error_bound)
        conv.append(res.converged)
        n_hvp += res.n_hvp
    values = np.stack(rows)
    with np.errstate(invalid="ignore"):
        mean = values.mean(axis=0)
    return HorizonSharpness(
        horizon=horizon, method=method, exponents=mean, stderr=_stderr(values),
        window_exponents=values,
        dimension=sharpness_dimension(mean) if method == "dense" else None,
        error_bounds=tuple(float(b) for b in bounds), converged=tuple(conv), seed=seed,
        batch_seeds=tuple(seeds), batch_index_hashes=tuple(b.index_hash for b in batches),
        lanczos_seeds=lanczos_seeds, state_dim=int(s0.numel()), n_hvp=int(n_hvp),
        seconds=time.perf_counter() - t0,
    )



def estimate_with_horizon(f, data, thetas, update, updates, states, setting, notes, *,
                          horizon: int, dtype, progress, t_start) -> SharpnessEstimate:
    """The ``horizon > 1`` branch of :func:`sharpdim.estimate_sharpness` (``method="exact"``).

    ``setting["n_batches"]`` windows per point, each of ``horizon`` minibatches; the profiles
    ``(R, P, S)`` are aggregated like one-step profiles (``"mean"`` or ``"sup"`` over points).
    No Hessian is examined (its summaries are ``None``); ``residuals`` are the certified
    per-window error bounds of the exponents.
    """
    R, P = setting["n_batches"], len(thetas)
    if updates is None:  # jacobian="gd" with plain SGD: the same map I − η(H + κI)
        if not isinstance(update, SGDUpdate):
            raise ValueError("jacobian='gd' with horizon > 1 needs plain SGD")
        updates, states = (update,) * P, thetas
    seeds, batches, windows = _window_batches(setting["seed"], R, horizon, data.n,
                                              setting["batch_size"])
    z = np.empty((R, P, int(states[0].numel())))
    residuals, n_hvp = [], 0
    # the one-step "gd" caveat (weight decay ignored) does not apply: these are the map's own
    # Jacobians, weight decay included
    notes = [n for n in notes if not n.startswith("jacobian='gd' applies")]
    full_batch = setting["batch_size"] == data.n
    if full_batch and R > 1:
        notes.append("batch_size equals the number of examples: every window is the same "
                     "full-batch GD trajectory, so it was computed once")
    for r, window in enumerate(tqdm(windows, desc=f"horizon {horizon}", unit="window",
                                    leave=False,
                                    disable=None if progress is None else not progress)):
        if full_batch and r > 0:
            z[r] = z[0]
            residuals.append(residuals[0])
            continue
        fns = [gradient_function(f, *data.take(mb.indices)) for mb in window]
        worst = 0.0
        for p in range(P):
            try:
                res = trajectory_exponents(updates[p], states[p].detach().to(dtype), fns,
                                           describe=f.parameter_of,
                                           labels=[mb.label() for mb in window])
            except NonFiniteError as err:
                raise NonFiniteError(f"window {r}, point {p}: {err}", batch=err.batch,
                                     parameter=err.parameter) from err
            z[r, p] = res.exponents
            worst = max(worst, res.error_bound)
            n_hvp += res.n_hvp
        residuals.append(worst)
    lam = aggregate_profiles(z, setting["aggregate"])
    pooled = (sharpness_dimension(z.ravel(), pooled_weights(R, P, z.shape[2]))
              if setting["aggregate"] == "mean" else None)
    se = _stderr(z.reshape(R, -1)) if P == 1 and not full_batch else None
    if setting["weight_decay"]:
        notes.append(f"horizon {horizon}: the step Jacobians include the weight decay "
                     f"{setting['weight_decay']:g} (I − η(H + κI) for SGD)")
    notes.append(
        f"horizon {horizon}: (1/k)·ln σ_i of the {horizon}-step product of update Jacobians "
        f"along the trajectory (state advanced), {R} windows; window r, step t uses "
        "batch_seeds[t·R + r]"
        + (f"; stderr of λ_1 over windows {float(se[0]):.3g}" if se is not None else ""))
    setting = dict(setting, batch_seeds=tuple(seeds),
                   batch_index_hashes=tuple(b.index_hash for b in batches))
    bound = float(max(residuals)) if residuals else 0.0
    sampling = float(np.mean(se)) if se is not None else 0.0
    cond = conditioning(
        lam, tolerance=bound + sampling,
        tolerance_kind=(f"certified product-QR bound max_r −ln(1 − ‖F‖₂)/k = {bound:.3g} + mean "
                        f"standard error over windows = {sampling:.3g} (our choice)"),
    )
    diagnostics = EstimateDiagnostics(
        **setting, bandwidth=None, n_bins=None, residuals=tuple(residuals),
        residual_kind="certified bound on |(1/k) ln σ_i − computed| of the product QR "
                      "iteration, −ln(1 − ‖F‖₂)/k (rounding not included)",
        trace_stderr=None, pooled_dimension=pooled, histogram_dimension=None,
        n_hvp=int(n_hvp), seconds=time.perf_counter() - t_start, notes=tuple(notes),
        horizon=horizon, conditioning=cond,
    )
    return SharpnessEstimate(
        dimension=sharpness_dimension(lam), lambda_1=float(lam[0]), sharpness=lam,
        measure=None, curvature_measure=None, top_eigenvalue=None, bottom_eigenvalue=None,
        trace=None, diagnostics=diagnostics,
    )
