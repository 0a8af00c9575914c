"""Kendall analysis (sharpdim.lab.stats): τ-a against hand-worked tables and a brute-force
definition, τ-a versus scipy's τ-b on ties, granulated coefficients, the bootstrap."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sharpdim.lab.stats import bootstrap_ci, granulated_kendall, kendall_tau, kendall_tau_b


def brute_force_tau_a(x, y) -> float:
    """Jiang et al.'s definition written out pair by pair with comparisons (no np.sign)."""
    total = 0
    pairs = 0
    for i, j in itertools.combinations(range(len(x)), 2):
        sx = (x[i] > x[j]) - (x[i] < x[j])
        sy = (y[i] > y[j]) - (y[i] < y[j])
        total += sx * sy
        pairs += 1
    return total / pairs


def test_kendall_tau_matches_a_hand_counted_table():
    """x = 1 2 3 4, y = 1 3 2 4. Pairs (i<j): 12 +, 13 +, 14 +, 23 −, 24 +, 34 +
    → (5 − 1) / 6 = 2/3."""
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(2 / 3, abs=1e-15)


def test_tau_a_counts_ties_as_zero_over_all_pairs_while_tau_b_drops_them():
    """x = 1 1 2 2, y = 1 2 3 4. Pairs: 12 tie(0), 13 +, 14 +, 23 +, 24 +, 34 tie(0).
    τ-a = 4 / 6 = 2/3. τ-b = (P − Q) / sqrt((n₀ − n₁)(n₀ − n₂)) with n₀ = 6, n₁ = 2 tied
    pairs in x, n₂ = 0: 4 / sqrt(4 · 6) = 0.8165 — the two differ on tied data."""
    x, y = [1, 1, 2, 2], [1, 2, 3, 4]
    assert kendall_tau(x, y) == pytest.approx(2 / 3, abs=1e-15)
    assert kendall_tau_b(x, y) == pytest.approx(4 / math.sqrt(24), abs=1e-12)
    assert kendall_tau_b(x, y) - kendall_tau(x, y) > 0.14


def test_constant_measure_has_tau_a_zero_and_tau_b_nan():
    assert kendall_tau([3.0, 3.0, 3.0], [1.0, 2.0, 3.0]) == 0.0
    assert math.isnan(kendall_tau_b([3.0, 3.0, 3.0], [1.0, 2.0, 3.0]))


def test_kendall_tau_is_plus_one_for_monotone_and_minus_one_for_reversed():
    x = np.linspace(-1.0, 1.0, 9)
    assert kendall_tau(x, np.exp(x)) == 1.0
    assert kendall_tau(x, -(x**3)) == -1.0


_values = st.lists(st.integers(-3, 3), min_size=2, max_size=30)


@given(_values.flatmap(lambda x: st.tuples(st.just(x), st.lists(
    st.integers(-3, 3), min_size=len(x), max_size=len(x)))))
def test_kendall_tau_equals_the_brute_force_pairwise_definition(xy):
    x, y = xy
    assert kendall_tau(x, y) == pytest.approx(brute_force_tau_a(x, y), abs=1e-15)


@given(_values.flatmap(lambda x: st.tuples(st.just(x), st.lists(
    st.integers(-3, 3), min_size=len(x), max_size=len(x)))))
def test_tau_a_and_tau_b_are_related_by_the_tie_corrected_denominator(xy):
    """Metamorphic oracle: τ-a · n₀ = P − Q = τ-b · sqrt((n₀ − n₁)(n₀ − n₂))."""
    x, y = xy
    n0 = len(x) * (len(x) - 1) / 2
    n1 = sum(c * (c - 1) / 2 for c in np.unique(x, return_counts=True)[1])
    n2 = sum(c * (c - 1) / 2 for c in np.unique(y, return_counts=True)[1])
    if n1 == n0 or n2 == n0:  # a constant variable: τ-b undefined, τ-a = 0
        assert kendall_tau(x, y) == 0.0
        return
    expected = kendall_tau_b(x, y) * math.sqrt((n0 - n1) * (n0 - n2)) / n0
    assert kendall_tau(x, y) == pytest.approx(expected, abs=1e-12)


