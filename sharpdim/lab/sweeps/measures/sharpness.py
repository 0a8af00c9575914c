"""The sharpness-dimension groups: ``sd_exact``, ``sd_sup``, the density estimators
``sd_slq`` / ``sd_kde`` / ``sd_ps``, ``sd_update``, ``sd_modal`` and ``sd_fixed_batch``; and
the optimizer's state size (:data:`STATE_FACTOR`, :func:`state_size`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch

from sharpdim import _validate
from sharpdim.lab.sweeps.measures.core import (
    GroupValues,
    MeasureContext,
    _estimate,
    _too_big,
    jsonable,
)

__all__ = ["STATE_FACTOR", "state_size"]


def _sd_exact(ctx: MeasureContext) -> GroupValues:
    est = _estimate(ctx, method="exact", jacobian="gd", options=ctx.settings.exact)
    return GroupValues({"sd_exact": est.dimension, "lambda_1": est.lambda_1},
                       arrays={"rds_sharpness": np.asarray(est.sharpness)},
                       details={"diagnostics": jsonable(est.diagnostics)})


def _sup_points(ctx: MeasureContext) -> list[torch.Tensor]:
    k = int(ctx.settings.sup.get("n_points", 5))
    traj = ctx.trajectory
    rows = np.unique(np.round(np.linspace(0, traj.shape[0] - 1, k)).astype(int))
    dtype = next(ctx.model.parameters()).dtype
    return [torch.as_tensor(traj[r]).to(dtype) for r in rows]


def _skip_sup(ctx: MeasureContext) -> str | None:
    if ctx.trajectory is None or ctx.trajectory.shape[0] < 2:
        return "no trajectory iterates kept (measures.topology.iterates = 0)"
    return _too_big(ctx)


def _sd_sup(ctx: MeasureContext) -> GroupValues:
    options = {k: v for k, v in ctx.settings.sup.items() if k != "n_points"}
    points = _sup_points(ctx)
    est = _estimate(ctx, method="exact", jacobian="gd", options=options, aggregate="sup",
                    points=points)
    return GroupValues({"sd_sup": est.dimension, "lambda_1_sup": est.lambda_1},
                       arrays={"rds_sharpness_sup": np.asarray(est.sharpness)},
                       details={"diagnostics": jsonable(est.diagnostics),
                                "n_points": len(points)})


def _density_estimate(ctx: MeasureContext, method: str):
    """The density estimate of ``method`` at this stage, computed once (``sd_modal`` reuses
    the SLQ measure of ``sd_slq``: the same Lanczos runs, no extra products)."""
    key = ("density_estimate", method)
    if key not in ctx.cache:
        ctx.cache[key] = _estimate(ctx, method=method, jacobian="gd",
                                   options=ctx.settings.density)
    return ctx.cache[key]


def _density(method: str) -> Callable[[MeasureContext], GroupValues]:
    def compute(ctx: MeasureContext) -> GroupValues:
        est = _density_estimate(ctx, method)
        values: dict[str, float | None] = {f"sd_{method}": est.dimension}
        arrays = {}
        if method == "slq":
            values["lambda_1_slq"] = est.lambda_1
            cm = est.curvature_measure
            if cm is not None:
                arrays = {"slq_nodes": np.asarray(cm.nodes), "slq_weights": np.asarray(cm.weights)}
        return GroupValues(values, arrays=arrays,
                           details={"diagnostics": jsonable(est.diagnostics)})
    return compute


def _skip_update(ctx: MeasureContext) -> str | None:
    if ctx.optimizer == "sgd":
        return ("plain SGD: the update Jacobian I − η(H + κI) is the GD Jacobian (sd_exact, "
                "which includes the weight decay κ)")
    return None


STATE_FACTOR = {"sgd": 1, "momentum": 2, "adam": 3, "adamw": 3}
"""State size of each optimizer in units of N: ``w``; ``(w, v)``; ``(w, m, v)``."""


def state_size(optimizer: str, n_parameters: int) -> int:
    """Size of the optimizer's state, on which its update Jacobian acts:
    ``STATE_FACTOR[optimizer] · N``."""
    _validate.choice("optimizer", optimizer, sorted(STATE_FACTOR))
    return STATE_FACTOR[optimizer] * int(n_parameters)


def _state_size(ctx: MeasureContext) -> int:
    return state_size(ctx.optimizer, ctx.n_parameters)


def _sd_update(ctx: MeasureContext) -> GroupValues:
    options = dict(ctx.settings.update)
    method = options.pop("method", None)
    if method is None:
        method = "exact" if _too_big(ctx, _state_size(ctx)) is None else "slq"
    est = _estimate(ctx, method=method, jacobian="update", options=options,
                    optimizer_state=ctx.torch_optimizer)
    arrays = {} if est.sharpness is None else {"rds_sharpness_update": np.asarray(est.sharpness)}
    return GroupValues({"sd_update": est.dimension, "lambda_1_update": est.lambda_1,
                        "sd_update_per_state": est.dimension / _state_size(ctx)},
                       arrays=arrays,
                       details={"method": method, "diagnostics": jsonable(est.diagnostics)})


def _skip_modal(ctx: MeasureContext) -> str | None:
    if ctx.optimizer != "momentum":
        return (f"{ctx.optimizer}: the modal SD is defined for heavy ball (for plain SGD it is "
                "the GD SD, sd_slq)")
    return None


def _sd_modal(ctx: MeasureContext) -> GroupValues:
    from sharpdim.estimators.modal import modal_dimension

    est = _density_estimate(ctx, "slq")
    diag = est.diagnostics
    d = modal_dimension(est.curvature_measure, lr=ctx.lr, momentum=ctx.momentum,
                        weight_decay=ctx.weight_decay, eps=diag.epsilon,
                        epsilon_form=diag.epsilon_form)
    return GroupValues({"sd_modal": d.dimension, "lambda_1_modal": d.lambda_1,
                        "sd_modal_per_state": d.dimension / _state_size(ctx)},
                       details={"crossing": d.crossing, "expanding_mass": d.expanding_mass,
                                "state_size": _state_size(ctx), "epsilon": diag.epsilon,
                                "epsilon_form": diag.epsilon_form,
                                "source": "the SLQ measure of sd_slq (same runs)"})


def _skip_fixed_batch(ctx: MeasureContext) -> str | None:
    b = ctx.settings.fixed_batch.get("batch_size")
    if b is None:
        return "no [measures.fixed_batch] batch_size given"
    if int(b) > ctx.data.n_train:
        return f"fixed batch size {b} > the {ctx.data.n_train} training examples"
    return None


def _sd_fixed_batch(ctx: MeasureContext) -> GroupValues:
    options = dict(ctx.settings.fixed_batch)
    b = int(options.pop("batch_size"))
    method = options.pop("method", None) or ("exact" if _too_big(ctx) is None else "slq")
    est = _estimate(dataclasses.replace(ctx, batch_size=b), method=method, jacobian="gd",
                    options=options)
    return GroupValues({"sd_fixed_batch": est.dimension, "lambda_1_fixed_batch": est.lambda_1},
                       details={"batch_size": b, "method": method,
                                "diagnostics": jsonable(est.diagnostics)})
