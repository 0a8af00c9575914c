"""One run of a sweep, start to finish, as a pure function of its :class:`RunSpec`.

``execute_run(spec)`` builds the task, trains (measuring at checkpoints), measures at the
end and returns a :class:`RunResult` — plain data that pickles across processes, so the
same function runs in this process or on a Dask worker. It never raises for a problem of
the run itself: divergence is the outcome ``"diverged"``, an exception while building or
training is the outcome ``"failed"`` with its traceback (a rerun of the sweep retries it),
and a failing measure is an ``error`` outcome of that measure only.

Seeds: the run's ``seed`` is split with ``numpy.random.SeedSequence([seed, stream])`` into
the initialization (stream 0), the minibatch order (1) and the measures (2); all are
recorded in ``RunResult.seeds``.
"""

from __future__ import annotations

import os
import platform
import socket
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from sharpdim.lab.provenance import device_of, machine
from sharpdim.lab.sweeps.config import RunSpec, measure_settings
from sharpdim.lab.sweeps.measures import (
    GROUPS,
    MeasureContext,
    MeasureOutcome,
    compute_measures,
)
from sharpdim.lab.sweeps.models import count_parameters
from sharpdim.lab.sweeps.tasks import get_task
from sharpdim.lab.sweeps.training import TrainSettings, train
from sharpdim.vocabulary import RunStatus

__all__ = ["StageMeasure", "CheckpointRecord", "RunResult", "execute_run", "derived_seed"]

_STREAMS = {"init": 0, "order": 1, "measures": 2}


def derived_seed(seed: int, stream: str) -> int:
    """An independent 31-bit seed for ``stream`` of run ``seed``."""
    state = np.random.SeedSequence([int(seed), _STREAMS[stream]]).generate_state(1)
    return int(state[0] >> 1)


@dataclass(frozen=True)
class StageMeasure:
    """A measure outcome at a stage: ``"final"`` or ``"checkpoint"`` (at ``epoch``)."""

    stage: str
    epoch: int
    outcome: MeasureOutcome


@dataclass(frozen=True)
class CheckpointRecord:
    epoch: int
    step: int
    seconds: float


@dataclass(frozen=True)
class RunResult:
    """Everything a run produced. ``status``: ``"finished"``, ``"diverged"`` or
    ``"failed"``; ``error``: the divergence reason or the traceback (``None`` when
    finished); ``arrays``: ``(stage, epoch, name) -> float64 array`` (spectra)."""

    run_id: str
    status: RunStatus
    error: str | None
    n_parameters: int | None
    epochs_completed: int
    steps: int
    measures: tuple[StageMeasure, ...]
    checkpoints: tuple[CheckpointRecord, ...]
    arrays: dict[tuple[str, int, str], np.ndarray] = field(repr=False)
    seeds: dict[str, int]
    timings: dict[str, float]
    environment: dict[str, Any]
    weights: dict[tuple[str, int], dict[str, torch.Tensor]] = field(default_factory=dict,
                                                                     repr=False)
    """``(stage, epoch) -> state_dict`` copies: the final trained weights and those at each
    checkpoint (stored as raw arrays, :mod:`sharpdim.lab.sweeps.weights`)."""


def _environment(model: torch.nn.Module | None) -> dict[str, Any]:
    """Where the run ran: host, processor (:func:`~sharpdim.lab.provenance.machine`: it sets
    the rounding), versions, threads, and the device and dtype read from the model's
    parameters (``None`` when no model was built, never a guess)."""
    where = device_of(model) if model is not None else {"device": None, "dtype": None}
    return {"host": socket.gethostname(), **machine(), "pid": os.getpid(),
            "python": platform.python_version(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), **where}


