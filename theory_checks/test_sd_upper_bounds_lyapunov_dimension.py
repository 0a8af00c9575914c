"""SD upper-bounds the Lyapunov (Kaplan–Yorke) dimension: ``D_KY ≤ SD`` (docs/theory.md §3,
the paper's appendix B).

The inequality rests on partial sums: with ``Λ`` the Lyapunov exponents and ``λ`` the one-step
RDS sharpness (``aggregate="sup"``),

    Σ_{i≤j} λ_i ≥ Σ_{i≤j} Λ_i   for every j,

because ``Σ_{i≤j} ln σ_i`` of a product is subadditive (``‖∧^j(AB)‖ ≤ ‖∧^j A‖‖∧^j B‖``), so the
long-time rate ``Σ_{i≤j} Λ_i`` is at most the one-step ``E sup ln(σ_1⋯σ_j) ≤ Σ_{i≤j} λ_i``.
The dimension is the largest root of the concave interpolation of the partial sums, so larger
partial sums give a larger root: ``SD ≥ D_KY``. The same argument makes SD **monotone in each
value** (raising one value raises every sorted partial sum), which turns confidence bounds on
the values into confidence bounds on the dimensions: ``SD(λ̂ + K·se) ≥ SD(λ)`` and
``D_KY(Λ̂ − K·se − bias) ≤ D_KY(Λ)`` hold together with the family-wise probability below.

Tolerances. ``Λ̂`` comes from ``lyapunov_spectrum`` (``N_STEPS`` QR steps, 20 batch means):
``K·stderr + 10/N_STEPS`` per exponent (the last term bounds the QR method's finite-time bias,
which the batch means do not see; partial sums get ``K·Σ stderr + j·10/N_STEPS`` since the sd of
a sum is at most the sum of the sds). ``λ̂`` comes from ``N_NOISE`` iid noise draws:
``K·stderr`` with the exact per-draw partial sums. ``K`` is the two-sided Student-t (19 dof,
the smaller sample) quantile at family-wise false-alarm rate 1e-3, Bonferroni-split over every
estimated quantity a test compares (examples × 2 estimates × d partial sums); for the
deterministic maps the sup over a finite orbit sample can only *under*estimate ``λ`` (a
conservative direction for ``SD ≥ D_KY``). Exact-oracle checks allow only rounding.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import stats

from sharpdim.dimension import kaplan_yorke_dimension, sharpness_dimension
from sharpdim.dynamics.attractor import trajectory_tail
from sharpdim.dynamics.lyapunov import lyapunov_spectrum
from sharpdim.dynamics.sharpness import rds_sharpness, rds_sharpness_samples
from sharpdim.systems.heavy_ball import heavy_ball_quadratic
from sharpdim.systems.henon import henon
from sharpdim.systems.linear_cocycle import commuting_matrix_product, fixed_matrix
from sharpdim.testing.checking import EPS, Tolerance, check_close, check_that
from sharpdim.testing.strategies import (
    heavy_ball_parameters,
    logistic_parameters,
    random_linear_rds,
)

N_STEPS = 2000
TRANSIENT = 100
N_BATCHES = 20
N_NOISE = 2000
BIAS = 10.0 / N_STEPS
FAMILY_ALPHA = 1e-3
MAX_DIM = 3
EXAMPLES = settings().max_examples
RUN_EXAMPLES = max(4, EXAMPLES // 3)  # ~0.3 s per estimated example on one core
SEEDS = st.integers(0, 2**32 - 1)


def _t_multiplier(n_quantities: int) -> float:
    return float(stats.t.ppf(1.0 - FAMILY_ALPHA / (2.0 * n_quantities), N_BATCHES - 1))


K_RDS = _t_multiplier(RUN_EXAMPLES * 2 * MAX_DIM)
K_FEW = _t_multiplier(8 * 2 * MAX_DIM)  # pinned and deterministic cases: at most 8 runs each


def _lyapunov(system, seed: int, n_steps: int = N_STEPS, transient: int = TRANSIENT):
    return lyapunov_spectrum(system, system.initial_point, n_steps, transient=transient,
                             rng=seed, n_batches=N_BATCHES)


def _fmt(a) -> str:
    return "[" + ", ".join(f"{float(v):.4g}" for v in np.ravel(a)) + "]"


def _check_partial_sums_dominate(case, lam_sums, lam_se, Lam_sums, Lam_se, k, bias) -> None:
    """``Σ_{i≤j} λ̂ + k·se ≥ Σ_{i≤j} Λ̂ − k·se − j·bias`` for every ``j``."""
    j = np.arange(1, lam_sums.size + 1)
    upper = lam_sums + k * lam_se
    lower = Lam_sums - k * Lam_se - j * bias
    with np.errstate(invalid="ignore"):  # -inf ≥ -inf is true
        ok = bool(np.all((upper >= lower) | (np.isneginf(lower))))
    check_that("Σ_{i≤j} λ_i ≥ Σ_{i≤j} Λ_i for every j", case, ok,
               f"≥ {_fmt(lower)} (Λ̂ partial sums − {k:.2f} se − j·bias)",
               f"{_fmt(upper)} (λ̂ partial sums + {k:.2f} se)")


def _check_sd_bounds_ky(case, lam_hi, Lam_lo, k) -> tuple[float, float]:
    sd, ky = sharpness_dimension(lam_hi), kaplan_yorke_dimension(Lam_lo)
    check_that("SD ≥ D_KY", case, sd >= ky,
               f"SD(λ̂ + {k:.2f} se) ≥ D_KY(Λ̂ − {k:.2f} se − bias) = {ky:.4g}", f"{sd:.4g}")
    return sd, ky


def _estimated_sd_vs_ky(system, seed: int, k: float, case: str):
    """Estimate both spectra; check partial sums and dimensions; return the estimates."""
    Lam = _lyapunov(system, seed)
    # rds_sharpness(..., aggregate="sup") is samples.values("sup"); the samples also give the
    # exact per-draw partial sums for their standard errors.
    samples = rds_sharpness_samples(system, system.initial_point[None, :], n_noise=N_NOISE,
                                    rng=seed + 1)
    draws = samples.per_draw("sup")
    lam, lam_se = samples.values("sup"), samples.stderr("sup")
    sums = np.cumsum(draws, axis=1)
    sums_se = sums.std(axis=0, ddof=1) / math.sqrt(N_NOISE)
    _check_partial_sums_dominate(case, sums.mean(axis=0), sums_se, np.cumsum(Lam.exponents),
                                 np.cumsum(Lam.stderr), k, BIAS)
    _check_sd_bounds_ky(case, lam + k * lam_se, Lam.exponents - k * Lam.stderr - BIAS, k)
    return lam, lam_se, Lam


# ----------------------------------------------------------------------------- linear RDS


@settings(max_examples=RUN_EXAMPLES)
@given(random_linear_rds(kinds=("gaussian", "triangular", "commuting"), max_dim=MAX_DIM),
       SEEDS)
@example(commuting_matrix_product([[2.0, 0.25], [0.25, 2.0]]), 0)
def test_sd_never_below_lyapunov_dimension_for_random_linear_rds(system, seed):
    _estimated_sd_vs_ky(system, seed, K_RDS, f"{system.name}, d={system.dim}, seed={seed}")


def _ky_rounding_slack(tol: float, exponents: np.ndarray) -> float:
    """How far partial-sum rounding of ≤ ``tol`` can move a Kaplan–Yorke dimension: by
    ≤ ``tol/|Λ_{j+1}|`` (the fractional part's numerator), doubled for the two sides compared;
    ``|Λ_{j+1}|`` is at least the smallest nonzero finite ``|Λ|`` (floored at 1e-3, which only
    makes the slack smaller)."""
    nonzero = np.abs(exponents[np.isfinite(exponents) & (exponents != 0)])
    return 2 * tol / max(float(nonzero.min()) if nonzero.size else 1.0, 1e-3)


@given(random_linear_rds(kinds=("commuting",), max_dim=4, max_states=4))
def test_exact_partial_sums_and_sd_dominate_for_commuting_products(system):
    lam, Lam = system.exact_sharpness(), system.exact_lyapunov_exponents()
    case = f"D={np.round(system.diagonals, 3).tolist()}, p={np.round(system.probabilities, 3)}"
    # Both sides are p-weighted sums of the same logs: rounding ≤ 4·n_states·d·eps·max|ln|D||.
    tol = 4 * system.diagonals.size * EPS * float(np.abs(np.log(np.abs(system.diagonals))).max())
    _check_partial_sums_dominate(case, np.cumsum(lam), 0.0, np.cumsum(Lam), 0.0, 0.0, tol)
    sd, ky = sharpness_dimension(lam), kaplan_yorke_dimension(Lam)
    slack = _ky_rounding_slack(tol, Lam)
    check_that("SD ≥ D_KY (exact oracles)", case, sd >= ky - slack,
               f"≥ {ky:.6g} − {slack:.2g}", f"{sd:.6g}")


@given(st.floats(1.1, 4.0), st.floats(0.05, 0.8), SEEDS)
def test_sd_strictly_exceeds_ky_when_directions_trade_dominance(a, b_frac, seed):
    # States diag(a, b) and diag(b, a), each with probability ½, with ab < 1: along each fixed
    # direction Λ = ½ ln(ab) < 0, so D_KY = 0; one step always stretches some direction by a,
    # so λ = (ln a, ln b) and SD = 1 + ln a/|ln b| ≥ 1.
    b = b_frac / a
    system = commuting_matrix_product([[a, b], [b, a]])
    case = f"a={a:.4g}, b={b:.4g}"
    exact_sd = 1.0 + math.log(a) / abs(math.log(b))
    check_close("SD of the dominance-trading cocycle", case, exact_sd,
                sharpness_dimension(system.exact_sharpness()),
                Tolerance("closed form 1 + ln a/|ln b|: a few roundings", atol=8 * EPS * exact_sd))
    check_close("D_KY of the dominance-trading cocycle", case, 0.0,
                kaplan_yorke_dimension(system.exact_lyapunov_exponents()),
                Tolerance("exact: Λ_1 = ½ ln(ab) < 0"))
    check_that("SD > D_KY strictly (exact, gap ≥ 1)", case,
               system.sharpness_dimension() >= system.lyapunov_dimension() + 1,
               "SD ≥ D_KY + 1", f"SD = {system.sharpness_dimension():.4g}")


def test_sd_strictly_exceeds_ky_for_the_pinned_cocycle_by_estimation():
    system = commuting_matrix_product([[2.0, 0.25], [0.25, 2.0]])
    Lam = _lyapunov(system, 0)
    samples = rds_sharpness_samples(system, system.initial_point[None, :], n_noise=N_NOISE,
                                    rng=1)
    lam_lo = samples.values("sup") - K_FEW * samples.stderr("sup")
    Lam_hi = Lam.exponents + K_FEW * Lam.stderr + BIAS
    sd, ky = sharpness_dimension(lam_lo), kaplan_yorke_dimension(Lam_hi)
    check_that("SD > D_KY strictly, from the estimates", "D = (2, ¼), (¼, 2); exact 1.5 vs 0",
               sd > ky, f"SD(λ̂ − {K_FEW:.2f} se) > D_KY(Λ̂ + {K_FEW:.2f} se + bias) = {ky:.4g}",
               f"{sd:.4g}")


# ----------------------------------------------------------------------------- fixed matrices


def _triangular_singular_values(a: float, b: float, c: float) -> tuple[float, float]:
    """σ of [[a, c], [0, b]]: σ₁² + σ₂² = a² + b² + c², σ₁σ₂ = |ab|, so
    σ₁ = ½(√((|a|+|b|)² + c²) + √((|a|−|b|)² + c²)). Written with (|a| ∓ |b|)² rather than
    a² + b² + c² ∓ 2|ab|, which cancels catastrophically when |a| ≈ |b| and c is small."""
    top = 0.5 * (math.hypot(abs(a) + abs(b), c) + math.hypot(abs(a) - abs(b), c))
    return top, abs(a * b) / top


@given(st.floats(-4.0, 4.0).filter(lambda v: abs(v) >= 0.1),
       st.floats(-4.0, 4.0).filter(lambda v: abs(v) >= 0.1), st.floats(-5.0, 5.0))
@example(0.5, 0.5, 2.0)  # Jordan-like: eigenvalues ½, ½ (D_KY = 0), σ₁ ≈ 2.1 (SD ≈ 1.35)
def test_weyl_inequality_makes_sd_bound_ky_for_fixed_matrices(a, b, c):
    system = fixed_matrix([[a, c], [0.0, b]])
    s1, s2 = _triangular_singular_values(a, b, c)
    lam = np.log([s1, s2])
    Lam = np.sort(np.log([abs(a), abs(b)]))[::-1]
    case = f"A = [[{a:.4g}, {c:.4g}], [0, {b:.4g}]]"
    check_close("ln σ(A) closed form = SVD", case, lam, system.exact_sharpness(),
                Tolerance("SVD backward error eps·‖A‖/σ_k, 8 ulps", atol=8 * EPS * s1 / s2))
    # Weyl: σ₁ ≥ max|μ| (strictly when c ≠ 0); σ₁σ₂ = |μ₁μ₂|.
    _check_partial_sums_dominate(case, np.cumsum(lam), 0.0, np.cumsum(Lam), 0.0, 0.0,
                                 8 * EPS * (1 + np.abs(lam).max()))
    sd, ky = sharpness_dimension(lam), kaplan_yorke_dimension(Lam)
    # A rounding-level deficit in S_1 moves D_KY by ≤ 8 ulps·(1+|λ|)/|Λ_2| (dimension tests).
    slack = 16 * EPS * (1 + np.abs(lam).max()) / max(abs(Lam[1]), 1e-3)
    check_that("SD ≥ D_KY for a fixed matrix (Weyl)", case, sd >= ky - slack, f"≥ {ky:.6g}",
               f"{sd:.6g}")
    if (a, b, c) == (0.5, 0.5, 2.0):
        check_that("SD > D_KY strictly for the non-normal pinned matrix", case, sd > ky + 1,
                   "SD > D_KY + 1", f"SD = {sd:.4g}, D_KY = {ky:.4g}")


# ----------------------------------------------------------------------------- nonlinear maps


def test_sd_never_below_ky_for_the_henon_attractor():
    system = henon(1.4, 0.3)
    Lam = _lyapunov(system, 0, n_steps=5000, transient=500)
    tail = trajectory_tail(system, system.initial_point, 3000, 2000, rng=0)
    lam = rds_sharpness(system, tail.points, rng=0, aggregate="sup")
    case = "Hénon (1.4, 0.3), 2000 attractor points"
    Lam_lo = Lam.exponents - K_FEW * Lam.stderr - 10.0 / 5000
    _check_partial_sums_dominate(case, np.cumsum(lam), 0.0, np.cumsum(Lam.exponents),
                                 np.cumsum(Lam.stderr), K_FEW, 10.0 / 5000)
    sd, ky = _check_sd_bounds_ky(case, lam, Lam_lo, K_FEW)
    # det J = −b everywhere: σ₁σ₂ = b pointwise, but the sup of ln σ₂ sits where σ₁ is smallest
    # (x ≈ 0: σ = (1, b)), so λ₁ + λ₂ > ln b and SD = 2, well above D_KY ≈ 1.26.
    Lam_hi = Lam.exponents + K_FEW * Lam.stderr + 10.0 / 5000
    check_that("SD > D_KY strictly on the Hénon attractor", case,
               sd > kaplan_yorke_dimension(Lam_hi), f"> D_KY(Λ̂ + se + bias) = "
               f"{kaplan_yorke_dimension(Lam_hi):.4g} (D_KY(Λ̂) = {ky:.4g})", f"SD = {sd:.4g}")


@settings(max_examples=RUN_EXAMPLES)
@given(logistic_parameters(margin=0.05))
def test_sd_never_below_ky_for_the_logistic_map(p):
    system = p.system()
    Lam = _lyapunov(system, 0)
    tail = trajectory_tail(system, system.initial_point, 1000, 500, rng=0)
    lam = rds_sharpness(system, tail.points, rng=0, aggregate="sup")
    case = f"r = {p.r:.6g} ({p.regime})"
    k = K_FEW
    _check_partial_sums_dominate(case, lam, 0.0, Lam.exponents, Lam.stderr, k, BIAS)
    sd, _ = _check_sd_bounds_ky(case, lam, Lam.exponents - k * Lam.stderr - BIAS, k)
    if p.regime == "two_cycle":
        # f'(p±) = −1 ∓ √((r+1)(r−3)): the outer cycle point always stretches (|f'| > 1) while
        # the cycle contracts on average, so SD = 1 > D_KY = 0 throughout the regime.
        exact = math.log(1 + math.sqrt((p.r + 1) * (p.r - 3)))
        check_close("sup ln|f'| on the 2-cycle = ln(1 + √((r+1)(r−3)))", case, exact, lam[0],
                    Tolerance("cycle points from the orbit: a few ulps of r and x amplified by "
                              "|f''|/|f'| ≤ 2r/|f'|", atol=64 * EPS * p.r / min(exact, 1.0)))
        ky_hi = kaplan_yorke_dimension(Lam.exponents + k * Lam.stderr + BIAS)
        check_that("SD > D_KY strictly on the logistic 2-cycle", case, sd > ky_hi,
                   f"> D_KY(Λ̂ + se + bias) = {ky_hi}", f"SD = {sd}")


@given(heavy_ball_parameters(max_dim=3))
def test_horn_inequality_makes_sd_bound_ky_for_heavy_ball(hb):
    system = hb.system()
    lam, Lam = system.exact_sharpness(), system.exact_lyapunov_exponents()
    case = f"lr={hb.lr:.4g}, β={hb.momentum:.4g}, lr·α={np.round(hb.lr * hb.eigenvalues, 4)}"
    finite = np.concatenate([lam[np.isfinite(lam)], Lam[np.isfinite(Lam)]])
    # Closed-form roots and singular values: a few ulps each, summed over up to 2d terms.
    tol = 16 * lam.size * EPS * (1 + float(np.abs(finite).max()))
    _check_partial_sums_dominate(case, np.cumsum(lam), 0.0, np.cumsum(Lam), 0.0, 0.0, tol)
    sd, ky = sharpness_dimension(lam), kaplan_yorke_dimension(Lam)
    slack = _ky_rounding_slack(tol, Lam)
    check_that("SD ≥ D_KY for heavy ball (Horn)", case, sd >= ky - slack,
               f"≥ {ky:.6g} − {slack:.2g}", f"{sd:.6g}")


def test_heavy_ball_sd_strictly_exceeds_ky_by_estimation():
    # β = 0.9, ηα = 1: complex roots of modulus √β (Λ = ½ ln 0.9 < 0, D_KY = 0) but the block
    # [[0, −0.9], [1, 0.9]] stretches: σ₁ ≈ 1.504, σ₂ = 0.9/σ₁, so SD ≈ 1 + 0.408/0.514 ≈ 1.79.
    system = heavy_ball_quadratic(np.array([[1.0]]), 1.0, 0.9)
    sigma = np.linalg.svd(np.array([[0.0, -0.9], [1.0, 0.9]]), compute_uv=False)
    lam = np.log(sigma)
    Lam = _lyapunov(system, 0)
    Lam_hi = Lam.exponents + K_FEW * Lam.stderr + BIAS
    case = "heavy ball β = 0.9, ηα = 1"
    check_close("Λ̂ of the heavy-ball block = ½ ln β (both roots)", case,
                [0.5 * math.log(0.9)] * 2, Lam.exponents,
                Tolerance(f"{K_FEW:.2f} batch-means stderr + QR bias 10/n",
                          atol=K_FEW * float(Lam.stderr.max()) + BIAS))
    sd, ky = sharpness_dimension(lam), kaplan_yorke_dimension(Lam_hi)
    check_that("SD > D_KY strictly for stable heavy ball", case, sd > ky + 1,
               f"> D_KY(Λ̂ + se + bias) + 1 = {ky + 1:.4g}", f"SD = {sd:.4g}")
