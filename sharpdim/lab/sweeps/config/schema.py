"""The schema of a sweep configuration (:mod:`sharpdim.lab.sweeps.config`): the allowed keys of
each table, the validated :class:`SweepConfig`, one run's :class:`RunSpec` and the content
digest that names them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sharpdim.lab.sweeps.measures import MeasureSettings

__all__ = ["ConfigError", "SweepConfig", "RunSpec", "measure_settings", "FULL_BATCH"]


FULL_BATCH = "full"  # grid.batch_size: every step uses the whole training set


class ConfigError(ValueError):
    """A sweep configuration that cannot run; the message names the key and the value."""


_TOP = {"name", "task", "seeds", "description", "output", "task_options", "train", "grid",
        "measures", "engine"}
_TRAIN = {"epochs", "optimizer", "momentum", "weight_decay", "betas", "divergence_loss",
          "checkpoints", "stop", "target_loss", "max_steps", "checkpoint_weights"}
_GRID = {"lr", "batch_size", "weight_decay", "optimizer", "lr_by_optimizer",
         "weight_decay_by_optimizer", "task_options"}
_MEASURES = {"final", "checkpoint", "exact_max_params", "exact", "density", "update", "sup",
             "hessian", "topology", "fixed_batch", "eos", "bound", "exact_runs"}
_EXACT_GROUPS = ("sd_exact", "sd_sup")
_EOS = {"n_batches", "n_steps", "slq_runs", "method"}
_BOUND = {"n_points", "chunk"}
_HESSIAN = {"method", "n_examples", "n_steps", "trace_samples"}
_TOPOLOGY = {"iterates", "alpha", "n_sizes", "loss_examples"}
_ENGINE = {"workers"}
_ESTIMATOR_FIXED = {"model", "loss_fn", "data", "lr", "batch_size", "method", "optimizer",
                    "momentum", "weight_decay", "betas", "jacobian", "seed", "progress",
                    "points", "optimizer_state", "aggregate"}


@dataclass(frozen=True)
class RunSpec:
    """One training run of a sweep: everything it needs, JSON-able, and its identity.

    ``run_id`` is a SHA-256 prefix of ``key`` (the canonical JSON of every field that
    affects the result), so a rerun recognizes a finished run by content.
    """

    run_id: str
    sweep: str
    task: str
    task_options: Mapping[str, Any]
    lr: float
    batch_size: int
    weight_decay: float
    optimizer: str
    seed: int
    train: Mapping[str, Any]
    measures: Mapping[str, Any]
    progress: bool = False

    @property
    def hyperparameters(self) -> dict[str, Any]:
        return {"lr": self.lr, "batch_size": self.batch_size, "weight_decay": self.weight_decay,
                "optimizer": self.optimizer}

    def label(self) -> str:
        return (f"{self.task} lr={self.lr:g} bs={self.batch_size} wd={self.weight_decay:g} "
                f"{self.optimizer} seed={self.seed}")


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep configuration (see :mod:`sharpdim.lab.sweeps.config`)."""

    name: str
    task: str
    seeds: tuple[int, ...]
    description: str
    output: str
    task_options: Mapping[str, Any]
    train: Mapping[str, Any]
    grid: Mapping[str, Any]
    measures: Mapping[str, Any]
    engine: Mapping[str, Any]
    source: str = ""
    text: str = field(default="", repr=False)

    @property
    def factors(self) -> tuple[str, ...]:
        """Hyperparameters that vary across the grid (the granulated-Kendall factors)."""
        out = []
        lrs = {lr for v in self.grid["lr"].values() for lr in v}
        if len(lrs) > 1:
            out.append("lr")
        wd = self.grid["weight_decay"]
        wds = {w for v in wd.values() for w in v} if isinstance(wd, Mapping) else set(wd)
        for key in ("batch_size", "weight_decay", "optimizer"):
            if (len(wds) if key == "weight_decay" else len(self.grid[key])) > 1:
                out.append(key)
        out += [k for k, v in self.grid.get("task_options", {}).items() if len(v) > 1]
        return tuple(out)

    def canonical(self) -> dict[str, Any]:
        """The fields that determine the results (not the output path nor the engine)."""
        return {"name": self.name, "task": self.task, "seeds": list(self.seeds),
                "task_options": dict(self.task_options), "train": dict(self.train),
                "grid": json.loads(json.dumps(self.grid)), "measures": dict(self.measures)}

    @property
    def config_hash(self) -> str:
        return _digest(self.canonical())


def _digest(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def measure_settings(measures: Mapping[str, Any]) -> MeasureSettings:
    """The :class:`MeasureSettings` of a validated ``measures`` mapping."""
    return MeasureSettings(
        final=tuple(measures["final"]), checkpoint=tuple(measures["checkpoint"]),
        exact_max_params=measures["exact_max_params"], exact=measures["exact"],
        density=measures["density"], update=measures["update"], sup=measures["sup"],
        hessian=measures["hessian"], topology=measures["topology"],
        fixed_batch=measures.get("fixed_batch", {}), eos=measures.get("eos", {}),
        bound=measures.get("bound", {}))
