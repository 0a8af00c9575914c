"""The evaluation protocol: which runs are compared, against what, and what they say.

Fixed before any result is read (and printed first in every report):

1. **Primary runs** — finished runs whose final training loss is at most the sweep's
   ``target_train_loss`` (a common fit: Jiang et al.'s comparable runs) and that did not
   collapse (train accuracy within :data:`CHANCE_MARGIN` of chance, or a degenerate-curvature
   flag). Every other run is excluded with its reason; fewer than :data:`MIN_PRIMARY_RUNS`
   primary runs and every comparison reads "cannot decide".
2. **Comparison sets** with signs fixed in advance (:data:`COMPARISON_SETS`): the paper's
   competitors, Jiang et al.'s strongest measures, and the hyperparameters. Train accuracy and
   train loss are conditioning variables (a partial τ given train loss), never competitors.
3. **Targets**: the accuracy gap as the paper takes it (``|train − test|``), the *signed* gap
   ``train − test`` that Theorem 4.5 bounds, and the same two for the loss.
4. **The rule** (:mod:`sharpdim.lab.evaluation.rule`) and **controls**
   (:mod:`sharpdim.lab.evaluation.controls`); a sweep whose positive controls fail, or whose null
   rate exceeds 2.5 %, cannot decide.

:func:`evaluate_protocol` returns the JSON-safe document a report writes as ``protocol.json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sharpdim import _validate
from sharpdim.lab.evaluation.cmi import cmi_pgdl, cmi_weighted
from sharpdim.lab.evaluation.controls import POWER_KS, null_control, power_curve
from sharpdim.lab.evaluation.partial import partial_spearman
from sharpdim.lab.evaluation.records import column, complete_rows, finite_value
from sharpdim.lab.evaluation.rule import RULE_TEXT, draw_resamples, paired_rule
from sharpdim.lab.evaluation.sign_error import coupled_pair_sign_error
from sharpdim.lab.stats import kendall_tau

__all__ = ["COMPARISON_SETS", "TARGETS", "HELDOUT_ORACLES", "MIN_PRIMARY_RUNS", "CHANCE_MARGIN",
           "ProtocolSpec", "select_primary_runs", "with_derived_targets", "evaluate_protocol",
           "partial_tau"]

MIN_PRIMARY_RUNS = 10
CHANCE_MARGIN = 0.05   # train accuracy ≤ 1/C + 0.05: the network predicts (nearly) one class

COMPARISON_SETS: dict[str, dict[str, int]] = {
    # the paper's competitors, each with the paper's orientation (sharper ⇒ larger gap)
    "paper": {"lambda_1": 1, "top_eigenvalue": 1, "trace": 1, "ph_dim_euclidean": 1,
              "ph_dim_loss": 1, "e_alpha_euclidean": 1, "e_alpha_loss": 1},
    # Jiang et al. (2019)'s strongest measures, larger ⇒ larger gap in their study
    "jiang": {"pacbayes_mag_flatness": 1, "path_norm": 1, "dist_from_init": 1,
              "inverse_margin": 1},
    # hyperparameters: a larger step and a smaller batch generalize better (Keskar et al.
    # 2017; Jastrzębski et al. 2017; Jiang et al. 2019), so each predicts the gap negatively
    "hyperparameters": {"lr": -1, "inv_batch_size": -1, "lr_over_batch_size": -1},
}

# target column -> its standard-error column
TARGETS = {"gen_gap": "gen_gap_se", "signed_gen_gap": "gen_gap_se",
           "loss_gap": "loss_gap_se", "signed_loss_gap": "loss_gap_se"}
# target column -> the same gap measured on the held-out split (the positive control)
HELDOUT_ORACLES = {"gen_gap": "heldout_gen_gap", "signed_gen_gap": "heldout_signed_gen_gap",
                   "loss_gap": "heldout_loss_gap", "signed_loss_gap": "heldout_signed_loss_gap"}


@dataclass(frozen=True)
class ProtocolSpec:
    """What a sweep's protocol compares (module docstring). ``measures``: the candidate columns
    (SD variants first); ``heldout_oracles``: for each target, the column of the same gap on the
    held-out split (used when the sweep measured it)."""

    target_train_loss: float
    hyperparameters: tuple[str, ...]
    measures: tuple[str, ...]
    n_classes: int = 10
    seed: int = 0
    n_resamples: int = 1000
    heldout_oracles: Mapping[str, str] = field(default_factory=lambda: HELDOUT_ORACLES)
    seed_key: str = "seed"
    comparison_sets: Mapping[str, Mapping[str, int]] = field(
        default_factory=lambda: COMPARISON_SETS)

    def __post_init__(self) -> None:
        _validate.positive("target_train_loss", self.target_train_loss)
        if isinstance(self.hyperparameters, str):
            raise TypeError(f"hyperparameters must be a sequence of columns (empty for a "
                            f"single configuration), got the string {self.hyperparameters!r}")


def with_derived_targets(records: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Each record with the signed gaps added: ``signed_gen_gap = train_acc − test_acc`` and
    ``signed_loss_gap = test_loss − train_loss`` (``None`` where a part is missing)."""
    out = []
    for r in records:
        ta, te = finite_value(r.get("train_acc")), finite_value(r.get("test_acc"))
        la, le = finite_value(r.get("train_loss")), finite_value(r.get("test_loss"))
        out.append({**r, "signed_gen_gap": None if ta is None or te is None else ta - te,
                    "signed_loss_gap": None if la is None or le is None else le - la})
    return out


