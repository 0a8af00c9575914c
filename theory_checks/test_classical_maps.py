"""Classical maps with exact exponents: cat map, doubling map, tent map, generalized baker.

Oracles: ``ln((3 ± √5)/2)`` for the cat map (sympy eigenvalues), ``ln 2`` and ``ln μ`` for the
doubling and tent maps (``|f'|`` is constant), and the Farmer–Ott–Yorke closed forms
``Λ = (−α ln α − β ln β, α ln λ_a + β ln λ_b)`` for the generalized baker's map, with
``D_KY = 1 + Λ_1/|Λ_2|`` and the one-step sharpness ``(ln max(1/α, 1/β), ln max(λ_a, λ_b))``.

Tolerances: constant symmetric Jacobians (cat map) carry only the Cauchy–Binet frame bias
``2·12/n`` (see test_quadratic_gd.py); 1-D maps with constant ``|f'|`` give the exponent up to
summation rounding; the baker's map is sampled from its invariant measure (``y`` uniform) so
its estimates are unbiased but for the frame bias (diagonal Jacobians), within
``4 × batch-means stderr + 24/n``.
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp
from hypothesis import example, given
from hypothesis import strategies as st

from sharpdim.dimension import kaplan_yorke_dimension
from sharpdim.dynamics.lyapunov import lyapunov_spectrum
from sharpdim.dynamics.sharpness import rds_sharpness
from sharpdim.systems import cat_map, doubling_map, generalized_baker, tent, toral_automorphism
from sharpdim.systems.classical import cat_map_exponents_symbolic
from sharpdim.testing.checking import EPS, Tolerance, check_close, check_that

N_STEPS = 1000
FRAME_BIAS = 2 * 12.0 / N_STEPS


def test_cat_map_exponents_are_log_golden_ratio_squared():
    m = cat_map()
    symbolic = cat_map_exponents_symbolic()
    expected = [math.log((3 + math.sqrt(5)) / 2), math.log((3 - math.sqrt(5)) / 2)]
    check_that("sympy: cat map exponents ln((3 ± √5)/2)", "[[2, 1], [1, 1]]",
               all(sp.simplify(s - sp.log(sp.Rational(3, 2) + sign * sp.sqrt(5) / 2)) == 0
                   for s, sign in zip(symbolic, (1, -1), strict=True)),
               "log(3/2 ± sqrt(5)/2)", str(symbolic))
    check_close("cat map: exact_lyapunov_exponents = ln((3 ± √5)/2)", "[[2, 1], [1, 1]]",
                expected, m.exact_lyapunov_exponents(),
                Tolerance("sqrt, division and log: 4 eps relative", rtol=4 * EPS))
    spec = lyapunov_spectrum(m, m.initial_point, N_STEPS, rng=0)
    check_close("cat map: e^Λ = (3 ± √5)/2 (QR)", "[[2, 1], [1, 1]], seed 0",
                np.exp(expected), np.exp(spec.exponents),
                Tolerance("Cauchy–Binet frame bias expm1(24/n) + QR rounding 32 eps·‖M‖",
                          atol=32 * EPS * 2.7, rtol=float(np.expm1(FRAME_BIAS))))
    check_close("cat map: Λ_1 + Λ_2 = ln|det M| = 0", "[[2, 1], [1, 1]], seed 0", 0.0,
                float(spec.exponents.sum()),
                Tolerance("QR backward error per step 32·d²·eps·κ(M) (κ = 6.85) + summing 2n "
                          "logs ≤ 1", atol=32 * 4 * EPS * 6.86 + 2 * 2 * N_STEPS * EPS))


@given(st.integers(1, 4), st.integers(1, 4), st.sampled_from([1, -1]), st.booleans())
@example(1, 1, 1, False)  # [[2, 1], [1, 1]]: the cat map
@example(1, 1, 1, True)  # det −1
def test_hyperbolic_toral_automorphism_exponents_are_log_abs_eigenvalues(k, m, sign, flip):
    # [[1, k], [0, 1]]·[[1, 0], [m, 1]] = [[1 + km, k], [m, 1]] ∈ SL(2, Z) with trace 2 + km > 2
    # (k, m of one sign); swapping the rows gives det −1 and trace m + k ≠ 0: both hyperbolic.
    k, m = sign * k, sign * m
    matrix = np.array([[1 + k * m, k], [m, 1]], dtype=float)
    if flip:
        matrix = matrix[::-1].copy()
    system = toral_automorphism(matrix)
    lapack = np.sort(np.log(np.abs(np.linalg.eigvals(matrix))))[::-1]
    check_close("toral automorphism: Λ = ln|eigenvalues(M)| (closed form vs LAPACK)",
                str(matrix.astype(int).tolist()), lapack, system.exact_lyapunov_exponents(),
                Tolerance("eigenvalues of an integer 2×2 with gap ≥ 1: 16 eps·‖M‖ relative to |z|",
                          atol=16 * EPS * float(np.abs(matrix).sum())))


def test_doubling_map_exponent_is_log_2():
    m = doubling_map()
    spec = lyapunov_spectrum(m, m.initial_point, N_STEPS, rng=0)
    check_close("doubling map: Λ = ln 2", "x0 = 1/√2", math.log(2.0), spec.exponents[0],
                Tolerance("mean of n equal logs: n·eps·ln 2 summation", atol=N_STEPS * EPS))


@given(st.floats(1.05, 2.0))  # closer to 1 the orbit creeps to the attractor like μ^t
@example(2.0)
@example(math.sqrt(2.0))
def test_tent_map_exponent_is_log_mu_on_its_attractor(mu):
    t = tent(mu)
    spec = lyapunov_spectrum(t, t.initial_point, 500, transient=100, rng=0)
    check_close("tent map: Λ = ln μ", f"mu={mu:.6g}", math.log(mu), spec.exponents[0],
                Tolerance("mean of n logs of ±μ: n·eps·|ln μ| summation",
                          atol=500 * EPS * max(abs(math.log(mu)), 1.0)))
    x = t.initial_point
    for _ in range(100):
        x = t.step(x)
    orbit = []
    for _ in range(500):
        orbit.append(float(x[0]))
        x = t.step(x)
    lo, hi = t.attractor_interval
    slack = 4 * EPS
    check_that("tent map: orbits settle in [μ − μ²/2, μ/2]", f"mu={mu:.6g}",
               lo - slack <= min(orbit) and max(orbit) <= hi + slack, f"[{lo:.6g}, {hi:.6g}]",
               f"[{min(orbit):.6g}, {max(orbit):.6g}]")


# α = ½ is excluded: y ↦ 2y mod 1 loses a bit per step and float orbits collapse onto y = 0
# (documented in sharpdim.systems.classical); every other α keeps rounding-generic orbits.
BAKERS = st.tuples(st.floats(0.15, 0.85).filter(lambda a: a != 0.5), st.floats(0.05, 0.5),
                   st.floats(0.05, 0.5))


def _stationary_points(n: int, seed: int) -> np.ndarray:
    """Uniform points of the square: their ``y``-marginal is the invariant (Lebesgue) law of the
    expanding coordinate, which alone decides the branch and hence the Jacobian."""
    return np.random.default_rng(seed).uniform(size=(n, 2))


@given(BAKERS)
@example((1.0 / 3.0, 0.2, 0.4))
@example((0.4, 0.5, 0.5))  # λ_a + λ_b = 1: the attractor fills the square, D_KY = 2
def test_generalized_baker_exponents_and_kaplan_yorke_dimension(params):
    alpha, la, lb = params
    m = generalized_baker(alpha, la, lb)
    beta = 1 - alpha
    x0 = _stationary_points(64, 0)
    spec = lyapunov_spectrum(m, x0, 400, rng=0)
    expected = np.array([-alpha * math.log(alpha) - beta * math.log(beta),
                         alpha * math.log(la) + beta * math.log(lb)])
    case = f"α={alpha:.4g} λa={la:.4g} λb={lb:.4g}"
    check_close("generalized baker: Λ = (H(α), α ln λ_a + β ln λ_b) (QR, 64 stationary orbits)",
                case, np.sort(expected)[::-1], spec.exponents,
                Tolerance("4 × batch-means stderr + Cauchy–Binet frame bias 24/n (diagonal J)",
                          atol=4 * float(spec.stderr.max()) + 2 * 12.0 / 400))
    check_close("generalized baker: D_KY = 1 + H(α)/|α ln λ_a + β ln λ_b|", case,
                1 + expected[0] / abs(expected[1]), m.lyapunov_dimension(),
                Tolerance("a few logs and one division: 16 eps relative", rtol=16 * EPS))


def test_generalized_baker_sd_strictly_exceeds_its_lyapunov_dimension():
    m = generalized_baker(1.0 / 3.0, 0.2, 0.4)
    points = _stationary_points(200, 1)
    for _ in range(40):
        points = m.step_batch(points)
    sup = rds_sharpness(m, points, rng=0, aggregate="sup")
    check_close("generalized baker: one-step sup sharpness = (ln max(1/α, 1/β), ln max λ)",
                "α=1/3 λa=0.2 λb=0.4, 200 attractor points", m.exact_sharpness("sup"), sup,
                Tolerance("both strips are sampled (P(miss) = (2/3)^200): SVD of a diagonal "
                          "matrix, 4 eps relative", rtol=4 * EPS))
    sd, dky = m.sharpness_dimension("sup"), m.lyapunov_dimension()
    check_that("generalized baker: SD (sup) > D_KY strictly (different points maximize σ_1, σ_2)",
               "α=1/3 λa=0.2 λb=0.4", sd > dky + 0.1, f"> {dky:.4g} + 0.1", f"{sd:.4g}")
    check_close("generalized baker: mean sharpness = Λ (natural measure)",
                "α=1/3 λa=0.2 λb=0.4", m.exact_lyapunov_exponents(), m.exact_sharpness("mean"),
                Tolerance("same closed form", atol=0.0))
    check_that("generalized baker: KY of the exact Λ = lyapunov_dimension",
               "α=1/3 λa=0.2 λb=0.4",
               kaplan_yorke_dimension(m.exact_lyapunov_exponents()) == dky, f"{dky}", f"{dky}")
