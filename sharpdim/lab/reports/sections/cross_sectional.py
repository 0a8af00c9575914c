"""The cross-sectional sections of a sweep report: one number per run, compared across
runs — the verdict rule, the decisive comparison, the Kendall tables, each optimizer on its
own, the bound and SD-SLQ against exact SD."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sharpdim.lab.evaluation.rule import is_constant
from sharpdim.lab.reports.analysis import MIN_RUNS_FOR_KENDALL
from sharpdim.lab.reports.sections.context import (
    ReportContext,
    _ci,
    _curves_only,
    _md,
    _num,
    _pct,
    _rule_preamble,
)
from sharpdim.lab.stats import VERDICT_RULE, is_finite_number, kendall_tau
from sharpdim.lab.sweeps.registry import SLQ_VALIDATION, TARGETS, label


def verdict_rule(c: ReportContext) -> list[str]:
    """Stated before any result."""
    a = c.analysis
    if _curves_only(c):
        return []
    base = ", ".join(label(b) for b in a.baselines) or "none recorded"
    return [*_rule_preamble(
                "How the headline claim is judged (rule fixed before the results)",
                "Claim under test (the paper's Figure 2): SD ranks the generalization gap "
                "better than simpler predictors.", (VERDICT_RULE,), base, a.sd_variants),
            f"* number of comparisons: {a.n_comparisons} (SD variants × targets); each "
            f"interval is a {_pct(c)} % interval on its own (no multiplicity correction), so "
            "with several comparisons one \"held\" or \"did not hold\" by chance is possible.",
            f"* bootstrap: {a.n_resamples} resamples, seed 0, "
            + ("seeds resampled within each configuration." if c.data.multi_seed else
               "runs resampled over the grid (one seed per configuration: the interval mixes "
               "configurations and is not a seed interval)."),
            "* confound checks printed beside each verdict: τ(SD, b) and τ(SD, η) (an SD that "
            "is a function of b ranks the gap only as well as b does).", ""]


def _decisive_table(c: ReportContext, rows, confounds=None) -> list[str]:
    confounds = c.analysis.confounds if confounds is None else confounds
    lines = ["| target | SD variant | τ(SD) | best baseline | s·τ(baseline) | d = τ(SD) − "
             f"s·τ(baseline) [{_pct(c)}% CI] | verdict | τ(SD, b) | τ(SD, η) |",
             "|---|---|---:|---|---:|---|---|---:|---:|"]
    for d in rows:
        conf = confounds.get(d.measure, {})
        lines.append(f"| {_md(label(d.target))} | {_md(label(d.measure))} | "
                     f"{d.tau_measure:+.3f} | "
                     f"{_md(label(d.baseline))}{' (reversed)' if d.sign < 0 else ''} | "
                     f"{d.sign * d.tau_baseline:+.3f} | {d.difference:+.3f}{_ci(d.interval)} | "
                     f"**{d.verdict}** | {_num(conf.get('batch_size'), '+.2f')} | "
                     f"{_num(conf.get('lr'), '+.2f')} |")
    return lines


def decisive(c: ReportContext) -> list[str]:
    a = c.analysis
    if _curves_only(c):
        return []
    lines = ["## Decisive comparison: SD against the best baseline", ""]
    if not a.decisive:
        why = ("no baseline was recorded" if not a.baselines else
               "no SD variant was recorded" if not a.sd_variants else
               f"fewer than {MIN_RUNS_FOR_KENDALL} runs with a generalization gap")
        return lines + [f"Not evaluated: {why}.", *[f"* {e}" for e in a.decisive_errors], ""]
    lines += _decisive_table(c, a.decisive)
    verdicts = Counter(d.verdict for d in a.decisive if d.target == "gen_gap")
    lines += ["", "**Bottom line** (accuracy gap, all finished runs): " + ", ".join(
        f"{n} {v}" for v, n in sorted(verdicts.items())) + f" out of "
        f"{sum(verdicts.values())} SD variants.", ""]
    if a.decisive_converged:
        n_conv = sum(r.get("converged") == 1.0 for r in a.records)
        lines += [f"### Converged runs only ({n_conv} of {len(a.records)} runs met the stopping "
                  "criterion)", ""] + _decisive_table(c, a.decisive_converged,
                                                  a.confounds_converged) + [""]
    if a.decisive_nondegenerate:
        n_alive = sum(r["run_id"] not in a.degenerate for r in a.records)
        lines += [f"### Without the degenerate runs ({n_alive} of {len(a.records)} runs; a "
                  "check a sceptic asks for, judged by the same rule)", ""] + _decisive_table(
                      c, a.decisive_nondegenerate, a.confounds_nondegenerate) + [""]
    return lines + [*[f"* {e}" for e in a.decisive_errors], ""] if a.decisive_errors else lines


def kendall(c: ReportContext) -> list[str]:
    a = c.analysis
    if _curves_only(c):
        return []
    lines = ["## Kendall correlations", "",
             "τ is Kendall's τ-a over all runs (ties count 0; `sharpdim.lab.stats.kendall_tau`); "
             "ψ_f is the mean τ over the cells where only factor f varies and Ψ the mean of the "
             "ψ (Jiang et al. 2019; `sharpdim.lab.stats.granulated_kendall`). For a baseline "
             "that is itself a factor (η, b), ψ for that factor is the τ of the factor's own "
             "levels with the gap inside each cell (how the factor alone orders the gap). "
             f"Intervals: {_pct(c)}% percentile bootstrap, {a.n_resamples} resamples, seed 0.", ""]
    if len(a.records) < MIN_RUNS_FOR_KENDALL:
        return lines + [f"Only {len(a.records)} runs with a generalization gap (fewer than "
                        f"{MIN_RUNS_FOR_KENDALL}): too few for rank correlations; this sweep "
                        "is about the curves across checkpoints.", ""]
    factors = list(a.pooled_factors)
    if a.pooled_note:
        lines += [f"Note: {a.pooled_note}.", ""]
    for target in TARGETS:
        lines += [f"### against the {label(target)}", ""]
        rel = [r for r in a.kendall if r.target == target]
        if not rel:
            lines += [f"No measure has two finite values against `{target}`.", ""]
            continue
        head = ["measure", "n", f"τ [{_pct(c)}% CI]"] + [f"ψ_{f}" for f in factors]
        head += [f"Ψ [{_pct(c)}% CI]"] if factors else []
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in rel:
            cells = [_md(label(r.measure)), str(r.n_records), _tau_cell(r, a.records)]
            cells += [_num(r.psi.get(f), "+.3f") for f in factors]
            if factors:
                cells.append(("–" if r.Psi is None else f"{r.Psi:+.3f}") + _ci(r.Psi_ci))
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    for target, table in a.per_optimizer.items():
        if not table:
            continue
        opts = list(next(iter(table.values())))
        lines += [f"τ within each optimizer against the {label(target)}:", "",
                  "| measure | " + " | ".join(map(str, opts)) + " |",
                  "|---|" + "---:|" * len(opts)]
        for m, per in table.items():
            lines.append(f"| {_md(label(m))} | " + " | ".join(_num(per[o], "+.3f") for o in opts)
                         + " |")
        lines.append("")
    return lines


def per_optimizer(c: ReportContext) -> list[str]:
    """Each optimizer on its own: its lr axis, its Kendall table, its decisive comparison."""
    a = c.analysis
    if not a.per_optimizer_tables:
        return []
    lines = ["## Each optimizer on its own (like with like)", "",
             "Optimizers differ in their lr axes and in the state their update Jacobian acts on "
             "(N, 2N, 3N), so each is analysed alone, by the same rules as above. Loss gaps are "
             "in nats; beside them the accuracy gaps, and τ between the two over the "
             "optimizer's runs (a loss gap that does not follow the accuracy gap is a warning "
             "about the target, not about SD).", "",
             "| optimizer | runs | median accuracy gap | median loss gap (nats) | τ(loss gap, "
             "accuracy gap) |", "|---|---:|---:|---:|---:|"]
    for o in a.per_optimizer_tables:
        lines.append(f"| {o.optimizer} | {o.n_runs} | {_num(o.median_gen_gap)} | "
                     f"{_num(o.median_loss_gap)} | {_num(o.tau_loss_vs_accuracy_gap, '+.2f')} |")
    lines.append("")
    for o in a.per_optimizer_tables:
        lines += [f"### {o.optimizer} ({o.n_runs} runs; factors {list(o.factors)})", ""]
        if o.decisive:
            lines += _decisive_table(c, o.decisive, o.confounds) + [""]
        else:
            lines += [f"Decisive comparison not evaluated (fewer than {MIN_RUNS_FOR_KENDALL} "
                      "runs or no SD variant).", ""]
        rows = [r for r in o.kendall if r.target == "gen_gap"]
        if rows:
            head = ["measure", "n", f"τ [{_pct(c)}% CI]"] + [f"ψ_{f}" for f in o.factors]
            lines += [f"τ against the {label('gen_gap')}:", "",
                      "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            mine = [rec for rec in a.records if rec.get("optimizer") == o.optimizer]
            for r in rows:
                cells = [_md(label(r.measure)), str(r.n_records), _tau_cell(r, mine)]
                cells += [_num(r.psi.get(f), "+.3f") for f in o.factors]
                lines.append("| " + " | ".join(cells) + " |")
            lines.append("")
    return lines


def _tau_cell(r, records: Sequence[Mapping[str, Any]]) -> str:
    """τ with its interval, or "not testable" when the measure is constant over the records
    (a τ of rounding residue: AdamW's update-Jacobian SD is 3N in every run)."""
    values = np.array([rec[r.measure] for rec in records if is_finite_number(rec.get(r.measure))
                       and is_finite_number(rec.get(r.target))], dtype=float)
    if values.size >= 2 and is_constant(values):
        return "not testable (constant)"
    return f"{r.tau:+.3f}{_ci(r.tau_ci)}"


def bound(c: ReportContext) -> list[str]:
    b = c.analysis.bounds
    if not b:
        return []
    lines = ["## Theorem 4.5, evaluated: predicted against measured generalization", "",
             "Computable part min over δ ∈ (0, e^{-1/2}] of 2Lδ + 2B·√(4·SD·ln(1/δ)/n) "
             "(`sharpdim.lab.bounds.theorem_4_5_bound`), L = largest per-example gradient norm and "
             "B = largest per-example loss over the training set at the last iterates (and over "
             "the test set, where the sweep recorded it: `bound_B_test`), beside "
             "the measured worst-case loss gap over the same iterates. The theorem needs B to "
             "bound the loss of every example; a training-set B, where it is all a sweep "
             "recorded, is an optimistic stand-in. **Left out** (not computable): "
             "(I_∞ + ln(1/ζ))/√n and C·B²/√n — so the printed bound is a lower bound of the "
             "theorem's, and its vacuity factor a lower bound of the true one.", "",
             "| run | SD used | SD | L | B | n | δ* | bound | measured worst gap | bound / gap |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for x in b:
        lines.append(f"| {_md(c.data.label_of(x.run_id))} | {_md(label(x.sd_name))} | "
                     f"{x.bound.sd:.4g} | "
                     f"{x.bound.L:.3g} | {x.bound.B:.3g} | {x.bound.n} | {x.bound.delta:.2g} | "
                     f"{x.bound.value:.3g} | {x.measured_gap:.3g} | {_num(x.vacuous_factor)} |")
    factors = sorted(x.vacuous_factor for x in b if math.isfinite(x.vacuous_factor))
    if factors:
        below = sum(f < 1 for f in factors)
        lines += ["", f"The computed part exceeds the measured gap by a factor "
                  f"{factors[0]:.3g}–{factors[-1]:.3g} (median {float(np.median(factors)):.3g})"
                  f" and exceeds B in "
                  f"{sum(x.bound.value >= x.bound.B for x in b)} of {len(b)} runs."
                  + (f" In {below} run(s) it is below the measured gap: not a violation of "
                     "the theorem, whose left-out terms are positive and whose B must bound "
                     "every example's loss, which a training-set B does not." if below else "")]
    return lines + [""]


def slq_against_exact(c: ReportContext) -> list[str]:
    """SD-SLQ beside exact SD on the runs that have both: the estimator's error where the
    differences between runs live (in N − SD), and whether it keeps their order."""
    ref, est = SLQ_VALIDATION
    n_of = {r["run_id"]: r["n_parameters"] for r in c.data.runs if r["n_parameters"]}
    pairs = [(rec[est], rec[ref], n_of.get(rec["run_id"])) for rec in c.analysis.records
             if is_finite_number(rec.get(est)) and is_finite_number(rec.get(ref))]
    if len(pairs) < 2:
        return []
    slq, exact, n = (np.array([p[i] for p in pairs], dtype=float) for i in range(3))
    err = np.abs(slq - exact)
    transverse = n - exact
    rel = err[transverse > 0] / transverse[transverse > 0]
    tau = kendall_tau(slq.tolist(), exact.tolist())
    return ["## SD-SLQ against exact SD", "",
            f"On the {len(pairs)} runs with both: |SD-SLQ − exact SD| median {np.median(err):.3g} "
            f"(range {err.min():.3g}–{err.max():.3g}); as a share of N − SD (where the "
            f"differences between runs live) median {np.median(rel):.1%}, largest "
            f"{rel.max():.1%}; Kendall τ between the two {tau:+.3f} (1: SD-SLQ orders the runs "
            "as exact SD does).", ""] if rel.size else []
