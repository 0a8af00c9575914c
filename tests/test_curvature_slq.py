"""SLQ spectral measures: the docs/theory.md §5 recipe, reproducibility, lockstep and bad input.

Oracle for the whole pipeline: the documented draw order (per-run seed → minibatch indices
→ Rademacher probe) rebuilt here by hand, dense float64 Hessians of each minibatch, and the
moment identity ``moment_p(μ) = (N/R) Σ_i q_iᵀ H_i^p q_i`` for ``p ≤ 2m − 1``. The one front
end, ``slq_runs``, is checked the same way at several points and, for the update Jacobian,
against the closed form of the SGD step's Jacobian.
"""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sharpdim._serialize import jsonable
from sharpdim.curvature import (
    NonFiniteError,
    draw_minibatch,
    exact_hessian,
    flat_loss,
    slq_run_seeds,
    slq_spectral_measure,
)
from sharpdim.curvature.minibatch import minibatch
from sharpdim.curvature.slq import slq_runs
from sharpdim.curvature.update_maps import SGDUpdate
from sharpdim.testing.checking import EPS

D = torch.float64


def _problem(n: int = 40):
    torch.manual_seed(0)  # fixture weights only; the library never seeds globally
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 3, generator=g, dtype=D)
    y = torch.randint(0, 2, (n,), generator=g)
    return flat_loss(model, F.cross_entropy), x, y


def test_measure_has_total_mass_n_and_m_atoms_per_run():
    f, x, y = _problem()
    mu = slq_spectral_measure(f, f.theta0, (x, y), n_runs=3, n_steps=5, batch_size=8, seed=0)
    assert abs(mu.total_mass - f.n_params) <= 3 * 5 * EPS * f.n_params
    assert mu.n_atoms == 15 and mu.run_ids.tolist() == [0] * 5 + [1] * 5 + [2] * 5


def test_moments_equal_the_average_probe_moments_of_the_drawn_minibatch_hessians():
    f, x, y = _problem()
    R, m, b, N = 3, 4, 8, f.n_params
    mu = slq_spectral_measure(f, f.theta0, (x, y), n_runs=R, n_steps=m, batch_size=b, seed=7)
    expected = np.zeros(2 * m)
    norm = 0.0
    for s in slq_run_seeds(7, R):  # the documented draw order, rebuilt independently
        rng = np.random.default_rng(s)
        idx = torch.as_tensor(draw_minibatch(len(x), b, rng))
        v = torch.tensor(rng.integers(0, 2, N) * 2.0 - 1.0, dtype=D)
        H = exact_hessian(f, f.theta0, x[idx], y[idx])
        norm = max(norm, float(torch.linalg.matrix_norm(H, ord=2)))
        w = v.clone()
        for p in range(2 * m):
            expected[p] += float(v @ w) / R  # vᵀH^p v = N·qᵀH^p q
            w = H @ w
    measured = np.array([mu.moment(p) for p in range(2 * m)])
    p = np.arange(2 * m)
    # Lanczos rounding 5p(N+m)eps (theory_checks/test_slq_moments.py) plus the products'
    # own rounding 2γ_{N·b} each, relative to ‖H‖^p and the mass N
    tol = N * (p * (5 * (N + m) + 2 * N * b) * EPS + EPS) * max(norm, 1.0) ** p
    assert np.all(np.abs(measured - expected) <= tol)


def test_diagnostics_record_seeds_hashes_costs_and_mode():
    f, x, y = _problem()
    mu = slq_spectral_measure(f, f.theta0, (x, y), n_runs=4, n_steps=3, batch_size=8, seed=5)
    d = mu.diagnostics
    assert d["seed"] == 5 and d["run_seeds"] == slq_run_seeds(5, 4)
    assert len(set(d["batch_index_hashes"])) == 4  # four fresh minibatches
    assert d["n_hvp"] == 12 and d["steps_per_run"] == (3, 3, 3, 3)
    assert d["seconds"] > 0 and d["hvp_seconds"] > 0 and d["reorth_seconds"] >= 0
    assert d["train"] is False and d["dtype"] == "float64" and d["device"] == "cpu"


