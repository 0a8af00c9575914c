"""The field's statistics (sharpdim.lab.evaluation): CMI, coupled-pair sign error and partial
Spearman against hand-enumerated tiny tables and planted signals; the paired rule and its
controls on synthetic sweeps where the answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sharpdim.lab.evaluation import (
    cmi_pgdl,
    cmi_weighted,
    coupled_pair_sign_error,
    partial_spearman,
)
from sharpdim.lab.evaluation.controls import null_control, power_curve
from sharpdim.lab.evaluation.rule import draw_resamples, paired_rule


def _h(*p):
    return -sum(x * math.log2(x) for x in p if x > 0)


# g = (1, 2, 3), m = (1, 3, 2): hand-enumerated ordered pairs (i, j), i ≠ j, cells (V_g, V_m):
# (1,2) 00, (1,3) 00, (2,1) 11, (2,3) 01, (3,1) 11, (3,2) 10 → counts [[2, 1], [1, 2]] of 6
THREE = [{"h": 0, "m": m, "g": g} for m, g in ((1, 1), (3, 2), (2, 3))]


def test_weighted_cmi_of_three_runs_equals_the_hand_enumerated_table():
    mi = _h(1 / 2, 1 / 2) * 2 - _h(1 / 3, 1 / 6, 1 / 6, 1 / 3)
    assert cmi_weighted(THREE, "m", "g", ["h"]) == pytest.approx(mi / 1.0, rel=1e-12)


def test_pgdl_cmi_counts_the_self_pairs_as_its_scoring_program_does():
    # the three pairs (i, i) add 3 to cell 00: [[5, 1], [1, 2]] of 9
    p = (5 / 9, 1 / 9, 1 / 9, 2 / 9)
    mi = 2 * _h(6 / 9, 3 / 9) - _h(*p)
    assert cmi_pgdl(THREE, "m", "g", ["h"]) == pytest.approx(mi / _h(6 / 9, 3 / 9), rel=1e-12)


def _grid(measure, *, seeds=5, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for lr in (0.1, 0.2, 0.4, 0.8):
        for b in (16, 64, 256):
            effect = rng.normal()
            for s in range(seeds):
                gap = effect + 0.5 * rng.normal()
                rows.append({"lr": lr, "batch_size": b, "seed": s, "g": gap, "se": 0.01,
                             "m": measure(gap, rng), "eta": lr})
    return rows


def test_cmi_of_a_planted_copy_is_one_and_of_noise_is_near_zero():
    copy = _grid(lambda g, rng: g)
    noise = _grid(lambda g, rng: rng.normal(), seed=1)
    assert cmi_pgdl(copy, "m", "g", ["lr", "batch_size"]) == pytest.approx(1.0)
    assert cmi_weighted(copy, "m", "g", ["lr", "batch_size"]) == pytest.approx(1.0)
    # 60 runs of independent noise: each cell's I is a small-sample estimate of 0
    assert cmi_weighted(noise, "m", "g", ["lr", "batch_size"]) < 0.05


def test_sign_error_on_a_hand_table_counts_ties_half_and_drops_pairs_within_noise():
    rows = [{"lr": 1, "b": 1, "seed": 0, "m": 1.0, "g": 0.1, "se": 0.01},
            {"lr": 2, "b": 1, "seed": 0, "m": 2.0, "g": 0.5, "se": 0.01},   # agrees with lr=1
            {"lr": 1, "b": 2, "seed": 0, "m": 1.0, "g": 0.3, "se": 0.01},
            {"lr": 2, "b": 2, "seed": 0, "m": 1.0, "g": 0.0, "se": 0.01},   # tie: ½
            {"lr": 2, "b": 3, "seed": 0, "m": 9.0, "g": 0.0, "se": 0.2}]    # b pair in noise
    e = coupled_pair_sign_error(rows, "m", "g", "se", ["lr", "b"])
    # lr, at b=1: m and g both rise (0); at b=2: a measure tie (½); b=3 has no lr pair
    assert (e["lr"].n_pairs, e["lr"].mean, e["lr"].max) == (2, 0.25, 0.5)
    assert sorted(e["lr"].environments) == [0.0, 0.5]
    # b, at lr=1: (0.1 vs 0.3) measure tie → ½; at lr=2: (0.5, 0.0, 0.0) → pairs b1–b2 (m 2 vs 1,
    # g .5 vs 0: agree, 0), b1–b3 (m 2 vs 9, g .5 vs 0: wrong, 1), b2–b3 within noise (dropped)
    assert e["b"].n_pairs == 3 and e["b"].n_dropped == 1
    assert sorted(e["b"].environments) == [0.5, 0.5]


def test_partial_spearman_vanishes_for_a_hyperparameter_readout_and_keeps_a_shared_residual():
    rng = np.random.default_rng(3)
    rows = []
    for lr in range(6):
        for _ in range(8):
            shared = rng.normal()
            rows.append({"lr": lr, "readout": lr + 0.01 * rng.normal(),
                         "m": lr + shared, "g": lr + shared + 0.1 * rng.normal()})
    assert partial_spearman(rows, "m", "g", ["lr"]) > 0.9
    assert abs(partial_spearman(rows, "readout", "g", ["lr"])) < 0.3


def test_rule_says_held_for_a_planted_measure_and_not_testable_for_a_constant():
    rows = _grid(lambda g, rng: g + 0.05 * rng.normal())
    res = draw_resamples(rows, ["lr", "batch_size"], seed=0, n_resamples=300)
    assert paired_rule(rows, "m", "g", {"eta": -1}, res).verdict == "held"
    const = np.full(len(rows), 7.0)
    assert paired_rule(rows, const, "g", {"eta": -1}, res).verdict == "not testable"


def test_power_curve_holds_at_small_noise_and_the_null_rate_is_below_2_5_percent():
    rows = _grid(lambda g, rng: rng.normal())
    res = draw_resamples(rows, ["lr", "batch_size"], seed=0, n_resamples=300)
    curve = dict((k, r.verdict) for k, r in power_curve(rows, "g", "se", {"eta": -1}, res,
                                                       seed=0))
    assert curve[0.5] == "held"
    null = null_control(rows, "m", "g", {"eta": -1}, ["lr", "batch_size"], seed=0)
    assert null.n_permutations == 200 and null.rate <= 0.025


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="hyperparameters must be a sequence"):
        cmi_pgdl(THREE, "m", "g", "h")
    with pytest.raises(ValueError, match="n_permutations must be >= 200"):
        null_control(_grid(lambda g, rng: g), "m", "g", {"eta": -1}, ["lr"], seed=0,
                     n_permutations=10)


def test_resampled_tau_leaves_out_self_pairs_so_a_perfect_measure_stays_perfect():
    # a measure equal to the gap has τ = 1; with copies counted as ties, resampled τ-a fell
    # below 1 and the interval excluded the estimate (the reviewed Ψ = 0.729 ∉ [0.62, 0.71])
    rows = _grid(lambda g, rng: g)
    res = draw_resamples(rows, ["lr", "batch_size"], seed=0, n_resamples=200)
    r = paired_rule(rows, "m", "g", {"eta": -1}, res)
    assert r.tau == 1.0
    low, high = r.interval
    assert low <= r.difference <= high
