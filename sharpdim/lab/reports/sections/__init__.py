"""The sections of a sweep report, one renderer each: ``render(ctx) -> list[str]`` of
Markdown lines. :data:`SECTIONS` fixes their order — the verdict rule comes before the
results it judges. Adding a section is adding a function and a line in ``SECTIONS``.

The renderers live in :mod:`~sharpdim.lab.reports.sections.general` (for now all of them)."""

from __future__ import annotations

# every module-level name of the single module this package was, so every old import works
from sharpdim.lab.reports.sections.general import (  # noqa: F401 (re-exported)
    _PHASES,
    SECTIONS,
    ReportContext,
    _ci,
    _count,
    _curves_only,
    _decisive_table,
    _eos_along_training,
    _estimator_labels,
    _md,
    _num,
    _pct,
    _rule_preamble,
    _sd_scale,
    _stop_text,
    _tau_cell,
    _withdrawn,
    bound,
    change_points,
    checkpoint_decisive,
    checkpoint_kendall,
    checkpoint_rule,
    claims,
    compute_lines,
    decisive,
    figures,
    grokking,
    header,
    kendall,
    outcomes,
    per_optimizer,
    protocol,
    provenance,
    regime,
    render_readme,
    runs,
    setup,
    slq_against_exact,
    source_digest,
    verdict_rule,
)

__all__ = ["ReportContext", "SECTIONS", "render_readme"]
