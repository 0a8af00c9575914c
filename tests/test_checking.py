"""Recorded checks: comparison semantics, the table, and `sharpdim check` end to end."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from sharpdim.testing.checking import Tolerance, check_close, check_that, collecting_checks
from sharpdim.testing.pytest_plugin import summarize_rows


def test_tolerance_demands_a_reason_and_nonnegative_bounds():
    with pytest.raises(ValueError, match="reason"):
        Tolerance("", atol=1e-3)
    with pytest.raises(ValueError, match="atol"):
        Tolerance("bound", atol=-1.0)


def test_equal_infinities_count_as_zero_error():
    row = check_close("c", "x", [1.0, -np.inf], [1.0, -np.inf], Tolerance("exact"))
    assert row.passed and row.error == 0.0


def test_nan_measurement_fails_even_with_huge_tolerance():
    with pytest.raises(AssertionError, match="error inf"):
        check_close("c", "x", 1.0, float("nan"), Tolerance("huge", atol=1e9))


def test_shape_mismatch_fails():
    with pytest.raises(AssertionError, match="shape"):
        check_close("c", "x", [1.0, 2.0], [1.0], Tolerance("exact"))


def test_relative_tolerance_scales_with_expected_magnitude():
    check_close("c", "x", 1e6, 1e6 + 1.0, Tolerance("1 ppm", rtol=1e-6))
    with pytest.raises(AssertionError):
        check_close("c", "x", 1.0, 1.0 + 2e-6, Tolerance("1 ppm", rtol=1e-6))


def test_collector_keeps_worst_case_and_counts_cases():
    with collecting_checks() as rows:
        check_close("claim", "small", 1.0, 1.0 + 1e-9, Tolerance("t", atol=1e-6))
        check_close("claim", "large", 1.0, 1.0 + 5e-7, Tolerance("t", atol=1e-6))
        check_that("other", "logical", True, "x < y", "x < y")
    table = {r.claim: r for r in summarize_rows("t", rows)}
    assert table["claim"].case == "large" and table["claim"].n_cases == 2
    assert table["other"].passed


BATTERY = textwrap.dedent(
    """
    from hypothesis import given, strategies as st
    from sharpdim import sharpness_dimension
    from sharpdim.testing.checking import Tolerance, check_close

    @given(st.floats(0.1, 10.0))
    def test_sd_of_x_and_minus_2x_is_three_halves(x):
        check_close("SD(x, -2x) = 1.5", f"x={x:.3g}", 1.5, sharpness_dimension([x, -2 * x]),
                    Tolerance("one rounding of x/(2x)", rtol=4e-16))
    {extra}
    """
)


@pytest.mark.parametrize("failing", [False, True])
def test_check_command_exit_status_and_table(tmp_path, failing):
    extra = (
        "def test_deliberately_wrong():\n"
        "        check_close('wrong', 'c', 1.0, 1.1, Tolerance('none', atol=0.01))"
        if failing else ""
    )
    (tmp_path / "test_battery.py").write_text(BATTERY.replace("{extra}", extra))
    report = tmp_path / "report.md"
    proc = subprocess.run(
        [sys.executable, "-m", "sharpdim", "check", "--battery", str(tmp_path),
         "--workers", "0", "--report", str(report)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == (1 if failing else 0), proc.stderr[-2000:]
    assert "SD(x, -2x) = 1.5" in proc.stdout
    text = report.read_text()
    assert "| claim | case | n |" in text and "(n=25)" in proc.stdout
    assert ("**FAIL**" in text) == failing


def test_a_check_that_rejects_a_mutant_inside_a_passing_test_is_reported_as_such(tmp_path):
    (tmp_path / "test_mutant.py").write_text(textwrap.dedent(
        """
        import pytest
        from sharpdim.testing.checking import Tolerance, check_close

        def test_the_check_rejects_log2_for_ln():
            with pytest.raises(AssertionError):
                check_close("ln 2 (mutant: log2)", "c", 0.6931471805599453, 1.0,
                            Tolerance("one rounding", rtol=2.3e-16))
        """))
    report = tmp_path / "report.md"
    proc = subprocess.run(
        [sys.executable, "-m", "sharpdim", "check", "--battery", str(tmp_path),
         "--workers", "0", "--report", str(report)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "rejects mutant" in report.read_text() and "**FAIL**" not in report.read_text()
