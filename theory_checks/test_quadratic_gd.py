"""GD on quadratics: exact exponents, SD = Lyapunov dimension, and the edge of stability.

Oracles: the closed form ``ln|1 − ηα_i|`` evaluated on the *generating* spectrum (the
strategy builds ``A = Q diag(α) Qᵀ``), a sympy derivation of the Jacobian, and the
equivalence EoS ⇔ ``λ_1 > 0`` ⇔ ``ηα_max > 2`` or ``α_min < 0``.

Tolerances for QR estimates of a constant symmetric Jacobian ``J`` (no noise): by
Cauchy–Binet the volume of the first ``k`` frame vectors after ``m`` steps is
``e^{m S_k} e^{c(m)}`` with ``ln|det C_k| ≤ c(m) ≤ 0`` (``C = VᵀQ_0``, ``V`` eigenvectors,
``Q_0`` the random initial frame), so each estimated exponent is within
``2 |ln|det C_k|| / n`` of the truth, whatever the transient. For a Haar frame
``|ln|det C_k|| ≤ 12`` except with probability ~1e-5; on the multiplier scale ``e^Λ`` this is a
relative error ``expm1(24 / n)``. Rounding (forming ``A``, ``I − ηA``, each QR step) moves the
multipliers by at most ``16·d·eps·(1 + η max|α|)`` in absolute terms.
"""

from __future__ import annotations

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from sharpdim.dimension import kaplan_yorke_dimension, sharpness_dimension
from sharpdim.dynamics.lyapunov import lyapunov_spectrum
from sharpdim.dynamics.sharpness import rds_sharpness
from sharpdim.systems import quadratic_gd
from sharpdim.systems.quadratic import quadratic_gd_jacobian_symbolic
from sharpdim.testing.checking import EPS, Tolerance, check_close, check_that
from sharpdim.testing.strategies import QuadraticGDParameters, quadratic_losses

N_STEPS = 1200
FRAME_LOG_MISALIGNMENT = 12.0
SEEDS = st.integers(0, 2**31 - 1)


def _pinned(eigenvalues, lr, regime) -> QuadraticGDParameters:
    alpha = np.sort(np.asarray(eigenvalues, dtype=np.float64))[::-1].copy()
    return QuadraticGDParameters(np.diag(alpha), alpha, np.eye(alpha.size), float(lr), regime)


DOUBLING = _pinned([3.0, 0.5], 1.0, "edge_of_stability")  # multipliers −2, ½: SD = 2
NEGATIVE = _pinned([1.0, -0.5], 0.5, "negative_curvature")  # multipliers ½, 1.25
STABLE = _pinned([1.9, 0.1], 1.0, "stable")  # multipliers −0.9, 0.9


def _multipliers(q: QuadraticGDParameters) -> np.ndarray:
    """Closed form ``|1 − ηα|`` on the generating spectrum, descending."""
    return np.sort(np.abs(1.0 - q.lr * q.eigenvalues))[::-1]


def _rounding(q: QuadraticGDParameters) -> float:
    return 16 * q.dim * EPS * (1.0 + float(np.max(np.abs(q.lr * q.eigenvalues))))


def _case(q: QuadraticGDParameters, seed: int | None = None) -> str:
    text = f"d={q.dim} lr={q.lr:.3g} ηα={np.round(q.lr * q.eigenvalues, 3).tolist()}"
    return text if seed is None else f"{text} seed={seed}"


@given(quadratic_losses(max_dim=4), SEEDS)
@example(DOUBLING, 0)
@example(NEGATIVE, 1)
@example(STABLE, 2)
def test_gd_quadratic_lyapunov_exponents_are_log_abs_one_minus_lr_curvature(q, seed):
    gd = quadratic_gd(q.hessian, q.lr)
    spec = lyapunov_spectrum(gd, gd.initial_point, N_STEPS, rng=seed)
    bias = float(np.expm1(2 * FRAME_LOG_MISALIGNMENT / N_STEPS))
    check_close(
        "GD on a quadratic: e^Λ_i = |1 − ηα_i| (QR estimate)", _case(q, seed),
        _multipliers(q), np.exp(spec.exponents),
        Tolerance("Cauchy–Binet frame bias expm1(2·12/n) for a Haar frame + 16·d·eps rounding",
                  atol=_rounding(q), rtol=bias),
    )


