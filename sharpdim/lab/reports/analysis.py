"""The analysis behind a sweep report, computed once from :class:`SweepData`.

* the Kendall table (τ, ψ, Ψ with bootstrap intervals) of every ranked measure of the
  registry — SD variants, baselines, the paper's other measures;
* the decisive comparison: for each SD variant and target, the paired difference
  τ(SD) − s·τ(best baseline) with a seed-stratified bootstrap interval and the verdict of
  :data:`sharpdim.lab.stats.VERDICT_RULE`; the number of comparisons;
* confound checks τ(SD, b) and τ(SD, η);
* the regime: how many runs reach the edge of stability and where λ₁ > 0 comes from;
* Theorem 4.5's computable part per run beside the measured worst-case loss gap;
* the paper's claims (:mod:`sharpdim.lab.reports.claims`);
* for sweeps with checkpoints, the per-run analysis across checkpoints
  (:mod:`sharpdim.lab.reports.checkpoint_analysis`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sharpdim.lab.bounds import BoundValue, theorem_4_5_bound
from sharpdim.lab.evaluation.rule import is_constant
from sharpdim.lab.reports.checkpoint_analysis import CheckpointAnalysis, analyse_checkpoints
from sharpdim.lab.reports.claims import ClaimVerdict, grokking_claims, kendall_claims
from sharpdim.lab.reports.kendall_table import (
    KendallRow,
    kendall_rows,
    measures_present,
    tau_by_group,
)
from sharpdim.lab.reports.sweep_data import SweepData
from sharpdim.lab.stats import (
    PairedDifference,
    is_finite_number,
    kendall_tau,
    paired_tau_difference,
)
from sharpdim.lab.sweeps.degenerate import degenerate_reason
from sharpdim.lab.sweeps.measures import hyperparameter_baselines, state_size
from sharpdim.lab.sweeps.registry import (
    BOUND_B_TEST,
    BOUND_INPUTS,
    EOS_RATIO,
    LAMBDA_1_SOURCE,
    STATE_SIZE_DEPENDENT,
    TARGETS,
    UPDATE_SD,
    names_in_family,
    names_with_role,
)

__all__ = ["MIN_RUNS_FOR_KENDALL", "RunBound", "Regime", "OptimizerAnalysis", "Analysis",
           "analyse", "with_baselines", "with_state_normalised"]

MIN_RUNS_FOR_KENDALL = 4  # fewer runs give too few pairs for a rank correlation to mean much



def with_baselines(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Records with the hyperparameter baselines (η, 1/b, η/b) filled in where a sweep file
    predates the ``baselines`` group (same formula: :func:`hyperparameter_baselines`)."""
    out = []
    for r in records:
        derived = hyperparameter_baselines(r["lr"], r["batch_size"])
        out.append({**derived, **r} if "gen_gap" in r else dict(r))
    return out


def with_state_normalised(records: Sequence[Mapping[str, Any]],
                          n_parameters: Mapping[str, int | None]) -> list[dict[str, Any]]:
    """Records with the update-Jacobian SD divided by the optimizer's state size (``UPDATE_SD``)
    (:func:`~sharpdim.lab.sweeps.measures.state_size`) filled in where a sweep file predates
    that output (``n_parameters``: by run id)."""
    raw, per_state = UPDATE_SD
    out = []
    for r in records:
        n = n_parameters.get(r["run_id"])
        if per_state not in r and is_finite_number(r.get(raw)) and n and r.get("optimizer"):
            r = {**r, per_state: r[raw] / state_size(r["optimizer"], n)}
        out.append(dict(r))
    return out


@dataclass(frozen=True)
class OptimizerAnalysis:
    """One optimizer's runs on their own (its own lr axis): its Kendall table, the decisive
    comparison within it, and the loss-gap sanity check — the median accuracy gap and loss
    gap (nats) and τ(loss gap, accuracy gap) over its runs."""

    optimizer: str
    n_runs: int
    factors: tuple[str, ...]
    kendall: tuple[KendallRow, ...]
    decisive: tuple[PairedDifference, ...]
    median_gen_gap: float | None
    median_loss_gap: float | None
    tau_loss_vs_accuracy_gap: float | None
    confounds: Mapping[str, Mapping[str, float | None]] = field(default_factory=dict)


@dataclass(frozen=True)
class RunBound:
    """Theorem 4.5's computable part for one run (with the SD variant it used) beside the
    measured worst-case loss gap over the last iterates; ``vacuous_factor`` = bound / gap
    (``inf`` when the measured gap is ≤ 0)."""

    run_id: str
    sd_name: str
    bound: BoundValue
    measured_gap: float
    vacuous_factor: float


