"""Code paths and bad input of sharpdim.dimension (the formulas themselves are checked against
an exact oracle in theory_checks/test_dimension_conventions.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sharpdim.dimension import (
    KaplanYorkeDecomposition,
    kaplan_yorke_decomposition,
    kaplan_yorke_dimension,
    sharpness_dimension,
)

LN2 = math.log(2.0)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ([], "values must be non-empty"),
        ([[1.0, -1.0]], r"values must be one-dimensional, got shape \(1, 2\)"),
        ([1.0, np.nan], "values must not contain NaN, got NaN at index 1"),
        ([np.inf, -1.0], r"values must be finite or -inf, got \+inf at index 0"),
    ],
)
def test_bad_values_raise_value_error_naming_the_rule_and_position(values, match):
    with pytest.raises(ValueError, match=match):
        sharpness_dimension(values)
    with pytest.raises(ValueError, match=match):
        kaplan_yorke_dimension(values)


@pytest.mark.parametrize("values", [["a", "b"], [1 + 2j], [object()]])
def test_non_real_values_raise_type_error_naming_the_argument(values):
    with pytest.raises(TypeError, match="values must be real numbers"):
        sharpness_dimension(values)


@pytest.mark.parametrize(
    ("weights", "match"),
    [
        ([1.0], r"weights must have the shape of values \(2,\), got shape \(1,\)"),
        ([1.0, np.nan], "weights must be finite, got nan at index 1"),
        ([np.inf, 1.0], "weights must be finite, got inf at index 0"),
        ([1.0, -0.5], "weights must be >= 0, got -0.5 at index 1"),
        ([0.0, 0.0], "weights must have positive total mass"),
        ([1e308, 1e308], "weights must have a finite total"),
    ],
)
def test_bad_weights_raise_value_error(weights, match):
    with pytest.raises(ValueError, match=match):
        sharpness_dimension([1.0, -2.0], weights)


def test_non_real_weights_raise_type_error_naming_the_argument():
    with pytest.raises(TypeError, match="weights must be real numbers"):
        sharpness_dimension([1.0, -2.0], ["x", "y"])


# ----------------------------------------------------------------------------- input forms


def test_scalar_input_is_a_one_dimensional_spectrum():
    assert sharpness_dimension(0.5) == 1.0
    assert sharpness_dimension(-0.5) == 0.0


@pytest.mark.parametrize(
    "values", [[1, -3], (1.0, -3.0), np.array([1, -3], dtype=np.int64),
               np.array([1.0, -3.0], dtype=np.float32)]
)
def test_lists_tuples_and_integer_or_float32_arrays_are_accepted(values):
    assert sharpness_dimension(values) == pytest.approx(1 + 1 / 3, abs=1e-15)


def test_results_are_python_floats():
    assert type(sharpness_dimension([1.0, -3.0])) is float
    assert type(kaplan_yorke_dimension(np.array([1.0, -3.0]))) is float


def test_input_array_is_not_modified():
    values = np.array([-3.0, 1.0])
    weights = np.array([2.0, 1.0])
    sharpness_dimension(values, weights)
    assert values.tolist() == [-3.0, 1.0] and weights.tolist() == [2.0, 1.0]


# ----------------------------------------------------------------------------- decomposition


def test_decomposition_when_top_value_is_negative():
    dec = kaplan_yorke_decomposition([-1.0, -2.0])
    assert dec == KaplanYorkeDecomposition(0.0, 0, 0.0, 0.0, None, 2.0)


def test_decomposition_when_every_partial_sum_is_nonnegative():
    dec = kaplan_yorke_decomposition([LN2, -LN2])
    assert (dec.dimension, dec.transition_index, dec.next_value) == (2.0, 2, None)
    assert dec.partial_sum == 0.0 and dec.integer_part == 2.0 and dec.total_mass == 2.0


def test_decomposition_of_an_interior_transition():
    dec = kaplan_yorke_decomposition([-3.0, 1.0, 0.5])  # sorted: 1, 0.5, -3
    assert dec.transition_index == 2
    assert dec.integer_part == 2.0
    assert dec.partial_sum == 1.5
    assert dec.next_value == -3.0
    assert dec.dimension == 2.5


def test_decomposition_with_neg_inf_next_value_has_zero_fraction():
    dec = kaplan_yorke_decomposition([1.0, -np.inf, -np.inf])
    assert (dec.dimension, dec.transition_index, dec.next_value) == (1.0, 1, -np.inf)


def test_all_neg_inf_values_have_dimension_zero():
    assert sharpness_dimension([-np.inf, -np.inf]) == 0.0


def test_weighted_decomposition_reports_masses():
    dec = kaplan_yorke_decomposition([2.0, -1.0, -4.0], [0.5, 0.25, 3.0])
    # S = 1, 0.75, -11.25: j* = 2 atoms of mass 0.75, fraction 0.75 / 4
    assert dec.transition_index == 2
    assert dec.integer_part == 0.75
    assert dec.partial_sum == 0.75
    assert dec.dimension == 0.75 + 0.75 / 4
    assert dec.total_mass == 3.75


def test_zero_weight_atoms_are_dropped_not_used_as_next_value():
    with_zero = kaplan_yorke_decomposition([1.0, -0.5, -4.0], [1.0, 0.0, 1.0])
    without = kaplan_yorke_decomposition([1.0, -4.0], [1.0, 1.0])
    assert with_zero == without
    assert with_zero.next_value == -4.0


def test_weighted_dimension_is_truncated_to_total_mass():
    dec = kaplan_yorke_decomposition([1.0, 1.0], [0.3, 0.2])
    assert dec.dimension == dec.total_mass == 0.5


def test_ties_with_different_weights_follow_a_stable_order():
    a = sharpness_dimension([1.0, 1.0, -5.0], [0.5, 2.0, 1.0])
    b = sharpness_dimension([1.0, 1.0, -5.0], [2.0, 0.5, 1.0])
    assert a == b == 2.5 + 2.5 / 5


# ----------------------------------------------------------------------------- extreme magnitudes


def test_huge_values_do_not_overflow_the_partial_sums():
    # Partial sums 1e308, 2e308 (beyond float64), 1e308, 0, -1.5e308: j* = 4, SD = 4 + 0.
    values = [1e308, 1e308, -1e308, -1e308, -1.5e308]
    dec = kaplan_yorke_decomposition(values)
    assert dec.dimension == 4.0 and dec.transition_index == 4
    assert dec.partial_sum == 0.0


def test_huge_values_give_the_same_dimension_as_rescaled_ones():
    base = np.array([3.0, 1.0, -2.0, -5.0, -7.0])
    assert sharpness_dimension(base * 2.0**1020) == sharpness_dimension(base)


def test_huge_partial_sum_is_reported_as_inf_not_nan():
    dec = kaplan_yorke_decomposition([1.5e308, 1.5e308])
    # S_2 = 3e308 is beyond float64: reported as inf; the dimension itself is exact
    assert (dec.dimension, dec.transition_index, dec.partial_sum) == (2.0, 2, np.inf)


def test_huge_interior_transition_is_exact():
    dec = kaplan_yorke_decomposition([1.5e308, 1.5e308, -1.6e308, -1.6e308])
    # S = 1.5, 3.0, 1.4, -0.2 (×1e308): j* = 3, SD = 3 + 1.4/1.6
    assert dec.transition_index == 3
    assert dec.dimension == pytest.approx(3 + 1.4 / 1.6, rel=4e-16)


def test_subnormal_values_keep_their_sign():
    assert sharpness_dimension([-5e-324, -1.0]) == 0.0
    assert sharpness_dimension([5e-324, -1.0]) == 1.0


def test_doctest_examples_hold():
    assert kaplan_yorke_decomposition([0.0, -LN2]).dimension == 1.0
    assert round(kaplan_yorke_dimension([LN2, -2 * LN2]), 12) == 1.5
    assert sharpness_dimension([LN2, math.log(0.5)]) == 2.0
