"""The ``bound`` group: the measured inputs of Theorem 4.5 on the last
iterates (Lipschitz constant, loss bound, worst loss gap); the bound itself is
:func:`sharpdim.lab.bounds.theorem_4_5_bound`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from sharpdim.lab.sweeps.measures.core import (
    GroupValues,
    MeasureContext,
)

__all__ = []


def _per_example_grad_norms_and_losses(ctx: MeasureContext, theta: torch.Tensor, x, y,
                                       chunk: int) -> tuple[np.ndarray, np.ndarray]:
    from torch.func import functional_call, grad_and_value, vmap

    names = [n for n, p in ctx.model.named_parameters() if p.requires_grad]
    shapes = [p.shape for n, p in ctx.model.named_parameters() if p.requires_grad]
    sizes = [math.prod(s) for s in shapes]

    def one(th, xi, yi):
        params = {n: b.view(s) for n, b, s in zip(names, torch.split(th, sizes), shapes,
                                                  strict=True)}
        out = functional_call(ctx.model, params, (xi.unsqueeze(0),))
        return ctx.loss_fn(out, yi.unsqueeze(0))

    per = vmap(grad_and_value(one), in_dims=(None, 0, 0))
    norms, losses = [], []
    for a in range(0, int(y.shape[0]), chunk):
        g, v = per(theta, x[a:a + chunk], y[a:a + chunk])
        norms.append(torch.linalg.vector_norm(g.double(), dim=1).numpy())
        losses.append(v.detach().double().numpy())
    return np.concatenate(norms), np.concatenate(losses)


def _bound(ctx: MeasureContext) -> GroupValues:
    opts = dict(ctx.settings.bound)
    k = int(opts.get("n_points", 5))
    chunk = int(opts.get("chunk", 512))
    traj = ctx.trajectory
    rows = np.unique(np.round(np.linspace(0, traj.shape[0] - 1, k)).astype(int))
    dtype = next(ctx.model.parameters()).dtype
    d = ctx.data
    was = ctx.model.training
    ctx.model.eval()
    L = B = B_test = 0.0
    gaps = []
    try:
        for r in rows:
            theta = torch.as_tensor(traj[r]).to(dtype)
            g_tr, l_tr = _per_example_grad_norms_and_losses(ctx, theta, d.x_train, d.y_train,
                                                            chunk)
            _, l_te = _per_example_grad_norms_and_losses(ctx, theta, d.x_test, d.y_test, chunk)
            L = max(L, float(g_tr.max()))
            B = max(B, float(l_tr.max()))
            B_test = max(B_test, float(l_te.max()))
            gaps.append(float(l_te.mean() - l_tr.mean()))
    finally:
        ctx.model.train(was)
    # the theorem's B bounds the loss of every example: the test maximum is recorded too
    return GroupValues({"bound_L": L, "bound_B": B, "bound_B_test": B_test,
                        "worst_loss_gap": max(gaps), "n_train": float(d.n_train)},
                       details={"iterates": [int(r) for r in rows], "loss_gaps": gaps,
                                "rule": "L = max ||grad l(w, z_i)||, B = max l(w, z_i) over "
                                "training examples and the listed last iterates (bound_B_test: "
                                "over test examples); worst gap = max over them of mean test "
                                "loss - mean train loss"})


def _skip_bound(ctx: MeasureContext) -> str | None:
    if ctx.trajectory is None or ctx.trajectory.shape[0] < 1:
        return "no trajectory iterates kept (measures.topology.iterates = 0)"
    return None