def test_kendall_tau_is_exact_across_row_blocks_of_a_long_input():
    """1100 records span three 512-row blocks of the integer pair sum."""
    rng = np.random.default_rng(7)
    x = rng.integers(0, 40, size=1100)
    y = x + rng.integers(-15, 15, size=1100)
    assert kendall_tau(x, y) == brute_force_tau_a(x.tolist(), y.tolist())


@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        ([1.0, 2.0], [1.0], "same length"),
        ([1.0], [1.0], "at least 2"),
        ([1.0, float("nan")], [1.0, 2.0], "x must be finite"),
        ([1.0, 2.0], [1.0, float("inf")], "y must be finite"),
        ([[1.0, 2.0]], [[1.0, 2.0]], "one-dimensional"),
    ],
)
def test_kendall_tau_rejects_bad_input_naming_the_argument(x, y, match):
    with pytest.raises(ValueError, match=match):
        kendall_tau(x, y)


# The hand-worked grid: factors lr ∈ {1, 2, 3}, bs ∈ {s, l}.
_TABLE = [
    {"lr": 1, "bs": "s", "mu": 1.0, "gap": 1.0},
    {"lr": 2, "bs": "s", "mu": 2.0, "gap": 3.0},
    {"lr": 3, "bs": "s", "mu": 3.0, "gap": 2.0},
    {"lr": 1, "bs": "l", "mu": 5.0, "gap": 4.0},
    {"lr": 2, "bs": "l", "mu": 5.0, "gap": 6.0},
    {"lr": 3, "bs": "l", "mu": 4.0, "gap": 5.0},
]


def test_granulated_kendall_matches_the_hand_worked_grid():
    """ψ_lr — cell bs=s: μ (1,2,3), g (1,3,2): pairs +1 +1 −1 → 1/3;
    cell bs=l: μ (5,5,4), g (4,6,5): pair 12 tied in μ → 0, 13: μ↓ g↑ → −1, 23: +1 → 0;
    ψ_lr = (1/3 + 0)/2 = 1/6.
    ψ_bs — cells lr=1: (1,1)→(5,4) +1; lr=2: (2,3)→(5,6) +1; lr=3: (3,2)→(4,5) +1; ψ_bs = 1.
    Ψ = (1/6 + 1)/2 = 7/12.
    Overall τ over the six records (15 pairs): from record 1: +5; 2: −1+1+1+1 = +2;
    3: +3; 4: tie 0, then −1; 5: +1 → 10/15 = 2/3."""
    g = granulated_kendall(_TABLE, "mu", "gap", ["lr", "bs"])
    assert g.psi["lr"] == pytest.approx(1 / 6, abs=1e-15)
    assert g.psi["bs"] == pytest.approx(1.0, abs=1e-15)
    assert g.Psi == pytest.approx(7 / 12, abs=1e-15)
    assert g.tau == pytest.approx(2 / 3, abs=1e-15)
    assert g.cells_used == {"lr": 2, "bs": 3}
    assert g.cells_skipped == {"lr": 0, "bs": 0}
    assert g.cells_degenerate == {"lr": 0, "bs": 0}
    assert (g.n_records, g.n_excluded_measure, g.n_excluded_target) == (6, 0, 0)


def test_diverged_runs_are_excluded_counted_and_change_nothing_else():
    diverged = [
        {"lr": 3, "bs": "s", "mu": float("nan"), "gap": 0.5},
        {"lr": 2, "bs": "l", "gap": 0.7},  # measure never recorded
        {"lr": 1, "bs": "l", "mu": 2.0, "gap": float("inf")},
        {"lr": 1, "bs": "s", "mu": None, "gap": None},  # both missing: counted once, as measure
    ]
    clean = granulated_kendall(_TABLE, "mu", "gap", ["lr", "bs"])
    g = granulated_kendall(_TABLE + diverged, "mu", "gap", ["lr", "bs"])
    assert (g.n_excluded_measure, g.n_excluded_target, g.n_records) == (3, 1, 6)
    assert (g.psi, g.Psi, g.tau) == (clean.psi, clean.Psi, clean.tau)


