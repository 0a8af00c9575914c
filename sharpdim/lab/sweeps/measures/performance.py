"""The ``performance``, ``heldout`` and ``standard_errors`` groups: loss and accuracy on
the training, test and held-out splits, their gaps, and the test-set noise of the gaps.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from sharpdim.lab.sweeps.measures.core import (
    GroupValues,
    MeasureContext,
    _per_example,
)

__all__ = []


def _performance(ctx: MeasureContext) -> GroupValues:
    from sharpdim.lab.sweeps.training import evaluate

    d = ctx.data
    tr = evaluate(ctx.model, d.x_train, d.y_train, ctx.loss_fn)
    te = evaluate(ctx.model, d.x_test, d.y_test, ctx.loss_fn)
    return GroupValues({
        "train_loss": tr.loss, "train_acc": tr.accuracy,
        "test_loss": te.loss, "test_acc": te.accuracy,
        "gen_gap": abs(tr.accuracy - te.accuracy), "loss_gap": abs(tr.loss - te.loss),
    }, details={"n_train": d.n_train, "n_test": d.n_test})


def _skip_heldout(ctx: MeasureContext) -> str | None:
    return None if ctx.data.n_heldout else "no held-out split (task option heldout_fraction)"


def _heldout(ctx: MeasureContext) -> GroupValues:
    """The positive control's oracle: the gap estimated on the held-out part of the training
    distribution instead of the test set (absolute and signed), with its standard error."""
    from sharpdim.lab.sweeps.training import evaluate

    d = ctx.data
    tr = evaluate(ctx.model, d.x_train, d.y_train, ctx.loss_fn)
    ho = evaluate(ctx.model, d.x_heldout, d.y_heldout, ctx.loss_fn)
    return GroupValues({
        "heldout_acc": ho.accuracy, "heldout_loss": ho.loss,
        "heldout_gen_gap": abs(tr.accuracy - ho.accuracy),
        "heldout_signed_gen_gap": tr.accuracy - ho.accuracy,
        "heldout_loss_gap": abs(tr.loss - ho.loss),
        "heldout_signed_loss_gap": ho.loss - tr.loss,
        "heldout_gen_gap_se": math.sqrt(ho.accuracy * (1.0 - ho.accuracy) / d.n_heldout),
    }, details={"n_heldout": d.n_heldout, "rule": "gap on the held-out split; se "
                                                  "sqrt(p(1-p)/n_heldout)"})


@torch.no_grad()
def _per_example_test_losses(ctx: MeasureContext, chunk: int = 4096) -> tuple[np.ndarray, float]:
    was = ctx.model.training
    ctx.model.eval()
    try:
        losses, correct = [], 0
        x, y = ctx.data.x_test, ctx.data.y_test
        for a in range(0, int(y.shape[0]), chunk):
            out = ctx.model(x[a:a + chunk])
            losses.append(_per_example(ctx.loss_fn, out, y[a:a + chunk]).double().numpy())
            correct += int((out.argmax(dim=1) == y[a:a + chunk]).sum())
    finally:
        ctx.model.train(was)
    return np.concatenate(losses), correct / int(y.shape[0])


def _standard_errors(ctx: MeasureContext) -> GroupValues:
    losses, p = _per_example_test_losses(ctx)
    n = losses.size
    return GroupValues({"gen_gap_se": math.sqrt(p * (1.0 - p) / n),
                        "loss_gap_se": float(losses.std(ddof=1)) / math.sqrt(n) if n > 1
                        else None},
                       details={"n_test": n, "test_acc": p,
                                "rule": "sqrt(p(1-p)/n_test); sd(per-example loss)/sqrt(n_test)"})
