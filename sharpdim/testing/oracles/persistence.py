"""Oracle cases of kind ``persistence-h0``: point clouds whose 0-dimensional Vietoris–Rips
persistence is known exactly.

The estimator receives ``points`` (an ``(n, d)`` float64 array of distinct points) and returns
the finite death times of the 0-dimensional classes, ascending (every class is born at 0; one
class never dies and is left out: ``n − 1`` values). For a finite metric space these death
times are the edge lengths of a minimum spanning tree (Kruskal's merge order), so:

* points on a line die at the gaps between neighbours (hand-counted, dyadic coordinates, so
  every distance is exact in float64);
* an integer grid has ``n − 1`` deaths at exactly 1 (ties: any spanning tree of unit edges);
* ``k`` vertices of a regular polygon of circumradius 1 die at the side ``2 sin(π/k)``;
* two far clusters add one death at the gap between them;
* a random cloud's deaths come from an independent Kruskal (sorted edges, union–find) written
  in this module, on distances computed as ``sqrt(Σ (x_i − y_i)²)``.

Tolerance: the oracle is exact up to the rounding of one Euclidean distance, at most
``(d + 2)·eps`` relative; the allowed error is ``8·eps·(largest death)`` — a correct float64
implementation agrees to the last few bits, whatever order it merges ties in.
"""

from __future__ import annotations

import math

import numpy as np

from sharpdim.testing.checking import EPS, Tolerance
from sharpdim.testing.oracles._case import QUICK, THOROUGH, OracleCase

__all__ = ["persistence_h0_cases", "kruskal_deaths"]


def kruskal_deaths(points: np.ndarray) -> np.ndarray:
    """Sorted MST edge lengths of distinct ``points`` by Kruskal's algorithm (every pair's
    distance sorted, merged with a union–find with path halving).

    >>> kruskal_deaths(np.array([[0.0], [0.25], [1.0], [1.5]])).tolist()
    [0.25, 0.5, 0.75]
    """
    x = np.asarray(points, dtype=np.float64)
    n = x.shape[0]
    i, j = np.triu_indices(n, k=1)
    lengths = np.sqrt(((x[i] - x[j]) ** 2).sum(axis=1))
    order = np.argsort(lengths, kind="stable")
    parent = list(range(n))

    def root(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    deaths = []
    for e in order:
        a, b = root(int(i[e])), root(int(j[e]))
        if a != b:
            parent[a] = b
            deaths.append(lengths[e])
            if len(deaths) == n - 1:
                break
    return np.sort(np.asarray(deaths))


def _tolerance(deaths: np.ndarray) -> Tolerance:
    return Tolerance(reason="exact up to the rounding of one Euclidean distance ((d + 2)·eps "
                            "relative): 8·eps·max death", atol=8 * EPS * float(deaths.max()))


def _case(name: str, claim: str, points: np.ndarray, deaths, derivation: str, seed: int = 0,
          profiles=QUICK) -> OracleCase:
    deaths = np.sort(np.asarray(deaths, dtype=np.float64))
    if deaths.size != points.shape[0] - 1:
        raise RuntimeError(f"case {name}: {deaths.size} deaths for {points.shape[0]} points")
    frozen = np.array(points, dtype=np.float64)
    return OracleCase("persistence-h0", name, claim, deaths, derivation, _tolerance(deaths),
                      lambda: {"points": frozen.copy()}, seed, profiles=profiles)


def persistence_h0_cases() -> list[OracleCase]:
    """All ``persistence-h0`` cases."""
    line = np.array([0.0, 0.25, 1.0, 1.5, 3.75, 4.0])
    grid = np.array([[i, j] for i in range(3) for j in range(4)], dtype=np.float64)
    k = 12
    angles = 2 * np.pi * np.arange(k) / k
    polygon = np.column_stack([np.cos(angles), np.sin(angles)])
    clusters = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0],
                         [10.0, 0.0], [11.0, 0.0], [12.0, 0.0]])
    rng = np.random.default_rng(51)
    uniform_1d = np.sort(rng.uniform(0.0, 1.0, size=500))[:, None]
    cloud = np.random.default_rng(52).standard_normal((300, 3))
    return [
        _case("line-gaps", "H0 deaths of points on a line", np.column_stack(
            [line, np.zeros_like(line)]), np.diff(line),
            "x = (0, 1/4, 1, 3/2, 15/4, 4) on the x-axis: deaths = neighbour gaps "
            "(1/4, 3/4, 1/2, 9/4, 1/4), exact in binary"),
        _case("grid-3x4", "H0 deaths of a 3×4 integer grid (ties)", grid, np.ones(11),
              "every nearest-neighbour distance is 1 and the grid is connected by unit edges: "
              "11 deaths at 1"),
        _case("regular-12-gon", "H0 deaths of a regular 12-gon", polygon,
              np.full(k - 1, 2 * math.sin(math.pi / k)),
              "circumradius 1: the side 2 sin(π/12) is the smallest distance and the sides "
              "connect the vertices: 11 deaths at 2 sin(π/12)"),
        _case("two-clusters", "H0 deaths of two far clusters", clusters,
              [1.0, 1.0, 1.0, 1.0, 8.0],
              "{0, 1, 2} and {10, 11, 12} on a line: four unit gaps inside, one gap of 8 "
              "between"),
        _case("uniform-1d-N500", "H0 deaths of 500 uniform points in [0, 1]", uniform_1d,
              np.diff(uniform_1d[:, 0]),
              "in one dimension the minimum spanning tree is the path through the sorted "
              "points: deaths = consecutive gaps", 51),
        _case("gaussian-3d-N300", "H0 deaths of 300 Gaussian points in R³", cloud,
              kruskal_deaths(cloud),
              "Kruskal's algorithm (sorted pairwise distances, union–find) in this module",
              52, THOROUGH),
    ]
