"""``reports/CLAIMS.md``: every claim of the paper, with each committed sweep's verdict on it.

Generated like ``REGIMES.md``, from what the reports already wrote — never from a sweep file:
each report's claims table (the section "The paper's claims"), its ``protocol.json`` (primary
runs, controls, the rule's verdicts on the SD variants) and its ``results.csv`` (regime). The
claims and the experiments they come from (docs/theory.md §6), with the paper's figure numbers:

* Fig. 2, the 3-layer MLP on the (η, b) grid: SD has the strongest correlation with the gap
  (tested twice: the protocol's rule against the fixed comparison sets, and the paper's plain
  τ ranking); the PH dimensions fail; λ₁ is weakly negative.
* Fig. 3, the 5-layer width-200 MLP (SLQ only): SD-SLQ has the best plain τ of the densities.
* Fig. 4, grokking: SD and λ₁ jump with test accuracy, trace and top eigenvalue decay smoothly.
* Fig. 5, GPT-2's optimizers: SD-KDE and SD-PS correlate positively, classical sharpness not.
* Theorem 4.5: the computable part of the bound is at least the measured gap.
* D_KY ≤ SD (appendix B): the sup-form SD is at least the Kaplan–Yorke dimension.

A sweep whose table lacks a claim gets "not tested" with the reason "no such measure".
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sharpdim.lab.reports.claims import DKY_COLUMNS
from sharpdim.lab.reports.overview import regime_lines
from sharpdim.lab.reports.protocol import read_results_csv

__all__ = ["Claim", "CLAIMS", "SweepFacts", "sweep_facts", "claims_table_rows",
           "protocol_verdict", "bound_verdict", "dky_verdict", "render_claims"]

_TARGET = "signed_gen_gap"  # the signed gap Theorem 4.5 bounds


@dataclass(frozen=True)
class Claim:
    """One claim: its figure, the statement, and the prefix of the claim text that the
    reports' claims tables use for it (``None``: judged here, not read from a table)."""

    figure: str
    statement: str
    table_prefix: str | None


CLAIMS: tuple[Claim, ...] = (
    Claim("Fig. 2", "SD predicts the gap better than the fixed comparison sets "
          "(the protocol's rule, signed accuracy gap)", None),
    Claim("Fig. 2", "SD has the strongest plain Kendall τ of all measures",
          "SD has the strongest Kendall correlation"),
    Claim("Fig. 2", "the PH dimensions fail to rank the gap", "PH dimensions"),
    Claim("Fig. 2", "λ₁ alone is weakly negatively correlated with the gap", "λ₁ alone"),
    Claim("Fig. 3", "SD-SLQ has the best plain τ among the density estimates", "SD-SLQ has"),
    Claim("Fig. 4", "SD and λ₁ jump with test accuracy; trace and top eigenvalue decay "
          "smoothly", "SD/λ₁ jump with test accuracy"),
    Claim("Fig. 5", "SD-KDE and SD-PS correlate positively, classical sharpness does not",
          "SD-KDE and SD-PS"),
    Claim("Thm 4.5", "the computable part of the bound is at least the measured loss gap",
          None),
    Claim("App. B", "D_KY ≤ SD (sup form) along a network's trajectory", None),
)


@dataclass(frozen=True)
class SweepFacts:
    """What the claims page needs of one report folder."""

    name: str
    link: str
    regime: str
    n_runs: int
    n_primary: int | None
    at_eos_end: int | None
    converged: int | None
    heldout: str
    null_rate: float | None
    decides: bool | None
    claims: Mapping[str, list[tuple[str, str]]]   # table claim text -> [(evidence, verdict)]
    protocol: Mapping
    results: Sequence[Mapping[str, str]]


def _cells(line: str) -> list[str]:
    """The cells of one Markdown table row, ``\\|`` kept inside a cell."""
    parts = re.split(r"(?<!\\)\|", line.strip().strip("|"))
    return [p.strip().replace("\\|", "|") for p in parts]


def claims_table_rows(readme: str) -> list[tuple[str, str, str]]:
    """(claim, our numbers, verdict) of each row of the report's "The paper's claims" table;
    empty when the report has none."""
    rows, inside = [], False
    for line in readme.splitlines():
        if line.startswith("## "):
            inside = line.startswith("## The paper's claims")
            continue
        if inside and line.startswith("|") and not line.startswith(("| claim", "|---")):
            c = _cells(line)
            if len(c) >= 5:
                rows.append((c[0], c[3], c[-1].strip("*")))
    return rows


def _count(rows: Sequence[Mapping[str, str]], test) -> int:
    return sum(1 for r in rows if test(r))


def _float(x: str | None) -> float:
    try:
        return float(x) if x not in (None, "") else math.nan
    except ValueError:
        return math.nan


