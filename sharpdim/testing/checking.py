"""Recorded comparisons: every theory check states its oracle, tolerance and reason.

A check calls :func:`check_close` (numbers or arrays against an independent oracle) or
:func:`check_that` (a claim that is true or false). Each call builds a :class:`CheckRow`,
hands it to the active collector (the pytest plugin, which ``sharpdim check`` turns into the
claim | case | expected | measured | error | tolerance | verdict table) and raises
``AssertionError`` when it fails, so the same code is a plain pytest assertion too.

Tolerances are :class:`Tolerance` objects whose ``reason`` says where the number comes from
(an error bound, a standard error, a convergence rate); there is no default tolerance.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Tolerance",
    "CheckRow",
    "check_close",
    "check_that",
    "collecting_checks",
    "EPS",
]

EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class Tolerance:
    """Allowed error ``atol + rtol·|expected|`` (elementwise), with the reason for it."""

    reason: str
    atol: float = 0.0
    rtol: float = 0.0

    def __post_init__(self) -> None:
        if not self.reason:
            raise ValueError("Tolerance.reason must say where the tolerance comes from")
        finite = np.isfinite(self.atol) and np.isfinite(self.rtol)
        if self.atol < 0 or self.rtol < 0 or not finite:
            raise ValueError("Tolerance atol/rtol must be finite and >= 0, "
                             f"got atol={self.atol}, rtol={self.rtol}")

    def bound(self, expected: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            mag = np.where(np.isfinite(expected), np.abs(expected), 0.0)
        return self.atol + self.rtol * mag

    def describe(self) -> str:
        parts = []
        if self.atol:
            parts.append(f"atol={self.atol:.3g}")
        if self.rtol:
            parts.append(f"rtol={self.rtol:.3g}")
        return (" ".join(parts) or "exact") + f" ({self.reason})"


@dataclass(frozen=True)
class CheckRow:
    """One recorded comparison. ``error``/``allowed`` are the worst element's values."""

    claim: str
    case: str
    expected: str
    measured: str
    error: float
    allowed: float
    tolerance: str
    passed: bool

    @property
    def ratio(self) -> float:
        """error / allowed (inf for a failed exact check): how close to failing."""
        if self.allowed > 0:
            return self.error / self.allowed
        return 0.0 if self.passed else float("inf")


_collectors: list[list[CheckRow]] = []


@contextlib.contextmanager
def collecting_checks() -> Iterator[list[CheckRow]]:
    """Collect the rows of every check made inside the block (nests)."""
    rows: list[CheckRow] = []
    _collectors.append(rows)
    try:
        yield rows
    finally:
        # by identity: two collectors holding equal (e.g. empty) lists must not be confused
        for i in range(len(_collectors) - 1, -1, -1):
            if _collectors[i] is rows:
                del _collectors[i]
                break


def _emit(row: CheckRow) -> CheckRow:
    for rows in _collectors:
        rows.append(row)
    return row


def _fmt(a: np.ndarray) -> str:
    a = np.asarray(a)
    if a.ndim == 0:
        return f"{float(a):.10g}"
    if a.size <= 4:
        return "[" + ", ".join(f"{float(v):.6g}" for v in a.ravel()) + "]"
    return f"[{float(a.ravel()[0]):.6g}, …, {float(a.ravel()[-1]):.6g}] ({a.size})"


def check_close(
    claim: str, case: str, expected, measured, tolerance: Tolerance
) -> CheckRow:
    """Assert ``|measured - expected| ≤ atol + rtol|expected|`` elementwise and record it.

    Equal infinities (e.g. an exponent of ``-inf`` for a zero singular value) count as
    zero error; NaN anywhere, or a shape mismatch, fails.
    """
    exp = np.asarray(expected, dtype=np.float64)
    mea = np.asarray(measured, dtype=np.float64)
    if exp.shape != mea.shape:
        row = CheckRow(claim, case, _fmt(exp), f"shape {mea.shape}", float("inf"), 0.0,
                       tolerance.describe(), False)
        _emit(row)
        raise AssertionError(f"{claim} [{case}]: expected shape {exp.shape}, got {mea.shape}")
    with np.errstate(invalid="ignore"):
        same_inf = np.isinf(exp) & (exp == mea)
        err = np.where(same_inf, 0.0, np.abs(mea - exp))
    err = np.where(np.isnan(err), np.inf, err)
    bound = tolerance.bound(exp)
    ok = bool(np.all(err <= bound))
    if err.size:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(bound > 0, err / np.where(bound > 0, bound, 1.0),
                             np.where(err > 0, np.inf, 0.0))
        worst = int(np.argmax(ratio.ravel()))
        error, allowed = float(err.ravel()[worst]), float(bound.ravel()[worst])
    else:
        error, allowed = 0.0, 0.0
    row = _emit(
        CheckRow(claim, case, _fmt(exp), _fmt(mea), error, allowed, tolerance.describe(), ok)
    )
    if not ok:
        raise AssertionError(
            f"{claim} [{case}]: expected {row.expected}, measured {row.measured}, "
            f"error {error:.3g} > allowed {allowed:.3g} ({tolerance.reason})"
        )
    return row


def check_that(
    claim: str, case: str, condition: bool, expected: str, measured: str
) -> CheckRow:
    """Assert a yes/no claim (an inequality, an equivalence) and record it."""
    ok = bool(condition)
    row = _emit(CheckRow(claim, case, expected, measured, 0.0 if ok else 1.0, 0.0,
                         "logical", ok))
    if not ok:
        raise AssertionError(f"{claim} [{case}]: expected {expected}, measured {measured}")
    return row
