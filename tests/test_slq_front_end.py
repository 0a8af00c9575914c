"""The one SLQ front end (``slq_runs``): the same minibatches and probes at every point, for
the Hessian and for the update Jacobian's ``JᵀJ``.

Oracle: the documented draw order (``Minibatch.probe``: per-run seed → indices → Rademacher
probe), dense float64 Hessians of each minibatch (``exact_hessian``), the closed form of the
SGD step's Jacobian ``J = I − η(H + κI)``, and the Gauss-quadrature moment identity
``Σ_ℓ ω̃_ℓ θ̃_ℓ^p = qᵀA^p q`` for ``p ≤ 2m − 1`` (``q = v/‖v‖``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sharpdim.curvature import exact_hessian, flat_loss
from sharpdim.curvature.minibatch import minibatch, slq_run_seeds
from sharpdim.curvature.slq import slq_runs
from sharpdim.curvature.update_maps import SGDUpdate
from sharpdim.testing.checking import EPS

D = torch.float64
R, M, B = 3, 4, 8


def _problem(n: int = 32):
    torch.manual_seed(0)  # fixture weights only; the library never seeds globally
    model = nn.Sequential(nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 2)).double()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 3, generator=g, dtype=D)
    y = torch.randint(0, 2, (n,), generator=g)
    f = flat_loss(model, F.cross_entropy)
    batches = [minibatch(i, s, n, B) for i, s in enumerate(slq_run_seeds(11, R))]

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
    return (p * (5 * (N + M) + 2 * products * N * B) * EPS + M * EPS) * max(norm, 1.0) ** p


def test_hessian_runs_at_two_points_share_minibatches_and_probes_and_match_dense_moments():
    f, batches, take = _problem()
    theta1 = f.theta0 + 0.1 * torch.randn(f.n_params, generator=torch.Generator().manual_seed(2),
                                          dtype=D)
    runs = slq_runs(f, [f.theta0, theta1], batches, take, M, dtype=D, reorthogonalize="full")
    assert len(runs.results) == 2 and all(len(row) == R for row in runs.results)
    for theta, row in zip([f.theta0, theta1], runs.results, strict=True):
        for mb, res in zip(batches, row, strict=True):
            H = exact_hessian(f, theta, *take(mb.indices))
            norm = float(torch.linalg.matrix_norm(H, ord=2))
            expected = _probe_moments(H, mb.probe(f.n_params), 2 * M)
            err = np.abs(_quadrature_moments(res, 2 * M) - expected)
            assert np.all(err <= _tolerance(f.n_params, norm, 1, 2 * M))


def test_update_runs_match_the_closed_form_gram_of_the_sgd_jacobian():
    f, batches, take = _problem()
    lr, decay = 0.7, 0.05
    update = SGDUpdate(lr=lr, weight_decay=decay)
    runs = slq_runs(f, [f.theta0], batches, take, M, dtype=D, jacobian="update",
                    updates=[update], states=[f.theta0], reorthogonalize="full")
    eye = torch.eye(f.n_params, dtype=D)
    for mb, res in zip(batches, runs.results[0], strict=True):
        J = eye - lr * (exact_hessian(f, f.theta0, *take(mb.indices)) + decay * eye)
        A = J.T @ J
        norm = float(torch.linalg.matrix_norm(A, ord=2))
        expected = _probe_moments(A, mb.probe(f.n_params), 2 * M)
        err = np.abs(_quadrature_moments(res, 2 * M) - expected)
        assert np.all(err <= _tolerance(f.n_params, norm, 2, 2 * M))
        assert res.n_hvp == 2 * M   # one J and one Jᵀ product (one HVP each) per step
    assert runs.group == 1


def test_update_runs_need_one_map_and_one_state_per_point():
    f, batches, take = _problem()
    with pytest.raises(ValueError, match="one update map and one state per point, got 2 points"):
        slq_runs(f, [f.theta0, f.theta0], batches, take, M, dtype=D, jacobian="update",
                 updates=[SGDUpdate(lr=0.1)], states=[f.theta0])


def test_unknown_jacobian_is_refused_by_name():
    f, batches, take = _problem()
    with pytest.raises(ValueError, match="jacobian"):
        slq_runs(f, [f.theta0], batches, take, M, dtype=D, jacobian="hessian")
