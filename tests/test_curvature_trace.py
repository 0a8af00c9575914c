"""Hutchinson and Hutch++: unbiased at fixed seeds, exact where theory says so."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sharpdim.curvature import MatrixOperator, hutch_plus_plus, hutchinson_trace
from sharpdim.testing.checking import EPS

D = torch.float64
K_SIGMA = 4.0  # a correct unbiased estimator lands outside 4 standard errors w.p. ≈ 6e-5


def _planted(lam, seed: int) -> torch.Tensor:
    lam = np.asarray(lam, dtype=np.float64)
    Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((lam.size, lam.size)))
    A = (Q * lam) @ Q.T
    return torch.tensor((A + A.T) / 2)


def test_rademacher_hutchinson_is_exact_for_a_diagonal_matrix():
    d = np.random.default_rng(0).standard_normal(50)
    est = hutchinson_trace(MatrixOperator(torch.diag(torch.tensor(d))), n_samples=3, seed=4)
    # v_j² = 1 exactly, so every sample is Σ d_j up to summation rounding (γ_50)
    assert np.all(np.abs(est.samples - d.sum()) <= 50 * EPS * np.abs(d).sum())
    assert est.stderr <= 50 * EPS * np.abs(d).sum()


@pytest.mark.parametrize("distribution", ["rademacher", "gaussian"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hutchinson_mean_is_within_k_standard_errors_of_the_exact_trace(distribution, seed):
    A = _planted(np.random.default_rng(seed).uniform(-1, 3, 40), seed)
    est = hutchinson_trace(MatrixOperator(A), n_samples=200, seed=seed,
                           distribution=distribution)
    assert abs(est.value - float(torch.trace(A))) <= K_SIGMA * est.stderr
    assert est.n_hvp == 200 and est.seed == seed and est.samples.shape == (200,)


def test_hutchinson_error_shrinks_like_one_over_root_n():
    A = MatrixOperator(_planted(np.random.default_rng(9).uniform(-1, 3, 40), 9))
    small = hutchinson_trace(A, n_samples=64, seed=3)
    large = hutchinson_trace(A, n_samples=1024, seed=3)
    # stderr ∝ 1/√n: a 16× budget gives 4× smaller error bars (± sampling noise of the
    # standard deviation estimate, well inside a factor 2 at these sizes)
    assert 2.0 <= small.stderr / large.stderr <= 8.0


def test_hutch_plus_plus_is_exact_for_low_rank_matrices():
    lam = np.zeros(60)
    lam[:4] = [5.0, -2.0, 1.5, 0.7]  # rank 4 ≤ n_samples/3 = 5: the sketch spans the range
    A = _planted(lam, 7)
    est = hutch_plus_plus(MatrixOperator(A), n_samples=15, seed=0)
    bound = 100 * 60 * EPS * 5.0  # QR + products of length 60, ‖A‖ = 5
    assert abs(est.value - lam.sum()) <= bound
    assert abs(est.exact_part - lam.sum()) <= bound
    assert est.n_hvp == 15 and est.method == "hutch++"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hutch_plus_plus_is_within_k_standard_errors_of_the_exact_trace(seed):
    A = _planted(np.random.default_rng(seed).uniform(-1, 3, 120), seed)
    est = hutch_plus_plus(MatrixOperator(A), n_samples=60, seed=seed)  # sketch 20 < N = 120
    assert abs(est.value - float(torch.trace(A))) <= K_SIGMA * est.stderr


def test_trace_estimators_reject_bad_budgets():
    op = MatrixOperator(torch.eye(3, dtype=D))
    with pytest.raises(ValueError, match="n_samples must be >= 1, got 0"):
        hutchinson_trace(op, n_samples=0, seed=0)
    with pytest.raises(ValueError, match="n_samples must be >= 3, got 2"):
        hutch_plus_plus(op, n_samples=2, seed=0)
    with pytest.raises(ValueError, match="distribution must be one of"):
        hutchinson_trace(op, n_samples=2, seed=0, distribution="cauchy")
    with pytest.raises(ValueError, match="seed must be >= 0, got -1"):
        hutchinson_trace(op, n_samples=2, seed=-1)