def test_same_seed_gives_the_same_measure_and_another_seed_does_not():
    f, x, y = _problem()
    kw = dict(n_runs=2, n_steps=4, batch_size=8)
    a = slq_spectral_measure(f, f.theta0, (x, y), seed=3, **kw)
    b = slq_spectral_measure(f, f.theta0, (x, y), seed=3, **kw)
    c = slq_spectral_measure(f, f.theta0, (x, y), seed=4, **kw)
    assert np.array_equal(a.nodes, b.nodes) and np.array_equal(a.weights, b.weights)
    assert not np.allclose(a.nodes, c.nodes)


def test_lockstep_groups_change_only_the_rounding():
    f, x, y = _problem()
    kw = dict(n_runs=4, n_steps=5, batch_size=8, seed=11)
    together = slq_spectral_measure(f, f.theta0, (x, y), lockstep=4, **kw)
    alone = slq_spectral_measure(f, f.theta0, (x, y), lockstep=1, **kw)
    assert together.diagnostics["strategy"] == "stacked"
    assert alone.diagnostics["strategy"] == "per-run"
    scale = float(np.abs(alone.nodes).max())
    # same minibatches and probes; products summed in a different order: γ_{N·b}-level
    # differences, amplified at most by the Lanczos recurrence over m steps
    assert np.allclose(together.nodes, alone.nodes, rtol=0, atol=1e3 * EPS * scale)
    assert np.allclose(together.weights, alone.weights, rtol=0, atol=1e3 * EPS * f.n_params)


def test_float32_model_runs_in_float32_unless_float64_is_asked():
    f, x, y = _problem()
    model32 = f.model.float()
    f32 = flat_loss(model32, F.cross_entropy)
    mu32 = slq_spectral_measure(f32, f32.theta0, (x.float(), y), n_runs=2, n_steps=3,
                                batch_size=8, seed=0)
    mu64 = slq_spectral_measure(f32, f32.theta0, (x.float(), y), n_runs=2, n_steps=3,
                                batch_size=8, seed=0, dtype=D)
    assert mu32.diagnostics["dtype"] == "float32" and mu64.diagnostics["dtype"] == "float64"
    # float32 Lanczos vs float64: differences at float32 rounding of ‖H‖-sized numbers
    scale = float(np.abs(mu64.nodes).max())
    assert np.allclose(mu32.nodes, mu64.nodes, rtol=0, atol=1e3 * np.finfo(np.float32).eps
                       * scale)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(batch_size=41), r"batch_size must be in \[1, 40\], got 41"),
        (dict(batch_size=0), r"batch_size must be in \[1, 40\], got 0"),
        (dict(n_runs=0), "n_runs must be >= 1, got 0"),
        (dict(n_steps=27), r"n_steps must be in \[1, 26\], got 27"),
        (dict(seed=-1), "seed must be >= 0, got -1"),
        (dict(lockstep=0), "lockstep must be >= 1, got 0"),
    ],
)
def test_bad_arguments_fail_before_any_work(kwargs, match):
    f, x, y = _problem()
    args = dict(n_runs=2, n_steps=3, batch_size=8, seed=0) | kwargs
    with pytest.raises(ValueError, match=match):
        slq_spectral_measure(f, f.theta0, (x, y), **args)


def test_empty_data_is_a_value_error_and_wrong_data_a_type_error():
    f, x, y = _problem()
    with pytest.raises(ValueError, match="at least one example"):
        slq_spectral_measure(f, f.theta0, (x[:0], y[:0]), n_runs=1, n_steps=2, batch_size=1,
                             seed=0)
    with pytest.raises(TypeError, match="data must be"):
        slq_spectral_measure(f, f.theta0, x, n_runs=1, n_steps=2, batch_size=1, seed=0)


def test_a_non_finite_minibatch_names_the_runs_and_the_batch():
    f, x, y = _problem()
    x = x.clone()
    x[:, 0] = np.inf  # every example: whichever minibatch is drawn overflows
    with pytest.raises(NonFiniteError, match=r"SLQ runs 0\.\.1 \(seed 0\).*batch of 8"):
        slq_spectral_measure(f, f.theta0, (x, y), n_runs=2, n_steps=2, batch_size=8, seed=0)