def _exclusion(r: Mapping[str, Any], spec: ProtocolSpec) -> str | None:
    if r.get("status") not in (None, "finished"):
        return f"status {r.get('status')}"
    loss, acc = finite_value(r.get("train_loss")), finite_value(r.get("train_acc"))
    if loss is None:
        return "no final train loss"
    if loss > spec.target_train_loss:
        return f"train loss {loss:.4g} > target {spec.target_train_loss:g}"
    if acc is not None and acc <= 1.0 / spec.n_classes + CHANCE_MARGIN:
        return f"collapsed: train accuracy {acc:.3f} near chance"
    if str(r.get("degenerate") or "").strip() not in ("", "False", "0"):
        return f"degenerate curvature: {r.get('degenerate')}"
    return None


def select_primary_runs(records: Sequence[Mapping[str, Any]], spec: ProtocolSpec
                        ) -> tuple[list[dict], list[dict]]:
    """``(primary, excluded)``: the runs the verdicts use, and ``{"run_id", "reason"}`` for
    every other run."""
    primary, excluded = [], []
    for r in records:
        reason = _exclusion(r, spec)
        if reason is None:
            primary.append(dict(r))
        else:
            excluded.append({"run_id": r.get("run_id"), "reason": reason})
    return primary, excluded


def partial_tau(rows: Sequence[Mapping], measure: str, target: str, given: str) -> float | None:
    """Kendall's partial τ of measure and target given ``given``:
    ``(τ_mg − τ_mz τ_gz) / √((1 − τ_mz²)(1 − τ_gz²))`` (``None`` when a denominator is 0)."""
    m, g, z = (column(rows, k) for k in (measure, target, given))
    t_mg, t_mz, t_gz = kendall_tau(m, g), kendall_tau(m, z), kendall_tau(g, z)
    den = np.sqrt((1 - t_mz**2) * (1 - t_gz**2))
    return float((t_mg - t_mz * t_gz) / den) if den > 0 else None


def _competitors(spec: ProtocolSpec, rows: Sequence[Mapping], exclude: str) -> dict[str, int]:
    return {c: s for group in spec.comparison_sets.values() for c, s in group.items()
            if c != exclude and len(complete_rows(rows, [c])) == len(rows)}


def _stats(rows, measure, target, se, spec, competitors):
    """Every statistic of one measure and target on complete rows, the rule included."""
    hs = list(spec.hyperparameters)
    resamples = draw_resamples(rows, hs, seed=spec.seed, n_resamples=spec.n_resamples)
    rule = paired_rule(rows, measure, target, competitors, resamples)
    given_loss = partial_tau(rows, measure, target, "train_loss") \
        if len(complete_rows(rows, ["train_loss"])) == len(rows) else None
    return {"tau": rule.tau, "cmi_pgdl": cmi_pgdl(rows, measure, target, hs),
            "cmi_weighted": cmi_weighted(rows, measure, target, hs),
            "partial_spearman": partial_spearman(rows, measure, target, hs)
            if len(complete_rows(rows, hs)) > len(hs) + 2 else None,
            "partial_tau_given_train_loss": given_loss,
            "sign_error": {h: e.to_dict() for h, e in coupled_pair_sign_error(
                rows, measure, target, se, hs, seed_key=spec.seed_key).items()},
            "rule": rule.to_dict(), "verdict": rule.verdict, "n_runs": len(rows)}


