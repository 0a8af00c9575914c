"""Testing kit (layer 6): Hypothesis strategies, recorded checks, oracles and the audit harness.

``sharpdim.testing.audit(estimator, kind, profile)`` checks a third-party estimator against
the analytic oracles and returns an ``AuditReport`` (loaded lazily: it pulls in torch).
"""

from __future__ import annotations

import importlib

__all__ = ["audit", "AuditReport", "AuditRow"]


def __getattr__(name: str):
    if name in __all__:
        value = getattr(importlib.import_module("sharpdim.testing.auditing"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sharpdim.testing' has no attribute {name!r}")
