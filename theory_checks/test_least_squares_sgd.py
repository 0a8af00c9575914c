"""Least-squares SGD as a random dynamical system: exact minibatch oracles.

Oracles: exact expectations over all ``C(n, b)`` equally likely minibatches (enumeration), the
identity ``mean_B X_BᵀX_B/b = XᵀX/n``, a sympy Hessian of the minibatch mean loss, and, for
data whose minibatch Hessians commute, ``Λ = sort_i E ln|1 − η h_i(B)|``.

Statistical tolerances use the *exact* variance over minibatches (also by enumeration): a
mean of ``N`` iid draws is within ``4·√(Var/N)`` of its expectation except with probability
~6e-5 (per compared number). QR estimates of commuting symmetric products also carry the frame
bias ``2·12/n`` (Cauchy–Binet, as in test_quadratic_gd.py) and are compared with the
per-direction averages after sorting, which moves no entry by more than the largest deviation.
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp
from hypothesis import assume, example, given
from hypothesis import strategies as st

from sharpdim.dimension import kaplan_yorke_dimension
from sharpdim.dynamics.lyapunov import lyapunov_spectrum
from sharpdim.dynamics.sharpness import rds_sharpness_samples
from sharpdim.systems import commuting_least_squares_sgd, least_squares_sgd
from sharpdim.testing.checking import EPS, Tolerance, check_close, check_that
from sharpdim.testing.strategies import orthogonal_matrices

N_STEPS = 1000
FRAME_BIAS = 2 * 12.0 / N_STEPS
ENTRIES = st.floats(-2.0, 2.0)


@st.composite
def datasets(draw, max_n: int = 6, max_dim: int = 3):
    """``(X, lr, batch_size)``: Gaussian-free small data, any batch size ``1 ≤ b ≤ n``."""
    n = draw(st.integers(2, max_n))
    d = draw(st.integers(1, max_dim))
    x = np.array(draw(st.lists(ENTRIES, min_size=n * d, max_size=n * d))).reshape(n, d)
    lr = draw(st.floats(0.05, 1.0))
    b = draw(st.integers(1, n))
    return x, lr, b


@st.composite
def commuting_datasets(draw):
    """``(scales, features, dim, lr, b, basis)`` for :func:`commuting_least_squares_sgd`."""
    d = draw(st.integers(1, 3))
    n = draw(st.integers(2, 6))
    scales = draw(st.lists(st.floats(0.2, 2.5), min_size=n, max_size=n))
    features = draw(st.lists(st.integers(0, d - 1), min_size=n, max_size=n))
    lr = draw(st.floats(0.05, 1.0))
    b = draw(st.integers(1, n))
    basis = draw(orthogonal_matrices(min_dim=d, max_dim=d))
    return scales, features, d, lr, b, basis


def _log_rounding(sgd) -> float:
    """Bound on the rounding error of every ``ln|1 − ηα|`` over all minibatch Hessians.

    The multipliers ``1 − ηα`` are computed (eigvalsh, or the basis projection) within
    ``δ = 16·d·eps·(1 + η max|α|)``; their logs within ``δ / min|1 − ηα|``. Cases with
    ``min|1 − ηα| ≤ 10⁴ δ`` are singular up to rounding (the true exponent may be −∞): the
    checks skip them (``assume``), so the returned bound is at most 1e-4.
    """
    alpha = np.linalg.eigvalsh(sgd.minibatch_hessians())
    delta = 16 * sgd.dim * EPS * (1.0 + sgd.lr * float(np.abs(alpha).max()))
    smallest = float(np.abs(1.0 - sgd.lr * alpha).min())
    assume(smallest > 1e4 * delta)
    return delta / smallest


PINNED_COMMUTING = ([2.0, 1.0, 2.5, 0.5, 1.5, 1.0], [0, 1, 0, 2, 1, 2], 3, 0.8, 2, np.eye(3))
# Two flat directions under a rotated basis: exponents (0, 0, ln ½) up to rounding, where KY
# jumps (found by the thorough profile; pinned so every run covers it).
FLAT_ROTATED = ([1.0, 1.0], [0, 0], 3, 0.5, 1,
                np.linalg.qr(np.random.default_rng(1).standard_normal((3, 3)))[0])
PINNED_DATA = (np.array([[1.0, 2.0], [0.0, 1.0], [1.0, -1.0], [2.0, 0.5], [-1.0, 1.0]]), 0.9, 2)


@given(datasets())
@example(PINNED_DATA)
def test_mean_minibatch_hessian_is_the_full_batch_hessian(data):
    x, lr, b = data
    sgd = least_squares_sgd(x, np.zeros(x.shape[0]), lr, b)
    check_close("least squares: mean over minibatches of X_BᵀX_B/b = XᵀX/n",
                f"n={x.shape[0]} d={x.shape[1]} b={b}", sgd.full_batch_hessian,
                sgd.minibatch_hessians().mean(axis=0),
                Tolerance("sums of n products of entries ≤ 2: 8·n·eps·max|x|²",
                          atol=8 * x.shape[0] * EPS * max(1.0, float(np.abs(x).max()) ** 2)))


def test_minibatch_hessian_is_the_hessian_of_the_minibatch_mean_loss_symbolically():
    w = sp.Matrix(sp.symbols("w0 w1"))
    rows = [sp.Matrix(sp.symbols(f"x{i}0 x{i}1")).T for i in range(3)]
    targets = sp.symbols("y0 y1 y2")
    loss = sum(((r * w)[0] - t) ** 2 / 2 for r, t in zip(rows, targets, strict=True)) / 3
    xb = sp.Matrix.vstack(*rows)
    residual = (sp.hessian(loss, list(w)) - xb.T * xb / 3).applyfunc(sp.expand)
    check_that("sympy: Hessian of ½ mean_B (x·w − y)² = X_BᵀX_B/b", "b = 3, d = 2 symbolic",
               residual.is_zero_matrix, "zero matrix", str(residual))


@given(datasets(max_n=5), st.integers(0, 2**31 - 1))
@example(PINNED_DATA, 0)
def test_minibatches_are_uniform_subsets_without_replacement(data, seed):
    x, lr, b = data
    sgd = least_squares_sgd(x, np.zeros(x.shape[0]), lr, b)
    rng = np.random.default_rng(seed)
    n_draws = 2000
    index = {tuple(batch): k for k, batch in enumerate(sgd.minibatches())}
    counts = np.zeros(len(index))
    for _ in range(n_draws):
        counts[index[tuple(sgd.sample_noise(rng))]] += 1  # KeyError if not a valid subset
    p = 1.0 / len(index)
    check_close("least-squares SGD noise: each of the C(n, b) minibatches has probability 1/C",
                f"n={x.shape[0]} b={b} seed={seed}", np.full(len(index), p), counts / n_draws,
                Tolerance("4.5 binomial standard errors √(p(1−p)/N) (union over ≤ 10 subsets)",
                          atol=4.5 * math.sqrt(p * (1 - p) / n_draws)))


@given(commuting_datasets(), st.integers(0, 2**31 - 1))
@example(PINNED_COMMUTING, 0)
def test_commuting_least_squares_exponents_are_expected_log_multipliers(data, seed):
    scales, features, d, lr, b, basis = data
    sgd = commuting_least_squares_sgd(scales, features, d, lr, b, basis=basis)
    rounding = _log_rounding(sgd)
    per_direction = sgd.direction_log_multipliers()
    exact = sgd.exact_lyapunov_exponents()
    spec = lyapunov_spectrum(sgd, sgd.initial_point, N_STEPS, rng=seed)
    stderr = np.sqrt(per_direction.var(axis=0) / N_STEPS)  # exact variance over minibatches
    check_close(
        "commuting least-squares SGD: Λ = sort_i E ln|1 − η h_i(B)| (QR)",
        f"n={len(scales)} d={d} b={b} lr={lr:.3g} seed={seed}", exact, spec.exponents,
        Tolerance("4 exact-variance stderr √(Var/n) + frame bias 24/n + log rounding",
                  atol=4 * float(stderr.max()) + FRAME_BIAS + rounding),
    )


@given(datasets(max_n=5), st.integers(0, 2**31 - 1))
@example(PINNED_DATA, 0)
def test_least_squares_exponent_sum_is_the_expected_log_det(data, seed):
    x, lr, b = data
    sgd = least_squares_sgd(x, np.zeros(x.shape[0]), lr, b)
    rounding = x.shape[1] * _log_rounding(sgd)
    log_det = sgd.minibatch_log_det()
    spec = lyapunov_spectrum(sgd, sgd.initial_point, 600, rng=seed)
    case = f"n={x.shape[0]} d={x.shape[1]} b={b} lr={lr:.3g} seed={seed}"
    sigma = np.exp(sgd.minibatch_log_multipliers())
    kappa = float((sigma[:, 0] / sigma[:, -1]).max())
    check_close("least-squares SGD: Σ Λ (QR) = mean ln|det J_t| on the same steps", case,
                spec.log_det_mean, float(spec.exponents.sum()),
                Tolerance("QR backward error per step 32·d²·eps·κ(J) + LU's d·eps·κ + two "
                          "summation orders over n steps, 2·n·eps·max|ln|det||",
                          atol=33 * x.shape[1] ** 2 * EPS * kappa
                          + 2 * 600 * EPS * float(np.abs(log_det).max())))
    check_close("least-squares SGD: Σ Λ = E_B ln|det(I − ηH_B)|", case,
                sgd.exact_log_det_mean(), float(spec.exponents.sum()),
                Tolerance("4 exact-variance stderr √(Var/n) over iid minibatches",
                          atol=4 * math.sqrt(float(log_det.var()) / 600)
                          + 33 * x.shape[1] ** 2 * EPS * kappa + rounding))


@given(datasets(max_n=5), st.integers(0, 2**31 - 1))
@example(PINNED_DATA, 0)
def test_least_squares_rds_sharpness_is_the_expected_sorted_log_multiplier(data, seed):
    x, lr, b = data
    sgd = least_squares_sgd(x, np.zeros(x.shape[0]), lr, b)
    rounding = _log_rounding(sgd)
    logs = sgd.minibatch_log_multipliers()
    n_noise = 400
    points = np.random.default_rng(seed).normal(size=(2, x.shape[1]))  # J ignores the point
    est = rds_sharpness_samples(sgd, points, n_noise=n_noise, rng=seed)
    sigma = np.exp(logs)
    svd_error = 16 * x.shape[1] * EPS * float((sigma[:, 0] / sigma[:, -1]).max())
    for aggregate in ("sup", "mean"):
        check_close(f"least-squares SGD: RDS sharpness ({aggregate}) = E_B sort ln|1 − η eig H_B|",
                    f"n={x.shape[0]} d={x.shape[1]} b={b} lr={lr:.3g} seed={seed}",
                    sgd.exact_sharpness(aggregate), est.values(aggregate),
                    Tolerance("4 exact-variance stderr per order over 400 iid minibatches + SVD "
                              "relative error 16·d·eps·κ",
                              atol=4 * float(np.sqrt(logs.var(axis=0) / n_noise).max())
                              + svd_error + rounding))


@given(commuting_datasets())
@example(PINNED_COMMUTING)
@example(FLAT_ROTATED)
def test_commuting_least_squares_sd_is_at_least_the_lyapunov_dimension(data):
    scales, features, d, lr, b, basis = data
    sgd = commuting_least_squares_sgd(scales, features, d, lr, b, basis=basis)
    rounding = _log_rounding(sgd)
    lam, exps = sgd.exact_sharpness(), sgd.exact_lyapunov_exponents()
    case = f"n={len(scales)} d={d} b={b} lr={lr:.3g}"
    # E[sorted per batch] majorizes sort(E per direction): every top-k partial sum is larger.
    gap = np.cumsum(lam) - np.cumsum(exps)
    slack = 2 * d * rounding + 16 * d * EPS * (1 + float(np.abs(lam).sum() + np.abs(exps).sum()))
    check_close("commuting LS-SGD: Σ λ_k = Σ Λ_i (both = E ln|det|)", case,
                float(exps.sum()), float(lam.sum()),
                Tolerance("d log-multiplier roundings (two paths) + summation", atol=slack))
    check_that("commuting LS-SGD: top-k sums of λ ≥ those of Λ (majorization)", case,
               bool(np.all(gap >= -slack)), f"all gaps >= -{slack:.2g}",
               str(np.round(gap, 6).tolist()))
    # KY is non-decreasing in every value: SD_exact ≥ D_KY_exact implies KY(λ + ε) ≥ KY(Λ − ε)
    # for values within ε of the exact ones — rigorous even where KY jumps (flat directions
    # give exponents within rounding of 0).
    check_that("commuting LS-SGD: SD ≥ D_KY", case,
               kaplan_yorke_dimension(lam + slack) >= kaplan_yorke_dimension(exps - slack),
               f">= {sgd.lyapunov_dimension():.6g}", f"{sgd.sharpness_dimension():.6g}")
