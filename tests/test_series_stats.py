"""Statistics across the checkpoints of one run: moving-block bootstrap, the paired τ
difference with its verdict, and the least-squares change point.

Oracles: the known sampling behaviour of τ between two independent AR(1) series (true τ = 0,
variance inflated by the autocorrelation), brute-force residual sums of squares, and
hand-computable series.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sharpdim.lab.stats import (
    block_bootstrap_ci,
    change_point,
    default_block_length,
    kendall_tau,
    paired_series_tau_difference,
)


def _ar1(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    x = np.empty(n)
    x[0] = rng.standard_normal() / np.sqrt(1.0 - phi**2)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + rng.standard_normal()
    return x


def test_block_bootstrap_covers_a_null_tau_between_autocorrelated_series_where_iid_does_not():
    # Two independent AR(1) series (φ = 0.8): τ = 0 in truth, but its sampling variance is
    # about (1 + φ²)/(1 − φ²) ≈ 4.6 times the i.i.d. one, so an i.i.d. bootstrap interval is
    # about 2× too narrow (nominal 95 % → ≈ 65 % coverage) while blocks of round(n^(1/3)) keep most
    # of the dependence. With 100 replications the coverage s.e. is ≤ 0.05: we claim block
    # coverage ≥ 0.85 (nominal 0.95 less 2 s.e.) and ≥ 0.1 above the i.i.d. coverage.
    rng = np.random.default_rng(0)
    reps, n = 100, 101
    covered = {"block": 0, "iid": 0}
    for r in range(reps):
        x, y = _ar1(rng, n, 0.8), _ar1(rng, n, 0.8)

        def tau(i, x=x, y=y):
            return kendall_tau(x[i], y[i])

        for kind, ell in (("block", None), ("iid", 1)):
            ci = block_bootstrap_ci(n, tau, seed=r, block_length=ell, n_resamples=100)
            covered[kind] += ci.low <= 0.0 <= ci.high
    assert covered["block"] / reps >= 0.85, covered
    assert covered["block"] - covered["iid"] >= 0.1 * reps, covered


def test_block_bootstrap_resamples_whole_blocks_of_consecutive_indices():
    seen = []
    block_bootstrap_ci(20, lambda i: seen.append(i.copy()) or 0.0, seed=1, block_length=4,
                       n_resamples=5)
    assert np.array_equal(seen[0], np.arange(20))          # the original series first
    for idx in seen[1:]:
        assert idx.size == 20
        blocks = idx.reshape(5, 4)
        assert np.all(np.diff(blocks, axis=1) == 1)         # each block is consecutive


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"n": 1}, "n must be >= 2, got 1"),
    ({"block_length": 0}, r"block_length must be in \[1, 10\], got 0"),
    ({"block_length": 11}, r"block_length must be in \[1, 10\], got 11"),
    ({"seed": -1}, "seed must be >= 0, got -1"),
    ({"n_resamples": 0}, "n_resamples must be >= 1, got 0"),
    ({"confidence": 1.0}, "confidence must be in"),
])
def test_block_bootstrap_rejects_bad_arguments_by_name(kwargs, match):
    args = {"n": 10, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        block_bootstrap_ci(args.pop("n"), lambda i: 0.0, **args)


def test_lab_arguments_follow_the_one_exception_policy():
    """sharpdim._validate's policy in the laboratory: a wrong type is a TypeError (and, for
    code written before the policy, a ValueError); a wrong value is a ValueError only."""
    from sharpdim.lab.bounds import theorem_4_5_bound
    from sharpdim.lab.sweeps.data import modular_addition_data

    with pytest.raises(TypeError, match="seed must be an int, got float 1.5"):
        block_bootstrap_ci(10, lambda i: 0.0, seed=1.5)
    with pytest.raises(TypeError, match="n must be an int, got float 10.0"):
        theorem_4_5_bound(1.0, 1.0, 1.0, 10.0)
    with pytest.raises(TypeError, match="train_fraction must be a real number"):
        modular_addition_data(modulus=5, train_fraction="0.4")
    with pytest.raises(ValueError) as wrong_value:
        modular_addition_data(modulus=5, train_fraction=1.0)
    assert not isinstance(wrong_value.value, TypeError)
    assert str(wrong_value.value) == "train_fraction must be in (0, 1), got 1.0"


def test_default_block_length_is_the_cube_root_rule():
    assert [default_block_length(n) for n in (1, 7, 8, 27, 101, 1000)] == [1, 2, 2, 3, 5, 10]
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        default_block_length(0)


def test_paired_series_difference_prefers_the_measure_that_follows_the_gap():
    rng = np.random.default_rng(3)
    t = np.arange(101.0)
    gap = np.sin(t / 16.0) + 0.05 * rng.standard_normal(t.size)   # rises, falls, rises
    series = {"sd": gap + 0.05 * rng.standard_normal(t.size), "epoch": t, "gap": gap,
              "norm": -t + rng.standard_normal(t.size)}
    d = paired_series_tau_difference(series, "sd", ["epoch", "norm"], "gap", seed=0,
                                     n_resamples=300)
    assert d.verdict == "held" and d.interval.low > 0
    # the measure under test is compared with its sign; a reversed copy does not hold
    flipped = {**series, "sd": -series["sd"]}
    e = paired_series_tau_difference(flipped, "sd", ["epoch", "norm"], "gap", seed=0,
                                     n_resamples=300)
    assert e.verdict == "did not hold"


def test_paired_series_difference_drops_incomplete_checkpoints_and_refuses_misaligned_series():
    s = {"sd": [1.0, 2.0, np.nan, 4.0, 5.0], "b": [5.0, 3.0, 1.0, 2.0, 0.0],
         "gap": [1.0, 2.0, 3.0, 4.0, 5.0]}
    d = paired_series_tau_difference(s, "sd", ["b"], "gap", seed=0, n_resamples=50)
    assert d.tau_measure == 1.0 and d.interval.method.startswith("moving block")
    with pytest.raises(ValueError, match="must be aligned"):
        paired_series_tau_difference({**s, "b": [1.0]}, "sd", ["b"], "gap", seed=0)
    with pytest.raises(ValueError, match="series lacks"):
        paired_series_tau_difference(s, "sd", ["missing"], "gap", seed=0)


@given(st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=40))
def test_change_point_minimises_the_two_segment_residual_sum_of_squares(values):
    v = np.asarray(values)

    def rss(k):
        a, b = v[:k], v[k:]
        return float(((a - a.mean()) ** 2).sum() + ((b - b.mean()) ** 2).sum())

    k = change_point(v)
    best = min(rss(j) for j in range(1, v.size))
    # the CUSUM form and the direct sums agree to rounding of sums of squares (n·eps·Σv²)
    assert rss(k) <= best + 64 * v.size * np.finfo(float).eps * float((v**2).sum() + 1.0)


def test_change_point_finds_the_middle_of_a_sigmoid_rise():
    t = np.arange(101)
    acc = 1.0 / (1.0 + np.exp(-(t - 60) / 3.0))
    assert abs(change_point(acc) - 60) <= 1


def test_change_point_rejects_short_or_non_finite_input():
    with pytest.raises(ValueError, match="at least 2"):
        change_point([1.0])
    with pytest.raises(ValueError, match="finite"):
        change_point([1.0, np.inf])
