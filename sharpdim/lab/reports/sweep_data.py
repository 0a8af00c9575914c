"""Everything a sweep report reads from a sweep file, loaded once into a typed value.

The report renders from :class:`SweepData` only (never from the file again), so sections and
figures are pure functions of it.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sharpdim.lab.sweeps.registry import FULL_SPECTRUM, SD_PROFILE, SLQ_MEASURE
from sharpdim.lab.sweeps.storage import SweepStore

__all__ = ["SweepData", "load_sweep", "run_label", "withdrawn_reason"]

_SHORT = {"lr": "lr", "batch_size": "bs", "weight_decay": "wd"}


def run_label(run: Mapping[str, Any], factors: Sequence[str], multi_seed: bool) -> str:
    """Short label of a run by the factors that vary (and the seed when replicated)."""
    parts = []
    for f in factors:
        if f == "optimizer":
            parts.append(str(run["optimizer"]))
        elif isinstance(run.get(f), int | float):
            parts.append(f"{_SHORT.get(f, f)}={run[f]:g}")
        elif f in run:
            parts.append(f"{_SHORT.get(f, f)}={run[f]}")
    if multi_seed or not parts:
        parts.append(f"seed {run['seed']}")
    return ", ".join(parts)


def withdrawn_reason(details: Mapping[str, Any]) -> str | None:
    """Why a stored measure value is withdrawn from the report, or ``None``.

    A value is withdrawn when the estimator that produced it is known to be wrong in the
    regime of the sweeps, read from its stored diagnostics (never from its name): SD-KDE
    stored before its ``smoothing`` was recorded came from the gridded KDE, whose grid, capped
    at 65,536 points, lost mass when the bandwidth was tiny against the range (e.g. 407 where
    the exact SD was about 1,051 in a minibatch MLP spectrum). Re-measuring the run restores
    the value."""
    diag = details.get("diagnostics") if isinstance(details, Mapping) else None
    if isinstance(diag, Mapping) and diag.get("method") == "kde" and "smoothing" not in diag:
        return ("gridded SD-KDE (before the grid-free estimator): its grid lost mass when the "
                "bandwidth was tiny against the range")
    return None


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class SweepData:
    """A sweep file's contents: configuration (``config``, ``canonical``, ``factors``), the
    planned ``runs`` (with status and environment), ``records`` (one mapping per terminal run:
    hyperparameters, grid task options and every ``ok`` final measure), the final measure
    outcomes, sessions, seeds, timings, stored spectra and checkpoint series."""

    path: Path
    digest: str
    config: Mapping[str, Any]
    runs: tuple[Mapping[str, Any], ...]
    records: tuple[Mapping[str, Any], ...]
    final_measures: tuple[Mapping[str, Any], ...]
    sessions: tuple[Mapping[str, Any], ...]
    seeds: Mapping[str, Mapping[str, int]]
    timings: Mapping[str, Mapping[str, float]]
    meta: Mapping[str, str]
    hessian: Mapping[tuple[str, int], np.ndarray] = field(repr=False)
    profiles: Mapping[tuple[str, int], np.ndarray] = field(repr=False)
    slq: Mapping[tuple[str, int], tuple[np.ndarray, np.ndarray]] = field(repr=False)
    slq_checkpoints: Mapping[tuple[str, int], tuple[np.ndarray, np.ndarray]] = field(repr=False)
    series: Mapping[str, Mapping[str, list[tuple[int, float]]]] = field(repr=False)
    withdrawn: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    """``{reason: {measure: count}}`` of stored values left out (:func:`withdrawn_reason`)."""
    series_runs: Mapping[str, str] = field(default_factory=dict)
    """``{label: run_id}`` of the runs in ``series``."""

    @property
    def canonical(self) -> Mapping[str, Any]:
        return self.config["canonical"]

    @property
    def factors(self) -> list[str]:
        return list(self.config["factors"])

    @property
    def multi_seed(self) -> bool:
        return len(self.canonical["seeds"]) > 1

    @property
    def runs_by_id(self) -> dict[str, Mapping[str, Any]]:
        return {r["run_id"]: r for r in self.runs}

    @property
    def done(self) -> list[Mapping[str, Any]]:
        """Records with a generalization gap (finished runs whose performance was measured)."""
        return [r for r in self.records if "gen_gap" in r]

    def label_of(self, run_id: str) -> str:
        rec = next((r for r in self.records if r["run_id"] == run_id), None)
        return run_label(rec or self.runs_by_id[run_id], self.factors, self.multi_seed)


def load_sweep(path: str | Path) -> SweepData:
    """Read a sweep file (read-only) into :class:`SweepData`."""
    path = Path(path)
    with SweepStore.open_readonly(path) as store:
        config = store.config()
        runs = store.runs()
        records = store.records()
        names = ({r["run_id"] for r in runs}, config["factors"])
        multi_seed = len(config["canonical"]["seeds"]) > 1
        by_id = {r["run_id"]: r for r in records} | {r["run_id"]: r for r in runs
                                                      if r["run_id"] not in
                                                      {x["run_id"] for x in records}}
        series: dict[str, dict[str, list[tuple[int, float]]]] = {}
        series_runs: dict[str, str] = {}
        withdrawn: dict[str, Counter] = {}
        for m in store.measures(stage="checkpoint"):
            if m["status"] != "ok" or m["run_id"] not in names[0]:
                continue
            reason = withdrawn_reason(m["details"])
            if reason:
                withdrawn.setdefault(reason, Counter())[f"{m['name']} (checkpoints)"] += 1
                continue
            label = run_label(by_id[m["run_id"]], config["factors"], multi_seed)
            series_runs[label] = m["run_id"]
            series.setdefault(label, {}).setdefault(m["name"], []).append(
                (m["epoch"], m["value"]))
        nodes_name, weights_name = SLQ_MEASURE

        def slq(stage: str) -> dict:
            w = store.arrays(weights_name, stage=stage)
            return {k: (v, w[k]) for k, v in store.arrays(nodes_name, stage=stage).items()
                    if k in w}

        final_measures = store.measures(stage="final")
        by_run = {r["run_id"]: r for r in records}
        for m in final_measures:
            reason = withdrawn_reason(m["details"]) if m["status"] == "ok" else None
            if reason and m["name"] in by_run.get(m["run_id"], {}):
                del by_run[m["run_id"]][m["name"]]
                withdrawn.setdefault(reason, Counter())[m["name"]] += 1
        data = SweepData(
            path=path, digest=_file_digest(path), config=config, runs=tuple(runs),
            records=tuple(records), final_measures=tuple(final_measures),
            withdrawn={k: dict(v) for k, v in withdrawn.items()},
            sessions=tuple(store.sessions()), seeds=store.seeds(), timings=store.timings(),
            meta=store.meta(), hessian=store.arrays(FULL_SPECTRUM),
            profiles=store.arrays(SD_PROFILE), slq=slq("final"),
            slq_checkpoints=slq("checkpoint"), series=series, series_runs=series_runs)
    return data
