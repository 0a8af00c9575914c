"""Edge of stability for GD on quadratics (docs/theory.md §2–3).

GD on ``½ wᵀ A w`` has the constant symmetric Jacobian ``I − ηA``, so its one-step sharpness is
``λ_k = ln|1 − ηα|`` (sorted) and

    EoS  ⇔  λ_1 > 0  ⇔  η α_max > 2  or  α_min < 0,

and at EoS with volume contraction (``λ_1 > 0``, ``Σ λ_i < 0``) ``0 < SD < d``: ``λ_1 > 0``
makes ``j* ≥ 1``; ``Σ λ < 0`` makes the last partial sum negative, so ``j* < d`` and
``SD < j* + 1 ≤ d``.

Oracle: the quadratics are generated from their spectrum (``A = Q diag(α) Qᵀ``, with every
``ηα`` at least ``margin = 0.05`` away from 0 and 2), so the regime is known before any
computation; the measured side is ``rds_sharpness`` (an SVD of the system's Jacobian) and the
SD of that. No tolerance is needed for the signs: the margin keeps ``|ln|1 − ηα||`` above
``ln(1.05) ≈ 0.049``, far beyond the ``~d·eps·ηα`` error of the SVD of ``I − ηA``.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import example, given

from sharpdim.dimension import sharpness_dimension
from sharpdim.dynamics.sharpness import rds_sharpness
from sharpdim.systems.quadratic import quadratic_gd
from sharpdim.testing.checking import EPS, Tolerance, check_close, check_that
from sharpdim.testing.strategies import QuadraticGDParameters, quadratic_losses


def _diagonal_case(alphas, lr, regime) -> QuadraticGDParameters:
    alpha = np.sort(np.asarray(alphas, dtype=float))[::-1]
    d = alpha.size
    return QuadraticGDParameters(np.diag(alpha), alpha, np.eye(d), float(lr), regime)


def _case(q: QuadraticGDParameters) -> str:
    return f"lr={q.lr:.4g}, lr·α={np.round(q.scaled_curvatures, 4).tolist()}"


def _sharpness(q: QuadraticGDParameters) -> np.ndarray:
    system = q.system()
    return rds_sharpness(system, system.initial_point[None, :], rng=0)


@given(quadratic_losses(max_dim=6))
@example(_diagonal_case([3.0, 0.5], 1.0, "edge_of_stability"))  # λ = (ln 2, ln ½)
@example(_diagonal_case([-0.5, 1.0], 1.0, "negative_curvature"))  # λ_1 = ln 1.5
@example(_diagonal_case([1.9, 0.1], 1.0, "stable"))
def test_edge_of_stability_iff_top_sharpness_positive_iff_threshold_crossed(q):
    lam = _sharpness(q)
    alpha = q.eigenvalues
    crossed = bool(q.lr * alpha.max() > 2.0 or alpha.min() < 0.0)
    eos = q.regime != "stable"
    case = _case(q)
    check_that("EoS ⇔ λ_1 > 0", f"{case} ({q.regime})", (lam[0] > 0) == eos,
               f"λ_1 > 0 is {eos}", f"λ_1 = {lam[0]:.6g}")
    check_that("λ_1 > 0 ⇔ ηα_max > 2 or α_min < 0", case, (lam[0] > 0) == crossed,
               f"threshold crossed: {crossed}", f"λ_1 = {lam[0]:.6g}")
    check_that("the GD system flags EoS exactly when generated so", case,
               q.system().edge_of_stability == eos, f"{eos}", f"{q.system().edge_of_stability}")
    # σ_k = |1 − ηα_k| up to the rounding of A = Q diag(α) Qᵀ and of the SVD (≤ a few d·eps
    # relative to ‖I − ηA‖ ≤ 1 + η max|α|).
    sigma = np.exp(lam)
    expected = np.sort(np.abs(1.0 - q.lr * alpha))[::-1]
    scale = 1.0 + q.lr * float(np.abs(alpha).max())
    check_close("rds_sharpness of GD = ln|1 − ηα| (as singular values)", case, expected, sigma,
                Tolerance("SVD and Q diag(α) Qᵀ rounding: 8·d·eps·(1 + η max|α|)",
                          atol=8 * q.dim * EPS * scale))


@given(quadratic_losses(regime="edge_of_stability", volume="contracting", min_dim=2))
@example(_diagonal_case([3.0, 1.5, 1.1], 1.0, "edge_of_stability"))  # ln2 + ln.5 + ln.1 < 0
def test_sd_strictly_inside_zero_and_dimension_at_eos_with_volume_contraction(q):
    _check_interior(q)


@given(quadratic_losses(regime="negative_curvature", volume="contracting", min_dim=2))
def test_sd_strictly_inside_with_negative_curvature_and_volume_contraction(q):
    _check_interior(q)


def _check_interior(q: QuadraticGDParameters) -> None:
    lam = _sharpness(q)
    sd = sharpness_dimension(lam)
    case = _case(q)
    check_that("generated case is EoS with volume contraction", case,
               lam[0] > 0 and lam.sum() < 0, "λ_1 > 0, Σλ < 0",
               f"λ_1 = {lam[0]:.4g}, Σλ = {lam.sum():.4g}")
    check_that("0 < SD < d at EoS with volume contraction", case, 0 < sd < q.dim,
               f"(0, {q.dim})", f"{sd:.6g}")
    check_that("SD ≥ 1 once λ_1 > 0", case, sd >= 1.0, "≥ 1", f"{sd:.6g}")


def test_threshold_itself_is_not_eos_and_counts_as_a_flat_direction():
    # lr·α_max = 2 exactly: 1 − 2 = −1, ln 1 = 0, so λ_1 = 0 (not > 0) and SD jumps to ≥ 1.
    system = quadratic_gd(np.diag([2.0, 0.5]), 1.0)
    lam = rds_sharpness(system, system.initial_point[None, :], rng=0)
    check_close("λ at the threshold", "lr=1, α=(2, 0.5)", [0.0, math.log(0.5)], lam,
                Tolerance("exact: SVD of diag(-1, 0.5) returns the moduli", atol=2 * EPS))
    check_that("ηα_max = 2 is not EoS (λ_1 > 0 is strict)", "lr=1, α=(2, 0.5)",
               not system.edge_of_stability and not lam[0] > 0, "not EoS", f"λ_1 = {lam[0]}")
    check_close("SD = 1 at the threshold (flat direction counts)", "lr=1, α=(2, 0.5)", 1.0,
                sharpness_dimension(lam), Tolerance("exact: 1 + 0/ln 2"))
