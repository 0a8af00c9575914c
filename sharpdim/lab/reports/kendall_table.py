"""Kendall analysis of a sweep: for each measure and target, τ-a, ψ per factor and Ψ, with
percentile-bootstrap intervals — all computed by :mod:`sharpdim.lab.stats`.

Intervals: with several seeds per configuration the bootstrap resamples seeds within each
configuration (``group_by`` = the factors), the spread due to training noise; with one seed
it resamples runs (a plain bootstrap over the grid), which is wider and mixes configurations.
Which one was used is recorded in each row. Read the caveat of
:func:`sharpdim.lab.stats.bootstrap_ci` on τ-a ties in resamples.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sharpdim.lab.stats import BootstrapInterval, bootstrap_ci, granulated_kendall
from sharpdim.lab.sweeps.registry import TARGETS, names_with_role

__all__ = ["MEASURE_ORDER", "TARGETS", "KendallRow", "kendall_rows", "measures_present",
           "tau_by_group"]

# SD variants, then the baselines, then the paper's other measures (the registry's order)
MEASURE_ORDER = names_with_role("sd") + names_with_role("baseline") + names_with_role("measure")


@dataclass(frozen=True)
class KendallRow:
    """One measure against one target. ``tau_ci``/``Psi_ci``: bootstrap intervals (``None``
    when not computable: fewer than 3 records or a statistic undefined on every resample);
    ``bootstrap``: how records were resampled."""

    measure: str
    target: str
    n_records: int
    n_excluded: int
    tau: float
    tau_ci: BootstrapInterval | None
    psi: Mapping[str, float | None]
    Psi: float | None
    Psi_ci: BootstrapInterval | None
    bootstrap: str


def measures_present(records: Sequence[Mapping[str, Any]], *, minimum: int = 2) -> list[str]:
    """Measures of :data:`MEASURE_ORDER` with at least ``minimum`` finite values."""
    import math

    out = []
    for m in MEASURE_ORDER:
        n = sum(1 for r in records if isinstance(r.get(m), float | int)
                and math.isfinite(r[m]))
        if n >= minimum:
            out.append(m)
    return out


def _safe(stat):
    def wrapped(rows):
        try:
            return stat(rows)
        except ValueError:  # a resample without two usable records: no value
            return None
    return wrapped


def _coefficient_interval(records: Sequence[Mapping[str, Any]], measure: str, target: str,
                          factors: Sequence[str], coefficient: str, *, seed: int,
                          group_by: Sequence[str], n_resamples: int) -> BootstrapInterval | None:
    """The bootstrap interval of one field (``"tau"`` or ``"Psi"``) of the granulated Kendall
    coefficient of ``measure`` against ``target``; ``None`` where no interval can be formed."""
    def statistic(rs):
        return getattr(granulated_kendall(rs, measure, target, factors), coefficient)

    try:
        return bootstrap_ci(records, _safe(statistic), seed=seed, group_by=group_by,
                            n_resamples=n_resamples)
    except ValueError:
        return None


def kendall_rows(
    records: Sequence[Mapping[str, Any]],
    factors: Sequence[str],
    *,
    measures: Sequence[str] | None = None,
    targets: Sequence[str] = TARGETS,
    n_resamples: int = 400,
    seed: int = 0,
    replicated: bool = False,
    configuration: Sequence[str] | None = None,
) -> list[KendallRow]:
    """The Kendall table. ``replicated``: several seeds per configuration (bootstrap within
    configurations, the configuration being ``configuration``, default ``factors``);
    ``factors`` may be empty (then ψ/Ψ are not defined)."""
    measures = measures_present(records) if measures is None else list(measures)
    group_by = tuple(factors if configuration is None else configuration) if replicated else ()
    how = ("seeds resampled within each configuration" if replicated
           else "runs resampled over the whole grid (one seed per configuration)")
    rows = []
    for target in targets:
        for m in measures:
            usable = [r for r in records if target in r]
            if len(usable) < 2:
                continue
            # a baseline that is itself a factor (η, b) is ranked under an alias, so that the
            # cells still hold that factor fixed (its ψ for itself is then its τ within cells)
            facs = list(factors) or ["seed"]
            key = m
            if m in facs:
                key = "__measure__"
                usable = [{**r, key: r.get(m)} for r in usable]
            try:
                g = granulated_kendall(usable, key, target, facs)
            except ValueError:
                continue
            tau_ci = Psi_ci = None
            if g.n_records >= 3:
                interval = functools.partial(_coefficient_interval, usable, key, target, facs,
                                             seed=seed, group_by=group_by,
                                             n_resamples=n_resamples)
                tau_ci = interval("tau")
                if factors and g.Psi is not None:
                    Psi_ci = interval("Psi")
            rows.append(KendallRow(
                measure=m, target=target, n_records=g.n_records,
                n_excluded=g.n_excluded_measure + g.n_excluded_target, tau=g.tau,
                tau_ci=tau_ci, psi=dict(g.psi) if factors else {},
                Psi=g.Psi if factors else None, Psi_ci=Psi_ci, bootstrap=how))
    return rows


def tau_by_group(records: Sequence[Mapping[str, Any]], key: str, measures: Sequence[str],
                 target: str) -> dict[str, dict[Any, float | None]]:
    """τ-a of each measure against ``target`` within each value of ``key`` (e.g. per
    optimizer); ``None`` where a group has fewer than 2 usable records."""
    import math

    from sharpdim.lab.stats import kendall_tau

    groups = sorted({r[key] for r in records}, key=str)
    out: dict[str, dict[Any, float | None]] = {}
    for m in measures:
        out[m] = {}
        for g in groups:
            pairs = [(r[m], r[target]) for r in records if r[key] == g
                     and all(isinstance(r.get(k), int | float) and math.isfinite(r[k])
                             for k in (m, target))]
            out[m][g] = kendall_tau(*zip(*pairs, strict=True)) if len(pairs) >= 2 else None
    return out
