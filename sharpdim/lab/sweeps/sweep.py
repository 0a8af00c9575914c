"""A sweep: plan the grid, skip what the sweep file already holds, run the rest, record.

The configuration is validated completely before anything starts (see
:mod:`sharpdim.lab.sweeps.config`); the sweep file is opened as its single writer; runs
whose result is already terminal (``finished`` or ``diverged``) are not run again; every
other run goes to the engine, and each result is written the moment it arrives.
"""

from __future__ import annotations

import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sharpdim.lab.provenance import git_commit, package_versions, source_digest
from sharpdim.lab.sweeps.config import SweepConfig, plan_runs
from sharpdim.lab.sweeps.engine import EngineInfo, check_scheduler, run_all
from sharpdim.lab.sweeps.run import RunResult, execute_run
from sharpdim.lab.sweeps.storage import SweepStore

__all__ = ["SweepSummary", "run_sweep"]


@dataclass(frozen=True)
class SweepSummary:
    """What a sweep invocation did. ``already_done``: runs found terminal and skipped;
    ``executed``: runs sent to the engine; ``outcomes``: their statuses, counted."""

    path: str
    planned: int
    already_done: int
    executed: int
    outcomes: dict[str, int]
    seconds: float
    engine: EngineInfo | None

    @property
    def failed(self) -> int:
        return self.outcomes.get("failed", 0)


def run_sweep(
    config: SweepConfig,
    *,
    output: str | Path | None = None,
    scheduler: str = "local",
    workers: int | None = None,
    progress: bool = True,
    fn: Callable = execute_run,
) -> SweepSummary:
    """Run (or resume) ``config`` into its sweep file (``output`` overrides
    ``config.output``). ``workers`` defaults to ``config.engine.workers``."""
    t0 = time.perf_counter()
    scheduler = check_scheduler(scheduler)
    workers = workers if workers is not None else config.engine.get("workers")
    path = Path(output or config.output)
    specs = plan_runs(config, progress=progress and scheduler == "inline")
    with SweepStore.open(path) as store:
        store.register_config(config)
        store.plan(specs, config.config_hash)
        done = store.terminal_ids()
        todo = [s for s in specs if s.run_id not in done]
        outcomes: Counter[str] = Counter()
        engine = None
        if todo:
            effective = (1 if scheduler == "inline" else workers or min(len(todo), 2)
                         if scheduler == "local" else None)
            session = store.start_session(
                scheduler=scheduler, workers=effective, host=socket.gethostname(),
                git_commit=git_commit(),
                # the commit may not hold the code (untracked files): record its digest too
                versions={**package_versions(_VERSIONED),
                          "sharpdim_source_digest": source_digest("sharpdim")},
                n_planned=len(specs), n_todo=len(todo))

            def on_result(result: RunResult) -> None:
                if store.record(result, session_id=session):
                    outcomes[result.status] += 1

            try:
                engine = run_all(todo, on_result, scheduler=scheduler, workers=effective,
                                 fn=fn, progress=progress)
            finally:
                store.end_session(session, sum(outcomes.values()))
    return SweepSummary(path=str(path), planned=len(specs), already_done=len(specs) - len(todo),
                        executed=len(todo), outcomes=dict(outcomes),
                        seconds=time.perf_counter() - t0, engine=engine)


_VERSIONED = ("numpy", "scipy", "torch", "dask", "distributed", "mnist1d", "scikit-learn",
              "matplotlib")
