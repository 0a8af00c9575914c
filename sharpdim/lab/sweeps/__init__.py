"""Sweeps (laboratory layer 8): tasks, training, measures, sweeps, storage and execution.

One concept per module: ``data`` (datasets, generated or shipped), ``models`` (seeded
networks), ``tasks`` (the named catalogue), ``training`` (minibatch SGD/momentum/Adam with
divergence as an outcome), ``measures`` (named
measure groups; a failing backend is an outcome), ``registry`` (what each measure is: label,
role — SD variant, baseline, target, diagnostic — and scale; the report reads it),
``config`` (validated TOML sweeps),
``run`` (one run, start to finish), ``storage`` (the SQLite sweep file), ``engine`` (inline,
Dask LocalCluster or an existing cluster) and ``sweep`` (plan, resume, record). The PH
dimension is in the library (:mod:`sharpdim.dynamics.topology`; ``topology`` here is an alias),
the studies in :mod:`sharpdim.lab.studies` (``trajectory_lyapunov`` and
``estimator_validation`` here are aliases).

Nothing is imported here, so ``import sharpdim.lab.sweeps`` stays cheap.
"""
