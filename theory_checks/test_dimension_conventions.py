"""Kaplan–Yorke / sharpness dimension conventions (docs/design.md "Conventions") and invariants.

Oracle: the dimension is the **largest root** ``t`` of the concave piecewise-linear function
``f(t)`` that interpolates the partial sums (``f(M_r) = S_r``, slope ``z_r`` on the ``r``-th
segment of length ``m_r``; ``f(0) = 0``). :func:`_exact_dimension` finds it by scanning the
segments in exact rational arithmetic (``fractions.Fraction`` of the floats), so every
convention (``SD = 0`` when ``λ_1 < 0``, flat directions count, ``SD = d`` when every partial
sum is ``≥ 0``, ``-inf`` ends the scan) follows from the definition instead of being coded as a
special case, and no rounding enters the expected value.

Rounding of the library (float64): its partial sums err by at most ``γ_n Σ_{r≤j*} m_r|z_r|``
(``γ_n = n·eps/(1 − n·eps)``, Higham, *Accuracy and Stability*, §4.2); moving ``f`` by ``δ``
moves a root whose adjacent slopes have magnitude ``≥ s`` by at most ``δ/s`` (twice that if the
root sits at a breakpoint); the mass sum, the division and the final addition add ``γ_n·M`` and
a few ulps. :func:`_rounding_tolerance` adds these up.

Lipschitz bound (continuity away from ``λ_1 = 0``): if ``λ_1 > 0``, ``t0 = SD(λ) < d`` lies
inside segment ``j*+1`` (``S_{j*} > 0``) with slope ``−s = λ_{j*+1} < 0``, and
``‖λ' − λ‖_∞ ≤ ε`` with ``dε ≤ s (t0 − j*)``, then ``|SD(λ') − SD(λ)| ≤ dε/s``. Proof: sorting
is 1-Lipschitz in the sup norm and ``f(t)`` is a combination of ``λ``'s with total weight
``t ≤ d``, so ``|f' − f| ≤ dε``. Right of ``t0`` concavity gives ``f(t) ≤ −s(t − t0)``, so
``f'(t) < 0`` for ``t > t0 + dε/s``; on ``[j*, t0]`` ``f(t) = s(t0 − t)``, so
``f'(t0 − dε/s) ≥ 0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from hypothesis import assume, example, given
from hypothesis import strategies as st

from sharpdim.dimension import (
    kaplan_yorke_decomposition,
    kaplan_yorke_dimension,
    sharpness_dimension,
)
from sharpdim.testing.checking import EPS, Tolerance, check_close, check_that
from sharpdim.testing.strategies import spectra, weighted_spectra

LN2 = math.log(2.0)
GRID = 2.0**-10  # dyadic resolution: partial sums of grid values are exact in float64


@dataclass(frozen=True)
class _Exact:
    """Exact Kaplan–Yorke data of a (weighted) spectrum, sorted descending."""

    dimension: Fraction
    transition_index: int
    mass: Fraction  # M_{j*}
    total_mass: Fraction
    z_at: float | None  # z_{j*}
    z_next: float | None  # z_{j*+1}
    cell: float  # m_{j*} + m_{j*+1}: a root can only move within the adjacent segments
    prefix_abs: float  # Σ_{r≤j*} m_r |z_r|
    n: int


def _exact_dimension(values, weights=None) -> _Exact:
    """Largest ``t`` with ``f(t) ≥ 0``, by a segment scan in exact rational arithmetic."""
    z = [float(v) for v in np.ravel(values)]
    m = [1.0] * len(z) if weights is None else [float(w) for w in np.ravel(weights)]
    atoms = sorted(((zi, mi) for zi, mi in zip(z, m, strict=True) if mi > 0),
                   key=lambda a: -a[0])
    partial, mass, j, root = Fraction(0), Fraction(0), 0, Fraction(0)
    for zr, mr in atoms:
        if zr == -math.inf:  # f drops to -inf right after M: the root is M
            root = mass
            break
        step = Fraction(mr) * Fraction(zr)
        if partial + step >= 0:
            partial, mass, j = partial + step, mass + Fraction(mr), j + 1
            root = mass
        else:  # zr < 0 here: f crosses zero inside this segment
            root = mass + partial / -Fraction(zr)
            break
    return _Exact(
        dimension=root,
        transition_index=j,
        mass=mass,
        total_mass=sum((Fraction(mr) for _, mr in atoms), Fraction(0)),
        z_at=atoms[j - 1][0] if j >= 1 else None,
        z_next=atoms[j][0] if j < len(atoms) else None,
        cell=sum(mr for _, mr in atoms[max(j - 1, 0):j + 1]),
        prefix_abs=float(sum(mr * abs(zr) for zr, mr in atoms[:j])),
        n=len(atoms),
    )


def _rounding_tolerance(ex: _Exact, extra_shift: float = 0.0) -> Tolerance:
    """Float64 error bound of the library's dimension (see the module docstring).

    ``extra_shift`` is an additional sup-norm perturbation of the values (already applied),
    moved through the root by the same slope argument.
    """
    gamma = ex.n * EPS / (1.0 - ex.n * EPS)
    shift = gamma * ex.prefix_abs + ex.n * extra_shift

    def slope(v):
        return -v if v is not None and -math.inf < v < 0 else None

    s_next, s_at = slope(ex.z_next), slope(ex.z_at)
    through_root = 0.0
    if s_next is not None:
        through_root = 2.0 * shift / s_next
        near_breakpoint = float(ex.dimension - ex.mass) <= through_root
        if near_breakpoint and s_at is not None:  # the root may slide onto segment j*
            through_root = 2.0 * shift / min(s_next, s_at)
    elif s_at is not None:  # root at breakpoint j*, then -inf (or the end)
        through_root = 2.0 * shift / s_at
    through_root = min(through_root, ex.cell)  # tiny (subnormal) slopes: stay in the cell
    dim = float(ex.dimension)
    atol = through_root + gamma * float(ex.mass) + 4.0 * EPS * max(dim, 1.0)
    return Tolerance(
        reason="float64 rounding: partial sums within γ_n·Σ|m z| moved through the root by "
        "2/|adjacent slope| (at most the two adjacent segments), mass sum γ_n·M, 4 ulps for "
        "division, addition and the oracle's conversion",
        atol=atol,
    )


def _case(values, weights=None) -> str:
    text = np.array2string(np.asarray(values, dtype=float), precision=4, separator=", ")
    if weights is None:
        return f"λ={text}"
    return f"λ={text}, m={np.array2string(np.asarray(weights), precision=4, separator=', ')}"


@st.composite
def _dyadic_spectra(draw, **kwargs):
    return draw(spectra(resolution=GRID, allow_ties=True, allow_zeros=True, **kwargs))


# ----------------------------------------------------------------------------- the oracle


@given(spectra(allow_neg_inf=True, allow_ties=True, allow_zeros=True))
@example(np.array([0.0, -LN2]))  # ChaosTools regression: flat direction counts -> 1
@example(np.array([LN2, -2 * LN2]))  # 1 + ln2/ln4 = 1.5
@example(np.array([LN2, -LN2]))  # partial sums ln2, 0 -> SD = d = 2
@example(np.array([-1.0, -2.0]))  # λ_1 < 0 -> 0
@example(np.array([1.0, -np.inf]))  # zero singular value -> integer 1
@example(np.array([0.41922, -1.62319]))  # Hénon-like spectrum, 1 + 0.41922/1.62319
@example(np.array([5e-324, -1.0]))  # subnormal top value
def test_sd_is_the_largest_root_of_the_interpolated_partial_sums(values):
    ex = _exact_dimension(values)
    tol = _rounding_tolerance(ex)
    claim = "SD = largest root of the piecewise-linear partial-sum interpolation"
    check_close(claim, _case(values), float(ex.dimension), sharpness_dimension(values), tol)
    check_close("Kaplan–Yorke dimension uses the same formula as SD", _case(values),
                float(ex.dimension), kaplan_yorke_dimension(values), tol)


@given(weighted_spectra(allow_neg_inf=True, allow_ties=True, allow_zeros=True,
                        allow_zero_weights=True))
def test_weighted_sd_is_the_largest_root_of_the_mass_weighted_interpolation(spec):
    ex = _exact_dimension(spec.values, spec.weights)
    check_close("weighted SD = largest root of the mass-weighted interpolation",
                _case(spec.values, spec.weights), float(ex.dimension),
                sharpness_dimension(spec.values, spec.weights), _rounding_tolerance(ex))


PINNED = [
    # (values, closed-form value, why)
    ([0.0, -LN2], 1.0, "S_1 = 0 counts (≥), S_2 < 0, fraction 0/ln2"),
    ([LN2, -2 * LN2], 1.5, "1 + ln2/ln4"),
    ([np.log(3.0), np.log(0.5), np.log(0.25)], 2 + np.log(1.5) / np.log(4.0),
     "GD on curvatures (4, 1.5, 1.75) at lr 1: 2 + ln(3/2)/ln 4"),
    ([-0.5], 0.0, "λ_1 < 0"),
    ([0.0], 1.0, "λ_1 = 0 in one dimension: SD = d"),
    ([2.0, -1.0, -np.inf], 2.0, "partial sums 2, 1, -inf: SD = 2 + 1/inf = 2"),
    ([0.0, 0.0, -1.0], 2.0, "two flat directions count: 2 + 0/1"),
    ([1.0, 1.0, -3.0, -3.0], 2 + 2 / 3, "2 + 2/3"),
]


def test_pinned_closed_form_dimensions():
    for values, expected, why in PINNED:
        for fn in (sharpness_dimension, kaplan_yorke_dimension):
            check_close(f"pinned closed form ({fn.__name__})", f"{_case(values)}: {why}",
                        expected, fn(values),
                        Tolerance("a few roundings of values of order 1", atol=8 * EPS))


# ----------------------------------------------------------------------------- invariants


@given(spectra(allow_neg_inf=True, allow_ties=True, allow_zeros=True), st.data())
def test_input_order_never_matters(values, data):
    perm = np.array(data.draw(st.permutations(range(values.size))))
    check_close("SD is invariant under reordering (sorted internally)",
                _case(values), sharpness_dimension(values), sharpness_dimension(values[perm]),
                Tolerance("exact: the same sorted array enters the same arithmetic"))


@given(weighted_spectra(allow_ties=True), st.data())
def test_weighted_input_order_never_matters(spec, data):
    perm = np.array(data.draw(st.permutations(range(spec.values.size))))
    ex = _exact_dimension(spec.values, spec.weights)
    tol = _rounding_tolerance(ex)  # tied atoms with different masses may sum in another order
    case = _case(spec.values, spec.weights)
    for order in (np.arange(spec.values.size), perm):
        check_close("weighted SD is invariant under reordering (up to summation order)", case,
                    float(ex.dimension),
                    sharpness_dimension(spec.values[order], spec.weights[order]), tol)


@given(spectra(allow_neg_inf=True, allow_ties=True, allow_zeros=True))
def test_dimension_lies_in_its_transition_cell(values):
    d = values.size
    dec = kaplan_yorke_decomposition(values)
    ex = _exact_dimension(values)
    j = ex.transition_index
    case = _case(values)
    check_that("SD ∈ [0, d]", case, 0.0 <= dec.dimension <= d, f"[0, {d}]", f"{dec.dimension}")
    check_that("j* = largest index with partial sum ≥ 0", case, dec.transition_index == j,
               f"j* = {j}", f"j* = {dec.transition_index}")
    if j < d:
        # Exactly j* ≤ SD < j*+1; in float64 j* + (1 − 2^-53) may round up to j*+1, so the
        # strict side is asserted on the exact value and the closed cell on the float.
        check_that("j* ≤ SD < j*+1 when j* < d", case,
                   j <= ex.dimension < j + 1 and j <= dec.dimension <= j + 1,
                   f"[{j}, {j + 1})", f"{dec.dimension} (exact {float(ex.dimension)})")
    else:
        check_that("SD = d when j* = d", case, dec.dimension == d, f"{d}", f"{dec.dimension}")


@given(_dyadic_spectra(allow_neg_inf=True))
def test_sd_equals_dimension_iff_every_partial_sum_is_nonnegative(values):
    d = values.size
    ordered = np.sort(values)[::-1]
    # On the dyadic grid float64 partial sums are exact, so this is the definition itself.
    all_nonneg = bool(np.all(np.cumsum(ordered) >= 0))
    sd = sharpness_dimension(values)
    check_that("SD = d ⇔ every partial sum ≥ 0", _case(values), (sd == d) == all_nonneg,
               f"partial sums all ≥ 0: {all_nonneg}", f"SD = {sd}, d = {d}")


@given(spectra(min_dim=2), st.data())
def test_sd_is_lipschitz_away_from_the_jump(values, data):
    ex = _exact_dimension(values)
    d = values.size
    j = ex.transition_index
    assume(values.max() > 0 and j < d and ex.dimension > j)  # the theorem's hypotheses
    s = -ex.z_next
    gap = float(ex.dimension - j)
    factor = data.draw(st.floats(1e-9, 0.5), label="ε as a fraction of s·(t0 − j*)/d")
    eps = factor * s * gap / d
    u = np.array(data.draw(st.lists(st.floats(-1.0, 1.0), min_size=d, max_size=d)))
    perturbed = values + eps * u
    actual = max(abs(Fraction(float(a)) - Fraction(float(b)))
                 for a, b in zip(perturbed, values, strict=True))
    assume(d * actual <= s * gap)  # rounding of λ + εu must keep the hypothesis
    bound = d * float(actual) / s
    rounding = _rounding_tolerance(_exact_dimension(perturbed))
    tol = Tolerance(reason=f"Lipschitz bound dε/|λ_(j*+1)| = {bound:.3g} (module docstring) "
                    f"plus float64 rounding", atol=bound * (1 + 4 * EPS) + rounding.atol)
    check_close("|SD(λ') − SD(λ)| ≤ d‖λ' − λ‖_∞ / |λ_(j*+1)| away from λ_1 = 0",
                f"{_case(values)}, ε = {float(actual):.3g}", float(ex.dimension),
                sharpness_dimension(perturbed), tol)


@given(spectra(max_value=0.0, allow_ties=True, allow_zeros=True),
       st.floats(1e-300, 1.0))
def test_sd_jumps_from_zero_to_the_number_of_flat_directions_at_top_zero(values, shift):
    at_zero = values - values.max()  # top exactly 0 (x - x = 0), the rest ≤ 0
    n_zero = int(np.count_nonzero(at_zero == 0.0))
    case = _case(at_zero)
    check_close("SD at λ_1 = 0 equals the number of zero values (≥ 1: flat directions count)",
                case, float(n_zero), sharpness_dimension(at_zero),
                Tolerance("exact: S_j = 0 for the zeros, next slope < 0, fraction 0/|λ|"))
    below = at_zero - shift
    assume(below.max() < 0)
    check_close("SD = 0 as soon as λ_1 < 0", f"{case} − {shift:.3g}", 0.0,
                sharpness_dimension(below), Tolerance("exact convention"))


def test_flat_direction_counts_unlike_a_strict_inequality_implementation():
    values = [0.0, -LN2]

    def strict_ky(v):  # the documented-but-wrong "> 0" rule (docs/design.md style rule 4)
        z = np.sort(np.asarray(v))[::-1]
        s = np.cumsum(z)
        pos = np.flatnonzero(s > 0)
        if pos.size == 0:
            return 0.0
        k = int(pos[-1]) + 1
        return float(k if k == z.size else k + s[k - 1] / abs(z[k]))

    ours = kaplan_yorke_dimension(values)
    check_close("(0, −ln 2) has dimension 1 (≥ convention)", _case(values), 1.0, ours,
                Tolerance("exact: 1 + 0/ln 2"))
    check_that("the (0, −ln 2) case tells '≥' from '>'", _case(values),
               strict_ky(values) != ours, "the '>' rule gives a different value",
               f"'>' gives {strict_ky(values)}, '≥' gives {ours}")


@given(spectra(allow_ties=True, allow_zeros=True), st.integers(1, 4), st.floats(1.0, 1e6))
def test_neg_inf_values_never_change_sd_and_are_the_limit_of_large_negatives(values, k, big):
    with_inf = np.concatenate([values, np.full(k, -np.inf)])
    case = _case(with_inf)
    check_close("appending -inf values leaves SD unchanged", case,
                sharpness_dimension(values), sharpness_dimension(with_inf),
                Tolerance("exact: -inf atoms come after j*, fraction S/inf = 0"))
    floor = float(np.abs(values).max()) + 1.0
    finite = np.concatenate([values, np.full(k, -floor * big)])
    # The -M atoms sit after every finite value; they change SD only when SD = d, by S_d/M.
    ex = _exact_dimension(finite)
    bound = values.size * float(np.abs(values).max()) / (floor * big)
    check_close("SD with -M → SD with -inf as M → ∞ (|Δ| ≤ d·max|λ|/M)", case,
                sharpness_dimension(with_inf), sharpness_dimension(finite),
                Tolerance("d·max|λ|/M from S_d ≤ d·max|λ|, plus rounding",
                          atol=bound + _rounding_tolerance(ex).atol))


@given(spectra(allow_neg_inf=True, allow_ties=True, allow_zeros=True))
def test_unit_weights_reproduce_the_unweighted_dimension(values):
    check_close("weighted SD with unit weights = unweighted SD", _case(values),
                sharpness_dimension(values), sharpness_dimension(values, np.ones(values.size)),
                Tolerance("exact: m·z = z for m = 1, same arithmetic"))


@given(weighted_spectra(integer_weights=True, max_weight=4.0, allow_zero_weights=True,
                        resolution=GRID, allow_ties=True, allow_zeros=True,
                        allow_neg_inf=True))
def test_integer_weights_equal_repeated_values(spec):
    repeated = np.repeat(spec.values, spec.weights.astype(int))
    weighted = sharpness_dimension(spec.values, spec.weights)
    plain = sharpness_dimension(repeated)
    check_close("weighted SD with integer weights = SD of the values repeated",
                _case(spec.values, spec.weights), plain, weighted,
                Tolerance("dyadic grid: sums exact; each side rounds one division and one "
                          "addition", atol=4 * EPS * max(plain, 1.0)))


@given(_dyadic_spectra(allow_neg_inf=True), st.integers(-30, 30))
def test_scaling_by_a_power_of_two_leaves_sd_unchanged(values, k):
    check_close("SD(2^k λ) = SD(λ)", f"{_case(values)}, k = {k}", sharpness_dimension(values),
                sharpness_dimension(np.ldexp(values, k)),
                Tolerance("exact: scaling by 2^k is exact on the dyadic grid and cancels in "
                          "S_j/|λ_(j+1)|"))


@given(spectra(allow_neg_inf=True, allow_ties=True, allow_zeros=True),
       st.floats(1e-3, 1e3))
def test_scaling_by_any_positive_constant_leaves_sd_unchanged(values, c):
    scaled = values * c
    ex = _exact_dimension(values)  # exact SD is scale invariant
    # fl(c λ_i) = c λ_i (1 + θ), |θ| ≤ eps: in units of the scaled spectrum a perturbation of at
    # most eps·c·max|λ|, whose slope is c·s: the same eps·max|λ| through the root.
    finite = values[np.isfinite(values)]
    extra = EPS * float(np.abs(finite).max()) if finite.size else 0.0
    check_close("SD(cλ) = SD(λ) for c > 0", f"{_case(values)}, c = {c:.6g}",
                float(ex.dimension), sharpness_dimension(scaled),
                _rounding_tolerance(ex, extra_shift=extra))
