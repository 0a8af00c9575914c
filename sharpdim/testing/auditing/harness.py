"""``audit(estimator, kind, profile)``: run every oracle case of a kind against an estimator.

The audit never crashes because of the estimator: an exception, a timeout, a dead worker
process, NaN or a wrongly shaped answer is that case's verdict. Bad *audit* arguments (an
unknown kind or profile, a missing quantity) raise ``ValueError`` before anything runs.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Callable, Iterable
from importlib import metadata

from sharpdim.testing.adapters import info_dict
from sharpdim.testing.auditing.isolation import (
    CallOutcome,
    ProcessWorker,
    describe_estimator,
    execute,
    picklable,
    run_in_thread,
)
from sharpdim.testing.auditing.report import AuditReport, AuditRow
from sharpdim.testing.auditing.verdict import judge
from sharpdim.testing.oracles import OracleCase, cases
from sharpdim.vocabulary import (
    AUDIT_KINDS,
    AUDIT_PROFILES,
    ISOLATIONS,
    TORCH_AUDIT_KINDS,
    AuditKind,
    AuditProfile,
    Isolation,
    choice,
)

__all__ = ["audit", "DEFAULT_TIME_LIMIT", "resolve_quantity"]

#: Seconds per case, by profile (a thorough case may be ten times longer).
DEFAULT_TIME_LIMIT = {"quick": 120.0, "thorough": 900.0}


def resolve_quantity(estimator: Callable, kind: str, quantity: str | None) -> str | None:
    """The ``hessian-spectrum`` quantity: the argument, else the adapter's ``audit_info``."""
    if kind != "hessian-spectrum":
        if quantity is not None:
            raise ValueError(f"quantity applies to kind 'hessian-spectrum' only, got "
                             f"quantity={quantity!r} for kind {kind!r}")
        return None
    from sharpdim.testing.oracles.hessian import QUANTITIES

    if quantity is None:
        info = info_dict(estimator) or {}
        quantity = info.get("quantity") or getattr(estimator, "quantity", None)
    if quantity not in QUANTITIES:
        raise ValueError(f"kind 'hessian-spectrum' needs quantity in {QUANTITIES} (argument "
                         f"or the estimator's audit_info), got {quantity!r}")
    return quantity


def _provenance(kind: str, adapter: dict | None) -> dict[str, str]:
    """Versions, platform, device and dtype of the run (the command line adds the commit:
    git provenance lives in the report layer, above this one)."""
    names = ["numpy", "scipy"] + (["torch"] if kind in TORCH_AUDIT_KINDS else [])
    if adapter and adapter.get("library") and adapter["library"] != "sharpdim":
        names.append(adapter["library"])
    out = {"python": sys.version.split()[0], "sharpdim": _version("sharpdim")}
    out |= {name: _version(name) for name in names}
    out["platform"] = platform.platform(terse=True)
    if kind in TORCH_AUDIT_KINDS:
        out["device"] = "cpu (planted models are built on the CPU)"
        out["dtype"] = "float64 (planted models)"
    return out


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _row(case: OracleCase, outcome: CallOutcome) -> AuditRow:
    common = dict(case=case.name, claim=case.claim, oracle=case.expected_text(),
                  seed=case.seed, derivation=case.derivation, seconds=outcome.seconds)
    if outcome.status != "ok":
        return AuditRow(returned="–", error=None, allowed=None,
                        tolerance=case.tolerance.describe(),
                        verdict={"raised": "raised", "timeout": "timeout"}.get(
                            outcome.status, "crashed"),
                        detail=outcome.detail, **common)
    j = judge(case, outcome.answer)
    return AuditRow(returned=outcome.answer.text, error=j.error, allowed=j.allowed,
                    tolerance=j.tolerance, verdict=j.verdict, detail=j.detail, **common)


