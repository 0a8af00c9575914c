"""Hénon map: Λ_1 + Λ_2 = ln|b| exactly, its fixed points, and the classical literature values.

Oracles: ``det J = −b`` (sympy), so ``ln|det J_t| = ln|b|`` at every step and the QR sum of
exponents must equal it up to the rounding of the QR steps; closed-form fixed points and
eigenvalues (cross-checked against sympy's ``solve`` and LAPACK's ``eigvals``); and, as a
literature reference only, Sprott's ``(0.41922, −1.62319)`` at ``(1.4, 0.3)``.

Rounding of the QR sum: one Householder QR of ``J Q`` is backward stable with
``‖E‖ ≤ c·d·eps·‖J‖``, which moves ``ln|det R|`` by at most ``d·‖(JQ)⁻¹‖·‖E‖ = c·d²·eps·κ(J)``
per step; with ``c = 32`` and ``κ(J) = σ_1/σ_2 = σ_1²/|b| ≤ ‖J‖²_F/|b|`` taken at the worst
state of the orbit, the mean over steps is within ``32·d²·eps·max κ``.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import sympy as sp
from hypothesis import example, given
from hypothesis import strategies as st

from sharpdim.dynamics.lyapunov import lyapunov_spectrum
from sharpdim.systems import henon
from sharpdim.systems.henon import (
    HENON_LITERATURE_EXPONENTS,
    HENON_LITERATURE_KY_DIMENSION,
    HENON_LITERATURE_SOURCE,
    henon_fixed_points_symbolic,
)
from sharpdim.testing.checking import EPS, Tolerance, check_close, check_that

N_STEPS = 500
TRANSIENT = 100


def _worst_condition(system, x0: np.ndarray, n: int) -> float:
    """``max_t ‖J(x_t)‖²_F / |b|`` (≥ κ(J_t) ≥ 1) along the orbit the QR run follows."""
    x, worst = np.array(x0, dtype=np.float64), 0.0
    for _ in range(n):
        worst = max(worst, float(np.sum(system.jacobian(x) ** 2)) / abs(system.b))
        x = system.step(x)
    return worst


# Parameters where the orbit of (0, 0) stays bounded: a grid scan of a ∈ [0.2, 1.4],
# |b| ∈ [0.05, 0.3] found no escape within 3000 steps (a bounded orbit is needed only so
# that the Jacobians stay finite; the identity itself holds along any orbit).
PARAMS_A = st.floats(0.2, 1.4)
A, B = sp.symbols("a b", real=True, nonzero=True)


@functools.cache
def _symbolic_fixed_points() -> list[tuple]:
    """``(x, y)`` expressions of the fixed points from sympy's ``solve`` (computed once)."""
    x, y = sp.symbols("x y")
    return [(p[x], p[y]) for p in henon_fixed_points_symbolic()[0]]
PARAMS_B = st.one_of(st.floats(0.05, 0.3), st.floats(-0.3, -0.05))


@given(PARAMS_A, PARAMS_B)
@example(1.4, 0.3)
@example(1.2, -0.3)
def test_henon_exponents_sum_to_log_abs_b(a, b):
    h = henon(a, b)
    spec = lyapunov_spectrum(h, h.initial_point, N_STEPS, transient=TRANSIENT, rng=0)
    kappa = _worst_condition(h, h.initial_point, TRANSIENT + N_STEPS)
    check_close(
        "Hénon: Λ_1 + Λ_2 = ln|b| (det J = −b)", f"a={a:.4g} b={b:.4g}",
        math.log(abs(b)), float(spec.exponents.sum()),
        Tolerance("QR backward error per step 32·d²·eps·κ(J), κ ≤ max ‖J‖²_F/|b| on the orbit, "
                  "+ summing n·d logs |ln σ| ≤ (|ln|b|| + ln κ)/2",
                  atol=32 * 4 * EPS * kappa
                  + 2 * N_STEPS * 2 * EPS * (abs(math.log(abs(b))) + math.log(kappa)) / 2),
    )
    check_close(
        "Hénon: mean ln|det J| (LU) = ln|b|", f"a={a:.4g} b={b:.4g}",
        math.log(abs(b)), float(spec.log_det_mean),
        Tolerance("summing n equal logs: n·eps relative",
                  atol=N_STEPS * EPS * abs(math.log(abs(b)))),
    )


