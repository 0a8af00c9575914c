"""Audit results and their three renderings: terminal table, JSON, Markdown.

One :class:`AuditRow` per case (oracle, returned value, error, allowed error, tolerance with
its origin, verdict); an :class:`AuditReport` for one estimator, kind and profile, with the
adapter's settings and shims and the provenance of the run. A Markdown report file can hold
several audits (one section each, between ``<!-- audit:ID -->`` markers, rewritten in place
by :func:`write_markdown`); text outside the markers — a hand-written reading — is kept.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sharpdim._markdown import replace_marked

__all__ = ["AuditRow", "AuditReport", "write_markdown", "write_json", "section_id"]


@dataclass(frozen=True)
class AuditRow:
    """One case: ``oracle`` (exact value), ``returned``, ``error`` and ``allowed`` (``None``
    when nothing could be compared), ``tolerance`` (with its origin), ``verdict`` (``pass``,
    ``FAIL``, ``NaN``, ``wrong shape``, ``raised``, ``timeout``, ``crashed``), ``detail``,
    ``seconds`` of the estimator call, the case's ``seed``, ``claim`` and ``derivation``."""

    case: str
    claim: str
    oracle: str
    returned: str
    error: float | None
    allowed: float | None
    tolerance: str
    verdict: str
    detail: str
    seconds: float | None
    seed: int
    derivation: str

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"


@dataclass(frozen=True)
class AuditReport:
    """The audit of one estimator for one kind (and quantity) under one profile.

    ``passed`` is true only when there is at least one row and every row passed.
    ``adapter`` is the estimator's ``audit_info`` (library, version, function, settings,
    shims, notes) when it has one; ``isolation`` says how calls were bounded; ``notes`` list
    anything the harness had to do (a fallback from process to thread isolation, restarts).
    """

    estimator: str
    kind: str
    profile: str
    quantity: str | None
    rows: tuple[AuditRow, ...]
    isolation: str
    time_limit: float | None
    adapter: Mapping[str, Any] | None
    provenance: Mapping[str, Any]
    notes: tuple[str, ...] = field(default=())

    @property
    def passed(self) -> bool:
        return bool(self.rows) and all(r.passed for r in self.rows)

    @property
    def n_passed(self) -> int:
        return sum(r.passed for r in self.rows)

    @property
    def title(self) -> str:
        if self.adapter:
            label = self.adapter.get("label") or self.adapter.get("function", "")
            return f"{label} ({self.kind}{self._quantity_suffix()})"
        return f"{self.estimator} ({self.kind}{self._quantity_suffix()})"

    def _quantity_suffix(self) -> str:
        return f", {self.quantity}" if self.quantity else ""

    def command(self, report: str | None = None) -> str:
        """The ``sharpdim audit`` command line that reruns this audit."""
        parts = ["sharpdim audit", self.estimator, "--kind", self.kind]
        if self.quantity:
            parts += ["--quantity", self.quantity]
        parts += ["--profile", self.profile]
        if report:
            parts += ["--report", report]
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "estimator": self.estimator, "kind": self.kind, "quantity": self.quantity,
            "profile": self.profile, "passed": self.passed,
            "n_cases": len(self.rows), "n_passed": self.n_passed,
            "isolation": self.isolation, "time_limit": self.time_limit,
            "adapter": dict(self.adapter) if self.adapter else None,
            "provenance": dict(self.provenance), "notes": list(self.notes),
            "rows": [dict(asdict(r), passed=r.passed) for r in self.rows],
        }
        return _finite_or_text(json.loads(json.dumps(out, default=_jsonable)))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)

    def to_terminal(self) -> str:
        cols = [("case", 26), ("oracle", 24), ("returned", 24), ("error", 9), ("allowed", 9),
                ("verdict", 11), ("s", 6)]
        lines = [f"audit of {self.estimator} — kind {self.kind}"
                 f"{self._quantity_suffix()}, profile {self.profile}, "
                 f"isolation {self.isolation}"]
        lines += _adapter_lines(self.adapter, bullet="  ")
        lines.append("  ".join(name.ljust(w) for name, w in cols))
        lines.append("  ".join("-" * w for _, w in cols))
        for r in self.rows:
            cells = [r.case, r.oracle, r.returned, _num(r.error), _num(r.allowed), r.verdict,
                     _seconds(r.seconds)]
            lines.append("  ".join(str(c)[:w].ljust(w) for c, (_, w) in zip(cells, cols,
                                                                            strict=True)))
            if r.detail and not r.passed:
                lines.append(" " * 4 + r.detail[:150])
        lines += [f"note: {n}" for n in self.notes]
        lines.append(f"{self.n_passed} of {len(self.rows)} cases passed: "
                     f"{'PASS' if self.passed else 'FAIL'}")
        return "\n".join(lines)

    def to_markdown(self, *, heading: str = "##") -> str:
        verdict = "PASS" if self.passed else "FAIL"
        lines = [f"{heading} {self.title}", "",
                 f"**{verdict}** — {self.n_passed} of {len(self.rows)} cases passed "
                 f"(`{self.estimator}`, profile `{self.profile}`, isolation "
                 f"{self.isolation}, time limit {_num(self.time_limit)} s).", ""]
        lines += _adapter_lines(self.adapter, bullet="* ")
        lines += [f"* note: {_md(n)}" for n in self.notes]
        lines.append("* provenance: " + "; ".join(f"{k} {v}" for k, v in
                                                 self.provenance.items()))
        lines.append(f"* regenerate: `{self.command()}`")
        lines += ["", "| case | oracle | returned | error | allowed | verdict | seconds |",
                  "|---|---|---|---:|---:|---|---:|"]
        for r in self.rows:
            verdict_cell = r.verdict if r.passed else f"**{r.verdict}**"
            lines.append(f"| {_md(r.case)} | {_md(r.oracle)} | {_md(r.returned)} | "
                         f"{_num(r.error)} | {_num(r.allowed)} | {verdict_cell} | "
                         f"{_seconds(r.seconds)} |")
        lines += ["", "<details><summary>oracles, tolerances and details</summary>", ""]
        for r in self.rows:
            lines.append(f"* **{_md(r.case)}** (seed {r.seed}): {_md(r.claim)}. Oracle: "
                         f"{_md(r.derivation)}. Tolerance: {_md(r.tolerance)}."
                         + (f" Detail: {_md(r.detail)}." if r.detail else ""))
        lines += ["", "</details>", ""]
        return "\n".join(lines)


