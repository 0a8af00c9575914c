"""Stochastic Lanczos quadrature (SLQ) of minibatch Hessians, exactly as docs/theory.md §5.

Run ``i = 1..R``: draw a fresh minibatch (``batch_size`` distinct examples; its Hessian
``H_i`` is held fixed within the run) and a Rademacher probe ``v_i``; ``m`` Lanczos steps with
full re-orthogonalization from ``q_1 = v_i / √N`` give Ritz values ``α̃_iℓ`` and weights
``ω̃_iℓ``. The estimate of the expected spectral measure is

    μ = (N / R) Σ_i Σ_ℓ ω̃_iℓ δ_{α̃_iℓ},      total mass N,

and ``Σ_ℓ ω̃_iℓ α̃_iℓ^p = q_1ᵀ H_i^p q_1`` for ``p ≤ 2m − 1`` (Gauss quadrature), so the
``p``-th moment of ``μ`` is the average of Hutchinson estimates of ``tr H_i^p``.

Randomness: run ``i`` uses ``numpy.random.default_rng(run_seeds[i])`` with
``run_seeds = slq_run_seeds(seed, R)``; it draws the minibatch indices first, then the probe,
so any single run is reproducible on its own. Runs are grouped ``lockstep`` at a time: their
Hessians are stacked (:class:`~sharpdim.curvature.hvp.HessianStack`) so one double backward
gives all their products, and their re-orthogonalizations are batched. Grouping changes only
the rounding, never which minibatch or probe a run gets.

One front end, :func:`slq_runs`, serves every SLQ in the package: this module's
:func:`slq_spectral_measure` (one point, a measure) and the density estimators of
:func:`sharpdim.estimate_sharpness` (several points; the Hessian or the update Jacobian's
``JᵀJ``). Its Hessian runs go through the one engine, :func:`lockstep_quadratures`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import torch

from sharpdim import _validate
from sharpdim.curvature.functional import FlatLoss, NonFiniteError
from sharpdim.curvature.hvp import hessian_stack
from sharpdim.curvature.lanczos import LanczosResult, lanczos, lanczos_lockstep, lanczos_plain
from sharpdim.curvature.minibatch import (
    Minibatch,
    draw_minibatch,
    indices_hash,
    minibatch,
    run_probe,
    slq_run_seeds,
)
from sharpdim.curvature.spectral_measure import SpectralMeasure
from sharpdim.curvature.update_jacobian import UpdateJacobianOperator, gradient_function
from sharpdim.curvature.update_maps import UpdateMap
from sharpdim.vocabulary import (
    JACOBIANS,
    REORTHOGONALIZATIONS,
    JacobianKind,
    Reorthogonalization,
    choice,
)

__all__ = [
    "slq_spectral_measure",
    "slq_runs",
    "SLQRuns",
    "slq_run_seeds",
    "draw_minibatch",
    "run_probe",
    "indices_hash",
    "lockstep_quadratures",
    "LazyMinibatches",
    "DEFAULT_REORTHOGONALIZATION",
]

DEFAULT_REORTHOGONALIZATION = "none"
"""Re-orthogonalization of SLQ's Lanczos runs: the plain three-term recurrence, no basis kept.