def test_single_record_cells_are_skipped_and_constant_cells_count_zero():
    """Drop (lr=3, bs=l). ψ_bs: cell lr=3 has one record → skipped; the other two give +1,
    so ψ_bs = 1. ψ_lr: cell s = 1/3 as before; cell l = {(5,4), (5,6)}: μ constant → τ = 0
    (degenerate, not NaN); ψ_lr = 1/6."""
    g = granulated_kendall(_TABLE[:5], "mu", "gap", ["lr", "bs"])
    assert g.cells_used == {"lr": 2, "bs": 2}
    assert g.cells_skipped == {"lr": 0, "bs": 1}
    assert g.cells_degenerate == {"lr": 1, "bs": 0}
    assert g.psi == {"lr": pytest.approx(1 / 6, abs=1e-15), "bs": 1.0}


def test_constant_measure_gives_zero_everywhere_not_nan():
    records = [dict(r, mu=7.0) for r in _TABLE]
    g = granulated_kendall(records, "mu", "gap", ["lr", "bs"])
    assert g.psi == {"lr": 0.0, "bs": 0.0} and g.Psi == 0.0 and g.tau == 0.0
    assert g.cells_degenerate == g.cells_used == {"lr": 2, "bs": 3}


def test_a_factor_that_never_varies_has_no_psi_and_is_left_out_of_big_psi():
    records = [dict(r, opt="sgd") for r in _TABLE]
    g = granulated_kendall(records, "mu", "gap", ["lr", "bs", "opt"])
    assert g.psi["opt"] is None and g.factors_without_cells == ("opt",)
    assert g.cells_used["opt"] == 0 and g.cells_skipped["opt"] == 6
    assert g.Psi == pytest.approx(7 / 12, abs=1e-15)


def test_seed_replicates_stay_in_their_cell_and_are_paired():
    """Two seeds of lr=1 (μ 1, 2; g 2, 1) and one of lr=2 (μ 3, g 3), a single bs value.
    ψ_lr pairs all three records: (1,2)→(2,1) −1, (1,3)→(2,3) +1, (2,3)→(1,3) +1 → 1/3."""
    records = [
        {"lr": 1, "seed": 0, "mu": 1.0, "gap": 2.0},
        {"lr": 1, "seed": 1, "mu": 2.0, "gap": 1.0},
        {"lr": 2, "seed": 0, "mu": 3.0, "gap": 3.0},
    ]
    g = granulated_kendall(records, "mu", "gap", ["lr"])
    assert g.psi["lr"] == pytest.approx(1 / 3, abs=1e-15) and g.cells_used == {"lr": 1}


@pytest.mark.parametrize(
    ("records", "factors", "error", "match"),
    [
        (_TABLE, "lr", TypeError, "sequence of key names"),
        (_TABLE, [], ValueError, "at least one"),
        (_TABLE, ["lr", "lr"], ValueError, "distinct"),
        (_TABLE, ["lr", "mu"], ValueError, "cannot also be a factor"),
        ([{"lr": 1, "mu": 1.0, "gap": 1.0}, {"mu": 2.0, "gap": 2.0}], ["lr"], ValueError,
         r"records\[1\] lacks factor 'lr'"),
        ([{"lr": 1, "mu": 1.0, "gap": 1.0}, {"lr": 2, "mu": float("nan"), "gap": 2.0}],
         ["lr"], ValueError, "at least 2 records"),
        ([(1, 2, 3)], ["lr"], TypeError, "mapping"),
    ],
)
def test_granulated_kendall_rejects_bad_input(records, factors, error, match):
    with pytest.raises(error, match=match):
        granulated_kendall(records, "mu", "gap", factors)


