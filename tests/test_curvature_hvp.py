"""Hessian-vector products and exact Hessians against closed forms and each other.

Oracles: the closed-form Hessian ``2XᵀX/n`` of least squares; a sympy-derived Hessian of a
tanh network; the dense Hessian for every product strategy (three autograd paths checked
against one built column by column, each path a different algorithm). A loss torch cannot
differentiate forward-over-reverse is refused by name on the paths that need it.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import torch
import torch.nn.functional as F
from torch import nn

from sharpdim.curvature import (
    HVP_METHODS,
    MatrixOperator,
    NonFiniteError,
    exact_hessian,
    exact_hessian_eigenvalues,
    flat_loss,
    hessian_operator,
    hessian_stack,
)
from sharpdim.testing.checking import EPS

D = torch.float64


def _gamma(n: int) -> float:
    """Higham's γ_n = n·eps/(1 − n·eps): relative rounding bound of a length-n dot product."""
    return n * EPS / (1 - n * EPS)


def _tanh_net(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()


def _data(seed: int = 1, n: int = 7):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, generator=g, dtype=D), torch.randint(0, 2, (n,), generator=g)


def test_exact_hessian_of_least_squares_is_two_xtx_over_n():
    g = torch.Generator().manual_seed(0)
    n, d = 9, 4
    X = torch.randn(n, d, generator=g, dtype=D)
    f = flat_loss(nn.Linear(d, 1, bias=False).double(), F.mse_loss)
    H = exact_hessian(f, torch.randn(d, generator=g, dtype=D), X, torch.randn(n, 1, dtype=D))
    expected = 2 * X.T @ X / n
    # each entry is a length-n dot product (plus O(1) scalings): |error| ≤ 4 γ_n (2|X|ᵀ|X|/n)
    bound = 4 * _gamma(n) * (2 * X.abs().T @ X.abs() / n)
    assert bool(((H - expected).abs() <= bound).all())


def test_exact_hessian_of_a_tanh_network_matches_sympy():
    model = nn.Sequential(nn.Linear(2, 2, bias=False), nn.Tanh(),
                          nn.Linear(2, 1, bias=False)).double()
    f = flat_loss(model, F.mse_loss)
    X = np.array([[0.3, -1.2], [1.1, 0.4], [-0.7, 0.9]])
    Y = np.array([0.5, -0.2, 0.1])
    theta = np.array([0.4, -0.3, 0.8, 0.2, 1.1, -0.6])
    w = sp.symbols("w0:6")
    loss = 0
    for xi, yi in zip(X, Y, strict=True):
        h0 = sp.tanh(w[0] * xi[0] + w[1] * xi[1])
        h1 = sp.tanh(w[2] * xi[0] + w[3] * xi[1])
        loss += (w[4] * h0 + w[5] * h1 - yi) ** 2
    loss = loss / len(X)
    H_sym = np.array(sp.hessian(loss, w).subs(dict(zip(w, theta, strict=True))).evalf(30),
                     dtype=np.float64)
    H = exact_hessian(f, torch.tensor(theta), torch.tensor(X), torch.tensor(Y)[:, None])
    # float64 rounding of a few dozen O(1) operations per entry, summed over 3 examples
    tol = 1e3 * EPS * np.abs(H_sym).max()
    assert np.abs(H.numpy() - H_sym).max() <= tol


def test_exact_hessian_is_symmetric_to_rounding():
    f = flat_loss(_tanh_net(), F.cross_entropy)
    x, y = _data()
    H = exact_hessian(f, f.theta0, x, y)
    # Hᵢⱼ and Hⱼᵢ come from different backward passes: each a sum of ≲ N·n rounded terms
    bound = _gamma(f.n_params * len(x)) * H.abs().max()
    assert float((H - H.T).abs().max()) <= bound


def test_exact_hessian_does_not_depend_on_the_chunk_size():
    f = flat_loss(_tanh_net(), F.cross_entropy)
    x, y = _data()
    H1 = exact_hessian(f, f.theta0, x, y, chunk_size=1)
    H7 = exact_hessian(f, f.theta0, x, y, chunk_size=7)
    assert torch.allclose(H1, H7, rtol=0, atol=_gamma(f.n_params * len(x)) * H1.abs().max())


