"""``estimate_sharpness`` against analytic spectra, and the density estimators' convergence.

Oracles:

* Least squares ``L = mean (xᵀw − y)²`` has minibatch Hessian ``2X_BᵀX_B/b`` (numpy), so the
  exact estimator's ``λ_k`` and SD are known in closed form from the design and — for
  minibatches — from the indices the documented seed protocol draws
  (``default_rng(SeedSequence(seed).spawn(R)[i]).choice(n, b, replace=False)``).
* A separable quartic loss has Hessian ``diag(θ_k² · mean_B x_k)`` at every point ``θ``,
  giving the definition's ``sup`` over points in closed form.
* The SD moves by at most ``W₁(ν₁, ν₂)/|z_next|`` when its measure moves
  (:mod:`sharpdim.estimators.perturbation`, proved there; checked here on random measures).
  Gaussian smoothing with width ``h`` moves a measure of mass ``W`` by ``W₁ ≤ W h √(2/π)``,
  which turns into convergence rates of SD-KDE and SD-PS to SD-SLQ as ``h → 0``.
* SD-SLQ with ``m = N`` Lanczos steps has exact nodes and random weights: its error is
  sampling error, checked against a jackknife standard error and a fitted ``R^{-1/2}`` rate.

Rounding: an eigenvalue of the computed Hessian is within ``‖δH‖₂`` of the exact one (Weyl);
``ln|1 − ηα|`` moves by ``η|δα| / |1 − ηα|``; and the SD is nondecreasing in every ``λ_k``
(sorting and partial sums are monotone), so ``SD(λ − δ) ≤ SD(λ̃) ≤ SD(λ + δ)``.
"""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from sharpdim.curvature.slq import draw_minibatch, slq_run_seeds
from sharpdim.dimension import kaplan_yorke_decomposition, sharpness_dimension
from sharpdim.estimators import EstimateOptions, estimate_sharpness
from sharpdim.estimators.density import density_dimension, log_singular_value_map
from sharpdim.estimators.perturbation import sd_perturbation_bound
from sharpdim.testing.checking import EPS, Tolerance, check_close, check_that
from sharpdim.testing.oracles.exact_arithmetic import log_abs_one_minus_exact
from sharpdim.testing.oracles.planted_regression import (
    planted_regression,
    planted_sparse_regression,
)
from sharpdim.testing.strategies import WeightedSpectrum, weighted_spectra


def _log_gd(alpha, lr):
    # the analytic value itself, not a float64 evaluation: log(abs(1 − ηα)) rounds 1 − ηα to an
    # absolute eps/2, which at ηα = 1e-5 is 4.6e-17 — four hundred times the estimator's error
    return log_abs_one_minus_exact(alpha, lr)


def _sd_interval_tolerance(lam: np.ndarray, delta: np.ndarray) -> float:
    """Half-width of [SD(λ − δ), SD(λ + δ)] around SD(λ) (SD is monotone in each λ_k)."""
    sd = sharpness_dimension(lam)
    return max(sharpness_dimension(lam + delta) - sd, sd - sharpness_dimension(lam - delta))


def _z_delta(alpha: np.ndarray, lr: float, d_alpha: float) -> np.ndarray:
    gap = np.abs(1.0 - lr * alpha)
    return lr * d_alpha / np.maximum(gap - lr * d_alpha, 1e-300)


# ----------------------------------------------------------------------------- exact, analytic


@given(alpha=st.lists(st.floats(0.0, 4.0), min_size=1, max_size=6),
       lr=st.floats(0.1, 1.5), seed=st.integers(0, 2**16))