@given(quadratic_losses(max_dim=5))
@example(DOUBLING)
@example(NEGATIVE)
def test_gd_quadratic_exact_oracle_matches_the_generating_spectrum(q):
    gd = quadratic_gd(q.hessian, q.lr)
    check_close(
        "GD on a quadratic: exact_lyapunov_exponents = ln|1 − ηα| (multiplier scale)", _case(q),
        _multipliers(q), np.exp(gd.exact_lyapunov_exponents()),
        Tolerance("eigvalsh backward error and forming QDQᵀ: 16·d·eps·(1 + η max|α|)",
                  atol=_rounding(q)),
    )


@given(quadratic_losses(max_dim=5), SEEDS)
@example(DOUBLING, 0)
@example(NEGATIVE, 1)
def test_sd_of_gd_on_a_quadratic_equals_its_lyapunov_dimension(q, seed):
    gd = quadratic_gd(q.hessian, q.lr)
    points = np.random.default_rng(seed).normal(size=(3, q.dim))  # J is the same everywhere
    sd = sharpness_dimension(rds_sharpness(gd, points, rng=seed))
    # KY is non-decreasing in every exponent, so rounding of the multipliers by at most δ
    # keeps the dimension between KY(ln(m − δ)) and KY(ln(m + δ)).
    m, delta = _multipliers(q), _rounding(q)
    with np.errstate(divide="ignore"):
        lo = kaplan_yorke_dimension(np.log(np.maximum(m - delta, 0.0)))
        hi = kaplan_yorke_dimension(np.log(m + delta))
    check_close(
        "GD on a quadratic: SD (one-step, SVD) = D_KY (closed form)", _case(q, seed),
        (lo + hi) / 2, sd,
        Tolerance("KY monotone in each exponent: interval from multipliers ± 16·d·eps rounding",
                  atol=(hi - lo) / 2 + 4 * EPS * q.dim),
    )
    check_that(
        "GD on a quadratic: SD = D_KY of the system's own exponents", _case(q, seed),
        gd.sharpness_dimension() == gd.lyapunov_dimension(),
        f"{gd.lyapunov_dimension()}", f"{gd.sharpness_dimension()}",
    )


@given(quadratic_losses(max_dim=5))
@example(DOUBLING)
@example(NEGATIVE)
@example(STABLE)
def test_edge_of_stability_iff_top_exponent_positive_iff_curvature_beyond_two_over_lr(q):
    gd = quadratic_gd(q.hessian, q.lr)
    p = q.lr * q.eigenvalues  # generated ≥ 0.05 away from 0 and 2: the regime survives rounding
    predicate = bool(p.max() > 2.0 or q.eigenvalues.min() < 0.0)
    one_step = rds_sharpness(gd, gd.initial_point[None, :], rng=0)
    verdicts = {
        "ηα_max > 2 or α_min < 0": predicate,
        "edge_of_stability": gd.edge_of_stability,
        "exact λ_1 > 0": bool(gd.exact_lyapunov_exponents()[0] > 0),
        "SVD λ_1 > 0": bool(one_step[0] > 0),
        "generated regime is not stable": q.regime != "stable",
    }
    check_that(
        "EoS ⇔ λ_1 > 0 ⇔ ηα_max > 2 or α_min < 0", _case(q),
        len(set(verdicts.values())) == 1, "all equal", str(verdicts),
    )
    top = float(q.eigenvalues.max())
    check_close(
        "GD stability threshold = 2/α_max", _case(q),
        2.0 / top if top > 0 else np.inf, gd.stability_threshold,
        Tolerance("eigvalsh error 8·d·eps relative on α_max, propagated to 2/α_max",
                  rtol=8 * q.dim * EPS * max(1.0, float(np.abs(q.eigenvalues).max()) / abs(top))),
    )


def test_gd_jacobian_is_identity_minus_lr_hessian_symbolically():
    jac, expected = quadratic_gd_jacobian_symbolic(3)
    residual = (jac - expected).applyfunc(lambda e: e.simplify())
    check_that("sympy: D(w − η∇½wᵀAw) = I − ηA", "symmetric 3×3 A",
               residual.is_zero_matrix, "zero matrix", str(residual))
