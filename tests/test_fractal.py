"""Box counting and correlation dimension: counting against brute force, defaults, bad input.

Oracles: a set of tuples for occupied boxes, ``scipy.spatial.distance.pdist`` for pair
counts, ``scipy.stats.linregress`` for the fitted slope and its standard error.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import pdist
from scipy.stats import linregress

from sharpdim.dynamics.fractal import (
    box_counting_dimension,
    correlation_dimension,
    loglog_fit,
    occupied_boxes,
)


@pytest.mark.parametrize(("dim", "scale"), [(1, 0.01), (2, 0.05), (3, 0.2), (8, 1e-3)])
def test_occupied_boxes_match_a_brute_force_set_of_cells(dim, scale):
    # dim = 8 at ε = 1e-3 has 1e24 potential cells: the fallback path (unique rows) runs.
    points = np.random.default_rng(dim).normal(size=(3000, dim))
    origin = np.random.default_rng(99).uniform(-1, 1, size=dim)
    cells = {tuple(int(v) for v in np.floor((p - origin) / scale)) for p in points}
    assert occupied_boxes(points, scale, origin) == len(cells)


@pytest.mark.parametrize("metric", ["euclidean", "chebyshev"])
def test_pair_counts_match_brute_force_distances(metric):
    points = np.random.default_rng(5).uniform(size=(400, 3))
    radii = np.array([0.05, 0.1, 0.2, 0.4])
    fit = correlation_dimension(points, radii=radii, metric=metric)
    dist = pdist(points, metric=metric)
    np.testing.assert_array_equal(fit.pair_counts, [(dist <= r).sum() for r in radii])
    np.testing.assert_allclose(fit.correlation, fit.pair_counts / dist.size, rtol=1e-15)


def test_loglog_fit_matches_linregress():
    rng = np.random.default_rng(1)
    x = np.linspace(0.0, 3.0, 9)
    y = 1.7 * x - 0.4 + 0.05 * rng.standard_normal(9)
    fit, ref = loglog_fit(x, y), linregress(x, y)
    assert fit.slope == pytest.approx(ref.slope, rel=1e-12)
    assert fit.intercept == pytest.approx(ref.intercept, rel=1e-12)
    assert fit.stderr == pytest.approx(ref.stderr, rel=1e-10)


def test_box_counting_fits_its_own_reported_counts():
    points = np.random.default_rng(2).uniform(size=(5000, 2))
    fit = box_counting_dimension(points)
    ref = linregress(-np.log(fit.scales), np.log(fit.counts))
    assert fit.dimension == pytest.approx(ref.slope, rel=1e-12)
    assert fit.stderr == pytest.approx(ref.stderr, rel=1e-10)
    np.testing.assert_array_equal(fit.origin, points.min(axis=0))


def test_default_scales_keep_at_least_five_points_per_occupied_box():
    points = np.random.default_rng(3).uniform(size=(20000, 2))
    fit = box_counting_dimension(points)
    assert fit.scales.size >= 3 and np.all(np.diff(fit.scales) < 0)
    assert np.all(fit.n_points >= 5 * fit.counts)
    assert fit.scales[0] == pytest.approx(np.ptp(points, axis=0).max() / 4)


def test_default_radii_respect_the_pair_count_and_correlation_limits():
    points = np.random.default_rng(4).uniform(size=(3000, 2))
    fit = correlation_dimension(points, min_pairs=300, max_correlation=0.02)
    n_pairs = 3000 * 2999 // 2
    assert fit.radii.size >= 3 and np.all(np.diff(fit.radii) > 0)
    assert np.all(fit.pair_counts >= 300) and np.all(fit.correlation <= 0.02)
    assert np.all(fit.pair_counts == np.round(fit.correlation * n_pairs))


def test_large_clouds_are_subsampled_deterministically_by_seed():
    points = np.random.default_rng(6).uniform(size=(3000, 2))
    a = correlation_dimension(points, max_points=1000, seed=1)
    b = correlation_dimension(points, max_points=1000, seed=1)
    c = correlation_dimension(points, max_points=1000, seed=2)
    assert (a.n_points, a.n_points_used, a.seed) == (3000, 1000, 1)
    np.testing.assert_array_equal(a.pair_counts, b.pair_counts)
    assert a.dimension == b.dimension and c.dimension != a.dimension


def test_one_dimensional_input_is_a_cloud_on_the_line():
    x = np.random.default_rng(7).uniform(size=4000)
    assert box_counting_dimension(x).origin.shape == (1,)
    assert correlation_dimension(x).n_points_used == 4000


def test_results_are_read_only():
    fit = box_counting_dimension(np.random.default_rng(8).uniform(size=(2000, 1)))
    with pytest.raises(ValueError):
        fit.counts[0] = 1
    with pytest.raises(AttributeError):
        fit.dimension = 1.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: box_counting_dimension([[0.0, np.nan], [1.0, 1.0]]), "points must be finite"),
        (lambda: box_counting_dimension([[0.5, 0.5]]), "at least 2 points, got 1"),
        (lambda: box_counting_dimension(np.zeros((3, 2, 2))), "points must have shape"),
        (lambda: box_counting_dimension(np.ones((10, 2))), "zero extent"),
        (lambda: box_counting_dimension(np.eye(3), scales=[0.5, 0.25]), "at least 3 values"),
        (lambda: box_counting_dimension(np.eye(3), scales=[0.5, -0.25, 0.1]), "finite and > 0"),
        (lambda: box_counting_dimension(np.eye(3), scales=[0.5, 0.5, 0.1]), "must be distinct"),
        (lambda: box_counting_dimension(np.eye(3), scales=[0.5, np.nan, 0.1]), "finite"),
        (lambda: box_counting_dimension(np.eye(3), scales=[0.5, 0.2, 1e-15]), "1e-12"),
        (lambda: box_counting_dimension(np.eye(3), origin=[0.0]), "origin must be 3 finite"),
        (lambda: box_counting_dimension(np.random.default_rng(0).uniform(size=(20, 2))),
         "too few points"),
        (lambda: correlation_dimension(np.eye(3), metric="manhattan"), "metric must be one of"),
        (lambda: correlation_dimension([[0.0], [1.0]]), "at least 3 points, got 2"),
        (lambda: correlation_dimension(np.eye(3), max_points=2), "max_points must be >= 3, got 2"),
        (lambda: correlation_dimension(np.eye(3), max_correlation=0.0), "max_correlation"),
        (lambda: correlation_dimension(np.eye(3), seed=-1), "seed must be >= 0, got -1"),
        (lambda: correlation_dimension(np.eye(3), radii=[0.1, 0.2, 2.0]),
         "at least one pair, got none within r = 0.2"),
        (lambda: correlation_dimension(np.random.default_rng(0).uniform(size=(30, 2))),
         "too few points"),
    ],
)
def test_bad_input_fails_early_with_a_message_naming_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()
