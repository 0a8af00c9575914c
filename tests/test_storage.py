"""The sweep file: resume never recomputes or loses a finished run, a killed sweep loses at
most the run in flight, a result is written atomically, and a corrupt, foreign, newer,
mismatched or locked file is a clear error."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from sharpdim.lab.sweeps.config import plan_runs
from sharpdim.lab.sweeps.run import execute_run
from sharpdim.lab.sweeps.storage import (
    ConfigMismatch,
    StorageError,
    StorageLocked,
    SweepStore,
)
from sharpdim.lab.sweeps.sweep import run_sweep


class _Counting:
    """A run function that counts its calls (and can crash chosen runs)."""

    def __init__(self, crash_lr: float | None = None) -> None:
        self.calls: list[float] = []
        self.crash_lr = crash_lr

    def __call__(self, spec):
        self.calls.append(spec.lr)
        if spec.lr == self.crash_lr:
            raise RuntimeError("simulated crash inside the run")
        return execute_run(spec)


def _finished_rows(path):
    with SweepStore.open_readonly(path) as store:
        runs = {r["lr"]: (r["status"], r["finished"], r["attempts"]) for r in store.runs()}
        values = {(m["run_id"], m["name"]): m["value"] for m in store.measures()}
    return runs, values


def test_rerun_resumes_and_never_recomputes_a_finished_run(tmp_path, sweep_configs):
    cfg = sweep_configs.config(tmp_path / "sweep.sqlite")
    first = _Counting()
    summary = run_sweep(cfg, scheduler="inline", fn=first, progress=False)
    assert sorted(first.calls) == [0.05, 0.1] and summary.outcomes == {"finished": 2}
    runs, values = _finished_rows(cfg.output)
    again = _Counting()
    summary = run_sweep(cfg, scheduler="inline", fn=again, progress=False)
    assert again.calls == [] and summary.already_done == 2 and summary.executed == 0
    assert _finished_rows(cfg.output) == (runs, values)


def test_a_crashed_run_is_retried_on_rerun_and_the_finished_one_is_not(tmp_path, sweep_configs):
    cfg = sweep_configs.config(tmp_path / "sweep.sqlite")
    crashing = _Counting(crash_lr=0.1)
    summary = run_sweep(cfg, scheduler="inline", fn=crashing, progress=False)
    assert summary.outcomes == {"finished": 1, "failed": 1}
    runs, _ = _finished_rows(cfg.output)
    assert runs[0.1][0] == "failed" and runs[0.05][0] == "finished"
    with SweepStore.open_readonly(cfg.output) as store:
        err = next(r["error"] for r in store.runs() if r["lr"] == 0.1)
    assert "simulated crash inside the run" in err
    healthy = _Counting()
    run_sweep(cfg, scheduler="inline", fn=healthy, progress=False)
    assert healthy.calls == [0.1]
    after, _ = _finished_rows(cfg.output)
    assert after[0.05] == runs[0.05]  # untouched: same finish time, one attempt
    assert after[0.1][0] == "finished" and after[0.1][2] == 2


def test_killing_the_sweep_loses_only_the_run_in_flight(tmp_path, sweep_configs):
    cfg = sweep_configs.config(tmp_path / "sweep.sqlite")
    (tmp_path / "cfg.toml").write_text(sweep_configs.toml(tmp_path / "sweep.sqlite"))
    script = tmp_path / "hang_second.py"
    script.write_text(textwrap.dedent("""
        import sys, time
        from sharpdim.lab.sweeps.config import load_config
        from sharpdim.lab.sweeps.run import execute_run
        from sharpdim.lab.sweeps.sweep import run_sweep

        def fn(spec):
            if spec.lr == 0.1:      # the second run is "in flight" until the process is killed
                time.sleep(300)
            return execute_run(spec)

        run_sweep(load_config(sys.argv[1]), scheduler="inline", fn=fn, progress=False)
    """))
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "cfg.toml")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if (tmp_path / "sweep.sqlite").exists():
                try:
                    runs, _ = _finished_rows(cfg.output)
                except StorageError:  # schema not created yet
                    runs = {}
                if runs.get(0.05, ("",))[0] == "finished":
                    break
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.1)
        else:
            pytest.fail("the first run did not finish within 90 s")
    finally:
        proc.kill()
        proc.wait()
    before, values = _finished_rows(cfg.output)
    assert before[0.1][0] == "pending"
    resumed = _Counting()
    run_sweep(cfg, scheduler="inline", fn=resumed, progress=False)
    assert resumed.calls == [0.1]
    after, values_after = _finished_rows(cfg.output)
    assert after[0.05] == before[0.05] and after[0.1][0] == "finished"
    assert {k: v for k, v in values_after.items() if k in values} == values


class _FailingConnection:
    """Proxy of a sqlite3 connection whose INSERT INTO timings fails (a crash mid-write)."""

    def __init__(self, conn) -> None:
        self._conn = conn

    def execute(self, sql, *args):
        if sql.startswith("INSERT INTO timings"):
            raise sqlite3.OperationalError("disk I/O error (simulated)")
        return self._conn.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._conn, name)


def test_a_result_is_written_atomically(tmp_path, sweep_configs):
    cfg = sweep_configs.config(tmp_path / "sweep.sqlite", lr=[0.05])
    spec = plan_runs(cfg)[0]
    result = execute_run(spec)
    with SweepStore.open(cfg.output) as store:
        store.register_config(cfg)
        store.plan([spec], cfg.config_hash)
        real = store._conn
        store._conn = _FailingConnection(real)
        with pytest.raises(StorageError, match="disk I/O error"):
            store.record(result)
        store._conn = real
        assert store.statuses() == {spec.run_id: "pending"}
        assert store.measures() == [] and store.seeds() == {}
        assert store.record(result) and not store.record(result)  # terminal: kept as is


def test_corrupt_and_foreign_files_are_clear_errors(tmp_path):
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database at all" * 200)
    with pytest.raises(StorageError, match="not a readable SQLite sweep file"):
        SweepStore.open(garbage)
    with pytest.raises(StorageError, match="not a readable SQLite sweep file"):
        SweepStore.open_readonly(garbage)
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(StorageError, match="not a sharpdim sweep file"):
        SweepStore.open(foreign)
    with pytest.raises(StorageError, match="does not exist"):
        SweepStore.open_readonly(tmp_path / "missing.sqlite")


def test_a_truncated_sweep_file_is_a_clear_error(tmp_path, sweep_configs):
    cfg = sweep_configs.config(tmp_path / "sweep.sqlite")
    run_sweep(cfg, scheduler="inline", progress=False)
    data = (tmp_path / "sweep.sqlite").read_bytes()
    (tmp_path / "sweep.sqlite").write_bytes(data[: len(data) // 2])
    with pytest.raises(StorageError, match="sweep.sqlite"):
        with SweepStore.open_readonly(cfg.output) as store:
            store.runs()
            store.measures()


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "s.sqlite"
    SweepStore.open(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(StorageError, match="schema version 99, newer"):
        SweepStore.open(path)


def test_a_second_writer_is_refused_while_the_first_holds_the_file(tmp_path):
    path = tmp_path / "s.sqlite"
    with SweepStore.open(path):
        with pytest.raises(StorageLocked, match="another sharpdim sweep is writing"):
            SweepStore.open(path)
    SweepStore.open(path).close()  # released on close


def test_a_file_locked_by_another_sqlite_connection_is_a_clear_error(tmp_path, sweep_configs):
    cfg = sweep_configs.config(tmp_path / "sweep.sqlite")
    SweepStore.open(cfg.output).close()
    other = sqlite3.connect(cfg.output, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with SweepStore.open(cfg.output, timeout=0.1) as store:  # WAL: reading still works
            with pytest.raises(StorageLocked, match="locked by another SQLite connection"):
                store.register_config(cfg)
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_a_sweep_file_refuses_another_configuration(tmp_path, sweep_configs):
    path = tmp_path / "sweep.sqlite"
    run_sweep(sweep_configs.config(path, lr=[0.05]), scheduler="inline", progress=False)
    with pytest.raises(ConfigMismatch, match="made from another configuration"):
        run_sweep(sweep_configs.config(path, lr=[0.05, 0.3]), scheduler="inline", progress=False)
