"""Heavy-ball momentum on quadratics: exponents from the roots of z² − (1 + β − ηα) z + β.

Oracles: LAPACK's companion-matrix roots (``np.roots``) of the characteristic polynomial on
the generating spectrum (independent of the catalogue's closed-form root code), the sympy
characteristic polynomial of the update's Jacobian block, ``det = β`` per block, LAPACK's SVD
for the one-step singular values, and GD itself for ``β = 0``.

QR tolerance for the constant, non-normal Jacobian ``J = U D U⁻¹`` (``U`` = orthogonal ⊕ the
2×2 blocks' unit eigenvectors): as for symmetric maps (see test_quadratic_gd.py) the volume
of the first ``k`` frame vectors is ``e^{m S_k + c(m)}``, now with ``|c(m)| ≤ 12 + k ln κ(U)``
(Haar frame, ``κ(U)`` the worst block's eigenvector condition number), so on the multiplier
scale the relative error is at most ``expm1(2(12 + 2d ln κ)/n)``. Rounding of one QR step
(``16·2d·eps·‖J‖``) is amplified by at most ``κ(U)``.
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp
from hypothesis import example, given

from sharpdim.dimension import kaplan_yorke_dimension
from sharpdim.dynamics.lyapunov import lyapunov_spectrum
from sharpdim.systems import heavy_ball_quadratic, quadratic_gd
from sharpdim.systems.heavy_ball import heavy_ball_characteristic_polynomial_symbolic
from sharpdim.testing.checking import EPS, Tolerance, check_close, check_that
from sharpdim.testing.strategies import (
    HeavyBallParameters,
    heavy_ball_parameters,
    quadratic_losses,
)

N_STEPS = 1000
FRAME_LOG_MISALIGNMENT = 12.0


def _pinned(eigenvalues, lr, momentum, regime) -> HeavyBallParameters:
    alpha = np.sort(np.asarray(eigenvalues, dtype=np.float64))[::-1].copy()
    return HeavyBallParameters(np.diag(alpha), alpha, np.eye(alpha.size), float(lr),
                               float(momentum), regime)


COMPLEX = _pinned([1.0], 1.0, 0.5, "stable")  # roots ½(½ ± i√7/2)·…: |z| = √β, SD > D_KY = 0
MIXED = _pinned([4.5, 1.0, 0.05], 1.0, 0.5, "edge_of_stability")  # ηα = 4.5 > 2(1 + β)
TYPICAL = _pinned([2.0, 0.1], 0.1, 0.9, "stable")  # lr 0.1, momentum 0.9


def _case(q: HeavyBallParameters) -> str:
    return (f"d={q.dim} lr={q.lr:.3g} β={q.momentum:.3g} "
            f"ηα={np.round(q.lr * q.eigenvalues, 3).tolist()}")


def _root_moduli(q: HeavyBallParameters) -> np.ndarray:
    """``|z|`` of every root of ``z² − (1 + β − ηα) z + β`` (LAPACK companion), descending."""
    roots = [np.roots([1.0, -(1.0 + q.momentum - q.lr * a), q.momentum]) for a in q.eigenvalues]
    return np.sort(np.abs(np.concatenate(roots)))[::-1]


def _eigenvector_condition(q: HeavyBallParameters) -> float:
    """Worst condition number of the blocks' unit-eigenvector matrices (inf for a Jordan block)."""
    worst = 1.0
    for a in q.eigenvalues:
        block = np.array([[1.0 - q.lr * a, -q.lr * q.momentum], [a, q.momentum]])
        _, vectors = np.linalg.eig(block)
        worst = max(worst, float(np.linalg.cond(vectors)))
    return worst