@example(alpha=[1e-05], lr=1.0, seed=0)  # thorough profile: ln(1 − ηα) at ηα = 1e-5
def test_exact_sd_of_least_squares_equals_the_analytic_value_from_2xtx_over_n(alpha, lr, seed):
    alpha = np.array(alpha)
    assume(np.abs(1.0 - lr * alpha).min() > 1e-3)  # ln|1 − ηα| finite and well-conditioned
    p = planted_regression(alpha, seed=seed)
    est = estimate_sharpness(p.model(), p.loss_fn, p.data, lr=lr, batch_size=p.n, seed=seed,
                             n_batches=1)
    lam = np.sort(_log_gd(alpha, lr))[::-1]
    # planted X = √(n/2) U diag(√α) Vᵀ rounds to ‖δH‖₂ ≤ 4(n + d)·eps·max α (products of
    # length n and d, twice), and the Hessian-vector products add the same again
    d_alpha = 8 * (p.n + p.d) * EPS * max(float(alpha.max()), 1e-300)
    delta = np.sort(_z_delta(alpha, lr, d_alpha))[::-1].max() * np.ones_like(lam)
    case = f"d={p.d}, lr={lr:.3g}"
    check_close("exact λ_k of least squares = sorted ln|1 − ηα_k|, α = eig(2XᵀX/n)", case, lam,
                est.sharpness, Tolerance(reason="Weyl: η‖δH‖/|1 − ηα|", atol=float(delta[0])))
    check_close("exact SD of least squares = SD of the analytic λ_k", case,
                sharpness_dimension(lam), est.dimension,
                Tolerance(reason="SD monotone in λ: [SD(λ − δ), SD(λ + δ)]",
                          atol=_sd_interval_tolerance(lam, delta) + 8 * EPS * p.d))


@settings(max_examples=15)
@given(n_axes=st.integers(2, 5), per_axis=st.integers(1, 4), lr=st.floats(0.2, 1.2),
       n_batches=st.integers(1, 6), frac=st.floats(0.2, 0.9), seed=st.integers(0, 2**16))
def test_exact_minibatch_profile_equals_the_analytic_mean_and_pooled_sd(
        n_axes, per_axis, lr, n_batches, frac, seed):
    rng = np.random.default_rng(seed)
    axes = np.repeat(np.arange(n_axes), per_axis)
    scales = rng.uniform(0.3, 2.0, axes.size)
    p = planted_sparse_regression(axes, scales, seed=seed)
    b = max(1, int(frac * p.n))
    est = estimate_sharpness(p.model(), p.loss_fn, p.data, lr=lr, batch_size=b, seed=seed,
                             n_batches=n_batches)
    # the documented protocol, re-implemented: batch i from SeedSequence(seed).spawn(R)[i]
    alphas = []
    for s in slq_run_seeds(seed, n_batches):
        idx = np.random.default_rng(s).choice(p.n, size=b, replace=False)
        alphas.append(p.minibatch_eigenvalues(idx))   # closed form (2/b) Σ_{axis k} c_i²
    alphas = np.array(alphas)
    assume(np.abs(1.0 - lr * alphas).min() > 1e-3)
    z = np.sort(_log_gd(alphas, lr), axis=1)[:, ::-1]
    lam = z.mean(axis=0)
    d_alpha = 8 * (b + p.d) * EPS * float(alphas.max())
    delta = float(_z_delta(alphas, lr, d_alpha).max())
    case = f"d={p.d}, b={b} of {p.n}, R={n_batches}, lr={lr:.3g}"
    check_close("exact λ_k (aggregate='mean') = order-by-order mean of analytic minibatch "
                "profiles", case, lam, est.sharpness,
                Tolerance(reason="Weyl: η‖δH‖/|1 − ηα|", atol=delta))
    weights = np.full(z.size, 1.0 / n_batches)
    pooled = sharpness_dimension(z.ravel(), weights)
    width = max(sharpness_dimension(z.ravel() + delta, weights) - pooled,
                pooled - sharpness_dimension(z.ravel() - delta, weights))
    check_close("exact pooled SD = weighted SD of all analytic minibatch spectra", case, pooled,
                est.diagnostics.pooled_dimension,
                Tolerance(reason="weighted SD monotone in each node: [SD(z − δ), SD(z + δ)] "
                                 "(exact zero eigenvalues make this interval wide)",
                          atol=width + 8 * EPS * p.d))