def _controls(rows, target, se, spec, measures):
    """The positive and null controls of one target, and whether the sweep can decide."""
    competitors = _competitors(spec, rows, exclude="")
    resamples = draw_resamples(rows, spec.hyperparameters, seed=spec.seed,
                               n_resamples=spec.n_resamples, seed_only=False)
    power = [{"k": k, "verdict": r.verdict} for k, r in power_curve(
        rows, target, se, competitors, resamples, seed=spec.seed, ks=POWER_KS)]
    column = spec.heldout_oracles.get(target)
    oracle = {"column": column, "verdict": "not measured"}
    if column and len(complete_rows(rows, [column])) == len(rows):
        result = paired_rule(rows, column, target, competitors, resamples)
        oracle.update({"verdict": result.verdict, "rule": result.to_dict()})
    sd = next((m for m in measures if m.startswith("sd")
               and len(complete_rows(rows, [m])) == len(rows)), None)
    null = None if sd is None else null_control(rows, sd, target, competitors,
                                                spec.hyperparameters, seed=spec.seed,
                                                seed_key=spec.seed_key)
    positive = power[0]["verdict"] == "held" and oracle["verdict"] in ("held", "not measured")
    null_ok = null is None or null.passed
    return {"heldout_oracle": oracle, "power": power,
            "resolving_power_k": max((p["k"] for p in power if p["verdict"] == "held"),
                                     default=None),
            "null_measure": None if null is None else null.measure,
            "null_false_held_rate": None if null is None else null.rate,
            "null_permutations": None if null is None else null.n_permutations,
            "can_decide": bool(positive and null_ok),
            "competitors": competitors}


def _sd_clusters(rows, measures) -> list[list[str]]:
    """SD variants whose τ between them is ≥ 0.95 on their common runs: one comparison."""
    sds = [m for m in measures if m.startswith("sd")]
    clusters: list[list[str]] = []
    for m in sds:
        for c in clusters:
            common = complete_rows(rows, [m, c[0]])
            if len(common) >= 3 and kendall_tau(column(common, m), column(common, c[0])) >= 0.95:
                c.append(m)
                break
        else:
            clusters.append([m])
    return clusters


def _leave_one_level_out(rows, measure, target, spec, competitors) -> list[dict]:
    """The verdict with each level of each hyperparameter dropped (does any flip?)."""
    out = []
    for h in spec.hyperparameters:
        for level in sorted({r[h] for r in rows}):
            kept = [r for r in rows if r[h] != level]
            if len(kept) < MIN_PRIMARY_RUNS:
                continue
            res = draw_resamples(kept, spec.hyperparameters, seed=spec.seed, n_resamples=200,
                                 seed_only=False)
            out.append({"dropped": {h: level}, "n_runs": len(kept), "verdict": paired_rule(
                kept, measure, target, competitors, res).verdict})
    return out


def evaluate_protocol(records: Sequence[Mapping[str, Any]], spec: ProtocolSpec) -> dict:
    """The protocol document (module docstring) of a sweep's run table (``results.csv`` rows)."""
    rows_all = with_derived_targets(records)
    primary, excluded = select_primary_runs(rows_all, spec)
    targets = {t: se for t, se in TARGETS.items()
               if primary and len(complete_rows(primary, [t, se])) == len(primary)}
    known = [c for g in spec.comparison_sets.values() for c in g]
    measured = [m for m in dict.fromkeys([*spec.measures, *known])
                if primary and complete_rows(primary, [m])]
    doc: dict[str, Any] = {
        "target_train_loss": spec.target_train_loss,
        "primary_runs": [r.get("run_id") for r in primary], "excluded_runs": excluded,
        "hyperparameters": list(spec.hyperparameters), "rule": RULE_TEXT,
        "comparison_sets": {k: dict(v) for k, v in spec.comparison_sets.items()},
        "not_measured": [c for c in known if c not in measured],
        "min_primary_runs": MIN_PRIMARY_RUNS, "seed": spec.seed,
        "n_resamples": spec.n_resamples, "measures": {}, "controls_by_target": {}}
    enough = len(primary) >= MIN_PRIMARY_RUNS
    for target, se in targets.items():
        ctrl = _controls(complete_rows(primary, [target, se]), target, se, spec, measured) \
            if enough else {"can_decide": False}
        doc["controls_by_target"][target] = ctrl
        for m in measured:
            rows = complete_rows(primary, [m, target, se])
            entry = {"verdict": "cannot decide", "n_runs": len(rows)}
            if len(rows) >= MIN_PRIMARY_RUNS:
                entry = _stats(rows, m, target, se, spec, _competitors(spec, rows, exclude=m))
                if not ctrl["can_decide"] and entry["verdict"] != "not testable":
                    entry["verdict"] = "cannot decide"
            doc["measures"].setdefault(m, {})[target] = entry
    first = next(iter(targets), None)
    doc["controls"] = doc["controls_by_target"].get(first, {"can_decide": False})
    doc["sd_clusters"] = _sd_clusters(primary, measured)
    doc["n_independent_sd_comparisons"] = len(doc["sd_clusters"])
    doc["leave_one_level_out"] = {}
    if enough and "gen_gap" in targets:
        for m in (c[0] for c in doc["sd_clusters"]):
            rows = complete_rows(primary, [m, "gen_gap"])
            if len(rows) >= MIN_PRIMARY_RUNS:
                doc["leave_one_level_out"][m] = _leave_one_level_out(
                    rows, m, "gen_gap", spec, _competitors(spec, rows, exclude=m))
    return doc
