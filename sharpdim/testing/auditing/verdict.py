"""Judging one answer against its oracle: error, allowed error, verdict.

Comparisons follow :func:`sharpdim.testing.checking.check_close`'s rule (equal infinities
count as zero error, NaN fails, ``atol + rtol·|expected|`` elementwise) without recording a
theory-check row.
The density comparison reduces to one number, ``W1 + span·|mass − 1|`` (the Wasserstein-1
distance between the normalized measures, scipy's ``wasserstein_distance``, plus the
misplaced mass times the oracle's spectral span), checked against ``0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sharpdim.testing.auditing.kinds import Returned
from sharpdim.testing.checking import Tolerance
from sharpdim.testing.oracles import OracleCase

__all__ = ["Judgement", "judge", "VERDICTS", "trace_tolerance", "measure_error"]

#: Row verdicts; only ``pass`` passes.
VERDICTS = ("pass", "FAIL", "NaN", "wrong shape", "raised", "timeout", "crashed")


@dataclass(frozen=True)
class Judgement:
    """``error``/``allowed`` are ``None`` when nothing could be compared."""

    error: float | None
    allowed: float | None
    tolerance: str
    verdict: str
    detail: str


def trace_tolerance(case: OracleCase, n_probes: int | None) -> Tolerance:
    """The stochastic-trace tolerance scaled to ``M`` reported probes (``M = 1`` if none)."""
    m = n_probes or 1
    reported = f"M = {m} reported" if n_probes else "no probe count reported, M = 1 assumed"
    return Tolerance(
        reason=f"5 standard errors of a Rademacher Hutchinson mean, per-probe variance "
               f"2(‖H‖_F² − Σ H_ii²) = {case.per_probe_variance:.4g}, {reported}",
        atol=5.0 * math.sqrt(case.per_probe_variance / m))


def measure_error(expected: tuple[np.ndarray, np.ndarray],
                  returned: tuple[np.ndarray, np.ndarray]) -> tuple[float, float]:
    """``(W1 of the normalized measures + span·|mass − 1|, mass)``."""
    from scipy.stats import wasserstein_distance

    e_nodes, e_weights = expected
    nodes, weights = returned
    mass = float(weights.sum())
    if not mass > 0 or (weights < 0).any():
        return math.inf, mass
    span = float(e_nodes.max() - e_nodes.min()) or 1.0
    w1 = wasserstein_distance(e_nodes, nodes, e_weights, weights / mass)
    return float(w1 + span * abs(mass - 1.0)), mass


@dataclass(frozen=True)
class _Comparison:
    error: float
    allowed: float
    passed: bool


def _checked(expected, measured, tolerance: Tolerance) -> _Comparison:
    """``check_close``'s rule without recording a check row: ``|measured − expected| ≤
    atol + rtol·|expected|`` elementwise, equal infinities count as zero error, NaN fails;
    ``error``/``allowed`` are those of the worst element (largest error ÷ allowed).

    Audit rows must not enter the theory-check table (a deliberately wrong estimator's rows
    would read as failing checks), so this does not go through the check collectors.
    """
    exp = np.asarray(expected, dtype=np.float64)
    mea = np.asarray(measured, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        same_inf = np.isinf(exp) & (exp == mea)
        err = np.where(same_inf, 0.0, np.abs(mea - exp))
    err = np.where(np.isnan(err), np.inf, err).reshape(-1)
    bound = np.broadcast_to(tolerance.bound(exp), exp.shape).reshape(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(bound > 0, err / np.where(bound > 0, bound, 1.0),
                         np.where(err > 0, np.inf, 0.0))
    worst = int(np.argmax(ratio))
    return _Comparison(float(err[worst]), float(bound[worst]), bool(np.all(err <= bound)))


def judge(case: OracleCase, answer: Returned) -> Judgement:
    """Compare ``answer`` with ``case``'s oracle."""
    tolerance = case.tolerance
    if case.per_probe_variance is not None:
        tolerance = trace_tolerance(case, answer.n_probes)
    if answer.problem is not None and answer.problem != "NaN":
        return Judgement(None, None, tolerance.describe(), "wrong shape", answer.problem)
    if answer.problem == "NaN":
        return Judgement(math.inf, None, tolerance.describe(), "NaN",
                         "the estimator returned NaN")
    if case.comparison == "measure":
        error, mass = measure_error(case.expected, answer.measure)
        row = _checked([0.0], [error], tolerance)
        detail = f"W1 + span·|mass − 1| with mass {mass:.6g}"
    elif case.comparison == "sum":
        row = _checked(case.expected, [answer.values.sum()], tolerance)
        detail = f"sum of {answer.values.size} returned values = {answer.values.sum():.10g}"
    else:
        row = _checked(case.expected, answer.values, tolerance)
        detail = ""
    return Judgement(row.error, row.allowed, tolerance.describe(),
                     "pass" if row.passed else "FAIL", detail)