def test_henon_jacobian_determinant_is_minus_b_symbolically():
    _, _, det = henon_fixed_points_symbolic()
    b = sp.Symbol("b", real=True, nonzero=True)
    check_that("sympy: det J = −b for the Hénon map", "symbolic a, b",
               sp.simplify(det + b) == 0, "-b", str(det))


@given(st.floats(0.1, 2.0), PARAMS_B)
@example(1.4, 0.3)
def test_henon_fixed_points_and_their_eigenvalues_in_closed_form(a, b):
    h = henon(a, b)
    points = h.fixed_points()
    eig = h.fixed_point_eigenvalues()
    case = f"a={a:.4g} b={b:.4g}"
    scale = 1.0 + float(np.abs(points).max())
    for p, z in zip(points, eig, strict=True):
        check_close("Hénon fixed point: f(p) = p", case, p, h.step(p),
                    Tolerance("3 roundings of terms of size a·x² + |y| + 1", atol=4 * EPS *
                              (1 + a * p[0] ** 2 + abs(p[1]))))
        lapack = np.sort_complex(np.linalg.eigvals(h.jacobian(p)))
        ours = np.sort_complex(z)
        check_close("Hénon fixed point: eigenvalues −ax ± √(a²x² + b) (vs LAPACK)", case,
                    np.concatenate([ours.real, ours.imag]),
                    np.concatenate([lapack.real, lapack.imag]),
                    Tolerance("eigenvalue condition of a 2×2 companion-like matrix: "
                              "16 eps·(1 + |2ax| + |b|)/|z₁ − z₂|",
                              atol=16 * EPS * (1 + abs(2 * a * p[0]) + abs(b))
                              / max(abs(z[0] - z[1]), 1e-300) * scale))
        check_close("Hénon fixed point: product of eigenvalues = −b", case, -b,
                    float((z[0] * z[1]).real),
                    Tolerance("(ax)² − (a²x² + b) cancellation: 8 eps·(a²x² + |b|)",
                              atol=8 * EPS * (a * a * p[0] ** 2 + abs(b))))
    # Independent derivation: sympy's solve of f(p) = p, evaluated at (a, b) in 30 digits.
    values = np.array(sorted(([float(sp.N(e.subs({A: a, B: b}), 30)) for e in point]
                              for point in _symbolic_fixed_points()), reverse=True))
    check_close("Hénon fixed points = sympy solve", case, values, points,
                Tolerance("sqrt and division with cancellation avoided: 8 eps·scale",
                          atol=8 * EPS * scale))


def test_henon_classical_exponents_match_the_literature():
    h = henon(1.4, 0.3)
    x0 = np.random.default_rng(0).uniform(-0.1, 0.1, size=(64, 2))  # basin of the attractor
    spec = lyapunov_spectrum(h, x0, 3000, transient=300, rng=0)
    lit = np.array(HENON_LITERATURE_EXPONENTS)
    # The gap Λ_1 − Λ_2 ≈ 2 per step aligns the frame within the 300-step transient
    # (misalignment ~e^{−600}), so the remaining error is statistical.
    tol = 4 * float(spec.stderr.max()) + 5e-6
    check_close("Hénon (1.4, 0.3): Λ ≈ (0.41922, −1.62319)", HENON_LITERATURE_SOURCE[:60],
                lit, spec.exponents,
                Tolerance("4 × batch-means stderr (64 orbits × 3000 steps) + 5e-6 literature "
                          "rounding", atol=tol))
    # D = 1 + Λ_1/|Λ_2| with Λ_2 = ln b − Λ_1: dD/dΛ_1 = −ln b/(Λ_1 − ln b)².
    slope = abs(math.log(0.3)) / (lit[0] - math.log(0.3)) ** 2
    d_ky = 1 + spec.exponents[0] / abs(spec.exponents[1])
    check_close("Hénon (1.4, 0.3): D_KY ≈ 1.25827", HENON_LITERATURE_SOURCE[:60],
                HENON_LITERATURE_KY_DIMENSION, d_ky,
                Tolerance("Λ_1 tolerance × |dD/dΛ_1| (Λ_1 + Λ_2 = ln b exactly) + 5e-6",
                          atol=slope * tol + 5e-6))
