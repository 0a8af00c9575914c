"""One SQLite file per sweep: configs, runs, measures, checkpoints, spectra, seeds, timings.

Guarantees (pinned in ``tests/test_storage.py``):

* **One writer.** Opening for writing takes an exclusive ``flock`` on ``<file>.lock`` (the
  kernel drops it when the process dies, so a killed sweep never leaves a stale lock); a
  second writer gets :class:`StorageLocked` at once. The writer deletes the lock file when it
  closes (a ``<file>.lock`` left beside a sweep file is the trace of a killed writer and is
  harmless: the lock is the ``flock``, not the file's existence); a writer re-checks after
  locking that the file it locked is still the one at that path, so deleting never lets two
  writers in. Readers (reports) take no lock.
* **Readers never write.** :meth:`SweepStore.open_readonly` checks the SQLite header before
  connecting and connects read-only (``mode=ro``; ``immutable=1`` when no write-ahead log
  exists, i.e. no writer has the file open), so a report never changes its input, not even
  a 0-byte or foreign file, and leaves no side files behind.
* **Atomic runs.** A run's result — status, every measure, checkpoint, array, seed and timing
  — is written in one transaction, so a killed process loses at most the runs in flight.
  WAL journal with ``synchronous=FULL``.
* **Resume.** Runs are keyed by a content hash of their spec; ``finished`` and ``diverged``
  are terminal and are never rewritten; ``pending`` and ``failed`` runs are run again.
* **Clear errors.** A file that is not SQLite, not a sharpdim sweep, of a newer schema,
  locked by SQLite, or made from another configuration raises :class:`StorageError` (or a
  subclass) naming the file and the remedy.

Schema version 1 (``PRAGMA user_version``; ``meta.format = 'sharpdim-sweep'``).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import os
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sharpdim.lab.sweeps.config import RunSpec, SweepConfig
from sharpdim.lab.sweeps.measures import jsonable
from sharpdim.lab.sweeps.run import RunResult
from sharpdim.lab.sweeps.weights import decode_state, encode_state
from sharpdim.vocabulary import MEASURE_STATUSES, RUN_STATUSES

__all__ = [
    "SCHEMA_VERSION",
    "TERMINAL",
    "StorageError",
    "StorageLocked",
    "ConfigMismatch",
    "SweepStore",
]

SCHEMA_VERSION = 1
TERMINAL = ("finished", "diverged")
_FORMAT = "sharpdim-sweep"

_WEIGHTS_TABLE = """CREATE TABLE weights (
    run_id TEXT NOT NULL REFERENCES runs(run_id), stage TEXT NOT NULL, epoch INTEGER NOT NULL,
    name TEXT NOT NULL, dtype TEXT NOT NULL, shape TEXT NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (run_id, stage, epoch, name))"""

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE configs (
    config_hash TEXT PRIMARY KEY, name TEXT NOT NULL, task TEXT NOT NULL, source TEXT,
    toml TEXT, canonical TEXT NOT NULL, factors TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE sessions (
    session_id INTEGER PRIMARY KEY AUTOINCREMENT, started TEXT NOT NULL, finished TEXT,
    scheduler TEXT, workers INTEGER, host TEXT, pid INTEGER, git_commit TEXT,
    versions TEXT, n_planned INTEGER, n_todo INTEGER, n_done INTEGER DEFAULT 0);
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY, config_hash TEXT NOT NULL REFERENCES configs(config_hash),
    task TEXT NOT NULL, lr REAL NOT NULL, batch_size INTEGER NOT NULL,
    weight_decay REAL NOT NULL, optimizer TEXT NOT NULL, seed INTEGER NOT NULL,
    spec TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN (@RUN_STATUSES@)),
    error TEXT, n_parameters INTEGER, epochs_completed INTEGER, steps INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0, session_id INTEGER, finished TEXT, seconds REAL,
    environment TEXT);
CREATE TABLE measures (
    run_id TEXT NOT NULL REFERENCES runs(run_id), stage TEXT NOT NULL, epoch INTEGER NOT NULL,
    name TEXT NOT NULL, grp TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN (@MEASURE_STATUSES@)),
    value REAL, error TEXT, seconds REAL, details TEXT,
    PRIMARY KEY (run_id, stage, epoch, name));
CREATE TABLE checkpoints (
    run_id TEXT NOT NULL REFERENCES runs(run_id), epoch INTEGER NOT NULL,
    step INTEGER NOT NULL, seconds REAL, PRIMARY KEY (run_id, epoch));
CREATE TABLE arrays (
    run_id TEXT NOT NULL REFERENCES runs(run_id), stage TEXT NOT NULL, epoch INTEGER NOT NULL,
    name TEXT NOT NULL, size INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (run_id, stage, epoch, name));
@WEIGHTS@;
CREATE TABLE seeds (
    run_id TEXT NOT NULL REFERENCES runs(run_id), purpose TEXT NOT NULL,
    seed INTEGER NOT NULL, PRIMARY KEY (run_id, purpose));
CREATE TABLE timings (
    run_id TEXT NOT NULL REFERENCES runs(run_id), phase TEXT NOT NULL,
    seconds REAL NOT NULL, PRIMARY KEY (run_id, phase));
""".replace("@WEIGHTS@", _WEIGHTS_TABLE).replace(
    "@RUN_STATUSES@", ", ".join(f"'{v}'" for v in RUN_STATUSES)).replace(
    "@MEASURE_STATUSES@", ", ".join(f"'{v}'" for v in MEASURE_STATUSES))  # one vocabulary


