"""0-dimensional persistence of point clouds: MST lifetimes, E_α and the PH dimension.

Oracles: the MST of points on a line is the chain of consecutive gaps (sorting, a second
algorithm); a k×k lattice of spacing h has an MST of k² − 1 edges of length h; uniform
samples of a segment, a square and a flat torus have box dimension 1, 2 and 2.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform

from sharpdim.lab.sweeps.topology import (
    lifetime_sum,
    loss_distance_matrix,
    mst_edge_lengths,
    ph_dimension,
)
from sharpdim.testing.checking import EPS, Tolerance, check_close


def test_mst_of_points_on_a_line_is_the_chain_of_sorted_gaps():
    x = np.random.default_rng(0).normal(size=200)
    gaps = np.sort(np.diff(np.sort(x)))
    check_close("MST of collinear points = consecutive gaps", "200 Gaussian points",
                gaps, mst_edge_lengths(x),
                Tolerance("each edge is one float64 subtraction", atol=4 * EPS * np.abs(x).max()))


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0])
def test_lifetime_sum_of_a_square_lattice_is_k2_minus_1_edges_of_length_h(alpha):
    k, h = 7, 0.3
    pts = h * np.stack(np.meshgrid(np.arange(k), np.arange(k)), axis=-1).reshape(-1, 2)
    check_close("E_alpha of a k x k lattice = (k^2 - 1) h^alpha", f"k={k}, h={h}, α={alpha}",
                (k * k - 1) * h**alpha, lifetime_sum(pts, alpha=alpha),
                Tolerance("sum of 48 equal float64 terms", rtol=64 * EPS))


def test_duplicated_points_change_no_lifetime_sum():
    pts = np.random.default_rng(1).random((50, 3))
    doubled = np.concatenate([pts, pts[:20]])
    D = squareform(pdist(doubled))
    check_close("duplicates add zero-length edges only", "50 points + 20 repeats",
                lifetime_sum(pts), lifetime_sum(distances=D),
                Tolerance("same edges summed in another order", rtol=64 * EPS))
    assert mst_edge_lengths(doubled).size == 49


def _torus_distances(x: np.ndarray) -> np.ndarray:
    d = np.abs(x[:, None, :] - x[None, :, :])
    d = np.minimum(d, 1.0 - d)
    return np.sqrt((d**2).sum(-1))


# Finite-size bias of the PH dimension (slope of log E_1 against log n for n in [60, 600]):
# on a segment E_1 is the sample range, (n − 1)/(n + 1) on average, a slope ≈ 2/n ≤ 0.034 at
# n = 60, i.e. a dimension error below 0.04; in the square the BHH law E_1 ≈ β√n carries an
# O(1) boundary term, a relative O(n^{-1/2}) correction: ≈ 1/√60 = 0.13 at the smallest size.
# Seed-to-seed spread is measured in the test and 3 standard errors are added.
_SEGMENT_BIAS = 0.04
_SQUARE_BIAS = 0.13


@pytest.mark.parametrize("case", ["segment", "square", "flat torus"])
def test_ph_dimension_recovers_the_dimension_of_uniform_samples(case):
    dims = []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        if case == "segment":
            fit = ph_dimension(rng.random(600), seed=seed)
        elif case == "square":
            fit = ph_dimension(rng.random((600, 2)), seed=seed)
        else:
            fit = ph_dimension(distances=_torus_distances(rng.random((600, 2))), seed=seed)
        dims.append(fit.dimension)
    expected = 1.0 if case == "segment" else 2.0
    bias = _SEGMENT_BIAS if case == "segment" else _SQUARE_BIAS
    stderr = float(np.std(dims, ddof=1) / np.sqrt(len(dims)))
    check_close("PH dimension of a uniform sample = its box dimension", f"{case}, n=600, 5 seeds",
                expected, float(np.mean(dims)),
                Tolerance(f"finite-size bias {bias} + 3 standard errors over seeds",
                          atol=bias + 3 * stderr))


def test_ph_dimension_reports_its_fit_and_seed_and_is_reproducible():
    pts = np.random.default_rng(3).random((200, 2))
    a, b = ph_dimension(pts, seed=11), ph_dimension(pts, seed=11)
    assert a.dimension == b.dimension and a.seed == 11
    assert a.sizes[0] == 20 and a.sizes[-1] == 200 and a.sums.shape == a.sizes.shape
    # oracles: scipy's minimum spanning tree of all 200 points gives the last sum E_α, and
    # scipy's linregress of log E_α on log n the slope behind dim = α / (1 − m)
    from scipy.sparse.csgraph import minimum_spanning_tree
    from scipy.spatial.distance import cdist
    from scipy.stats import linregress

    edges = minimum_spanning_tree(cdist(pts, pts)).data
    assert a.sums[-1] == pytest.approx(float(np.sum(edges ** a.alpha)), rel=1e-12)
    fit = linregress(np.log(a.sizes), np.log(a.sums))
    assert a.dimension == pytest.approx(a.alpha / (1 - fit.slope), rel=1e-10)


def test_loss_distance_is_the_mean_absolute_difference_of_per_example_losses():
    L = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 0.0], [3.0, 0.0, 2.0]])
    D = loss_distance_matrix(L)
    assert D[0, 1] == pytest.approx((1 + 0 + 2) / 3)
    assert D[0, 2] == pytest.approx((3 + 1 + 0) / 3)
    assert np.all(np.diag(D) == 0)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"points": np.zeros((1, 2))}, "at least 2 points"),
    ({"points": np.array([[0.0, np.nan], [1.0, 1.0]])}, "finite"),
    ({"distances": np.array([[0.0, 1.0], [2.0, 0.0]])}, "symmetric"),
    ({"points": np.zeros((5, 2)), "distances": np.zeros((5, 5))}, "exactly one"),
])
def test_bad_point_clouds_are_rejected_with_the_rule(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mst_edge_lengths(**kwargs)


def test_ph_dimension_of_coincident_points_is_an_error_not_nan():
    with pytest.raises(ValueError, match="E_alpha = 0"):
        ph_dimension(np.ones((100, 3)), seed=0)
    with pytest.raises(ValueError, match="alpha must be > 0"):
        lifetime_sum(np.random.default_rng(0).random((5, 2)), alpha=0.0)