def audit(
    estimator: Callable,
    kind: AuditKind,
    profile: AuditProfile = "quick",
    *,
    quantity: str | None = None,
    time_limit: float | None = None,
    isolation: Isolation = "auto",
    only: Iterable[str] | None = None,
    progress: Callable[[str, AuditRow], None] | None = None,
) -> AuditReport:
    """Audit ``estimator`` (a callable of ``kind``'s signature, see
    :mod:`sharpdim.testing.auditing.kinds`) against the oracle cases of ``profile``.

    ``quantity`` selects the ``hessian-spectrum`` quantity (default: the adapter's);
    ``time_limit`` is seconds per case (default by profile); ``isolation`` is ``process``,
    ``thread``, ``inline`` or ``auto`` (process when the estimator pickles by reference, see
    :mod:`sharpdim.testing.auditing.isolation`); ``only`` restricts to named cases;
    ``progress(case_name, row)`` is called after each case. Returns an
    :class:`~sharpdim.testing.auditing.report.AuditReport` whose ``passed`` is true only when
    every case passed.
    """
    choice("kind", kind, AUDIT_KINDS)
    choice("profile", profile, AUDIT_PROFILES)
    choice("isolation", isolation, ISOLATIONS)
    if not callable(estimator):
        raise TypeError(f"estimator must be callable, got {type(estimator).__name__}")
    if time_limit is not None and not time_limit > 0:
        raise ValueError(f"time_limit must be > 0 seconds, got {time_limit!r}")
    if time_limit is not None and isolation == "inline":
        raise ValueError(f"time_limit cannot be enforced with isolation='inline' (a plain call "
                         f"cannot be stopped), got time_limit={time_limit!r}; use isolation "
                         "'thread' or 'process', or drop the time limit")
    quantity = resolve_quantity(estimator, kind, quantity)
    selected = cases(kind, profile, quantity=quantity)
    if only is not None:
        wanted = list(only)
        unknown = sorted(set(wanted) - {c.name for c in selected})
        if unknown:
            raise ValueError(f"only must name cases of kind {kind!r}, profile {profile!r}; "
                             f"unknown: {', '.join(unknown)}; valid: "
                             f"{', '.join(c.name for c in selected)}")
        selected = tuple(c for c in selected if c.name in wanted)
    limit = DEFAULT_TIME_LIMIT[profile] if time_limit is None else float(time_limit)
    notes: list[str] = []
    mode = isolation
    if mode == "auto":
        reason = picklable(estimator)
        mode = "process" if reason is None else "thread"
        if reason is not None:
            notes.append(f"thread isolation: the estimator is {reason}")
    worker = None
    if mode == "process":
        reason = picklable(estimator)
        failure = reason or None
        if failure is None:
            worker = ProcessWorker(kind, estimator)
            failure = worker.start()
        if failure is not None:
            notes.append(f"fell back to thread isolation: {failure}")
            mode, worker = "thread", None

    rows = []
    try:
        for case in selected:
            if worker is not None:
                outcome = worker.run(case.name, limit)
            elif mode == "thread":
                outcome = run_in_thread(kind, estimator, case.name, limit)
            else:
                outcome = execute(kind, estimator, case.name)
            row = _row(case, outcome)
            rows.append(row)
            if progress is not None:
                progress(case.name, row)
    finally:
        if worker is not None:
            if worker.restarts:
                notes.append(f"the worker process was restarted {worker.restarts} time(s) "
                             "after a timeout or crash")
            worker.close()
    adapter = info_dict(estimator)
    return AuditReport(
        estimator=describe_estimator(estimator), kind=kind, profile=profile,
        quantity=quantity, rows=tuple(rows),
        isolation=f"{mode} ({'spawned worker process' if mode == 'process' else ''}"
                  f"{'daemon thread' if mode == 'thread' else ''}"
                  f"{'no time limit' if mode == 'inline' else ''})",
        time_limit=None if mode == "inline" else limit, adapter=adapter,
        provenance=_provenance(kind, adapter),
        notes=tuple(notes))
