"""Box-counting and correlation dimensions of sets whose dimension is known in closed form.

Oracles: a segment (1), a filled square (2), the middle-thirds Cantor set (ln 2 / ln 3) and the
Sierpinski triangle (ln 3 / ln 2), sampled so that the counts the estimators see obey proven
bounds.

Finite-size bias bound (both estimators). Write the fitted points as ``y_i = c + D x_i + e_i``
(``x = ln(1/ε), y = ln N`` for boxes; ``x = ln r, y = ln C`` for pairs). The least-squares
slope is ``D + Σ w_i e_i`` with ``w_i = (x_i − x̄)/Σ(x_j − x̄)²`` (``Σ w_i = 0``, ``Σ w_i x_i = 1``),
so if each ``e_i`` is known to lie in ``[lo_i, hi_i]`` the slope error is at most
``max(Σ max(w_i lo_i, w_i hi_i), −Σ min(w_i lo_i, w_i hi_i))`` — :func:`slope_bias_bound`,
the exact worst case over the box. The intervals come from the geometry of each case:

* aligned grids (ε = 2^-m for the segment, square and Sierpinski triangle, ε = 3^-m for the
  Cantor set, cells half-open at the set's corner): every level-m piece lies in exactly one
  cell and every cell is hit (sample sizes below make an empty cell a < 1e-8 event), so
  ``N(ε)`` is exact — ``2^m, 4^m, 2^m, 3^m`` — and the interval is ``[0, 0]``;
* arbitrary scales on a dense grid sample of ``[0, L]^k`` (spacing ``h ≤ ε``, origin at the
  first point): ``N = (⌊L/ε⌋ + 1)^k``, so ``N (ε/L)^k ∈ [1, (1 + ε/L)^k]``;
* correlation integrals: ``C(r) = 2r − r²`` for the uniform segment, ``(2r − r²)²`` for the
  uniform square in the max-norm, and ``C(3^-m) = 2^-m`` exactly for the Cantor measure
  (two points are within ``3^-m`` iff their first ``m`` ternary digits agree); the empirical
  log adds a Jensen term ``E ln Ĉ − ln C ∈ [−2/pairs, 0]`` to second order.

Sampling error. Box counts above are deterministic functions of the sample, so the tolerance
is the bias bound plus float rounding (``1e-12``; the fit sums ``≤ 20`` logs of size ``≤ 30``).
Correlation integrals are U-statistics whose errors at nested radii are correlated; the
regression standard error ignores that and understated the spread of the slope over
independent samples by a factor of about 2 when this file was written. The checks therefore
average ``R`` independent samples and use the standard error of that mean, times the
two-sided ``1e-3`` Student-t quantile with ``R − 1`` degrees of freedom.

The Sierpinski triangle has no exact correlation-integral value at a ladder of radii (pairs in
touching sub-triangles contribute at every scale), so only its box-counting dimension is
checked.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import t as student_t

from sharpdim.dynamics.fractal import box_counting_dimension, correlation_dimension
from sharpdim.testing.checking import Tolerance, check_close

CANTOR = math.log(2.0) / math.log(3.0)
SIERPINSKI = math.log(3.0) / math.log(2.0)
ROUNDING = 1e-12
SEEDS = st.integers(min_value=0, max_value=2**32 - 1)


def slope_bias_bound(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """Largest ``|Σ w_i e_i|`` over ``e_i ∈ [lo_i, hi_i]`` (see the module docstring)."""
    dx = np.asarray(x, dtype=np.float64) - np.mean(x)
    w = dx / (dx @ dx)
    top = np.maximum(w * lo, w * hi).sum()
    bottom = np.minimum(w * lo, w * hi).sum()
    return float(max(top, -bottom))


def box_tolerance(bias: float) -> Tolerance:
    return Tolerance(
        reason=f"finite-size bias bound {bias:.2g} (exact LP over proven count bounds) "
               "+ 1e-12 float rounding; counts are deterministic",
        atol=bias + ROUNDING,
    )


# ----------------------------------------------------------------------------- samples
def cantor_sample(n: int, seed: int, digits: int) -> np.ndarray:
    """Cantor-measure points rounded to level-``digits`` interval midpoints."""
    a = 2.0 * np.random.default_rng(seed).integers(0, 2, size=(n, digits))
    return a @ 3.0 ** -np.arange(1, digits + 1) + 0.5 * 3.0**-digits


def sierpinski_sample(n: int, seed: int, digits: int) -> np.ndarray:
    """Points of the triangle (0,0), (1,0), (0,1): binary digit pairs in {00, 10, 01}.

    Every coordinate is a dyadic rational with ``digits`` bits: exact in float64."""
    k = np.random.default_rng(seed).integers(0, 3, size=(n, digits))
    w = 2.0 ** -np.arange(1, digits + 1)
    return np.stack([(k == 1) @ w, (k == 2) @ w], axis=1)


def grid(k: int, dim: int) -> np.ndarray:
    """Cell midpoints of the uniform ``k^dim`` grid on ``[0, 1]^dim``."""
    axis = (np.arange(k) + 0.5) / k
    return np.stack(np.meshgrid(*([axis] * dim), indexing="ij"), axis=-1).reshape(-1, dim)


# ----------------------------------------------------------------------- box counting
@given(seed=SEEDS)
def test_box_counting_dimension_of_the_cantor_set_is_log2_over_log3(seed):
    digits, levels = 18, np.arange(1, 9)
    points = cantor_sample(20_000, seed, digits)  # ≥ 78 points per level-8 interval on average
    # Origin a quarter of a level-18 interval left of 0: every sample point sits strictly
    # inside its level-m cell, clear of float rounding.
    fit = box_counting_dimension(points, scales=3.0**-levels, origin=[-0.25 * 3.0**-digits])
    case = f"seed={seed}, n=20000, ε=3^-1..3^-8"
    check_close("N(3^-m) = 2^m for the Cantor set on an aligned grid", case, 2.0**levels,
                fit.counts, Tolerance(reason="integer counts", atol=0.0))
    check_close("box-counting dimension of the middle-thirds Cantor set is ln2/ln3", case,
                CANTOR, fit.dimension, box_tolerance(0.0))


@given(seed=SEEDS)
def test_box_counting_dimension_of_the_sierpinski_triangle_is_log3_over_log2(seed):
    levels = np.arange(1, 8)
    points = sierpinski_sample(60_000, seed, 20)  # ≥ 27 points per level-7 triangle on average
    fit = box_counting_dimension(points, scales=2.0**-levels, origin=[0.0, 0.0])
    case = f"seed={seed}, n=60000, ε=2^-1..2^-7"
    check_close("N(2^-m) = 3^m for the Sierpinski triangle on an aligned grid", case,
                3.0**levels, fit.counts, Tolerance(reason="integer counts", atol=0.0))
    check_close("box-counting dimension of the Sierpinski triangle is ln3/ln2", case,
                SIERPINSKI, fit.dimension, box_tolerance(0.0))


def test_box_counting_dimension_of_a_diagonal_segment_and_a_square_on_dyadic_grids():
    segment = np.repeat(grid(4096, 1), 2, axis=1)  # the diagonal of the unit square
    fit = box_counting_dimension(segment, scales=2.0 ** -np.arange(1, 9), origin=[0.0, 0.0])
    check_close("box-counting dimension of a segment (in the plane) is 1",
                "diagonal, 4096 points, ε=2^-1..2^-8", 1.0, fit.dimension, box_tolerance(0.0))
    square = grid(256, 2)
    fit = box_counting_dimension(square, scales=2.0 ** -np.arange(1, 7), origin=[0.0, 0.0])
    check_close("box-counting dimension of a filled square is 2",
                "256² grid, ε=2^-1..2^-6", 2.0, fit.dimension, box_tolerance(0.0))


@given(
    largest=st.floats(min_value=0.08, max_value=0.3),
    span=st.floats(min_value=4.0, max_value=20.0),
    n_scales=st.integers(min_value=3, max_value=12),
    dim=st.sampled_from([1, 2]),
)
def test_box_counting_dimension_at_arbitrary_scales_is_within_the_finite_size_bias(
    largest, span, n_scales, dim
):
    k = 2**16 if dim == 1 else 300  # spacing 1/k ≤ the smallest scale (≥ 0.08/20 > 1/300)
    points = grid(k, dim)
    scales = np.geomspace(largest, largest / span, n_scales)
    fit = box_counting_dimension(points, scales=scales)  # origin: the first grid point
    side = 1.0 - 1.0 / k  # extent L of the sample along each axis
    x = -np.log(fit.scales)
    bias = slope_bias_bound(x, np.full_like(x, -ROUNDING), dim * np.log1p(fit.scales / side))
    check_close(f"box-counting dimension of a filled {dim}-cube is {dim}",
                f"ε={largest:.3g}..{largest / span:.3g} ({n_scales} scales), {k}^{dim} grid",
                float(dim), fit.dimension, box_tolerance(bias))


# ------------------------------------------------------------------------ correlation
def replicate_check(claim: str, case: str, expected: float, fits: list, lo_fn, hi_fn) -> None:
    slopes = np.array([f.dimension for f in fits])
    se = slopes.std(ddof=1) / math.sqrt(slopes.size)
    quantile = float(student_t.ppf(1 - 5e-4, slopes.size - 1))
    # The bias interval of each replicate's fit; the mean's bias lies in their hull.
    bias = max(
        slope_bias_bound(np.log(f.radii), lo_fn(f.radii) - 2.0 / f.pair_counts, hi_fn(f.radii))
        for f in fits
    )
    tol = Tolerance(
        reason=f"finite-size bias bound {bias:.2g} (exact C(r), LP) + t_{slopes.size - 1}"
               f"(0.9995) = {quantile:.2f} × replicate standard error {se:.2g}",
        atol=bias + quantile * se,
    )
    check_close(claim, case, expected, slopes.mean(), tol)


def test_correlation_dimension_of_the_uniform_segment_is_1():
    radii = np.geomspace(2e-3, 5e-2, 8)
    fits = [correlation_dimension(np.random.default_rng(100 + i).uniform(size=(1500, 1)),
                                  radii=radii) for i in range(12)]
    replicate_check("correlation dimension of the uniform segment is 1",
                    "12 × 1500 points, r=0.002..0.05", 1.0, fits,
                    lambda r: np.log1p(-r / 2), lambda r: np.zeros_like(r))


def test_correlation_dimension_of_the_uniform_square_in_the_max_norm_is_2():
    radii = np.geomspace(2e-2, 0.15, 8)
    fits = [correlation_dimension(np.random.default_rng(200 + i).uniform(size=(1500, 2)),
                                  radii=radii, metric="chebyshev") for i in range(12)]
    replicate_check("correlation dimension of the uniform square is 2",
                    "12 × 1500 points, max-norm, r=0.02..0.15", 2.0, fits,
                    lambda r: 2 * np.log1p(-r / 2), lambda r: np.zeros_like(r))


def test_correlation_dimension_of_the_cantor_measure_is_log2_over_log3():
    radii = 3.0 ** -np.arange(2, 9)
    fits = [correlation_dimension(cantor_sample(1500, 300 + i, 25), radii=radii)
            for i in range(12)]
    replicate_check("correlation dimension of the Cantor measure is ln2/ln3",
                    "12 × 1500 points, r=3^-2..3^-8", CANTOR, fits,
                    lambda r: np.zeros_like(r), lambda r: np.zeros_like(r))
