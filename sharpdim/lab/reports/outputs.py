"""The machine-readable outputs of a sweep report: ``results.csv`` (one row per run),
``checkpoints.csv`` (one row per run × checkpoint, for sweeps with checkpoints) and
``kendall.json`` (the tables, the decisive comparisons and the verdicts)."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from sharpdim.lab.reports.analysis import Analysis
from sharpdim.lab.reports.checkpoint_analysis import checkpoint_table
from sharpdim.lab.reports.sweep_data import SweepData
from sharpdim.lab.sweeps.registry import MEASURES, RESULTS_COLUMNS

__all__ = ["LEADING_COLUMNS", "write_csv", "write_checkpoints_csv", "write_json"]

LEADING_COLUMNS = RESULTS_COLUMNS  # the registry's results.csv columns
_RUN = ("run_id", "weight_decay", "optimizer", "epochs_completed", "n_parameters", "seconds",
        "seed_init", "seed_order", "seed_measures", "degenerate")
_BOUND = ("bound_sd", "bound_value", "bound_delta", "bound_vacuous_factor")


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else str(v)
    return str(v)


def write_csv(path: Path, data: SweepData, analysis: Analysis) -> None:
    recs = {r["run_id"]: r for r in analysis.records}
    bounds = {b.run_id: b for b in analysis.bounds}
    keys = {k for r in analysis.records for k in r}
    factor_cols = [f for f in data.factors if f not in LEADING_COLUMNS + _RUN]
    rest = [n for n in MEASURES if n in keys and n not in LEADING_COLUMNS
            and n not in factor_cols]   # a factor that is also a measure: one column
    rest += sorted(keys - set(MEASURES) - set(LEADING_COLUMNS) - set(_RUN) - set(factor_cols)
                   - {"status"})
    cols = list(LEADING_COLUMNS) + factor_cols + list(_RUN) + rest + list(_BOUND)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for run in data.runs:
            rec = recs.get(run["run_id"], {})
            s = data.seeds.get(run["run_id"], {})
            b = bounds.get(run["run_id"])
            row = {**rec, **{k: run[k] for k in ("lr", "batch_size", "seed", "status", "run_id",
                                                "weight_decay", "optimizer", "epochs_completed",
                                                "n_parameters")},
                   "steps": rec.get("steps", run["steps"]),
                   "seconds": None if run["seconds"] is None else round(run["seconds"], 1),
                   "seed_init": s.get("init"), "seed_order": s.get("order"),
                   "seed_measures": s.get("measures"),
                   "degenerate": analysis.degenerate.get(run["run_id"], "")}
            if b is not None:
                row.update({"bound_sd": b.sd_name, "bound_value": b.bound.value,
                            "bound_delta": b.bound.delta,
                            "bound_vacuous_factor": b.vacuous_factor})
            w.writerow([_cell(row.get(c)) for c in cols])


def write_checkpoints_csv(path: Path, analysis: Analysis) -> bool:
    """``checkpoints.csv`` (:func:`~sharpdim.lab.reports.checkpoint_analysis.checkpoint_table`);
    ``False`` (nothing written) when the sweep has no checkpoint series."""
    if analysis.checkpoints is None:
        return False
    header, rows = checkpoint_table(analysis.checkpoints.runs)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return True


def _checkpoint_json(analysis: Analysis) -> dict[str, Any] | None:
    c = analysis.checkpoints
    if c is None:
        return None
    return {
        "sd_variants": list(c.sd_variants), "baselines": list(c.baselines),
        "n_comparisons": c.n_comparisons,
        "delays": [dataclasses.asdict(d) for d in c.delays],
        "tau": [{"run": t.label, "measure": t.measure, "target": t.target, "n": t.n,
                 "tau": t.interval.estimate, "interval": _ci(t.interval),
                 "method": t.interval.method} for t in c.taus],
        "decisive": [{"run": lab, "measure": d.measure, "target": d.target,
                      "best_baseline": d.baseline, "sign": d.sign,
                      "tau_measure": d.tau_measure, "tau_baseline": d.tau_baseline,
                      "difference": d.difference, "interval": _ci(d.interval),
                      "verdict": d.verdict, "candidates": d.candidates}
                     for lab, d in c.comparisons],
        "verdicts": [{"measure": m, "target": t, "verdict": v, "run_verdicts": counts}
                     for (m, t), (v, counts) in c.verdicts.items()],
        "change_points": [r.__dict__ for r in c.change_points],
        "errors": list(c.comparison_errors),
    }


def _ci(c) -> dict[str, Any] | None:
    return None if c is None else {"low": c.low, "high": c.high, "confidence": c.confidence,
                                   "n_resamples": c.n_resamples, "seed": c.seed,
                                   "n_failed": c.n_failed}


def write_json(path: Path, data: SweepData, analysis: Analysis) -> None:
    def num(v):
        return v if v is None or math.isfinite(v) else str(v)

    payload = {
        "factors": data.factors,
        "kendall": [{"measure": r.measure, "target": r.target, "n": r.n_records,
                     "tau": r.tau, "tau_ci": _ci(r.tau_ci), "psi": r.psi, "Psi": r.Psi,
                     "Psi_ci": _ci(r.Psi_ci), "bootstrap": r.bootstrap}
                    for r in analysis.kendall],
        "decisive": [{"measure": d.measure, "target": d.target, "best_baseline": d.baseline,
                      "sign": d.sign, "tau_measure": d.tau_measure,
                      "tau_baseline": d.tau_baseline, "difference": d.difference,
                      "interval": _ci(d.interval), "verdict": d.verdict,
                      "candidates": d.candidates} for d in analysis.decisive],
        "decisive_converged_only": [
            {"measure": d.measure, "target": d.target, "best_baseline": d.baseline,
             "difference": d.difference, "interval": _ci(d.interval), "verdict": d.verdict}
            for d in analysis.decisive_converged],
        "decisive_nondegenerate_only": [
            {"measure": d.measure, "target": d.target, "best_baseline": d.baseline,
             "difference": d.difference, "interval": _ci(d.interval), "verdict": d.verdict}
            for d in analysis.decisive_nondegenerate],
        "n_comparisons": analysis.n_comparisons,
        "confounds": analysis.confounds,
        "confounds_converged_only": analysis.confounds_converged,
        "confounds_nondegenerate_only": analysis.confounds_nondegenerate,
        "bounds": [{"run_id": b.run_id, "sd": b.sd_name, "value": b.bound.value,
                    "delta": b.bound.delta, "measured_gap": b.measured_gap,
                    "vacuous_factor": num(b.vacuous_factor)} for b in analysis.bounds],
        "claims": [c.__dict__ for c in analysis.claims],
        "checkpoints": _checkpoint_json(analysis),
    }
    path.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
