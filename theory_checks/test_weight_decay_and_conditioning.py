"""Weight decay in the GD Jacobian, and the conditioning diagnostics of an SD.

Oracles:

* SGD with weight decay ``κ`` on a loss with Hessian ``H`` steps ``w' = w − η(∇L + κw)``, whose
  Jacobian is ``I − η(H + κI)``: on least squares with a planted spectrum ``α`` its log singular
  values are ``ln|1 − η(α_k + κ)|`` in closed form, which is also what the analytic catalogue's
  GD on the quadratic ``½ wᵀ(A + κI)w`` gives (``sharpdim.systems.quadratic_gd``), and what
  the optimizer's own step Jacobian gives by automatic differentiation (``jacobian="update"``).
* The conditioning diagnostics are functions of the sorted values: zeros leave every partial
  sum unchanged (so ``SD = neutral + transverse`` when the neutral values are exactly 0), and
  the SD is nondecreasing in every value (so ``[SD(z − τ), SD(z + τ)]`` brackets every spectrum
  within ``τ``).

Rounding: an eigenvalue of the computed Hessian is within ``‖δH‖₂`` of the planted one (Weyl);
``ln|1 − ηα|`` moves by ``η|δα| / |1 − ηα|``.
"""

from __future__ import annotations

import numpy as np
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from sharpdim import estimate_sharpness, make_update_map
from sharpdim._numerics import gd_log_singular_value
from sharpdim.dimension import sharpness_dimension
from sharpdim.estimators.conditioning import conditioning
from sharpdim.systems import quadratic_gd
from sharpdim.testing.checking import EPS, Tolerance, check_close, check_that
from sharpdim.testing.oracles.planted_regression import planted_regression


def _delta(alpha: np.ndarray, lr: float, kappa: float, d_alpha: float) -> float:
    """Weyl bound of the Hessian's rounding, plus the rounding of p = η(α + κ), of 1 − p and
    of the logarithm (a few ulps each, relative to (1 + |p|)/|1 − p|)."""
    p = lr * (alpha + kappa)
    gap = np.abs(1.0 - p)
    weyl = lr * d_alpha / np.maximum(gap - lr * d_alpha, 1e-300)
    return float((weyl + 4 * EPS * (1.0 + np.abs(p)) / gap).max())


@settings(max_examples=20, deadline=None)
@given(alpha=st.lists(st.floats(0.0, 4.0), min_size=2, max_size=6),
       lr=st.floats(0.1, 1.0), kappa=st.floats(1e-3, 1.0), seed=st.integers(0, 2**16))
@example(alpha=[0.0, 0.0, 0.0, 3.5], lr=0.5, kappa=0.5, seed=0)   # neutral bulk → contracting
def test_weight_decay_enters_the_gd_jacobian_as_i_minus_lr_h_plus_kappa(alpha, lr, kappa, seed):
    alpha = np.array(alpha)
    assume(np.abs(1.0 - lr * (alpha + kappa)).min() > 1e-3)
    p = planted_regression(alpha, seed=seed)
    sgd = make_update_map("sgd", lr=lr, weight_decay=kappa)
    est = estimate_sharpness(p.model(), p.loss_fn, p.data, optimizer=sgd, batch_size=p.n,
                             seed=seed, n_batches=1)
    lam = np.sort(np.log(np.abs(1.0 - lr * (alpha + kappa))))[::-1]
    # planted design and Hessian products round to ‖δH‖₂ ≤ 8(n + d)·eps·max α
    d_alpha = 8 * (p.n + p.d) * EPS * max(float(alpha.max()), 1e-300)
    delta = _delta(alpha, lr, kappa, d_alpha)
    sd_tol = max(sharpness_dimension(lam + delta) - sharpness_dimension(lam),
                 sharpness_dimension(lam) - sharpness_dimension(lam - delta)) + 8 * EPS * p.d
    case = f"d={p.d}, lr={lr:.3g}, κ={kappa:.3g}"
    check_close("exact λ_k with weight decay = sorted ln|1 − η(α_k + κ)|", case, lam,
                est.sharpness, Tolerance(reason="Weyl: η‖δH‖/|1 − η(α + κ)|", atol=delta))
    check_close("SD with weight decay = SD of the closed form", case, sharpness_dimension(lam),
                est.dimension, Tolerance(reason="SD monotone in λ: [SD(λ − δ), SD(λ + δ)]",
                                         atol=sd_tol))
    catalogue = quadratic_gd(np.diag(alpha + kappa), lr).exact_lyapunov_exponents()
    check_close("exact λ_k with weight decay = GD on ½wᵀ(A + κI)w (analytic catalogue)", case,
                np.sort(catalogue)[::-1], est.sharpness,
                Tolerance(reason="Weyl: η‖δH‖/|1 − η(α + κ)|", atol=delta))
    update = estimate_sharpness(p.model(), p.loss_fn, p.data, optimizer=sgd, batch_size=p.n,
                                seed=seed, n_batches=1, jacobian="update")
    check_close("GD Jacobian with weight decay = SGD step Jacobian (autodiff of w − η(∇L + κw))",
                case, update.sharpness, est.sharpness,
                Tolerance(reason="both within the Weyl bound of the closed form", atol=2 * delta))


