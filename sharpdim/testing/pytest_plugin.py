"""pytest plugin that turns recorded checks into the theory-check table.

Loaded by the root ``conftest.py`` (so it also runs on pytest-xdist workers): each test's
:class:`~sharpdim.testing.checking.CheckRow` records travel on the test report as a
``user_properties`` entry. :class:`CheckCollector`, registered by ``sharpdim check`` on the
controlling process, groups them by claim and keeps, per test and claim, the worst case
(largest error / allowed) and the number of cases seen (a Hypothesis property test records
one row per generated example). A test that fails without a failing row gets a row of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, astuple, dataclass, replace

import pytest

from sharpdim.testing.checking import CheckRow, collecting_checks
from sharpdim.testing.profiles import load_profile

__all__ = ["TableRow", "CheckCollector", "summarize_rows"]

_KEY = "sharpdim_checks"


def pytest_configure(config):
    # Loaded here (not only in conftest.py) so batteries outside the checkout and xdist
    # workers get the same deterministic profile from $HYPOTHESIS_PROFILE.
    load_profile()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    with collecting_checks() as rows:
        yield
    item.user_properties.append((_KEY, [astuple(r) for r in rows]))


@dataclass(frozen=True)
class TableRow(CheckRow):
    """One line of the theory-check table: the worst :class:`CheckRow` of a claim in ``test``,
    with the number of cases seen and the verdict."""

    test: str
    n_cases: int
    verdict: str = ""

    def __post_init__(self) -> None:
        if not self.verdict:
            object.__setattr__(self, "verdict", "pass" if self.passed else "FAIL")


def summarize_rows(test: str, rows: list[CheckRow]) -> list[TableRow]:
    """Worst case per claim (a failing row if any), with the number of cases."""
    by_claim: dict[str, list[CheckRow]] = {}
    for row in rows:
        by_claim.setdefault(row.claim, []).append(row)
    out = []
    for group in by_claim.values():
        failed = [r for r in group if not r.passed]
        worst = failed[-1] if failed else max(group, key=lambda r: r.ratio)
        out.append(TableRow(**{**asdict(worst), "passed": not failed}, test=test,
                            n_cases=len(group)))
    return out


class CheckCollector:
    """Collects table rows on the controlling process; ``on_test(nodeid, passed)`` per test."""

    def __init__(self, on_test: Callable[[str, bool], None] | None = None,
                 on_total: Callable[[int], None] | None = None) -> None:
        self.rows: list[TableRow] = []
        self.failed_tests: list[str] = []
        self.n_tests = 0
        self._on_test = on_test
        self._on_total = on_total

    def pytest_collection_modifyitems(self, items):
        if self._on_total is not None:
            self._on_total(len(items))

    def pytest_xdist_node_collection_finished(self, node, ids):
        if self._on_total is not None:
            self._on_total(len(ids))

    def pytest_runtest_logreport(self, report):
        if not (report.when == "call" or (report.when != "call" and report.failed)):
            return
        recorded = []
        for key, value in report.user_properties:
            if key == _KEY:
                recorded = [CheckRow(*fields) for fields in value]
        summary = summarize_rows(report.nodeid, recorded)
        if not report.failed:
            # A failing comparison inside a passing test was expected by it (pytest.raises):
            # the check rejected a deliberately wrong estimator, which is the claim.
            summary = [r if r.passed else replace(r, passed=True, verdict="rejects mutant")
                       for r in summary]
        if report.failed and all(r.passed for r in summary):
            lines = str(report.longrepr).strip().splitlines() or ["failed"]
            summary.append(TableRow(
                claim=report.nodeid.split("::")[-1], case=f"{report.when} raised",
                expected="-", measured=lines[-1][:160], error=float("inf"), allowed=0.0,
                tolerance="-", passed=False, test=report.nodeid, n_cases=1))
        self.rows.extend(summary)
        self.n_tests += 1
        if report.failed:
            self.failed_tests.append(report.nodeid)
        if self._on_test is not None:
            self._on_test(report.nodeid, not report.failed)
