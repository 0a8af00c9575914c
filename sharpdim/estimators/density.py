"""Density estimators of the sharpness dimension: SD-SLQ, SD-KDE and SD-PS (PAPER_NOTES §5).

Run ``i`` takes minibatch ``i`` (held fixed) and its Rademacher probe and runs ``m`` Lanczos
steps with full re-orthogonalization on the symmetric operator ``A_i``:

* ``jacobian="gd"``: ``A_i = H_i``, the minibatch Hessian (size ``N``); the log singular
  value of the GD Jacobian along eigenvalue ``α`` is ``g(α) = ln(|1 − ηα| + ε)``;
* ``jacobian="update"``: ``A_i = J_iᵀJ_i`` for the optimizer step's Jacobian ``J_i`` (size
  ``S``: ``N``, ``2N`` or ``3N``); its eigenvalues are ``σ²`` and ``g(s) = ln(√s⁺ + ε)``.

The runs' Gauss quadratures pooled, ``μ = (S/R) Σ_i Σ_ℓ ω̃_iℓ δ_{θ̃_iℓ}`` (mass ``S``), estimate
the expected spectral measure of ``A``. With ``aggregate="mean"`` (points pooled too):

* **slq** — weighted SD of the push-forward ``g_# μ`` (its atoms; the paper's histogram of it
  is kept as ``histogram_dimension``);
* **kde** — weighted SD of the Gaussian-KDE of ``g_# μ`` (smoothing in ``ln σ``), integrated
  by the trapezoidal rule on its grid;
* **ps** — ``M`` equal-mass quantiles of the Gaussian-smoothed ``μ`` (smoothing in ``α`` or
  ``σ²``), mapped through ``g``: the pseudo-spectrum.

The kernel width defaults to Silverman's robust rule in the smoothed variable
(:func:`sharpdim.curvature.spectral_measure.robust_bandwidth`, which says why not the
normal-reference rule).

With ``aggregate="sup"`` (several points, the definition's order-by-order sup) each run's
push-forward at each point is turned into its ``M`` quantiles ``Q_ip(r)``; ``max_p`` per
level ``r``, then the mean over runs gives ``M`` atoms of mass ``S/M``; slq uses them as they
are, kde their Gaussian KDE and ps the quantiles of their Gaussian-smoothed distribution.

The probe of run ``i`` is drawn after its minibatch from the same generator (the protocol of
:func:`~sharpdim.curvature.slq.slq_spectral_measure`) and is shared by all points.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from sharpdim.curvature.functional import FlatLoss, NonFiniteError, batch_fingerprint
from sharpdim.curvature.hvp import hessian_stack
from sharpdim.curvature.lanczos import lanczos, lanczos_lockstep
from sharpdim.curvature.spectral_measure import (
    SpectralMeasure,
    gd_log_singular_value,
    robust_bandwidth,
)
from sharpdim.curvature.update_jacobian import UpdateJacobianOperator, gradient_function
from sharpdim.curvature.update_maps import UpdateMap
from sharpdim.dimension import sharpness_dimension
from sharpdim.estimators.data import Minibatch, TrainingData

__all__ = [
    "DENSITY_METHODS",
    "DEFAULT_EPSILON",
    "RunQuadrature",
    "slq_quadratures",
    "log_singular_value_map",
    "pooled_measure",
    "sup_quantile_measure",
    "DensityDimension",
    "density_dimension",
    "run_statistics",
]

DENSITY_METHODS = ("slq", "kde", "ps")

DEFAULT_EPSILON = 1e-6
"""``ε`` in ``ln(σ + ε)`` for density methods: keeps ``g`` finite at a Ritz value with
``σ = 0`` (``g ≥ ln ε ≈ −13.8``) and moves any ``ln σ`` by ``≤ ε/σ`` (``≤ 10⁻³`` for
``σ ≥ 10⁻³``)."""

_BASIS_BUDGET = 2**30  # bytes of Lanczos basis per lockstep group


@dataclass(frozen=True)
class RunQuadrature:
    """One run at one point: Ritz ``nodes`` (ascending) and ``weights`` (sum 1) of ``A_i``;
    ``residual`` the larger Lanczos residual of the two extreme Ritz pairs; ``n_hvp`` loss
    Hessian-vector products spent."""

    nodes: np.ndarray
    weights: np.ndarray
    residual: float
    n_hvp: int


def _probe(mb: Minibatch, size: int) -> np.ndarray:
    # consumes the generator of a fresh Minibatch: draw once per run, share across points
    return mb.rng.integers(0, 2, size=size).astype(np.float64) * 2 - 1


def _run_quadrature(res, n_hvp: int) -> RunQuadrature:
    r = res.residual_norms
    return RunQuadrature(res.ritz_values.copy(), res.ritz_weights.copy(),
                         float(max(r[0], r[-1])), int(n_hvp))


def _group_size(n_runs: int, n_steps: int, size: int, dtype: torch.dtype) -> int:
    per_run = n_steps * size * torch.empty((), dtype=dtype).element_size()
    return int(max(1, min(n_runs, 16, _BASIS_BUDGET // max(per_run, 1))))


def slq_quadratures(
    f: FlatLoss,
    data: TrainingData,
    batches: Sequence[Minibatch],
    *,
    thetas: Sequence[torch.Tensor],
    jacobian: str,
    n_steps: int,
    dtype: torch.dtype,
    updates: Sequence[UpdateMap] | None = None,
    states: Sequence[torch.Tensor] | None = None,
    progress: bool | None = None,
) -> list[list[RunQuadrature]]:
    """Lanczos quadratures ``[run][point]`` of ``H_i`` (``"gd"``) or ``J_iᵀJ_i``
    (``"update"``) for the given minibatches at every point.

    ``batches`` must be fresh (:func:`~sharpdim.estimators.data.minibatch`): the probe of each
    run is drawn from its generator here.
    """
    R, P = len(batches), len(thetas)
    size = f.n_params if jacobian == "gd" else int(states[0].numel())
    probes = [_probe(mb, size) for mb in batches]
    out: list[list[RunQuadrature]] = [[None] * P for _ in range(R)]  # type: ignore[list-item]
    bar = tqdm(total=R * P, desc=f"SLQ ({jacobian})", unit="run", disable=_disable(progress),
               leave=False)
    try:
        if jacobian == "gd":
            group = _group_size(R, n_steps, size, dtype)
            for a in range(0, R, group):
                b = min(R, a + group)
                mbs = [data.take(batches[i].indices) for i in range(a, b)]
                V0 = torch.as_tensor(np.stack(probes[a:b]), dtype=dtype, device=f.device)
                for p, theta in enumerate(thetas):
                    try:
                        stack = hessian_stack(f, theta, mbs, dtype=dtype)
                    except NonFiniteError as err:
                        raise _named(err, batches, a, b, p, mbs) from err
                    results = lanczos_lockstep(stack.apply, V0, n_steps)
                    for i, res in zip(range(a, b), results, strict=True):
                        out[i][p] = _run_quadrature(res, res.n_hvp)
                    bar.update(b - a)
        else:
            for i, mb in enumerate(batches):
                inputs, targets = data.take(mb.indices)
                grad_fn = gradient_function(f, inputs, targets)
                v0 = torch.as_tensor(probes[i], dtype=dtype, device=f.device)
                for p, (update, state) in enumerate(zip(updates, states, strict=True)):
                    try:
                        f.loss_and_gradient(thetas[p].to(dtype), inputs, targets)
                    except NonFiniteError as err:
                        raise _named(err, batches, i, i + 1, p) from err
                    J = UpdateJacobianOperator(update, state.detach().to(dtype), grad_fn,
                                               describe=f.parameter_of, batch=mb.label())
                    res = lanczos(J.gram(), v0, n_steps)
                    out[i][p] = _run_quadrature(res, J.n_hvp)
                    bar.update(1)
    finally:
        bar.close()
    return out


def _disable(progress: bool | None) -> bool | None:
    return None if progress is None else not progress  # None: tqdm hides it off a terminal


def _named(err: NonFiniteError, batches: Sequence[Minibatch], a: int, b: int, p: int,
           tensors: Sequence | None = None) -> NonFiniteError:
    """Prefix the error with the minibatch it came from (found by its content hash)."""
    which = f"minibatches {a}..{b - 1} (batch seeds {batches[a].seed}…{batches[b - 1].seed})"
    if b == a + 1:
        which = batches[a].label()
    elif tensors is not None:
        hits = [i for i, (x, y) in zip(range(a, b), tensors, strict=True)
                if batch_fingerprint(x, y) in str(err.batch)]
        if hits:
            which = batches[hits[0]].label()
    return NonFiniteError(f"{which}, point {p}: {err}", batch=err.batch,
                          parameter=err.parameter)


def log_singular_value_map(jacobian: str, *, lr: float, eps: float) -> Callable:
    """``g``: Ritz value ↦ log singular value, ``ln(|1 − ηα| + ε)`` for ``"gd"`` and
    ``ln(√max(s, 0) + ε)`` for ``"update"`` (``s = σ²``; rounding can make ``s`` slightly
    negative)."""
    if jacobian == "gd":
        def g(alpha):
            return gd_log_singular_value(alpha, lr=lr, eps=eps)
        g.__name__ = f"ln(|1 - {lr:g}·α| + {eps:g})"
        return g

    def g_update(s):
        with np.errstate(divide="ignore"):
            return np.log(np.sqrt(np.maximum(np.asarray(s, dtype=np.float64), 0.0)) + eps)
    g_update.__name__ = f"ln(√s + {eps:g})"
    return g_update


def pooled_measure(quads: list[list[RunQuadrature]], size: int) -> SpectralMeasure:
    """``(S / (R·P)) Σ_i Σ_p Σ_ℓ ω̃ δ_θ̃``: all runs and points pooled, total mass ``S``."""
    R, P = len(quads), len(quads[0])
    nodes = np.concatenate([q.nodes for row in quads for q in row])
    weights = np.concatenate([q.weights for row in quads for q in row]) * (size / (R * P))
    run_ids = np.concatenate([np.full(q.nodes.size, i) for i, row in enumerate(quads)
                              for q in row])
    return SpectralMeasure(nodes, weights, run_ids, {"n_runs": R, "n_points": P})


def sup_quantile_measure(quads: list[list[RunQuadrature]], g: Callable, size: int,
                         n_quantiles: int) -> SpectralMeasure:
    """Order-by-order sup over points of each run's ``M`` quantiles of ``g_#`` (its
    quadrature), averaged over runs: ``M`` atoms of mass ``S/M`` on ``ln σ``."""
    levels = []
    for row in quads:
        per_point = [
            SpectralMeasure(g(q.nodes), q.weights * size).pseudo_spectrum(
                n_quantiles, bandwidth=0).nodes
            for q in row
        ]
        levels.append(np.max(per_point, axis=0))
    q = np.mean(levels, axis=0)
    return SpectralMeasure(q, np.full(n_quantiles, size / n_quantiles),
                           diagnostics={"view": "sup of per-run quantiles"})


@dataclass(frozen=True)
class DensityDimension:
    """SD of one density view: ``dimension``, the weighted ``measure`` on ``ln σ`` it came
    from, the kernel ``bandwidth`` used (``None`` for slq) and the paper's histogram SD
    (``histogram_dimension``, slq only)."""

    dimension: float
    measure: SpectralMeasure
    bandwidth: float | None
    histogram_dimension: float | None


def density_dimension(
    method: str,
    base: SpectralMeasure,
    g: Callable,
    *,
    aggregate: str,
    n_quantiles: int,
    bandwidth: float | None = None,
    n_bins: int = 100,
) -> DensityDimension:
    """The SD-SLQ / SD-KDE / SD-PS view of ``base`` (see the module docstring).

    For ``aggregate="mean"`` ``base`` is the pooled measure of ``α`` (or ``σ²``); for
    ``"sup"`` it is already on ``ln σ`` (:func:`sup_quantile_measure`).
    """
    if method not in DENSITY_METHODS:
        raise ValueError(f"method must be one of {DENSITY_METHODS}, got {method!r}")
    on_log = base if aggregate == "sup" else base.push_forward(g)

    def width(measure: SpectralMeasure) -> float:
        return robust_bandwidth(measure.nodes, measure.weights) if bandwidth is None \
            else bandwidth

    if method == "slq":
        hist = on_log.histogram(n_bins).as_measure()
        return DensityDimension(
            sharpness_dimension(on_log.nodes, on_log.weights), on_log, None,
            sharpness_dimension(hist.nodes, hist.weights),
        )
    if method == "kde":
        grid = on_log.gaussian_kde(bandwidth=width(on_log))
        measure = grid.as_measure()
        return DensityDimension(sharpness_dimension(measure.nodes, measure.weights), measure,
                                float(grid.bandwidth), None)
    source = on_log if aggregate == "sup" else base
    pseudo = source.pseudo_spectrum(n_quantiles, bandwidth=width(source))
    measure = pseudo if aggregate == "sup" else pseudo.push_forward(g)
    return DensityDimension(sharpness_dimension(measure.nodes, measure.weights), measure,
                            float(pseudo.diagnostics["bandwidth"]), None)


def run_statistics(quads: list[list[RunQuadrature]], g: Callable, size: int,
                   aggregate: str) -> dict:
    """Per-run summaries: ``λ_1`` (mean over runs of the largest ``g`` per run, max or mean
    over points), extreme Ritz values, and ``S Σ ω̃θ̃`` (Hutchinson samples of the trace)."""
    top = np.array([[q.nodes[-1] for q in row] for row in quads])
    bottom = np.array([[q.nodes[0] for q in row] for row in quads])
    first = np.array([[size * float(q.weights @ q.nodes) for q in row] for row in quads])
    lam1 = np.array([[float(np.max(g(q.nodes))) for q in row] for row in quads])
    per_run_lam1 = lam1.max(axis=1) if aggregate == "sup" else lam1.mean(axis=1)
    per_run_trace = first.mean(axis=1)
    R = len(quads)
    return {
        "lambda_1": float(per_run_lam1.mean()),
        "top": float(top.mean()),
        "bottom": float(bottom.mean()),
        "trace": float(per_run_trace.mean()),
        "trace_stderr": float(per_run_trace.std(ddof=1) / np.sqrt(R)) if R > 1 else None,
        "residuals": tuple(float(max(q.residual for q in row)) for row in quads),
        "n_hvp": int(sum(q.n_hvp for row in quads for q in row)),
    }