def _replicated_grid(rng):
    return [
        {"lr": lr, "seed": s, "x": lr + rng.normal(), "y": lr + rng.normal()}
        for lr in (1, 2, 3) for s in range(4)
    ]


def test_bootstrap_is_reproducible_from_its_seed_and_records_it():
    records = _replicated_grid(np.random.default_rng(0))

    def stat(r):
        return granulated_kendall(r, "x", "y", ["lr"]).tau

    a = bootstrap_ci(records, stat, seed=11, group_by=["lr"], n_resamples=300)
    b = bootstrap_ci(records, stat, seed=11, group_by=["lr"], n_resamples=300)
    c = bootstrap_ci(records, stat, seed=12, group_by=["lr"], n_resamples=300)
    assert a == b and (a.low, a.high) != (c.low, c.high)
    assert (a.seed, a.n_resamples, a.strata, a.n_failed, a.method) == (11, 300, 3, 0, "percentile")
    assert a.estimate == stat(records)


def test_stratified_resampling_keeps_every_configuration():
    records = _replicated_grid(np.random.default_rng(1))
    ci = bootstrap_ci(records, lambda r: len({x["lr"] for x in r}) + 0.01 * len(r), seed=0,
                      group_by=["lr"], n_resamples=50)
    assert ci.low == ci.high == ci.estimate == 3 + 0.01 * 12


def test_bootstrap_collapses_when_each_configuration_has_one_seed():
    records = [{"lr": lr, "x": lr, "y": -lr} for lr in range(5)]
    ci = bootstrap_ci(records, lambda r: kendall_tau([x["x"] for x in r], [x["y"] for x in r]),
                      seed=3, group_by=["lr"], n_resamples=20)
    assert ci.low == ci.high == ci.estimate == -1.0 and ci.single_replicate_strata == 5


def test_bootstrap_of_a_mean_matches_the_normal_interval():
    """Oracle: for n = 200 iid draws the percentile interval of the mean is x̄ ∓ 1.96 σ̂/√n up
    to O(1/√n) skewness and the Monte-Carlo error of a 2.5 % quantile from 2000 resamples,
    sqrt(.025 · .975 / 2000) / φ(1.96) ≈ 0.06 standard errors; allow 0.25 (4 MC s.e.)."""
    rng = np.random.default_rng(5)
    data = rng.normal(2.0, 3.0, size=200)
    records = [{"x": v} for v in data]
    ci = bootstrap_ci(records, lambda r: float(np.mean([x["x"] for x in r])), seed=9,
                      n_resamples=2000)
    se = data.std() / math.sqrt(data.size)
    assert ci.low == pytest.approx(data.mean() - 1.959964 * se, abs=0.25 * se)
    assert ci.high == pytest.approx(data.mean() + 1.959964 * se, abs=0.25 * se)


def test_bootstrap_counts_failed_resamples_and_rejects_bad_arguments():
    records = [{"x": float(i)} for i in range(6)]

    def first_is_small(r):  # None on resamples whose first record is large
        return 1.0 if r[0]["x"] < 3 else None

    ci = bootstrap_ci(records, first_is_small, seed=0, n_resamples=100)
    assert 0 < ci.n_failed < 100 and ci.low == ci.high == 1.0
    with pytest.raises(ValueError, match="seed"):
        bootstrap_ci(records, lambda r: 1.0, seed=-1)
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_ci(records, lambda r: 1.0, seed=0, n_resamples=0)
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci(records, lambda r: 1.0, seed=0, confidence=1.5)
    with pytest.raises(TypeError, match="pick a field"):
        bootstrap_ci(records, lambda r: granulated_kendall(
            [dict(x, f=i, y=i) for i, x in enumerate(r)], "x", "y", ["f"]), seed=0)
