"""Reports (laboratory layer 9, above ``lab.sweeps``): Markdown + figures with provenance.

``provenance`` (re-exports :mod:`sharpdim.lab.provenance`, layer 0), ``kendall_table`` (τ, ψ, Ψ
and bootstrap intervals from :mod:`sharpdim.lab.stats`), ``figures`` (matplotlib, Agg canvas),
``claims`` (the paper's qualitative claims, one function each), and the sweep report:
``sweep_data`` (the file, loaded once) → ``analysis`` (every number) → ``sections`` (one
renderer per section) and ``outputs`` (CSV, JSON), orchestrated by ``sweep_report``.
"""