class _Quartic(torch.nn.Module):
    """Output Σ_k x_k θ_k⁴/12, so the Hessian of the batch mean is diag(θ_k² · mean_B x_k)."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.theta = torch.nn.Parameter(torch.zeros(d, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.theta**4 / 12.0).sum(dim=1)


def _mean_output(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return outputs.mean()


@settings(max_examples=15)
@given(d=st.integers(1, 4), n_points=st.integers(1, 3), n_batches=st.integers(1, 4),
       lr=st.floats(0.2, 1.5), seed=st.integers(0, 2**16))
def test_exact_sup_over_points_equals_the_analytic_definition(d, n_points, n_batches, lr, seed):
    rng = np.random.default_rng(seed)
    n, b = 12, 4
    X = rng.uniform(0.1, 2.0, (n, d))
    points = [torch.from_numpy(rng.uniform(-1.5, 1.5, d)) for _ in range(n_points)]
    est = estimate_sharpness(_Quartic(d), _mean_output, (torch.from_numpy(X), torch.zeros(n)),
                             lr=lr, batch_size=b, seed=seed, n_batches=n_batches,
                             points=points, aggregate="sup")
    profiles = []
    for s in slq_run_seeds(seed, n_batches):
        idx = np.random.default_rng(s).choice(n, size=b, replace=False)
        row = [np.sort(_log_gd(p.numpy() ** 2 * X[idx].mean(axis=0), lr))[::-1]
               for p in points]
        profiles.append(row)
    z = np.array(profiles)                      # (R, P, d)
    assume(np.isfinite(z).all() and np.abs(np.exp(z)).min() > 1e-3)
    lam = z.max(axis=1).mean(axis=0)
    alpha_max = float(max(np.abs(p.numpy()).max() for p in points) ** 2 * X.max())
    delta = lr * 16 * (b + d) * EPS * alpha_max / float(np.exp(z).min())
    check_close("exact λ_k (aggregate='sup') = mean over minibatches of the max over points of "
                "analytic ln σ_k", f"d={d}, P={n_points}, R={n_batches}, lr={lr:.3g}", lam,
                est.sharpness, Tolerance(reason="η|δα|/|1 − ηα| with |δα| ≤ γ_{b+d}·max α",
                                         atol=delta))
    mean_est = estimate_sharpness(_Quartic(d), _mean_output,
                                  (torch.from_numpy(X), torch.zeros(n)), lr=lr, batch_size=b,
                                  seed=seed, n_batches=n_batches, points=points)
    diff = est.sharpness - mean_est.sharpness
    check_that("sup over points ≥ mean over points, order by order", f"d={d}, P={n_points}",
               bool(np.all(diff >= -delta)), "λ_sup ≥ λ_mean", f"min diff {diff.min():.3g}")


# ----------------------------------------------------------------------------- perturbation lemma


@given(a=weighted_spectra(max_dim=6, min_value=-3, max_value=3),
       shift=st.lists(st.floats(-0.3, 0.3), min_size=6, max_size=6),
       scale=st.lists(st.floats(0.5, 2.0), min_size=6, max_size=6), other=st.booleans(),
       b=weighted_spectra(max_dim=6, min_value=-3, max_value=3))
# thorough profile: an atom at 0 moved by a subnormal crosses SD's jump (0.5 → 0); the bound is
# exactly 0.5 there, and W₁ = 2.5e-324 once underflowed to 0 before it was divided by the slope
@example(a=WeightedSpectrum(np.array([0.0]), np.array([0.5])), shift=[-5e-324] + [0.0] * 5,
         scale=[1.0] * 6, other=False, b=WeightedSpectrum(np.array([0.0]), np.array([1.0])))
def test_sd_moves_at_most_wasserstein_distance_over_the_next_value(a, shift, scale, other, b):
    z1, w1 = a.values, a.weights
    if other:  # an unrelated measure rescaled to the same mass
        z2, w2 = b.values, b.weights * (w1.sum() / b.weights.sum())
    else:      # a perturbation of the first one
        k = z1.size
        z2, w2 = z1 + np.array(shift[:k]), w1 * np.array(scale[:k])
    bound = sd_perturbation_bound(z1, w1, z2, w2)
    # rounding of the two SDs: partial sums err by γ_n Σ m|z|, divided by |z_next|
    n = z1.size + z2.size
    with np.errstate(over="ignore"):
        slack = 4 * n * EPS * (np.abs(w1 * z1).sum() + np.abs(w2 * z2).sum()) / min(
            bound.slope, 1.0) + 8 * n * EPS * (w1.sum() + w2.sum())
    # an infinite slack means a next value so small (subnormal) that float64 cannot resolve the
    # SD here: those are SD's jumps, checked exactly in the next test, not skipped silently there
    assume(np.isfinite(slack))
    check_close("|SD(ν₁) − SD(ν₂)| ≤ W₁(ν₁, ν₂)/min|z_next|", f"{z1.size} vs {z2.size} atoms",
                0.0, max(0.0, abs(bound.dimension_1 - bound.dimension_2) - bound.bound),
                Tolerance(reason="float64 rounding of the two Kaplan–Yorke sums", atol=slack))


@given(mass=st.floats(0.1, 10.0), step=st.integers(-1074, -4),  # 2s ≤ 1/8 < t: order kept
       tail=st.floats(0.5, 3.0), case=st.sampled_from(["top crosses 0", "partial sum hits 0"]))
@example(mass=0.5, step=-1074, tail=1.0, case="top crosses 0")
def test_sd_jumps_are_covered_by_the_wasserstein_bound_exactly(mass, step, tail, case):
    """At SD's two kinds of jump the bound is computed exactly, however small the move s = 2^k.

    Oracle: hand-derived jumps. (i) An atom at 0 of mass m (SD = m) moved by −s: SD = 0, W₁ = m·s,
    slope s, so the bound is m, equal to the jump. (ii) Atoms (s, −2s, −t) of mass m each against
    (0, 0, −t): SD 2m → 1.5m (one atom, then S₁/|z₂| = m·s/2s), W₁ = 3s·m, slope 2s, bound
    1.5m ≥ the jump 0.5m.
    """
    s = 2.0 ** step
    if case == "top crosses 0":
        z1, z2, w = np.array([0.0]), np.array([-s]), np.array([mass])
        jump, expected_bound = mass, mass
    else:
        z1, z2, w = np.array([0.0, 0.0, -tail]), np.array([s, -2 * s, -tail]), np.full(3, mass)
        jump, expected_bound = 0.5 * mass, 1.5 * mass
    assume(np.all(np.diff(np.sort(z2)) > 0) or case == "top crosses 0")  # s ≥ 2^-1073: −2s ≠ −s
    bound = sd_perturbation_bound(z1, w, z2, w)
    case_text = f"{case}, s=2^{step}, m={mass:.3g}"
    # the products m·z are subnormal for small s: each rounds to an absolute max(eps·m·s, 2^-1074)
    # (fewer significant bits below 2^-1022), and the partial sum is divided by |z_next| = 2s
    product = max(EPS * mass * s, 2.0 ** -1074)
    check_close("SD's jump = the hand-derived value", case_text, jump,
                abs(bound.dimension_1 - bound.dimension_2),
                Tolerance(reason="rounding of m·z (subnormal-aware) over |z_next|, and of m + m",
                          atol=3 * product / (2 * s) + 2 * EPS * mass))
    check_close("the W₁/|z_next| bound at the jump = the hand-derived value", case_text,
                expected_bound, bound.bound,
                Tolerance(reason="a sum of three mass-weighted pieces, each exact up to one "
                                 "rounding of m·du", rtol=4 * EPS))


# ----------------------------------------------------------------------------- density methods


_ALPHA = np.linspace(0.1, 3.0, 12)   # lr = 1: 1/η = 1 lies 0.11 from the nearest eigenvalue
_LR = 1.0


def _planted_slq(seed: int, n_batches: int):
    p = planted_regression(_ALPHA, seed=101)
    return estimate_sharpness(p.model(), p.loss_fn, p.data, lr=_LR, batch_size=p.n,
                              method="slq", n_batches=n_batches, seed=seed,
                              options=EstimateOptions(n_steps=_ALPHA.size))


def _run_sd(measure, g, runs: np.ndarray, total: int) -> float:
    keep = np.isin(measure.run_ids, runs)
    return sharpness_dimension(g(measure.nodes[keep]), measure.weights[keep] * total / runs.size)


def test_slq_with_full_krylov_space_has_the_planted_eigenvalues_as_nodes():
    est = _planted_slq(seed=5, n_batches=16)
    nodes = est.curvature_measure.nodes
    dist = np.abs(nodes[:, None] - _ALPHA[None, :]).min(axis=1)
    # Lanczos is backward stable: the Ritz values are exact for H + E, ‖E‖ ≲ m·N·eps·‖H‖ —
    # with full re-orthogonalization, and without it (the SLQ default) for every Ritz value,
    # ghost copies included (Paige 1980); the planted H adds 8(n + d)·eps·‖H‖ (see above)
    N, n = _ALPHA.size, 2 * _ALPHA.size
    tol = (N * N + 8 * (n + N)) * EPS * float(_ALPHA.max())
    check_close("SLQ with m = N: every Ritz value is a planted eigenvalue", "N=12, R=16",
                np.zeros_like(dist), dist, Tolerance(reason="Lanczos backward error m·N·eps‖H‖",
                                                     atol=tol))
    per_run = np.bincount(est.curvature_measure.run_ids, weights=est.curvature_measure.weights)
    check_close("each SLQ run carries mass N/R (quadrature weights sum to 1)", "N=12, R=16",
                np.full(16, N / 16), per_run, Tolerance(reason="m-term sums", rtol=16 * N * EPS))


def test_sd_slq_is_within_four_jackknife_standard_errors_of_the_exact_sd():
    R = 128
    est = _planted_slq(seed=17, n_batches=R)
    eps = est.diagnostics.epsilon
    g = log_singular_value_map("gd", lr=_LR, eps=eps)
    exact = sharpness_dimension(np.log(np.abs(1.0 - _LR * _ALPHA) + eps))
    loo = np.array([_run_sd(est.curvature_measure, g, np.delete(np.arange(R), i), R)
                    for i in range(R)])
    se = float(np.sqrt((R - 1) / R * ((loo - loo.mean()) ** 2).sum()))
    check_close("SD-SLQ (m = N) → exact SD: error within 4 jackknife standard errors",
                f"planted N=12, R={R}", exact, est.dimension,
                Tolerance(reason=f"4 × jackknife SE over runs (SE = {se:.3g}); exact values "
                                 "with the same ε", atol=4 * se))
    check_that("the jackknife standard error is informative", "planted N=12", 0 < se < 1.0,
               "0 < SE < 1", f"{se:.3g}")


def test_sd_slq_error_shrinks_at_the_monte_carlo_rate_in_the_number_of_runs():
    runs, K = np.array([8, 32, 128]), 12
    exact = sharpness_dimension(np.log(np.abs(1.0 - _LR * _ALPHA) + 1e-6))  # ε of the estimates
    errors = np.zeros((K, runs.size))
    for k in range(K):
        est = _planted_slq(seed=1000 + k, n_batches=int(runs[-1]))
        g = log_singular_value_map("gd", lr=_LR, eps=est.diagnostics.epsilon)
        for j, R in enumerate(runs):
            errors[k, j] = _run_sd(est.curvature_measure, g, np.arange(R), int(runs[-1])) - exact
    x = np.log(runs)
    y = np.log(np.sqrt((errors**2).mean(axis=0)))
    xc = x - x.mean()
    slope = float((xc * (y - y.mean())).sum() / (xc**2).sum())
    se = (1 / np.sqrt(2 * K)) / float(np.sqrt((xc**2).sum()))  # SE(ln RMSE) ≈ 1/√(2K)
    check_close("SD-SLQ RMSE ∝ R^(-1/2) (Monte Carlo over probes)",
                f"planted N=12, m=N, K={K} seeds, R={list(runs)}", -0.5, slope,
                Tolerance(reason=f"3 × SE of the fitted slope (SE = {se:.3f}, from "
                                 "SE(ln RMSE) ≈ 1/√(2K))", atol=3 * se))


def _pair_bound(nu_1, nu_2, extra_w1: float) -> float:
    """|SD(ν₁) − SD(ν₂)| bound from a W₁ bound ``extra_w1`` (the lemma, with both slopes)."""
    b = sd_perturbation_bound(nu_1.nodes, nu_1.weights, nu_2.nodes, nu_2.weights)
    return extra_w1 / b.slope + b.mass_term


def test_sd_kde_converges_to_sd_slq_linearly_in_the_bandwidth_and_never_below_it():
    est = _planted_slq(seed=23, n_batches=64)
    g = log_singular_value_map("gd", lr=_LR, eps=est.diagnostics.epsilon)
    slq = est.curvature_measure.push_forward(g)
    W = slq.total_mass
    z_next = abs(kaplan_yorke_decomposition(slq.nodes, slq.weights).next_value)
    for h in (0.1, 0.03, 0.01):
        view = density_dimension("kde", est.curvature_measure, g, aggregate="mean",
                                 n_quantiles=1, bandwidth=h, smoothing="log")
        # Gaussian smoothing of width h moves mass W by W₁ ≤ W h √(2/π); the lemma
        # |ΔSD| ≤ W₁ / min|z_next| takes the slope of both sides (the mixture's is its root t*)
        slope = min(z_next, abs(view.crossing))
        check_close("SD-KDE → SD-SLQ: |ΔSD| ≤ W h √(2/π) / min|z_next|", f"planted N=12, h={h}",
                    est.dimension, view.dimension,
                    Tolerance(reason="perturbation lemma with the smoothing W₁ bound",
                              atol=W * h * np.sqrt(2 / np.pi) / slope))
        # smoothing in ln σ is a mean-preserving spread: every top-mass integral Φ(M) grows,
        # so SD(mixture) ≥ SD(atoms); slack: the root's first-order rounding eps·Σ|m z|/|t*|
        slack = 64 * EPS * float(np.abs(slq.nodes) @ slq.weights) / slope
        check_that("SD-KDE (log smoothing) ≥ SD-SLQ: a mean-preserving spread raises SD",
                   f"planted N=12, h={h}", view.dimension >= est.dimension - slack,
                   "SD_kde ≥ SD_slq", f"{view.dimension:.6g} vs {est.dimension:.6g}")


def _ps_w1_bound(W: float, spread: float, h: float, M: int) -> float:
    """W₁(PS atoms, μ) for M midpoint quantiles of μ * N(0, h²): smoothing h√(2/π), plus the
    quantile cells: interior ≤ (spread + 2h|c|)/M, each tail cell ≤ a·spread + h(a c + φ(c))
    with a = 1/(2M), c = Φ⁻¹(a), using x_min + hΦ⁻¹(u) ≤ Q(u) ≤ x_max + hΦ⁻¹(u)."""
    a = 1.0 / (2 * M)
    c = float(norm.ppf(a))
    cells = (spread + 2 * h * abs(c)) / M + 2 * (a * spread + h * (a * c + norm.pdf(c)))
    return W * (h * np.sqrt(2 / np.pi) + cells)


def test_sd_ps_converges_to_sd_slq_as_bandwidth_shrinks_and_quantiles_grow():
    est = _planted_slq(seed=29, n_batches=64)
    g = log_singular_value_map("gd", lr=_LR, eps=est.diagnostics.epsilon)
    mu = est.curvature_measure
    slq = mu.push_forward(g)
    spread = float(mu.nodes.max() - mu.nodes.min())
    for h, M in ((0.02, 48), (0.005, 192), (0.001, 768)):
        view = density_dimension("ps", mu, g, aggregate="mean", n_quantiles=M, bandwidth=h)
        w1_alpha = _ps_w1_bound(mu.total_mass, spread, h, M)
        # g = ln|1 − α| (+ε) is Lipschitz with constant max 1/|1 − α| on the hull of the atoms
        reach = h * abs(float(norm.ppf(1 / (2 * M)))) + 1e-12
        gap = float(np.abs(1.0 - _LR * mu.nodes).min()) - _LR * reach
        check_that("PS atoms stay away from α = 1/η (g Lipschitz on their hull)",
                   f"h={h}, M={M}", gap > 0, "gap > 0", f"{gap:.3g}")
        lip = _LR / gap
        check_close("SD-PS → SD-SLQ: |ΔSD| ≤ L_g·W₁-bound/|z_next|", f"planted N=12, h={h}, "
                    f"M={M}", est.dimension, view.dimension,
                    Tolerance(reason="perturbation lemma, Lipschitz push-forward of the "
                                     "smoothing + quantization W₁ bound",
                              atol=_pair_bound(slq, view.measure, lip * w1_alpha)))


def _autograd_profiles(model, loss, x, y, indices, lr: float, eps: float) -> np.ndarray:
    """ln(|1 − ηα| + ε) per minibatch from ``torch.autograd.functional.hessian`` of the loss in the
    parameters (an independent Hessian code path), sorted descending."""
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    sizes = [p.numel() for _, p in model.named_parameters()]
    theta = torch.cat([p.detach().reshape(-1) for _, p in model.named_parameters()])

    def batch_loss(flat, xb, yb):
        params = dict(zip(names, (t.reshape(s) for t, s in zip(flat.split(sizes), shapes,
                                                                strict=True)), strict=True))
        return loss(torch.func.functional_call(model, params, (xb,)), yb)

    rows = []
    for idx in indices:
        xb, yb = x[idx], y[idx]
        H = torch.autograd.functional.hessian(lambda t, xb=xb, yb=yb: batch_loss(t, xb, yb),
                                              theta)
        alpha = np.linalg.eigvalsh(H.numpy())
        rows.append(np.sort(np.log(np.abs(1.0 - lr * alpha) + eps))[::-1])
    return np.array(rows)


def test_sd_slq_on_a_small_network_is_within_four_jackknife_errors_of_the_exact_pooled_sd():
    gen = torch.Generator().manual_seed(4)
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Tanh(),
                                torch.nn.Linear(3, 2)).double()
    with torch.no_grad():
        for prm in model.parameters():
            prm.copy_(torch.randn(prm.shape, generator=gen, dtype=torch.float64))
    x = torch.randn(40, 3, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 2, (40,), generator=gen)
    loss = torch.nn.functional.cross_entropy
    R, N, lr, b = 48, 20, 2.0, 10
    est = estimate_sharpness(model, loss, (x, y), lr=lr, batch_size=b, n_batches=R, seed=3,
                             method="slq", options=EstimateOptions(n_steps=N))
    indices = [draw_minibatch(40, b, np.random.default_rng(s)) for s in slq_run_seeds(3, R)]
    check_that("SLQ runs use the documented minibatches", "seed 3",
               tuple(_hash(i) for i in indices) == est.diagnostics.batch_index_hashes,
               "equal index hashes", "compared")
    eps = est.diagnostics.epsilon
    z = _autograd_profiles(model, loss, x, y, indices, lr, eps)     # (R, N), same ε
    g = log_singular_value_map("gd", lr=lr, eps=eps)

    def difference(runs: np.ndarray) -> float:
        exact = sharpness_dimension(z[runs].ravel(), np.full(runs.size * N, 1.0 / runs.size))
        return _run_sd(est.curvature_measure, g, runs, R) - exact

    loo = np.array([difference(np.delete(np.arange(R), i)) for i in range(R)])
    se = float(np.sqrt((R - 1) / R * ((loo - loo.mean()) ** 2).sum()))
    exact_pooled = sharpness_dimension(z.ravel(), np.full(z.size, 1.0 / R))
    check_close("SD-SLQ (m = N) → exact pooled SD on a tanh MLP (same minibatches)",
                f"N={N}, b={b}, R={R}", exact_pooled, est.dimension,
                Tolerance(reason=f"4 × paired jackknife SE of SD-SLQ − SD-exact over runs "
                                 f"(SE = {se:.3g})", atol=4 * se))
    check_that("the paired jackknife standard error is positive", f"N={N}", se > 0, "SE > 0",
               f"{se:.3g}")


def _hash(idx: np.ndarray) -> str:
    import hashlib

    return hashlib.sha1(np.asarray(idx, dtype=np.int64).tobytes()).hexdigest()[:16]
