"""Logistic map exponents (fixed point, 2-cycle, r = 4) and GD on a cubic loss ≡ logistic.

Oracles: closed forms ``ln|2 − r|``, ``½ ln|−r² + 2r + 4|``, ``ln 2`` (each derived with sympy in
``sharpdim.systems.logistic``, checked here symbolically), and the cubic-loss identity.

For 1-D maps the QR estimate is the Birkhoff average of ``ln|f'(x_t)|``, so on a fixed point
or cycle its error is set by how far the float orbit sits from the exact one: with
``|x_t − p_t| ≤ δ_t`` the computed ``|r(1 − 2x_t)|`` is within ``e_t = 2r δ_t + 4r·eps`` of
``|f'(p_t)|``, and the geometric mean ``e^Λ̂`` lies between the geometric means of the shifted
multipliers (checked on that interval, which stays meaningful when ``f'(p) → 0``).
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp
from hypothesis import example, given
from hypothesis import strategies as st

from sharpdim.dynamics.lyapunov import lyapunov_spectrum
from sharpdim.systems import cubic_loss_gd, logistic
from sharpdim.systems.cubic_loss import cubic_loss_logistic_conjugacy_symbolic
from sharpdim.systems.logistic import (
    logistic_cycle2_exponent_symbolic,
    logistic_cycle2_symbolic,
    logistic_fixed_points_symbolic,
    logistic_r4_exponent_symbolic,
)
from sharpdim.testing.checking import EPS, Tolerance, check_close, check_that
from sharpdim.testing.strategies import LogisticParameters, logistic_parameters

N_STEPS = 400  # even: a whole number of 2-cycle periods


def _orbit(system, x0: float, n: int) -> np.ndarray:
    xs = np.empty(n)
    x = np.array([x0])
    for t in range(n):
        xs[t] = x[0]
        x = system.step(x, None)
    return xs


def _geometric_mean_interval(multipliers: np.ndarray, slack: float) -> tuple[float, float]:
    """Bounds of ``(Π (m_i ± slack))^{1/p}`` over one period (``m_i ≥ 0``)."""
    lo = float(np.prod(np.maximum(multipliers - slack, 0.0)) ** (1 / multipliers.size))
    hi = float(np.prod(multipliers + slack) ** (1 / multipliers.size))
    return lo, hi


def _check_multiplier(claim, case, lo, hi, measured_exponent, reason):
    check_close(claim, case, (lo + hi) / 2, math.exp(measured_exponent),
                Tolerance(reason, atol=(hi - lo) / 2 + 2 * EPS))


# ---------------------------------------------------------------------------- fixed point


@given(logistic_parameters(regime="fixed_point"))
@example(LogisticParameters(2.5, "fixed_point"))
@example(LogisticParameters(2.0, "fixed_point"))  # superstable: f'(x*) = 0, Λ = −∞
def test_logistic_fixed_point_exponent_is_log_abs_two_minus_r(params):
    r = params.r
    m = logistic(r)
    spec = lyapunov_spectrum(m, m.initial_point, N_STEPS, rng=0)
    # Orbit rounding: 2 eps from forming 1 − 1/r, 4 eps per step, contracted by |2 − r| < 1.
    delta = 2 * EPS + 4 * EPS / (1.0 - abs(2.0 - r))
    lo, hi = _geometric_mean_interval(np.array([abs(2.0 - r)]), 2 * r * delta + 4 * r * EPS)
    _check_multiplier("logistic fixed point: e^Λ = |2 − r|", f"r={r:.6g}", lo, hi,
                      spec.exponents[0],
                      "orbit within δ = 2eps + 4eps/(1 − |2 − r|) of x*: |f'| off by 2rδ + 4r·eps")


@given(logistic_parameters(regime="fixed_point", margin=0.05), st.floats(0.05, 0.95))
@example(LogisticParameters(2.8, "fixed_point"), 0.3)
def test_logistic_fixed_point_attracts_generic_orbits_with_its_exponent(params, x0):
    r = params.r
    m = logistic(r)
    transient = 700  # contraction ≤ 0.95 per step near x*: 0.95^700 ≈ 2.6e-16
    spec = lyapunov_spectrum(m, np.array([x0]), N_STEPS, transient=transient, rng=0)
    orbit = _orbit(m, x0, transient + N_STEPS)[transient:]
    delta = float(np.abs(orbit - (1.0 - 1.0 / r)).max())
    check_that("logistic fixed point attracts (0, 1)", f"r={r:.4g} x0={x0:.4g}",
               delta < 1e-9, "max |x_t − x*| after transient < 1e-9", f"{delta:.3g}")
    lo, hi = _geometric_mean_interval(np.array([abs(2.0 - r)]), 2 * r * delta + 4 * r * EPS)
    _check_multiplier("logistic fixed point from a generic start: e^Λ = |2 − r|",
                      f"r={r:.4g} x0={x0:.4g}", lo, hi, spec.exponents[0],
                      "measured distance δ of the averaged orbit from x*: |f'| off by 2rδ + 4r·eps")


@given(logistic_parameters(regime="extinction", margin=0.05))
def test_logistic_extinction_exponent_is_log_r(params):
    m = logistic(params.r)
    transient = 700  # contraction ≤ 0.95 per step near 0
    spec = lyapunov_spectrum(m, np.array([0.5]), N_STEPS, transient=transient, rng=0)
    orbit = _orbit(m, 0.5, transient + N_STEPS)[transient:]
    delta = float(np.abs(orbit).max())  # distance to the attracting fixed point 0
    lo, hi = _geometric_mean_interval(np.array([params.r]), 2 * params.r * delta + 4 * EPS)
    _check_multiplier("logistic extinction: e^Λ = r", f"r={params.r:.4g}", lo, hi,
                      spec.exponents[0],
                      "measured distance δ of the averaged orbit from 0: |f'| off by 2rδ + 4eps")


def test_logistic_fixed_points_and_multipliers_symbolically():
    derived = logistic_fixed_points_symbolic()
    r = sp.Symbol("r", positive=True)
    expected = {sp.Integer(0): r, 1 - 1 / r: 2 - r}
    matched = [
        any(sp.simplify(p - point) == 0 and sp.simplify(slope - value) == 0
            for p, slope in derived.items())
        for point, value in expected.items()
    ]
    check_that("sympy: logistic fixed points 0, 1 − 1/r with f' = r, 2 − r", "symbolic r",
               len(derived) == 2 and all(matched), "{0: r, 1 − 1/r: 2 − r}", str(derived))


# ---------------------------------------------------------------------------- 2-cycle


@given(logistic_parameters(regime="two_cycle"))
@example(LogisticParameters(3.2, "two_cycle"))
@example(LogisticParameters(1.0 + math.sqrt(5.0), "two_cycle"))  # superstable 2-cycle
def test_logistic_two_cycle_exponent_is_half_log_abs_minus_r2_plus_2r_plus_4(params):
    r = params.r
    m = logistic(r)
    cycle = m.two_cycle()
    spec = lyapunov_spectrum(m, cycle[:1], N_STEPS, rng=0)
    q = abs(-r * r + 2 * r + 4)  # |f'(p+) f'(p−)|, the 2-step multiplier (< 1: attracting)
    # Cycle points: a sqrt and a division (4 eps); per step 4 eps, contracted by q per period.
    delta = 4 * EPS + 8 * EPS * (1 + r) / (1.0 - q)
    derivs = np.abs(r * (1.0 - 2.0 * np.array([(r + 1 + math.sqrt((r - 3) * (r + 1))) / (2 * r),
                                                (r + 1 - math.sqrt((r - 3) * (r + 1))) / (2 * r)])))
    lo, hi = _geometric_mean_interval(derivs, 2 * r * delta + 4 * r * EPS)
    check_close("logistic 2-cycle: e^Λ = √|−r² + 2r + 4|", f"r={r:.6g}", math.sqrt(q),
                float(np.sqrt(np.prod(derivs))),
                Tolerance("product of the two |f'(p±)| vs the polynomial: 16 eps·r² rounding",
                          atol=16 * EPS * r * r))
    _check_multiplier("logistic 2-cycle: e^Λ (QR) = √|−r² + 2r + 4|", f"r={r:.6g}", lo, hi,
                      spec.exponents[0],
                      "orbit within δ of the cycle: each |f'| off by 2rδ + 4r·eps; even n")
    back = m.step(m.step(cycle[:1], None), None)
    check_close("logistic 2-cycle points satisfy f(f(p)) = p", f"r={r:.6g}", cycle[:1], back,
                Tolerance("two steps of rounding, 8 eps·(1 + r)", atol=8 * EPS * (1 + r)))


def test_logistic_two_cycle_and_its_multiplier_symbolically():
    points, multiplier = logistic_cycle2_symbolic()
    r = sp.Symbol("r", positive=True)
    root = sp.sqrt((r - 3) * (r + 1))
    expected = {(r + 1 + root) / (2 * r), (r + 1 - root) / (2 * r)}
    matched = all(any(sp.simplify(sp.expand(p - e)) == 0 for e in expected) for p in points)
    check_that("sympy: 2-cycle points (r + 1 ± √((r−3)(r+1)))/(2r)", "symbolic r",
               matched and len(points) == 2, str(expected), str(points))
    check_that("sympy: f'(p+) f'(p−) = −r² + 2r + 4", "symbolic r",
               sp.simplify(multiplier - (-(r**2) + 2 * r + 4)) == 0,
               "-r**2 + 2*r + 4", str(multiplier))
    exponent = logistic_cycle2_exponent_symbolic()
    check_that("sympy: 2-cycle exponent ½ ln|−r² + 2r + 4|", "symbolic r",
               sp.simplify(exponent - sp.log(sp.Abs(-(r**2) + 2 * r + 4)) / 2) == 0,
               "log(Abs(-r**2 + 2*r + 4))/2", str(exponent))


# ---------------------------------------------------------------------------- r = 4


def test_logistic_r4_exponent_is_log_2_symbolically():
    d = logistic_r4_exponent_symbolic()
    check_that("sympy: arcsine density is invariant under 4x(1−x)", "r = 4",
               d.invariance_residual == 0 and d.mass == 1, "residual 0, mass 1",
               f"residual {d.invariance_residual}, mass {d.mass}")
    check_that("sympy: f'(x)² = 16(1 − f(x)) at r = 4", "r = 4",
               d.derivative_identity_residual == 0, "0", str(d.derivative_identity_residual))
    check_that("sympy: Λ = ln 4 + ½ E ln x = ln 2 at r = 4", "r = 4",
               sp.simplify(d.exponent - sp.log(2)) == 0, "log(2)", str(d.exponent))


def test_logistic_r4_exponent_is_log_2_along_stationary_orbits():
    m = logistic(4.0)
    rng = np.random.default_rng(20240)
    # Initial points drawn from the invariant (arcsine) law: x = sin²(πU/2), U uniform. Then
    # every x_t has that law, so the ensemble average has no transient bias.
    x0 = np.sin(np.pi * rng.uniform(size=(64, 1)) / 2) ** 2
    spec = lyapunov_spectrum(m, x0, 500, rng=1, n_batches=20)
    check_close("logistic r = 4: Λ = ln 2 (QR over stationary orbits)",
                "64 orbits × 500 steps, seed 20240", math.log(2.0), spec.exponents[0],
                Tolerance("4 × batch-means stderr (no transient bias: stationary start)",
                          atol=4 * float(spec.stderr[0])))


# ---------------------------------------------------------------------------- cubic loss


def test_gd_on_the_cubic_loss_is_the_logistic_map_symbolically():
    c = cubic_loss_logistic_conjugacy_symbolic()
    check_that("sympy: x − η L'(x) = r x (1 − x) for L = ((1−r)x²/2 + r x³/3)/η",
               "symbolic r, η", c.identity_residual == 0, "0", str(c.identity_residual))
    a, eta = sp.symbols("a eta", real=True)
    check_that("sympy: GD on a w²/2 + c w³/3 is conjugate to logistic(1 − ηa) via x = ηc w/(1−ηa)",
               "symbolic a, c, η", c.conjugacy_residual == 0
               and sp.simplify(c.parameter - (1 - eta * a)) == 0,
               "0 and R = 1 − ηa", f"{c.conjugacy_residual}, R = {c.parameter}")


@given(st.floats(0.05, 4.0), st.floats(1e-3, 10.0), st.lists(st.floats(0.0, 1.0), min_size=1,
                                                          max_size=8))
@example(3.2, 0.1, [0.3, 0.79945549])
@example(4.0, 1.0, [0.0, 0.5, 1.0])
def test_gd_on_the_cubic_loss_steps_like_the_logistic_map(r, lr, xs):
    gd, lm = cubic_loss_gd(r, lr), logistic(r)
    xs = np.array(xs)[:, None]
    # x − lr·(((1 − r)x + r x²)/lr) vs r x(1 − x): ~8 roundings of terms of size ≤ |x|(1+|1−r|+2r).
    bound = 8 * EPS * float(np.max(np.abs(xs) * (1 + abs(1 - r) + 2 * r)))
    check_close("cubic-loss GD step = logistic step (float64)", f"r={r:.4g} lr={lr:.3g}",
                lm.step_batch(xs), gd.step_batch(xs),
                Tolerance("8 roundings of terms of size |x|(1 + |1 − r| + 2r)", atol=bound))
    check_close("cubic-loss GD Jacobian = logistic derivative", f"r={r:.4g} lr={lr:.3g}",
                lm.jacobian_batch(xs), gd.jacobian_batch(xs),
                Tolerance("6 roundings of terms of size 1 + |1 − r| + 2r",
                          atol=6 * EPS * (2 + 3 * r)))


@given(st.floats(1.01, 4.0), st.floats(1e-3, 10.0))
@example(3.0 + 1e-9, 0.1)
@example(3.2, 0.1)
def test_cubic_loss_minimizer_loses_stability_exactly_at_the_edge_of_stability(r, lr):
    gd = cubic_loss_gd(r, lr)
    sharp = gd.minimizer_sharpness
    multiplier = 1.0 - lr * sharp  # GD multiplier at the minimizer, 1 − η L''(x*)
    check_close("cubic loss: 1 − η L''(x*) = 2 − r (logistic multiplier)", f"r={r:.6g} lr={lr:.3g}",
                2.0 - r, multiplier,
                Tolerance("(r − 1)/η·η and 1 − ·: 4 eps·r", atol=4 * EPS * r))
    verdicts = {"r > 3": r > 3.0, "edge_of_stability": gd.edge_of_stability,
                "Λ(x*) = ln|2 − r| > 0": bool(logistic(r).fixed_point_exponents[1] > 0)}
    if abs(r - 3.0) > 16 * EPS * r:  # outside the rounding band of η·(r − 1)/η around 2
        verdicts["η L''(x*) > 2"] = bool(lr * sharp > 2.0)
    check_that("cubic loss: EoS at the minimizer ⇔ r > 3 (period doubling)",
               f"r={r:.6g} lr={lr:.3g}", len(set(verdicts.values())) == 1, "all equal",
               str(verdicts))
