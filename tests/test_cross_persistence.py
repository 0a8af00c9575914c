"""sharpdim's topology measures (minimum-spanning-tree H₀ lifetimes) agree with GUDHI and
ripser, two independent persistent-homology libraries, and with the audit's exact oracles.

GUDHI computes in double precision from the same Euclidean distances, so its finite H₀ deaths
must equal ``mst_edge_lengths`` bit for bit when it is handed the same distance matrix, and to
a few ulps when it computes the distances itself. ripser stores filtration values in single
precision: agreement to ``2^-23`` relative (one float32 ulp after rounding each distance).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform

from sharpdim.lab.sweeps.topology import lifetime_sum, mst_edge_lengths
from sharpdim.testing.oracles import cases
from sharpdim.testing.oracles.persistence import kruskal_deaths

needs_gudhi = pytest.mark.skipif(importlib.util.find_spec("gudhi") is None,
                                 reason="gudhi is not installed (optional extra 'audit')")
needs_ripser = pytest.mark.skipif(importlib.util.find_spec("ripser") is None,
                                  reason="ripser is not installed (optional extra 'audit')")

EPS = float(np.finfo(np.float64).eps)
CLOUDS = {"gauss-2d": (0, 120, 2), "gauss-5d": (1, 80, 5), "uniform-1d": (2, 200, 1)}


def _cloud(name: str) -> np.ndarray:
    seed, n, d = CLOUDS[name]
    rng = np.random.default_rng(seed)
    return rng.uniform(size=(n, d)) if d == 1 else rng.standard_normal((n, d))


def _gudhi_deaths(**kwargs) -> np.ndarray:
    import gudhi

    tree = gudhi.RipsComplex(**kwargs).create_simplex_tree(max_dimension=1)
    return np.sort([d for dim, (_, d) in tree.persistence() if dim == 0 and np.isfinite(d)])


def test_mst_lifetimes_equal_every_persistence_oracle():
    """The audit's exact cases (hand-counted gaps, grids, polygons, Kruskal) against the
    topology module's scipy MST."""
    for case in cases("persistence-h0", "thorough"):
        ours = mst_edge_lengths(case.build()["points"])
        np.testing.assert_allclose(ours, case.expected, rtol=0,
                                   atol=case.tolerance.atol, err_msg=case.name)


@pytest.mark.parametrize("name", list(CLOUDS))
def test_kruskal_oracle_and_scipy_mst_agree_to_the_rounding_of_one_distance(name):
    """Two algorithms (Kruskal with union–find; scipy's MST), two distance computations
    (``sqrt(Σ(x − y)²)`` here, ``pdist`` there): equal up to ``(d + 2)·eps`` relative."""
    x = _cloud(name)
    np.testing.assert_allclose(kruskal_deaths(x), mst_edge_lengths(x),
                               rtol=(x.shape[1] + 2) * EPS, atol=0)


@needs_gudhi
@pytest.mark.parametrize("name", list(CLOUDS))
def test_gudhi_h0_deaths_equal_mst_lifetimes_exactly(name):
    x = _cloud(name)
    D = squareform(pdist(x))
    ours = mst_edge_lengths(distances=D)
    assert np.array_equal(_gudhi_deaths(distance_matrix=D), ours)  # same distances: bitwise
    from_points = _gudhi_deaths(points=x)  # GUDHI's own distances: rounding of one sqrt(Σ)
    np.testing.assert_allclose(from_points, ours, rtol=(x.shape[1] + 2) * EPS, atol=0)
    for alpha in (0.5, 1.0, 2.0):
        assert lifetime_sum(x, alpha=alpha) == pytest.approx(
            float(np.sum(from_points ** alpha)), rel=x.shape[0] * EPS)


@needs_ripser
@pytest.mark.parametrize("name", list(CLOUDS))
def test_ripser_h0_deaths_equal_mst_lifetimes_to_single_precision(name):
    import ripser

    x = _cloud(name)
    diagram = ripser.ripser(x, maxdim=0)["dgms"][0]
    theirs = np.sort(diagram[np.isfinite(diagram[:, 1]), 1])
    ours = mst_edge_lengths(x)
    assert theirs.shape == ours.shape
    np.testing.assert_allclose(theirs, ours, rtol=2.0**-23, atol=0)
    assert not np.array_equal(theirs, ours)  # it is single precision: never bitwise here
