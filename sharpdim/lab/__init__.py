"""The laboratory wing of sharpdim: what produces the committed evidence.

It imports the library (``sharpdim.dimension`` … ``sharpdim.testing``), never the reverse:

* ``lab.stats``, ``lab.evaluation``, ``lab.bounds``, ``lab.provenance`` — rank statistics, the
  evaluation protocol, Theorem 4.5's computable part, git and package provenance;
* ``lab.sweeps`` — sweep configuration, tasks, data, models, training, measures, storage and
  the engine;
* ``lab.bench`` — timing ratios for ``reports/benchmarks.md`` (timing only);
* ``lab.reports`` — the Markdown and figure writers of ``reports/``;
* ``lab.studies`` — whole studies, one module each with its own report writer (estimator
  convergence, re-orthogonalization, trajectory Lyapunov, dysts maps; ``sharpdim study NAME``);
* ``lab.cli`` — the ``sharpdim`` command.
"""
