"""The QR benchmark's verdicts: a goal below what the calls themselves cost is said so."""

from __future__ import annotations

import pytest

from sharpdim.lab.bench.lyapunov import BenchResult, render_lyapunov_markdown


def _result(seconds: float, *, system: float, oracle: float) -> BenchResult:
    # bare QR 1 s, products 0.1 s: floor = 1 + 0.1 + system + oracle
    return BenchResult(workload="w", baseline="b", seconds=seconds, baseline_seconds=1.0,
                       system_seconds=system, goal=1.5, repeats=1, notes="",
                       oracle_seconds=oracle, product_seconds=0.1)


@pytest.mark.parametrize(("seconds", "system", "oracle", "verdict"), [
    (1.4, 0.2, 0.0, "yes"),               # within the goal
    (1.6, 0.2, 0.0, "no"),                # floor 1.3: the algorithm's own overhead
    (1.9, 0.45, 0.25, "no: floor > goal"),  # floor 1.8 > 1.5: the calls alone miss it
])
def test_verdict_separates_overhead_from_a_goal_below_the_floor(seconds, system, oracle,
                                                                 verdict):
    r = _result(seconds, system=system, oracle=oracle)
    assert r.floor == pytest.approx(1.1 + system + oracle, rel=1e-15)
    assert r.verdict == verdict
    row = [line for line in render_lyapunov_markdown([r]).splitlines()
           if line.startswith("| w |")][0]
    assert f"| {verdict} |" in row and f"| {seconds / r.floor:.2f} |" in row


def test_a_tiny_run_reports_the_median_of_within_run_ratios_with_their_range():
    from sharpdim.lab.bench.lyapunov import bench_lyapunov

    # installed with scikit-learn (the sweep and audit extras); the CLI uses it the same way
    threadpool_limits = pytest.importorskip("threadpoolctl").threadpool_limits

    with threadpool_limits(1):
        results = bench_lyapunov(henon_orbits=8, henon_steps=20, linear_dim=5, linear_steps=20,
                                 repeats=3, seed=0)
    assert len(results) == 4
    text = render_lyapunov_markdown(results)
    for r in results:
        med, lo, hi = r.turn_ratios
        assert lo <= r.ratio == med <= hi and r.turn_floors[1] <= r.floor <= r.turn_floors[2]
        assert r.clock == "this thread's CPU time (one BLAS thread)"
        assert f"{r.ratio:.2f}× ({lo:.2f}–{hi:.2f})" in text
    assert "in this thread's CPU time (one BLAS thread): the ratio and the floor" in text