def test_tensor_dataset_is_accepted_as_data():
    from torch.utils.data import TensorDataset

    f, x, y = _problem()
    a = slq_spectral_measure(f, f.theta0, TensorDataset(x, y), n_runs=1, n_steps=2,
                             batch_size=4, seed=0)
    b = slq_spectral_measure(f, f.theta0, (x, y), n_runs=1, n_steps=2, batch_size=4, seed=0)
    assert np.array_equal(a.nodes, b.nodes)


def test_runs_with_their_own_graphs_advance_one_at_a_time_with_the_same_quadrature(monkeypatch):
    """Above the stacking limit (one graph per run, nothing batched) plain-recurrence runs
    go one at a time; their Ritz values and weights are those of the stacked lockstep path
    (a different code path over the same Hessians and probes) up to rounding."""
    import sharpdim.curvature.slq as slq
    from sharpdim.curvature.functional import NonFiniteError
    from sharpdim.curvature.hvp import hessian_stack

    f, x, y = _problem()
    batches = [(x[i:i + 8], y[i:i + 8]) for i in range(0, 24, 8)]
    probes = np.random.default_rng(3).choice([-1.0, 1.0], size=(3, f.n_params))
    stacked, strategies, _ = slq.lockstep_quadratures(f, f.theta0, batches, probes, 12,
                                                      dtype=D, reorthogonalize="none")
    monkeypatch.setattr(slq, "_STACK_MAX_PARAMS", 0)
    alone, strategies_alone, _ = slq.lockstep_quadratures(f, f.theta0, batches, probes, 12,
                                                          dtype=D, reorthogonalize="none")
    assert strategies == {"stacked"} and strategies_alone == {"per-run"}
    for a, b in zip(stacked, alone, strict=True):
        # two float64 recurrences over products equal up to rounding: they differ by
        # ~m·eps = 12 × 2.2e-16 ≈ 3e-15 relative (measured ≤ 3e-15), 1e-12 is 300× that
        np.testing.assert_allclose(b.ritz_values, a.ritz_values, rtol=0,
                                   atol=1e-12 * np.abs(a.ritz_values).max())
        np.testing.assert_allclose(b.ritz_weights, a.ritz_weights, rtol=0, atol=1e-12)
        assert b.n_steps == a.n_steps and b.reorthogonalization == "none"
    stack = hessian_stack(f, f.theta0, batches, dtype=D, stacked=False)
    bad = torch.zeros(f.n_params, dtype=D)
    bad[5] = float("nan")
    with pytest.raises(NonFiniteError, match="batch of 8"):
        stack.check_run_product(1, bad)
    with pytest.raises(ValueError, match="per-run"):
        hessian_stack(f, f.theta0, batches, dtype=D).run_product(0, bad)


# ---- the one front end (slq_runs): the same minibatches and probes at every point, for the
# Hessian and for the update Jacobian's JᵀJ. Extra oracle: the closed form of the SGD step's
# Jacobian J = I − η(H + κI) and the Gauss-quadrature identity Σ ω̃ θ̃^p = qᵀA^p q.

RUNS, STEPS, BATCH = 3, 4, 8


def _front_end():
    f, x, y = _problem(32)
    batches = [minibatch(i, s, len(x), BATCH) for i, s in enumerate(slq_run_seeds(11, RUNS))]

    def take(indices):
        index = torch.as_tensor(indices)
        return x[index], y[index]

    return f, batches, take


def _quadrature_moments(res, n_moments: int) -> np.ndarray:
    return np.array([float(res.ritz_weights @ res.ritz_values ** p) for p in range(n_moments)])


def _probe_moments(A: torch.Tensor, v: np.ndarray, n_moments: int) -> np.ndarray:
    q = torch.as_tensor(v / np.linalg.norm(v), dtype=D)
    out, w = [], q.clone()
    for _ in range(n_moments):
        out.append(float(q @ w))
        w = A @ w
    return np.array(out)


