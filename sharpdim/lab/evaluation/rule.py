"""The paired τ rule against a comparison set fixed in advance, with intervals over
configurations (seeds nested) and over seeds.

For a measure ``m``, a target ``g`` and a comparison set ``C`` whose every member ``c`` carries a
sign ``s_c`` fixed before the results (the direction in which the literature says ``c`` predicts
the gap), on a set of runs ``R``::

    d(R) = τ(m, g; R) − max_{c ∈ C} s_c · τ(c, g; R)            (τ-a, Jiang et al.'s sign form)

The measure must beat the best *oriented* competitor on the same runs. Both terms are computed
on the same resample (paired). The interval that decides is the percentile bootstrap over
**configurations**: each resample draws configurations with replacement and, inside each drawn
configuration, its seed replicates with replacement (nested), so the spread over environments
counts, not only over seeds. The seed-stratified interval (configurations fixed, seeds
resampled within each) is reported beside it. Verdict: **held** when the configuration interval
lies above 0, **did not hold** when below 0, **tie** when it covers 0; **not testable** when the
measure is constant over the runs (relative range at or below :data:`CONSTANT_RELATIVE_RANGE`).

A resample repeats runs; the pairs of a run with its own copies are left out of each resampled
τ (numerator and denominator), so resampled τ do not lean toward 0 as they do in
:func:`sharpdim.lab.stats.bootstrap_ci`, and the estimate lies inside its interval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from sharpdim import _validate
from sharpdim.lab.evaluation.records import column, configuration_keys
from sharpdim.lab.stats import nested_indices, stratified_indices

__all__ = ["RuleResult", "Resamples", "draw_resamples", "paired_rule", "is_constant",
           "CONSTANT_RELATIVE_RANGE", "RULE_TEXT"]

Verdict = Literal["held", "did not hold", "tie", "not testable", "cannot decide"]

CONSTANT_RELATIVE_RANGE = 1e-9
"""A measure whose range over the runs is at most this fraction of its magnitude is constant:
far above the float64 rounding of a sum of up to 10⁶ terms (10⁶·eps ≈ 2e-10, e.g. SD = 3N of an
update Jacobian that differs by 1.8e-12 between runs), far below any real variation."""

RULE_TEXT = (
    "d = τ(measure, gap) − max over the comparison set of s·τ(competitor, gap), each competitor's "
    "sign s fixed in advance (the direction the literature gives it); τ is Kendall's τ-a over "
    "the primary runs. The deciding 95 % interval resamples configurations with replacement and "
    "the seeds within each drawn configuration (nested); the seed-only interval is printed "
    "beside it. held: interval above 0; did not hold: below 0; tie: covers 0; not testable: the "
    "measure is constant over the runs; cannot decide: fewer than the minimum primary runs, or "
    "the sweep's positive controls fail.")


@dataclass(frozen=True)
class Resamples:
    """Index sets of the runs, drawn once and shared by every measure (paired across measures):
    ``configurations`` (nested: configurations, then seeds within them) and ``seeds`` (seeds
    within each configuration, configurations kept); the ``seed`` that drew them."""

    configurations: tuple[np.ndarray, ...]
    seeds: tuple[np.ndarray, ...]
    seed: int


def draw_resamples(rows: Sequence[Mapping], hyperparameters: Sequence[str], *, seed: int,
                   n_resamples: int = 1000, seed_only: bool = True) -> Resamples:
    """Draw both kinds of bootstrap index sets over ``rows`` grouped by ``hyperparameters``
    (the seed-only kind left empty with ``seed_only=False``)."""
    _validate.integer("n_resamples", n_resamples, minimum=1)
    groups: dict[tuple, list[int]] = {}
    for i, key in enumerate(configuration_keys(rows, hyperparameters)):
        groups.setdefault(key, []).append(i)
    members = [np.asarray(g) for g in groups.values()]
    rng = np.random.default_rng(seed)
    nested, within = [], []
    for _ in range(n_resamples):
        nested.append(nested_indices(rng, members))
        if seed_only:
            within.append(stratified_indices(rng, members))
    return Resamples(tuple(nested), tuple(within), int(seed))


def _sign_products(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``sign(x_i − x_j)·sign(g_i − g_j)`` for every pair (the τ-a summand)."""
    return np.sign(x[:, None] - x[None, :]) * np.sign(g[:, None] - g[None, :])


