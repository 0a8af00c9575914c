"""The decisive-test protocol: training to a stated criterion, and the protocol measure
groups (baselines, standard errors, EoS diagnostics, SD at a fixed Hessian batch size, the
measured inputs of Theorem 4.5), each against an independent computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.autograd.functional import hessian as autograd_hessian

from sharpdim.lab.sweeps.measures import (
    MeasureContext,
    MeasureSettings,
    compute_measures,
    eos_threshold,
)
from sharpdim.lab.sweeps.tasks import get_task
from sharpdim.lab.sweeps.training import TrainSettings, criterion_met, evaluate, train

# float64 eigenvalues of a few-hundred-parameter Hessian agree to ~N·eps·‖H‖ between two
# algorithms (LAPACK on an autograd Hessian vs. our path); 1e-8 relative leaves ample room.
RTOL = 1e-8


@pytest.fixture(scope="module")
def task_data():
    task = get_task("mnist1d_mlp")
    options = task.options({"n_samples": 300, "width": 4})
    return task, options, task.dataset(options)


@pytest.fixture(scope="module")
def trained(task_data):
    task, options, data = task_data
    model = task.model(options, 0).double()
    data = type(data)(**{**data.__dict__, "x_train": data.x_train.double(),
                         "x_test": data.x_test.double()})
    result = train(model, data, TrainSettings(lr=0.3, batch_size=16, epochs=6, trajectory=12),
                   task.loss_fn, seed=0)
    return task, data, model, result


def _ctx(trained, *, lr=0.3, batch_size=16, training=None, **settings) -> MeasureContext:
    task, data, model, result = trained
    return MeasureContext(
        model=model, loss_fn=task.loss_fn, data=data, lr=lr, batch_size=batch_size,
        optimizer="sgd", momentum=0.0, weight_decay=0.0, betas=(0.9, 0.999),
        n_parameters=sum(p.numel() for p in model.parameters()), seed=5,
        settings=MeasureSettings(**settings), trajectory=result.trajectory,
        torch_optimizer=result.optimizer, training=training)


def _values(outcomes):
    bad = {o.name: o.error for o in outcomes if o.status != "ok"}
    assert not bad, bad
    return {o.name: o.value for o in outcomes}


# -- training to a criterion --------------------------------------------------------------


def test_criterion_mode_stops_once_the_full_training_set_meets_the_criterion(task_data):
    task, options, data = task_data
    model = task.model(options, 1)
    s = TrainSettings(lr=0.5, batch_size=16, epochs=60, stop="criterion", target_loss=1.9)
    r = train(model, data, s, task.loss_fn, seed=0)
    assert r.stopped_by == "criterion" and r.converged is True
    assert 1 < r.epochs_completed < 60 and r.steps == r.epochs_completed * (data.n_train // 16)
    ev = evaluate(model, data.x_train, data.y_train, task.loss_fn)
    assert ev.loss <= 1.9 or ev.accuracy == 1.0
    assert r.final_train_loss == pytest.approx(ev.loss)
    # one epoch less does not meet it (it stopped at the first epoch that did)
    again = task.model(options, 1)
    s2 = TrainSettings(lr=0.5, batch_size=16, epochs=r.epochs_completed - 1)
    r2 = train(again, data, s2, task.loss_fn, seed=0)
    assert r2.converged is False and r2.stopped_by == "epochs"


def test_train_loss_mode_stops_on_the_loss_alone_at_the_first_epoch_below_target(task_data):
    task, options, data = task_data
    model = task.model(options, 1)
    s = TrainSettings(lr=0.5, batch_size=16, epochs=60, stop="train_loss", target_loss=1.9)
    r = train(model, data, s, task.loss_fn, seed=0)
    assert r.stopped_by == "train_loss" and r.converged is True
    assert evaluate(model, data.x_train, data.y_train, task.loss_fn).loss <= 1.9
    again = task.model(options, 1)
    train(again, data, TrainSettings(lr=0.5, batch_size=16, epochs=r.epochs_completed - 1),
               task.loss_fn, seed=0)
    assert evaluate(again, data.x_train, data.y_train, task.loss_fn).loss > 1.9
    # 100 % training accuracy alone is not "converged" under the loss-only rule
    assert criterion_met(0.5, 1.0, 0.01) and not criterion_met(0.5, 1.0, 0.01, "train_loss")


def test_fixed_epoch_mode_runs_every_epoch_and_still_flags_convergence(task_data):
    task, options, data = task_data
    r = train(task.model(options, 1), data,
              TrainSettings(lr=0.05, batch_size=64, epochs=2), task.loss_fn, seed=0)
    assert r.epochs_completed == 2 and r.stopped_by == "epochs" and r.converged is False


def test_step_cap_stops_mid_epoch_and_keeps_the_last_iterates(task_data):
    task, options, data = task_data
    model = task.model(options, 1)
    r = train(model, data, TrainSettings(lr=0.1, batch_size=16, epochs=50, stop="criterion",
                                         target_loss=1e-6, max_steps=25, trajectory=4),
              task.loss_fn, seed=0)
    assert r.steps == 25 and r.stopped_by == "max_steps" and r.converged is False
    assert r.trajectory.shape[0] == 4
    final = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).numpy()
    np.testing.assert_array_equal(r.trajectory[-1], final)


@pytest.mark.parametrize("kwargs, match", [
    ({"stop": "loss"}, "stop must be one of"),
    ({"target_loss": 0.0}, "target_loss must be > 0"),
    ({"max_steps": 0}, "max_steps must be >= 1, got 0"),
])
def test_bad_stopping_settings_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainSettings(lr=0.1, batch_size=4, epochs=1, **kwargs)


# -- protocol measure groups --------------------------------------------------------------


def test_training_and_baseline_groups_report_the_run_and_its_hyperparameters(trained):
    summary = {"steps": 108, "epochs": 6, "converged": False, "stopped_by": "epochs"}
    v = _values(compute_measures(_ctx(trained, training=summary),
                                 ["training", "baselines"])[0])
    assert (v["steps"], v["epochs"], v["converged"]) == (108.0, 6.0, 0.0)
    assert (v["lr"], v["inv_batch_size"], v["lr_over_batch_size"]) == (0.3, 1 / 16, 0.3 / 16)
    out, _ = compute_measures(_ctx(trained), ["training"])
    assert {o.status for o in out if o.group == "training"} == {"skipped"}


def test_standard_errors_are_binomial_for_accuracy_and_sample_sd_for_loss(trained):
    task, data, model, _ = trained
    v = _values(compute_measures(_ctx(trained), ["standard_errors"])[0])
    with torch.no_grad():
        out = model(data.x_test)
        p = float((out.argmax(1) == data.y_test).double().mean())
        losses = [float(torch.nn.functional.cross_entropy(out[i:i + 1], data.y_test[i:i + 1]))
                  for i in range(data.n_test)]
    n = data.n_test
    assert v["gen_gap_se"] == pytest.approx(math.sqrt(p * (1 - p) / n), rel=1e-12)
    assert v["loss_gap_se"] == pytest.approx(np.std(losses, ddof=1) / math.sqrt(n), rel=1e-9)


def _autograd_eigenvalues(model, loss_fn, x, y) -> np.ndarray:
    params = list(model.parameters())
    shapes = [p.shape for p in params]
    sizes = [p.numel() for p in params]
    theta = torch.cat([p.detach().reshape(-1) for p in params])

    def loss(th):
        blocks = [b.view(s) for b, s in zip(torch.split(th, sizes), shapes, strict=True)]
        return loss_fn(torch.func.functional_call(
            model, {n: b for (n, _), b in zip(model.named_parameters(), blocks, strict=True)},
            (x,)), y)

    return np.linalg.eigvalsh(autograd_hessian(loss, theta).numpy())


def test_eos_diagnostics_match_an_autograd_hessian_on_the_same_examples(trained):
    task, data, model, _ = trained
    out, _ = compute_measures(_ctx(trained, eos={"n_batches": 3}), ["eos"])
    v = _values(out)
    full = _autograd_eigenvalues(model, task.loss_fn, data.x_train, data.y_train)
    assert v["eta_lambda_max"] == pytest.approx(0.3 * full[-1], rel=RTOL)
    # flat directions are ±rounding: the share of negative curvature lies between that of
    # eigenvalues clearly negative (below −1e-6·max|α|, far above float64 rounding) and that
    # of every eigenvalue below 0 (rounding noise included)
    clearly = np.mean(full < -1e-6 * np.abs(full).max())
    assert 0 < clearly <= v["negative_fraction"] <= np.mean(full < 0)
    assert v["eos_threshold"] == 2.0
    # the same minibatches (documented draw: default_rng(seed), sorted, without replacement)
    rng = np.random.default_rng(5)
    tops, shares_top, shares_neg, lam = [], 0, 0, []
    for _ in range(3):
        idx = torch.as_tensor(np.sort(rng.choice(data.n_train, 16, replace=False)))
        a = _autograd_eigenvalues(model, task.loss_fn, data.x_train[idx], data.y_train[idx])
        tops.append(a[-1])
        g = np.log(np.abs(1 - 0.3 * a))
        lam.append(g.max())
        if g.max() > 0:
            shares_top += int(np.argmax(g) == a.size - 1)
            shares_neg += int(a[np.argmax(g)] < 0)
    assert v["eta_lambda_max_minibatch"] == pytest.approx(0.3 * np.mean(tops), rel=1e-6)
    assert v["lambda_1_eos"] == pytest.approx(np.mean(lam), rel=1e-6, abs=1e-9)
    assert (v["lambda_1_top_share"], v["lambda_1_negative_share"]) == (shares_top / 3,
                                                                       shares_neg / 3)


def test_eos_threshold_is_two_for_sgd_and_two_one_plus_beta_for_heavy_ball():
    assert eos_threshold("sgd", 0.0) == 2.0
    assert eos_threshold("momentum", 0.9) == pytest.approx(3.8)


def test_sd_at_the_fixed_batch_size_equals_sd_exact_when_it_is_the_training_batch_size(
        trained):
    v = _values(compute_measures(_ctx(trained, exact={"n_batches": 3},
                                      fixed_batch={"batch_size": 16, "n_batches": 3}),
                                 ["sd_exact", "sd_fixed_batch"])[0])
    assert v["sd_fixed_batch"] == v["sd_exact"]
    assert v["lambda_1_fixed_batch"] == v["lambda_1"]
    w = _values(compute_measures(_ctx(trained, fixed_batch={"batch_size": 64, "n_batches": 3}),
                                 ["sd_fixed_batch"])[0])
    assert w["sd_fixed_batch"] != v["sd_exact"]


def test_bound_inputs_are_the_largest_per_example_gradient_norm_and_loss(trained):
    task, data, model, result = trained
    v = _values(compute_measures(_ctx(trained, bound={"n_points": 2}), ["bound"])[0])
    L = B = B_test = 0.0
    gaps = []
    probe = type(model)(*model) if isinstance(model, torch.nn.Sequential) else None
    assert probe is not None
    for row in (0, result.trajectory.shape[0] - 1):
        theta = torch.as_tensor(result.trajectory[row]).double()
        torch.nn.utils.vector_to_parameters(theta, probe.parameters())
        for i in range(data.n_train):  # one example at a time, plain autograd
            probe.zero_grad()
            loss = task.loss_fn(probe(data.x_train[i:i + 1]), data.y_train[i:i + 1])
            loss.backward()
            g = torch.cat([p.grad.reshape(-1) for p in probe.parameters()])
            L, B = max(L, float(g.norm())), max(B, float(loss.detach()))
        with torch.no_grad():
            gaps.append(float(task.loss_fn(probe(data.x_test), data.y_test)
                              - task.loss_fn(probe(data.x_train), data.y_train)))
            for i in range(data.n_test):
                B_test = max(B_test, float(task.loss_fn(probe(data.x_test[i:i + 1]),
                                                        data.y_test[i:i + 1])))
    assert v["bound_L"] == pytest.approx(L, rel=1e-6)
    assert v["bound_B"] == pytest.approx(B, rel=1e-6)
    assert v["bound_B_test"] == pytest.approx(B_test, rel=1e-6)
    assert v["worst_loss_gap"] == pytest.approx(max(gaps), rel=1e-6, abs=1e-12)
    assert v["n_train"] == data.n_train


def _mse_run(task, options, data, *, epochs, trajectory, settings):
    """A model of ``options`` trained with :func:`mse_onehot` (lr 0.1, batch 16, seed 0) and
    the measure context of that run."""
    from sharpdim.lab.sweeps.tasks import mse_onehot

    model = task.model(options, 0)
    r = train(model, data, TrainSettings(lr=0.1, batch_size=16, epochs=epochs,
                                         trajectory=trajectory), mse_onehot, seed=0)
    ctx = MeasureContext(model=model, loss_fn=mse_onehot, data=data, lr=0.1, batch_size=16,
                         optimizer="sgd", momentum=0.0, weight_decay=0.0, betas=(0.9, 0.999),
                         n_parameters=sum(p.numel() for p in model.parameters()), seed=0,
                         settings=settings, trajectory=r.trajectory)
    return model, r, ctx


def test_mse_task_option_trains_and_measures_with_the_squared_error(task_data):
    from sharpdim.lab.sweeps.tasks import mse_onehot

    task, options, data = task_data
    opts = task.options({**options, "loss": "mse"})
    loss_fn = task.loss_for(opts)
    assert loss_fn is mse_onehot and task.loss_for(options) is task.loss_fn
    model, r, ctx = _mse_run(task, opts, data, epochs=2, trajectory=2,
                             settings=MeasureSettings(bound={"n_points": 1}))
    v = _values(compute_measures(ctx, ["standard_errors", "bound"])[0])
    with torch.no_grad():
        out = model(data.x_test)
        per = [float(mse_onehot(out[i:i + 1], data.y_test[i:i + 1])) for i in range(data.n_test)]
    assert v["loss_gap_se"] == pytest.approx(np.std(per, ddof=1) / math.sqrt(data.n_test),
                                             rel=1e-6)
    onehot = torch.nn.functional.one_hot(data.y_test, 10).float()
    assert float(mse_onehot(out, data.y_test)) == pytest.approx(  # the definition
        float(0.5 * ((out - onehot) ** 2).sum(1).mean()), rel=1e-6)  # float32, 10-term sums
    with pytest.raises(ValueError, match="task.loss must be one of"):
        task.loss_for({"loss": "hinge"})


def test_loss_metric_topology_uses_the_runs_own_squared_error_per_example(task_data):
    """The loss-metric PH distance is between the per-example *training* losses of the run:
    with ``loss = "mse"`` these are ½‖f(x_i) − e_{y_i}‖², written out here by hand."""
    from sharpdim.lab.sweeps.measures import _per_example_losses

    task, options, data = task_data
    model, r, ctx = _mse_run(task, options, data, epochs=1, trajectory=3,
                             settings=MeasureSettings())
    rows = np.arange(0, 40, 3)
    got = _per_example_losses(ctx, rows)
    onehot = torch.nn.functional.one_hot(data.y_train[rows], 10).double()
    sizes = [p.numel() for p in model.parameters()]
    for i, w in enumerate(r.trajectory):
        probe = task.model(options, 0).double()
        with torch.no_grad():
            for p, b in zip(probe.parameters(), torch.split(torch.as_tensor(w).double(), sizes),
                            strict=True):
                p.copy_(b.view(p.shape))
            out = probe(data.x_train[rows].double())
        expected = (0.5 * ((out - onehot) ** 2).sum(1)).numpy()
        # float32 forward pass in the measure vs float64 here: ~1e-6 relative
        np.testing.assert_allclose(got[i], expected, rtol=1e-5, atol=1e-7)
    # and it is not the cross-entropy the group used before (the bug this guards)
    with torch.no_grad():
        ce = torch.nn.functional.cross_entropy(model(data.x_train[rows]), data.y_train[rows],
                                               reduction="none").double().numpy()
    assert not np.allclose(got[-1], ce, rtol=1e-2)
