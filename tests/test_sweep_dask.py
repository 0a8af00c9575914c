"""The Dask engine on real clusters on 127.0.0.1: the default LocalCluster of the command, an
existing cluster reached by its tcp:// address (results identical to in-process runs), and a
worker killed mid-run whose run is retried on another worker.

Slow (a cluster start plus worker processes that import torch): ~15 s on 2 cores.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from pathlib import Path

import cloudpickle
import pytest

from sharpdim.lab.cli import main
from sharpdim.lab.sweeps.run import execute_run
from sharpdim.lab.sweeps.storage import SweepStore
from sharpdim.lab.sweeps.sweep import run_sweep

pytestmark = pytest.mark.slow

# Workers unpickle the run functions below by value (this test module is not importable there).
cloudpickle.register_pickle_by_value(sys.modules[__name__])

def _kill_on_first_attempt(spec, *, log: str):
    """Append this worker's pid to ``log``; the first attempt of lr=0.1 kills its worker."""
    with open(log, "a") as fh:
        fh.write(f"{spec.lr} {os.getpid()}\n")
    with open(log) as fh:
        attempts = sum(1 for line in fh if line.split()[0] == str(spec.lr))
    if spec.lr == 0.1 and attempts == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return execute_run(spec)


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0", silence_logs=50) as c:
        yield c


def _final_values(path: Path) -> dict:
    with SweepStore.open_readonly(path) as store:
        lr_of = {r["run_id"]: r["lr"] for r in store.runs()}
        return {(lr_of[m["run_id"]], m["name"]): m["value"] for m in store.measures()}


def test_a_worker_killed_mid_run_is_retried_and_results_match_in_process_runs(
        cluster, tmp_path, sweep_configs):
    log = tmp_path / "attempts.log"
    fn = functools.partial(_kill_on_first_attempt, log=str(log))
    remote = run_sweep(sweep_configs.config(tmp_path / "remote.sqlite", name="dask"),
                       scheduler=cluster.scheduler_address,
                       fn=fn, progress=False)
    assert remote.outcomes == {"finished": 2} and remote.engine.scheduler.startswith("tcp://")
    attempts = [line.split() for line in log.read_text().splitlines()]
    retried = [pid for lr, pid in attempts if lr == "0.1"]
    assert len(retried) == 2 and retried[0] != retried[1]  # a new worker process finished it
    run_sweep(sweep_configs.config(tmp_path / "inline.sqlite", name="dask"), scheduler="inline",
              progress=False)
    assert _final_values(tmp_path / "remote.sqlite") == _final_values(tmp_path / "inline.sqlite")


def test_the_command_starts_its_own_local_cluster_by_default(tmp_path, capsys, sweep_configs):
    cfg = tmp_path / "c.toml"
    cfg.write_text(sweep_configs.toml(tmp_path / "local.sqlite").replace("[0.05, 0.1]",
                                                                       "[0.05]"))
    assert main(["sweep", str(cfg), "--workers", "1", "--quiet"]) == 0
    assert "1 run now (1 finished)" in capsys.readouterr().out
    with SweepStore.open_readonly(tmp_path / "local.sqlite") as store:
        (session,) = store.sessions()
    assert session["scheduler"] == "local" and session["workers"] == 1
