"""The oracle registry is sound: its exact values agree with independent statements of the
same closed forms (the catalogue's own oracles, sharpdim.dimension), its generated inputs
are what they claim (exact orbits, Cantor points, planted Hessians), and every tolerance has a
reason."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sharpdim import sharpness_dimension
from sharpdim.testing.oracles import KINDS, cases, get_case
from sharpdim.testing.oracles.planted import planted_problem
from sharpdim.testing.oracles.series import cantor_series, tent2_exact_series


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_quick_cases_inside_thorough_with_reasoned_tolerances(kind):
    quick, thorough = cases(kind, "quick"), cases(kind, "thorough")
    assert quick and {c.name for c in quick} <= {c.name for c in thorough}
    for case in thorough:
        assert case.tolerance.reason and (case.tolerance.atol > 0 or case.tolerance.rtol > 0)
        assert case.derivation and case.claim and get_case(kind, case.name) is case


def test_map_oracles_agree_with_the_catalogue_closed_forms():
    """Two independent statements of each exponent: the registry's own derivation and the
    analytic catalogue's ``exact_lyapunov_exponents``."""
    checked = 0
    for case in cases("lyapunov-map", "thorough"):
        system = case.build()["system"]
        if case.comparison == "sum":
            assert math.isclose(case.expected[0], system.exact_log_det_mean(), rel_tol=1e-14)
        else:
            np.testing.assert_allclose(case.expected, system.exact_lyapunov_exponents(),
                                       rtol=1e-12, atol=1e-14)
        checked += 1
    assert checked == len(cases("lyapunov-map", "thorough"))


def test_sd_oracles_equal_the_kaplan_yorke_formula_on_the_planted_curvatures():
    for case in cases("sharpness-dimension", "thorough"):
        inputs = case.build()
        lr = inputs["lr"]
        alpha = np.linalg.eigvalsh(_dense_hessian(inputs["model"], inputs["loss_fn"],
                                                  inputs["data"], 16))
        value = sharpness_dimension(np.log(np.abs(1.0 - lr * alpha)))
        assert value == pytest.approx(case.expected[0], abs=1e-9), case.name


def _dense_hessian(model, loss_fn, data, batch):
    from torch.autograd.functional import hessian

    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss(theta):
        blocks, start = {}, 0
        for name, shape in zip(names, shapes, strict=True):
            size = int(np.prod(shape))
            blocks[name] = theta[start:start + size].reshape(shape)
            start += size
        out = torch.func.functional_call(model, blocks, (data[0][:batch],))
        return loss_fn(out, data[1][:batch])

    return hessian(loss, flat).numpy()


def test_planted_minibatch_hessians_all_equal_the_planted_matrix():
    p = planted_problem([4.0, -2.0, 0.5, 0.0, 1.5], seed=3, n_examples=12)
    for start in (0, 5):
        sub = (p.data[0][start:start + 4], p.data[1][start:start + 4])
        np.testing.assert_allclose(_dense_hessian(p.model, p.loss_fn, sub, 4), p.hessian,
                                   atol=1e-12)
    np.testing.assert_allclose(np.linalg.eigvalsh(p.hessian), np.sort(p.curvatures),
                               atol=1e-12)


def test_trace_variance_and_density_oracles_match_their_planted_hessians():
    rotated = get_case("hessian-spectrum", "trace-rotated")
    h = _dense_hessian(**{k: rotated.build()[k] for k in ("model", "loss_fn", "data")},
                       batch=64)
    assert np.trace(h) == pytest.approx(300.0, abs=1e-9)
    off_diagonal = 2.0 * ((h**2).sum() - (np.diag(h) ** 2).sum())
    assert rotated.per_probe_variance == pytest.approx(off_diagonal, rel=1e-10)
    density = get_case("hessian-spectrum", "density-clusters")
    inputs = density.build()
    alpha = np.diag(_dense_hessian(inputs["model"], inputs["loss_fn"], inputs["data"], 64))
    nodes, counts = np.unique(np.round(alpha, 10), return_counts=True)
    np.testing.assert_allclose(nodes, density.expected[0], atol=1e-10)
    np.testing.assert_allclose(counts / alpha.size, density.expected[1], atol=0)


def test_exact_tent_series_is_a_true_orbit_on_the_unit_interval():
    y = tent2_exact_series(5000, seed=4)
    tent = 2.0 * np.minimum(y[:-1], 1.0 - y[:-1])
    assert np.abs(tent - y[1:]).max() <= 2.0**-51
    assert 0.0 <= y.min() and y.max() < 1.0
    assert abs(y.mean() - 0.5) < 4 * math.sqrt(1 / 12 / y.size)  # Lebesgue: mean ½, 4 s.e.


def test_chaos_game_points_have_only_ternary_digits_0_and_2():
    x = cantor_series(500, seed=5)
    for _ in range(20):  # 3^20·eps ≈ 8e-7: the first 20 digits are exact
        digit = np.floor(3.0 * x + 1e-6)
        assert set(np.unique(digit).tolist()) <= {0.0, 2.0}
        x = 3.0 * x - digit


def test_case_inputs_are_rebuilt_identically_from_their_seeds():
    for kind in ("lyapunov-series", "correlation-dimension"):
        for case in cases(kind, "quick"):
            np.testing.assert_array_equal(case.build()["series"], case.build()["series"])