def _tolerance(N: int, norm: float, products: int, n_moments: int) -> np.ndarray:
    """Lanczos rounding ``5p(N+m)eps`` (theory_checks/test_slq_moments.py) plus the products'
    own rounding ``2γ_{N·b}`` per Hessian product (``products`` of them per step), relative
    to ``‖A‖^p``; at ``p = 0`` the weights' sum, ``m`` squared components of a unit
    eigenvector of ``T_m`` (backward-stable ``eigh``: ``m·eps``)."""
    p = np.arange(n_moments)
    rounding = p * (5 * (N + STEPS) + 2 * products * N * BATCH) * EPS + STEPS * EPS
    return rounding * max(norm, 1.0) ** p


def test_hessian_runs_at_two_points_share_minibatches_and_probes_and_match_dense_moments():
    f, batches, take = _front_end()
    theta1 = f.theta0 + 0.1 * torch.randn(f.n_params, generator=torch.Generator().manual_seed(2),
                                          dtype=D)
    runs = slq_runs(f, [f.theta0, theta1], batches, take, STEPS, dtype=D, reorthogonalize="full")
    assert len(runs.results) == 2 and all(len(row) == RUNS for row in runs.results)
    for theta, row in zip([f.theta0, theta1], runs.results, strict=True):
        for mb, res in zip(batches, row, strict=True):
            H = exact_hessian(f, theta, *take(mb.indices))
            norm = float(torch.linalg.matrix_norm(H, ord=2))
            expected = _probe_moments(H, mb.probe(f.n_params), 2 * STEPS)
            err = np.abs(_quadrature_moments(res, 2 * STEPS) - expected)
            assert np.all(err <= _tolerance(f.n_params, norm, 1, 2 * STEPS))


def test_update_runs_match_the_closed_form_gram_of_the_sgd_jacobian():
    f, batches, take = _front_end()
    lr, decay = 0.7, 0.05
    update = SGDUpdate(lr=lr, weight_decay=decay)
    runs = slq_runs(f, [f.theta0], batches, take, STEPS, dtype=D, jacobian="update",
                    updates=[update], states=[f.theta0], reorthogonalize="full")
    eye = torch.eye(f.n_params, dtype=D)
    for mb, res in zip(batches, runs.results[0], strict=True):
        J = eye - lr * (exact_hessian(f, f.theta0, *take(mb.indices)) + decay * eye)
        A = J.T @ J
        norm = float(torch.linalg.matrix_norm(A, ord=2))
        expected = _probe_moments(A, mb.probe(f.n_params), 2 * STEPS)
        err = np.abs(_quadrature_moments(res, 2 * STEPS) - expected)
        assert np.all(err <= _tolerance(f.n_params, norm, 2, 2 * STEPS))
        assert res.n_hvp == 2 * STEPS   # one J and one Jᵀ product (one HVP each) per step
    assert runs.group == 1
    # a result: it pickles and serializes to strict JSON
    assert jsonable(pickle.loads(pickle.dumps(runs))) == jsonable(runs)
    json.dumps(jsonable(runs), allow_nan=False)


def test_update_runs_need_one_map_and_one_state_per_point():
    f, batches, take = _front_end()
    with pytest.raises(ValueError, match="one update map and one state per point, got 2 points"):
        slq_runs(f, [f.theta0, f.theta0], batches, take, STEPS, dtype=D, jacobian="update",
                 updates=[SGDUpdate(lr=0.1)], states=[f.theta0])


def test_unknown_jacobian_is_refused_by_name():
    f, batches, take = _front_end()
    with pytest.raises(ValueError, match="jacobian"):
        slq_runs(f, [f.theta0], batches, take, STEPS, dtype=D, jacobian="hessian")


@pytest.mark.parametrize("args, message", [
    (dict(thetas=[]), "thetas must hold at least one entry, got none"),
    (dict(batches=[]), "batches must hold at least one entry, got none"),
    (dict(n_steps=0), "n_steps must be in \\[1, "),
])
def test_front_end_refuses_empty_points_or_runs_and_bad_steps_by_name(args, message):
    f, batches, take = _front_end()
    call = dict(thetas=[f.theta0], batches=batches, n_steps=STEPS) | args
    with pytest.raises(ValueError, match=message):
        slq_runs(f, call["thetas"], call["batches"], take, call["n_steps"], dtype=D)
