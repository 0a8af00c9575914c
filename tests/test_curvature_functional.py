"""FlatLoss: flattening, explicit mode, frozen parameters, dtype casts and bad input."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sharpdim.curvature import NonFiniteError, TrainModeWarning, flat_loss
from sharpdim.testing.checking import EPS


def _tiny_mlp(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)  # test fixture only: the library never seeds globally
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))


def test_flat_loss_equals_the_model_loss_at_its_own_parameters():
    model = _tiny_mlp()
    x, y = torch.randn(5, 3), torch.tensor([0, 1, 1, 0, 1])
    f = flat_loss(model, F.cross_entropy)
    assert f.n_params == 3 * 4 + 4 + 4 * 2 + 2
    assert f.names == ("0.weight", "0.bias", "2.weight", "2.bias")
    assert torch.equal(f(f.theta0, x, y), F.cross_entropy(model(x), y))


def test_unflatten_then_flatten_is_the_identity_and_blocks_are_row_major():
    f = flat_loss(_tiny_mlp(), F.cross_entropy)
    theta = torch.arange(f.n_params, dtype=torch.float32)
    blocks = f.unflatten(theta)
    assert torch.equal(f.flatten(blocks), theta)
    assert blocks["0.weight"][1, 0].item() == 3.0  # row-major: entry (1, 0) of a 4×3 block
    assert f.parameter_of(3) == "0.weight[1, 0]"
    assert f.parameter_of(f.n_params - 1) == "2.bias[1]"


def test_gradient_matches_autograd_on_the_model():
    model = _tiny_mlp()
    x, y = torch.randn(6, 3), torch.tensor([0, 1, 1, 0, 1, 0])
    f = flat_loss(model, F.cross_entropy)
    F.cross_entropy(model(x), y).backward()
    expected = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    assert torch.allclose(f.gradient(f.theta0, x, y), expected, rtol=0, atol=1e-7)


def test_parameters_without_grad_are_left_out_and_held_fixed():
    model = _tiny_mlp()
    model[0].bias.requires_grad_(False)
    f = flat_loss(model, F.cross_entropy)
    assert "0.bias" not in f.names and f.frozen_names == ("0.bias",)
    assert f.n_params == 3 * 4 + 4 * 2 + 2
    x, y = torch.randn(5, 3), torch.tensor([0, 1, 1, 0, 1])
    assert torch.equal(f(f.theta0, x, y), F.cross_entropy(model(x), y))


def test_float64_theta_casts_inputs_and_constants():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2), nn.Linear(2, 1))
    model.eval()
    f = flat_loss(model, F.mse_loss)
    x, y = torch.randn(4, 2), torch.randn(4, 1)
    loss64 = f(f.theta0.double(), x, y).detach()
    assert loss64.dtype == torch.float64
    reference = F.mse_loss(copy.deepcopy(model).double()(x.double()), y.double()).detach()
    # same float64 operations in the same order: equal up to a few roundings of O(1) terms
    assert abs(float(loss64 - reference)) <= 16 * EPS * max(1.0, float(reference))


def test_eval_mode_is_applied_during_the_call_and_the_model_mode_is_restored():
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5), nn.Linear(3, 1))
    model.train()
    f = flat_loss(model, F.mse_loss, train=False)
    x, y = torch.randn(8, 3), torch.zeros(8, 1)
    assert torch.equal(f(f.theta0, x, y), f(f.theta0, x, y))  # dropout off: deterministic
    assert model.training and model[1].training
    assert not f.flags.any


def test_train_mode_dropout_and_batch_norm_are_flagged_with_a_warning():
    model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3), nn.Dropout(0.2), nn.Linear(3, 1))
    with pytest.warns(TrainModeWarning, match="dropout"):
        f = flat_loss(model, F.mse_loss, train=True)
    assert f.flags.dropout == ("2",) and f.flags.batch_norm == ("1",)
    before = model[1].running_mean.clone()
    f(f.theta0, torch.randn(8, 3), torch.zeros(8, 1))
    assert torch.equal(model[1].running_mean, before)  # the model's buffers stay pristine


def test_eval_mode_model_with_dropout_raises_no_warning():
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        flat_loss(model, F.mse_loss, train=False)


def test_model_without_trainable_parameters_is_a_value_error():
    model = nn.Linear(2, 1)
    for p in model.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match="at least one trainable parameter"):
        flat_loss(model, F.mse_loss)
    with pytest.raises(ValueError, match="at least one trainable parameter"):
        flat_loss(nn.ReLU(), F.mse_loss)


def test_bad_arguments_are_rejected_with_their_names():
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        flat_loss(lambda x: x, F.mse_loss)
    with pytest.raises(TypeError, match="loss_fn must be callable"):
        flat_loss(nn.Linear(2, 1), "mse")
    with pytest.raises(TypeError, match="train must be a bool"):
        flat_loss(nn.Linear(2, 1), F.mse_loss, train="yes")
    f = flat_loss(nn.Linear(2, 1), F.mse_loss)
    with pytest.raises(ValueError, match=r"theta must have shape \(3,\)"):
        f(torch.zeros(4), torch.zeros(1, 2), torch.zeros(1, 1))


def test_non_finite_parameter_raises_naming_the_parameter_and_the_batch():
    f = flat_loss(nn.Linear(2, 1, bias=False), F.mse_loss)
    theta = torch.tensor([1.0, float("inf")])
    with pytest.raises(NonFiniteError, match=r"weight\[0, 1\]") as err:
        f.gradient(theta, torch.ones(3, 2), torch.zeros(3, 1))
    assert err.value.parameter == "weight[0, 1]"
    assert err.value.batch.startswith("batch of 3 examples")


def test_non_finite_loss_from_the_data_raises_naming_the_batch_and_the_first_bad_entry():
    f = flat_loss(nn.Linear(2, 1, bias=False), F.mse_loss)
    x = torch.tensor([[1.0, 2.0], [np.inf, 0.0]])
    with pytest.raises(NonFiniteError, match="non-finite loss or gradient on the batch of 2"):
        f.gradient(torch.tensor([1.0, 1.0]), x, torch.zeros(2, 1))