@given(heavy_ball_parameters(min_momentum=0.05, max_dim=3))
@example(COMPLEX)
@example(MIXED)
@example(TYPICAL)
def test_heavy_ball_lyapunov_exponents_are_log_moduli_of_the_characteristic_roots(q):
    hb = heavy_ball_quadratic(q.hessian, q.lr, q.momentum)
    spec = lyapunov_spectrum(hb, hb.initial_point, N_STEPS, rng=0)
    kappa = _eigenvector_condition(q)
    norm = float(np.linalg.norm(hb.jacobian(), 2))
    bias = 2 * (FRAME_LOG_MISALIGNMENT + hb.dim * math.log(kappa)) / N_STEPS
    check_close(
        "heavy ball: e^Λ = |roots of z² − (1 + β − ηα) z + β| (QR estimate)", _case(q),
        _root_moduli(q), np.exp(spec.exponents),
        Tolerance("frame bias expm1(2(12 + 2d ln κ(U))/n) + κ(U)·16·2d·eps·‖J‖ rounding",
                  atol=kappa * 16 * hb.dim * EPS * norm, rtol=float(np.expm1(bias))),
    )
    check_close(
        "heavy ball: exact_lyapunov_exponents = ln|roots| (multiplier scale)", _case(q),
        _root_moduli(q), np.exp(hb.exact_lyapunov_exponents()),
        Tolerance("root conditioning: κ·16 eps·(1 + β + ηα_max) (LAPACK and closed form)",
                  atol=kappa * 16 * EPS * (1.0 + q.momentum + float(np.abs(q.lr * q.eigenvalues)
                                                                    .max()))),
    )


@given(heavy_ball_parameters(min_momentum=0.05, max_dim=3))
@example(COMPLEX)
@example(MIXED)
def test_heavy_ball_exponents_sum_to_d_log_momentum(q):
    hb = heavy_ball_quadratic(q.hessian, q.lr, q.momentum)
    spec = lyapunov_spectrum(hb, hb.initial_point, 200, rng=1)
    sigma = hb.singular_values()
    kappa = float(sigma[0] / sigma[-1])
    expected = q.dim * math.log(q.momentum)
    check_close("heavy ball: Σ Λ = d ln β (QR sum)", _case(q), expected,
                float(spec.exponents.sum()),
                Tolerance("QR backward error per step 32·(2d)²·eps·κ(J) + summing 200·2d logs "
                          "of size ≤ max|ln σ|",
                          atol=32 * hb.dim**2 * EPS * kappa
                          + 2 * 200 * hb.dim * EPS * float(np.abs(np.log(sigma)).max())))
    check_close("heavy ball: Σ exact exponents = d ln β", _case(q), expected,
                float(hb.exact_lyapunov_exponents().sum()),
                Tolerance("2d logs of root moduli, Vieta pairing: 8·2d eps·(1 + |ln β|)",
                          atol=8 * hb.dim * EPS * (1 + abs(math.log(q.momentum)))))


@given(quadratic_losses(max_dim=4))
def test_heavy_ball_with_zero_momentum_is_gd(q):
    hb = heavy_ball_quadratic(q.hessian, q.lr, 0.0)
    gd = quadratic_gd(q.hessian, q.lr)
    w = np.random.default_rng(0).normal(size=q.dim)
    state = np.concatenate([w, np.random.default_rng(1).normal(size=q.dim)])
    check_close("heavy ball β = 0: w-update = GD step", f"d={q.dim} lr={q.lr:.3g}",
                gd.step(w), hb.step(state)[: q.dim],
                Tolerance("identical operations (0·v = 0 exactly)", atol=0.0))
    exps = hb.exact_lyapunov_exponents()
    check_close("heavy ball β = 0: exponents = GD's ln|1 − ηα| and −∞ (v-block)",
                f"d={q.dim} lr={q.lr:.3g}",
                np.concatenate([gd.exact_lyapunov_exponents(), np.full(q.dim, -np.inf)]), exps,
                Tolerance("same log_abs_one_minus on the same curvatures", atol=0.0))


def test_heavy_ball_characteristic_polynomial_symbolically():
    poly, expected = heavy_ball_characteristic_polynomial_symbolic()
    check_that("sympy: det(zI − M_α) = z² − (1 + β − ηα) z + β for the (w, v) update",
               "symbolic η, α, β", sp.expand(poly - expected) == 0, str(expected), str(poly))


