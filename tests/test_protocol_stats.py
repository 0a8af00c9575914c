"""Statistics of the decisive test against brute-force oracles: the seed-stratified
bootstrap against the exact enumeration of its resamples, the paired τ difference against a
pair-by-pair loop, the verdict rule, and the closed-form minimum of Theorem 4.5's computable
part against a dense grid."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sharpdim.lab.bounds import DELTA_MAX, bound_terms, theorem_4_5_bound
from sharpdim.lab.stats import (
    accuracy_standard_error,
    bootstrap_ci,
    paired_tau_difference,
    verdict,
)


def _tau_loop(x, y):
    """τ-a by the definition, one pair at a time (no numpy)."""
    n, s = len(x), 0
    for i in range(n):
        for j in range(i + 1, n):
            a = (x[i] > x[j]) - (x[i] < x[j])
            b = (y[i] > y[j]) - (y[i] < y[j])
            s += a * b
    return s / (n * (n - 1) / 2)


def test_stratified_bootstrap_matches_the_exact_enumeration_of_its_resamples():
    # two configurations with two seeds each: 4 ordered draws per stratum, 16 resamples,
    # each with probability 1/16. Statistic: the sum of x over the resample.
    recs = [{"cfg": 0, "x": 0.0}, {"cfg": 0, "x": 1.0}, {"cfg": 1, "x": 10.0},
            {"cfg": 1, "x": 30.0}]
    strata = [[0, 1], [2, 3]]
    exact = Counter()
    for a in itertools.product(strata[0], repeat=2):
        for b in itertools.product(strata[1], repeat=2):
            exact[sum(recs[i]["x"] for i in a + b)] += 1 / 16
    seen: list[float] = []

    def stat(rs):
        assert sum(r["cfg"] == 0 for r in rs) == 2  # never crosses a stratum
        v = sum(r["x"] for r in rs)
        seen.append(v)
        return v

    n = 16000
    bootstrap_ci(recs, stat, seed=3, group_by=["cfg"], n_resamples=n)
    freq = Counter(seen[1:])  # the first call is the original records
    assert set(freq) <= set(exact)
    for value, p in exact.items():
        se = math.sqrt(p * (1 - p) / n)  # binomial standard error of a frequency
        assert abs(freq[value] / n - p) < 5 * se, (value, freq[value] / n, p)


def _grid_records(rng, n_cfg=4, n_seeds=3):
    return [{"lr": lr, "seed": s, "sd": float(rng.normal()), "eta": lr,
             "acc": float(rng.normal()), "gap": float(rng.normal())}
            for lr in range(n_cfg) for s in range(n_seeds)]


def test_paired_difference_estimate_is_the_pairwise_tau_difference_of_the_best_baseline():
    recs = _grid_records(np.random.default_rng(0))
    d = paired_tau_difference(recs, "sd", ["eta", "acc"], "gap", group_by=["lr"], seed=1,
                              n_resamples=100)
    gap = [r["gap"] for r in recs]
    taus = {b: _tau_loop([r[b] for r in recs], gap) for b in ("eta", "acc")}
    best = max(taus, key=lambda b: abs(taus[b]))
    sign = 1 if taus[best] >= 0 else -1
    assert d.baseline == best and d.candidates == pytest.approx(taus, abs=1e-15)
    assert d.sign == sign
    assert d.difference == pytest.approx(
        _tau_loop([r["sd"] for r in recs], gap) - sign * taus[best], abs=1e-15)
    assert d.interval.strata == 4 and d.interval.low <= d.difference <= d.interval.high


def test_a_monotone_transform_of_the_baseline_ties_on_every_resample():
    recs = _grid_records(np.random.default_rng(1))
    for r in recs:
        r["sd"] = math.exp(3 * r["acc"])  # same ranks as acc on any resample
    if paired_tau_difference(recs, "sd", ["acc"], "gap", group_by=["lr"], seed=0,
                             n_resamples=1).sign < 0:
        for r in recs:
            r["acc"] = -r["acc"]  # orient the baseline positively, so s = +1
    d = paired_tau_difference(recs, "sd", ["acc"], "gap", group_by=["lr"], seed=0,
                              n_resamples=200)
    assert (d.interval.low, d.interval.high, d.verdict) == (0.0, 0.0, "tie")


def test_a_baseline_is_oriented_by_its_sign_but_sd_is_not():
    recs = _grid_records(np.random.default_rng(3))
    for r in recs:
        r["neg"] = -r["gap"]  # a perfect baseline with negative τ
    d = paired_tau_difference(recs, "sd", ["neg"], "gap",
                              group_by=["lr"], seed=0, n_resamples=50)
    assert d.sign == -1 and d.tau_baseline == -1.0
    assert d.difference == pytest.approx(d.tau_measure - 1.0)


def test_a_measure_equal_to_the_target_beats_a_noise_baseline_and_a_reversed_one_loses():
    rng = np.random.default_rng(2)
    recs = _grid_records(rng, n_cfg=6, n_seeds=4)
    for r in recs:
        r["gap"] = r["lr"] + 0.3 * r["seed"] + 0.01 * float(rng.normal())
        r["good"], r["bad"] = r["gap"], -r["gap"]
    up = paired_tau_difference(recs, "good", ["acc"], "gap", group_by=["lr"], seed=0,
                               n_resamples=300)
    down = paired_tau_difference(recs, "bad", ["acc"], "gap", group_by=["lr"], seed=0,
                                 n_resamples=300)
    assert up.verdict == "held" and down.verdict == "did not hold"


@pytest.mark.parametrize("low, high, expected", [
    (0.01, 0.5, "held"), (-0.01, 0.5, "tie"), (0.0, 0.2, "tie"), (-0.3, -0.001, "did not hold"),
])
def test_verdict_rule_counts_an_interval_that_covers_zero_as_a_tie(low, high, expected):
    assert verdict(low, high) == expected


def test_accuracy_standard_error_is_binomial():
    assert accuracy_standard_error(0.5, 400) == pytest.approx(0.025)
    with pytest.raises(ValueError, match="p must be in"):
        accuracy_standard_error(1.2, 10)


@settings(max_examples=60, deadline=None)
@given(sd=st.floats(0.5, 5000), L=st.floats(0.01, 100), B=st.floats(0.01, 20),
       n=st.integers(10, 100_000))
def test_closed_form_minimum_of_the_bound_matches_a_dense_grid(sd, L, B, n):
    b = theorem_4_5_bound(sd, L, B, n)
    deltas = np.exp(np.linspace(math.log(1e-300), math.log(DELTA_MAX), 200_001))
    f = 2 * L * deltas + 2 * B * np.sqrt(4 * sd * np.log(1 / deltas) / n)
    k = int(np.argmin(f))
    # the closed form is a minimum: never above the grid's (up to rounding of f, ~1e-12 rel)
    assert b.value <= f[k] * (1 + 1e-12)
    # and the grid, with log-spacing h in u = ln δ, comes within its discretization error:
    # F(u) = 2L·e^u + c·√(−u) has F'' = 2L·e^u + c/(4(−u)^{3/2}) ≤ 2Lδ + sd_term near u* (|u| ≥
    # 1/2), a grid point lies within h/2 of u*, so at an interior minimum (F' = 0) the gap is
    # ≤ F''·h²/8; at the end δ = DELTA_MAX the grid holds the point itself. Allow F''·h².
    h = (math.log(DELTA_MAX) - math.log(1e-300)) / 200_000
    assert f[k] - b.value <= (2 * L * b.delta + b.sd_term) * h * h + 1e-12 * f[k]
    assert b.value == pytest.approx(sum(bound_terms(b.delta, sd=sd, L=L, B=B, n=n)), rel=1e-12)


def test_bound_input_errors_name_the_argument():
    with pytest.raises(ValueError, match="L must be >= 0, got -1.0"):
        theorem_4_5_bound(1.0, -1.0, 1.0, 10)
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        theorem_4_5_bound(1.0, 1.0, 1.0, 0)


def test_a_paired_difference_with_one_seed_per_setting_has_no_interval_and_is_refused():
    """Seeds are resampled within each setting; with one run per setting every resample is
    the data itself, so the bootstrap interval would be a point — no verdict may read it."""
    from sharpdim.lab.stats import paired_tau_difference

    runs = [{"lr": lr, "seed": 0, "sd": lr, "eta": -lr, "gap": lr} for lr in (1, 2, 3, 4)]
    with pytest.raises(ValueError, match=r"two or more records \(seeds\).*one record in each "
                                         r"of 4 settings"):
        paired_tau_difference(runs, "sd", ["eta"], "gap", group_by=["lr"], seed=0,
                              n_resamples=50)
    # one setting with two seeds is enough to resample
    runs.append({"lr": 4, "seed": 1, "sd": 4.5, "eta": -4, "gap": 4.2})
    d = paired_tau_difference(runs, "sd", ["eta"], "gap", group_by=["lr"], seed=0,
                              n_resamples=50)
    assert d.interval.low <= d.difference <= d.interval.high