def _tau(products: np.ndarray, idx: np.ndarray | None = None) -> float:
    """τ-a over the pairs of *distinct* runs of a resample: a run drawn twice forms a pair with
    itself that is tied by construction, and counting it would pull every resampled τ toward 0
    (an estimate outside its own interval); those pairs leave the denominator too."""
    if idx is None:
        k = products.shape[0]
        return float(products.sum() / (k * (k - 1))) if k > 1 else 0.0
    sub = products[np.ix_(idx, idx)]
    counts = np.bincount(idx)
    pairs = idx.size * (idx.size - 1) - int((counts * (counts - 1)).sum())
    return float(sub.sum() / pairs) if pairs > 0 else 0.0


def is_constant(values: np.ndarray) -> bool:
    """Whether ``values`` vary by at most :data:`CONSTANT_RELATIVE_RANGE` of their magnitude."""
    scale = float(np.abs(values).max()) if values.size else 0.0
    return float(np.ptp(values)) <= CONSTANT_RELATIVE_RANGE * scale if values.size else True


@dataclass(frozen=True)
class RuleResult:
    """The rule's result for one measure and target (module docstring): ``tau`` of the measure,
    ``competitor`` (the best oriented one on all runs) with its oriented ``tau_competitor``,
    ``difference`` d, its ``interval`` over configurations and ``seed_interval`` over seeds,
    and the ``verdict``."""

    measure: str
    target: str
    tau: float
    competitor: str | None
    tau_competitor: float | None
    difference: float | None
    interval: tuple[float, float] | None
    seed_interval: tuple[float, float] | None
    verdict: Verdict
    n_runs: int

    def to_dict(self) -> dict:
        return {"tau": self.tau, "competitor": self.competitor,
                "tau_competitor": self.tau_competitor, "difference": self.difference,
                "interval": None if self.interval is None else list(self.interval),
                "seed_interval": None if self.seed_interval is None else list(self.seed_interval),
                "verdict": self.verdict, "n_runs": self.n_runs}


def _interval(values: list[float], confidence: float) -> tuple[float, float]:
    a = (1.0 - confidence) / 2.0
    low, high = np.quantile(np.asarray(values), [a, 1.0 - a])
    return float(low), float(high)


def _decide(low: float, high: float) -> Verdict:
    return "held" if low > 0 else "did not hold" if high < 0 else "tie"


def paired_rule(rows: Sequence[Mapping], measure: str | np.ndarray, target: str,
                competitors: Mapping[str, int], resamples: Resamples, *,
                confidence: float = 0.95, name: str | None = None) -> RuleResult:
    """The rule (module docstring) on complete ``rows``; ``measure`` is a column name or the
    values themselves (a control's synthetic column, then ``name`` labels it).
    ``competitors``: ``{column: sign}`` with signs ±1."""
    label = name if name is not None else str(measure)
    m = column(rows, measure) if isinstance(measure, str) else np.asarray(measure, float)
    g = column(rows, target)
    if m.shape != g.shape:
        raise ValueError(f"measure must have one value per run ({g.size}), got {m.shape}")
    bad = {c: s for c, s in competitors.items() if s not in (1, -1)}
    if bad:
        raise ValueError(f"competitor signs must be +1 or -1, got {bad}")
    own = _sign_products(m, g)
    tau = _tau(own)
    if is_constant(m):
        return RuleResult(label, target, tau, None, None, None, None, None, "not testable",
                          len(rows))
    if not competitors:
        raise ValueError("competitors must name at least one column, got none")
    theirs = {c: s * _sign_products(column(rows, c), g) for c, s in competitors.items()}
    best = max(theirs, key=lambda c: _tau(theirs[c]))

    def d(idx):
        return _tau(own, idx) - max(_tau(p, idx) for p in theirs.values())

    nested = _interval([d(i) for i in resamples.configurations], confidence)
    within = _interval([d(i) for i in resamples.seeds], confidence) if resamples.seeds else None
    return RuleResult(label, target, tau, best, _tau(theirs[best]), d(None), nested, within,
                      _decide(*nested), len(rows))