def sweep_facts(readme_path: Path, out: Path) -> SweepFacts:
    """Read one report folder (its ``README.md``, ``protocol.json``, ``results.csv``)."""
    folder = Path(readme_path).parent
    text = Path(readme_path).read_text(encoding="utf-8")
    proto_path, csv_path = folder / "protocol.json", folder / "results.csv"
    proto = json.loads(proto_path.read_text(encoding="utf-8")) if proto_path.is_file() else {}
    results = read_results_csv(csv_path)
    first = (regime_lines(text) or [""])[0]
    bold = re.search(r"\*\*(.+?)\*\*", first)
    finished = [r for r in results if r.get("status", "finished") == "finished"]
    has_eos = any(math.isfinite(_float(r.get("eta_lambda_max"))) for r in finished)
    has_conv = any(r.get("converged", "") != "" for r in finished)
    controls = proto.get("controls_by_target", {}).get(_TARGET) or proto.get("controls", {})
    claims: dict[str, list[tuple[str, str]]] = {}
    for claim, evidence, verdict in claims_table_rows(text):
        claims.setdefault(re.sub(r" \(seed \d+\)$", "", claim), []).append((evidence, verdict))
    return SweepFacts(
        name=folder.name,
        link=Path(os.path.relpath(readme_path, Path(out).parent)).as_posix(),
        regime=bold.group(1) if bold else ("edge of stability not measured" if not has_eos
                                           else "regime not stated"),
        n_runs=len(finished),
        n_primary=len(proto["primary_runs"]) if "primary_runs" in proto else None,
        at_eos_end=_count(finished, lambda r: _float(r.get("eta_lambda_max"))
                          >= _float(r.get("eos_threshold")) - 1e-12) if has_eos else None,
        converged=_count(finished, lambda r: _float(r.get("converged")) == 1.0)
        if has_conv else None,
        heldout=controls.get("heldout_oracle", {}).get("verdict", "not measured")
        if proto else "no protocol",
        null_rate=controls.get("null_false_held_rate"),
        decides=controls.get("can_decide") if proto else None,
        claims=claims, protocol=proto, results=finished)


def protocol_verdict(f: SweepFacts) -> tuple[str, str]:
    """(verdict, evidence) of the protocol's rule on the SD variants for the signed gap: the
    verdict of the best SD variant's d (held beats tie beats did not hold)."""
    entries = []
    for cluster in f.protocol.get("sd_clusters", []):
        e = f.protocol.get("measures", {}).get(cluster[0], {}).get(_TARGET)
        if e:
            entries.append((cluster[0], e))
    if not entries:
        return "not tested", "no SD variant on the primary runs" if f.protocol else "no protocol"
    order = {"held": 0, "partly held": 1, "tie": 2, "did not hold": 3, "not testable": 4,
             "cannot decide": 5}
    parts = []
    for m, e in entries:
        rule = e.get("rule") or {}
        d, ci = rule.get("difference"), rule.get("interval")
        num = f" d = {d:+.2f} [{ci[0]:+.2f}, {ci[1]:+.2f}]" if d is not None and ci else ""
        parts.append(f"`{m}` {e.get('verdict', '–')}{num}")
    best = min((e.get("verdict", "cannot decide") for _, e in entries),
               key=lambda v: order.get(v, 9))
    return best, "; ".join(parts)


