"""The training step of a torch model as a random map (``sharpdim.estimators.training_map``).

Oracles: the dense autograd Hessian (``I − ηH``), the heavy-ball determinant ``β^N``, and the
deep linear network's closed form: at a GD-stable balanced minimum the state is a fixed point
with the constant symmetric Jacobian ``I − ηH``, so the QR exponents along the trajectory are
``ln|1 − ημ_ij|`` and ``(L − 1)d²`` zeros (frame bias ``≤ 2·12/n`` per exponent, as in
theory_checks/test_quadratic_gd.py; relative ``expm1(24/n)`` on the multiplier scale).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sharpdim import lyapunov_spectrum
from sharpdim.curvature import exact_hessian, flat_loss
from sharpdim.dynamics.maps import validate_map
from sharpdim.estimators.training_map import training_map
from sharpdim.testing.checking import EPS
from sharpdim.testing.oracles import deep_linear_network


def _net():
    return deep_linear_network([2.0, 1.0], 2, n_examples=8, seed=5)


def test_training_map_follows_the_map_protocol_and_its_jacobian_is_one_minus_lr_hessian():
    net = _net()
    m = training_map(net.model, net.loss_fn, net.data, lr=0.1, batch_size=4)
    assert validate_map(m) == m.dim == net.n_params
    batch = m.sample_noise(np.random.default_rng(0))
    assert batch.shape == (4,) and len(set(batch.tolist())) == 4
    x = m.initial_state + 0.05 * np.random.default_rng(1).standard_normal(m.dim)
    f = flat_loss(net.model, net.loss_fn)
    idx = torch.as_tensor(batch)
    h = exact_hessian(f, torch.as_tensor(x), net.data[0][idx], net.data[1][idx]).numpy()
    np.testing.assert_allclose(m.jacobian(x, batch), np.eye(m.dim) - 0.1 * h,
                               atol=64 * EPS * (1 + np.abs(h).max()))
    g = f.gradient(torch.as_tensor(x), net.data[0][idx], net.data[1][idx]).numpy()
    np.testing.assert_allclose(m.step(x, batch), x - 0.1 * g, atol=8 * EPS * (1 + np.abs(x).max()))


def test_full_batch_training_map_is_deterministic_and_the_model_is_left_untouched():
    net = _net()
    before = [p.detach().clone() for p in net.model.parameters()]
    m = training_map(net.model, net.loss_fn, net.data, lr=0.1, batch_size=8)
    assert m.sample_noise(np.random.default_rng(0)) is None
    m.step(m.initial_state + 1.0, None)
    for p, q in zip(net.model.parameters(), before, strict=True):
        assert torch.equal(p.detach(), q) and p.dtype == q.dtype


def test_heavy_ball_training_map_has_determinant_momentum_to_the_n():
    net = _net()
    beta = 0.7
    m = training_map(net.model, net.loss_fn, net.data, lr=0.2, batch_size=4, momentum=beta)
    assert m.dim == 2 * net.n_params
    x = m.initial_state + 0.1 * np.random.default_rng(2).standard_normal(m.dim)
    sign, logdet = np.linalg.slogdet(m.jacobian(x, m.sample_noise(np.random.default_rng(3))))
    assert logdet == pytest.approx(net.n_params * np.log(beta), abs=1e-10)


@pytest.mark.parametrize("ratio", [0.5, 0.9])
def test_qr_exponents_at_a_stable_balanced_minimum_are_the_closed_form(ratio):
    net = _net()
    lr = 2.0 * ratio / net.top_eigenvalue
    m = training_map(net.model, net.loss_fn, net.data, lr=lr, batch_size=8)
    n = 400
    spec = lyapunov_spectrum(m, m.initial_state, n, rng=0)
    expected = np.exp(net.sharpness(lr))
    np.testing.assert_allclose(np.exp(spec.exponents), expected, rtol=np.expm1(24 / n),
                               atol=32 * EPS * (1 + lr * net.top_eigenvalue))


def test_bad_training_map_arguments_name_the_argument():
    net = _net()
    with pytest.raises(ValueError, match="lr must be > 0, got -0.1"):
        training_map(net.model, net.loss_fn, net.data, lr=-0.1, batch_size=4)
    with pytest.raises(ValueError, match=r"batch_size must be in \[1, 8\], got 9"):
        training_map(net.model, net.loss_fn, net.data, lr=0.1, batch_size=9)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_training_map_on_the_gpu_matches_the_cpu():
    net = _net()
    cpu = training_map(net.model, net.loss_fn, net.data, lr=0.2, batch_size=4, momentum=0.5)
    gpu = training_map(net.model.cuda(), net.loss_fn, tuple(t.cuda() for t in net.data),
                       lr=0.2, batch_size=4, momentum=0.5)
    assert gpu.flat.device.type == "cuda"
    x = cpu.initial_state + 0.1
    batch = cpu.sample_noise(np.random.default_rng(0))
    # float64 on both; GPU reductions reorder sums: 64 eps relative to the entries
    np.testing.assert_allclose(gpu.jacobian(x, batch), cpu.jacobian(x, batch), atol=64 * EPS * 10)
    np.testing.assert_allclose(gpu.step(x, batch), cpu.step(x, batch), atol=64 * EPS * 10)