Chosen by data (``sharpdim bench curvature``, reports/benchmarks.md, "Re-orthogonalization"):
on the convergence-table spectra and on a 13k-parameter MLP (``m = 100 ≪ N``, float32 and
float64) the SD with ``"none"`` differs from the fully re-orthogonalized SD of the same
minibatches and probes by less than the SD's own spread over seeds (its statistical error).
The closest call is the planted-sparse case at ``m = N = 12``, where minibatch Hessians of rank
``≤ 8`` exhaust the Krylov space and the SD sits on a large neutral mass; ``"partial"`` differs
more than ``"none"`` there. Gauss quadrature of smooth functions stays accurate without
re-orthogonalization (Knizhnerman 1996): ghost copies of converged Ritz values share the
original's weight, and the trace (degree 1) is unchanged. ``"none"`` saves the basis
(``m·N`` numbers per run) and the ``Θ(m²N)`` Gram–Schmidt, 0.3–0.8 HVP per step at 13k–280k
parameters; ``"partial"`` (Simon) re-orthogonalized 96 of 100 steps at 280k in float32, so it
costs about as much as ``"full"``. Pass ``"full"`` where ``m`` approaches the rank of the
minibatch Hessians."""

_BASIS_BUDGET = 2**30  # bytes of Lanczos basis per lockstep group when lockstep=None
_STACK_MAX_PARAMS = 100_000
"""On a CPU, runs in lockstep share one stacked (vmapped) graph only up to this many
parameters; above it each run keeps its own graph (their recurrences still advance together).
Measured (``sharpdim bench curvature``, one thread, batch 128): a stacked product per run costs
0.45 gradients against 0.69 for a run's own graph at 13k parameters, but 1.46 against 1.35 at
280k, where the batched matrix products of the vmapped graph lose to plain ones."""


class LazyMinibatches(Sequence):
    """Minibatch tensors ``take(indices[i])`` formed only when a group asks for them (a sweep's
    ``R`` minibatches need not fit in memory together)."""

    def __init__(self, take, indices) -> None:
        self._take, self._indices = take, list(indices)

    def __len__(self) -> int:
        return len(self._indices)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._take(ix) for ix in self._indices[i]]
        return self._take(self._indices[i])


def lockstep_quadratures(
    f: FlatLoss,
    theta: torch.Tensor,
    minibatches,
    probes: np.ndarray,
    n_steps: int,
    *,
    dtype: torch.dtype,
    lockstep: int | None = None,
    on_error=None,
    on_group=None,
    reorthogonalize: Reorthogonalization = DEFAULT_REORTHOGONALIZATION,
) -> tuple[list, set[str], set[str]]:
    """The one SLQ engine: Lanczos runs ``i`` on the minibatch Hessians ``H_i`` at ``theta``
    from the probes ``probes[i]`` (``R × N``), ``lockstep`` runs per group (default: up to 16,
    keeping each group's basis ``≤ 1 GiB``, when their Hessians stack — always on a GPU, up
    to :data:`_STACK_MAX_PARAMS` parameters on a CPU —, else 1) whose Hessians are stacked
    (:func:`~sharpdim.curvature.hvp.hessian_stack`) and re-orthogonalized together.

    Returns the per-run :class:`~sharpdim.curvature.lanczos.LanczosResult` list, the set of
    stacking strategies used and the set of reasons a group fell back to one graph per run.
    ``on_error(err, a, b)`` turns a ``NonFiniteError`` in runs ``a..b−1`` into the exception
    to raise (default: prefixed with the run range);
    ``on_group(a, b)`` is called after each group (progress). ``minibatches[a:b]`` gives the
    ``(inputs, targets)`` of runs ``a..b−1`` (:class:`LazyMinibatches` forms them per group).
    Grouping changes only the rounding, never which minibatch or probe a run gets.
    ``reorthogonalize``: ``"full"``, ``"partial"`` or ``"none"``
    (:data:`DEFAULT_REORTHOGONALIZATION`; see :func:`~sharpdim.curvature.lanczos.lanczos`).
    Non-finite products are detected through the Lanczos scalars and only then located
    (:meth:`~sharpdim.curvature.hvp.HessianStack.check_products`).
    """
    reorthogonalize = choice("reorthogonalize", reorthogonalize, REORTHOGONALIZATIONS)
    R, N = len(minibatches), int(probes.shape[1])
    group = _group_size(lockstep, R, n_steps, N, dtype, theta.device)
    results, strategies, fallbacks = [], set(), set()
    for a in range(0, R, group):
        b = min(R, a + group)
        V0 = torch.as_tensor(np.asarray(probes[a:b]), dtype=dtype, device=theta.device)
        tensors = list(minibatches[a:b])
        try:
            stack = hessian_stack(f, theta, tensors, dtype=dtype,
                                  stacked=_stacks(theta.device, N))
            if stack.strategy == "per-run" and reorthogonalize == "none":
                # nothing is batched across the runs (one graph each, no basis): advancing
                # them one at a time takes the single-run recurrence, which has no per-row
                # bookkeeping (280k parameters, 8 runs: 1.24 → 1.09 of the bare products when
                # it came in; reports/benchmarks.md has today's figure)
                group_results = tuple(
                    lanczos_plain(partial(stack.run_product, i), V0[i], n_steps, inplace=True,
                                  check=lambda u, w, i=i, stack=stack:
                                  stack.check_run_product(i, w))
                    for i in range(b - a))
            else:
                group_results = lanczos_lockstep(
                    lambda Q, stack=stack: stack.apply(Q, check=False), V0, n_steps,
                    reorthogonalize=reorthogonalize, check=stack.check_products, inplace=True)
        except NonFiniteError as err:
            if on_error is not None:
                raise on_error(err, a, b) from err
            raise NonFiniteError(f"SLQ runs {a}..{b - 1}: {err}", batch=err.batch,
                                 parameter=err.parameter) from err
        results.extend(group_results)
        strategies.add(stack.strategy)
        if stack.fallback is not None:
            fallbacks.add(stack.fallback)
        if on_group is not None:
            on_group(a, b)
    return results, strategies, fallbacks


@dataclass(frozen=True)
class SLQRuns:
    """What :func:`slq_runs` returns: ``results[p][i]``, the Lanczos run ``i`` at point ``p``;
    ``group``, the runs per lockstep group (1 for ``jacobian="update"``); the stacking
    ``strategies`` used and the ``fallbacks`` (reasons a group kept one graph per run), each
    sorted. Pickles and serializes (:func:`sharpdim._serialize.jsonable`)."""

    results: tuple[tuple[LanczosResult, ...], ...]
    group: int
    strategies: tuple[str, ...]
    fallbacks: tuple[str, ...]


def slq_runs(
    f: FlatLoss,
    thetas: Sequence[torch.Tensor],
    batches: Sequence[Minibatch],
    take: Callable[[np.ndarray], tuple],
    n_steps: int,
    *,
    dtype: torch.dtype,
    jacobian: JacobianKind = "gd",
    updates: Sequence[UpdateMap] | None = None,
    states: Sequence[torch.Tensor] | None = None,
    lockstep: int | None = None,
    on_error: Callable[[NonFiniteError, int, int, int], Exception] | None = None,
    on_group: Callable[[int, int], None] | None = None,
    reorthogonalize: Reorthogonalization = DEFAULT_REORTHOGONALIZATION,
) -> SLQRuns:
    """The one SLQ front end: run ``i`` takes minibatch ``batches[i]`` (``take(indices)`` gives
    its ``(inputs, targets)``) and its probe ``batches[i].probe(S)``, the same at every point
    ``thetas[p]``, and runs ``n_steps`` Lanczos steps on

    * ``jacobian="gd"``: the minibatch Hessian ``H_i`` (``S = N``), through the one engine
      :func:`lockstep_quadratures` (``lockstep`` runs per group);
    * ``jacobian="update"``: ``J_iᵀJ_i``, ``J_i`` the Jacobian of the step of ``updates[p]``
      at the flat optimizer state ``states[p]`` (``S`` its size), one run at a time; each
      result's ``n_hvp`` counts loss Hessian-vector products (two per product of ``JᵀJ``).

    ``on_error(err, a, b, p)`` turns a ``NonFiniteError`` in runs ``a..b−1`` at point ``p``
    into the exception to raise; ``on_group(a, b)`` is called after runs ``a..b−1`` (at each
    point: progress). ``reorthogonalize``: as in :func:`lockstep_quadratures`.
    """
    jacobian = choice("jacobian", jacobian, JACOBIANS)
    reorthogonalize = choice("reorthogonalize", reorthogonalize, REORTHOGONALIZATIONS)
    for name, items in (("thetas", thetas), ("batches", batches)):
        if len(items) == 0:
            raise ValueError(f"{name} must hold at least one entry, got none")
    size = f.n_params if jacobian == "gd" or states is None else int(states[0].numel())
    n_steps = _validate.integer("n_steps", n_steps, minimum=1, maximum=size)  # the size S
    if jacobian == "gd":
        return _hessian_runs(f, thetas, batches, take, n_steps, dtype=dtype, lockstep=lockstep,
                             on_error=on_error, on_group=on_group,
                             reorthogonalize=reorthogonalize)
    if updates is None or states is None or not len(updates) == len(states) == len(thetas):
        raise ValueError(f"jacobian='update' must come with one update map and one state per "
                         f"point, got {len(thetas)} points, "
                         f"{None if updates is None else len(updates)} maps and "
                         f"{None if states is None else len(states)} states")
    return _update_runs(f, thetas, batches, take, n_steps, dtype=dtype, updates=updates,
                        states=states, on_error=on_error, on_group=on_group,
                        reorthogonalize=reorthogonalize)


def _hessian_runs(f, thetas, batches, take, n_steps, *, dtype, lockstep, on_error, on_group,
                  reorthogonalize) -> SLQRuns:
    probes = np.stack([mb.probe(f.n_params) for mb in batches])
    tensors = LazyMinibatches(take, [mb.indices for mb in batches])
    group = _group_size(lockstep, len(batches), n_steps, f.n_params, dtype, thetas[0].device)
    results, strategies, fallbacks = [], set(), set()
    for p, theta in enumerate(thetas):
        named = None if on_error is None else partial(_at_point, on_error, p=p)
        runs, used, fell_back = lockstep_quadratures(
            f, theta, tensors, probes, n_steps, dtype=dtype, lockstep=group,
            on_error=named, on_group=on_group, reorthogonalize=reorthogonalize)
        results.append(tuple(runs))
        strategies |= used
        fallbacks |= fell_back
    return SLQRuns(tuple(results), group, tuple(sorted(strategies)), tuple(sorted(fallbacks)))


def _at_point(on_error, err: NonFiniteError, a: int, b: int, *, p: int) -> Exception:
    return on_error(err, a, b, p)


def _update_runs(f, thetas, batches, take, n_steps, *, dtype, updates, states, on_error,
                 on_group, reorthogonalize) -> SLQRuns:
    size = int(states[0].numel())
    results: list[list[LanczosResult]] = [[] for _ in thetas]
    for i, mb in enumerate(batches):
        inputs, targets = take(mb.indices)
        grad_fn = gradient_function(f, inputs, targets)
        v0 = torch.as_tensor(mb.probe(size), dtype=dtype, device=f.device)
        for p, (update, state) in enumerate(zip(updates, states, strict=True)):
            try:   # a non-finite loss or gradient is found (and named) before any product
                f.loss_and_gradient(thetas[p].to(dtype), inputs, targets)
            except NonFiniteError as err:
                if on_error is None:
                    raise
                raise on_error(err, i, i + 1, p) from err
            J = UpdateJacobianOperator(update, state.detach().to(dtype), grad_fn,
                                       describe=f.parameter_of, batch=mb.label())
            res = lanczos(J.gram(), v0, n_steps, reorthogonalize=reorthogonalize)
            results[p].append(replace(res, n_hvp=int(J.n_hvp)))
            if on_group is not None:
                on_group(i, i + 1)
    return SLQRuns(tuple(map(tuple, results)), 1, (), ())


def _take(x, idx: torch.Tensor):
    if isinstance(x, tuple | list):
        return type(x)(t[idx] for t in x)
    return x[idx]


def _data(data) -> tuple[object, torch.Tensor, int]:
    if hasattr(data, "tensors") and len(data.tensors) == 2:  # torch TensorDataset
        data = data.tensors
    if not isinstance(data, tuple | list) or len(data) != 2:
        raise TypeError(
            f"data must be (inputs, targets) tensors or a TensorDataset, got {type(data).__name__}"
        )
    inputs, targets = data
    first = inputs[0] if isinstance(inputs, tuple | list) else inputs
    if not isinstance(first, torch.Tensor) or not isinstance(targets, torch.Tensor):
        raise TypeError("data must hold torch tensors (inputs, targets)")
    n = int(first.shape[0]) if first.ndim else 0
    if n == 0:
        raise ValueError("data must contain at least one example, got an empty dataset")
    if int(targets.shape[0]) != n:
        raise ValueError(f"inputs and targets must have the same length, got {n} and "
                         f"{int(targets.shape[0])}")
    return inputs, targets, n


def _stacks(device: torch.device, N: int) -> bool:
    """Whether runs in lockstep share one stacked graph (see :data:`_STACK_MAX_PARAMS`)."""
    return device.type != "cpu" or N <= _STACK_MAX_PARAMS


def _group_size(lockstep, n_runs: int, n_steps: int, N: int, dtype: torch.dtype,
                device: torch.device) -> int:
    """Runs per lockstep group: ``lockstep`` if given; else up to 16 whose basis fits in
    :data:`_BASIS_BUDGET` when their Hessians stack, and 1 when they would not (each run on
    its own graph gains nothing from advancing with others, and 8 such runs in lockstep
    measured 5.2 s against 5.6 s stacked at 280k parameters, while runs one at a time cost
    about their bare products: the goal rows of reports/benchmarks.md)."""
    if lockstep is None and not _stacks(device, N):
        return 1
    if lockstep is None:
        per_run = n_steps * N * torch.empty((), dtype=dtype).element_size()
        return int(max(1, min(n_runs, 16, _BASIS_BUDGET // max(per_run, 1))))
    return min(_validate.integer("lockstep", lockstep, minimum=1), n_runs)


def slq_spectral_measure(
    f: FlatLoss,
    theta: torch.Tensor,
    data,
    *,
    n_runs: int,
    n_steps: int,
    batch_size: int,
    seed: int,
    lockstep: int | None = None,
    dtype: torch.dtype | None = None,
    reorthogonalize: Reorthogonalization = DEFAULT_REORTHOGONALIZATION,
) -> SpectralMeasure:
    """SLQ estimate of the expected minibatch-Hessian spectral measure at ``θ`` (total mass
    ``N``), from ``n_runs`` runs of ``n_steps`` Lanczos steps on fresh minibatches of
    ``batch_size`` examples of ``data = (inputs, targets)``.

    ``lockstep`` runs per group (default: as in :func:`lockstep_quadratures`);
    ``1`` runs them one after another. ``dtype`` (default ``θ``'s) is the precision of the
    products and the Lanczos vectors; ``reorthogonalize`` the Lanczos mode
    (:data:`DEFAULT_REORTHOGONALIZATION`). ``diagnostics`` records ``seed``, ``run_seeds``, the
    minibatch index hashes, per-run steps and breakdowns, HVP counts and seconds (total, in
    products, in re-orthogonalization), the stacking strategy, dtype, device and mode flags.
    """
    if not isinstance(f, FlatLoss):
        raise TypeError(f"f must be a FlatLoss (see flat_loss), got {type(f).__name__}")
    N = f.n_params
    if not isinstance(theta, torch.Tensor) or theta.shape != (N,):
        raise ValueError(f"theta must be a tensor of shape ({N},), got "
                         f"{getattr(theta, 'shape', type(theta).__name__)}")
    inputs, targets, n = _data(data)
    n_runs = _validate.integer("n_runs", n_runs, minimum=1)
    n_steps = _validate.integer("n_steps", n_steps, minimum=1, maximum=N)      # parameters
    batch_size = _validate.integer("batch_size", batch_size, minimum=1, maximum=n)  # examples
    seed = _validate.integer("seed", seed, minimum=0)
    dtype = theta.dtype if dtype is None else dtype
    group = _group_size(lockstep, n_runs, n_steps, N, dtype, theta.device)
    reorthogonalize = choice("reorthogonalize", reorthogonalize, REORTHOGONALIZATIONS)

    run_seeds = slq_run_seeds(int(seed), n_runs)
    batches = [minibatch(i, s, n, batch_size) for i, s in enumerate(run_seeds)]
    device = _device_of(targets)

    def take(indices: np.ndarray) -> tuple:
        index = torch.as_tensor(indices, device=device)
        return _take(inputs, index), targets[index]

    def named(err: NonFiniteError, a: int, b: int, p: int) -> NonFiniteError:
        return NonFiniteError(f"SLQ runs {a}..{b - 1} (seed {seed}): {err}", batch=err.batch,
                              parameter=err.parameter)

    t0 = time.perf_counter()
    runs = slq_runs(f, [theta], batches, take, n_steps, dtype=dtype, lockstep=group,
                    on_error=named, reorthogonalize=reorthogonalize)
    (results,) = runs.results
    n_hvp = sum(r.n_hvp for r in results)
    # per group the seconds are shared by its runs: count each group once (its first run)
    firsts = range(0, n_runs, group)
    hvp_s = sum(results[i].hvp_seconds for i in firsts)
    reorth_s = sum(results[i].reorth_seconds for i in firsts)
    seconds = time.perf_counter() - t0

    nodes = np.concatenate([r.ritz_values for r in results])
    weights = np.concatenate([r.ritz_weights for r in results]) * (N / n_runs)
    run_ids = np.concatenate([np.full(r.n_steps, i) for i, r in enumerate(results)])
    diagnostics = {
        "method": "slq",
        "seed": int(seed),
        "run_seeds": run_seeds,
        "batch_index_hashes": tuple(b.index_hash for b in batches),
        "n_runs": n_runs,
        "n_steps": n_steps,
        "steps_per_run": tuple(r.n_steps for r in results),
        "breakdown_runs": tuple(i for i, r in enumerate(results) if r.breakdown),
        "max_residual_per_run": tuple(float(r.residual_norms.max()) for r in results),
        "batch_size": batch_size,
        "n_params": N,
        "lockstep": group,
        "strategy": "+".join(runs.strategies),
        "stacking_fallbacks": runs.fallbacks,
        "dtype": str(dtype).removeprefix("torch."),
        "device": str(theta.device),
        "train": f.train,
        "flags_dropout": f.flags.dropout,
        "flags_batch_norm": f.flags.batch_norm,
        "n_hvp": int(n_hvp),
        "seconds": seconds,
        "seconds_per_run": seconds / n_runs,
        "hvp_seconds": hvp_s,
        "reorth_seconds": reorth_s,
        "reorthogonalization": reorthogonalize,
        "reorthogonalized_steps_per_run": tuple(r.n_reorth for r in results),
    }
    return SpectralMeasure(nodes, weights, run_ids, diagnostics)


def _device_of(t: torch.Tensor) -> torch.device:
    return t.device