def _finite_or_text(value: Any) -> Any:
    """JSON has no inf/NaN: write them as the strings ``"inf"``, ``"-inf"``, ``"nan"``."""
    if isinstance(value, float) and value != value:
        return "nan"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, dict):
        return {k: _finite_or_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_or_text(v) for v in value]
    return value


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def _num(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "–"
    if x != x:
        return "nan"
    if x in (float("inf"), float("-inf")):
        return "inf" if x > 0 else "-inf"
    return f"{x:.{digits}g}"


def _seconds(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _adapter_lines(adapter: Mapping[str, Any] | None, *, bullet: str) -> list[str]:
    if not adapter:
        return []
    lines = [f"{bullet}calls `{adapter.get('function')}` from {adapter.get('library')} "
             f"{adapter.get('version')}"]
    settings = adapter.get("settings") or {}
    if settings:
        lines.append(f"{bullet}settings ({adapter.get('settings_source', 'adapter')}): "
                     + ", ".join(f"`{k}={v!r}`" for k, v in settings.items()))
    for shim in adapter.get("shims") or ():
        lines.append(f"{bullet}shim: {_md(shim)}")
    for note in adapter.get("notes") or ():
        lines.append(f"{bullet}{_md(note)}")
    return lines


def section_id(report: AuditReport) -> str:
    """Stable key of a report inside a combined file: estimator, kind, quantity, profile."""
    parts = [report.estimator, report.kind, report.quantity or "", report.profile]
    return re.sub(r"[^A-Za-z0-9_.:-]+", "-", "/".join(p for p in parts if p))


def _header(title: str, intro: str) -> str:
    text = (f"# {title}\n\nGenerated by `sharpdim audit`; sections between `audit:` markers "
            "are rewritten by each run, text outside them (the reading) is kept.\n")
    return text + (f"\n{intro}\n" if intro else "")


def write_markdown(path: Path, report: AuditReport, *, title: str = "Audit report",
                   intro: str = "") -> None:
    """Write ``report`` into its own section of the Markdown file at ``path`` (created with a
    ``title`` and ``intro`` when absent; other sections and hand-written text are kept)."""
    text = path.read_text() if path.exists() else _header(title, intro)
    text = replace_marked(text, f"audit:{section_id(report)}", report.to_markdown())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def read_json(path: Path) -> dict[str, Any]:
    """The audit JSON at ``path`` (``{"audits": {…}}``; a fresh one when absent). A file that
    is not such JSON is a ``ValueError`` naming it (never overwritten)."""
    if not path.exists():
        return {"generated_by": "sharpdim audit", "audits": {}}
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); it is left untouched: repair "
                         "it, or move it away to start a new one") from None
    if not isinstance(data, dict) or not isinstance(data.get("audits", {}), dict):
        raise ValueError(f"{path} is not an audit JSON file (no 'audits' mapping); it is left "
                         "untouched: move it away or pick another --report path")
    data.setdefault("audits", {})
    return data


def write_json(path: Path, report: AuditReport) -> None:
    """Merge ``report`` into the JSON file at ``path`` (``{"audits": {section_id: …}}``);
    ``ValueError`` when the existing file is not audit JSON (see :func:`read_json`)."""
    data = read_json(path)
    data["audits"][section_id(report)] = report.to_dict()
    data["audits"] = dict(sorted(data["audits"].items()))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