@pytest.mark.parametrize("method", HVP_METHODS)
def test_hvp_equals_dense_hessian_times_vector(method):
    f = flat_loss(_tanh_net(), F.cross_entropy)
    x, y = _data()
    H = exact_hessian(f, f.theta0, x, y)
    op = hessian_operator(f, f.theta0, x, y, method=method)
    g = torch.Generator().manual_seed(2)
    v = torch.randn(f.n_params, generator=g, dtype=D)
    V = torch.randn(f.n_params, 5, generator=g, dtype=D)
    # two algorithms summing the same ≲ N·n products: |Hv − fl(H)v| ≤ 2γ_{N n}·|H||v|
    bound_v = 2 * _gamma(f.n_params * len(x)) * (H.abs() @ v.abs())
    assert bool(((op.matvec(v) - H @ v).abs() <= bound_v + 1e-300).all())
    bound_V = 2 * _gamma(f.n_params * len(x)) * (H.abs() @ V.abs())
    assert bool(((op.matmat(V) - H @ V).abs() <= bound_V + 1e-300).all())
    assert op.n_hvp == 6


@pytest.mark.parametrize("method", ["jvp", "linearize"])
def test_forward_over_reverse_through_mse_loss_is_refused_by_name_not_a_crash(method):
    # torch 2.13's forward-mode formula of F.mse_loss(reduction="mean") mutates a ZeroTensor
    # (pytorch/pytorch#123996): "jvp" raised a bare RuntimeError and "linearize" crashed the
    # process in its tracing. When torch fixes it this test fails: then compare with "graph".
    f = flat_loss(_tanh_net(), F.mse_loss)
    x = _data()[0]
    t = torch.randn(len(x), 2, generator=torch.Generator().manual_seed(3), dtype=D)
    with pytest.raises(ValueError, match=f"method must be 'graph'.*got '{method}'.*#123996"):
        hessian_operator(f, f.theta0, x, t, method=method).matvec(torch.ones(f.n_params,
                                                                             dtype=D))


@pytest.mark.parametrize("method", HVP_METHODS)
def test_the_explicit_mean_square_loss_runs_on_every_path_and_matches_the_dense_hessian(method):
    f = flat_loss(_tanh_net(), lambda o, t: ((o - t) ** 2).mean())
    x = _data()[0]
    t = torch.randn(len(x), 2, generator=torch.Generator().manual_seed(3), dtype=D)
    H = exact_hessian(f, f.theta0, x, t)
    v = torch.randn(f.n_params, generator=torch.Generator().manual_seed(4), dtype=D)
    # as above: two algorithms summing the same ≲ N·n products
    bound = 2 * _gamma(f.n_params * len(x)) * (H.abs() @ v.abs())
    out = hessian_operator(f, f.theta0, x, t, method=method).matvec(v)
    assert bool(((out - H @ v).abs() <= bound + 1e-300).all())


def test_float32_model_gives_float64_products_on_request():
    model = _tanh_net().float()
    f = flat_loss(model, F.cross_entropy)
    x, y = _data()
    op = hessian_operator(f, f.theta0, x.float(), y, dtype=D)
    assert op.dtype == D and op.matvec(torch.ones(f.n_params)).dtype == D
    H = exact_hessian(f, f.theta0, x.float(), y)
    assert H.dtype == D and torch.allclose(op.to_dense(), H, rtol=0, atol=1e-12)


def test_scipy_linear_operator_view_finds_the_top_eigenvalue():
    from scipy.sparse.linalg import eigsh

    f = flat_loss(_tanh_net(), F.cross_entropy)
    x, y = _data()
    op = hessian_operator(f, f.theta0, x, y)
    lin = op.as_linear_operator()
    top = eigsh(lin, k=1, which="LA", tol=1e-12)[0][0]
    exact = exact_hessian_eigenvalues(f, f.theta0, x, y)
    # ARPACK converged to tol 1e-12 relative (scipy's documented criterion)
    assert abs(top - exact[-1]) <= 1e-10 * abs(exact).max()
    assert np.allclose(lin @ np.ones(f.n_params), op.matvec(torch.ones(f.n_params, dtype=D)))


