"""sharpdim's exact Hessian, Hessian-vector products and trace equal curvlinops' (an
independent implementation: its own parameter handling, data loop and double backward) on
random float64 MLPs, a small CNN and a transformer block.

Tolerance: both sides evaluate the same float64 derivatives through different autograd graphs
(different summation orders), so entries may differ by accumulated rounding. An entry of H is
a sum over the ``N`` parameters' paths and the batch; summation-order rounding of an
``m``-term sum is at most ``m·eps·Σ|terms|`` and typically ``√m·eps·Σ|terms|``. We allow
``ATOL_FACTOR·√N·eps·max(1, max|H|)`` per entry with ``ATOL_FACTOR = 64`` for the depth of the
backward graph (measured differences are ~1e-15, i.e. a few eps: the check is rounding-tight,
a wrong sign, missed parameter block or wrong normalization is off by O(|H|)).
"""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from sharpdim.curvature import exact_hessian, flat_loss, hessian_operator, hutchinson_trace
from sharpdim.curvature.hvp import MatrixOperator

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("curvlinops") is None,
    reason="curvlinops-for-pytorch is not installed (optional, installed by `make test`: "
           "Makefile's --no-deps audit install)")

EPS = float(np.finfo(np.float64).eps)
ATOL_FACTOR = 64


class _MeanCE(nn.Module):
    reduction = "mean"  # curvlinops reads this; F.cross_entropy is a batch mean

    def forward(self, outputs, targets):
        return F.cross_entropy(outputs, targets)


class _PooledTransformer(nn.Module):
    def __init__(self, d_model: int = 4, n_classes: int = 3) -> None:
        super().__init__()
        self.block = nn.TransformerEncoderLayer(d_model, nhead=2, dim_feedforward=8,
                                                dropout=0.0, batch_first=True,
                                                dtype=torch.float64)
        self.head = nn.Linear(d_model, n_classes, dtype=torch.float64)

    def forward(self, x):
        # torch's fused CPU attention kernel has no second derivative ("derivative for
        # aten::_scaled_dot_product_flash_attention_for_cpu_backward is not implemented"):
        # the math kernel computes the same function and is twice differentiable.
        from torch.nn.attention import SDPBackend, sdpa_kernel

        with sdpa_kernel(SDPBackend.MATH):
            return self.head(self.block(x).mean(dim=1))


def _mlp(seed: int):
    with torch.random.fork_rng():  # layer initializers draw from the global generator
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 6), nn.Tanh(),
                              nn.Linear(6, 3)).double()
    gen = torch.Generator().manual_seed(seed + 100)
    return model, torch.randn(16, 5, generator=gen, dtype=torch.float64), \
        torch.randint(0, 3, (16,), generator=gen)


def _cnn(seed: int):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.Tanh(), nn.AvgPool2d(2), nn.Flatten(),
                              nn.Linear(3 * 2 * 2, 3)).double()
    gen = torch.Generator().manual_seed(seed + 100)
    return model, torch.randn(8, 1, 6, 6, generator=gen, dtype=torch.float64), \
        torch.randint(0, 3, (8,), generator=gen)


def _transformer(seed: int):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = _PooledTransformer().eval()
    gen = torch.Generator().manual_seed(seed + 100)
    return model, torch.randn(6, 5, 4, generator=gen, dtype=torch.float64), \
        torch.randint(0, 3, (6,), generator=gen)


def _layer_norm_mlp(seed: int):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(4, 6), nn.LayerNorm(6), nn.Linear(6, 3)).double()
    gen = torch.Generator().manual_seed(seed + 100)
    return model, torch.randn(10, 4, generator=gen, dtype=torch.float64), \
        torch.randint(0, 3, (10,), generator=gen)


_LAYER_NORM_DISAGREES = pytest.mark.xfail(
    strict=True, reason="curvlinops 3.0.1 on torch 2.13: its HVP (torch.func jvp of jacrev over "
    "the parameter tuple) is wrong in the LayerNorm-weight rows (non-symmetric, off by ~0.1; "
    "central differences of the gradient side with sharpdim, see "
    "test_exact_hessian_of_layer_norm_models_matches_finite_differences)")

MODELS = {"mlp-seed0": lambda: _mlp(0), "mlp-seed1": lambda: _mlp(1),
          "cnn": lambda: _cnn(2), "transformer-block": lambda: _transformer(3),
          "layer-norm-mlp": lambda: _layer_norm_mlp(5)}
AGREEING = ["mlp-seed0", "mlp-seed1", "cnn"]
CASES = AGREEING + [pytest.param(n, marks=_LAYER_NORM_DISAGREES)
                    for n in ("transformer-block", "layer-norm-mlp")]


def _theirs(model, X, y):
    from curvlinops import HessianLinearOperator

    params = [p for p in model.parameters() if p.requires_grad]
    return HessianLinearOperator(model, _MeanCE(), params, [(X, y)])