def test_weight_decay_turns_a_neutral_bulk_into_contraction():
    lr, kappa = 0.5, 0.05
    alpha = np.r_[np.zeros(20), [4.5]]                      # ln|1 − 2.25| = ln 1.25 > 0
    p = planted_regression(alpha, seed=3)
    plain = estimate_sharpness(p.model(), p.loss_fn, p.data, lr=lr, batch_size=p.n, seed=0,
                               n_batches=1)
    decayed = estimate_sharpness(p.model(), p.loss_fn, p.data, batch_size=p.n, seed=0,
                                 n_batches=1,
                                 optimizer=make_update_map("sgd", lr=lr, weight_decay=kappa))
    lam = np.sort(gd_log_singular_value(alpha, lr=lr, weight_decay=kappa))[::-1]
    # plain: ln 1.25 then zeros, every partial sum ≥ 0 (SD = 21); with κ the 20 neutral
    # values become ln(1 − ηκ) ≈ −0.025 and absorb ln 1.25 after about nine of them
    check_close("κ > 0 makes the neutral bulk contract at ln(1 − ηκ)", "d=21, η=0.5, κ=0.05",
                np.full(20, np.log1p(-lr * kappa)), np.sort(decayed.sharpness)[:20],
                Tolerance(reason="planted rounding 8(n + d)·eps·max α, times η",
                          atol=lr * 8 * (p.n + p.d) * EPS * 4.5))
    check_close("SD with κ = SD of the closed form", "d=21, η=0.5, κ=0.05",
                sharpness_dimension(lam), decayed.dimension,
                Tolerance(reason="slope 1/|ln(1 − ηκ)| times the rounding of the values",
                          atol=21 * lr * 8 * (p.n + p.d) * EPS * 4.5 / abs(np.log1p(-lr * kappa))))
    check_that("κ > 0 lowers the SD of a network-like spectrum (neutral bulk + one outlier)",
               "d=21, η=0.5, κ=0.05", decayed.dimension < plain.dimension, "SD_κ < SD_0",
               f"{decayed.dimension:.4g} vs {plain.dimension:.4g}")


_VALUES = st.lists(st.floats(-3.0, 3.0, allow_subnormal=False), min_size=1, max_size=12)