@given(heavy_ball_parameters(min_momentum=0.05, max_dim=3))  # β = 0: singular J, see above
@example(COMPLEX)
@example(MIXED)
@example(TYPICAL)
def test_heavy_ball_one_step_singular_values_closed_form_and_sd_above_lyapunov_dimension(q):
    hb = heavy_ball_quadratic(q.hessian, q.lr, q.momentum)
    jac = hb.jacobian()
    lapack = np.linalg.svd(jac, compute_uv=False)
    norm = float(lapack[0])
    check_close("heavy ball: σ± = (√(F + 2β) ± √(F − 2β))/2 per block (vs LAPACK SVD)", _case(q),
                lapack, hb.singular_values(),
                Tolerance("SVD backward error 16·2d·eps·‖J‖ (absolute on σ)",
                          atol=16 * hb.dim * EPS * norm))
    lam, exps = hb.exact_sharpness(), hb.exact_lyapunov_exponents()
    # Per-value rounding: ln σ from the closed form (relative error ∝ σ_1/σ_2d) and ln|z| from
    # the roots (∝ the eigenvector condition κ), both with a 16·2d·eps margin.
    sigma = hb.singular_values()
    eps = 16 * hb.dim * EPS * (float(sigma[0] / sigma[-1]) + _eigenvector_condition(q))
    gap = np.cumsum(lam) - np.cumsum(exps)  # Horn: ≥ 0 for every k (= 0 at k = 2d)
    k = np.arange(1, hb.dim + 1)
    check_that("heavy ball: Σ_{i≤k} ln σ_i ≥ Σ_{i≤k} ln|z_i| for all k (Horn)", _case(q),
               bool(np.all(gap >= -2 * k * eps)), "all partial-sum gaps >= -2kε",
               str(np.round(gap, 6).tolist()))
    # KY is non-decreasing in every value, so with all values within ε of the exact ones,
    # SD_exact ≥ D_KY_exact implies KY(λ + ε) ≥ KY(Λ − ε): a rigorous check even where KY
    # jumps (a value within rounding of 0 after a zero partial sum).
    check_that("heavy ball: SD (one-step σ) ≥ D_KY (|roots|)", _case(q),
               kaplan_yorke_dimension(lam + eps) >= kaplan_yorke_dimension(exps - eps),
               f">= {hb.lyapunov_dimension():.6g}", f"{hb.sharpness_dimension():.6g}")


def test_heavy_ball_sd_strictly_exceeds_the_lyapunov_dimension_for_complex_roots():
    hb = heavy_ball_quadratic(np.array([[1.0]]), lr=1.0, momentum=0.5)
    # Roots of z² − ½z + ½: complex, |z| = √½ ⇒ Λ = (−½ln2, −½ln2), D_KY = 0. F = 1.5:
    # σ± = (√2.5 ± √0.5)/2, ln σ+ > 0 ⇒ SD = 1 + ln σ+/|ln σ−|.
    plus, minus = (math.sqrt(2.5) + math.sqrt(0.5)) / 2, (math.sqrt(2.5) - math.sqrt(0.5)) / 2
    expected_sd = 1 + math.log(plus) / abs(math.log(minus))
    check_close("heavy ball (α=1, η=1, β=½): SD = 1 + ln σ+/|ln σ−| > D_KY = 0", "d=1",
                [expected_sd, 0.0], [hb.sharpness_dimension(), hb.lyapunov_dimension()],
                Tolerance("a few roundings of σ± and their logs: 16 eps", atol=16 * EPS))
    check_that("heavy ball (α=1, η=1, β=½): SD > D_KY strictly", "d=1",
               hb.sharpness_dimension() > hb.lyapunov_dimension() + 0.1,
               "SD > D_KY + 0.1", f"SD={hb.sharpness_dimension():.4g}, "
               f"D_KY={kaplan_yorke_dimension(hb.exact_lyapunov_exponents()):.4g}")
