"""What every section renderer reads (:class:`ReportContext`) and the small formatting
helpers they share: numbers, intervals, table cells, the confidence in percent and the
opening of a section that states a rule."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sharpdim.lab.reports.analysis import MIN_RUNS_FOR_KENDALL, Analysis
from sharpdim.lab.reports.sweep_data import SweepData
from sharpdim.lab.sweeps.registry import TARGETS, label


@dataclass(frozen=True)
class ReportContext:
    data: SweepData
    analysis: Analysis
    figures: tuple[tuple[str, str], ...]
    out: Path
    protocol: Mapping[str, Any] | None = None


def _num(v: Any, fmt: str = ".3g") -> str:
    if v is None:
        return "–"
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return format(v, fmt)


def _ci(ci) -> str:
    return "" if ci is None else f" [{ci.low:+.2f}, {ci.high:+.2f}]"


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _pct(c: ReportContext) -> int:
    return int(round(c.analysis.confidence * 100))


def _curves_only(c: ReportContext) -> bool:
    """A sweep about the curves across checkpoints, with too few runs to rank runs."""
    return c.analysis.checkpoints is not None and len(c.analysis.records) < MIN_RUNS_FOR_KENDALL


def _rule_preamble(title: str, claim: str, rules: Sequence[str], baselines: str,
                   sd_variants: Sequence[str]) -> list[str]:
    """The opening of a section that states how a claim is judged: its heading, the claim,
    the rules, the baselines and the SD variants and targets compared."""
    sds = ", ".join(label(m) for m in sd_variants) or "none recorded"
    return [f"## {title}", "", claim, "", *(f"* {rule}" for rule in rules),
            f"* baselines: {baselines}",
            f"* SD variants tested: {sds}; targets: " + ", ".join(label(t) for t in TARGETS)]
