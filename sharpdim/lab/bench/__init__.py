"""Performance benchmarks: each result is a ratio of two timings taken in the same run.

Absolute seconds depend on the machine and on what else runs on it; a ratio to a baseline
measured alongside (e.g. the bare LAPACK calls an algorithm cannot avoid) is what a benchmark
report states and what a goal refers to. Tests never assert on timings.

Timing only: the accuracy study of the density estimators (SD-SLQ/KDE/PS against the exact SD,
``reports/estimator_convergence.md``) and the re-orthogonalization study are in
:mod:`sharpdim.lab.studies`; ``sharpdim.lab.bench.convergence`` is an alias of the former.
"""