def bound_verdict(f: SweepFacts) -> tuple[str, str]:
    """(verdict, evidence) for Theorem 4.5 from ``bound_vacuous_factor`` (computed part /
    measured worst loss gap) in ``results.csv``: "held" when it is ≥ 1 in every run;
    otherwise "cannot decide" — the left-out terms are positive and a training-set B is an
    optimistic stand-in, so a computed part below the gap is no counterexample."""
    factors = [_float(r.get("bound_vacuous_factor")) for r in f.results]
    factors = [x for x in factors if not math.isnan(x)]
    if not factors:
        return "not tested", "no bound in results.csv"
    below = sum(x < 1 for x in factors)
    finite = sorted(x for x in factors if math.isfinite(x))
    med = finite[len(finite) // 2] if len(finite) % 2 else (
        (finite[len(finite) // 2 - 1] + finite[len(finite) // 2]) / 2 if finite else math.nan)
    ev = (f"bound / gap {finite[0]:.3g}–{finite[-1]:.3g} (median {med:.3g}) over "
          f"{len(factors)} runs" if finite else f"measured gap ≤ 0 in all {len(factors)} runs")
    vacuous = sum(_float(r.get("bound_value")) >= _float(r.get("bound_B")) for r in f.results
                  if not math.isnan(_float(r.get("bound_vacuous_factor"))))
    ev += f"; at or above B (vacuous) in {vacuous}"
    if below:
        return "cannot decide", ev + f"; below the gap in {below} (no counterexample: terms " \
                                     "left out)"
    return "held", ev


def dky_verdict(f: SweepFacts) -> tuple[str, str]:
    """(verdict, evidence) for D_KY ≤ SD from a report whose ``results.csv`` has the
    :data:`~sharpdim.lab.reports.claims.DKY_COLUMNS` with standard errors (the trajectory
    Lyapunov report's rule: "below" when D_KY − SD > max(1e-6, 2·√(se² + se²)))."""
    dky, sd = DKY_COLUMNS
    rows = [r for r in f.results if r.get(dky) not in (None, "")
            and r.get("diverged", "False") != "True"]
    if not rows:
        return "not tested", "no Lyapunov spectrum in this sweep"
    verdicts: Counter = Counter()
    for r in rows:
        se = max(1e-6, 2 * math.hypot(_float(r.get(f"{dky}_stderr")),
                                      _float(r.get(f"{sd}_stderr"))))
        diff = _float(r[sd]) - _float(r[dky])
        verdicts["strict" if diff > se else "below" if -diff > se else "tight"] += 1
    ev = ", ".join(f"{k} {verdicts[k]}" for k in ("strict", "tight", "below"))
    verdict = "held" if not verdicts["below"] else "partly held"
    return verdict, f"{ev} of {len(rows)} runs (sup form)"


def _table_verdict(f: SweepFacts, prefix: str) -> tuple[str, str]:
    hits = [(c, rows) for c, rows in f.claims.items() if c.startswith(prefix)]
    if not hits:
        return "not tested", "not in this report's claims table"
    rows = hits[0][1]
    if len(rows) == 1:
        return rows[0][1], rows[0][0]
    counts = Counter(v for _, v in rows)
    verdict = (rows[0][1] if len(counts) == 1 else "partly held"
               if counts.get("held") or counts.get("partly held") else "did not hold")
    return verdict, "per seed: " + ", ".join(f"{v} ×{n}" for v, n in counts.items())


def claim_verdict(claim: Claim, f: SweepFacts) -> tuple[str, str]:
    """(verdict, evidence) of one sweep on one claim."""
    if claim.figure == "Thm 4.5":
        return bound_verdict(f)
    if claim.figure == "App. B":
        return dky_verdict(f)
    if claim.table_prefix is None:
        return protocol_verdict(f)
    return _table_verdict(f, claim.table_prefix)


def _regime_cell(f: SweepFacts) -> str:
    parts = [f.regime]
    if f.at_eos_end is not None:
        parts.append(f"η·λ_max ≥ 2(1+β) at the end: {f.at_eos_end}/{f.n_runs}")
    if f.converged is not None:
        parts.append(f"converged {f.converged}/{f.n_runs}")
    return "; ".join(parts)


def _short(v: str) -> str:
    return {"did not hold": "**did not hold**", "held": "**held**"}.get(v, v)


def render_claims(readmes: Sequence[Path], out: Path, *, commit: str = "") -> str:
    """The claims page for the reports ``readmes`` (paths of their ``README.md``), links
    relative to ``out``; ``commit`` is named in the provenance line."""
    facts = [sweep_facts(Path(p), out) for p in readmes]
    lines = ["# The paper's claims, sweep by sweep", "",
             "> Generated by `sharpdim report --claims` from each report's claims table, "
             "`protocol.json` and `results.csv`; do not edit by hand."
             + (f" Code at commit `{commit}`." if commit else ""), "",
             "A verdict speaks for its sweep's setting only (each report's Setup). Under the "
             "protocol a sweep whose positive controls fail can only say *cannot decide* on the "
             "first claim; the other rows apply the paper's own plain-τ rules, stated in each "
             "report, and have no controls. The first row shows the most favourable verdict "
             "over a sweep's SD variants (optimistic where there are several; the evidence "
             "lists each).", "",
             "## The sweeps", "",
             "| sweep | regime | finished / primary runs | held-out oracle | null rate | "
             "controls decide |", "|---|---|---:|---|---:|---|"]
    for f in facts:
        rate = "–" if f.null_rate is None else f"{f.null_rate:.3f}"
        dec = "–" if f.decides is None else ("yes" if f.decides else "**no**")
        prim = "–" if f.n_primary is None else str(f.n_primary)
        lines.append(f"| [{f.name}]({f.link}) | {_regime_cell(f)} | {f.n_runs} / {prim} | "
                     f"{f.heldout} | {rate} | {dec} |")
    lines += ["", "## Verdicts", "",
              "| figure | claim | " + " | ".join(f.name for f in facts) + " |",
              "|---|---|" + "---|" * len(facts)]
    detail = ["", "## Evidence", ""]
    for claim in CLAIMS:
        cells = [claim_verdict(claim, f) for f in facts]
        lines.append(f"| {claim.figure} | {claim.statement} | "
                     + " | ".join(_short(v) for v, _ in cells) + " |")
        detail += [f"**{claim.figure}: {claim.statement}**", ""]
        detail += [f"* {f.name}: {v} — {ev}" for f, (v, ev) in zip(facts, cells, strict=True)
                   if v != "not tested"] or ["* no sweep tests it"]
        detail.append("")
    return "\n".join(lines + detail).rstrip() + "\n"
