"""The audit harness: check anyone's estimator against sharpdim's analytic oracles.

    >>> from sharpdim.testing.auditing import audit
    >>> from sharpdim import kaplan_yorke_dimension
    >>> report = audit(kaplan_yorke_dimension, "dimension", isolation="inline")
    >>> report.passed, len(report.rows)
    (True, 8)

Kinds and their callable signatures: :mod:`sharpdim.testing.auditing.kinds`; the cases:
:mod:`sharpdim.testing.oracles`; time limits and isolation:
:mod:`sharpdim.testing.auditing.isolation`; renderings: :mod:`sharpdim.testing.auditing.report`.
"""

from __future__ import annotations

from sharpdim.testing.auditing.harness import DEFAULT_TIME_LIMIT, audit
from sharpdim.testing.auditing.isolation import ISOLATIONS
from sharpdim.testing.auditing.kinds import KIND_SIGNATURES, KINDS
from sharpdim.testing.auditing.report import AuditReport, AuditRow, write_json, write_markdown

__all__ = [
    "audit",
    "AuditReport",
    "AuditRow",
    "KINDS",
    "KIND_SIGNATURES",
    "ISOLATIONS",
    "DEFAULT_TIME_LIMIT",
    "write_markdown",
    "write_json",
]
