"""The ``topology`` group: PH dimension and α-weighted lifetime sums of the last
iterates, with the Euclidean metric and the data-dependent loss metric.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from sharpdim.dynamics.topology import lifetime_sum, loss_distance_matrix, ph_dimension
from sharpdim.lab.sweeps.measures.core import (
    GroupValues,
    MeasureContext,
    _per_example,
    jsonable,
)

__all__ = []


def _skip_topology(ctx: MeasureContext) -> str | None:
    if ctx.trajectory is None or ctx.trajectory.shape[0] < 20:
        n = 0 if ctx.trajectory is None else ctx.trajectory.shape[0]
        return f"needs at least 20 kept iterates, got {n} (measures.topology.iterates)"
    return None


@torch.no_grad()
def _per_example_losses(ctx: MeasureContext, rows: np.ndarray) -> np.ndarray:
    from torch.func import functional_call

    names = [n for n, p in ctx.model.named_parameters() if p.requires_grad]
    shapes = [p.shape for n, p in ctx.model.named_parameters() if p.requires_grad]
    sizes = [math.prod(s) for s in shapes]
    x, y = ctx.data.x_train[rows], ctx.data.y_train[rows]
    dtype = next(ctx.model.parameters()).dtype
    out = np.empty((ctx.trajectory.shape[0], rows.size))
    was = ctx.model.training
    ctx.model.eval()
    try:
        for i, w in enumerate(ctx.trajectory):
            blocks = torch.split(torch.as_tensor(w).to(dtype), sizes)
            params = {n: b.view(s) for n, b, s in zip(names, blocks, shapes, strict=True)}
            logits = functional_call(ctx.model, params, (x,))
            # the run's own loss (cross-entropy or MSE), per example: the loss-metric PH distance
            # of Andreeva et al. is between the training losses the optimizer saw
            out[i] = _per_example(ctx.loss_fn, logits, y).double().numpy()
    finally:
        ctx.model.train(was)
    return out


def _topology(ctx: MeasureContext) -> GroupValues:
    opts = dict(ctx.settings.topology)
    alpha = float(opts.get("alpha", 1.0))
    n_sizes = int(opts.get("n_sizes", 8))
    n_loss = min(int(opts.get("loss_examples", 1000)), ctx.data.n_train)
    rng = np.random.default_rng(ctx.seed)
    rows = np.sort(rng.choice(ctx.data.n_train, size=n_loss, replace=False))
    traj = ctx.trajectory.astype(np.float64)
    D_loss = loss_distance_matrix(_per_example_losses(ctx, rows))
    values: dict[str, float | None] = {
        "e_alpha_euclidean": lifetime_sum(traj, alpha=alpha),
        "e_alpha_loss": lifetime_sum(distances=D_loss, alpha=alpha)}
    details: dict[str, Any] = {"alpha": alpha, "n_iterates": int(traj.shape[0]),
                               "loss_examples": n_loss, "seed": ctx.seed}
    errors: dict[str, str] = {}
    for name, kwargs in (("euclidean", {"points": traj}),
                         ("loss", {"distances": D_loss, "metric": "loss"})):
        try:  # a PH fit can fail (e.g. iterates that all coincide) while E_α is still defined
            fit = ph_dimension(alpha=alpha, n_sizes=n_sizes, seed=ctx.seed, **kwargs)
        except ValueError as exc:
            values[f"ph_dim_{name}"] = None
            errors[f"ph_dim_{name}"] = f"ValueError: {exc}"
            continue
        values[f"ph_dim_{name}"] = fit.dimension
        details[f"{name}_fit"] = jsonable(fit)
    return GroupValues(values, details=details, errors=errors)
