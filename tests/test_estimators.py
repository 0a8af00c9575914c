"""Unit tests of ``estimate_sharpness``: bad input, modes, seeds, data forms and code paths."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from tiny_nets import CE, CountingLoss, tiny_data, tiny_mlp

from sharpdim import EstimateOptions, make_update_map
from sharpdim.curvature import NonFiniteError, TrainModeWarning, slq_spectral_measure
from sharpdim.curvature.functional import flat_loss
from sharpdim.estimators import SharpnessEstimate, estimate_sharpness
from sharpdim.estimators.density import density_dimension, log_singular_value_map

EPS = float(np.finfo(np.float64).eps)

@pytest.mark.parametrize("kwargs, match", [
    (dict(lr=0.0), r"lr must be > 0, got 0\.0"),
    (dict(lr=-0.1), r"lr must be > 0, got -0\.1"),
    (dict(lr=float("nan")), "lr must be finite"),
    (dict(batch_size=0), "batch_size must be >= 1, got 0"),
    (dict(batch_size=25), r"batch_size must be <= the number of examples \(24\), got 25"),
    (dict(method="lanczos"), "method must be one of"),
    (dict(aggregate="max"), "aggregate must be one of"),
    (dict(jacobian="true"), "jacobian must be one of"),
    (dict(optimizer="rmsprop"), "optimizer must be one of"),
    # an update map checks its settings when it is made: these are made inside the raises
    (lambda: dict(optimizer=make_update_map("adam", lr=0.5, momentum=0.9)),
     "momentum must be 0 for optimizer='adam'"),
    (lambda: dict(optimizer=make_update_map("sgd", lr=0.5, momentum=1.0)),
     r"momentum must be in \[0, 1\)"),
    (dict(method="slq", options=EstimateOptions(n_steps=10_000)),
     "n_steps must be <= the operator size 20"),
    (dict(method="slq", options=EstimateOptions(epsilon=0.0)),
     "epsilon must be > 0 for density methods"),
    (dict(n_batches=0), "n_batches must be >= 1, got 0"),
    (dict(optimizer="adam", jacobian="update"), "optimizer_state must be given for Adam"),
    (dict(optimizer_state={"velocity": torch.zeros(20)}), "optimizer_state is only used"),
    (dict(points=[]), "points must contain at least one point"),
    (dict(points=[torch.zeros(5)]), r"points\[0\] must be a flat vector of shape \(20,\)"),
])
def test_bad_settings_raise_value_error_before_any_loss_evaluation(kwargs, match):
    loss = CountingLoss()
    with pytest.raises(ValueError, match=match):
        settings = dict(lr=0.5, batch_size=4, seed=0, n_batches=2) | (
            kwargs() if callable(kwargs) else kwargs)
        estimate_sharpness(tiny_mlp(), loss, tiny_data(), **settings)
    assert loss.calls == 0


def test_empty_data_and_parameterless_model_raise_value_error():
    empty = (torch.zeros(0, 3), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match="data must contain at least one example"):
        estimate_sharpness(tiny_mlp(), CE, empty, lr=0.1, batch_size=1)
    frozen = tiny_mlp()
    for p in frozen.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match="model must have at least one trainable parameter"):
        estimate_sharpness(frozen, CE, tiny_data(), lr=0.1, batch_size=2)
    with pytest.raises(ValueError, match="must have the same number of examples"):
        estimate_sharpness(tiny_mlp(), CE, (torch.zeros(3, 3), torch.zeros(4, dtype=torch.long)),
                           lr=0.1, batch_size=2)


class _LogInput(torch.nn.Module):
    """log of the first input feature times a weight: -inf for a zero input."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(3, 2).double()

    def forward(self, x):
        return self.lin(x) * torch.log(x[:, :1])


@pytest.mark.parametrize("method", ["exact", "slq"])
def test_non_finite_loss_names_the_minibatch_and_the_parameter(method):
    x, y = tiny_data(8)
    x = x.abs() + 0.5
    x[3, 0] = 0.0  # log 0 = -inf in the forward pass of example 3
    with pytest.raises(NonFiniteError, match="minibatch") as info:
        estimate_sharpness(_LogInput(), CE, (x, y), lr=0.1, batch_size=8, n_batches=2, seed=0,
                           method=method, options=EstimateOptions(n_steps=3))
    assert info.value.batch and "batch of 8 examples" in info.value.batch
    assert "(batch seed " in str(info.value) and info.value.parameter == "lin.weight[0, 0]"


