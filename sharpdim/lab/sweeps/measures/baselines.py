"""The baselines SD must beat: ``jiang`` (Jiang et al.'s strongest measures), ``norms``
(the parameter norm), ``training`` (how training ended) and ``baselines`` (η, 1/b, η/b).
"""

from __future__ import annotations

import math

import torch

from sharpdim.lab.sweeps.measures.core import (
    GroupValues,
    MeasureContext,
)

__all__ = ["hyperparameter_baselines"]


def _jiang(ctx: MeasureContext) -> GroupValues:
    from sharpdim.lab.sweeps import jiang_measures as jm

    d, values, errors, details = ctx.data, {}, {}, {}
    try:
        values["path_norm"] = jm.path_norm(ctx.model, int(d.x_train[0].numel()))
    except ValueError as exc:
        errors["path_norm"] = str(exc)
    if ctx.initial_state is not None:
        values["dist_from_init"] = jm.distance_from_init(ctx.model, ctx.initial_state)
    else:
        errors["dist_from_init"] = "no initial parameters at this stage"
    values["inverse_margin"] = jm.inverse_margin(ctx.model, d.x_train, d.y_train)
    values["pacbayes_mag_flatness"], sigma = jm.pacbayes_magnitude_flatness(
        ctx.model, d.x_train, d.y_train, seed=ctx.seed)
    details.update({"sigma_prime": sigma, "flatness": jm.FLATNESS_SETTINGS,
                    "margin_percentile": 10, "seed": ctx.seed})
    return GroupValues(values, details=details, errors=errors)


def _norms(ctx: MeasureContext) -> GroupValues:
    with torch.no_grad():
        sq = sum(float(p.double().pow(2).sum()) for p in ctx.model.parameters()
                 if p.requires_grad)
    return GroupValues({"weight_norm": math.sqrt(sq)}, details={"norm": "Euclidean, all "
                                                                "trained parameters"})


def _skip_training(ctx: MeasureContext) -> str | None:
    return None if ctx.training is not None else "no training summary at this stage"


def _training(ctx: MeasureContext) -> GroupValues:
    t = ctx.training or {}
    converged = t.get("converged")
    return GroupValues({"steps": float(t["steps"]), "epochs": float(t["epochs"]),
                        "converged": None if converged is None else float(bool(converged))},
                       details={"stopped_by": t.get("stopped_by"),
                                "final_train_loss": t.get("final_train_loss"),
                                "final_train_acc": t.get("final_train_acc")})


def hyperparameter_baselines(lr: float, batch_size: int) -> dict[str, float]:
    """The hyperparameter baselines of a run: η, 1/b and η/b."""
    return {"lr": float(lr), "inv_batch_size": 1.0 / batch_size,
            "lr_over_batch_size": lr / batch_size}


def _baselines(ctx: MeasureContext) -> GroupValues:
    return GroupValues(hyperparameter_baselines(ctx.lr, ctx.batch_size))
