"""Sweep configuration: a TOML file, validated completely before any training.

::

    name = "mnist1d_small"             # required; names the sweep and its report folder
    task = "mnist1d_mlp"               # required; see sharpdim.lab.sweeps.tasks
    seeds = [0]                        # required; training seeds (replicates)
    description = "..."                # optional
    output = "reports/demo/sweep.sqlite"   # optional (default reports/<name>/sweep.sqlite);
                                       # relative to the current directory, not this file

    [task_options]    # optional overrides of the task's options (width, n_samples, ...)
    [train]           # epochs (required: the schedule, or the cap with stop = "criterion"
                      # or "train_loss"), stop ("epochs" | "criterion" | "train_loss"),
                      # target_loss (0.01), max_steps,
                      # optimizer, momentum, weight_decay, betas, divergence_loss,
                      # checkpoints (number of evenly spaced checkpoints),
                      # checkpoint_weights (true: keep the weights at every checkpoint
                      # besides the initial and final ones, which are always kept)
    [grid]            # lr and batch_size (required; "full" = the whole training set of
                      # each task-option combination: full-batch GD), weight_decay,
                      # optimizer (optional);
                      # [grid.lr_by_optimizer] gives each optimizer its own lr list instead,
                      # [grid.weight_decay_by_optimizer] its own weight decays (AdamW's
                      # decoupled decay and SGD's coupled one are not the same number);
                      # [grid.task_options] makes task options grid factors, e.g.
                      # label_noise = [0.0, 0.2] or train_size = [300, 0]
    [measures]        # final, checkpoint (group lists), exact_max_params and the option
                      # tables exact, density, update, sup, hessian, topology,
                      # fixed_batch (batch_size, method + estimator options), eos
                      # (n_batches, n_steps, slq_runs, method), bound (n_points, chunk);
                      # exact_runs = [[lr, batch_size, seed], ...]: take sd_exact / sd_sup
                      # on these runs only (exact spectra of a large net are costly)
    [engine]          # workers (LocalCluster worker processes)

Every key is checked: an unknown key, a missing required key, a wrong type, an empty list,
a non-positive learning rate, an unknown task, optimizer or measure group is a
:class:`ConfigError` (a ``ValueError``) that names the key and the bad value. The grid is the
product lr × batch_size × weight_decay × optimizer × task options × seeds; grid keys with two
or more values are the *factors* of the granulated Kendall analysis.

Where it lives, every name importable from this package:
:mod:`~sharpdim.lab.sweeps.config.schema` (the key tables, :class:`SweepConfig`,
:class:`RunSpec`, the run digest), :mod:`~sharpdim.lab.sweeps.config.parser` (TOML → validated
:class:`SweepConfig`, :class:`ConfigError`) and :mod:`~sharpdim.lab.sweeps.config.plan` (the
grid expanded into runs, each a :class:`RunSpec`).
"""

from __future__ import annotations

from sharpdim._alias import forwarding
from sharpdim.lab.sweeps.config import parser, plan, schema
from sharpdim.lab.sweeps.config.parser import ConfigError, load_config, parse_config
from sharpdim.lab.sweeps.config.plan import plan_runs
from sharpdim.lab.sweeps.config.schema import FULL_BATCH, RunSpec, SweepConfig, measure_settings

__all__ = ["ConfigError", "SweepConfig", "RunSpec", "load_config", "parse_config", "plan_runs",
           "measure_settings", "FULL_BATCH"]

# every other module-level name of the single module this package was (the key tables, the
# parser's helpers), so every old import keeps working
_, __getattr__ = forwarding(schema, parser, plan)