def test_non_finite_gradient_names_the_first_bad_parameter():
    x, y = tiny_data(8)
    model = tiny_mlp()
    with torch.no_grad():
        model[2].weight[1, 2] = float("inf")
    with pytest.raises(NonFiniteError, match=r"2\.weight\[1, 2\]"):
        estimate_sharpness(model, CE, (x, y), lr=0.1, batch_size=8, n_batches=1, seed=0)


def test_train_mode_dropout_is_flagged_and_warned_and_update_jacobian_refused():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Dropout(0.5),
                                torch.nn.Linear(4, 2)).double()
    with pytest.warns(TrainModeWarning, match="dropout"):
        est = estimate_sharpness(model, CE, tiny_data(), lr=0.1, batch_size=6, n_batches=2, seed=0,
                                 options=EstimateOptions(train=True))
    assert est.diagnostics.train and est.diagnostics.dropout == ("1",)
    assert any("train-mode dropout" in note for note in est.diagnostics.notes)
    assert model.training  # the module's own flag is restored, never changed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrainModeWarning)
        with pytest.raises(ValueError, match="needs a deterministic loss"):
            estimate_sharpness(model, CE, tiny_data(), lr=0.1, batch_size=6, jacobian="update",
                               options=EstimateOptions(train=True))
    quiet = estimate_sharpness(model, CE, tiny_data(), lr=0.1, batch_size=6, n_batches=1, seed=0)
    assert not quiet.diagnostics.train and quiet.diagnostics.dropout == ()


def test_train_mode_batch_norm_is_flagged():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4),
                                torch.nn.Linear(4, 2)).double()
    with pytest.warns(TrainModeWarning, match="batch norm"):
        est = estimate_sharpness(model, CE, tiny_data(), lr=0.1, batch_size=6, n_batches=2, seed=0,
                                 method="slq", options=EstimateOptions(n_steps=4, train=True))
    assert est.diagnostics.batch_norm == ("1",)


def test_a_dataset_gives_the_same_estimate_as_its_tensors():
    x, y = tiny_data()
    as_tensors = estimate_sharpness(tiny_mlp(), CE, (x, y), lr=0.5, batch_size=6, n_batches=3,
                                    seed=4)

    class Pairs(torch.utils.data.Dataset):
        def __len__(self):
            return len(y)

        def __getitem__(self, i):
            return x[i], y[i]

    for data in (Pairs(), torch.utils.data.TensorDataset(x, y)):
        est = estimate_sharpness(tiny_mlp(), CE, data, lr=0.5, batch_size=6, n_batches=3, seed=4)
        np.testing.assert_array_equal(est.sharpness, as_tensors.sharpness)


def test_seed_none_is_recorded_and_reproduces_the_estimate():
    first = estimate_sharpness(tiny_mlp(), CE, tiny_data(), lr=0.5, batch_size=6, n_batches=3,
                               method="slq", options=EstimateOptions(n_steps=5))
    again = estimate_sharpness(tiny_mlp(), CE, tiny_data(), lr=0.5, batch_size=6, n_batches=3,
                               method="slq", seed=first.diagnostics.seed,
                               options=EstimateOptions(n_steps=5))
    assert first.dimension == again.dimension
    assert first.diagnostics.batch_seeds == again.diagnostics.batch_seeds
    assert len(first.diagnostics.batch_seeds) == 3


def test_result_fields_are_present_per_method_and_none_where_not_computed():
    exact = estimate_sharpness(tiny_mlp(), CE, tiny_data(), lr=0.5, batch_size=6, n_batches=2,
                               seed=0)
    assert isinstance(exact, SharpnessEstimate)
    assert exact.sharpness.shape == (20,) and exact.measure is None
    assert exact.diagnostics.epsilon == 0.0 and exact.diagnostics.n_hvp == 2 * 20
    assert exact.diagnostics.pooled_dimension is not None and exact.diagnostics.n_steps is None
    assert exact.lambda_1 == exact.sharpness[0]
    for method in ("slq", "kde", "ps"):
        est = estimate_sharpness(tiny_mlp(), CE, tiny_data(), lr=0.5, batch_size=6, n_batches=4,
                                 seed=0, method=method, options=EstimateOptions(n_steps=6))
        d = est.diagnostics
        assert est.sharpness is None and est.measure is not None
        assert abs(est.measure.total_mass - 20) <= 1e-9 * 20
        assert d.epsilon == 1e-6 and d.n_steps == 6 and len(d.residuals) == 4
        assert (d.bandwidth is None) == (method == "slq")
        assert (d.histogram_dimension is None) == (method != "slq")
        assert (d.n_quantiles is None) == (method != "ps")
        assert est.top_eigenvalue >= est.bottom_eigenvalue and est.trace is not None
        assert d.n_hvp == 4 * 6 and d.seconds > 0
    assert "SD =" in est.summary()