def _ours(model, X, y):
    f = flat_loss(model, F.cross_entropy)
    return f, exact_hessian(f, f.theta0, X, y)


def _atol(H: torch.Tensor) -> float:
    return ATOL_FACTOR * math.sqrt(H.shape[0]) * EPS * max(1.0, float(H.abs().max()))


@pytest.mark.parametrize("name", CASES)
def test_exact_hessian_equals_curvlinops_dense_hessian_to_rounding(name):
    model, X, y = MODELS[name]()
    _, H = _ours(model, X, y)
    theirs = _theirs(model, X, y)
    H_c = theirs @ torch.eye(H.shape[0], dtype=torch.float64)
    assert H.shape == H_c.shape and H.shape[0] > 50
    assert float((H - H_c).abs().max()) <= _atol(H)
    assert float(H.abs().max()) > 1e-3  # not a vacuous comparison of zeros


@pytest.mark.parametrize("name", CASES)
def test_hessian_vector_products_equal_curvlinops_matvecs(name):
    model, X, y = MODELS[name]()
    f = flat_loss(model, F.cross_entropy)
    ours = hessian_operator(f, f.theta0, X, y, dtype=torch.float64)
    theirs = _theirs(model, X, y)
    V = torch.randn(f.n_params, 4, generator=torch.Generator().manual_seed(7),
                    dtype=torch.float64)
    ours_V, theirs_V = ours.matmat(V), theirs @ V
    scale = max(1.0, float(theirs_V.abs().max()))
    assert float((ours_V - theirs_V).abs().max()) <= ATOL_FACTOR * math.sqrt(
        f.n_params) * EPS * scale * float(V.abs().max())


@pytest.mark.parametrize("name", CASES)
def test_trace_equals_curvlinops_exact_and_stochastic_traces(name):
    """Exact: tr of both dense Hessians (N-term sum of entries equal to rounding). Stochastic:
    sharpdim's Hutchinson estimator with the same seed, once on sharpdim's operator and once on
    curvlinops' dense matrix — identical probes, so equal to rounding."""
    model, X, y = MODELS[name]()
    f, H = _ours(model, X, y)
    H_c = _theirs(model, X, y) @ torch.eye(H.shape[0], dtype=torch.float64)
    n = H.shape[0]
    assert abs(float(torch.trace(H) - torch.trace(H_c))) <= n * _atol(H)
    ours = hutchinson_trace(hessian_operator(f, f.theta0, X, y, dtype=torch.float64),
                            n_samples=20, seed=11)
    theirs = hutchinson_trace(MatrixOperator(H_c), n_samples=20, seed=11)
    assert abs(ours.value - theirs.value) <= n * _atol(H)


def test_exact_spectrum_equals_curvlinops_eigsh_on_the_extremes():
    """eigsh (ARPACK, tol=0) on curvlinops' operator against eigvalsh of our exact Hessian."""
    from scipy.sparse.linalg import eigsh

    model, X, y = _mlp(4)
    _, H = _ours(model, X, y)
    ours = np.linalg.eigvalsh(H.numpy())
    top = np.sort(eigsh(_theirs(model, X, y).to_scipy(), k=3, which="LA",
                        return_eigenvectors=False))
    # ARPACK converges Ritz values to tol·‖H‖ with tol = eps (its default 0)
    np.testing.assert_allclose(top, ours[-3:], rtol=0, atol=1e3 * EPS * np.abs(ours).max())


@pytest.mark.parametrize("name", ["transformer-block", "layer-norm-mlp"])
def test_exact_hessian_of_layer_norm_models_matches_finite_differences(name):
    """The referee where curvlinops and sharpdim disagree: central differences of the
    autograd gradient, column by column on the columns where they disagree most. Error of a
    central difference: h²/6·max|∂³L| + eps·max|∇L|/h ≈ 1e-10 + 1e-11 for h = 1e-5 and
    O(1) derivatives; allowed 1e-7·max(1, max|H|)."""
    model, X, y = MODELS[name]()
    f, H = _ours(model, X, y)
    H_c = _theirs(model, X, y) @ torch.eye(H.shape[0], dtype=torch.float64)
    worst = torch.argsort((H - H_c).abs().max(dim=0).values, descending=True)[:3]

    def grad(theta):
        theta = theta.clone().requires_grad_(True)
        return torch.autograd.grad(f(theta, X, y), theta)[0]

    h = 1e-5
    allowed = 1e-7 * max(1.0, float(H.abs().max()))
    for k in worst.tolist():
        e = torch.zeros_like(f.theta0)
        e[k] = h
        column = (grad(f.theta0 + e) - grad(f.theta0 - e)) / (2 * h)
        assert float((column - H[:, k]).abs().max()) <= allowed
    assert float((H - H.T).abs().max()) <= _atol(H)  # and ours is symmetric
