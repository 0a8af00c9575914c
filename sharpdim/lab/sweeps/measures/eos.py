"""The ``eos`` group: edge-of-stability diagnostics (η·λ_max against the linear stability
limit, negative curvature, where λ₁ > 0 comes from).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from sharpdim.lab.sweeps.measures.core import (
    GroupValues,
    MeasureContext,
    _too_big,
)
from sharpdim.lab.sweeps.measures.hessian import _full_spectrum, _hessian_rows

__all__ = ["eos_threshold", "negative_share"]


def eos_threshold(optimizer: str, momentum: float) -> float:
    """Linear-stability limit of ``η·λ`` on a quadratic: 2 for GD/SGD, ``2(1 + β)`` for heavy
    ball with momentum β (PyTorch's form ``v' = βv + g``, ``w' = w − ηv'``). Adam has no such
    constant; 2 is returned and the diagnostic is labelled with the optimizer."""
    return 2.0 * (1.0 + momentum) if optimizer == "momentum" else 2.0


def _extremes(op, n_steps: int, seed: int):
    from sharpdim.curvature import LanczosNotConverged, extreme_eigenvalues

    try:
        return extreme_eigenvalues(op, k=1, which="both", n_steps=n_steps, seed=seed)
    except LanczosNotConverged as exc:  # Ritz values are inner bounds; recorded as such
        return exc.partial


def _eos(ctx: MeasureContext) -> GroupValues:
    from sharpdim.curvature import (
        exact_hessian_eigenvalues,
        flat_loss,
        hessian_operator,
        slq_spectral_measure,
    )

    opts = dict(ctx.settings.eos)
    n_batches = int(opts.get("n_batches", 10))
    n_steps = min(int(opts.get("n_steps", 100)), ctx.n_parameters)
    eta = ctx.lr
    f = flat_loss(ctx.model, ctx.loss_fn)
    x, y, n_ex = _hessian_rows(ctx, ctx.settings.hessian.get("n_examples"))
    details: dict[str, Any] = {"n_batches": n_batches, "n_steps": n_steps, "seed": ctx.seed,
                               "n_examples": n_ex, "optimizer": ctx.optimizer}
    method = opts.get("method", "auto")
    if method == "auto":
        method = "exact" if _too_big(ctx) is None else "lanczos"
    if method == "exact":
        alpha = _full_spectrum(ctx, f, x, y, n_ex, exact_hessian_eigenvalues)
        top, neg = float(alpha[-1]), negative_share(alpha)
        details["full_batch"] = "exact eigendecomposition (float64)"
    else:
        op = hessian_operator(f, f.theta0, x, y, dtype=torch.float64)
        ext = _extremes(op, n_steps, ctx.seed)
        top = float(ext.top[0])
        sm = slq_spectral_measure(f, f.theta0, (x, y), n_runs=int(opts.get("slq_runs", 10)),
                                  n_steps=n_steps, batch_size=n_ex, seed=ctx.seed,
                                  dtype=torch.float64)
        w = np.asarray(sm.weights, dtype=np.float64)
        neg = float(w[np.asarray(sm.nodes) < 0].sum() / w.sum())
        details["full_batch"] = ("Lanczos top eigenvalue; negative share = SLQ mass below 0 "
                                 f"({int(opts.get('slq_runs', 10))} runs × {n_steps} steps)")
        details["lanczos_converged"] = bool(ext.converged)
    rng = np.random.default_rng(ctx.seed)
    tops, bottoms, lam1, from_top, from_neg = [], [], [], 0, 0
    for i in range(n_batches):
        idx = torch.as_tensor(np.sort(rng.choice(ctx.data.n_train, ctx.batch_size,
                                                 replace=False)))
        op = hessian_operator(f, f.theta0, ctx.data.x_train[idx], ctx.data.y_train[idx],
                              dtype=torch.float64)
        e = _extremes(op, n_steps, ctx.seed + i)
        a_max, a_min = float(e.top[0]), float(e.bottom[0])
        tops.append(a_max)
        bottoms.append(a_min)
        up, down = abs(1.0 - eta * a_max), abs(1.0 - eta * a_min)
        lam1.append(math.log(max(up, down)))
        if max(up, down) > 1.0:
            if up >= down:
                from_top += 1
            else:
                from_neg += 1
    details.update({"minibatch_top": tops, "minibatch_bottom": bottoms,
                    "full_batch_top": top})
    return GroupValues({
        "eta_lambda_max": eta * top,
        "eta_lambda_max_minibatch": eta * float(np.mean(tops)),
        "eos_threshold": eos_threshold(ctx.optimizer, ctx.momentum),
        "negative_fraction": neg,
        "lambda_1_top_share": from_top / n_batches,
        "lambda_1_negative_share": from_neg / n_batches,
        "lambda_1_eos": float(np.mean(lam1)),
    }, details=details)


def negative_share(alpha: np.ndarray) -> float:
    """Share of eigenvalues below ``−N·eps·max|α|`` (float64): exactly-flat directions
    (dead units, rescaling symmetries) come out of an eigensolver as ±(rounding), and
    ``N·eps·‖H‖`` bounds that rounding (backward error of a symmetric eigensolver), so
    they are not counted as negative curvature."""
    a = np.asarray(alpha, dtype=np.float64)
    tol = a.size * np.finfo(np.float64).eps * float(np.abs(a).max(initial=0.0))
    return float(np.mean(a < -tol))