def test_every_density_method_is_a_view_of_the_same_slq_runs():
    base = dict(lr=0.5, batch_size=6, n_batches=8, seed=11, options=EstimateOptions(n_steps=8))
    slq = estimate_sharpness(tiny_mlp(), CE, tiny_data(), method="slq", **base)
    g = log_singular_value_map("gd", lr=0.5, eps=slq.diagnostics.epsilon)
    for method in ("kde", "ps"):
        est = estimate_sharpness(tiny_mlp(), CE, tiny_data(), method=method, **base)
        view = density_dimension(method, slq.curvature_measure, g, aggregate="mean",
                                 n_quantiles=20)
        assert est.dimension == view.dimension and est.lambda_1 == slq.lambda_1


def test_slq_runs_reproduce_the_curvature_module_slq_measure():
    x, y = tiny_data()
    model = tiny_mlp()
    est = estimate_sharpness(model, CE, (x, y), lr=0.5, batch_size=6, n_batches=5, seed=9,
                             method="slq", options=EstimateOptions(n_steps=7))
    theirs = slq_spectral_measure(flat_loss(model, CE), flat_loss(model, CE).theta0, (x, y),
                                  n_runs=5, n_steps=7, batch_size=6, seed=9,
                                  dtype=torch.float64)
    ours = est.curvature_measure
    assert ours.diagnostics["n_runs"] == 5
    np.testing.assert_allclose(np.sort(ours.nodes), np.sort(theirs.nodes), rtol=0,
                               atol=1e3 * EPS * float(np.abs(theirs.nodes).max()))
    assert est.diagnostics.batch_index_hashes == theirs.diagnostics["batch_index_hashes"]


def test_update_jacobian_of_plain_sgd_equals_the_gd_profile():
    base = dict(lr=0.5, batch_size=6, n_batches=3, seed=2)
    gd = estimate_sharpness(tiny_mlp(), CE, tiny_data(), **base)
    upd = estimate_sharpness(tiny_mlp(), CE, tiny_data(), jacobian="update", **base)
    # same minibatches; σ from an SVD of I − ηH vs |1 − ηα| from eigvalsh: |Δσ| ≤ ‖δJ‖₂
    sigma_gd, sigma_up = np.exp(gd.sharpness), np.exp(upd.sharpness)
    assert np.allclose(sigma_gd, sigma_up, rtol=0, atol=64 * 20 * EPS * sigma_gd.max())


def test_heavy_ball_update_doubles_the_state_and_adam_needs_its_moments():
    model, (x, y) = tiny_mlp(), tiny_data()
    hb = estimate_sharpness(model, CE, (x, y), batch_size=6, n_batches=2, seed=0, jacobian="update",
                            optimizer=make_update_map("sgd", lr=0.5, momentum=0.9))
    assert hb.sharpness.shape == (40,) and hb.diagnostics.optimizer == "momentum"
    assert any("velocity v = 0" in note for note in hb.diagnostics.notes)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(3):
        opt.zero_grad()
        CE(model(x), y).backward()
        opt.step()
    adam = estimate_sharpness(model, CE, (x, y), lr=0.01, batch_size=6, n_batches=2, seed=0,
                              optimizer="adam", jacobian="update", optimizer_state=opt)
    assert adam.sharpness.shape == (60,) and adam.diagnostics.optimizer == "adam"
    gd = estimate_sharpness(model, CE, (x, y), lr=0.01, batch_size=6, n_batches=2, seed=0,
                            optimizer="adamw")
    assert any("paper's approximation" in note for note in gd.diagnostics.notes)
    dens = estimate_sharpness(model, CE, (x, y), batch_size=6, n_batches=2, seed=0,
                              jacobian="update", method="slq",
                              optimizer=make_update_map("sgd", lr=0.5, momentum=0.9),
                              options=EstimateOptions(n_steps=10))
    assert dens.measure.total_mass == pytest.approx(40, rel=1e-12)
    assert dens.top_eigenvalue is None and dens.trace is None


