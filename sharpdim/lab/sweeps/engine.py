"""Where runs execute: in this process, on a Dask ``LocalCluster``, or on an existing
Dask cluster; results always flow back to the caller, which is the single SQLite writer.

* ``scheduler="inline"`` — one run after another in this process (no Dask; debugging).
* ``scheduler="local"`` (default) — a ``LocalCluster`` on 127.0.0.1 with ``workers``
  processes of one thread each (Dask's nanny sets ``OMP_NUM_THREADS=1`` in them), closed
  at the end. Its HTTP endpoint takes a free port (``:0``): the scheduler serves HTTP even
  without a dashboard, and a fixed port would collide with any other cluster here.
* ``scheduler="tcp://HOST:PORT"`` (or ``tls://``) — an existing cluster's scheduler.

A worker process that dies mid-run (killed, out of memory) is detected by the scheduler,
which reruns the task on another worker, up to ``allowed_failures`` times (Dask's
``distributed.scheduler.allowed-failures``, set here for the cluster this module starts);
past that the run comes back as ``failed`` (a rerun of the sweep retries it). A run's own
exceptions never reach Dask: :func:`~sharpdim.lab.sweeps.run.execute_run` returns them.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sharpdim import _validate
from sharpdim.lab.sweeps.config import RunSpec
from sharpdim.lab.sweeps.run import RunResult, execute_run

__all__ = ["EngineInfo", "SchedulerUnreachable", "check_scheduler", "probe_scheduler", "run_all"]

_ADDRESS = re.compile(r"^(tcp|tls)://[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")


@dataclass(frozen=True)
class EngineInfo:
    """How runs were executed: ``scheduler`` (``inline``, ``local`` or the address),
    ``workers`` (processes, when known) and the scheduler ``address`` used."""

    scheduler: str
    workers: int | None
    address: str | None


_SCHEDULER_RULE = "'local', 'inline' or an address tcp://HOST:PORT"


def check_scheduler(scheduler: str) -> str:
    """Validate a scheduler choice early (before any training), with the exception policy of
    :mod:`sharpdim._validate` (a non-string is a type error, a wrong string a value error)."""
    if not isinstance(scheduler, str):
        raise _validate.ArgumentTypeError(f"scheduler must be {_SCHEDULER_RULE}, got "
                                          f"{type(scheduler).__name__} {scheduler!r}")
    if scheduler in ("inline", "local") or _ADDRESS.match(scheduler):
        return scheduler
    raise ValueError(f"scheduler must be {_SCHEDULER_RULE}, got {scheduler!r}")


class SchedulerUnreachable(ConnectionError):
    """Nothing answers at the scheduler address (checked before any work starts)."""


def probe_scheduler(scheduler: str, *, timeout: float = 5.0) -> None:
    """Fail fast when ``tcp://HOST:PORT`` accepts no TCP connection within ``timeout``
    seconds (Dask's client would retry for its own, longer timeout); ``local``/``inline``
    need no probe. Raises :class:`SchedulerUnreachable` naming the address."""
    import socket

    scheduler = check_scheduler(scheduler)
    if scheduler in ("local", "inline"):
        return
    hostport = scheduler.split("://", 1)[1]
    host, _, port = hostport.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SchedulerUnreachable(
            f"no Dask scheduler answers at {scheduler} ({reason} within {timeout:g} s); start "
            "one (dask scheduler) or use --scheduler local") from None


def _failed(spec: RunSpec, message: str) -> RunResult:
    return RunResult(run_id=spec.run_id, status="failed", error=message, n_parameters=None,
                     epochs_completed=0, steps=0, measures=(), checkpoints=(), arrays={},
                     seeds={"seed": spec.seed}, timings={}, environment={})


def run_all(
    specs: Sequence[RunSpec],
    on_result: Callable[[RunResult], None],
    *,
    scheduler: str = "local",
    workers: int | None = None,
    fn: Callable[[RunSpec], RunResult] = execute_run,
    allowed_failures: int = 2,
    progress: bool = True,
    on_start: Callable[[EngineInfo], None] | None = None,
) -> EngineInfo:
    """Execute ``fn(spec)`` for every spec and hand each result to ``on_result`` as it
    arrives (in this process). ``fn`` must be importable or picklable by value on workers.

    ``workers`` (``local`` only): worker processes, default ``min(len(specs), 2)``.
    """
    from tqdm.auto import tqdm

    scheduler = check_scheduler(scheduler)
    if workers is not None:
        workers = _validate.integer("workers", workers, minimum=1)
    bar = tqdm(total=len(specs), desc="sweep", unit="run", disable=not progress)
    try:
        if scheduler == "inline":
            info = EngineInfo("inline", 1, None)
            if on_start is not None:
                on_start(info)
            for spec in specs:
                try:
                    result = fn(spec)
                except Exception as exc:  # same contract as the Dask path: a failed run
                    result = _failed(spec, f"{type(exc).__name__}: {exc}\n"
                                     + traceback.format_exc(limit=3))
                on_result(result)
                bar.update()
            return info
        return _run_dask(specs, on_result, scheduler, workers, fn, allowed_failures, bar,
                         on_start)
    finally:
        bar.close()


def _run_dask(specs, on_result, scheduler, workers, fn, allowed_failures, bar, on_start):
    import dask
    from distributed import Client, LocalCluster, as_completed
    from distributed.client import FutureCancelledError

    cluster = None
    with dask.config.set({"distributed.scheduler.allowed-failures": allowed_failures}):
        if scheduler == "local":
            n = workers or max(1, min(len(specs), 2))
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address=":0",
                                   silence_logs=50)
            client = Client(cluster)
            info = EngineInfo("local", n, cluster.scheduler_address)
        else:
            probe_scheduler(scheduler)
            try:
                client = Client(scheduler, timeout="20s")
            except OSError as exc:
                raise SchedulerUnreachable(f"cannot connect to the Dask scheduler at "
                                           f"{scheduler}: {exc}") from None
            info = EngineInfo(scheduler, len(client.scheduler_info()["workers"]), scheduler)
    try:
        if on_start is not None:
            on_start(info)
        futures = {client.submit(fn, spec, key=f"sharpdim-run-{spec.run_id}", pure=False):
                   spec for spec in specs}
        for future in as_completed(list(futures)):
            spec = futures[future]
            try:
                result = future.result()
            except FutureCancelledError:
                result = _failed(spec, "the Dask future was cancelled")
            except Exception as exc:  # KilledWorker, lost scheduler: a failed run
                result = _failed(spec, f"{type(exc).__name__} on the Dask cluster: {exc}\n"
                                 + traceback.format_exc(limit=3))
            on_result(result)
            bar.update()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return info
