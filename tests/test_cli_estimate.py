"""`sharpdim estimate` end to end on the smallest built-in task, and its bad input."""

from __future__ import annotations

import json

import pytest

from sharpdim import EstimateOptions
from sharpdim.lab.cli import main
from sharpdim.lab.cli.estimate import parse_option


def test_option_values_are_toml_literals_and_bare_words_are_strings():
    assert parse_option("width=8") == ("width", 8)
    assert parse_option("lr = 0.5") == ("lr", 0.5)
    assert parse_option("name=abc") == ("name", "abc")
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_option("width")


def test_estimate_prints_one_record_per_method_with_the_seed(capsys):
    status = main(["estimate", "--task", "mnist1d_mlp", "--option", "n_samples=400",
                   "--lr", "0.1", "--batch-size", "16", "--method", "exact", "slq",
                   "--n-batches", "2", "--n-steps", "8", "--seed", "3", "--json"])
    assert status == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["method"] for r in records] == ["exact", "slq"]
    # oracle: the same task, data and settings through the Python API, bit for bit
    from sharpdim.estimators import estimate_sharpness
    from sharpdim.lab.sweeps.tasks import get_task

    task = get_task("mnist1d_mlp")
    opts = task.options({"n_samples": 400})
    data = task.dataset(opts)
    for r in records:
        direct = estimate_sharpness(task.model(opts, 0), task.loss_for(opts),
                                    (data.x_train, data.y_train), lr=0.1, batch_size=16,
                                    method=r["method"], n_batches=2, seed=3,
                                    options=EstimateOptions(
                                        n_steps=8 if r["method"] == "slq" else None))
        assert r["seed"] == 3 and r["dimension"] == direct.dimension
        assert r["n_hvp"] == direct.diagnostics.n_hvp


@pytest.mark.parametrize("argv, message", [
    (["--task", "no_such_task", "--lr", "0.1", "--batch-size", "8"], "task must be one of"),
    (["--task", "mnist1d_mlp", "--lr", "-0.1", "--batch-size", "8"], "lr must be"),
    (["--task", "mnist1d_mlp", "--option", "width=wide", "--lr", "0.1", "--batch-size", "8"],
     "task.width"),
])
def test_bad_input_is_a_clear_error_before_any_work(argv, message, capsys):
    assert main(["estimate", *argv]) == 2
    assert message in capsys.readouterr().err


def test_estimate_with_the_mse_option_estimates_the_squared_error_loss(capsys):
    """``--option loss=mse`` must reach the estimator: the exact SD of the MSE loss at the
    initialization is that of :func:`mse_onehot`, not of cross-entropy (they differ)."""
    from sharpdim.estimators import estimate_sharpness
    from sharpdim.lab.sweeps.tasks import get_task, mse_onehot

    argv = ["estimate", "--task", "mnist1d_mlp", "--option", "n_samples=300", "--option",
            "width=4", "--lr", "2.0", "--batch-size", "32", "--method", "exact",
            "--n-batches", "2", "--seed", "1", "--json"]
    records = {}
    for loss in ("mse", "cross_entropy"):
        assert main([*argv, "--option", f"loss={loss}"]) == 0
        records[loss] = json.loads(capsys.readouterr().out)[0]["dimension"]
    task = get_task("mnist1d_mlp")
    opts = task.options({"n_samples": 300, "width": 4, "loss": "mse"})
    data = task.dataset(opts)
    direct = estimate_sharpness(task.model(opts, 0), mse_onehot, (data.x_train, data.y_train),
                                lr=2.0, batch_size=32, method="exact", n_batches=2, seed=1)
    assert records["mse"] == direct.dimension  # the same computation: bit for bit
    assert records["mse"] != pytest.approx(records["cross_entropy"], rel=1e-3)


_USER_MODULE = '''
import torch

def make_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3))

def train_set():
    g = torch.Generator().manual_seed(0)
    return torch.utils.data.TensorDataset(torch.randn(40, 4, generator=g),
                                          torch.randint(0, 3, (40,), generator=g))
'''


def test_a_user_model_and_data_are_estimated_from_the_command_line(tmp_path, monkeypatch,
                                                                    capsys):
    """Oracle: the same model, data and settings through the Python API."""
    import sys

    import torch.nn.functional as F

    from sharpdim.estimators import estimate_sharpness

    (tmp_path / "user_net.py").write_text(_USER_MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    argv = ["estimate", "--model", "user_net:make_model", "--data", "user_net:train_set",
            "--lr", "0.5", "--batch-size", "8", "--n-batches", "3", "--seed", "2", "--json"]
    assert main(argv) == 0
    [record] = json.loads(capsys.readouterr().out)
    import user_net

    direct = estimate_sharpness(user_net.make_model(), F.cross_entropy, user_net.train_set(),
                                lr=0.5, batch_size=8, n_batches=3, seed=2)
    assert record["dimension"] == direct.dimension and record["model"] == "user_net:make_model"
    assert main([*argv, "--dry-run"]) == 0
    [plan] = json.loads(capsys.readouterr().out)
    assert plan["n_hvp"] == direct.diagnostics.n_hvp


@pytest.mark.parametrize("argv, message", [
    (["--model", "user_net:make_model"], "--data must be given with --model"),
    (["--model", "user_net", "--data", "user_net:train_set"],
     "--model must look like MODULE:CALLABLE, got 'user_net'"),
    (["--model", "no_such_module:f", "--data", "user_net:train_set"],
     "--model must name an importable module, got 'no_such_module'"),
    (["--model", "user_net:nothing", "--data", "user_net:train_set"],
     "--model must name an attribute of user_net, got 'nothing'"),
])
def test_a_bad_user_model_spec_is_named(argv, message, tmp_path, monkeypatch, capsys):
    import sys

    (tmp_path / "user_net.py").write_text(_USER_MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert main(["estimate", *argv, "--lr", "0.1", "--batch-size", "8"]) == 2
    assert message in capsys.readouterr().err


def test_a_state_dict_that_does_not_fit_prints_every_mismatch(tmp_path, capsys):
    import torch

    from sharpdim.lab.sweeps.tasks import get_task

    task = get_task("mnist1d_mlp")
    state = task.model(task.options({"n_samples": 300}), 0).state_dict()
    first = next(iter(state))
    shape = tuple(state[first].shape)
    state["extra.weight"] = torch.zeros(2)
    state[first] = torch.zeros(3, 3)
    path = tmp_path / "bad.pt"
    torch.save(state, path)
    assert main(["estimate", "--task", "mnist1d_mlp", "--option", "n_samples=300",
                 "--state-dict", str(path), "--lr", "0.1", "--batch-size", "8"]) == 2
    err = capsys.readouterr().err
    assert "unexpected key(s) extra.weight" in err
    assert f"{first} must have shape {shape}, got (3, 3)" in err
    assert len(err.strip().splitlines()) == 1
