"""Random-attractor samples: pullback snapshots and trajectory tails."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from sharpdim.dynamics.attractor import (
    AttractorSnapshot,
    TrajectoryTail,
    pullback_snapshot,
    trajectory_tail,
)
from sharpdim.dynamics.lyapunov import DivergenceError, noise_generator
from sharpdim.dynamics.maps import as_map

EPS = np.finfo(np.float64).eps


def affine_rds(a=0.6):
    """x ↦ a x + ξ with ξ ~ N(0, 1): the pullback attractor of ω is the single point
    Σ_{s≥0} a^s ξ_{−1−s}, and two points' images differ by exactly a^n (x − y)."""
    return as_map(lambda x, xi: a * x + xi, lambda x, xi: np.array([[a]]), 1,
                  noise=lambda rng: rng.standard_normal())


def test_pullback_snapshot_collapses_points_under_shared_noise():
    a, n = 0.6, 40
    x0 = np.linspace(-5.0, 5.0, 11)[:, None]
    snap = pullback_snapshot(affine_rds(a), x0, n, rng=7)
    assert isinstance(snap, AttractorSnapshot)
    assert (snap.n_initial, snap.n_dropped, snap.n_steps, snap.seed) == (11, 0, 40, 7)
    # Oracle: the closed-form image a^n x0 + Σ_t a^(n−1−t) ξ_t with ξ regenerated from the seed.
    noise = noise_generator(7)
    xi = np.array([noise.standard_normal() for _ in range(n)])
    expected = a**n * x0 + np.sum(a ** (n - 1 - np.arange(n)) * xi)
    np.testing.assert_allclose(snap.points, expected, rtol=0, atol=1e3 * EPS * np.abs(xi).sum())
    # The spread shrinks by exactly a^n: independent noise per point would not collapse.
    assert np.ptp(snap.points) == pytest.approx(10.0 * a**n, rel=1e-6)


def test_points_that_become_non_finite_are_dropped_and_counted():
    square = as_map(lambda x: x * x, lambda x: np.array([[2.0 * x[0]]]), 1)
    x0 = np.array([[0.5], [3.0], [-0.9], [1.5], [0.1]])  # |x| > 1 overflows within 12 steps
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        snap = pullback_snapshot(square, x0, 12, rng=0)
    assert snap.n_dropped == 2 and snap.points.shape == (3, 1)
    # Each squaring doubles the relative rounding error: ≤ 2^12 ulps after 12 squarings.
    np.testing.assert_allclose(snap.points[:, 0], np.array([0.5, -0.9, 0.1]) ** (2**12),
                               rtol=2**13 * EPS, atol=0)


def test_snapshot_where_every_point_diverges_raises_with_the_empty_snapshot():
    square = as_map(lambda x: x * x, lambda x: np.array([[2.0 * x[0]]]), 1)
    with pytest.raises(DivergenceError, match="all 2 points became non-finite by step") as info:
        pullback_snapshot(square, np.array([[2.0], [-3.0]]), 50, rng=0)
    assert info.value.partial.points.shape == (0, 1) and info.value.partial.n_dropped == 2


def test_snapshot_uses_step_batch_when_the_map_offers_it():
    class Batched:
        dim = 2

        def sample_noise(self, rng):
            return rng.uniform()

        def step(self, x, noise):
            raise AssertionError("per-point step called although step_batch exists")

        jacobian = step

        def step_batch(self, xs, noise):
            return 0.5 * xs + noise

    snap = pullback_snapshot(Batched(), np.zeros((4, 2)), 3, rng=1)
    u = noise_generator(1).uniform(size=3)
    assert np.allclose(snap.points, 0.25 * u[0] + 0.5 * u[1] + u[2], rtol=0, atol=4 * EPS)


def test_seed_from_a_generator_is_recorded_and_reproduces_the_snapshot():
    x0 = np.zeros((3, 1))
    snap = pullback_snapshot(affine_rds(), x0, 5, rng=np.random.default_rng(3))
    again = pullback_snapshot(affine_rds(), x0, 5, rng=snap.seed)
    np.testing.assert_array_equal(snap.points, again.points)


def test_trajectory_tail_keeps_the_last_iterates_in_order():
    tail = trajectory_tail(affine_rds(0.5), np.array([1.0]), 10, 4, rng=2)
    assert isinstance(tail, TrajectoryTail) and tail.points.shape == (4, 1)
    noise = noise_generator(2)
    x, xs = 1.0, []
    for _ in range(10):
        x = 0.5 * x + noise.standard_normal()
        xs.append(x)
    np.testing.assert_array_equal(tail.points[:, 0], xs[-4:])


def test_trajectory_tail_divergence_carries_the_iterates_kept_so_far():
    square = as_map(lambda x: x * x, lambda x: np.array([[2.0 * x[0]]]), 1)
    # 3^(2^t) overflows at t = 10: steps 1..9 finite; keeping the last 5 of 20 → t = 16..20.
    with pytest.raises(DivergenceError, match="non-finite at step 10 of 20") as info:
        trajectory_tail(square, np.array([3.0]), 20, 5, rng=0)
    assert info.value.partial is None  # no kept iterate was reached
    with pytest.raises(DivergenceError) as info:
        trajectory_tail(square, np.array([3.0]), 12, 6, rng=0)
    kept = info.value.partial.points[:, 0]  # iterates 7, 8, 9
    np.testing.assert_allclose(kept, [3.0 ** (2**7), 3.0 ** (2**8), 3.0 ** (2**9)],
                               rtol=2**10 * EPS)  # ≤ 2^9 ulps after 9 squarings


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: pullback_snapshot(m, np.zeros(1), 3), r"initial_points must have shape"),
        (lambda m: pullback_snapshot(m, np.array([[np.nan]]), 3), "initial_points must be finite"),
        (lambda m: pullback_snapshot(m, np.zeros((2, 1)), 0), "n_steps must be >= 1, got 0"),
        (lambda m: trajectory_tail(m, np.zeros((2, 1)), 5, 2), r"x0 must be one point"),
        (lambda m: trajectory_tail(m, np.zeros(1), 5, 6), "n_keep must be <= n_steps = 5"),
        (lambda m: trajectory_tail(m, np.zeros(1), 5, 0), "n_keep must be >= 1, got 0"),
    ],
)
def test_bad_input_fails_early_with_a_message_naming_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call(affine_rds())
