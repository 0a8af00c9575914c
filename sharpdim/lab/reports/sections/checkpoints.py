"""The sections of a sweep with checkpoints: along training, within each run — the
checkpoint rule, grokking and the regime per run, the decisive comparison and the Kendall
tables across checkpoints, and the change points."""

from __future__ import annotations

import numpy as np

from sharpdim.lab.reports.checkpoint_analysis import GENERALIZED, MEMORIZED, PLATEAU, SWEEP_RULE
from sharpdim.lab.reports.sections.context import (
    ReportContext,
    _ci,
    _md,
    _num,
    _pct,
    _rule_preamble,
)
from sharpdim.lab.stats import SERIES_VERDICT_RULE
from sharpdim.lab.sweeps.registry import TARGETS, label


def checkpoint_rule(c: ReportContext) -> list[str]:
    """Stated before any checkpoint result."""
    k = c.analysis.checkpoints
    if k is None:
        return []
    base = ", ".join(label(b) if b != "epoch" else "epoch (training time)" for b in k.baselines)
    return [*_rule_preamble(
                "How the checkpoint claims are judged (rules fixed before the results)",
                "Claim under test (the paper's Fig. 4): across the checkpoints of a run, SD "
                "tracks the generalization gap — better than the classical sharpness measures.",
                (SERIES_VERDICT_RULE, SWEEP_RULE), base, k.sd_variants),
            f"* number of comparisons: {k.n_comparisons} (runs × SD variants × targets), each "
            f"a {_pct(c)} % interval on its own (no multiplicity correction).",
            f"* bootstrap: moving blocks of round(n^(1/3)) consecutive checkpoints, "
            f"{k.n_resamples} resamples, seed 0. Blocks keep the dependence of neighbouring "
            "checkpoints; they do not remove a trend shared with training time, which is why "
            "the epoch itself is a baseline. A resample repeats checkpoints, repeated pairs are "
            "ties and τ-a counts them 0, so resampled τ lean toward 0 and an interval can lie "
            "below a perfect estimate: read it as spread, not as a centred interval.",
            f"* grokking: a run *memorizes* at the first checkpoint with train accuracy ≥ "
            f"{MEMORIZED:g} and *generalizes* at the first later one with test accuracy ≥ "
            f"{GENERALIZED:g}; it *groks* when test accuracy at memorization is ≤ {PLATEAU:g} "
            "(a plateau) and it generalizes later; the delay is the difference in epochs.",
            "* change point: the least-squares single change in mean of each series "
            "(`sharpdim.lab.stats.change_point`); lag = its epoch − test accuracy's (< 0: the "
            "measure moves first). Reported, not judged: the paper's curve claim has its own "
            "rule in the claims table.", ""]


def grokking(c: ReportContext) -> list[str]:
    k = c.analysis.checkpoints
    if k is None:
        return []
    lines = ["## Grokking and regime, per run", "",
             "| run | memorized (epoch) | test acc then | generalized (epoch) | delay | groks | "
             "final train / test | max η·λ_max / 2(1+β) | checkpoints at or above | late median "
             "| at the EoS |",
             "|---|---:|---:|---:|---:|---|---|---:|---:|---:|---|"]
    for d in k.delays:
        lines.append(f"| {_md(d.label)} | {_num(d.memorized, 'd')} | "
                     f"{_num(d.test_at_memorized, '.3f')} | {_num(d.generalized, 'd')} | "
                     f"{_num(d.delay, 'd')} | {'**yes**' if d.groks else 'no'} | "
                     f"{d.final_train:.3f} / {d.final_test:.3f} | "
                     f"{_num(d.eos_ratio_max, '.3g')} | "
                     f"{_num(d.eos_checkpoints, 'd')} of {d.n_checkpoints} | "
                     f"{_num(d.eos.late_median, '.3g')} | "
                     f"{'–' if d.eos.at_eos is None else 'yes' if d.eos.at_eos else 'no'} |")
    n_grok = sum(d.groks for d in k.delays)
    lines += ["", f"{n_grok} of {len(k.delays)} runs grok by the rule above. The EoS columns "
              "use η·λ_max of the training Hessian recorded at each checkpoint (see Setup for how "
              "it was measured); *late median* is the median of η·λ_max / 2(1+β) over the late "
              "checkpoints and *at the EoS* the criterion of the Regime section.", ""]
    return lines


