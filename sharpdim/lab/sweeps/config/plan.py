"""The grid of a validated sweep configuration expanded into its runs, each a :class:`RunSpec`
named by the digest of its content (:mod:`sharpdim.lab.sweeps.config`)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from sharpdim.lab.sweeps.config.schema import (
    _EXACT_GROUPS,
    FULL_BATCH,
    RunSpec,
    SweepConfig,
    _digest,
)
from sharpdim.lab.sweeps.tasks import get_task

__all__ = ["plan_runs"]


def _option_combos(grid: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every combination of the ``[grid.task_options]`` values (``[{}]`` when none)."""
    table = grid.get("task_options", {})
    keys = list(table)
    return [dict(zip(keys, vals, strict=True))
            for vals in itertools.product(*(table[k] for k in keys))]


def plan_runs(config: SweepConfig, *, progress: bool = False) -> list[RunSpec]:
    """Every run of the grid, in a fixed order (optimizer, task options, lr, batch size,
    weight decay, seed), each with its content-derived ``run_id``."""
    train = dict(config.train)
    runs = []
    for opt in config.grid["optimizer"]:
        for combo in _option_combos(config.grid):
            task_options = {**config.task_options, **combo}
            batch_sizes = [_full_batch(config.task, task_options) if b == FULL_BATCH else b
                           for b in config.grid["batch_size"]]
            wds = config.grid["weight_decay"]
            wds = wds[opt] if isinstance(wds, Mapping) else wds
            for lr, bs, wd, seed in itertools.product(config.grid["lr"][opt], batch_sizes, wds,
                                                      config.seeds):
                run_train = {**train,
                             "momentum": train["momentum"] if opt == "momentum" else 0.0}
                run_train.pop("optimizer")
                run_train.pop("weight_decay")
                measures = _run_measures(config.measures, lr, bs, seed)
                key = {"task": config.task, "task_options": task_options, "lr": lr,
                       "batch_size": bs, "weight_decay": wd, "optimizer": opt, "seed": seed,
                       "train": run_train, "measures": measures}
                runs.append(RunSpec(run_id=_digest(key), sweep=config.name, task=config.task,
                                    task_options=dict(task_options), lr=lr, batch_size=bs,
                                    weight_decay=wd, optimizer=opt, seed=seed,
                                    train=run_train, measures=measures,
                                    progress=progress))
    return runs


def _full_batch(task: str, task_options: Mapping[str, Any]) -> int:
    """The training-set size of ``task_options``: the batch size of ``"full"``."""
    t = get_task(task)
    return int(t.dataset(t.options(task_options)).n_train)


def _run_measures(measures: Mapping[str, Any], lr: float, bs: int,
                  seed: int) -> dict[str, Any]:
    """The measures of one run: without the exact-spectrum groups when ``exact_runs`` names
    other runs only."""
    out = dict(measures)
    subset = out.get("exact_runs") or []
    if subset and [float(lr), bs, seed] not in subset:
        out["final"] = [g for g in out["final"] if g not in _EXACT_GROUPS]
    return out
