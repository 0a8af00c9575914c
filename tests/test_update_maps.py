"""Unit tests of the optimizer update maps and their Jacobian operators (code paths).

The steps are checked against ``torch.optim`` itself (an independent implementation of the
same optimizers); the matrix-free products against the dense Jacobian.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sharpdim.curvature.functional import NonFiniteError, flat_loss
from sharpdim.curvature.update_jacobian import (
    UpdateJacobianOperator,
    extreme_singular_values,
    gradient_function,
    update_jacobian,
    update_singular_values,
)
from sharpdim.curvature.update_maps import (
    AdamUpdate,
    HeavyBallUpdate,
    SGDUpdate,
    initial_state,
    make_update_map,
    split_state,
)

EPS = float(np.finfo(np.float64).eps)


def _problem(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(),
                                torch.nn.Linear(4, 2)).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
    x = torch.randn(10, 3, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 2, (10,), generator=gen)
    return model, torch.nn.functional.cross_entropy, x, y


def _torch_steps(opt_factory, update, n_before: int = 3):
    """State before and after one more torch.optim step, flattened like the update map."""
    model, loss_fn, x, y = _problem()
    opt = opt_factory(model.parameters())
    for _ in range(n_before):
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    f = flat_loss(model, loss_fn)
    params = list(model.parameters())

    def flat_state(key):
        return torch.cat([opt.state[p][key].detach().reshape(-1) for p in params]).clone()

    if isinstance(update, HeavyBallUpdate):
        before = initial_state(update, f.theta0, velocity=flat_state("momentum_buffer"))
    elif isinstance(update, AdamUpdate):
        before = initial_state(update, f.theta0, exp_avg=flat_state("exp_avg"),
                               exp_avg_sq=flat_state("exp_avg_sq"))
    else:
        before = f.theta0.clone()
    opt.zero_grad()
    loss_fn(model(x), y).backward()
    opt.step()
    theta_after = torch.cat([p.detach().reshape(-1) for p in params])
    if isinstance(update, HeavyBallUpdate):
        after = torch.cat([theta_after, flat_state("momentum_buffer")])
    elif isinstance(update, AdamUpdate):
        after = torch.cat([theta_after, flat_state("exp_avg"), flat_state("exp_avg_sq")])
    else:
        after = theta_after
    return f, x, y, before, after


@pytest.mark.parametrize("name, factory, update", [
    ("sgd", lambda ps: torch.optim.SGD(ps, lr=0.3, weight_decay=0.01),
     SGDUpdate(lr=0.3, weight_decay=0.01)),
    ("heavy ball", lambda ps: torch.optim.SGD(ps, lr=0.3, momentum=0.9, weight_decay=0.01),
     HeavyBallUpdate(lr=0.3, momentum=0.9, weight_decay=0.01)),
    ("adam", lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=0.1),
     AdamUpdate(lr=0.01, weight_decay=0.1, t=4)),
    ("adamw", lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1),
     AdamUpdate(lr=0.01, weight_decay=0.1, decoupled=True, t=4)),
])
def test_update_map_step_equals_one_torch_optim_step(name, factory, update):
    f, x, y, before, after = _torch_steps(factory, update)
    ours = update.step(before, gradient_function(f, x, y))
    # float64 rounding of a handful of operations per entry, relative to the state's size
    assert torch.allclose(ours, after, rtol=64 * EPS, atol=64 * EPS * float(after.abs().max())), \
        name


def test_make_update_map_picks_the_optimizer_by_name_and_momentum():
    # equal as values (every hyperparameter), not only of the right class
    assert make_update_map("sgd", lr=0.1, weight_decay=0.01) == SGDUpdate(lr=0.1,
                                                                          weight_decay=0.01)
    assert make_update_map("sgd", lr=0.1, momentum=0.5) == HeavyBallUpdate(lr=0.1, momentum=0.5)
    assert make_update_map("adam", lr=0.1, betas=(0.8, 0.9)) == AdamUpdate(
        lr=0.1, betas=(0.8, 0.9), decoupled=False, t=1)
    assert make_update_map("adamw", lr=0.1, step=7) == AdamUpdate(lr=0.1, decoupled=True, t=7)
    assert make_update_map("adamw", lr=0.1) != make_update_map("adam", lr=0.1)


@pytest.mark.parametrize("build, match", [
    (lambda: SGDUpdate(lr=0.0), "lr must be > 0, got 0.0"),
    (lambda: SGDUpdate(lr=-0.1), "lr must be > 0, got -0.1"),
    (lambda: SGDUpdate(lr=float("nan")), "lr must be a finite number"),
    (lambda: HeavyBallUpdate(lr=0.1, momentum=1.0), r"momentum must be in \[0, 1\)"),
    (lambda: SGDUpdate(lr=0.1, weight_decay=-1), "weight_decay must be >= 0"),
    (lambda: AdamUpdate(lr=0.1, betas=(0.9, 1.0)), r"betas\[1\] must be in \[0, 1\)"),
    (lambda: AdamUpdate(lr=0.1, t=0), "t must be an int >= 1"),
    (lambda: make_update_map("rmsprop", lr=0.1), "optimizer must be one of"),
    (lambda: make_update_map("adam", lr=0.1, momentum=0.9), "momentum must be 0 for"),
])
def test_bad_hyperparameters_raise_value_error_naming_the_argument(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_initial_state_defaults_velocity_to_zero_and_requires_adam_moments():
    theta = torch.arange(3.0)
    hb = HeavyBallUpdate(lr=0.1, momentum=0.5)
    state = initial_state(hb, theta)
    assert torch.equal(split_state(hb, state)["v"], torch.zeros(3))
    with pytest.raises(ValueError, match="exp_avg and exp_avg_sq must be given"):
        initial_state(AdamUpdate(lr=0.1), theta)
    with pytest.raises(ValueError, match="exp_avg_sq must be >= 0"):
        initial_state(AdamUpdate(lr=0.1), theta, exp_avg=theta, exp_avg_sq=-theta - 1)
    with pytest.raises(ValueError, match="velocity must be a tensor of shape"):
        initial_state(hb, theta, velocity=torch.zeros(2))
    with pytest.raises(ValueError, match="plain SGD has no velocity"):
        initial_state(SGDUpdate(lr=0.1), theta, velocity=theta)


def _adam_point():
    model, loss_fn, x, y = _problem(1)
    f = flat_loss(model, loss_fn)
    gen = torch.Generator().manual_seed(2)
    m = 0.1 * torch.randn(f.n_params, generator=gen, dtype=torch.float64)
    v = 0.01 + torch.rand(f.n_params, generator=gen, dtype=torch.float64)
    update = AdamUpdate(lr=0.05, weight_decay=0.1, decoupled=True, t=3)
    return f, update, initial_state(update, f.theta0, exp_avg=m, exp_avg_sq=v), x, y


def test_matrix_free_products_match_the_dense_jacobian():
    f, update, state, x, y = _adam_point()
    grad_fn = gradient_function(f, x, y)
    J = update_jacobian(update, state, grad_fn)
    op = UpdateJacobianOperator(update, state, grad_fn)
    u = torch.randn(state.numel(), generator=torch.Generator().manual_seed(3),
                    dtype=torch.float64)
    scale = float(J.abs().max()) * state.numel() * 16 * EPS  # rounding of an S-term product
    assert torch.allclose(op.matvec(u), J @ u, rtol=0, atol=scale * float(u.abs().max()))
    assert torch.allclose(op.rmatvec(u), J.T @ u, rtol=0, atol=scale * float(u.abs().max()))
    gram = op.gram()
    assert torch.allclose(gram.matvec(u), J.T @ (J @ u), rtol=1e-12, atol=1e-12)
    assert (op.n_jvp, op.n_vjp, gram.n_hvp) == (2, 2, 2)  # a Gram product: one J u, one Jᵀ
    assert torch.allclose(op.to_dense(), J, rtol=0, atol=scale)


def test_dense_jacobian_does_not_depend_on_the_chunk_size():
    f, update, state, x, y = _adam_point()
    grad_fn = gradient_function(f, x, y)
    a = update_jacobian(update, state, grad_fn, chunk_size=1)
    b = update_jacobian(update, state, grad_fn, chunk_size=7)
    assert torch.allclose(a, b, rtol=0, atol=16 * EPS * float(a.abs().max()))


def test_lanczos_extreme_singular_values_match_the_dense_svd():
    f, update, state, x, y = _adam_point()
    grad_fn = gradient_function(f, x, y)
    sv = update_singular_values(update, state, grad_fn)
    op = UpdateJacobianOperator(update, state, grad_fn)
    res = extreme_singular_values(op, k=2, which="largest", seed=0, n_steps=state.numel())
    # a Ritz value of JᵀJ lies within its residual of an eigenvalue σ², so
    # |σ̃ − σ| ≤ r / (σ̃ + σ) ≤ r / σ̃, plus float64 rounding of σ² relative to σ₁²
    bound = res.top_residuals / res.top + 64 * EPS * sv[0]
    assert np.all(np.abs(res.top - sv[:2]) <= bound)
    assert res.n_hvp == 2 * (op.n_jvp // 1) and res.seed == 0


def test_adam_jacobian_at_a_zero_second_moment_raises_naming_the_entry():
    # a parameter that gets no gradient, with m = v = 0: √v' has no derivative at 0
    model = torch.nn.Linear(2, 1, bias=False).double()
    f = flat_loss(model, torch.nn.functional.mse_loss)
    x = torch.tensor([[1.0, 0.0], [2.0, 0.0]], dtype=torch.float64)  # second input always 0
    y = torch.zeros(2, 1, dtype=torch.float64)
    update = AdamUpdate(lr=0.1, t=1)
    state = initial_state(update, f.theta0, exp_avg=torch.zeros(2, dtype=torch.float64),
                          exp_avg_sq=torch.zeros(2, dtype=torch.float64))
    with pytest.raises(NonFiniteError, match=r"weight\[0, 1\]") as info:
        update_jacobian(update, state, gradient_function(f, x, y), describe=f.parameter_of,
                        batch="minibatch 0")
    assert info.value.batch == "minibatch 0"
