"""Sharpness inside one's own training loop: :class:`SharpnessMonitor`.

Call ``monitor.step(model, loss_fn, data, optimizer=opt, batch_size=b)`` once per training
step, after ``opt.step()``. Every ``every``-th call (calls ``0, every, 2·every, …``) it runs
:func:`~sharpdim.estimators.estimate.estimate_sharpness` at the current weights and appends
a row to ``monitor.records`` — and, with ``log=path``, one JSON line to that file
(``pandas.read_json(path, lines=True)`` reads it). Each measurement's seed is
``seed + step``, recorded in its row, so any row can be recomputed from the saved weights.

**Training is unchanged**: the estimate evaluates a functional copy of the model (its
parameters, buffers, train/eval flags and torch's random state are left as they were), so a
loop with the monitor is bit-identical to the loop without it (tested).

**Budget**: ``budget`` is the largest fraction of the wall time since the first call that
measuring may take. A due measurement that would take the share past it — were it as long
as the latest one — is skipped, and its row says so (``"skipped": "budget"``); so after the
first measurement (always taken) the monitor stays within ``budget`` of training time
whatever ``every`` is (the default ``0.1``: ≤ 10 %, reports/benchmarks.md).
The default estimate is small — SLQ with 10 minibatches of 30 Lanczos steps — and any
keyword of ``estimate_sharpness`` may be given to the monitor (``n_batches=``,
``options=EstimateOptions(n_steps=…)``, …).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from sharpdim import _validate
from sharpdim.estimators.estimate import estimate_sharpness
from sharpdim.estimators.moved_keywords import options_spelling, warn_moved
from sharpdim.estimators.options import OPTION_NAMES, EstimateOptions
from sharpdim.vocabulary import METHODS, Method, choice

__all__ = ["SharpnessMonitor", "MONITOR_DEFAULTS", "record_of"]

# the default estimate of one measurement: SLQ with R = 10 runs of m = 30 steps (300 HVPs)
MONITOR_DEFAULTS = {"n_batches": 10, "options": EstimateOptions(n_steps=30)}


def record_of(step: int, est) -> dict:
    """The logged row of one measurement (plain JSON values)."""
    d = est.diagnostics
    row = {"step": int(step), "dimension": est.dimension, "lambda_1": est.lambda_1,
           "top_eigenvalue": est.top_eigenvalue, "bottom_eigenvalue": est.bottom_eigenvalue,
           "trace": est.trace, "state_dim": d.state_dim, "method": d.method, "lr": d.lr,
           "batch_size": d.batch_size, "seed": d.seed, "n_hvp": d.n_hvp,
           "seconds": d.seconds, "ill_conditioned": d.conditioning.ill_conditioned,
           "skipped": None}
    return {k: (v if not isinstance(v, float) or abs(v) < float("inf") else str(v))
            for k, v in row.items()}


def _with_moved_options(merged: dict) -> dict:
    """The monitor's keywords with any :class:`EstimateOptions` field given the old way
    (``n_steps=8``) folded into its options — over the monitor's defaults, which a user's
    field replaces — with the ``DeprecationWarning`` of ``estimate_sharpness``."""
    moved = {k: merged.pop(k) for k in tuple(merged) if k in OPTION_NAMES}
    if not moved:
        return merged
    warn_moved("SharpnessMonitor", moved, options_spelling(moved), stacklevel=4)
    base = merged.get("options") or EstimateOptions()
    return {**merged, "options": dataclasses.replace(base, **moved)}


class SharpnessMonitor:
    """Measure the sharpness dimension every ``every`` steps of a user's loop (module doc).

    ``method`` of the estimate, ``budget`` in ``(0, 1]``, ``log`` a JSON-lines path
    (appended to; its directory must exist), ``seed`` the base seed (``None``: drawn once
    and kept in ``monitor.seed``); further keywords go to
    ``estimate_sharpness`` (defaults :data:`MONITOR_DEFAULTS` for the density methods).
    """

    def __init__(self, every: int = 100, *, method: Method = "slq", budget: float = 0.1,
                 log: str | Path | None = None, seed: int | None = 0,
                 **estimate_kwargs) -> None:
        self.every = _validate.integer("every", every, minimum=1)
        self.method = choice("method", method, METHODS)
        # a fraction of training time
        self.budget = _validate.real("budget", budget, minimum=0, maximum=1, open_min=True)
        self.seed = _validate.seed(seed)
        self.log = None if log is None else Path(log)
        if self.log is not None and not self.log.parent.is_dir():
            raise ValueError(f"log must be a file in an existing directory, got {str(log)!r}")
        defaults = MONITOR_DEFAULTS if self.method != "exact" else {"n_batches": 1}
        self.estimate_kwargs = _with_moved_options({**defaults, **estimate_kwargs})
        self.records: list[dict] = []
        self.n_calls = 0
        self.seconds_measuring = 0.0
        self._t0: float | None = None
        self._last: float | None = None   # seconds of the latest measurement

    def __repr__(self) -> str:
        return (f"SharpnessMonitor(every={self.every}, method={self.method!r}, "
                f"budget={self.budget}, calls={self.n_calls}, records={len(self.records)})")

    @property
    def share(self) -> float:
        """Fraction of the wall time since the first call spent measuring."""
        if self._t0 is None:
            return 0.0
        return self.seconds_measuring / max(time.perf_counter() - self._t0, 1e-12)

    def _affordable(self, now: float) -> bool:
        """Whether one more measurement, as long as the latest, keeps the share within the
        budget: ``(spent + last) ≤ budget · (elapsed + last)``."""
        elapsed = now - self._t0
        return self.seconds_measuring + self._last <= self.budget * (elapsed + self._last)

    def step(self, model, loss_fn, data, *, batch_size: int, optimizer=None, step=None,
             **kwargs):
        """Count one training step; measure when due and within budget. Returns the
        :class:`~sharpdim.estimators.result.SharpnessEstimate`, or ``None`` when no
        measurement ran. ``step`` overrides the call counter (e.g. a global step)."""
        now = time.perf_counter()
        if self._t0 is None:
            self._t0 = now
        k = self.n_calls if step is None else _validate.integer("step", step, minimum=0)
        self.n_calls += 1
        if k % self.every:
            return None
        if self._last is not None and not self._affordable(now):
            self._write({"step": int(k), "skipped": "budget"})
            return None
        settings = {"optimizer": optimizer} if optimizer is not None else {}
        est = estimate_sharpness(model, loss_fn, data, batch_size=batch_size,
                                 method=self.method, seed=self.seed + k,
                                 **settings, **{**self.estimate_kwargs, **kwargs})
        self._last = time.perf_counter() - now
        self.seconds_measuring += self._last
        self._write(record_of(k, est))
        return est

    def _write(self, row: dict) -> None:
        self.records.append(row)
        if self.log is not None:
            with self.log.open("a") as fh:
                fh.write(json.dumps(row, allow_nan=False) + "\n")