def execute_run(spec: RunSpec) -> RunResult:
    """Train and measure one run (see the module docstring)."""
    t0 = time.perf_counter()
    seeds = {"seed": spec.seed, **{k: derived_seed(spec.seed, k) for k in _STREAMS}}
    timings: dict[str, float] = {}
    staged: list[StageMeasure] = []
    arrays: dict[tuple[str, int, str], np.ndarray] = {}
    checkpoints: list[CheckpointRecord] = []
    weights: dict[tuple[str, int], dict[str, torch.Tensor]] = {}
    model = None
    n_params = None
    try:
        task = get_task(spec.task)
        data = task.dataset(spec.task_options)
        model = task.model(spec.task_options, seeds["init"])
        n_params = count_parameters(model)
        initial = _state_copy(model)
        weights[("init", 0)] = initial
        loss_fn = task.loss_for(spec.task_options)
        ms = measure_settings(spec.measures)
        t = spec.train
        settings = TrainSettings(
            lr=spec.lr, batch_size=spec.batch_size, epochs=t["epochs"],
            optimizer=spec.optimizer, momentum=t["momentum"], weight_decay=spec.weight_decay,
            betas=tuple(t["betas"]), trajectory=ms.topology.get("iterates", 0),
            checkpoint_epochs=tuple(t["checkpoint_epochs"]),
            divergence_loss=t["divergence_loss"], stop=t.get("stop", "epochs"),
            target_loss=t.get("target_loss", 0.01), max_steps=t.get("max_steps"))
        timings["setup"] = time.perf_counter() - t0

        def context(optimizer, trajectory=None, training=None) -> MeasureContext:
            return MeasureContext(
                model=model, loss_fn=loss_fn, data=data, lr=spec.lr,
                batch_size=spec.batch_size, optimizer=spec.optimizer,
                momentum=settings.torch_momentum, weight_decay=spec.weight_decay,
                betas=settings.betas, n_parameters=n_params, seed=seeds["measures"],
                settings=ms, trajectory=trajectory, torch_optimizer=optimizer,
                progress=False, training=training, initial_state=initial)

        measure_seconds = 0.0

        def on_checkpoint(epoch: int, step: int, optimizer, window) -> None:
            nonlocal measure_seconds
            tc = time.perf_counter()
            outcomes, arr = compute_measures(context(optimizer, window), ms.checkpoint)
            staged.extend(StageMeasure("checkpoint", epoch, o) for o in outcomes)
            arrays.update({("checkpoint", epoch, k): v for k, v in arr.items()})
            dt = time.perf_counter() - tc
            measure_seconds += dt
            checkpoints.append(CheckpointRecord(epoch, step, dt))
            if t.get("checkpoint_weights", True):
                weights[("checkpoint", epoch)] = _state_copy(model)

        result = train(model, data, settings, loss_fn, seed=seeds["order"],
                       on_checkpoint=on_checkpoint, progress=spec.progress, desc=spec.label())
        timings["train"] = result.seconds - measure_seconds
        timings["checkpoint_measures"] = measure_seconds
        tf = time.perf_counter()
        if result.diverged:
            status, error = "diverged", result.divergence
            for g in ("performance", *ms.final):
                for name in GROUPS[g].outputs:
                    staged.append(StageMeasure("final", result.epochs_completed, MeasureOutcome(
                        name, g, "skipped", None, f"run diverged: {result.divergence}", 0.0, {})))
        else:
            status, error = "finished", None
            summary = {"steps": result.steps, "epochs": result.epochs_completed,
                       "converged": result.converged, "stopped_by": result.stopped_by,
                       "final_train_loss": result.final_train_loss,
                       "final_train_acc": result.final_train_acc}
            outcomes, arr = compute_measures(
                context(result.optimizer, result.trajectory, summary), ms.final)
            staged.extend(StageMeasure("final", result.epochs_completed, o) for o in outcomes)
            arrays.update({("final", result.epochs_completed, k): v for k, v in arr.items()})
            weights[("final", result.epochs_completed)] = _state_copy(model)
        timings["final_measures"] = time.perf_counter() - tf
        epochs, steps = result.epochs_completed, result.steps
    except Exception:  # the run failed; the sweep records it and goes on
        status, error = "failed", traceback.format_exc()
        epochs, steps = 0, 0
    timings["total"] = time.perf_counter() - t0
    return RunResult(run_id=spec.run_id, status=status, error=error, n_parameters=n_params,
                     epochs_completed=epochs, steps=steps, measures=tuple(staged),
                     checkpoints=tuple(checkpoints), arrays=arrays, seeds=seeds,
                     timings=timings, environment=_environment(model), weights=weights)


def _state_copy(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
