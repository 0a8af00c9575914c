"""Running an estimator on one case with a time limit, so that a hang or a crash is a
verdict, not the end of the audit.

* ``process`` (the default when the estimator can be pickled by reference, i.e. it is a
  module-level function or a ``functools.partial`` of one): one ``spawn``-started worker
  process per audit receives case *names*, rebuilds each case from the registry, calls the
  estimator and sends back the answer already read into float64 arrays. A case that exceeds
  its time limit gets the worker killed (``terminate``, then ``kill``) and a fresh worker for
  the next case; a worker that dies (segfault, ``os._exit``) is reported as ``crashed`` with
  its exit code. Worker start-up (imports) has its own limit and does not count against
  the cases.
* ``thread`` (lambdas, closures, functions defined in an interactive session): the call runs
  in a daemon thread joined with the time limit. Python cannot kill a thread, so a call that
  times out is *abandoned* and keeps running in the background until it returns (the report
  says so); a crash of the interpreter itself cannot be contained in this mode.
* ``inline``: a plain call without a time limit (debugging); :func:`audit` refuses an
  explicit time limit with it rather than ignore it.

An estimator that raises ``SystemExit`` or ``KeyboardInterrupt`` gets the verdict *raised*
with that exception named (in a worker process or thread; inline, ``KeyboardInterrupt`` is
taken for the user's Ctrl-C and stops the audit).
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sharpdim.testing.auditing.kinds import Returned, invoke, read_answer
from sharpdim.testing.oracles import get_case
from sharpdim.vocabulary import ISOLATIONS  # noqa: F401 (the vocabulary's word list, re-exported)

__all__ = ["CallOutcome", "execute", "ProcessWorker", "run_in_thread", "picklable",
           "ISOLATIONS", "STARTUP_LIMIT"]

STARTUP_LIMIT = 300.0  # seconds for a worker to import the estimator and the oracle module


@dataclass(frozen=True)
class CallOutcome:
    """``status``: ``ok`` (``answer`` set), ``raised``, ``timeout`` or ``crashed``;
    ``detail``: the exception or the reason; ``seconds``: wall time of the estimator call."""

    status: str
    answer: Returned | None
    detail: str
    seconds: float | None


def execute(kind: str, estimator: Callable, case_name: str) -> CallOutcome:
    """Build the case, call the estimator, read its answer; exceptions become outcomes."""
    case = get_case(kind, case_name)
    start = time.perf_counter()
    try:
        raw = invoke(kind, estimator, case)
    except (Exception, SystemExit, KeyboardInterrupt) as exc:  # a verdict, not our failure
        if isinstance(exc, KeyboardInterrupt) and _in_main_thread_of_main_process():
            raise  # inline: the user's Ctrl-C
        seconds = time.perf_counter() - start
        frames = traceback.extract_tb(exc.__traceback__)
        where = f" (at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno})" \
            if frames else ""
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if isinstance(exc, SystemExit | KeyboardInterrupt):
            text = f"the estimator raised {text} (it must return or raise an Exception)"
        return CallOutcome("raised", None, text[:300] + where, seconds)
    seconds = time.perf_counter() - start
    return CallOutcome("ok", read_answer(case, raw), "", seconds)


def _in_main_thread_of_main_process() -> bool:
    return (threading.current_thread() is threading.main_thread()
            and multiprocessing.parent_process() is None
            and os.environ.get("SHARPDIM_AUDIT_WORKER") != "1")


def picklable(estimator: Callable) -> str | None:
    """``None`` if ``estimator`` can travel to a worker process, else the reason."""
    module = getattr(estimator, "__module__", None) or getattr(
        getattr(estimator, "func", None), "__module__", None)
    if module == "__main__":
        import __main__

        if not getattr(__main__, "__file__", None):
            return "defined in an interactive session (__main__ has no file to re-import)"
    try:
        pickle.dumps(estimator)
    except Exception as exc:  # pickling can fail in many ways; any of them means "thread"
        return f"not picklable ({type(exc).__name__}: {exc})"
    return None


def run_in_thread(kind: str, estimator: Callable, case_name: str,
                  time_limit: float | None) -> CallOutcome:
    """``execute`` in a daemon thread joined with ``time_limit`` (abandoned on timeout)."""
    box: dict[str, CallOutcome] = {}

    def target() -> None:
        box["outcome"] = execute(kind, estimator, case_name)

    thread = threading.Thread(target=target, name=f"audit-{case_name}", daemon=True)
    thread.start()
    thread.join(time_limit)
    if thread.is_alive():
        return CallOutcome("timeout", None,
                           f"no answer within {time_limit:g} s; the call was abandoned and "
                           "may still be running in a background thread", time_limit)
    return box["outcome"]


def _worker_main(conn, payload: bytes, kind: str) -> None:
    os.environ["SHARPDIM_AUDIT_WORKER"] = "1"
    try:
        estimator = pickle.loads(payload)
        from sharpdim.testing.oracles import cases

        cases(kind, "thorough")  # build the registry once, outside any case's time limit
    except Exception as exc:
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", None))
    while True:
        try:
            name = conn.recv()
        except EOFError:
            return
        if name is None:
            return
        conn.send(("outcome", execute(kind, estimator, name)))


class ProcessWorker:
    """A ``spawn``-started process that runs cases of one kind for one estimator."""

    def __init__(self, kind: str, estimator: Callable) -> None:
        self.kind = kind
        self._payload = pickle.dumps(estimator)
        self._ctx = multiprocessing.get_context("spawn")
        self._proc = None
        self._conn = None
        self.restarts = 0

    def _start(self) -> str | None:
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=_worker_main, args=(child, self._payload, self.kind),
                                 name=f"sharpdim-audit-{self.kind}", daemon=True)
        proc.start()
        child.close()
        self._proc, self._conn = proc, parent
        if not parent.poll(STARTUP_LIMIT):
            self._kill()
            return f"the worker process did not start within {STARTUP_LIMIT:g} s"
        try:
            status, detail = parent.recv()
        except EOFError:
            code = self._kill()
            return f"the worker process died while starting (exit code {code})"
        if status != "ready":
            self._kill()
            return f"the worker could not load the estimator: {detail}"
        return None

    def start(self) -> str | None:
        """Start (or restart) the worker; ``None`` on success, else why it failed."""
        return self._start()

    def _kill(self) -> int | None:
        proc, self._proc = self._proc, None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if proc is None:
            return None
        if proc.is_alive():
            proc.terminate()
            proc.join(5.0)
        if proc.is_alive():
            proc.kill()
            proc.join(5.0)
        return proc.exitcode

    def run(self, case_name: str, time_limit: float | None) -> CallOutcome:
        """Run one case; restarts the worker after a timeout or a crash."""
        if self._proc is None:
            failure = self._start()
            self.restarts += 1
            if failure is not None:
                return CallOutcome("crashed", None, failure, None)
        start = time.perf_counter()
        self._conn.send(case_name)
        if not self._conn.poll(time_limit):
            self._kill()
            return CallOutcome("timeout", None,
                               f"no answer within {time_limit:g} s; the worker process was "
                               "killed", time_limit)
        try:
            _, outcome = self._conn.recv()
        except (EOFError, OSError):
            code = self._kill()
            return CallOutcome("crashed", None,
                               f"the worker process died (exit code {code})",
                               time.perf_counter() - start)
        return outcome

    def close(self) -> None:
        if self._proc is not None and self._proc.is_alive():
            try:
                self._conn.send(None)
            except (OSError, BrokenPipeError):
                pass
            self._proc.join(5.0)
        self._kill()


def describe_estimator(estimator: Any) -> str:
    """``module:qualname`` of a function (or of a partial's function)."""
    fn = getattr(estimator, "func", estimator)
    module = getattr(fn, "__module__", "?")
    name = getattr(fn, "__qualname__", type(fn).__name__)
    return f"{module}:{name}"