@dataclass(frozen=True)
class Regime:
    """Where the sweep's finished runs sit: ``n_runs`` with EoS diagnostics, how many reach
    the threshold on the full-batch and on the minibatch Hessian, how many have λ₁ > 0 on a
    majority of minibatches from the top eigenvalue / from negative curvature."""

    n_runs: int
    at_eos_full: int
    at_eos_minibatch: int
    from_top: int
    from_negative: int
    converged: int | None
    n_converged_known: int


@dataclass(frozen=True)
class Analysis:
    records: tuple[Mapping[str, Any], ...]
    present: tuple[str, ...]
    kendall: tuple[KendallRow, ...]
    per_optimizer: Mapping[str, Mapping[str, Mapping[Any, float | None]]]
    decisive: tuple[PairedDifference, ...]
    decisive_errors: tuple[str, ...]
    decisive_converged: tuple[PairedDifference, ...]
    baselines: tuple[str, ...]
    sd_variants: tuple[str, ...]
    confounds: Mapping[str, Mapping[str, float | None]]
    regime: Regime | None
    bounds: tuple[RunBound, ...]
    claims: tuple[ClaimVerdict, ...]
    n_resamples: int
    confidence: float
    degenerate: Mapping[str, str] = field(default_factory=dict)
    decisive_nondegenerate: tuple[PairedDifference, ...] = ()
    # τ(SD, b), τ(SD, η) over the same subsets as decisive_converged / _nondegenerate
    confounds_converged: Mapping[str, Mapping[str, float | None]] = field(default_factory=dict)
    confounds_nondegenerate: Mapping[str, Mapping[str, float | None]] = field(
        default_factory=dict)
    checkpoints: CheckpointAnalysis | None = None
    per_optimizer_tables: tuple[OptimizerAnalysis, ...] = ()
    pooled_factors: tuple[str, ...] = ()
    pooled_note: str = ""

    @property
    def n_comparisons(self) -> int:
        return len(self.decisive)


def _regime(done: Sequence[Mapping[str, Any]]) -> Regime | None:
    full, mini, thr = EOS_RATIO
    rows = [r for r in done if is_finite_number(r.get(full)) and is_finite_number(r.get(thr))]
    conv = [r["converged"] for r in done if is_finite_number(r.get("converged"))]
    if not rows and not conv:
        return None
    return Regime(
        n_runs=len(rows),
        at_eos_full=sum(r[full] >= r[thr] for r in rows),
        at_eos_minibatch=sum(is_finite_number(r.get(mini)) and r[mini] >= r[thr] for r in rows),
        from_top=sum(r.get(LAMBDA_1_SOURCE[0], 0) > 0.5 for r in rows),
        from_negative=sum(r.get(LAMBDA_1_SOURCE[1], 0) > 0.5 for r in rows),
        converged=int(sum(conv)) if conv else None, n_converged_known=len(conv))


def _bounds(done: Sequence[Mapping[str, Any]]) -> list[RunBound]:
    out = []
    sd_names = names_in_family("sd")
    for r in done:
        if not all(is_finite_number(r.get(k)) for k in BOUND_INPUTS):
            continue
        sd_name = next((m for m in sd_names if is_finite_number(r.get(m))), None)
        if sd_name is None:
            continue
        L, B, n, gap = (r[k] for k in BOUND_INPUTS)
        if is_finite_number(r.get(BOUND_B_TEST)):  # recorded by sweeps since it was added
            B = max(B, r[BOUND_B_TEST])
        b = theorem_4_5_bound(r[sd_name], L, B, int(n))
        out.append(RunBound(r["run_id"], sd_name, b, gap,
                            b.value / gap if gap > 0 else math.inf))
    return out


def _confounds(rows: Sequence[Mapping[str, Any]],
               variants: Sequence[str]) -> dict[str, dict[str, float | None]]:
    """τ(SD, b) and τ(SD, η) over ``rows``: an SD that is a function of b or η ranks the gap
    only as well as b or η does."""
    out: dict[str, dict[str, float | None]] = {}
    for m in variants:
        out[m] = {}
        for key in ("batch_size", "lr"):
            pairs = [(r[m], r[key]) for r in rows if is_finite_number(r.get(m))]
            out[m][key] = kendall_tau(*zip(*pairs, strict=True)) if len(pairs) >= 2 else None
    return out


def _degenerate(data: SweepData) -> dict[str, str]:
    """``{run_id: reason}`` of the finished runs flagged by
    :func:`sharpdim.lab.sweeps.degenerate.degenerate_reason` (last stored epoch wins)."""
    profile_of = {rid: a for (rid, _), a in sorted(data.profiles.items())}
    hessian_of = {rid: a for (rid, _), a in sorted(data.hessian.items())}
    status = {r["run_id"]: r["status"] for r in data.runs}
    out = {}
    for r in data.records:
        if status.get(r["run_id"]) != "finished":
            continue
        reason = degenerate_reason(r, profile=profile_of.get(r["run_id"]),
                                   hessian=hessian_of.get(r["run_id"]))
        if reason:
            out[r["run_id"]] = reason
    return out


