"""Cost before work: ``dry_run=True`` and the advice of an ill-conditioned estimate.

Oracles: the product count of the real call (``diagnostics.n_hvp``), the closed-form sizes
of the estimator's arrays, and the conditioning rule ``S·τ/|z_next| < 1`` itself.
"""

from __future__ import annotations

import json
import warnings

import pytest
import torch
import torch.nn.functional as F

import sharpdim.estimators.estimate as estimate_module
from sharpdim import EstimateOptions, estimate_sharpness
from sharpdim.estimators import CostPlan, CostWarning

torch.set_num_threads(1)


def _problem(width=8, n=96):
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(n, 6, generator=g), torch.randint(0, 3, (n,), generator=g)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, width), torch.nn.Tanh(),
                                torch.nn.Linear(width, 3))
    return model, X, y


@pytest.mark.parametrize("method, kw", [("exact", dict(n_batches=3)),
                                        ("exact", dict(n_batches=3, batch_size=96)),
                                        ("slq", dict(n_batches=4,
                                                     options=EstimateOptions(n_steps=7)))])
def test_a_dry_run_predicts_the_calls_products_and_array_sizes_and_does_no_estimate(method, kw):
    model, X, y = _problem()
    settings = dict(lr=0.1, batch_size=16, method=method, seed=0) | kw
    before = [p.detach().clone() for p in model.parameters()]
    plan = estimate_sharpness(model, F.cross_entropy, (X, y), dry_run=True, **settings)
    assert isinstance(plan, CostPlan)
    est = estimate_sharpness(model, F.cross_entropy, (X, y), **settings)
    assert plan.n_hvp == est.diagnostics.n_hvp
    N, R = est.diagnostics.n_params, est.diagnostics.n_batches
    expected = (2 * N * N if method == "exact" else (R * 7 * N + 4 * R * N)) * 8   # float64
    assert plan.peak_bytes == expected
    assert plan.seconds > 0 and plan.advice is None
    assert CostPlan.from_dict(json.loads(json.dumps(plan.to_dict(), allow_nan=False))
                              ).to_dict() == plan.to_dict()
    assert all(torch.equal(a, p) for a, p in zip(before, model.parameters(), strict=True))


def test_a_call_planned_above_the_threshold_warns_before_starting(monkeypatch):
    model, X, y = _problem()
    monkeypatch.setattr(estimate_module, "_PLAN_ABOVE_HVPS", 0)
    monkeypatch.setattr("sharpdim.estimators.cost.COST_WARNING_SECONDS", 0.0)
    with pytest.warns(CostWarning, match="predicted .* s > 0 s; for a quicker estimate use "
                                         "method='slq'"):
        estimate_sharpness(model, F.cross_entropy, (X, y), lr=0.1, batch_size=16,
                           n_batches=1, seed=0)


def test_dry_run_must_be_a_bool_and_one_step():
    model, X, y = _problem()
    with pytest.raises(TypeError, match="dry_run must be a bool, got str 'yes'"):
        estimate_sharpness(model, F.cross_entropy, (X, y), lr=0.1, batch_size=16,
                           dry_run="yes")


def test_an_ill_conditioned_estimate_says_what_would_make_it_well_conditioned():
    model, X, y = _problem(width=24)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = estimate_sharpness(model, F.cross_entropy, (X, y), lr=0.1, batch_size=8,
                                 n_batches=4, seed=0)
    c = est.diagnostics.conditioning
    S = est.diagnostics.state_dim
    assert c.ill_conditioned, "this setting must be ill-conditioned for the test to bite"
    assert c.advice is not None and "more minibatches (n_batches" in c.advice
    # the bound it quotes is the rule's own: sensitivity S·τ/|z_next| < 1 ⇔ τ < |z_next|/S
    assert f"{abs(c.z_next) / S:.3g}" in c.advice
    full = estimate_sharpness(model, F.cross_entropy, (X, y), lr=0.1, batch_size=96,
                              n_batches=1, seed=0)
    assert not full.diagnostics.conditioning.ill_conditioned
    assert full.diagnostics.conditioning.advice is None
