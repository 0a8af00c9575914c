"""A committed run, back as objects: ``sharpdim.load_run(sweep_file, run_id)``.

The trained model is rebuilt from the task and its initialization seed, then its stored
``state_dict`` (raw arrays: :mod:`sharpdim.lab.sweeps.weights`) is loaded; ``.data`` is the
task's data for the run's options — exactly the examples trained on (``x_train``/``y_train``),
the test set and the held-out split where the sweep has one (the data are a deterministic
function of the options). ``.initial_model`` is the network at its initialization.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from sharpdim.lab.sweeps.config import RunSpec
from sharpdim.lab.sweeps.data import Dataset
from sharpdim.lab.sweeps.run import derived_seed
from sharpdim.lab.sweeps.storage import StorageError, SweepStore
from sharpdim.lab.sweeps.tasks import get_task

__all__ = ["LoadedRun", "load_run"]


@dataclass(frozen=True)
class LoadedRun:
    """A run of a sweep file: ``model`` (trained, eval mode), ``initial_model``, ``loss_fn``,
    ``spec`` (the run's :class:`RunSpec`), ``data``, ``status``, ``seeds`` and ``epoch`` (of
    the weights loaded)."""

    model: nn.Module = field(repr=False)
    initial_model: nn.Module = field(repr=False)
    loss_fn: Callable
    spec: RunSpec
    data: Dataset = field(repr=False)
    status: str
    seeds: Mapping[str, int]
    epoch: int
    stage: str


def load_run(sweep_file: str | Path, run_id: str, *, stage: str = "final",
             epoch: int | None = None) -> LoadedRun:
    """Rebuild run ``run_id`` of ``sweep_file`` with its stored weights at ``stage`` (``final``,
    ``checkpoint`` with ``epoch``, or ``init``); nothing is written to the file."""
    with SweepStore.open_readonly(sweep_file) as store:
        rows = store._query("SELECT spec, status FROM runs WHERE run_id = ?", (run_id,))
        if not rows:
            raise KeyError(f"run_id {run_id!r} is not in {sweep_file}")
        spec_json, status = rows[0]
        state = store.weights(run_id, stage=stage, epoch=epoch)
        if epoch is None and state:
            epoch = max(store.weight_epochs(run_id, stage=stage) or [0])
        seeds = store.seeds().get(run_id, {})
    if not state:
        raise StorageError(f"run {run_id} of {sweep_file} has no stored weights at stage "
                           f"{stage!r} (sweeps made before weights were kept have none)")
    spec = RunSpec(**{k: v for k, v in json.loads(spec_json).items()})
    task = get_task(spec.task)
    init_seed = seeds.get("init", derived_seed(spec.seed, "init"))
    model = task.model(spec.task_options, init_seed)
    model.load_state_dict(state)
    model.eval()
    initial = task.model(spec.task_options, init_seed)
    initial.eval()
    return LoadedRun(model, initial, task.loss_for(spec.task_options), spec,
                     task.dataset(spec.task_options), status, dict(seeds),
                     int(epoch or 0), stage)