def test_points_as_state_dicts_and_flat_vectors_agree_and_sup_is_at_least_mean():
    model = tiny_mlp()
    other = tiny_mlp(seed=5)
    flat = [torch.cat([p.detach().reshape(-1) for p in m.parameters()]) for m in (model, other)]
    base = dict(lr=0.5, batch_size=6, n_batches=3, seed=1)
    a = estimate_sharpness(model, CE, tiny_data(), points=[model.state_dict(), other.state_dict()],
                           aggregate="sup", **base)
    b = estimate_sharpness(model, CE, tiny_data(), points=flat, aggregate="sup", **base)
    mean = estimate_sharpness(model, CE, tiny_data(), points=flat, **base)
    np.testing.assert_array_equal(a.sharpness, b.sharpness)
    assert np.all(a.sharpness >= mean.sharpness) and a.diagnostics.n_points == 2
    assert mean.diagnostics.pooled_dimension is not None and a.diagnostics.pooled_dimension is None
    for method in ("slq", "kde", "ps"):
        with pytest.raises(ValueError, match="aggregate='sup' with method=.* and 2 points is "
                                             "not supported"):
            estimate_sharpness(model, CE, tiny_data(), points=flat, aggregate="sup", method=method,
                               **base, options=EstimateOptions(n_steps=8))


def test_full_batch_exact_computes_the_hessian_once():
    x, y = tiny_data(8)
    est = estimate_sharpness(tiny_mlp(), CE, (x, y), lr=0.5, batch_size=8, n_batches=5, seed=0)
    assert est.diagnostics.n_hvp == 20 and est.diagnostics.trace_stderr is None
    assert any("computed once" in note for note in est.diagnostics.notes)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_estimates_on_the_gpu_match_the_cpu():
    x, y = tiny_data()
    cpu = estimate_sharpness(tiny_mlp(), CE, (x, y), lr=0.5, batch_size=6, n_batches=3, seed=0,
                             method="slq", options=EstimateOptions(n_steps=8))
    gpu = estimate_sharpness(tiny_mlp().cuda(), CE, (x.cuda(), y.cuda()), lr=0.5, batch_size=6,
                             n_batches=3, seed=0, method="slq", options=EstimateOptions(n_steps=8))
    assert gpu.diagnostics.device.startswith("cuda")
    assert gpu.diagnostics.batch_index_hashes == cpu.diagnostics.batch_index_hashes
    assert abs(gpu.dimension - cpu.dimension) <= 1e-6 * 20


def test_per_point_optimizer_states_are_used_and_adam_needs_one_per_point():
    model, (x, y) = tiny_mlp(), tiny_data()
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    points = [flat, flat + 0.1]
    gen = torch.Generator().manual_seed(0)
    states = [{"exp_avg": 0.01 * torch.randn(20, generator=gen, dtype=torch.float64),
               "exp_avg_sq": 0.01 + torch.rand(20, generator=gen, dtype=torch.float64),
               "step": s} for s in (10, 20)]
    base = dict(lr=0.01, batch_size=6, n_batches=2, seed=0, optimizer="adamw",
                jacobian="update", points=points, aggregate="sup")
    est = estimate_sharpness(model, CE, (x, y), optimizer_state=states, **base)
    assert est.sharpness.shape == (60,) and est.diagnostics.n_points == 2
    with pytest.raises(ValueError, match="a sequence of 2 Adam states"):
        estimate_sharpness(model, CE, (x, y), optimizer_state=states[0], **base)
    velocities = [{"velocity": torch.ones(20, dtype=torch.float64)}, {"velocity": -flat}]
    hb = estimate_sharpness(model, CE, (x, y), batch_size=6, n_batches=2, seed=0, jacobian="update",
                            points=points, optimizer_state=velocities,
                            optimizer=make_update_map("sgd", lr=0.5, momentum=0.5))
    assert hb.diagnostics.notes == ()  # no default velocity was needed
