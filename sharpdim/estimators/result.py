"""The result of :func:`sharpdim.estimate_sharpness`: one dataclass, every field always present.

Fields that a method does not compute are ``None`` (never a flag that changes the type):
``sharpness`` (the ``λ_k`` profile) only for ``method="exact"``, the measures only for the
density methods, the Hessian summaries (``top_eigenvalue``, ``bottom_eigenvalue``,
``trace``) whenever a Hessian was examined (all but ``jacobian="update"`` with a density
method, which works on ``JᵀJ`` instead).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sharpdim._serialize import Serializable
from sharpdim.curvature.spectral_measure import SpectralMeasure
from sharpdim.estimators.conditioning import Conditioning

__all__ = ["EstimateDiagnostics", "SharpnessEstimate"]


@dataclass(frozen=True, repr=False)
class EstimateDiagnostics(Serializable):
    """How an estimate was made and what it cost (docs/design.md: seeds, cost, ε, mode).

    * Setting: ``method``, ``aggregate``, ``jacobian``, ``optimizer`` (the canonical name of
      :mod:`sharpdim.vocabulary`: ``"sgd"``, ``"momentum"`` — also for ``"sgd"`` with
      ``momentum > 0`` —, ``"adam"``, ``"adamw"``), ``lr``,
      ``batch_size``, ``momentum``, ``weight_decay``, ``n_params`` (``N``), ``state_dim``
      (``S``: ``N``, ``2N`` or ``3N``; the number of ``λ_k``), ``n_examples``.
    * Randomness: ``seed`` (the one given or drawn, so the call can be repeated),
      ``batch_seeds`` (one per minibatch/run: ``numpy.random.default_rng(s)`` draws the
      minibatch indices, then the Rademacher probe for density methods),
      ``batch_index_hashes`` (SHA-1 prefixes of the drawn index arrays).
    * Sizes: ``n_batches`` (minibatches = SLQ runs ``R``), ``n_points`` (attractor points),
      ``n_steps`` (Lanczos steps ``m``; ``None`` for exact), ``n_quantiles`` (``M`` for the
      pseudo-spectrum and the sup of densities; else ``None``), ``bandwidth`` (Gaussian
      kernel width actually used, in the smoothed variable; else ``None``), ``n_bins``.
    * Numerics: ``epsilon`` (the ``ε`` floor of ``ln σ``; 0 for exact) and ``epsilon_form``
      (``"clamp"``: ``ln max(σ, ε)``, the default; ``"additive"``: the paper's ``ln(σ + ε)``),
      ``smoothing`` (kde/ps: ``"curvature"`` — kernel density of ``α``, the paper's — or
      ``"log"`` — of ``ln σ``; ``None`` otherwise), ``dtype``, ``device``,
      ``reorthogonalization`` of the Lanczos runs (density methods; ``None`` for exact),
      ``residuals`` (one per minibatch: exact — ``max|H − Hᵀ| / max|H|``, the rounding of the
      products; density — the largest Lanczos residual ``β_m|S_mℓ|`` of the extreme Ritz
      pairs), ``residual_kind`` (which of the two), ``trace_stderr`` (standard error of
      ``trace`` over minibatches/probes; ``None`` with one sample).
    * Alternatives worth comparing: ``pooled_dimension`` (exact, ``aggregate="mean"``: SD of
      all minibatch spectra pooled into one measure of mass ``S`` — the quantity the density
      methods estimate, which differs from the order-by-order mean when minibatch spectra
      differ), ``histogram_dimension`` (``method="slq"``: the paper's literal recipe, SD of the
      ``n_bins``-bin histogram at bin centers, biased by up to half a bin width per atom).
    * Mode: ``train`` and the train-mode ``dropout``/``batch_norm`` module names (flagged, and
      warned about, never changed).
    * Cost: ``n_hvp`` (loss Hessian-vector products; a Jacobian- or vector-Jacobian product
      of an update map counts as one), ``seconds`` (wall time of the call).
    * ``notes``: plain-language caveats (e.g. that ``jacobian="gd"`` is the paper's
      approximation for momentum and Adam runs, or the default velocity used).
    * ``conditioning``: :class:`~sharpdim.estimators.conditioning.Conditioning` — our
      diagnostics, not the paper's: the value at the crossing ``z_next``, the masses of
      expanding / neutral / contracting values for a tolerance tied to the estimation error
      (stated in ``conditioning.tolerance_kind``), the transverse SD, and whether the
      estimation error alone could move the SD by a whole dimension (``ill_conditioned``).
    * ``frozen``: the parameters left out of ``θ`` (``requires_grad=False``: held fixed, so
      ``n_params`` counts only the trainable ones); ``output``: the selector that took the
      loss's input from the model's outputs (its ``repr``; ``None``: the outputs themselves).
    * ``horizon``: ``k`` of the ``k``-step product (1: one-step values). With ``k > 1``,
      ``n_batches`` counts windows ``R`` and ``batch_seeds`` holds ``R·k`` seeds (window
      ``r``, step ``t``: ``batch_seeds[t·R + r]``); see :mod:`sharpdim.estimators.horizon`.
    """

    method: str
    aggregate: str
    jacobian: str
    optimizer: str
    lr: float
    batch_size: int
    momentum: float
    weight_decay: float
    n_params: int
    state_dim: int
    n_examples: int
    seed: int
    batch_seeds: tuple[int, ...]
    batch_index_hashes: tuple[str, ...]
    n_batches: int
    n_points: int
    n_steps: int | None
    n_quantiles: int | None
    bandwidth: float | None
    n_bins: int | None
    epsilon: float
    epsilon_form: str
    smoothing: str | None
    dtype: str
    device: str
    residuals: tuple[float, ...]
    residual_kind: str
    trace_stderr: float | None
    pooled_dimension: float | None
    histogram_dimension: float | None
    train: bool
    dropout: tuple[str, ...]
    batch_norm: tuple[str, ...]
    n_hvp: int
    seconds: float
    notes: tuple[str, ...]
    conditioning: Conditioning
    horizon: int = 1
    reorthogonalization: str | None = None
    frozen: tuple[str, ...] = ()
    output: str | None = None

    _repr_summary = ("method", "jacobian", "dtype", "seed", "n_batches", "n_hvp", "seconds")


@dataclass(frozen=True, repr=False)
class SharpnessEstimate(Serializable):
    """Sharpness dimension and related curvature measures of a model at a trained point.

    * ``dimension``: the sharpness dimension (SD, docs/theory.md §3; weighted form for density
      methods).
    * ``lambda_1``: ``λ_1 = E_ω[ln σ_1]`` (the mean over minibatches of the largest log
      singular value; with ``aggregate="sup"`` of its max over points). ``> 0`` is the edge of
      stability.
    * ``sharpness``: ``λ_1 ≥ … ≥ λ_S`` (float64, may end in ``-inf`` for zero singular
      values) for ``method="exact"``; ``None`` for density methods.
    * ``measure``: for density methods the weighted measure on the log singular values behind
      ``dimension`` (total mass ``S``): the SLQ atoms (slq); the kernel centers, whose Gaussian
      mixture of width ``diagnostics.bandwidth`` has SD ``dimension`` (kde, ``"log"``
      smoothing); the quantile atoms (ps, and kde with ``"curvature"`` smoothing); ``None``
      for exact.
    * ``curvature_measure``: for density methods the pooled SLQ measure before the push
      forward — of the Hessian eigenvalues ``α`` (``jacobian="gd"``) or of ``σ²``, the
      eigenvalues of ``JᵀJ`` (``jacobian="update"``); for exact, the loss Hessian's
      eigenvalues averaged order by order over minibatches and points (``N`` unit atoms);
      ``None`` for the ``k``-step horizon, which examines no Hessian.
    * ``top_eigenvalue``/``bottom_eigenvalue``: mean over minibatches (and points) of the
      largest/smallest minibatch-Hessian eigenvalue (for density methods, of the extreme
      Ritz values); ``trace``: mean over minibatches of ``tr H_B`` (exact) or the SLQ
      first moment, a Hutchinson estimate (density). ``None`` when no Hessian was examined.
    * ``diagnostics``: :class:`EstimateDiagnostics`.

    Results travel: they pickle, ``to_dict()`` is JSON-safe (non-finite ``λ_k`` as
    ``"-inf"``…) and ``SharpnessEstimate.from_dict`` inverts it; the ``repr`` fits a screen
    and names the computation dtype (:mod:`sharpdim._serialize`).
    """

    dimension: float
    lambda_1: float
    sharpness: np.ndarray | None
    measure: SpectralMeasure | None
    curvature_measure: SpectralMeasure | None
    top_eigenvalue: float | None
    bottom_eigenvalue: float | None
    trace: float | None
    diagnostics: EstimateDiagnostics

    def __post_init__(self) -> None:
        if self.sharpness is not None:
            values = np.array(self.sharpness, dtype=np.float64, copy=True)
            values.setflags(write=False)
            object.__setattr__(self, "sharpness", values)

    def summary(self) -> str:
        """One line: method, SD, λ_1, extreme eigenvalues, trace, cost."""
        d = self.diagnostics

        def fmt(x: float | None) -> str:
            return "-" if x is None else f"{x:.4g}"

        return (f"{d.method:>5} ({d.aggregate}, {d.jacobian}, {d.dtype}): SD = "
                f"{self.dimension:.4g} of "
                f"{d.state_dim}, λ_1 = {self.lambda_1:.4g}, α_max = {fmt(self.top_eigenvalue)}, "
                f"α_min = {fmt(self.bottom_eigenvalue)}, tr H = {fmt(self.trace)}; "
                f"{d.n_hvp} HVPs, {d.seconds:.2f} s"
                + ("; ill-conditioned (estimation error could move SD by ≥ 1: see "
                   "diagnostics.conditioning.advice)"
                   if d.conditioning.ill_conditioned else ""))
