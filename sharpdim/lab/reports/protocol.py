"""The protocol of a sweep report: ``protocol.json`` and the section that opens the README.

The document is computed by :func:`sharpdim.lab.evaluation.protocol.evaluate_protocol` from the
report's own ``results.csv`` (read back after it is written), so anyone can recompute every
number from that file. The target train loss is the sweep's ``train.target_loss`` (0.01 when
it sets none); the hyperparameters are its grid factors; chance accuracy is ``1/modulus`` for
modular-arithmetic tasks and 1/10 otherwise (every other task here has ten classes).
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sharpdim.lab.bench.markdown import table_row
from sharpdim.lab.evaluation.protocol import MIN_PRIMARY_RUNS, ProtocolSpec, evaluate_protocol

__all__ = ["read_results_csv", "sweep_protocol", "write_protocol_json", "protocol_lines"]


def _spec(config: Mapping[str, Any], factors, columns) -> ProtocolSpec:
    canonical = config["canonical"]
    options = canonical.get("task_options", {})
    return ProtocolSpec(
        target_train_loss=float(canonical["train"].get("target_loss", 0.01)),
        hyperparameters=tuple(factors),
        measures=tuple(c for c in columns if c.startswith("sd_")),
        n_classes=int(options.get("modulus", 10)), seed=0, n_resamples=1000)


def read_results_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a report's ``results.csv`` as strings by column; ``[]`` when it is absent."""
    if not Path(path).is_file():
        return []
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def sweep_protocol(config: Mapping[str, Any], factors, results_csv: Path) -> dict:
    """The protocol document of a sweep from its ``results.csv``."""
    rows = read_results_csv(results_csv)
    columns = list(rows[0]) if rows else []
    return evaluate_protocol(rows, _spec(config, factors, columns))


def write_protocol_json(path: Path, doc: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(doc, indent=1, sort_keys=True, allow_nan=False) + "\n")


def _f(v, fmt=".3f") -> str:
    return "–" if v is None else format(v, fmt)


def _controls_lines(doc) -> list[str]:
    by_target = doc.get("controls_by_target", {})
    if not any("power" in c for c in by_target.values()):
        return [f"Not run: fewer than {MIN_PRIMARY_RUNS} primary runs; the sweep **cannot "
                "decide**."]
    lines = ["Positive: the held-out oracle (the gap on a held-out 20 % of the training "
             "distribution) and the power curve (gap + N(0, (k·se)²), seeded). Null: the first "
             "SD column permuted across configurations within seed blocks, 200 permutations "
             "(false \"held\" rate must be ≤ 0.025).", "",
             "| target | held-out oracle | power: k = " + ", ".join(
                 f"{k:g}" for k in (0.5, 1, 2, 4)) + " | resolving k | null rate | decides |",
             "|---|---|---|---:|---:|---|"]
    for t, c in by_target.items():
        if "power" not in c:
            continue
        power = ", ".join(p["verdict"] for p in c["power"])
        lines.append(table_row(t, c["heldout_oracle"]["verdict"], power,
                               _f(c["resolving_power_k"], "g"),
                               _f(c["null_false_held_rate"], ".3f"),
                               "**yes**" if c["can_decide"] else "**no: cannot decide**"))
    return lines


def _reason_kind(reason: str) -> str:
    for prefix, kind in (("train loss", "train loss above the target"),
                         ("no final", "no final train loss"), ("collapsed", "collapsed"),
                         ("degenerate", "degenerate curvature"), ("status", "not finished")):
        if reason.startswith(prefix):
            return kind
    return reason


def _verdict_table(doc) -> list[str]:
    lines = ["| measure | target | n | τ | best competitor (s·τ) | d [configurations] "
             "[seeds] | CMI (PGDL) | CMI (weighted) | partial Spearman | verdict |",
             "|---|---|---:|---:|---|---|---:|---:|---:|---|"]
    for m, by_target in doc["measures"].items():
        for t, e in by_target.items():
            r = e.get("rule")
            if r is None:
                lines.append(f"| `{m}` | {t} | {e['n_runs']} | – | – | – | – | – | – | "
                             f"{e['verdict']} |")
                continue
            comp = "–" if r["competitor"] is None else \
                f"`{r['competitor']}` ({_f(r['tau_competitor'])})"
            d = "–" if r["difference"] is None else (
                f"{r['difference']:+.3f} [{r['interval'][0]:+.2f}, {r['interval'][1]:+.2f}] "
                f"[{r['seed_interval'][0]:+.2f}, {r['seed_interval'][1]:+.2f}]")
            lines.append(f"| `{m}` | {t} | {e['n_runs']} | {r['tau']:+.3f} | {comp} | {d} | "
                         f"{_f(e['cmi_pgdl'])} | {_f(e['cmi_weighted'])} | "
                         f"{_f(e['partial_spearman'], '+.3f')} | {e['verdict']} |")
    return lines


def protocol_lines(doc: Mapping[str, Any] | None) -> list[str]:
    """The README section: the protocol, fixed in advance, then its verdicts."""
    if doc is None:
        return []
    reasons = Counter(_reason_kind(e["reason"]) for e in doc["excluded_runs"])
    sets = "; ".join(f"{k}: " + ", ".join(f"`{c}` ({'+' if s > 0 else '−'})"
                                         for c, s in v.items())
                     for k, v in doc["comparison_sets"].items())
    lines = ["## Protocol (fixed before the results)", "",
             f"* primary runs: the {len(doc['primary_runs'])} finished runs with final train loss "
             f"≤ {doc['target_train_loss']:g} that did not collapse; excluded "
             f"{len(doc['excluded_runs'])} (" + ", ".join(f"{k}: {n}" for k, n in
                                                          reasons.most_common()) + "; each "
             "listed with its reason in `protocol.json`)",
             f"* hyperparameters: {', '.join(f'`{h}`' for h in doc['hyperparameters'])}; "
             f"fewer than {doc['min_primary_runs']} primary runs: every verdict is "
             "\"cannot decide\"",
             f"* comparison sets, signs fixed in advance: {sets}; not measured in this sweep: "
             + (", ".join(f"`{c}`" for c in doc["not_measured"]) or "none"),
             "* train accuracy and train loss are conditioning variables (partial τ given "
             "train loss in `protocol.json`), never competitors",
             f"* rule: {doc['rule']}",
             f"* SD variants at τ ≥ 0.95 between them count once: "
             f"{doc['n_independent_sd_comparisons']} independent SD comparison(s) "
             f"({'; '.join(', '.join(c) for c in doc['sd_clusters']) or '–'})", ""]
    lines += ["### Controls", ""] + _controls_lines(doc) + [""]
    lines += ["### Verdicts on the primary runs", ""] + _verdict_table(doc) + [""]
    flips = {m: [x for x in v if x["verdict"] != doc["measures"][m]["gen_gap"]["rule"]["verdict"]]
             for m, v in doc.get("leave_one_level_out", {}).items()}
    if doc.get("leave_one_level_out"):
        lines += ["Leave one level out (gen_gap): " + "; ".join(
            f"`{m}`: " + (", ".join(f"{list(x['dropped'])[0]} = {list(x['dropped'].values())[0]}"
                                    f" → {x['verdict']}" for x in f) or "no verdict flips")
            for m, f in flips.items()), ""]
    lines += ["Everything below is the secondary analysis over all finished runs under the "
              "earlier rule; its verdicts are not this sweep's verdicts.", ""]
    return lines
