"""RDS sharpness (one-step log singular values) against hand-computed and eigenvalue oracles."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sharpdim.dynamics.lyapunov import noise_generator
from sharpdim.dynamics.maps import as_map
from sharpdim.dynamics.sharpness import SharpnessSamples, rds_sharpness, rds_sharpness_samples

EPS = np.finfo(np.float64).eps
ROUNDOFF = 1e3 * EPS  # ln of singular values from an SVD: a few ulps relative to ‖J‖


class MinibatchLeastSquaresGD:
    """SGD on ½ mean_{i∈B} (x_i·w)² + ¼ Σ w_j⁴: J = I − η (X_Bᵀ X_B / b + 3 diag(w²)).

    Symmetric Jacobians that depend on both the point and the noise (the minibatch B).
    """

    def __init__(self, data, lr, batch):
        self.data, self.lr, self.batch = data, lr, batch
        self.dim = data.shape[1]

    def sample_noise(self, rng):
        return rng.choice(self.data.shape[0], size=self.batch, replace=False)

    def hessian(self, w, idx):
        xb = self.data[idx]
        return xb.T @ xb / self.batch + 3.0 * np.diag(w**2)

    def step(self, w, idx):
        xb = self.data[idx]
        return w - self.lr * (xb.T @ (xb @ w) / self.batch + w**3)

    def jacobian(self, w, idx):
        return np.eye(self.dim) - self.lr * self.hessian(w, idx)


def test_symmetric_jacobians_give_log_abs_eigenvalues_for_both_aggregates():
    rng = np.random.default_rng(0)
    system = MinibatchLeastSquaresGD(rng.standard_normal((30, 4)), lr=0.9, batch=5)
    points = rng.standard_normal((6, 4))
    samples = rds_sharpness_samples(system, points, n_noise=7, rng=3)
    # Oracle: the same minibatches (regenerated from the seed) and eigvalsh, not an SVD.
    noise = noise_generator(samples.seed)
    oracle = np.empty((7, 6, 4))
    for i in range(7):
        idx = system.sample_noise(noise)
        for j, w in enumerate(points):
            eig = np.linalg.eigvalsh(system.jacobian(w, idx))
            oracle[i, j] = np.sort(np.log(np.abs(eig)))[::-1]
    np.testing.assert_allclose(samples.log_singular_values, oracle, rtol=0, atol=ROUNDOFF)
    for aggregate, reduce in (("sup", np.max), ("mean", np.mean)):
        expected = reduce(oracle, axis=1).mean(axis=0)
        got = rds_sharpness(system, points, n_noise=7, rng=3, aggregate=aggregate)
        np.testing.assert_allclose(got, expected, rtol=0, atol=ROUNDOFF)
        assert np.all(np.diff(got) <= 0)


def test_sup_takes_the_maximum_order_by_order_at_different_points():
    # Point 0 maximizes σ1 (3 > 2), point 1 maximizes σ2 (1 > 0.1): no single point attains
    # the sup vector (ln 3, ln 1).
    system = as_map(lambda x: x, lambda x: np.diag([3.0, 0.1]) if x[0] < 0.5
                    else np.diag([1.0, 2.0]), 2)
    points = np.array([[0.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(rds_sharpness(system, points, rng=0), [np.log(3.0), 0.0],
                               rtol=0, atol=ROUNDOFF)
    mean = rds_sharpness(system, points, rng=0, aggregate="mean")
    np.testing.assert_allclose(mean, [np.log(3.0 * 2.0) / 2, np.log(0.1 * 1.0) / 2],
                               rtol=0, atol=ROUNDOFF)


@given(
    entries=st.lists(st.floats(-3, 3), min_size=5 * 3 * 4, max_size=5 * 3 * 4),
)
def test_sup_is_at_least_mean_order_by_order(entries):
    jac = np.array(entries).reshape(5, 3, 4)[:, :, :3]
    table = {i: jac[i] for i in range(5)}
    system = as_map(lambda x: x, lambda x: table[int(x[0])], 3)
    points = np.array([[float(i), 0.0, 0.0] for i in range(5)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sup = rds_sharpness(system, points, rng=0)
        mean = rds_sharpness(system, points, rng=0, aggregate="mean")
    assert not np.isnan(sup).any() and not np.isnan(mean).any()
    assert np.all(sup >= mean)


class ScaledDiagonal:
    """J(ω, x) = c(ω) diag(|x|) with c ~ Exp(1): per-draw points and noise both matter."""

    dim = 2

    def sample_noise(self, rng):
        return rng.exponential()

    def step(self, x, c):
        return c * x

    def jacobian(self, x, c):
        return c * np.diag(np.abs(x))


def test_points_per_draw_are_paired_with_their_own_noise_draw():
    points = np.array([[[1.0, 4.0], [2.0, 0.5]], [[3.0, 1.0], [0.25, 0.25]]])  # (2, 2, 2)
    samples = rds_sharpness_samples(ScaledDiagonal(), points, n_noise=2, rng=12)
    assert not samples.shared_points and samples.n_noise == 2 and samples.n_points == 2
    noise = noise_generator(12)
    c = [noise.exponential(), noise.exponential()]
    # Draw 0: c0·diag(1,4) → (4,1)c0; c0·diag(2,.5) → (2,.5)c0. Draw 1: (3,1)c1; (.25,.25)c1.
    per_draw_sup = np.log([[4 * c[0], 1 * c[0]], [3 * c[1], 1 * c[1]]])
    np.testing.assert_allclose(samples.per_draw("sup"), per_draw_sup, rtol=0, atol=ROUNDOFF)
    np.testing.assert_allclose(samples.values("sup"), per_draw_sup.mean(axis=0), atol=ROUNDOFF)
    se = samples.stderr("sup")
    np.testing.assert_allclose(se, per_draw_sup.std(axis=0, ddof=1) / np.sqrt(2), atol=ROUNDOFF)


def test_shared_points_serve_every_draw_and_stderr_is_infinite_for_one_draw():
    samples = rds_sharpness_samples(ScaledDiagonal(), np.array([[1.0, 2.0]]), n_noise=1, rng=0)
    assert samples.shared_points and samples.seed == 0
    assert np.all(samples.stderr("mean") == np.inf)
    assert isinstance(samples, SharpnessSamples)


def test_zero_singular_value_gives_minus_inf_without_warnings():
    system = as_map(lambda x: x, lambda x: np.diag([0.0, -5.0]), 2)  # σ = (5, 0) exactly
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        samples = rds_sharpness_samples(system, np.zeros((3, 2)), n_noise=2, rng=0)
    lam = samples.values("sup")
    assert lam[0] == pytest.approx(np.log(5.0), abs=ROUNDOFF) and lam[1] == -np.inf
    assert samples.stderr("sup")[1] == 0.0 and not np.isnan(samples.stderr("sup")).any()


@pytest.mark.parametrize(
    ("points", "kwargs", "message"),
    [
        (np.zeros((3, 2)), {"aggregate": "max"},
         r"aggregate must be one of \('mean', 'sup'\), got 'max'"),
        (np.zeros((3, 3)), {}, r"points must have shape \(n_points, 2\)"),
        (np.zeros((2, 3, 2)), {"n_noise": 3}, r"or \(n_noise=3, n_points, 2\)"),
        (np.array([[0.0, np.inf]]), {}, r"points must be finite, got a non-finite entry at"),
        (np.zeros((3, 2)), {"n_noise": 0}, "n_noise must be >= 1, got 0"),
        (np.zeros((0, 2)), {}, "points must have shape"),
    ],
)
def test_bad_input_fails_early_with_a_message_naming_the_argument(points, kwargs, message):
    system = as_map(lambda x: x, lambda x: np.eye(2), 2)
    with pytest.raises(ValueError, match=message):
        rds_sharpness(system, points, rng=0, **kwargs)


def test_non_finite_jacobian_is_reported_with_its_draw_and_point():
    system = as_map(lambda x: x, lambda x: np.diag([1.0, 1.0 / x[0]]) if x[0] else
                    np.diag([1.0, np.inf]), 2)
    with pytest.raises(ValueError, match="non-finite at noise draw 0, point 1"):
        rds_sharpness(system, np.array([[1.0, 0.0], [0.0, 0.0]]), rng=0)


def test_aggregate_name_is_checked_on_the_samples_too():
    samples = rds_sharpness_samples(ScaledDiagonal(), np.ones((2, 2)), rng=0)
    with pytest.raises(ValueError, match="aggregate must be one of"):
        samples.values("median")
