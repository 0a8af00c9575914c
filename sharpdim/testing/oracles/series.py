"""Oracle cases of kinds ``lyapunov-series`` and ``correlation-dimension``: scalar time
series from maps whose largest exponent or correlation dimension is known exactly.

The estimator receives ``series`` (a 1-D float64 array, one sample per map step) and
returns ``λ_1`` per sample (natural log) or ``D_2``. Time-series estimators (delay embedding,
neighbour statistics, line fits over a scaling range) have no derivable error bound, so the
tolerances here are **stated requirements**: the first significant digit (``10 %`` of ``λ_1``,
``0.1`` in ``D_2``), which is what such a number is used for. The generators are exact where
floating point allows:

* :func:`tent2_exact_series` — the tent map ``μ = 2`` loses a bit per step in float64, so its
  orbit is built from an iid bit stream instead: with ``y_0 = 0.b_1 b_2 …``, the orbit is
  ``y_n = 0.(b_{n+1} ⊕ b_n)(b_{n+2} ⊕ b_n)…`` (a leading 1 complements the remaining bits),
  53 bits per sample: a true orbit of a Lebesgue-random start, to ``2^{-53}``;
* :func:`cantor_series` — the chaos game ``x' = x/3 + 2b/3`` (``b`` a fair bit): its stationary
  law is the middle-thirds Cantor measure, ``D_2 = ln 2/ln 3``. Delay vectors are bi-Lipschitz
  images of (Cantor point, finitely many bits), so every embedding has the same ``D_2``;
* float orbits of the logistic map (``r = 4``), the tent map ``μ = 1.5``, the y-coordinate of
  the generalized baker's map (``α = 1/3``, non-dyadic so it stays generic) and Arnold's cat
  map.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np

from sharpdim.systems import cat_map, generalized_baker, logistic, tent
from sharpdim.testing.checking import Tolerance
from sharpdim.testing.oracles._case import QUICK, THOROUGH, OracleCase

__all__ = [
    "lyapunov_series_cases",
    "correlation_dimension_cases",
    "tent2_exact_series",
    "cantor_series",
    "orbit_series",
]

_BITS = 53
_TRANSIENT = 200
_LAMBDA_RTOL = 0.1
_D2_ATOL = 0.1


def tent2_exact_series(n: int, seed: int) -> np.ndarray:
    """``n`` samples of an exact tent-map (``μ = 2``) orbit, built from iid bits (see module).

    >>> y = tent2_exact_series(200, seed=0)
    >>> bool(np.abs(2 * np.minimum(y[:-1], 1 - y[:-1]) - y[1:]).max() < 1e-15)
    True
    """
    bits = np.random.default_rng(seed).integers(0, 2, size=n + _BITS, dtype=np.int64)
    lead = np.concatenate([[0], bits[: n - 1]])  # b_n for n = 0..n-1 (b_0 = 0)
    window = np.lib.stride_tricks.sliding_window_view(bits, _BITS)[:n]  # b_{n+1..n+53}
    scales = 0.5 ** np.arange(1, _BITS + 1)
    return (window ^ lead[:, None]) @ scales


def cantor_series(n: int, seed: int) -> np.ndarray:
    """``n`` samples of the chaos game ``x' = x/3 + 2b/3`` after 40 discarded steps
    (``3^{-40} < 10^{-19}``: the start is forgotten below float64 resolution)."""
    bits = np.random.default_rng(seed).integers(0, 2, size=n + 40)
    x, out = 0.0, np.empty(n)
    for t, b in enumerate(bits):
        x = x / 3.0 + 2.0 * b / 3.0
        if t >= 40:
            out[t - 40] = x
    return out


def orbit_series(system, n: int, *, coordinate: int = 0) -> np.ndarray:
    """``n`` samples of one coordinate of a deterministic map's float orbit from its
    ``initial_point``, after a transient of 200 steps."""
    x = np.array(system.initial_point, dtype=np.float64)
    out = np.empty(n)
    for t in range(_TRANSIENT + n):
        if t >= _TRANSIENT:
            out[t - _TRANSIENT] = x[coordinate]
        x = system.step(x, None)
    return out


def _series_builder(make):
    def build():
        return {"series": make()}
    return build


def _series_case(kind: str, tolerance: Tolerance, name: str, claim: str, value: float,
                 derivation: str, make, seed: int, profiles) -> OracleCase:
    """One ``kind`` case of a scalar series ``make()`` with the one known ``value``."""
    return OracleCase(kind, name, claim, [value], derivation, tolerance, _series_builder(make),
                      seed, profiles=profiles)


_lambda_case = partial(_series_case, "lyapunov-series", Tolerance(
    reason="requirement: the first digit of λ_1 (10 %); time-series estimators have no "
           "derivable error bound", rtol=_LAMBDA_RTOL))
_d2_case = partial(_series_case, "correlation-dimension", Tolerance(
    reason="requirement: D_2 to ±0.1; Grassberger–Procaccia fits have no derivable error "
           "bound", atol=_D2_ATOL))


def lyapunov_series_cases() -> list[OracleCase]:
    """All ``lyapunov-series`` cases."""
    ln2 = math.log(2.0)
    third = 1.0 / 3.0
    baker_entropy = -third * math.log(third) - (1 - third) * math.log(1 - third)
    out = []
    for n, profiles in ((3000, QUICK), (5000, THOROUGH)):
        out += [
            _lambda_case(f"logistic-r4-N{n}", "λ_1 of the logistic map at r = 4", ln2,
                         "conjugate to the tent map μ = 2: λ_1 = ln 2",
                         lambda n=n: orbit_series(logistic(4.0), n), 0, profiles),
            _lambda_case(f"tent-1.5-N{n}", "λ_1 of the tent map μ = 1.5", math.log(1.5),
                         "|T'| = μ everywhere: λ_1 = ln 1.5",
                         lambda n=n: orbit_series(tent(1.5), n), 0, profiles),
        ]
    out += [
        _lambda_case("tent-2-exact-N5000", "λ_1 of an exact tent-map (μ = 2) orbit", ln2,
                     "|T'| = 2 everywhere: λ_1 = ln 2 (orbit built from random bits)",
                     lambda: tent2_exact_series(5000, 11), 11, THOROUGH),
        _lambda_case("baker-y-N5000", "λ_1 of the generalized baker's map, observed through y",
                     baker_entropy, "y alone follows the expanding Markov map y ↦ y/α or "
                     "(y − α)/β, which preserves Lebesgue measure: λ_1 = −α ln α − β ln β "
                     "(α = ⅓)", lambda: orbit_series(generalized_baker(), 5000, coordinate=1),
                     0, THOROUGH),
    ]
    return out


def correlation_dimension_cases() -> list[OracleCase]:
    """All ``correlation-dimension`` cases."""
    cantor = math.log(2.0) / math.log(3.0)
    out = []
    for n, profiles in ((3000, QUICK), (5000, THOROUGH)):
        out += [
            _d2_case(f"tent-2-exact-N{n}", "D_2 of the tent map's invariant (Lebesgue) measure",
                     1.0, "the tent map μ = 2 preserves Lebesgue measure on [0, 1]: D_2 = 1; "
                     "delay vectors lie on the graph of a piecewise-linear map",
                     lambda n=n: tent2_exact_series(n, 21), 21, profiles),
            _d2_case(f"cantor-N{n}", "D_2 of the middle-thirds Cantor measure", cantor,
                     "chaos game x' = x/3 + 2b/3: the uniform Cantor measure, D_2 = ln 2/ln 3",
                     lambda n=n: cantor_series(n, 22), 22, profiles),
        ]
    out += [
        _d2_case("cat-map-x-N5000", "D_2 of the cat map's invariant (Lebesgue) measure", 2.0,
                 "the cat map preserves Lebesgue measure on the torus; (x_t, x_t+1) = (x, "
                 "2x + y mod 1) is a piecewise-affine bijection: D_2 = 2 for embeddings ≥ 2",
                 lambda: orbit_series(cat_map(), 5000), 0, THOROUGH),
        _d2_case("period-5-N3000", "D_2 of a period-5 orbit", 0.0,
                 "a finite set of points: C(r) is constant below the smallest distance, D_2 = 0",
                 lambda: np.tile([0.1, 0.5, 0.3, 0.9, 0.7], 600), 0, THOROUGH),
    ]
    return out
