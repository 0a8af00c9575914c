"""`sharpdim bench training`: the trainer against a bare loop, and the tracking share."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sharpdim.lab.bench.training import (
    bench_training,
    render_training_markdown,
    tracking_share,
)

SWEEP = Path(__file__).resolve().parents[1] / "reports" / "digits_gd_eos" / "sweep.sqlite"


@pytest.mark.skipif(not SWEEP.is_file(), reason="the digits_gd_eos sweep file is not committed")
def test_tracking_share_is_the_checkpoint_over_training_time_in_the_sweep_file():
    # Oracle: the same sums straight from the file's timings table with sqlite3.
    with sqlite3.connect(f"file:{SWEEP}?mode=ro", uri=True) as conn:
        sums = dict(conn.execute("SELECT phase, SUM(seconds) FROM timings GROUP BY phase"))
    share, check_s, train_s = tracking_share(SWEEP)
    assert (check_s, train_s) == pytest.approx(
        (sums["checkpoint_measures"], sums["train"]), rel=1e-12)   # summation order only
    assert share == pytest.approx(sums["checkpoint_measures"] / sums["train"], rel=1e-12)


def test_bench_rows_compare_like_with_like_and_render_one_row_each():
    rows = bench_training(n_examples=100, steps=5, repeats=1, sweep=None)
    assert [r.quantity for r in rows] == [
        "trainer ÷ bare loop, same work", "trainer ÷ bare loop that also shuffles",
        "trainer ÷ bare loop without the stopping rule"]
    assert all(r.value > 0 for r in rows)
    table = render_training_markdown(rows)
    assert table.count("\n| trainer") == 3
