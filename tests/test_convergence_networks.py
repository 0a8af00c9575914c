"""The real-network section of the estimator convergence report
(:func:`sharpdim.lab.bench.convergence.network_table`) on a tiny network: its exact references are
those of the public exact estimator on the same minibatches, every view runs, and the section
splices into the report without touching the rest."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sharpdim import EstimateOptions
from sharpdim.estimators.estimate import estimate_sharpness
from sharpdim.lab.bench.convergence import (
    NETWORK_SECTION,
    NETWORK_VIEWS,
    READING_SECTION,
    NetworkCase,
    network_table,
    render_network_section,
    splice_section,
)

SEEDS = (5, 6)


@pytest.fixture(scope="module")
def tiny():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(40, 4, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (40,), generator=gen)
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(),
                                torch.nn.Linear(5, 3)).double()          # N = 43
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    case = NetworkCase("tiny", "tanh MLP 4-5-3 at init", model,
                       torch.nn.functional.cross_entropy, (x, y), lr=0.5, batch_size=8,
                       n_steps=6, n_batches=3, seeds=SEEDS,
                       points=(theta, theta + 0.01), sup_batches=2)
    return case, network_table([case])


def test_network_table_references_are_the_exact_estimators_pooled_sd_on_the_same_batches(tiny):
    case, table = tiny
    for ref in table.references:
        est = estimate_sharpness(case.model, case.loss_fn, case.data, lr=case.lr,
                                 batch_size=case.batch_size, method="exact",
                                 n_batches=case.n_batches, seed=ref["seed"],
                                 options=EstimateOptions(epsilon=1e-6,
                                                         epsilon_form=ref["epsilon_form"]))
        # two computations of the same eigenvalues: agreement to rounding (the SD is a
        # piecewise-linear function of the values with slopes 1/|z_next| of order 1 here)
        assert ref["exact_pooled_sd"] == pytest.approx(est.diagnostics.pooled_dimension,
                                                       abs=1e-8)
        assert ref["exact_mean_sd"] == pytest.approx(est.dimension, abs=1e-8)


def test_network_table_has_every_view_in_both_epsilon_forms_with_finite_errors(tiny):
    case, table = tiny
    keys = {(r.method, r.smoothing, r.epsilon_form) for r in table.rows}
    assert keys == {(m, s, f) for m, s in NETWORK_VIEWS for f in ("clamp", "additive")}
    for r in table.rows:
        assert r.seeds == SEEDS and r.n_params == 43 and r.n_runs == 3 and r.n_steps == 6
        assert math.isfinite(r.mean_estimate) and 0 <= r.mean_estimate <= 43
        assert r.rmse >= abs(r.bias) - 1e-12          # RMSE² = bias² + variance
        assert r.hvp == 3 * 6                         # R runs × m steps, one point
        assert 0 <= r.n_ill <= 2 and 0 <= r.n_covered <= 2


def test_additive_epsilon_reference_is_never_below_the_clamp_reference(tiny):
    # ln(σ + ε) ≥ ln max(σ, ε) value by value and the SD is nondecreasing in every value
    _, table = tiny
    ref = {(r["seed"], r["epsilon_form"]): r["exact_pooled_sd"] for r in table.references}
    for s in SEEDS:
        assert ref[s, "additive"] >= ref[s, "clamp"] - 1e-12


def test_exact_sup_over_points_is_at_least_the_mean(tiny):
    _, table = tiny
    (sup,) = table.sups
    assert sup.n_points == 2 and sup.n_batches == 2
    assert sup.sup_sd >= sup.mean_sd - 1e-12   # the order-by-order max dominates the mean


def test_network_section_renders_and_splices_between_the_first_section_and_the_reading(tiny):
    _, table = tiny
    section = render_network_section(table, provenance={"git commit": "abc"})
    assert section.startswith(NETWORK_SECTION) and "| tiny | kde | additive | log |" in section
    report = "# Title\n\nfirst\n\n" + NETWORK_SECTION + "\nold\n\n" + READING_SECTION + "\nkept\n"
    out = splice_section(report, section, network=True)
    assert out.startswith("# Title\n\nfirst\n\n" + NETWORK_SECTION)
    assert "\nold\n" not in out and out.endswith(READING_SECTION + "\nkept\n")
    assert np.char.count(out, NETWORK_SECTION) == 1
    again = splice_section(out, "# New title\n", network=False)
    assert again.startswith("# New title\n\n" + NETWORK_SECTION) and "\nfirst\n" not in again
