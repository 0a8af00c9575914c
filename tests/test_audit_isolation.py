"""The audit survives its estimator: exceptions, NaN, wrong shapes, hangs and crashes are
verdicts, in a worker process and in a thread.

This module stays light (numpy and pytest only) because the process-isolation test makes a
spawned worker import it to find ``hang_crash_or_answer``.
"""

from __future__ import annotations

import json
import os
import threading
import time

import numpy as np
import pytest

from sharpdim.testing.auditing import audit
from sharpdim.testing.auditing.isolation import picklable


def correct_ky(exponents) -> float:
    """A Kaplan–Yorke dimension written here, independently of sharpdim.dimension."""
    lam = np.sort(np.asarray(exponents, dtype=np.float64))[::-1]
    if lam[0] < 0:
        return 0.0
    partial = np.cumsum(lam)
    j = int(np.flatnonzero(partial >= 0)[-1]) + 1
    if j == lam.size:
        return float(j)
    return float(j + (0.0 if np.isneginf(lam[j]) else partial[j - 1] / abs(lam[j])))


def hang_crash_or_answer(exponents) -> float:
    """Crashes the interpreter on an input starting negative, hangs on one starting at 0."""
    first = float(np.asarray(exponents)[0])
    if first < 0:
        os._exit(3)
    if first == 0:
        time.sleep(120)
    return correct_ky(exponents)


def test_process_isolation_turns_a_crash_and_a_hang_into_verdicts_and_carries_on():
    report = audit(hang_crash_or_answer, "dimension", time_limit=2.0, isolation="process",
                   only=["two-exponents", "unsorted-input", "flat-direction", "absolute-value"])
    verdicts = {r.case: r.verdict for r in report.rows}
    assert verdicts == {"two-exponents": "pass", "unsorted-input": "crashed",
                        "flat-direction": "timeout", "absolute-value": "pass"}
    assert report.isolation.startswith("process") and not report.passed
    crashed = next(r for r in report.rows if r.verdict == "crashed")
    assert "exit code 3" in crashed.detail
    assert any("restarted 2 time" in n for n in report.notes)


def test_thread_isolation_abandons_a_call_past_its_time_limit():
    release = threading.Event()

    def waits_for_release(exponents):
        release.wait(30)
        return correct_ky(exponents)

    try:
        report = audit(waits_for_release, "dimension", time_limit=0.2, isolation="auto",
                       only=["two-exponents"])
    finally:
        release.set()  # let the abandoned thread finish
    (row,) = report.rows
    assert row.verdict == "timeout" and "abandoned" in row.detail
    assert report.isolation.startswith("thread")
    assert any("thread isolation" in n for n in report.notes)


@pytest.mark.parametrize(
    ("answer", "verdict", "detail"),
    [
        (lambda e: float("nan"), "NaN", "NaN"),
        (lambda e: [1.0, 2.0], "wrong shape", "2 value(s) for 1"),
        (lambda e: None, "wrong shape", "None"),
        (lambda e: "1.5", "wrong shape", ""),
        (lambda e: 1 / 0, "raised", "ZeroDivisionError"),
    ],
)
def test_bad_answers_are_verdicts_not_crashes(answer, verdict, detail):
    report = audit(answer, "dimension", isolation="inline", only=["two-exponents"])
    (row,) = report.rows
    assert row.verdict == verdict and detail in row.detail
    assert not report.passed


def test_passed_needs_every_case_and_at_least_one():
    full = audit(correct_ky, "dimension", isolation="inline")
    assert full.passed and full.n_passed == len(full.rows) == 8
    assert not audit(correct_ky, "dimension", isolation="inline", only=[]).passed


def test_report_json_carries_oracle_returned_error_tolerance_and_verdict():
    report = audit(lambda e: float("nan"), "dimension", isolation="inline",
                   only=["two-exponents"])
    data = json.loads(report.to_json())
    (row,) = data["rows"]
    assert row["oracle"] == "1.5" and row["verdict"] == "NaN" and row["error"] == "inf"
    assert "rounding" in row["tolerance"] and row["passed"] is False
    assert data["provenance"]["numpy"] == np.__version__ and data["kind"] == "dimension"


def test_markdown_sections_are_rewritten_in_place_and_hand_text_is_kept(tmp_path):
    from sharpdim.testing.auditing import write_json, write_markdown

    path = tmp_path / "audit.md"
    good = audit(correct_ky, "dimension", isolation="inline")
    bad = audit(lambda e: 0.0, "dimension", isolation="inline")
    write_markdown(path, good, title="Audit of test")
    path.write_text(path.read_text() + "\n## Reading\n\nHand-written reading.\n")
    write_markdown(path, bad)
    write_markdown(path, good)  # second write of the same estimator replaces its section
    text = path.read_text()
    assert text.count("<!-- audit:") == 2 and "Hand-written reading." in text
    assert "| two-exponents | 1.5 | 1.5 |" in text and "**FAIL**" in text
    write_json(tmp_path / "audit.json", good)
    write_json(tmp_path / "audit.json", bad)
    assert len(json.loads((tmp_path / "audit.json").read_text())["audits"]) == 2


def test_closures_and_lambdas_fall_back_to_threads_module_functions_do_not():
    assert picklable(correct_ky) is None
    assert "not picklable" in picklable(lambda e: 0.0)


def test_bad_audit_arguments_fail_early_with_the_rule():
    with pytest.raises(ValueError, match="kind must be one of"):
        audit(correct_ky, "dimensions")
    with pytest.raises(ValueError, match="profile must be one of"):
        audit(correct_ky, "dimension", "slow")
    with pytest.raises(ValueError, match="needs quantity"):
        audit(correct_ky, "hessian-spectrum")
    with pytest.raises(ValueError, match="unknown: nope"):
        audit(correct_ky, "dimension", only=["nope"])
    with pytest.raises(ValueError, match="time_limit must be > 0"):
        audit(correct_ky, "dimension", time_limit=0)
