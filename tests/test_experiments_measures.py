"""Measure groups: a failing or missing backend is an error outcome, never a crashed run;
inapplicable groups are skipped with a reason; the Hessian group's exact and matrix-free
paths agree (two algorithms)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from sharpdim.lab.sweeps.measures import (
    GROUPS,
    MeasureContext,
    MeasureSettings,
    compute_measures,
    output_names,
)
from sharpdim.lab.sweeps.tasks import get_task
from sharpdim.lab.sweeps.training import TrainSettings, evaluate, train
from sharpdim.testing.checking import Tolerance, check_close


@pytest.fixture(scope="module")
def trained():
    task = get_task("mnist1d_mlp")
    options = task.options({"n_samples": 200, "width": 4})
    data = task.dataset(options)
    model = task.model(options, 0)
    result = train(model, data, TrainSettings(lr=0.1, batch_size=16, epochs=2, trajectory=30),
                   task.loss_fn, seed=0)
    return task, data, model, result


def _ctx(trained, **settings) -> MeasureContext:
    task, data, model, result = trained
    return MeasureContext(
        model=model, loss_fn=task.loss_fn, data=data, lr=0.1, batch_size=16, optimizer="sgd",
        momentum=0.0, weight_decay=0.0, betas=(0.9, 0.999), n_parameters=216, seed=3,
        settings=MeasureSettings(**settings), trajectory=result.trajectory,
        torch_optimizer=result.optimizer)


def _by_name(outcomes):
    return {o.name: o for o in outcomes}


def test_a_failing_estimator_is_an_error_outcome_and_other_groups_still_run(trained,
                                                                            monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("backend down")

    monkeypatch.setattr("sharpdim.estimators.estimate_sharpness", broken)
    outcomes, _ = compute_measures(_ctx(trained, exact={"n_batches": 2}),
                                   ["sd_exact", "hessian"])
    got = _by_name(outcomes)
    for name in ("sd_exact", "lambda_1"):
        assert got[name].status == "error" and got[name].value is None
        assert got[name].error == "RuntimeError: backend down"
        assert "traceback" in got[name].details
    assert got["top_eigenvalue"].status == "ok" and got["train_acc"].status == "ok"


def test_a_missing_backend_module_is_an_error_outcome(trained, monkeypatch):
    monkeypatch.setitem(sys.modules, "sharpdim.estimators", None)  # import now fails
    outcomes, _ = compute_measures(_ctx(trained), ["sd_slq"])
    got = _by_name(outcomes)
    assert got["sd_slq"].status == "error" and "ModuleNotFoundError" in got["sd_slq"].error


def test_inapplicable_groups_are_skipped_with_their_reason(trained):
    ctx = _ctx(trained, exact_max_params=100)
    outcomes, _ = compute_measures(ctx, ["sd_exact", "sd_update"])
    got = _by_name(outcomes)
    assert got["sd_exact"].status == "skipped"
    assert "216 > exact_max_params = 100" in got["sd_exact"].error
    assert got["sd_update"].status == "skipped" and "plain SGD" in got["sd_update"].error


def test_every_declared_output_gets_exactly_one_outcome(trained):
    groups = ["sd_exact", "sd_slq", "hessian", "topology"]
    ctx = _ctx(trained, exact={"n_batches": 2}, density={"n_batches": 2, "n_steps": 8})
    outcomes, arrays = compute_measures(ctx, groups)
    assert [o.name for o in outcomes] == output_names(["performance", *groups])
    assert {o.status for o in outcomes} == {"ok"}
    assert arrays["rds_sharpness"].shape == (216,) and arrays["hessian_eigenvalues"].shape == (216,)
    with pytest.raises(ValueError, match="unknown measure group"):
        compute_measures(ctx, ["sd_magic"])
    assert set(GROUPS) >= {"sd_exact", "sd_sup", "sd_slq", "sd_kde", "sd_ps", "sd_update",
                           "hessian", "topology", "performance"}


def test_gaps_are_absolute_differences_of_train_and_test_performance(trained):
    task, data, model, _ = trained
    got = _by_name(compute_measures(_ctx(trained), [])[0])
    tr = evaluate(model, data.x_train, data.y_train, task.loss_fn)
    te = evaluate(model, data.x_test, data.y_test, task.loss_fn)
    assert got["gen_gap"].value == pytest.approx(abs(tr.accuracy - te.accuracy))
    assert got["loss_gap"].value == pytest.approx(abs(tr.loss - te.loss))


def test_hessian_group_exact_and_lanczos_hutchinson_paths_agree(trained):
    exact = _by_name(compute_measures(_ctx(trained, hessian={"method": "exact"}),
                                      ["hessian"])[0])
    free = _by_name(compute_measures(
        _ctx(trained, hessian={"method": "lanczos", "trace_samples": 400}), ["hessian"])[0])
    top = exact["top_eigenvalue"].value
    check_close("Lanczos top eigenvalue = exact eigendecomposition", "216-parameter MLP",
                top, free["top_eigenvalue"].value,
                Tolerance("Lanczos stops at residual sqrt(eps)·|θ|: eigenvalue error "
                          "≲ residual² / gap, far below 1e-6 relative", rtol=1e-6))
    stderr = free["trace"].details["trace_stderr"]
    check_close("Hutchinson trace = exact trace", "216-parameter MLP, 400 Rademacher probes",
                exact["trace"].value, free["trace"].value,
                Tolerance("4 standard errors of the Hutchinson mean", atol=4 * stderr))


def test_topology_keeps_lifetime_sums_when_the_ph_fit_is_impossible(trained):
    task, data, model, result = trained
    frozen = np.repeat(result.trajectory[-1:], 30, axis=0)  # all iterates coincide
    ctx = _ctx(trained)
    ctx = MeasureContext(**{**ctx.__dict__, "trajectory": frozen})
    got = _by_name(compute_measures(ctx, ["topology"])[0])
    assert got["e_alpha_euclidean"].status == "ok" and got["e_alpha_euclidean"].value == 0.0
    assert got["ph_dim_euclidean"].status == "error" and "E_alpha = 0" in \
        got["ph_dim_euclidean"].error
    assert torch.is_tensor(next(model.parameters()))
