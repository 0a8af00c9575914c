"""The ``hessian`` group: top eigenvalue and trace of the training-loss Hessian (exact,
Lanczos and Hutchinson, or from the SLQ runs of ``sd_slq``), and the exact spectrum and row
subset it shares with ``eos``.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from sharpdim.lab.sweeps.measures.core import (
    GroupValues,
    MeasureContext,
    _too_big,
    jsonable,
)
from sharpdim.lab.sweeps.measures.sharpness import _density_estimate

__all__ = []


def _hessian(ctx: MeasureContext) -> GroupValues:
    from sharpdim.curvature import (
        exact_hessian_eigenvalues,
        extreme_eigenvalues,
        flat_loss,
        hessian_operator,
        hutchinson_trace,
    )

    opts = dict(ctx.settings.hessian)
    f = flat_loss(ctx.model, ctx.loss_fn)
    x, y = ctx.data.x_train, ctx.data.y_train
    n_examples = min(int(opts.get("n_examples", ctx.data.n_train)), ctx.data.n_train)
    if n_examples < ctx.data.n_train:  # a fixed random subset, the same at every checkpoint
        rows = np.sort(np.random.default_rng(ctx.seed).choice(ctx.data.n_train, n_examples,
                                                              replace=False))
        x, y = x[torch.as_tensor(rows)], y[torch.as_tensor(rows)]
    method = opts.get("method", "auto")
    if method == "auto":
        method = "exact" if _too_big(ctx) is None else "lanczos"
    t0 = time.perf_counter()
    if method == "slq":
        return _hessian_from_slq(ctx, n_examples, t0)
    if method == "exact":
        alpha = _full_spectrum(ctx, f, x, y, n_examples, exact_hessian_eigenvalues)
        return GroupValues(
            {"top_eigenvalue": float(alpha[-1]), "trace": float(alpha.sum())},
            arrays={"hessian_eigenvalues": alpha},
            details={"method": "exact eigendecomposition of the training-loss Hessian (float64)",
                     "n_examples": n_examples, "seed": ctx.seed,
                     "seconds": time.perf_counter() - t0})
    op = hessian_operator(f, f.theta0, x, y, dtype=torch.float64)
    top = extreme_eigenvalues(op, k=1, which="largest", n_steps=opts.get("n_steps"), seed=ctx.seed)
    n_samples = int(opts.get("trace_samples", 64))
    tr = hutchinson_trace(op, n_samples=n_samples, seed=ctx.seed)
    return GroupValues(
        {"top_eigenvalue": float(top.top[0]), "trace": tr.value},
        details={"method": "Lanczos (top) and Hutchinson (trace) on the training-loss Hessian "
                 "(float64)", "n_examples": n_examples, "lanczos": jsonable(top),
                 "trace_stderr": tr.stderr, "trace_samples": n_samples, "seed": ctx.seed,
                 "seconds": time.perf_counter() - t0})


def _hessian_from_slq(ctx: MeasureContext, n_examples: int, t0: float) -> GroupValues:
    """Top eigenvalue and trace from the Lanczos runs of ``sd_slq`` (no extra products): the
    largest Ritz value (a lower bound of ``λ_max``; Lanczos converges to the extremes first)
    and the pooled measure's first moment, which is exactly Hutchinson's estimator with the
    runs' Rademacher probes (Gauss quadrature integrates ``α`` exactly: ``Σ ω θ = q₁ᵀHq₁ =
    vᵀHv/N``). The SLQ runs are of Hessians at the training batch size, so this is the
    training-loss Hessian only for full-batch training."""
    n = ctx.data.n_train
    if ctx.batch_size != n or n_examples != n:
        raise ValueError(
            f"measures.hessian.method = 'slq' needs full-batch training (the SLQ runs are of "
            f"Hessians at the training batch size), got batch_size={ctx.batch_size}, "
            f"n_examples={n_examples}, n_train={n}")
    cm = _density_estimate(ctx, "slq").curvature_measure
    runs = np.unique(cm.run_ids)
    per_run = np.array([len(runs) * float(cm.weights[cm.run_ids == r] @ cm.nodes[cm.run_ids == r])
                        for r in runs])
    stderr = float(per_run.std(ddof=1) / math.sqrt(per_run.size)) if per_run.size > 1 else None
    return GroupValues(
        {"top_eigenvalue": float(cm.nodes.max()), "trace": float(per_run.mean())},
        details={"method": "from the SLQ runs of sd_slq: largest Ritz value (lower bound) and "
                 "Hutchinson's trace with the runs' probes", "n_runs": int(runs.size),
                 "trace_stderr": stderr, "n_examples": n_examples, "seed": ctx.seed,
                 "seconds": time.perf_counter() - t0})


def _full_spectrum(ctx: MeasureContext, f, x, y, n_examples: int, eig) -> np.ndarray:
    """Exact training-loss Hessian spectrum, computed once per context (``hessian`` and
    ``eos`` share it)."""
    key = ("full_hessian_spectrum", n_examples)
    if key not in ctx.cache:
        ctx.cache[key] = eig(f, f.theta0, x, y)
    return ctx.cache[key]


def _hessian_rows(ctx: MeasureContext, n_examples: int | None):
    x, y = ctx.data.x_train, ctx.data.y_train
    n = ctx.data.n_train if n_examples is None else min(int(n_examples), ctx.data.n_train)
    if n < ctx.data.n_train:  # the same fixed subset as the hessian group
        rows = np.sort(np.random.default_rng(ctx.seed).choice(ctx.data.n_train, n,
                                                              replace=False))
        x, y = x[torch.as_tensor(rows)], y[torch.as_tensor(rows)]
    return x, y, n
