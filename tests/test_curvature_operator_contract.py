"""The one contract of :class:`~sharpdim.curvature.operator.CurvatureOperator`, checked on
every curvature operator of the package (small instances on tiny float64 models).

For each operator ``A`` (shape ``(M, N)``):

* ``to_dense()`` equals an independent dense construction — ``torch.autograd.functional``
  ``hessian`` of the loss, ``jacobian`` of the update step, or the explicit matrix — never
  ``A`` checked against itself;
* ``A @ v``, ``A.matvec(v)``, ``A @ V`` and ``A.matmat(V)`` equal ``to_dense() @ v`` / ``@ V``;
* ``A.adjoint().to_dense()`` equals ``to_dense().T`` (symmetry, for a symmetric ``A``);
* ``n_hvp`` grows by exactly ``hvp_per_product`` per column of every product;
* shape, dtype and device of the products agree with the operator's.

Tolerances are rounding bounds. A computed product ``ŷ = fl(A x)`` of an ``n``-term inner
product per entry satisfies ``|ŷ − y| ≤ γ_n |A||x|``, ``γ_n = n·u/(1 − n·u)`` (Higham,
*Accuracy and Stability of Numerical Algorithms*, 2nd ed., §3.5, eq. 3.11), so entrywise
``≤ γ_n · n · max|A| · max|x|``. The matrix-free products are not one inner product but a
chain through the network (forward, backward, double backward: a handful of such products),
and both sides of each comparison carry their own rounding, so the bound is taken with a
factor ``C = 16``: ``tol(n, A, x) = C · n · γ_n · max|A| · max|x|`` (tiny here: ``n ≤ 40``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import sharpdim.curvature as curvature
from sharpdim.curvature import flat_loss
from sharpdim.curvature.hvp import (
    GraphHessian,
    HessianOperator,
    JvpHessian,
    LinearizeHessian,
    MatrixOperator,
    hessian_operator,
)
from sharpdim.curvature.operator import AdjointOperator, CurvatureOperator
from sharpdim.curvature.update_jacobian import (
    GramOperator,
    UpdateJacobianOperator,
    gradient_function,
)
from sharpdim.curvature.update_maps import AdamUpdate, HeavyBallUpdate, initial_state

U = float(np.finfo(np.float64).eps) / 2  # unit roundoff of float64
C = 16.0                                  # chain of products, two sides (module docstring)


def _tol(n: int, scale: float, x_max: float = 1.0) -> float:
    gamma = n * U / (1 - n * U)
    return C * n * gamma * max(scale, 1e-300) * x_max


def _problem():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Tanh(),
                                torch.nn.Linear(2, 2)).double()
    f = flat_loss(model, torch.nn.functional.cross_entropy)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    y = torch.tensor([0, 1, 1, 0, 1])
    theta = f.theta0 + 0.3 * torch.randn(f.n_params, generator=gen, dtype=torch.float64)
    return f, theta, x, y


def _dense_hessian(f, theta, x, y) -> torch.Tensor:
    return torch.autograd.functional.hessian(lambda t: f(t, x, y), theta)


def _hessian(method: str):
    f, theta, x, y = _problem()
    return hessian_operator(f, theta, x, y, method=method), _dense_hessian(f, theta, x, y)


def _matrix():
    gen = torch.Generator().manual_seed(2)
    B = torch.randn(6, 6, generator=gen, dtype=torch.float64)
    A = B + B.T
    return MatrixOperator(A.clone()), A


def _update_point(kind: str):
    f, theta, x, y = _problem()
    gen = torch.Generator().manual_seed(3)
    if kind == "heavy_ball":
        update = HeavyBallUpdate(lr=0.1, momentum=0.9, weight_decay=0.01)
        state = initial_state(update, theta, velocity=0.1 * torch.randn(
            f.n_params, generator=gen, dtype=torch.float64))
    else:
        update = AdamUpdate(lr=0.05, weight_decay=0.1, decoupled=True, t=3)
        m = 0.1 * torch.randn(f.n_params, generator=gen, dtype=torch.float64)
        v = 0.01 + torch.rand(f.n_params, generator=gen, dtype=torch.float64)
        state = initial_state(update, theta, exp_avg=m, exp_avg_sq=v)
    grad_fn = gradient_function(f, x, y)
    J = torch.autograd.functional.jacobian(lambda s: update.step(s, grad_fn), state)
    return UpdateJacobianOperator(update, state, grad_fn), J


def _jacobian(kind: str):
    return _update_point(kind)


def _gram(kind: str):
    op, J = _update_point(kind)
    return op.gram(), J.T @ J


def _adjoint(kind: str):
    op, J = _update_point(kind)
    return op.adjoint(), J.T


CASES = {
    "matrix": _matrix,
    "hessian-graph": lambda: _hessian("graph"),
    "hessian-linearize": lambda: _hessian("linearize"),
    "hessian-jvp": lambda: _hessian("jvp"),
    "jacobian-heavy-ball": lambda: _jacobian("heavy_ball"),
    "jacobian-adam": lambda: _jacobian("adam"),
    "gram-heavy-ball": lambda: _gram("heavy_ball"),
    "gram-adam": lambda: _gram("adam"),
    "adjoint-adam": lambda: _adjoint("adam"),
}
"""Every curvature operator, one small instance (or two) each: name → ``(op, oracle)``."""

COVERED = {MatrixOperator, GraphHessian, LinearizeHessian, JvpHessian, UpdateJacobianOperator,
           GramOperator, AdjointOperator}


def _probes(n: int, k: int, seed: int) -> torch.Tensor:
    return torch.randn(n, k, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _close(got: torch.Tensor, want: torch.Tensor, n: int, scale: float, x_max: float) -> None:
    err = float((got - want).abs().max()) if got.numel() else 0.0
    assert err <= _tol(n, scale, x_max), (err, _tol(n, scale, x_max))


def _concrete_subclasses(cls) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        if sub.__module__.startswith("sharpdim.curvature") and sub is not HessianOperator:
            out.add(sub)
        out |= _concrete_subclasses(sub)
    return out


def test_every_curvature_operator_is_in_the_contract_registry():
    assert curvature.__name__ == "sharpdim.curvature"  # every module imported: all registered
    assert _concrete_subclasses(CurvatureOperator) <= COVERED
    made = {type(CASES[name]()[0]) for name in CASES}
    assert made == COVERED


@pytest.mark.parametrize("name", sorted(CASES))
def test_to_dense_matches_an_independent_dense_construction(name):
    op, oracle = CASES[name]()
    dense = op.to_dense()
    assert dense.shape == op.shape == tuple(oracle.shape)
    assert dense.dtype == op.dtype == torch.float64 and dense.device == op.device
    _close(dense, oracle, op.shape[1], float(oracle.abs().max()), 1.0)


@pytest.mark.parametrize("name", sorted(CASES))
def test_products_match_the_dense_matrix(name):
    op, _ = CASES[name]()
    dense = op.to_dense()
    m, n = op.shape
    scale = float(dense.abs().max())
    V = _probes(n, 3, 4)
    v = V[:, 0]
    x_max = float(V.abs().max())
    for got in (op @ v, op.matvec(v)):
        assert got.shape == (m,) and got.dtype == op.dtype and got.device == op.device
        _close(got, dense @ v, n, scale, x_max)
    for got in (op @ V, op.matmat(V)):
        assert got.shape == (m, 3) and got.dtype == op.dtype
        _close(got, dense @ V, n, scale, x_max)
    assert op.matmat(V[:, :0]).shape == (m, 0)
    # float32 and numpy inputs are cast to the operator's dtype
    assert op.matvec(v.float()).dtype == op.dtype
    assert op.matvec(v.numpy()).dtype == op.dtype
    lin = op.as_linear_operator()
    _close(torch.from_numpy(lin.matvec(v.numpy())), dense @ v, n, scale, x_max)
    _close(torch.from_numpy(lin.rmatvec(v.numpy())), dense.T @ v, n, scale, x_max)


@pytest.mark.parametrize("name", sorted(CASES))
def test_adjoint_is_the_transpose(name):
    op, _ = CASES[name]()
    dense = op.to_dense()
    adj = op.adjoint()
    assert adj.shape == (op.shape[1], op.shape[0]) and adj.dtype == op.dtype
    if op.symmetric:
        assert adj is op
    else:
        assert adj is not op
        assert adj is op.parent if isinstance(op, AdjointOperator) else adj.adjoint() is op
    _close(adj.to_dense(), dense.T, op.shape[0], float(dense.abs().max()), 1.0)
    u = _probes(op.shape[0], 2, 5)
    _close(op.rmatmat(u), dense.T @ u, op.shape[0], float(dense.abs().max()),
           float(u.abs().max()))


@pytest.mark.parametrize("name", sorted(CASES))
def test_n_hvp_counts_the_products_made(name):
    op, _ = CASES[name]()
    per = op.hvp_per_product
    assert per == (2 if isinstance(op, GramOperator) else 1)
    n = op.shape[1]
    inner = getattr(op, "jacobian", None) or getattr(op, "parent", None)
    inner0 = None if inner is None else inner.n_hvp
    assert op.n_hvp == 0
    calls = [(lambda: op @ _probes(n, 1, 6)[:, 0], 1),
             (lambda: op.matvec(_probes(n, 1, 7)[:, 0]), 1),
             (lambda: op @ _probes(n, 3, 8), 3), (lambda: op.matmat(_probes(n, 2, 9)), 2),
             (lambda: op.matmat(_probes(n, 0, 9)), 0), (lambda: op.rmatmat(_probes(n, 2, 10)), 2),
             (op.to_dense, n), (lambda: op.to_dense(chunk_size=3), n)]
    total = 0
    for call, columns in calls:
        before = op.n_hvp
        call()
        assert op.n_hvp - before == per * columns
        total += per * columns
    assert op.n_hvp == total
    if inner is not None:  # an operator built on another: the inner one counts them too
        assert inner.n_hvp - inner0 == total
    if isinstance(op, UpdateJacobianOperator):
        assert op.n_hvp == op.n_jvp + op.n_vjp and op.n_vjp == 2


@pytest.mark.parametrize("name", sorted(CASES))
def test_lanczos_reports_the_operators_own_n_hvp(name):
    from sharpdim.curvature.lanczos import extreme_eigenvalues, lanczos

    op, _ = CASES[name]()
    if not op.symmetric:
        pytest.skip("Lanczos needs a symmetric operator")
    res = lanczos(op, _probes(op.shape[0], 1, 11)[:, 0], 4)
    assert res.n_hvp == op.n_hvp == 4 * op.hvp_per_product
    before = op.n_hvp
    ext = extreme_eigenvalues(op, k=1, seed=0, n_steps=op.shape[0])
    assert ext.n_hvp == op.n_hvp - before == ext.n_steps * op.hvp_per_product
