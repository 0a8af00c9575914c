"""Density estimators of the sharpness dimension: SD-SLQ, SD-KDE and SD-PS (docs/theory.md §5).

Run ``i`` takes minibatch ``i`` (held fixed) and its Rademacher probe and runs ``m`` Lanczos
steps on the symmetric operator ``A_i`` (re-orthogonalization ``"none"`` by default, ``"full"``
or ``"partial"`` on request: :data:`sharpdim.curvature.slq.DEFAULT_REORTHOGONALIZATION` says
why):

* ``jacobian="gd"``: ``A_i = H_i``, the minibatch Hessian (size ``N``); the log singular
  value of the GD Jacobian ``I − η(H + κI)`` along eigenvalue ``α`` is
  ``g(α) = ln max(|1 − η(α + κ)|, ε)`` (``κ`` the weight decay; the paper's additive
  ``ln(|1 − ηα| + ε)`` with ``epsilon_form="additive"``);
* ``jacobian="update"``: ``A_i = J_iᵀJ_i`` for the optimizer step's Jacobian ``J_i`` (size
  ``S``: ``N``, ``2N`` or ``3N``); its eigenvalues are ``σ²`` and ``g(s) = ln max(√s⁺, ε)``.

The runs' Gauss quadratures pooled, ``μ = (S/R) Σ_i Σ_ℓ ω̃_iℓ δ_{θ̃_iℓ}`` (mass ``S``), estimate
the expected spectral measure of ``A`` (points pooled too):

* **slq** — weighted SD of the push-forward ``g_# μ`` (its atoms; the paper's histogram of it
  is kept as ``histogram_dimension``);
* **kde** — weighted SD of a Gaussian kernel density: of ``μ`` pushed through ``g``
  (``smoothing="curvature"``, the default and the paper's) or of ``g_# μ`` (``"log"``), both
  computed without a grid;
* **ps** — ``M`` equal-mass quantiles of the Gaussian-smoothed ``μ`` (``"curvature"``, the
  default and the paper's), mapped through ``g``, or of the smoothed ``g_# μ`` (``"log"``):
  the pseudo-spectrum.

The kernel width defaults to Silverman's robust rule in the smoothed variable
(:func:`sharpdim.curvature.spectral_measure.robust_bandwidth`, which says why not the
normal-reference rule); when all the mass sits on one value the width is 0 and every view is
the atoms' exact SD. :data:`DEFAULT_SMOOTHING` says why each default was chosen.

The probe of run ``i`` is drawn after its minibatch from the generator of the run's seed (the
protocol of :func:`~sharpdim.curvature.slq.slq_spectral_measure`, re-created from the seed by
:func:`~sharpdim.curvature.slq.run_probe`) and is shared by all points.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from sharpdim._numerics import EPSILON_FORMS, gd_log_singular_value, gram_log_singular_value
from sharpdim.curvature.functional import FlatLoss, NonFiniteError, batch_fingerprint
from sharpdim.curvature.slq import DEFAULT_REORTHOGONALIZATION, slq_runs
from sharpdim.curvature.spectral_measure import SpectralMeasure, robust_bandwidth
from sharpdim.curvature.update_maps import UpdateMap
from sharpdim.dimension import (
    gaussian_mixture_dimension,
    kaplan_yorke_decomposition,
    sharpness_dimension,
)
from sharpdim.estimators.data import Minibatch, TrainingData
from sharpdim.estimators.pushforward import curvature_kde_dimension
from sharpdim.vocabulary import (
    DENSITY_METHODS,
    SMOOTHINGS,
    Aggregate,
    EpsilonForm,
    JacobianKind,
    Method,
    Reorthogonalization,
    Smoothing,
    choice,
)

__all__ = [
    "DENSITY_METHODS",
    "DEFAULT_EPSILON",
    "RunQuadrature",
    "slq_quadratures",
    "log_singular_value_map",
    "pooled_measure",
    "DEFAULT_SMOOTHING",
    "CURVATURE_KDE_QUANTILES",
    "DensityDimension",
    "density_dimension",
    "run_statistics",
]

DEFAULT_EPSILON = 1e-6
"""``ε`` of the density methods: keeps ``g`` finite at a Ritz value with ``σ = 0``
(``g ≥ ln ε ≈ −13.8``). In the default clamp form ``ln max(σ, ε)`` it changes no value with
``σ ≥ ε``; in the paper's additive form ``ln(σ + ε)`` it moves every ``ln σ`` by ``≤ ε/σ``
(``+ε`` on each neutral value, so partial sums drift by ``≈ N·ε``)."""


@dataclass(frozen=True)
class RunQuadrature:
    """One run at one point: Ritz ``nodes`` (ascending) and ``weights`` (sum 1) of ``A_i``;
    ``residual`` the larger Lanczos residual of the two extreme Ritz pairs; ``n_hvp`` loss
    Hessian-vector products spent."""

    nodes: np.ndarray
    weights: np.ndarray
    residual: float
    n_hvp: int


def _run_quadrature(res) -> RunQuadrature:
    r = res.residual_norms
    return RunQuadrature(res.ritz_values.copy(), res.ritz_weights.copy(),
                         float(max(r[0], r[-1])), int(res.n_hvp))


def slq_quadratures(
    f: FlatLoss,
    data: TrainingData,
    batches: Sequence[Minibatch],
    *,
    thetas: Sequence[torch.Tensor],
    jacobian: JacobianKind,
    n_steps: int,
    dtype: torch.dtype,
    updates: Sequence[UpdateMap] | None = None,
    states: Sequence[torch.Tensor] | None = None,
    progress: bool | None = None,
    reorthogonalize: Reorthogonalization = DEFAULT_REORTHOGONALIZATION,
) -> list[list[RunQuadrature]]:
    """Lanczos quadratures ``[run][point]`` of ``H_i`` (``"gd"``) or ``J_iᵀJ_i``
    (``"update"``) for the given minibatches at every point, from the package's one SLQ
    front end, :func:`sharpdim.curvature.slq.slq_runs` (the probe of run ``i`` is
    ``batches[i].probe(S)``, shared by all points). ``reorthogonalize``: the Lanczos mode
    (``"full"``, ``"partial"``, ``"none"``).
    """
    R, P = len(batches), len(thetas)

    def named(err: NonFiniteError, a: int, b: int, p: int) -> NonFiniteError:
        tensors = None if b == a + 1 else [data.take(mb.indices) for mb in batches[a:b]]
        return _named(err, batches, a, b, p, tensors)

    bar = tqdm(total=R * P, desc=f"SLQ ({jacobian})", unit="run", disable=_disable(progress),
               leave=False)
    try:
        runs = slq_runs(f, thetas, batches, data.take, n_steps, dtype=dtype, jacobian=jacobian,
                        updates=updates, states=states, on_error=named,
                        on_group=lambda a, b: bar.update(b - a),
                        reorthogonalize=reorthogonalize)
    finally:
        bar.close()
    return [[_run_quadrature(runs.results[p][i]) for p in range(P)] for i in range(R)]


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


def log_singular_value_map(jacobian: JacobianKind, *, lr: float, eps: float,
                           weight_decay: float = 0.0,
                           epsilon_form: EpsilonForm = "clamp") -> Callable:
    """``g``: Ritz value ↦ log singular value.

    ``"gd"``: ``ln max(|1 − η(α + κ)|, ε)`` (``epsilon_form="clamp"``, default) or
    ``ln(|1 − η(α + κ)| + ε)`` (``"additive"``, the paper's), ``κ`` the weight decay
    (:func:`sharpdim._numerics.gd_log_singular_value`, sign-exact). ``"update"``:
    ``ln max(√s⁺, ε)`` or ``ln(√s⁺ + ε)`` of an eigenvalue ``s = σ²`` of ``JᵀJ`` (rounding can
    make ``s`` slightly negative), where the weight decay is already inside ``J``.
    """
    choice("epsilon_form", epsilon_form, EPSILON_FORMS)
    if jacobian == "gd":
        def g(alpha):
            return gd_log_singular_value(alpha, lr=lr, weight_decay=weight_decay, eps=eps,
                                         epsilon_form=epsilon_form)
        decay = f" + {weight_decay:g}" if weight_decay else ""
        body = f"|1 - {lr:g}·(α{decay})|"
        g.__name__ = (f"ln max({body}, {eps:g})" if epsilon_form == "clamp"
                      else f"ln({body} + {eps:g})")
        # lets the paper's SD-KDE integrate the pushed-forward density in closed form
        g.gd_parameters = dict(lr=lr, weight_decay=weight_decay, eps=eps,
                               epsilon_form=epsilon_form)
        return g

    def g_update(s):
        return gram_log_singular_value(s, eps=eps, epsilon_form=epsilon_form)
    g_update.__name__ = (f"ln max(√s, {eps:g})" if epsilon_form == "clamp"
                         else f"ln(√s + {eps:g})")
    return g_update


def pooled_measure(quads: list[list[RunQuadrature]], size: int) -> SpectralMeasure:
    """``(S / (R·P)) Σ_i Σ_p Σ_ℓ ω̃ δ_θ̃``: all runs and points pooled, total mass ``S``."""
    R, P = len(quads), len(quads[0])
    nodes = np.concatenate([q.nodes for row in quads for q in row])
    weights = np.concatenate([q.weights for row in quads for q in row]) * (size / (R * P))
    run_ids = np.concatenate([np.full(q.nodes.size, i) for i, row in enumerate(quads)
                              for q in row])
    return SpectralMeasure(nodes, weights, run_ids, {"n_runs": R, "n_points": P})


DEFAULT_SMOOTHING = {"kde": "curvature", "ps": "curvature"}
"""Default kernel variable per method (``smoothing=None``): ``"curvature"`` for both — the
paper's definitions, so that a quoted SD-KDE or SD-PS is the paper's estimator:

* **ps** — quantiles of the Gaussian kernel density of ``α`` (or ``σ²``), mapped through ``g``;
  the quantiles are exact (safeguarded Newton on the closed-form cdf).
* **kde** — the weighted SD of the kernel density of ``α`` pushed through ``g``, computed
  without a grid for ``jacobian="gd"``
  (:func:`sharpdim.estimators.pushforward.curvature_kde_dimension`: closed-form mass above a
  level, Gauss–Legendre on analytic pieces, to rounding); for ``jacobian="update"`` (a density
  of ``σ²``) as the SD of ``K = CURVATURE_KDE_QUANTILES`` equal-mass (midpoint) quantiles
  pushed through ``g``, whose ``W₁`` to the pushed-forward density is at most
  ``L_g·W·(spread + 2h|Φ⁻¹(1/2K)|)/K`` plus two tail cells.

``smoothing="log"`` smooths the log singular values instead. Its SD-KDE has a closed-form
partial sum (:func:`sharpdim.dimension.gaussian_mixture_dimension`), but smoothing in
``ln σ`` is a mean-preserving spread of the values, so that SD is biased *upward* — every
top-mass integral ``Φ(M)`` grows under a spread, hence ``SD_log ≥ SD-SLQ`` (checked in
``theory_checks/test_estimator_convergence.py``) — by at most ``W h √(2/π) / |z_next|``; it
tends to SD-SLQ as ``h → 0``.
"""

CURVATURE_KDE_QUANTILES = 4096


@dataclass(frozen=True)
class DensityDimension:
    """SD of one density view: ``dimension``; the weighted ``measure`` on ``ln σ`` it came
    from (slq: the atoms; kde with ``"log"`` smoothing: the kernel centers — the SD is that of
    their Gaussian mixture of width ``bandwidth``; otherwise the quantile atoms); the kernel
    ``bandwidth`` in the smoothed variable (``None`` for slq); ``smoothing`` (``None`` for slq);
    the value at the crossing ``crossing`` (``z_next``; ``None`` when ``SD = W``); the paper's
    histogram SD (``histogram_dimension``, slq only)."""

    dimension: float
    measure: SpectralMeasure
    bandwidth: float | None
    histogram_dimension: float | None
    smoothing: str | None = None
    crossing: float | None = None


def density_dimension(
    method: Method,
    base: SpectralMeasure,
    g: Callable,
    *,
    aggregate: Aggregate = "mean",
    n_quantiles: int,
    bandwidth: float | None = None,
    n_bins: int = 100,
    smoothing: Smoothing | None = None,
) -> DensityDimension:
    """The SD-SLQ / SD-KDE / SD-PS view of the pooled measure ``base`` of ``α`` (or ``σ²``).

    * **slq** — weighted SD of the atoms ``g_# base``;
    * **kde** — ``smoothing="log"``: weighted SD of the Gaussian mixture of width ``h`` around
      the atoms ``g_# base``, exactly (no grid); ``"curvature"``: of ``g_#`` (the Gaussian KDE
      of ``base``) — exactly for the GD map (``g`` from :func:`log_singular_value_map` with
      ``"gd"``), else by :data:`CURVATURE_KDE_QUANTILES`-point midpoint quadrature in mass;
    * **ps** — ``n_quantiles`` equal-mass quantiles of the Gaussian KDE of ``base``, mapped
      through ``g`` (``"curvature"``), or of the KDE of ``g_# base`` (``"log"``).

    The kernel width ``h`` defaults to Silverman's robust rule in the smoothed variable. A
    measure whose mass sits on one value (one atom, a dead network, a full-rank-deficient
    Hessian) has no spread to set a width from: its smoothed views are the atoms themselves
    (``h = 0``), so every method returns the atoms' exact weighted SD.

    Only ``aggregate="mean"`` is defined for a pooled measure: the order-by-order sup over
    points needs per-order values at each point, which a spectral density does not give
    (:func:`sharpdim.estimators.estimate.estimate_sharpness` refuses it for several points).
    """
    choice("method", method, DENSITY_METHODS)
    if aggregate != "mean":
        raise ValueError(f"aggregate must be 'mean' for a pooled spectral density, got "
                         f"{aggregate!r}: the order-by-order sup over points is not a function "
                         "of the pooled measure")
    smoothing = DEFAULT_SMOOTHING.get(method) if smoothing is None else \
        choice("smoothing", smoothing, SMOOTHINGS)
    on_log = base.push_forward(g)
    if method == "slq":
        hist = on_log.histogram(n_bins).as_measure()
        d = kaplan_yorke_decomposition(on_log.nodes, on_log.weights)
        return DensityDimension(d.dimension, on_log, None,
                                sharpness_dimension(hist.nodes, hist.weights), None,
                                d.next_value)
    source = on_log if smoothing == "log" else base
    h = _width(source, bandwidth)
    if h == 0:   # one value carries all the mass: the kernel estimate is the atoms themselves
        view = on_log if method == "kde" else on_log.pseudo_spectrum(n_quantiles, bandwidth=0)
        d = kaplan_yorke_decomposition(view.nodes, view.weights)
        return DensityDimension(d.dimension, view, 0.0, None, smoothing, d.next_value)
    if method == "kde" and smoothing == "log":
        mix = gaussian_mixture_dimension(on_log.nodes, on_log.weights, bandwidth=h)
        measure = SpectralMeasure(on_log.nodes, on_log.weights, on_log.run_ids,
                                  {**on_log.diagnostics, "view": "gaussian mixture (kernel "
                                   "centers)", "bandwidth": h})
        return DensityDimension(mix.dimension, measure, h, None, smoothing, mix.crossing)
    gd = getattr(g, "gd_parameters", None)
    if method == "kde" and gd is not None and gd["eps"] > 0:
        mix = curvature_kde_dimension(base.nodes, base.weights, bandwidth=h, **gd)
        measure = SpectralMeasure(on_log.nodes, on_log.weights, on_log.run_ids,
                                  {**on_log.diagnostics, "view": "push-forward of the "
                                   "curvature KDE (atoms: its kernel centers mapped by g)",
                                   "bandwidth": h})
        return DensityDimension(mix.dimension, measure, h, None, smoothing, mix.crossing)
    count = CURVATURE_KDE_QUANTILES if method == "kde" else n_quantiles
    pseudo = source.pseudo_spectrum(count, bandwidth=h)
    measure = pseudo if smoothing == "log" else pseudo.push_forward(g)
    d = kaplan_yorke_decomposition(measure.nodes, measure.weights)
    return DensityDimension(d.dimension, measure, h, None, smoothing, d.next_value)


def _width(measure: SpectralMeasure, bandwidth: float | None) -> float:
    """The kernel width: ``bandwidth`` if given, else Silverman's robust rule, which is 0 when
    the measure has no spread (all mass on one value)."""
    if bandwidth is not None:
        return float(bandwidth)
    values = measure.nodes[measure.weights > 0]
    if np.ptp(values) == 0:
        return 0.0
    try:
        return robust_bandwidth(measure.nodes, measure.weights)
    except ValueError:   # spread below rounding: the rule of thumb gives 0
        return 0.0


def run_statistics(quads: list[list[RunQuadrature]], g: Callable, size: int,
                   aggregate: Aggregate) -> dict:
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