def _pooled_measures_and_factors(data: SweepData, done: list[dict[str, Any]]
                                 ) -> tuple[list[str], list[str], str]:
    """The measures and factors of the pooled Kendall table, and the note that says what was
    left out of it: with several optimizers the raw update-Jacobian measures (state sizes N,
    2N, 3N) are ranked within an optimizer only, and an optimizer-specific lr or
    weight-decay axis leaves no cell to granulate over (τ only)."""
    factors = data.factors
    present = measures_present(done)
    note = ""
    pooled_factors = list(factors)
    if "optimizer" in factors and len({r.get("optimizer") for r in done}) > 1:
        present = [m for m in present if m not in STATE_SIZE_DEPENDENT]
        grid = data.canonical.get("grid", {})
        own = [k for k in ("lr", "weight_decay") if isinstance(grid.get(k), Mapping)
               and len({tuple(v) for v in grid[k].values()}) > 1]
        if own:
            pooled_factors = []
            note = (f"each optimizer has its own {' and '.join(own)} axis, so no cell holds "
                    "every other factor fixed across optimizers: the pooled table gives τ only, "
                    "and the granulated coefficients are computed within each optimizer (see "
                    "the per-optimizer tables)")
        if any(m in STATE_SIZE_DEPENDENT for m in measures_present(done)):
            note = (note + "; " if note else "") + (
                "the raw update-Jacobian SD and λ₁ live on state spaces of size N, 2N, 3N "
                "and are ranked within each optimizer only; pooled tables use SD / state size")
    return present, pooled_factors, note


def _decisive_comparisons(rows: Sequence[Mapping[str, Any]], note: str, *,
                          variants: Sequence[str], baselines: Sequence[str],
                          group_by: Sequence[str], n_resamples: int, confidence: float,
                          errors: list[str]) -> list[PairedDifference]:
    """Each SD variant against the best of ``baselines``, per target (none with fewer than
    :data:`MIN_RUNS_FOR_KENDALL` rows); a comparison that cannot be made is appended to
    ``errors`` (``note`` says on which runs), a constant variant is "not testable"."""
    out = []
    if len(rows) < MIN_RUNS_FOR_KENDALL or not baselines:
        return out
    for target in TARGETS:
        for m in variants:
            try:
                d = paired_tau_difference(
                    rows, m, baselines, target, group_by=group_by, seed=0,
                    n_resamples=n_resamples, confidence=confidence)
                values = np.asarray([r[m] for r in rows if is_finite_number(r.get(m))],
                                    dtype=float)
                if is_constant(values):  # AdamW's update SD ≡ 3N: τ ranks rounding residue
                    d = dataclasses.replace(d, verdict="not testable")
                out.append(d)
            except ValueError as exc:
                errors.append(f"{m} vs baselines on {target}{note}: {exc}")
    return out


def _optimizer_analysis(opt: str, rows: list[dict[str, Any]], factors: Sequence[str], *,
                        multi_seed: bool, n_resamples: int,
                        compare: Callable[..., list[PairedDifference]]) -> OptimizerAnalysis:
    """The analysis of one optimizer's runs ``rows``, over the factors that vary within them
    (``compare``: :func:`_decisive_comparisons` with the shared settings bound)."""
    inner = tuple(f for f in factors if f != "optimizer"
                  and len({r.get(f) for r in rows}) > 1)
    here = measures_present(rows)
    kr = (kendall_rows(rows, inner, measures=here, n_resamples=n_resamples,
                       replicated=multi_seed)
          if len(rows) >= MIN_RUNS_FOR_KENDALL and here else [])
    # within one optimizer SD / state size ranks exactly like SD: not a second variant
    variants = tuple(m for m in names_with_role("sd") if m in here and m != UPDATE_SD[1])
    gaps = [(r["loss_gap"], r["gen_gap"]) for r in rows
            if is_finite_number(r.get("loss_gap")) and is_finite_number(r.get("gen_gap"))]
    return OptimizerAnalysis(
        optimizer=opt, n_runs=len(rows), factors=inner, kendall=tuple(kr),
        decisive=tuple(compare(rows, f" ({opt} runs)", variants=variants,
                               group_by=inner)),
        median_gen_gap=(float(np.median([g for _, g in gaps])) if gaps else None),
        median_loss_gap=(float(np.median([lg for lg, _ in gaps])) if gaps else None),
        tau_loss_vs_accuracy_gap=(kendall_tau(*zip(*gaps, strict=True))
                                  if len(gaps) >= 2 else None),
        confounds=_confounds(rows, variants))


