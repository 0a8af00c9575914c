"""The laboratory wing of sharpdim: what produces the committed evidence.

It imports the library (``sharpdim.dimension`` … ``sharpdim.testing``), never the reverse:

* ``lab.stats``, ``lab.evaluation``, ``lab.bounds``, ``lab.provenance`` — rank statistics, the
  evaluation protocol, Theorem 4.5's computable part, git and package provenance;
* ``lab.sweeps`` — sweep configuration, tasks, data, models, training, measures, storage, the
  engine, and the studies run from it;
* ``lab.bench`` — timing ratios for ``reports/benchmarks.md``;
* ``lab.reports`` — the Markdown and figure writers of ``reports/``;
* ``lab.cli`` — the ``sharpdim`` command.
"""