class StorageError(RuntimeError):
    """A sweep file that cannot be used; the message names the file and the remedy."""


class StorageLocked(StorageError):
    """Another process writes to this sweep file."""


class ConfigMismatch(StorageError):
    """The sweep file was made from another configuration."""


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _dumps(x: Any) -> str:
    return json.dumps(jsonable(x), sort_keys=True)


class SweepStore:
    """A sweep's SQLite file. Use :meth:`open` (writer) or :meth:`open_readonly`."""

    def __init__(self, path: Path, conn: sqlite3.Connection, lock_fd: int | None) -> None:
        self.path = path
        self._conn = conn
        self._lock_fd = lock_fd

    # -- opening ----------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, *, timeout: float = 5.0) -> SweepStore:
        """Open (creating if absent) for writing; takes the single-writer lock.
        ``timeout``: seconds to wait for SQLite's own lock before :class:`StorageLocked`."""
        path = Path(path)
        lock_fd = cls._lock(path)
        try:
            conn = cls._connect(path, readonly=False, timeout=timeout)
            store = cls(path, conn, lock_fd)
            store._initialize()
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(str(path) + ".lock")
            fcntl.flock(lock_fd, fcntl.LOCK_UN)
            os.close(lock_fd)
            raise
        return store

    @staticmethod
    def _lock(path: Path) -> int:
        """Take the single-writer ``flock`` on ``<path>.lock``; return its descriptor."""
        lock_path = Path(str(path) + ".lock")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            while True:
                lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(lock_fd)
                    raise StorageLocked(
                        f"sweep file {path} is locked: another sharpdim sweep is writing to "
                        f"it (lock {lock_path}); wait for it to finish or stop it") from None
                try:  # a closing writer may have deleted the file we locked: lock the new one
                    if os.stat(lock_path).st_ino == os.fstat(lock_fd).st_ino:
                        return lock_fd
                except FileNotFoundError:
                    pass
                os.close(lock_fd)
        except OSError as exc:  # read-only folder, no permission, not a folder
            raise StorageError(
                f"cannot write the sweep file {path}: {exc.strerror or exc} "
                f"({exc.filename or lock_path}); pick a writable output path (--output)"
            ) from None

    @classmethod
    def open_readonly(cls, path: str | Path) -> SweepStore:
        """Open an existing sweep file for reading (no lock; nothing is written, not even
        SQLite's side files: see the module docstring)."""
        path = Path(path)
        if not path.is_file():
            raise StorageError(f"sweep file {path} does not exist")
        try:
            with open(path, "rb") as fh:
                header = fh.read(16)
        except OSError as exc:
            raise StorageError(f"cannot read sweep file {path}: {exc.strerror}") from None
        if header != b"SQLite format 3\x00":
            what = "an empty file" if not header else "not an SQLite database"
            raise StorageError(f"{path} is not a readable SQLite sweep file ({what}); "
                               "give the sweep.sqlite written by `sharpdim sweep`")
        conn = cls._connect(path, readonly=True)
        store = cls(path, conn, None)
        store._check_format()
        return store

    @staticmethod
    def _connect(path: Path, *, readonly: bool, timeout: float = 5.0) -> sqlite3.Connection:
        if readonly:
            # no write-ahead log: nobody has the file open, and immutable=1 creates no -shm/-wal
            # files (mode=ro would); with a log, mode=ro reads through the writer's files
            wal = Path(str(path) + "-wal").exists()
            uri = f"{path.resolve().as_uri()}?mode=ro" + ("" if wal else "&immutable=1")
        else:
            uri = f"{path.resolve().as_uri()}?mode={'rw' if path.exists() else 'rwc'}"
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StorageLocked(f"sweep file {path} is locked by another SQLite "
                                    f"connection ({exc}); close it and retry") from None
            raise StorageError(f"cannot open sweep file {path}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise StorageError(
                f"{path} is not a readable SQLite sweep file (corrupt or another format: "
                f"{exc}); move it away or pick another output path") from None
        return conn

    def _initialize(self) -> None:
        tables = {r[0] for r in self._query("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables:
            self._check_format()  # before any write: a foreign database is left untouched
        try:
            if self._conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = FULL")
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        if not tables:
            self._write_script(_SCHEMA, [("format", _FORMAT),
                                         ("schema_version", str(SCHEMA_VERSION)),
                                         ("created", _now())])
        elif "weights" not in tables:   # a file from before weights were kept: additive
            self._transaction([(_WEIGHTS_TABLE, ())])

    def _write_script(self, script: str, meta: Sequence[tuple[str, str]]) -> None:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            for statement in script.split(";"):
                if statement.strip():
                    self._conn.execute(statement)
            self._conn.executemany("INSERT INTO meta VALUES (?, ?)", meta)
            self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise self._error(exc) from None

    def _check_format(self) -> None:
        try:
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            fmt = self._conn.execute("SELECT value FROM meta WHERE key='format'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"{self.path} is not a sharpdim sweep file ({exc}); pick "
                               "another output path") from None
        if fmt is None or fmt[0] != _FORMAT:
            raise StorageError(f"{self.path} is not a sharpdim sweep file (meta.format is "
                               f"{None if fmt is None else fmt[0]!r})")
        if version > SCHEMA_VERSION:
            raise StorageError(f"{self.path} has schema version {version}, newer than this "
                               f"sharpdim's {SCHEMA_VERSION}; upgrade sharpdim")
        if version < SCHEMA_VERSION:
            raise StorageError(f"{self.path} has schema version {version} < {SCHEMA_VERSION}; "
                               "no migration exists: rerun the sweep into a new file")
        try:
            problem = self._conn.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            problem = str(exc)
        if problem != "ok":
            raise StorageError(f"{self.path} is corrupt (quick_check: {problem}); move it "
                               "away or restore it")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):  # unlinked while locked: see the docstring
                os.unlink(str(self.path) + ".lock")
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> SweepStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- helpers ----------------------------------------------------------------------
    def _error(self, exc: sqlite3.Error) -> StorageError:
        if isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc)
                                                          or "busy" in str(exc)):
            return StorageLocked(f"sweep file {self.path} is locked by another SQLite "
                                 f"connection ({exc}); close it and retry")
        return StorageError(f"sweep file {self.path}: {type(exc).__name__}: {exc}")

    def _rollback(self) -> None:
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        try:
            return self._conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise self._error(exc) from None

    def _transaction(self, statements: Iterable[tuple[str, Sequence[Any]]]) -> None:
        if self._lock_fd is None:
            raise StorageError(f"sweep file {self.path} was opened read-only")
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            for sql, args in statements:
                self._conn.execute(sql, args)
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise self._error(exc) from None

    # -- writing ----------------------------------------------------------------------
    def register_config(self, config: SweepConfig) -> None:
        """Record ``config``; a file made from another configuration is a
        :class:`ConfigMismatch` (a sweep file holds one configuration)."""
        rows = self._query("SELECT config_hash, name FROM configs")
        h = config.config_hash
        if rows and rows[0][0] != h:
            raise ConfigMismatch(
                f"sweep file {self.path} holds sweep {rows[0][1]!r} made from another "
                f"configuration (hash {rows[0][0]} != {h} of {config.source or 'this config'});"
                " results would mix: pick another output path or move the file away")
        if not rows:
            self._transaction([(
                "INSERT INTO configs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (h, config.name, config.task, config.source, config.text,
                 _dumps(config.canonical()), _dumps(list(config.factors)), _now()))])

    def plan(self, specs: Sequence[RunSpec], config_hash: str) -> None:
        """Insert the planned runs as ``pending`` (runs already present are kept)."""
        self._transaction(
            ("INSERT OR IGNORE INTO runs (run_id, config_hash, task, lr, batch_size, "
             "weight_decay, optimizer, seed, spec, status) VALUES (?,?,?,?,?,?,?,?,?,'pending')",
             (s.run_id, config_hash, s.task, s.lr, s.batch_size, s.weight_decay, s.optimizer,
              s.seed, _dumps({k: v for k, v in s.__dict__.items() if k != "progress"})))
            for s in specs)

    def start_session(self, *, scheduler: str, workers: int | None, host: str,
                      git_commit: str, versions: dict[str, str], n_planned: int,
                      n_todo: int) -> int:
        self._transaction([(
            "INSERT INTO sessions (started, scheduler, workers, host, pid, git_commit, versions,"
            " n_planned, n_todo) VALUES (?,?,?,?,?,?,?,?,?)",
            (_now(), scheduler, workers, host, os.getpid(), git_commit, _dumps(versions),
             n_planned, n_todo))])
        return int(self._query("SELECT max(session_id) FROM sessions")[0][0])

    def end_session(self, session_id: int, n_done: int) -> None:
        self._transaction([("UPDATE sessions SET finished = ?, n_done = ? WHERE session_id = ?",
                            (_now(), n_done, session_id))])

    def record(self, result: RunResult, *, session_id: int | None = None) -> bool:
        """Write one run's result in one transaction. A run already terminal is left as it
        is (returns ``False``); otherwise its old measures are replaced (returns ``True``)."""
        row = self._query("SELECT status FROM runs WHERE run_id = ?", (result.run_id,))
        if not row:
            raise StorageError(f"run {result.run_id} is not planned in {self.path}")
        if row[0][0] in TERMINAL:
            return False
        rid = result.run_id
        statements: list[tuple[str, Sequence[Any]]] = [
            (f"DELETE FROM {t} WHERE run_id = ?", (rid,))
            for t in ("measures", "checkpoints", "arrays", "seeds", "timings")]
        if self._has_weights_table():
            statements.append(("DELETE FROM weights WHERE run_id = ?", (rid,)))
        statements.append((
            "UPDATE runs SET status=?, error=?, n_parameters=?, epochs_completed=?, steps=?, "
            "attempts=attempts+1, session_id=?, finished=?, seconds=?, environment=? "
            "WHERE run_id=?",
            (result.status, result.error, result.n_parameters, result.epochs_completed,
             result.steps, session_id, _now(), result.timings.get("total"),
             _dumps(result.environment), rid)))
        for m in result.measures:
            o = m.outcome
            statements.append((
                "INSERT INTO measures VALUES (?,?,?,?,?,?,?,?,?,?)",
                (rid, m.stage, m.epoch, o.name, o.group, o.status, o.value, o.error,
                 o.seconds, _dumps(o.details))))
        for c in result.checkpoints:
            statements.append(("INSERT INTO checkpoints VALUES (?,?,?,?)",
                               (rid, c.epoch, c.step, c.seconds)))
        for (stage, epoch, name), arr in result.arrays.items():
            a = np.ascontiguousarray(arr, dtype="<f8").ravel()
            statements.append(("INSERT INTO arrays VALUES (?,?,?,?,?,?)",
                               (rid, stage, epoch, name, int(a.size), a.tobytes())))
        for (stage, epoch), state in result.weights.items():
            statements += [("INSERT INTO weights VALUES (?,?,?,?,?,?,?)",
                            (rid, stage, epoch, *row)) for row in encode_state(state)]
        statements += [("INSERT INTO seeds VALUES (?,?,?)", (rid, k, int(v)))
                       for k, v in result.seeds.items()]
        statements += [("INSERT INTO timings VALUES (?,?,?)", (rid, k, float(v)))
                       for k, v in result.timings.items()]
        self._transaction(statements)
        return True

    # -- reading ----------------------------------------------------------------------
    def meta(self) -> dict[str, str]:
        return dict(self._query("SELECT key, value FROM meta"))

    def config(self) -> dict[str, Any]:
        """The sweep's configuration: ``canonical`` (dict), ``factors``, ``toml``, ..."""
        rows = self._query("SELECT config_hash, name, task, source, toml, canonical, factors, "
                           "created FROM configs")
        if not rows:
            raise StorageError(f"sweep file {self.path} holds no configuration (empty sweep)")
        h, name, task, source, toml, canonical, factors, created = rows[0]
        return {"config_hash": h, "name": name, "task": task, "source": source, "toml": toml,
                "canonical": json.loads(canonical), "factors": json.loads(factors),
                "created": created}

    def statuses(self) -> dict[str, str]:
        return dict(self._query("SELECT run_id, status FROM runs"))

    def terminal_ids(self) -> set[str]:
        return {rid for rid, st in self.statuses().items() if st in TERMINAL}

    def runs(self) -> list[dict[str, Any]]:
        cols = ["run_id", "task", "lr", "batch_size", "weight_decay", "optimizer", "seed",
                "status", "error", "n_parameters", "epochs_completed", "steps", "attempts",
                "finished", "seconds", "environment"]
        rows = self._query(f"SELECT {', '.join(cols)}, spec FROM runs ORDER BY rowid")
        out = []
        for r in rows:
            d = dict(zip(cols, r[:-1], strict=True))
            d["environment"] = json.loads(d["environment"]) if d["environment"] else {}
            # the task options of the run (grid factors among them), finished or not
            d["task_options"] = json.loads(r[-1]).get("task_options", {}) if r[-1] else {}
            out.append(d)
        return out

    def measures(self, *, stage: str | None = None) -> list[dict[str, Any]]:
        cols = ["run_id", "stage", "epoch", "name", "grp", "status", "value", "error",
                "seconds", "details"]
        sql = f"SELECT {', '.join(cols)} FROM measures"
        args: tuple = ()
        if stage is not None:
            sql += " WHERE stage = ?"
            args = (stage,)
        out = []
        for r in self._query(sql + " ORDER BY rowid", args):
            d = dict(zip(cols, r, strict=True))
            d["details"] = json.loads(d["details"]) if d["details"] else {}
            out.append(d)
        return out

    def records(self) -> list[dict[str, Any]]:
        """One mapping per terminal run: hyperparameters (with the task options that are grid
        factors), ``status`` and every final measure value that is ``ok`` — the input of
        :func:`sharpdim.lab.stats.granulated_kendall`."""
        runs = {r["run_id"]: r for r in self.runs() if r["status"] in TERMINAL}
        records = {rid: {"run_id": rid, "lr": r["lr"], "batch_size": r["batch_size"],
                         "weight_decay": r["weight_decay"], "optimizer": r["optimizer"],
                         "seed": r["seed"], "status": r["status"]}
                   for rid, r in runs.items()}
        # task options that are grid factors ([grid.task_options]) live in each run's spec
        grid_options = self._grid_task_options()
        if grid_options and records:
            marks = ",".join("?" * len(records))
            for rid, spec in self._query(f"SELECT run_id, spec FROM runs WHERE run_id IN "
                                         f"({marks})", tuple(records)):
                options = json.loads(spec).get("task_options", {})
                records[rid].update({k: options.get(k) for k in grid_options})
        for m in self.measures(stage="final"):
            if m["run_id"] in records and m["status"] == "ok":
                records[m["run_id"]][m["name"]] = m["value"]
        return list(records.values())

    def _grid_task_options(self) -> list[str]:
        rows = self._query("SELECT canonical FROM configs")
        if not rows:
            return []
        return list(json.loads(rows[0][0]).get("grid", {}).get("task_options", {}))

    def arrays(self, name: str, *, stage: str = "final") -> dict[tuple[str, int], np.ndarray]:
        rows = self._query("SELECT run_id, epoch, data FROM arrays WHERE name = ? AND stage = ? "
                           "ORDER BY rowid", (name, stage))
        return {(rid, ep): np.frombuffer(blob, dtype="<f8").copy() for rid, ep, blob in rows}

    def _has_weights_table(self) -> bool:
        return bool(self._query("SELECT name FROM sqlite_master WHERE type='table' AND "
                                "name='weights'"))

    def weights(self, run_id: str, *, stage: str = "final",
                epoch: int | None = None) -> dict[str, torch.Tensor]:
        """The stored ``state_dict`` of a run at a stage (the last epoch of that stage unless
        ``epoch`` is given); empty when the sweep kept none (files made before weights were
        kept). Raw arrays only: see :mod:`sharpdim.lab.sweeps.weights`."""
        if not self._has_weights_table():
            return {}
        if epoch is None:
            last = self._query("SELECT max(epoch) FROM weights WHERE run_id = ? AND stage = ?",
                               (run_id, stage))
            if not last or last[0][0] is None:
                return {}
            epoch = int(last[0][0])
        rows = self._query("SELECT name, dtype, shape, data FROM weights WHERE run_id = ? AND "
                           "stage = ? AND epoch = ? ORDER BY rowid", (run_id, stage, epoch))
        return decode_state(rows)

    def weight_epochs(self, run_id: str, *, stage: str = "checkpoint") -> list[int]:
        if not self._has_weights_table():
            return []
        return [int(r[0]) for r in self._query(
            "SELECT DISTINCT epoch FROM weights WHERE run_id = ? AND stage = ? ORDER BY epoch",
            (run_id, stage))]

    def add_measures(self, run_id: str, stage: str, epoch: int, outcomes) -> None:
        """Add (or replace) measure outcomes of a finished run, in one transaction: how a
        measure group is put on runs after training (``sharpdim measure``)."""
        self._transaction([(
            "INSERT OR REPLACE INTO measures VALUES (?,?,?,?,?,?,?,?,?,?)",
            (run_id, stage, epoch, o.name, o.group, o.status, o.value, o.error, o.seconds,
             _dumps(o.details))) for o in outcomes])

    def seeds(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for rid, purpose, seed in self._query("SELECT run_id, purpose, seed FROM seeds"):
            out.setdefault(rid, {})[purpose] = seed
        return out

    def timings(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for rid, phase, s in self._query("SELECT run_id, phase, seconds FROM timings"):
            out.setdefault(rid, {})[phase] = s
        return out

    def sessions(self) -> list[dict[str, Any]]:
        cols = ["session_id", "started", "finished", "scheduler", "workers", "host",
                "git_commit", "versions", "n_planned", "n_todo", "n_done"]
        out = []
        for r in self._query(f"SELECT {', '.join(cols)} FROM sessions ORDER BY session_id"):
            d = dict(zip(cols, r, strict=True))
            d["versions"] = json.loads(d["versions"]) if d["versions"] else {}
            out.append(d)
        return out
