"""Studies (laboratory layer 9): whole investigations, each one module that runs its
experiment and writes its own report (``sharpdim study NAME``; ``sharpdim study --list``).

* ``estimator_convergence`` — SD-SLQ/KDE/PS against the exact SD as runs and Lanczos steps
  grow, on synthetic cases and on trained networks of the sweeps' catalogue
  (``reports/estimator_convergence.md``);
* ``reorthogonalization`` — the SD error of each Lanczos re-orthogonalization mode, the data
  behind the default (a subsection of ``reports/benchmarks.md``' curvature section);
* ``trajectory_lyapunov`` — the Lyapunov spectrum and SD along small networks' own training
  trajectories (``reports/trajectory_lyapunov/``);
* ``dysts_maps`` — dysts' discrete maps checked with sharpdim (``reports/audits/dysts_maps.md``).

They import the sweeps and the benchmarks (layer 8) and the reports' provenance (layer 9); only
``lab.cli`` (and the old paths' alias modules) import them. Nothing is imported here.
"""
