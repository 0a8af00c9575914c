"""Reports (layer 7): Markdown + figures with provenance.

``provenance`` (git commit, package versions, source digest), ``kendall_table`` (τ, ψ, Ψ and
bootstrap intervals from :mod:`sharpdim.stats`), ``figures`` (matplotlib, Agg canvas),
``claims`` (the paper's qualitative claims checked by stated rules) and ``sweep_report``
(``reports/<sweep>/README.md`` from a sweep file).
"""
