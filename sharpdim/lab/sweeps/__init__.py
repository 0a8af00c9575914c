"""Sweeps (laboratory layer 8): tasks, training, measures, sweeps, storage and execution.

One concept per module: ``data`` (datasets, generated or shipped), ``models`` (seeded
networks), ``tasks`` (the named catalogue), ``training`` (minibatch SGD/momentum/Adam with
divergence as an outcome), ``topology`` (MST lifetimes, PH dimension), ``measures`` (named
measure groups; a failing backend is an outcome), ``registry`` (what each measure is: label,
role — SD variant, baseline, target, diagnostic — and scale; the report reads it),
``config`` (validated TOML sweeps),
``run`` (one run, start to finish), ``storage`` (the SQLite sweep file), ``engine`` (inline,
Dask LocalCluster or an existing cluster) and ``sweep`` (plan, resume, record).

Nothing is imported here, so ``import sharpdim.lab.sweeps`` stays cheap.
"""
