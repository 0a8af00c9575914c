"""The sections of a sweep report, one renderer each: ``render(ctx) -> list[str]`` of
Markdown lines. :data:`SECTIONS` fixes their order — the verdict rule comes before the
results it judges. Adding a section is adding a function and a line in ``SECTIONS``.

Where each lives: :mod:`~sharpdim.lab.reports.sections.context` (:class:`ReportContext` and
the small formatting helpers), :mod:`~sharpdim.lab.reports.sections.general` (what every
sweep has: header, protocol, regime, setup, outcomes and compute, claims, figures, runs,
provenance), :mod:`~sharpdim.lab.reports.sections.cross_sectional` (one number per run,
across runs: verdict rule, decisive comparison, Kendall tables, per optimizer, bound, SD-SLQ
against exact SD) and :mod:`~sharpdim.lab.reports.sections.checkpoints` (along training:
checkpoint rule, grokking, decisive comparison and Kendall tables across checkpoints, change
points).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

# every module-level name of the single module this package was, so every old import works
# (ReportContext and the helpers one per line: a parenthesized block would repeat the one the
# section modules import)
from sharpdim.lab.reports.sections.checkpoints import (  # noqa: F401 (re-exported)
    change_points,
    checkpoint_decisive,
    checkpoint_kendall,
    checkpoint_rule,
    grokking,
)
from sharpdim.lab.reports.sections.context import ReportContext as ReportContext
from sharpdim.lab.reports.sections.context import _ci as _ci
from sharpdim.lab.reports.sections.context import _curves_only as _curves_only
from sharpdim.lab.reports.sections.context import _md as _md
from sharpdim.lab.reports.sections.context import _num as _num
from sharpdim.lab.reports.sections.context import _pct as _pct
from sharpdim.lab.reports.sections.context import _rule_preamble as _rule_preamble
from sharpdim.lab.reports.sections.cross_sectional import (  # noqa: F401 (re-exported)
    _decisive_table,
    _tau_cell,
    bound,
    decisive,
    kendall,
    per_optimizer,
    slq_against_exact,
    verdict_rule,
)
from sharpdim.lab.reports.sections.general import (  # noqa: F401 (re-exported)
    _PHASES,
    _count,
    _eos_along_training,
    _estimator_labels,
    _sd_scale,
    _stop_text,
    _withdrawn,
    claims,
    compute_lines,
    figures,
    header,
    outcomes,
    protocol,
    provenance,
    regime,
    runs,
    setup,
    source_digest,
)

__all__ = ["ReportContext", "SECTIONS", "render_readme"]

SECTIONS: tuple[Callable[[ReportContext], list[str]], ...] = (
    header, protocol, regime, setup, verdict_rule, checkpoint_rule, outcomes, slq_against_exact,
    grokking, decisive,
    checkpoint_decisive, kendall, per_optimizer, checkpoint_kendall, change_points, bound,
    claims, figures,
    runs, provenance)


def render_readme(ctx: ReportContext, sections: Sequence[Callable] = SECTIONS) -> str:
    return "\n".join(line for section in sections for line in section(ctx))