def test_stacked_hessians_equal_one_operator_per_minibatch():
    f = flat_loss(_tanh_net(), F.cross_entropy)
    batches = [_data(seed=s, n=5) for s in (3, 4, 5)]
    stack = hessian_stack(f, f.theta0, batches)
    assert stack.strategy == "stacked"
    V = torch.randn(3, f.n_params, generator=torch.Generator().manual_seed(0), dtype=D)
    out = stack.apply(V)
    for i, (x, y) in enumerate(batches):
        H = exact_hessian(f, f.theta0, x, y)
        bound = 2 * _gamma(f.n_params * 5) * (H.abs() @ V[i].abs())
        assert bool(((out[i] - H @ V[i]).abs() <= bound + 1e-300).all())
    assert stack.n_hvp == 3


def test_per_run_fallback_is_used_for_train_mode_dropout():
    model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.3), nn.Linear(4, 2)).double()
    with pytest.warns(UserWarning):
        f = flat_loss(model, F.cross_entropy, train=True)
    stack = hessian_stack(f, f.theta0, [_data(seed=s, n=5) for s in (3, 4)])
    assert stack.strategy == "per-run"
    V = torch.ones(2, f.n_params, dtype=D)
    assert torch.equal(stack.apply(V), stack.apply(V))  # one mask per graph: a fixed matrix


def test_non_finite_hessian_vector_product_names_batch_and_parameter():
    f = flat_loss(nn.Linear(2, 1, bias=False).double(), F.mse_loss)
    op = hessian_operator(f, torch.ones(2, dtype=D), torch.ones(3, 2, dtype=D),
                          torch.zeros(3, 1, dtype=D))
    with pytest.raises(NonFiniteError, match=r"Hessian-vector product entry at parameter "
                                             r"weight\[0, 0\]"):
        op.matvec(torch.tensor([np.inf, 0.0], dtype=D))


def test_matrix_operator_rejects_non_symmetric_input():
    with pytest.raises(ValueError, match="matrix must be symmetric"):
        MatrixOperator(torch.tensor([[1.0, 2.0], [0.0, 1.0]], dtype=D))
    with pytest.raises(ValueError, match="method must be one of"):
        f = flat_loss(nn.Linear(2, 1), F.mse_loss)
        hessian_operator(f, f.theta0, torch.ones(1, 2), torch.ones(1, 1), method="fd")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_smoke_operator_and_slq_follow_the_model_device():
    from sharpdim.curvature import extreme_eigenvalues, slq_spectral_measure

    model = _tanh_net().cuda()
    f = flat_loss(model, F.cross_entropy)
    x, y = _data()
    x, y = x.cuda(), y.cuda()
    op = hessian_operator(f, f.theta0, x, y)
    assert op.device.type == "cuda" and op.matvec(torch.ones(f.n_params)).is_cuda
    H = exact_hessian(f, f.theta0, x, y)
    assert H.is_cuda
    res = extreme_eigenvalues(op, seed=0, n_steps=f.n_params)
    exact = torch.linalg.eigvalsh(H).cpu().numpy()
    assert abs(res.top[0] - exact[-1]) <= 1e-8 * abs(exact).max()
    mu = slq_spectral_measure(f, f.theta0, (x, y), n_runs=2, n_steps=5, batch_size=4, seed=0)
    assert abs(mu.total_mass - f.n_params) <= 1e-9 * f.n_params
    assert mu.diagnostics["device"].startswith("cuda")


def test_out_of_memory_is_never_taken_for_a_batching_fallback(monkeypatch):
    from sharpdim.curvature.hvp import GraphHessian

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(),
                                torch.nn.Linear(4, 2)).double()
    f = flat_loss(model, torch.nn.functional.cross_entropy)
    x, y = torch.randn(6, 3, dtype=torch.float64), torch.arange(6) % 2
    op = hessian_operator(f, f.theta0, x, y, method="graph")
    assert isinstance(op, GraphHessian) and op.method == "graph" and op.fallback is None

    def no_batching(self, V):
        raise RuntimeError("Batching rule not implemented for aten::foo")

    monkeypatch.setattr(GraphHessian, "_batched", no_batching)
    V = torch.randn(f.n_params, 3, dtype=torch.float64)
    op.matmat(V)                                    # falls back, one column at a time
    assert op.fallback is not None and "Batching rule" in op.fallback

    def oom(self, V):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(GraphHessian, "_batched", oom)
    with pytest.raises(torch.OutOfMemoryError):
        op.matmat(V)