def _series_claims(series: Mapping[str, Mapping[str, Any]]) -> list[ClaimVerdict]:
    """The grokking claims of the checkpoint series (none without an SD and a λ₁ series)."""
    sd_name = next((m for m in names_in_family("sd")
                    if any(m in per for per in series.values())), None)
    lam_name = next((m for m in names_in_family("lambda")
                     if any(m in per for per in series.values())), None)
    if not (sd_name and lam_name):
        return []
    return list(grokking_claims(series, sd_name=sd_name, lambda_name=lam_name))


def _subset_comparison(compare: Callable[..., list[PairedDifference]],
                       rows: list[dict[str, Any]], done: Sequence[Any],
                       note: str) -> list[PairedDifference]:
    """The decisive comparisons on a subset of the runs, when it is a proper non-empty one."""
    return compare(rows, note) if 0 < len(rows) < len(done) else []


def analyse(data: SweepData, *, n_resamples: int = 400,
            confidence: float = 0.95) -> Analysis:
    """Every number the report prints (see the module docstring)."""
    done = with_state_normalised(with_baselines(data.done),
                                 {r["run_id"]: r.get("n_parameters") for r in data.runs})
    factors = data.factors
    present, pooled_factors, note = _pooled_measures_and_factors(data, done)
    enough = len(done) >= MIN_RUNS_FOR_KENDALL
    krows = kendall_rows(done, pooled_factors, measures=present, n_resamples=n_resamples,
                         replicated=data.multi_seed, configuration=factors
                         ) if enough and present else []
    per_opt = ({t: tau_by_group(done, "optimizer", present, t) for t in TARGETS}
               if "optimizer" in factors and present else {})
    sd_variants = tuple(m for m in names_with_role("sd") if m in present)
    baselines = tuple(m for m in names_with_role("baseline") if m in present)
    errors: list[str] = []

    def compare(rows, note: str, variants=sd_variants,
                group_by=tuple(factors)) -> list[PairedDifference]:
        return _decisive_comparisons(rows, note, variants=variants, baselines=baselines,
                                     group_by=group_by if data.multi_seed else (),
                                     n_resamples=n_resamples,
                                     confidence=confidence, errors=errors)

    decisive = compare(done, "")
    # runs that missed the stopping criterion are analysed separately: the same comparison
    # on the converged runs alone, when some but not all converged
    converged = [r for r in done if r.get("converged") == 1.0]
    decisive_converged = _subset_comparison(compare, converged, done, " (converged runs)")
    # a sceptic's check: the same comparison without the runs flagged degenerate (dead
    # networks, whose SD = N counts flat directions), when some but not all are
    degenerate = _degenerate(data)
    alive = [r for r in done if r["run_id"] not in degenerate]
    decisive_nondegenerate = _subset_comparison(compare, alive, done, " (non-degenerate runs)")
    confounds = _confounds(done, sd_variants)
    per_optimizer_tables = []
    if "optimizer" in factors and len({r.get("optimizer") for r in done}) > 1:
        for opt in sorted({r["optimizer"] for r in done}):
            per_optimizer_tables.append(_optimizer_analysis(
                opt, [r for r in done if r["optimizer"] == opt], factors,
                multi_seed=data.multi_seed, n_resamples=n_resamples, compare=compare))
    claims = list(kendall_claims(krows, by_optimizer=per_opt.get("gen_gap"))) if krows else []
    if data.series:
        claims += _series_claims(data.series)
    return Analysis(records=tuple(done), present=tuple(present), kendall=tuple(krows),
                    per_optimizer=per_opt, decisive=tuple(decisive),
                    decisive_errors=tuple(errors),
                    decisive_converged=tuple(decisive_converged), baselines=baselines,
                    sd_variants=sd_variants, confounds=confounds, regime=_regime(done),
                    bounds=tuple(_bounds(done)), claims=tuple(claims),
                    n_resamples=n_resamples, confidence=confidence,
                    degenerate=degenerate,
                    decisive_nondegenerate=tuple(decisive_nondegenerate),
                    confounds_converged=(_confounds(converged, sd_variants)
                                         if decisive_converged else {}),
                    confounds_nondegenerate=(_confounds(alive, sd_variants)
                                             if decisive_nondegenerate else {}),
                    checkpoints=analyse_checkpoints(data, n_resamples=n_resamples,
                                                    confidence=confidence),
                    per_optimizer_tables=tuple(per_optimizer_tables),
                    pooled_factors=tuple(pooled_factors), pooled_note=note)