@given(values=_VALUES, n_zero=st.integers(0, 10))
@example(values=[0.5, -1.0], n_zero=3)
@example(values=[-0.5], n_zero=2)              # λ_1 < 0 among non-neutral: SD = zeros count
def test_sd_is_neutral_count_plus_transverse_sd_when_neutral_values_are_zero(values, n_zero):
    z = np.array([v for v in values if v != 0.0] or [1.0])
    tau = 1e-9
    z = z[np.abs(z) > tau]
    assume(z.size > 0)
    full = np.r_[z, np.zeros(n_zero)]
    c = conditioning(full, tolerance=tau, tolerance_kind="test")
    case = f"{z.size} non-neutral + {n_zero} zeros"
    check_close("SD = neutral + transverse SD when neutral values are exactly 0", case,
                sharpness_dimension(full), c.n_neutral + c.transverse_dimension,
                Tolerance(reason="zeros leave partial sums unchanged; rounding of the "
                                 "fraction S_j/|z_next| with the same S_j",
                          atol=8 * EPS * full.size))
    check_that("expanding + neutral + contracting = total mass", case,
               c.n_expanding + c.n_neutral + c.n_contracting == full.size, "= d",
               f"{c.n_expanding} + {c.n_neutral} + {c.n_contracting}")


@settings(max_examples=50)
@given(values=_VALUES, tau=st.floats(1e-6, 0.3), seed=st.integers(0, 2**16))
def test_conditioning_interval_brackets_every_spectrum_within_the_tolerance(values, tau, seed):
    z = np.array(values)
    c = conditioning(z, tolerance=tau, tolerance_kind="test")
    rng = np.random.default_rng(seed)
    low, high = c.interval
    for _ in range(5):
        moved = z + rng.uniform(-tau, tau, z.size)
        sd = sharpness_dimension(moved)
        slack = 8 * EPS * z.size
        check_that("SD of any spectrum within τ lies in [SD(z − τ), SD(z + τ)]",
                   f"d={z.size}, τ={tau:.3g}", low - slack <= sd <= high + slack,
                   "in interval", f"{sd:.6g} vs [{low:.6g}, {high:.6g}]")
    check_that("ill_conditioned ⇔ sensitivity ≥ 1 or interval width ≥ 1", f"d={z.size}",
               c.ill_conditioned == (c.sensitivity >= 1 or high - low >= 1),
               "definition", f"flag {c.ill_conditioned}")


def test_a_crossing_far_from_the_bulk_is_well_conditioned_and_inside_it_is_flagged():
    # exact estimate: 10 values ln|1 − 1e-12| ≈ −1e-12, one ln 1.5, one ln 0.5; the partial sum
    # stays ≥ 0 through the bulk and crosses at ln 0.5: rounding cannot move the SD
    lr = 1.0
    alpha = np.r_[np.full(10, 1e-12), [2.5, 0.5]]
    p = planted_regression(alpha, seed=5)
    est = estimate_sharpness(p.model(), p.loss_fn, p.data, lr=lr, batch_size=p.n, seed=0,
                             n_batches=1)
    c = est.diagnostics.conditioning
    lam = np.sort(gd_log_singular_value(alpha, lr=lr))[::-1]
    check_that("the analytic SD lies in the reported conditioning interval", "d=12, η=1",
               c.interval[0] <= sharpness_dimension(lam) <= c.interval[1], "in interval",
               f"{sharpness_dimension(lam):.6g} in {c.interval}")
    check_that("a crossing at ln 0.5, far from the bulk, is well conditioned", "d=12, η=1",
               not c.ill_conditioned and abs(c.z_next - np.log(0.5)) < 1e-9, "flag False",
               f"flag {c.ill_conditioned}, z_next {c.z_next:.6g}")
    # a crossing inside a bulk of n values −δ (positive mass n·δ/2 before it) with an error
    # τ = δ: shifting by ±τ moves the crossing across half the bulk, so the SD is fragile
    n, delta = 40, 1e-7
    z = np.r_[[n * delta / 2], np.full(n, -delta), [-1.0]]
    cz = conditioning(z, tolerance=delta, tolerance_kind="test")
    check_that("a crossing inside the neutral bulk is flagged ill-conditioned",
               f"n={n}, δ={delta}", cz.ill_conditioned and cz.interval[1] - cz.interval[0] >= n / 2,
               "flag True, width ≥ n/2", f"flag {cz.ill_conditioned}, interval {cz.interval}")
