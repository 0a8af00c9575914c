"""Measures taken at the checkpoints of a full-batch run: the modal SD group, the top
eigenvalue and trace read from the SLQ runs, and the parameter norm.

Oracles: an autograd Hessian of the full training loss with LAPACK ``eigvalsh`` (exact trace and
extreme eigenvalues), the quadratic formula in 400-digit mpmath for the heavy-ball roots, and a
direct sum of squares for the norm.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from test_modal_sharpness import _mp_log_moduli
from torch.autograd.functional import hessian as autograd_hessian

from sharpdim.lab.sweeps.measures import MeasureContext, MeasureSettings, compute_measures
from sharpdim.lab.sweeps.tasks import get_task
from sharpdim.lab.sweeps.training import TrainSettings, train

LR, BETA, DECAY = 0.2, 0.9, 1e-3


@pytest.fixture(scope="module")
def trained_heavy_ball():
    task = get_task("mnist1d_mlp")
    options = task.options({"n_samples": 250, "width": 4})
    data = task.dataset(options)
    model = task.model(options, 0).double()
    data = type(data)(**{**data.__dict__, "x_train": data.x_train.double(),
                         "x_test": data.x_test.double()})
    n = data.n_train
    result = train(model, data, TrainSettings(lr=LR, batch_size=n, epochs=30,
                                              optimizer="momentum", momentum=BETA,
                                              weight_decay=DECAY), task.loss_fn, seed=0)
    return task, data, model, result


def _context(trained, **settings) -> MeasureContext:
    task, data, model, result = trained
    return MeasureContext(
        model=model, loss_fn=task.loss_fn, data=data, lr=LR, batch_size=data.n_train,
        optimizer="momentum", momentum=BETA, weight_decay=DECAY, betas=(0.9, 0.999),
        n_parameters=sum(p.numel() for p in model.parameters()), seed=3,
        settings=MeasureSettings(**settings), torch_optimizer=result.optimizer)


def _exact_hessian(trained) -> np.ndarray:
    """Autograd Hessian of the full training loss (float64)."""
    task, data, model, _ = trained
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    flat0 = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss_of(flat):
        chunks = torch.split(flat, [math.prod(s) for s in shapes])
        params = {n: c.view(s) for n, c, s in zip(names, chunks, shapes, strict=True)}
        return task.loss_fn(torch.func.functional_call(model, params, (data.x_train,)),
                            data.y_train)

    return autograd_hessian(loss_of, flat0).numpy()


def test_sd_modal_at_full_krylov_depth_has_the_exact_spectral_radius_of_the_step(
        trained_heavy_ball):
    task, data, model, _ = trained_heavy_ball
    n_params = sum(p.numel() for p in model.parameters())
    ctx = _context(trained_heavy_ball, final=("sd_slq", "sd_modal"),
                   density={"n_batches": 2, "n_steps": n_params})
    outcomes, _ = compute_measures(ctx, ("sd_slq", "sd_modal"))
    values = {o.name: o.value for o in outcomes if o.status == "ok"}
    alpha = np.linalg.eigvalsh(_exact_hessian(trained_heavy_ball))
    # Lanczos run to the full dimension reproduces the extreme eigenvalues to ~N·eps·‖H‖
    radius = max(_mp_log_moduli(LR * (a + DECAY), BETA)[0] for a in (alpha[0], alpha[-1]))
    assert values["lambda_1_modal"] == pytest.approx(radius, abs=1e-6)
    assert values["sd_modal_per_state"] == pytest.approx(values["sd_modal"] / (2 * n_params))
    assert 0.0 <= values["sd_modal"] <= 2 * n_params


def test_sd_modal_reuses_the_slq_runs_of_sd_slq(trained_heavy_ball, monkeypatch):
    # the module whose density estimate looks _estimate up at call time
    import sharpdim.lab.sweeps.measures.sharpness as measures

    calls = []
    real = measures._estimate
    monkeypatch.setattr(measures, "_estimate",
                        lambda ctx, **kw: calls.append(kw["method"]) or real(ctx, **kw))
    ctx = _context(trained_heavy_ball, density={"n_batches": 2, "n_steps": 10})
    compute_measures(ctx, ("sd_slq", "sd_modal"))
    assert calls == ["slq"]


def test_sd_modal_is_skipped_with_a_reason_for_plain_sgd(trained_heavy_ball):
    ctx = _context(trained_heavy_ball, density={"n_batches": 2, "n_steps": 10})
    outcomes, _ = compute_measures(dataclasses.replace(ctx, optimizer="sgd", momentum=0.0),
                                   ("sd_modal",))
    modal = [o for o in outcomes if o.group == "sd_modal"]
    assert all(o.status == "skipped" and "GD SD" in o.error for o in modal)


def test_top_eigenvalue_and_trace_from_the_slq_runs_match_the_exact_hessian(trained_heavy_ball):
    H = _exact_hessian(trained_heavy_ball)
    alpha = np.linalg.eigvalsh(H)
    n_runs = 8
    ctx = _context(trained_heavy_ball, density={"n_batches": n_runs, "n_steps": 40},
                   hessian={"method": "slq"})
    outcomes, _ = compute_measures(ctx, ("sd_slq", "hessian"))
    v = {o.name: o.value for o in outcomes if o.status == "ok"}
    # a Ritz value never exceeds λ_max (up to rounding, ~N·eps·‖H‖)
    scale = float(np.abs(alpha).max())
    assert v["top_eigenvalue"] <= alpha[-1] + H.shape[0] * 1e-15 * scale
    # 40 steps from a Rademacher start: the top Ritz value has converged to well below 1 %
    assert v["top_eigenvalue"] == pytest.approx(alpha[-1], rel=1e-2)
    # Hutchinson with R Rademacher probes: variance 2·Σ_{i≠j} H_ij² / R; 4 standard errors
    off = H - np.diag(np.diag(H))
    se = math.sqrt(2.0 * float((off**2).sum()) / n_runs)
    assert abs(v["trace"] - float(np.trace(H))) <= 4.0 * se


def test_hessian_from_slq_refuses_a_minibatch_run(trained_heavy_ball):
    ctx = _context(trained_heavy_ball, density={"n_batches": 2, "n_steps": 10},
                   hessian={"method": "slq"})
    small = dataclasses.replace(ctx, batch_size=16)
    outcomes, _ = compute_measures(small, ("hessian",))
    errors = {o.error for o in outcomes if o.group == "hessian"}
    assert all(o.status == "error" for o in outcomes if o.group == "hessian")
    assert any("needs full-batch training" in e and "batch_size=16" in e for e in errors)


def test_weight_norm_is_the_euclidean_norm_of_all_parameters(trained_heavy_ball):
    _, _, model, _ = trained_heavy_ball
    outcomes, _ = compute_measures(_context(trained_heavy_ball), ("norms",))
    v = {o.name: o.value for o in outcomes if o.status == "ok"}
    want = math.sqrt(sum(float((p.detach().double() ** 2).sum()) for p in model.parameters()))
    assert v["weight_norm"] == pytest.approx(want, rel=1e-12)
