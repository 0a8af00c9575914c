"""The modal (coordinate-free) SD of heavy ball: ``ln|z±|`` of the roots of
``z² − (1 + β − η(α + κ)) z + β`` over a Hessian's spectral measure.

Oracles: the quadratic formula in 400-digit mpmath arithmetic for the roots of the
characteristic polynomial; the
catalogue's heavy-ball quadratic (its own root code and its QR-checked Lyapunov exponents) for
the dimension; GD (``β = 0``). The measure group on a network: tests/test_checkpoint_measures.py.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sharpdim._numerics import EPS, gd_log_singular_value, heavy_ball_log_modulus
from sharpdim.curvature.spectral_measure import SpectralMeasure
from sharpdim.dimension import kaplan_yorke_dimension
from sharpdim.estimators.modal import modal_dimension
from sharpdim.systems import heavy_ball_quadratic


def _mp_log_moduli(p: float, beta: float) -> list[float]:
    """``ln|z|`` of both roots in 400-digit arithmetic (enough to resolve ``ln(1 − 2·10⁻³⁰⁰)``),
    larger first (``p`` taken exactly)."""
    with mpmath.workdps(400):
        b = mpmath.mpf(beta)
        t = 1 + b - mpmath.mpf(p)
        sq = mpmath.sqrt(mpmath.mpc(t * t - 4 * b))     # the textbook formula: at 400 digits
        roots = ((t + sq) / 2, (t - sq) / 2)            # its cancellation costs nothing visible
        return sorted((float(mpmath.log(abs(z))) for z in roots), reverse=True)


# A double root of a quadratic moves by √δ when its coefficients move by δ (here δ ≈ 4·eps from
# forming 1 + β − p and the discriminant), i.e. ln|z| by √(4·eps)/|z| with |z| ≥ √β ≥ 0.1 on
# the strategy below: 3e-7; 1e-6 leaves room. Away from a double root the error is a few ulps.
DOUBLE_ROOT_TOL = 1e-6


@given(p=st.floats(-20.0, 20.0), beta=st.floats(0.01, 0.99))
def test_heavy_ball_log_modulus_matches_high_precision_roots(p, beta):
    got = heavy_ball_log_modulus(p, lr=1.0, momentum=beta)[0]
    want = _mp_log_moduli(p, beta)
    assert np.allclose(got, want, rtol=0, atol=DOUBLE_ROOT_TOL), (p, beta, got, want)


@pytest.mark.parametrize("beta", [0.5, 0.9, 0.99])
@pytest.mark.parametrize("p", [1e-300, -1e-300, 1e-20, -1e-20, 1e-12, -1e-12])
def test_heavy_ball_log_modulus_is_sign_exact_at_a_flat_direction(p, beta):
    # ln|z₊| ≈ −p/(1 − β): a flat direction pushed by 1e-20 must not read as neutral or flip
    got = float(heavy_ball_log_modulus(p, lr=1.0, momentum=beta)[0, 0])
    want = _mp_log_moduli(p, beta)[0]
    assert math.copysign(1.0, got) == math.copysign(1.0, want)
    assert got == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("beta", [0.5, 0.9])
@pytest.mark.parametrize("ulps", [-4, -1, 1, 4])
def test_heavy_ball_log_modulus_is_sign_exact_at_the_stability_limit(beta, ulps):
    # p = 2(1 + β) is where z₊ = −1; a few ulps either side must expand / contract correctly
    p = 2.0 * (1.0 + beta)
    for _ in range(abs(ulps)):
        p = np.nextafter(p, np.inf if ulps > 0 else -np.inf)
    got = float(heavy_ball_log_modulus(p, lr=1.0, momentum=beta)[0, 0])
    want = _mp_log_moduli(float(p), beta)[0]
    assert (got > 0) == (want > 0) == (ulps > 0)
    assert got == pytest.approx(want, rel=1e-9)


@given(alpha=st.lists(st.floats(-5.0, 50.0), min_size=1, max_size=8),
       lr=st.floats(0.01, 1.0), decay=st.floats(0.0, 0.1))
def test_heavy_ball_log_modulus_without_momentum_is_the_gd_value_and_minus_infinity(alpha, lr,
                                                                                   decay):
    got = heavy_ball_log_modulus(alpha, lr=lr, momentum=0.0, weight_decay=decay)
    assert np.array_equal(got[:, 0], gd_log_singular_value(alpha, lr=lr, weight_decay=decay))
    assert np.all(got[:, 1] == -np.inf)


@given(alpha=st.lists(st.floats(-2.0, 60.0), min_size=1, max_size=10),
       lr=st.floats(0.01, 0.5), beta=st.floats(0.05, 0.95), decay=st.floats(0.0, 0.05))
def test_modal_sd_of_an_exact_spectrum_is_the_kaplan_yorke_dimension_of_heavy_ball(alpha, lr,
                                                                                  beta, decay):
    # the catalogue's heavy ball on ½wᵀ(A + κI)w: PyTorch's SGD(momentum, weight_decay) step
    q = heavy_ball_quadratic(np.diag(np.asarray(alpha) + decay), lr=lr, momentum=beta)
    want = kaplan_yorke_dimension(q.exact_lyapunov_exponents())
    got = modal_dimension(SpectralMeasure(alpha, np.ones(len(alpha))), lr=lr, momentum=beta,
                          weight_decay=decay)
    # same exponents up to the double-root rounding above; D_KY moves by ≤ tol·2N/|z_next|
    assert got.lambda_1 == pytest.approx(q.exact_lyapunov_exponents()[0], abs=DOUBLE_ROOT_TOL)
    if got.crossing is None or abs(got.crossing) > 1e-3:
        assert got.dimension == pytest.approx(want, abs=DOUBLE_ROOT_TOL * 2 * len(alpha) / 1e-3)
    assert 0.0 <= got.dimension <= 2 * len(alpha)


def test_modal_dimension_counts_the_mass_of_each_atom_twice():
    mu = SpectralMeasure([2.9, 0.5], [2.5, 7.5])   # weighted SLQ-like atoms, mass 10
    d = modal_dimension(mu, lr=1.0, momentum=0.5)
    assert d.measure.total_mass == pytest.approx(20.0, rel=4 * EPS)
    assert d.expanding_mass == 0.0                 # ηα = 2.9 < 2(1 + β) = 3: all contract
    assert d.dimension == 0.0
    # at ηα = 2(1 + β) exactly z₊ = −1: a neutral mode, counted (S_j ≥ 0) with its mass 2.5
    edge = modal_dimension(SpectralMeasure([3.0, 0.5], [2.5, 7.5]), lr=1.0, momentum=0.5)
    assert edge.lambda_1 == 0.0 and edge.dimension == 2.5
