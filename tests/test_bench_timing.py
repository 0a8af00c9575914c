"""The benchmarks' within-turn ratio: a slower turn cancels, malformed turns are refused."""

from __future__ import annotations

import pytest

from sharpdim.lab.bench.timing import within_turn_ratio


def test_within_turn_ratio_cancels_a_turn_on_a_slower_machine():
    # turn 2 runs twice as slow for both functions: its ratio is still that of a quiet turn
    est, bare = [1.1, 2.4, 1.2], [1.0, 2.0, 1.0]
    median, lo, hi = within_turn_ratio(est, bare)
    assert median == pytest.approx(1.2, rel=1e-15)   # 1.1, 1.2, 1.2 by hand
    assert (lo, hi) == (pytest.approx(1.1, rel=1e-15), pytest.approx(1.2, rel=1e-15))
    slowed = within_turn_ratio([a * 3 for a in est], [b * 3 for b in bare])
    assert slowed == pytest.approx((median, lo, hi), rel=1e-15)


@pytest.mark.parametrize(("num", "den"), [([1.0, 2.0], [1.0]), ([], []), ([[1.0]], [[1.0]])])
def test_within_turn_ratio_refuses_turns_that_do_not_pair(num, den):
    with pytest.raises(ValueError, match="num and den must be equally long non-empty"):
        within_turn_ratio(num, den)
