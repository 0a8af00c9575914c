"""Horizon-k sharpness: bad input, seeds, the trajectory, dense vs matrix-free, horizon=1."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from tiny_nets import CE, CountingLoss, tiny_data, tiny_mlp

from sharpdim import EstimateOptions
from sharpdim.curvature.functional import flat_loss
from sharpdim.curvature.update_jacobian import gradient_function, update_jacobian
from sharpdim.curvature.update_maps import AdamUpdate, initial_state, make_update_map
from sharpdim.dimension import sharpness_dimension
from sharpdim.estimators import estimate_sharpness
from sharpdim.estimators.horizon import (
    horizon_sharpness,
    product_log_singular_values,
    trajectory_exponents,
)

EPS = float(np.finfo(np.float64).eps)

@pytest.mark.parametrize("kwargs, match", [
    (dict(options=EstimateOptions(horizon=0)),
     r"horizon must be an int >= 1 \(the number of consecutive steps in the product\), got 0"),
    (dict(options=EstimateOptions(horizon=-2)), "horizon must be an int >= 1"),
    (dict(options=EstimateOptions(horizon=2.0)), r"horizon must be an int >= 1 .*got 2\.0"),
    (dict(options=EstimateOptions(horizon="3")), "horizon must be an int >= 1"),
    (dict(options=EstimateOptions(horizon=True)), "horizon must be an int >= 1"),
    (dict(options=EstimateOptions(horizon=3), method="kde"),
     "horizon > 1 is supported for method='exact' only"),
    (dict(options=EstimateOptions(horizon=3), method="slq"), "got method='slq' with horizon=3"),
    (dict(options=EstimateOptions(horizon=3), method="ps"), "method='lanczos'"),
    (dict(options=EstimateOptions(horizon=2),
          optimizer=make_update_map("sgd", lr=0.5, momentum=0.9)),
     "pass jacobian='update', got jacobian='gd' with horizon=2"),
    (dict(options=EstimateOptions(horizon=2), optimizer="adam", jacobian="gd"),
     "pass jacobian='update'"),
])
def test_bad_horizon_settings_raise_value_error_before_any_loss_evaluation(kwargs, match):
    loss = CountingLoss()
    settings = dict(lr=0.5, batch_size=4, seed=0, n_batches=2) | kwargs
    with pytest.raises(ValueError, match=match):
        estimate_sharpness(tiny_mlp(), loss, tiny_data(), **settings)
    assert loss.calls == 0


def test_horizon_one_leaves_every_result_unchanged():
    kw = dict(lr=0.5, batch_size=6, seed=3, n_batches=3)
    for extra in (dict(), dict(optimizer=make_update_map("sgd", lr=0.5, momentum=0.9),
                               jacobian="update")):
        a = estimate_sharpness(tiny_mlp(), CE, tiny_data(), **kw, **extra)
        b = estimate_sharpness(tiny_mlp(), CE, tiny_data(), **kw, **extra,
                               options=EstimateOptions(horizon=1))
        assert a.dimension == b.dimension
        np.testing.assert_array_equal(a.sharpness, b.sharpness)
        assert a.trace == b.trace and a.diagnostics.batch_seeds == b.diagnostics.batch_seeds
        assert b.diagnostics.horizon == 1


def _manual_window_exponents(update, state, grad_fns, *, advance: bool) -> np.ndarray:
    """(1/k) ln svd(J_k⋯J_1) by forming the product in float64 (fine for small k and range)."""
    s, P = state, None
    for t, g in enumerate(grad_fns):
        upd = replace(update, t=update.t + t) if isinstance(update, AdamUpdate) else update
        J = update_jacobian(upd, s, g).numpy()
        P = J if P is None else J @ P
        if advance:
            with torch.no_grad():
                s = upd.step(s, g)
    return np.log(np.linalg.svd(P, compute_uv=False)) / len(grad_fns)


@pytest.mark.parametrize("optimizer, momentum", [("sgd", 0.0), ("sgd", 0.9), ("adamw", 0.0)])
def test_horizon_exponents_are_the_product_along_the_advanced_trajectory(optimizer, momentum):
    f = flat_loss(tiny_mlp(), CE)
    x, y = tiny_data()
    update = make_update_map(optimizer, lr=0.3, momentum=momentum, weight_decay=0.01, step=5)
    if isinstance(update, AdamUpdate):
        g = f.gradient(f.theta0, x, y)
        state = initial_state(update, f.theta0, exp_avg=0.5 * g, exp_avg_sq=g * g + 0.01)
    else:
        state = initial_state(update, f.theta0)
    fns = [gradient_function(f, x[i:i + 6], y[i:i + 6]) for i in (0, 6, 12)]
    res = trajectory_exponents(update, state, fns)
    manual = _manual_window_exponents(update, state, fns, advance=True)
    # k = 3 products of S ≤ 60 factors with a modest range: the float64 product's SVD is
    # accurate to S·eps·σ_1/σ_i relative; compare in log space with that allowance
    allow = 64 * state.numel() * EPS * np.exp(3 * (manual[0] - manual)) / 3 + res.error_bound
    assert np.all(np.abs(res.exponents - manual) <= allow)
    if optimizer != "sgd" or momentum:  # the Jacobian depends on the state: fixed ≠ advanced
        frozen = _manual_window_exponents(update, state, fns, advance=False)
        assert np.abs(frozen - manual).max() > 1e3 * allow.max()


def test_dense_and_matrix_free_horizon_exponents_agree_on_a_small_network():
    f = flat_loss(tiny_mlp(hidden=4), CE)
    update = make_update_map("sgd", lr=0.5, momentum=0.9)
    state = initial_state(update, f.theta0)
    kw = dict(horizon=4, batch_size=8, n_windows=3, seed=11)
    dense = horizon_sharpness(f, tiny_data(), update, state, **kw)
    free = horizon_sharpness(f, tiny_data(), update, state, **kw, method="lanczos", top=5,
                             n_steps=state.numel(), tol=1e-13)
    assert dense.batch_seeds == free.batch_seeds
    S = state.numel()
    for r in range(3):
        # each side's own bound, plus per-factor QR / Gram-product rounding 64·S·eps
        allow = dense.error_bounds[r] + free.error_bounds[r] + 64 * S * EPS
        assert np.all(np.abs(dense.window_exponents[r, :5] - free.window_exponents[r]) <= allow)
    assert free.dimension is None and free.lanczos_seeds is not None
    assert dense.dimension == sharpness_dimension(dense.exponents)


def test_windows_record_their_seeds_and_share_the_first_minibatch_with_horizon_one():
    kw = dict(optimizer=make_update_map("sgd", lr=0.5, momentum=0.9), batch_size=6,
              n_batches=2, jacobian="update")
    one = estimate_sharpness(tiny_mlp(), CE, tiny_data(), seed=5, **kw)
    three = estimate_sharpness(tiny_mlp(), CE, tiny_data(), seed=5, **kw,
                               options=EstimateOptions(horizon=3))
    d = three.diagnostics
    assert d.horizon == 3 and d.n_batches == 2 and len(d.batch_seeds) == 6
    assert d.batch_seeds[:2] == one.diagnostics.batch_seeds          # t = 0 of each window
    assert d.batch_index_hashes[:2] == one.diagnostics.batch_index_hashes
    assert three.top_eigenvalue is None and three.trace is None
    assert three.sharpness.shape == (2 * 20,) and three.dimension == sharpness_dimension(
        three.sharpness)
    fresh = estimate_sharpness(tiny_mlp(), CE, tiny_data(), seed=None, **kw,
                               options=EstimateOptions(horizon=2))
    again = estimate_sharpness(tiny_mlp(), CE, tiny_data(), seed=fresh.diagnostics.seed, **kw,
                               options=EstimateOptions(horizon=2))
    np.testing.assert_array_equal(fresh.sharpness, again.sharpness)
    assert any("horizon 3" in n for n in d.notes)


def test_horizon_sharpness_stderr_is_none_for_one_window_and_the_window_spread_otherwise():
    f = flat_loss(tiny_mlp(), CE)
    update = make_update_map("sgd", lr=0.5)
    state = initial_state(update, f.theta0)
    one = horizon_sharpness(f, tiny_data(), update, state, horizon=2, batch_size=6, n_windows=1,
                            seed=0)
    assert one.stderr is None
    many = horizon_sharpness(f, tiny_data(), update, state, horizon=2, batch_size=6, n_windows=4,
                             seed=0)
    np.testing.assert_allclose(many.stderr, many.window_exponents.std(axis=0, ddof=1) / 2,
                               rtol=1e-12, atol=0)
    assert len(many.batch_seeds) == 8 and many.lanczos_seeds is None


@pytest.mark.parametrize("kwargs, match", [
    (dict(horizon=0), "horizon must be an int >= 1"),
    (dict(n_windows=0), "n_windows must be an int >= 1, got 0"),
    (dict(batch_size=100), r"batch_size must be <= the number of examples \(24\)"),
    (dict(method="qr"), r"method must be one of \('dense', 'lanczos'\)"),
    (dict(top=3), "top is only used with method='lanczos'"),
    (dict(method="lanczos", top=0), r"top must be an int in \[1, S=20\], got 0"),
])
def test_horizon_sharpness_rejects_bad_arguments(kwargs, match):
    f = flat_loss(tiny_mlp(), CE)
    update = make_update_map("sgd", lr=0.5)
    settings = dict(horizon=2, batch_size=6, n_windows=2, seed=0) | kwargs
    with pytest.raises(ValueError, match=match):
        horizon_sharpness(f, tiny_data(), update, initial_state(update, f.theta0), **settings)


def test_product_singular_values_reject_bad_factors_and_give_minus_inf_for_a_singular_one():
    with pytest.raises(ValueError, match="factors must contain at least one matrix"):
        product_log_singular_values([])
    with pytest.raises(ValueError, match=r"factors\[1\] must be a square \(2, 2\) tensor"):
        product_log_singular_values([torch.eye(2), torch.ones(2, 3)])
    with pytest.raises(ValueError, match=r"factors\[0\] must be finite"):
        product_log_singular_values([torch.tensor([[float("nan"), 0.0], [0.0, 1.0]])])
    A = torch.tensor([[2.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    res = product_log_singular_values([A, A])
    assert res.log_singular_values[0] == pytest.approx(2 * np.log(2.0), abs=4 * EPS)
    assert res.log_singular_values[1] == -np.inf and res.error_bound == np.inf
    assert not res.converged


def test_product_singular_values_of_a_long_graded_product_match_mpmath():
    mpmath = pytest.importorskip("mpmath")
    rng = np.random.default_rng(0)
    factors = [rng.normal(size=(3, 3)) for _ in range(60)]
    mpmath.mp.dps = 80
    P = mpmath.eye(3)
    for A in factors:
        P = mpmath.matrix(A.tolist()) * P
    exact = sorted((float(mpmath.log(s)) for s in mpmath.svd_r(P, compute_uv=False)),
                   reverse=True)
    res = product_log_singular_values([torch.from_numpy(A) for A in factors])
    kappa = max(np.linalg.cond(A) for A in factors)
    # certified bound + per-factor QR rounding 64·S·eps·κ(A) summed over the 60 factors
    assert np.all(np.abs(res.log_singular_values - exact)
                  <= res.error_bound + 60 * 64 * 3 * EPS * kappa)
    assert np.ptp(exact) > 40  # far beyond what an SVD of the formed product resolves


def test_horizon_sup_over_points_is_at_least_the_mean_and_pooled_only_for_mean():
    model, other = tiny_mlp(), tiny_mlp(seed=5)
    flat = [torch.cat([p.detach().reshape(-1) for p in m.parameters()]) for m in (model, other)]
    base = dict(optimizer=make_update_map("sgd", lr=0.5, momentum=0.9), batch_size=6,
                n_batches=2, seed=1, options=EstimateOptions(horizon=3), points=flat,
                jacobian="update")
    sup = estimate_sharpness(model, CE, tiny_data(), aggregate="sup", **base)
    mean = estimate_sharpness(model, CE, tiny_data(), **base)
    assert np.all(sup.sharpness >= mean.sharpness) and sup.diagnostics.n_points == 2
    assert mean.diagnostics.pooled_dimension is not None
    assert sup.diagnostics.pooled_dimension is None


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_horizon_exponents_on_the_gpu_match_the_cpu():
    x, y = tiny_data()
    update = make_update_map("sgd", lr=0.5, momentum=0.9)
    out = {}
    for device in ("cpu", "cuda"):
        f = flat_loss(tiny_mlp().to(device), CE)
        xd, yd = x.to(device), y.to(device)
        fns = [gradient_function(f, xd[i:i + 6], yd[i:i + 6]) for i in (0, 6, 12)]
        out[device] = trajectory_exponents(update, initial_state(update, f.theta0), fns)
        if device == "cpu":  # condition numbers of the factors along the trajectory
            s, kappa = initial_state(update, f.theta0), 1.0
            for g in fns:
                sv = np.linalg.svd(update_jacobian(update, s, g).numpy(), compute_uv=False)
                kappa = max(kappa, float(sv[0] / sv[-1]))
                with torch.no_grad():
                    s = update.step(s, g)
    S = 40
    # float64 on both, different QR/SVD kernels: 64·S·eps·κ(J_t) per factor (on the
    # (1/k) ln σ scale) on each side, plus both certified bounds
    allow = 2 * 64 * S * EPS * kappa + out["cpu"].error_bound + out["cuda"].error_bound
    assert np.abs(out["cuda"].exponents - out["cpu"].exponents).max() <= allow


def test_plain_sgd_horizon_is_the_same_with_jacobian_gd_and_update():
    kw = dict(optimizer=make_update_map("sgd", lr=0.5, weight_decay=0.1), batch_size=6,
              n_batches=2, seed=4, options=EstimateOptions(horizon=2))
    gd = estimate_sharpness(tiny_mlp(), CE, tiny_data(), **kw)
    upd = estimate_sharpness(tiny_mlp(), CE, tiny_data(), jacobian="update", **kw)
    np.testing.assert_array_equal(gd.sharpness, upd.sharpness)   # the same map, same windows
    assert any("include the weight decay 0.1" in n for n in gd.diagnostics.notes)


def test_full_batch_horizon_computes_the_gd_trajectory_once():
    x, y = tiny_data(8)
    kw = dict(optimizer=make_update_map("sgd", lr=0.5, momentum=0.9), batch_size=8, seed=0,
              options=EstimateOptions(horizon=3), jacobian="update")
    five = estimate_sharpness(tiny_mlp(), CE, (x, y), n_batches=5, **kw)
    assert five.diagnostics.n_hvp == 3 * 40            # one window: k = 3 Jacobians, S = 40
    assert any("computed once" in note for note in five.diagnostics.notes)
