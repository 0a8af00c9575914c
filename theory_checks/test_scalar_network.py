"""GD on the scalar linear network ½(uv − y)²: minima, the flattest-minimum threshold, the
balanced 2-cycle and GD's balancedness law.

Oracles: the sympy derivation ``scalar_network_symbolic()`` checked against the closed forms
stated in the module docstring (Hessian eigenvalues ``0, u² + v²`` on ``uv = y``, the flattest
minimum ``2|y|``, the 2-cycle ``s² = (k + 1 ± √((k − 1)(k + 3)))/(2η)`` with exponent products
``7 − 4k − 2k²`` and ``3 − 2k``, ``k = η|y|``), and QR estimates along the map's orbits.
QR tolerances as in test_quadratic_gd.py: the Jacobians here are symmetric and, on a fixed
point or on the balanced line, share their eigenvectors, so the frame bias is at most
``2·12/n`` per exponent (relative ``expm1(24/n)`` on the multiplier scale).
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp
from hypothesis import example, given
from hypothesis import strategies as st

from sharpdim.dynamics.lyapunov import lyapunov_spectrum
from sharpdim.systems import scalar_linear_network
from sharpdim.systems.scalar_network import scalar_network_symbolic
from sharpdim.testing.checking import EPS, Tolerance, check_close, check_that
from sharpdim.testing.strategies import ScalarNetworkParameters, scalar_network_parameters

N_STEPS = 600  # even: whole 2-cycle periods
FRAME_BIAS = float(np.expm1(2 * 12.0 / N_STEPS))
TARGETS = st.floats(0.1, 4.0).flatmap(lambda y: st.sampled_from([y, -y]))


def test_scalar_network_facts_symbolically():
    d = scalar_network_symbolic()
    u, y, eta, k = sp.symbols("u y eta k", positive=True)
    check_that("sympy: Hessian on uv = y has eigenvalues 0 and u² + v²", "symbolic u, y",
               {sp.simplify(e) for e in d.hessian_eigenvalues_on_minima}
               == {0, sp.simplify(u**2 + y**2 / u**2)},
               "{0, u² + y²/u²}", str(d.hessian_eigenvalues_on_minima))
    check_that("sympy: min over uv = y of u² + v² is 2y (balanced minimum)", "symbolic y > 0",
               sp.simplify(d.flattest - 2 * y) == 0, "2*y", str(d.flattest))
    closed = {(eta * y + 1 + sp.sqrt((eta * y - 1) * (eta * y + 3))) / (2 * eta),
              (eta * y + 1 - sp.sqrt((eta * y - 1) * (eta * y + 3))) / (2 * eta)}
    matched = all(any(sp.simplify(sp.expand(q - c)) == 0 for c in closed)
                  for q in d.cycle_squares)
    check_that("sympy: balanced 2-cycle s² = (k + 1 ± √((k−1)(k+3)))/(2η)", "symbolic η, y",
               matched and len(d.cycle_squares) == 2, str(closed), str(d.cycle_squares))
    check_that("sympy: 2-cycle multiplier products 7 − 4k − 2k² (along), 3 − 2k (across)",
               "symbolic k = ηy", sp.expand(d.along - (7 - 4 * k - 2 * k**2)) == 0
               and sp.expand(d.across - (3 - 2 * k)) == 0, "7 - 4k - 2k², 3 - 2k",
               f"{d.along}, {d.across}")
    check_that("sympy: u'² − v'² = (u² − v²)(1 − η²(uv − y)²)", "symbolic u, v, y, η",
               d.conservation_residual == 0, "0", str(d.conservation_residual))


@st.composite
def stable_minima(draw):
    """``(params, u)`` with ``η(u² + v²)`` strictly inside ``(0, 2)`` at ``(u, y/u)``."""
    params = draw(scalar_network_parameters(regime="stable_minima"))
    inv = 1.0 / params.lr
    root = math.sqrt(inv * inv - params.y**2)  # u² + y²/u² < 2/η ⇔ u² ∈ (inv − root, inv + root)
    t = draw(st.floats(0.05, 0.95))
    u2 = (inv - root) + t * 2 * root
    return params, draw(st.sampled_from([1.0, -1.0])) * math.sqrt(u2)


@given(stable_minima())
@example((ScalarNetworkParameters(1.0, 0.3, "stable_minima"), 1.0))
def test_scalar_network_minimum_exponents_are_zero_and_log_abs_one_minus_lr_sharpness(case):
    params, u = case
    net = scalar_linear_network(params.y, params.lr)
    point = net.minimum(u)
    sharp = float(point @ point)
    spec = lyapunov_spectrum(net, point, N_STEPS, rng=0)
    expected = np.sort([1.0, abs(1.0 - params.lr * sharp)])[::-1]
    check_close(
        "scalar network minimum: e^Λ = (1, |1 − η(u² + v²)|)",
        f"y={params.y:.4g} lr={params.lr:.4g} u={u:.4g}", expected, np.exp(spec.exponents),
        Tolerance("frame bias expm1(24/n) + rounding of the minimum and J, 32 eps (1 + η|w|²)",
                  atol=32 * EPS * (1 + params.lr * sharp), rtol=FRAME_BIAS),
    )


@given(scalar_network_parameters(), st.floats(0.1, 10.0))
@example(ScalarNetworkParameters(1.0, 0.99, "stable_minima"), 1.0)
@example(ScalarNetworkParameters(1.0, 1.01, "no_stable_minimum"), 1.0)
def test_scalar_network_gd_can_converge_only_if_lr_below_one_over_abs_y(params, u):
    net = scalar_linear_network(params.y, params.lr)
    case = f"y={params.y:.4g} lr={params.lr:.4g} u={u:.4g}"
    sharp = net.minimum_sharpness(u)
    check_that("scalar network: u² + v² ≥ 2|y| on uv = y (AM–GM)", case,
               sharp >= 2 * abs(params.y) * (1 - 4 * EPS), f">= {2 * abs(params.y):.6g}",
               f"{sharp:.6g}")
    balanced = net.balanced_minimum
    check_close("scalar network: the balanced minimum has u² + v² = 2|y|", case,
                2 * abs(params.y), float(balanced @ balanced),
                Tolerance("sqrt and squares: 4 eps·|y|", atol=4 * EPS * abs(params.y)))
    k = params.lr * abs(params.y)  # strategy keeps k ≥ 0.05 away from 1
    verdicts = {"η|y| < 1": k < 1.0, "balanced minimum stable": net.is_stable_minimum(
        balanced[0]), "generated regime": params.regime == "stable_minima"}
    check_that("scalar network: a GD-stable minimum exists ⇔ η|y| < 1", case,
               len(set(verdicts.values())) == 1, "all equal", str(verdicts))
    check_that("scalar network: any stable minimum ⇒ η|y| < 1", case,
               (not net.is_stable_minimum(u)) or k < 1.0, "implication holds",
               f"stable={net.is_stable_minimum(u)}, k={k:.4g}")


@st.composite
def cycle_parameters(draw):
    """``(y, lr)`` with ``k = lr·|y| ∈ [1.01, √5 − 1.01]``: the balanced 2-cycle attracts."""
    y = draw(TARGETS)
    k = draw(st.floats(1.01, math.sqrt(5.0) - 1.01))
    return y, k / abs(y)


@given(cycle_parameters())
@example((1.0, 1.1))
@example((-2.0, 0.6))
def test_scalar_network_balanced_two_cycle_and_its_exponents(params):
    y, lr = params
    net = scalar_linear_network(y, lr)
    k = net.k
    cycle = net.balanced_two_cycle()
    case = f"y={y:.4g} lr={lr:.4g} k={k:.4g}"
    s1 = float(cycle[0, 0])
    scale = 1.0 + s1 + lr * s1**3
    check_close("scalar network 2-cycle: f(p₁) = p₂ and f(p₂) = p₁", case,
                np.concatenate([cycle[1], cycle[0]]),
                np.concatenate([net.step(cycle[0]), net.step(cycle[1])]),
                Tolerance("one step of rounding on terms of size s + η s³: 8 eps", atol=8 * EPS
                          * scale))
    check_close("scalar network 2-cycle: s₁ s₂ = 1/η", case, 1.0 / lr,
                float(cycle[0, 0] * cycle[1, 0]),
                Tolerance("Vieta product, 4 roundings", rtol=4 * EPS))
    spec = lyapunov_spectrum(net, net.initial_point, N_STEPS, rng=0)
    along, across = math.sqrt(abs(7 - 4 * k - 2 * k * k)), math.sqrt(abs(3 - 2 * k))
    rho = max(along, across) ** 2  # per-period contraction of the cycle (< 1)
    delta = 16 * EPS * scale / (1.0 - rho)  # float orbit's distance from the exact cycle
    shift = lr * 8 * s1 * delta + 8 * EPS * (1 + lr * (3 * s1 * s1 + abs(y)))
    check_close(
        "scalar network 2-cycle: e^Λ = (√|7 − 4k − 2k²|, √|3 − 2k|) sorted", case,
        np.sort([along, across])[::-1], np.exp(spec.exponents),
        Tolerance("frame bias expm1(24/n) + J entries off by 8ηsδ + rounding, δ = 16 eps·scale"
                  "/(1 − ρ)", atol=shift, rtol=FRAME_BIAS),
    )


@given(st.floats(-4, 4), st.floats(-3, 3), st.floats(-3, 3), st.floats(1e-3, 2.0))
@example(1.0, 2.0, 0.5, 0.1)
def test_scalar_network_gd_rescales_the_balancedness_u2_minus_v2(y, u, v, lr):
    net = scalar_linear_network(y, lr)
    u1, v1 = net.step(np.array([u, v]))
    r = u * v - y
    expected = (u * u - v * v) * (1.0 - lr * lr * r * r)
    size = (u * u + v * v) * (1 + lr * lr * r * r) + (u1 * u1 + v1 * v1)
    check_close("scalar network: u'² − v'² = (u² − v²)(1 − η²(uv − y)²)",
                f"y={y:.3g} u={u:.3g} v={v:.3g} lr={lr:.3g}", expected, u1 * u1 - v1 * v1,
                Tolerance("~10 roundings of terms of size (u² + v²)(1 + η²r²)",
                          atol=16 * EPS * size))
