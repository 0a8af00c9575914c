"""Tasks, data and training: determinism from explicit seeds, divergence as an outcome,
checkpoints and kept iterates, and no change to global random state."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from sharpdim.lab.sweeps.data import mnist1d_data, modular_addition_data
from sharpdim.lab.sweeps.models import ModularTransformer, count_parameters, lenet, mlp
from sharpdim.lab.sweeps.tasks import get_task, task_names
from sharpdim.lab.sweeps.training import TrainSettings, train


def _tiny():
    task = get_task("mnist1d_mlp")
    options = task.options({"n_samples": 200, "width": 4})
    return task, options, task.dataset(options)


def test_mnist1d_generation_leaves_the_global_generators_untouched():
    random.seed(123)
    rng_state = np.random.get_state()  # noqa: NPY002 - checking the legacy global state
    before = random.random()
    random.seed(123)
    mnist1d_data(n_samples=100, seed=5)
    assert random.random() == before
    assert np.random.get_state()[1].tolist() == rng_state[1].tolist()  # noqa: NPY002


def test_modular_addition_labels_are_sums_mod_p_and_split_is_seeded():
    d = modular_addition_data(modulus=11, train_fraction=0.4, seed=3, encoding="tokens")
    x = torch.cat([d.x_train, d.x_test])
    y = torch.cat([d.y_train, d.y_test])
    assert torch.equal(y, (x[:, 0] + x[:, 1]) % 11) and bool((x[:, 2] == 11).all())
    assert d.n_train == int(0.4 * 121) and d.n_train + d.n_test == 121
    assert len({tuple(r) for r in x.tolist()}) == 121  # every pair exactly once
    again = modular_addition_data(modulus=11, train_fraction=0.4, seed=3, encoding="tokens")
    assert torch.equal(again.x_train, d.x_train)


def test_paper_networks_have_the_documented_parameter_counts():
    assert count_parameters(mlp(40, 16, 3, 10, seed=0)) == 1056
    assert count_parameters(mlp(40, 92, 3, 10, seed=0)) == 13064
    assert count_parameters(mlp(40, 200, 5, 10, seed=0)) == 130000
    assert count_parameters(mlp(784, 16, 3, 10, seed=0)) == 12960  # the paper's MNIST MLP
    assert count_parameters(mlp(784, 200, 5, 10, seed=0)) == 278800
    net = ModularTransformer(vocab=8, n_classes=7, d_model=8, n_heads=2, d_mlp=16, seed=0)
    assert net(torch.tensor([[1, 2, 7], [3, 4, 7]])).shape == (2, 7)
    assert sorted(task_names()) == task_names() and "modadd_transformer" in task_names()


def test_lenet_is_the_functional_conv_pool_network_it_documents():
    # Oracle: the same network written with torch.nn.functional on the module's own weights,
    # and the parameter count by hand: 6·25 + 6·12·25 + 12·4·4·16 + 16·10 = 5,182.
    import torch.nn.functional as F

    net = lenet(28, 10, seed=3).double()
    assert count_parameters(net) == 6 * 25 + 6 * 12 * 25 + 12 * 4 * 4 * 16 + 16 * 10 == 5182
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in net.modules())
    w1, w2, w3, w4 = (p.detach() for p in net.parameters())
    assert all(m.bias is None for m in net.modules() if hasattr(m, "bias"))
    x = torch.rand(5, 784, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    h = F.max_pool2d(F.relu(F.conv2d(x.view(5, 1, 28, 28), w1)), 2)
    h = F.max_pool2d(F.relu(F.conv2d(h, w2)), 2)
    want = F.linear(F.relu(F.linear(h.flatten(1), w3)), w4)
    assert torch.equal(net(x), want)
    # PyTorch's default law for a conv: U(−1/√fan_in, 1/√fan_in), fan_in = c_in·k².
    assert w1.abs().max() <= 1 / 5 and w2.abs().max() <= 1 / (6 * 25) ** 0.5
    assert w2.abs().max() > 0.9 / (6 * 25) ** 0.5   # 1,800 draws reach the bound's last 10 %


def test_initialization_is_a_function_of_the_seed_only():
    torch.manual_seed(0)
    a = mlp(10, 5, 3, 2, seed=7)
    torch.manual_seed(1)
    b = mlp(10, 5, 3, 2, seed=7)
    c = mlp(10, 5, 3, 2, seed=8)
    pa, pb, pc = (torch.cat([p.flatten() for p in n.parameters()]) for n in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)


def test_training_is_reproducible_and_keeps_the_last_iterates():
    task, options, data = _tiny()
    settings = TrainSettings(lr=0.1, batch_size=16, epochs=2, trajectory=7)
    finals = []
    for _ in range(2):
        model = task.model(options, 0)
        result = train(model, data, settings, task.loss_fn, seed=4)
        finals.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(finals[0], finals[1])
    assert result.steps == 2 * (data.n_train // 16) and not result.diverged
    assert result.trajectory.shape == (7, count_parameters(model))
    np.testing.assert_array_equal(result.trajectory[-1], finals[1].numpy())


def test_divergence_is_an_outcome_with_a_reason_not_nan():
    task, options, data = _tiny()
    model = task.model(options, 0)
    result = train(model, data, TrainSettings(lr=1e4, batch_size=16, epochs=3, trajectory=5),
                   task.loss_fn, seed=0)
    assert result.diverged
    assert "loss" in result.divergence or "non-finite parameter" in result.divergence
    assert result.trajectory is None and result.epochs_completed < 3


def test_checkpoints_are_called_at_the_requested_epochs_with_the_optimizer():
    task, options, data = _tiny()
    seen = []
    model = task.model(options, 0)
    train(model, data, TrainSettings(lr=0.1, batch_size=32, epochs=4,
                                     checkpoint_epochs=(0, 2, 4)),
          task.loss_fn, seed=0,
          on_checkpoint=lambda e, s, opt, w: seen.append((e, s, type(opt).__name__)))
    per_epoch = data.n_train // 32
    assert seen == [(0, 0, "SGD"), (2, 2 * per_epoch, "SGD"), (4, 4 * per_epoch, "SGD")]



def test_checkpoint_window_holds_the_last_iterates_ending_at_the_checkpoint_parameters():
    task, options, data = _tiny()
    model = task.model(options, 0)
    seen = {}

    def grab(epoch, steps, opt, window):
        flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).numpy()
        seen[epoch] = (None if window is None else window.copy(), flat)

    train(model, data, TrainSettings(lr=0.1, batch_size=32, epochs=3, trajectory=5,
                                     checkpoint_epochs=(0, 1, 3)),
          task.loss_fn, seed=0, on_checkpoint=grab)
    assert seen[0][0] is None                         # nothing kept before the first step
    for epoch in (1, 3):
        window, flat = seen[epoch]
        assert window.shape == (5, flat.size)
        # float32 copies of the parameters at that moment: equal to float32 rounding
        assert np.array_equal(window[-1], flat.astype(np.float32))
        assert not np.array_equal(window[-2], window[-1])   # distinct steps, not one repeated

def test_sgd_with_momentum_is_the_momentum_optimizer():
    base = {"lr": 0.1, "batch_size": 8, "epochs": 2}
    assert TrainSettings(**base, optimizer="sgd", momentum=0.9) == TrainSettings(
        **base, optimizer="momentum", momentum=0.9)
    assert TrainSettings(**base, optimizer="sgd", momentum=0.9).optimizer == "momentum"


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"lr": 0.0}, "lr must be > 0"),
    ({"lr": -0.1}, "lr must be > 0"),
    ({"batch_size": 0}, "batch_size must be >= 1, got 0"),
    ({"optimizer": "adam", "momentum": 0.9}, "momentum must be 0 for optimizer='adam'"),
    ({"optimizer": "momentum", "momentum": 0.0}, "momentum must be in"),
    ({"checkpoint_epochs": (5,)}, r"checkpoint_epochs must lie in \[0, epochs=2\]"),
])
def test_bad_training_settings_name_the_argument(kwargs, match):
    base = {"lr": 0.1, "batch_size": 8, "epochs": 2}
    with pytest.raises(ValueError, match=match):
        TrainSettings(**{**base, **kwargs})