def checkpoint_decisive(c: ReportContext) -> list[str]:
    k = c.analysis.checkpoints
    if k is None:
        return []
    lines = ["## Across checkpoints: SD against the best baseline of each run", ""]
    if not k.comparisons:
        return lines + ["Not evaluated: no SD variant with at least 3 checkpoints.",
                        *[f"* {e}" for e in k.comparison_errors], ""]
    lines += ["| run | target | SD variant | τ(SD) | best baseline | s·τ(baseline) | "
              f"d [{_pct(c)}% CI] | verdict |", "|---|---|---|---:|---|---:|---|---|"]
    for lab, d in k.comparisons:
        base = "epoch" if d.baseline == "epoch" else label(d.baseline)
        lines.append(f"| {_md(lab)} | {_md(label(d.target))} | {_md(label(d.measure))} | "
                     f"{d.tau_measure:+.3f} | {_md(base)}"
                     f"{' (reversed)' if d.sign < 0 else ''} | {d.sign * d.tau_baseline:+.3f} | "
                     f"{d.difference:+.3f}{_ci(d.interval)} | {d.verdict} |")
    lines += ["", "**Sweep verdicts** (rule above):", ""]
    for (m, t), (v, counts) in k.verdicts.items():
        lines.append(f"* {label(m)} on the {label(t)}: **{v}** (runs: "
                     + ", ".join(f"{n} {name}" for name, n in counts.items()) + ")")
    return lines + [*[f"* {e}" for e in k.comparison_errors], ""]


def checkpoint_kendall(c: ReportContext) -> list[str]:
    k = c.analysis.checkpoints
    if k is None or not k.taus:
        return []
    runs = [r.label for r in k.runs]
    lines = ["## Kendall τ across checkpoints, per run (the paper's Fig. 4 metric)", "",
             f"τ-a over a run's checkpoints with its {_pct(c)} % moving-block interval.", ""]
    for target in TARGETS:
        rows = [t for t in k.taus if t.target == target]
        if not rows:
            continue
        lines += [f"### against the {label(target)}", "",
                  "| measure | " + " | ".join(_md(r) for r in runs) + " |",
                  "|---|" + "---|" * len(runs)]
        by = {(t.measure, t.label): t for t in rows}
        for m in k.measures:
            cells = [(f"{by[(m, r)].interval.estimate:+.2f}{_ci(by[(m, r)].interval)}"
                      if (m, r) in by else "–") for r in runs]
            name = "epoch (training time)" if m == "epoch" else label(m)
            lines.append(f"| {_md(name)} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def change_points(c: ReportContext) -> list[str]:
    k = c.analysis.checkpoints
    if k is None or not k.change_points:
        return []
    runs = [r.label for r in k.runs]
    by = {(p.measure, p.label): p for p in k.change_points}
    test = {p.label: p.test_epoch for p in k.change_points}
    lines = ["## Change points against test accuracy (lag in epochs; < 0: earlier)", "",
             "Test accuracy changes at epoch " + ", ".join(
                 f"{test[r]} ({_md(r)})" for r in runs if r in test) + ".", "",
             "| measure | " + " | ".join(_md(r) for r in runs) + " | median lag |",
             "|---|" + "---:|" * (len(runs) + 1)]
    for m in dict.fromkeys(p.measure for p in k.change_points):
        lags = [by[(m, r)].lag for r in runs if (m, r) in by]
        cells = [(f"{by[(m, r)].lag:+d}" if (m, r) in by else "–") for r in runs]
        med = float(np.median(lags)) if lags else None
        lines.append(f"| {_md(label(m))} | " + " | ".join(cells) + f" | {_num(med, '+.0f')} |")
    return lines + [""]
