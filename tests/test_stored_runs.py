"""Trained weights kept in the sweep file as raw arrays, ``sharpdim.load_run`` giving back the
trained model and its exact data, ``sharpdim measure`` adding a group afterwards, the held-out
split, and Jiang et al.'s measures against closed forms."""

from __future__ import annotations

import math
import pickle
import sqlite3
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import sharpdim
from sharpdim.lab.sweeps.config import ConfigError, parse_config
from sharpdim.lab.sweeps.data import digits_data, with_heldout
from sharpdim.lab.sweeps.jiang_measures import (
    distance_from_init,
    inverse_margin,
    pacbayes_magnitude_flatness,
    path_norm,
)
from sharpdim.lab.sweeps.remeasure import remeasure
from sharpdim.lab.sweeps.storage import StorageError, SweepStore
from sharpdim.lab.sweeps.sweep import run_sweep
from sharpdim.lab.sweeps.training import evaluate
from sharpdim.lab.sweeps.weights import WeightsError, decode_state

_TOML = """
name = "stored"
task = "digits_mlp"
seeds = [0]
output = "{output}"
[task_options]
width = 4
heldout_fraction = 0.2
[train]
epochs = 2
checkpoints = 2
[grid]
lr = [0.1]
batch_size = [64]
[measures]
final = ["heldout", "baselines"]
checkpoint = ["baselines"]
"""


@pytest.fixture(scope="module")
def sweep_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("stored") / "sweep.sqlite"
    cfg = parse_config(tomllib.loads(_TOML.format(output=path)), source="test")
    run_sweep(cfg, scheduler="inline", progress=False)
    with SweepStore.open_readonly(path) as store:
        (run,) = store.runs()
    return path, run["run_id"]


def test_load_run_gives_back_the_trained_model_and_the_exact_training_examples(sweep_file):
    path, rid = sweep_file
    run = sharpdim.load_run(path, rid)
    with SweepStore.open_readonly(path) as store:
        stored = {m["name"]: m["value"] for m in store.measures(stage="final")}
    ev = evaluate(run.model, run.data.x_train, run.data.y_train, run.loss_fn)
    # the accuracy recorded at the end of training, recomputed from the stored weights
    assert ev.accuracy == stored["train_acc"] and ev.loss == pytest.approx(stored["train_loss"],
                                                                          rel=1e-6)
    held = evaluate(run.model, run.data.x_heldout, run.data.y_heldout, run.loss_fn)
    assert held.accuracy == stored["heldout_acc"]
    assert run.data.n_train + run.data.n_heldout == digits_data(seed=0).n_train
    assert run.spec.run_id == rid and run.status == "finished"
    first = sharpdim.load_run(path, rid, stage="checkpoint", epoch=0)
    init = first.initial_model.state_dict()
    assert all(torch.equal(first.model.state_dict()[k], init[k]) for k in init)


def test_weights_are_raw_arrays_and_a_planted_pickle_is_refused(sweep_file, tmp_path):
    path, rid = sweep_file
    copy = tmp_path / "copy.sqlite"
    copy.write_bytes(path.read_bytes())
    con = sqlite3.connect(copy)
    dtypes = {r[0] for r in con.execute("SELECT dtype FROM weights")}
    assert dtypes <= {"<f4", "<f8", "<i8"}
    name, shape = con.execute("SELECT name, shape FROM weights WHERE stage='final'").fetchone()

    class Payload:
        def __reduce__(self):
            return (exec, ("raise SystemExit('pickle executed')",))

    con.execute("UPDATE weights SET data = ? WHERE stage='final' AND name = ?",
                (pickle.dumps(Payload()), name))
    con.commit()
    con.close()
    with pytest.raises(WeightsError, match=f"weights {name!r}: data must be"):
        sharpdim.load_run(copy, rid)   # read as bytes of the declared size, never unpickled
    with pytest.raises(WeightsError, match="dtype must be one of"):
        decode_state([("w", "|O", "[1]", b"\x00" * 8)])


def test_measure_adds_a_group_from_the_stored_weights_and_resumes(sweep_file, tmp_path):
    path, rid = sweep_file
    copy = tmp_path / "m.sqlite"
    copy.write_bytes(path.read_bytes())
    assert remeasure(copy, "jiang")["measured"] == 1
    assert remeasure(copy, "jiang") == {"measured": 0, "skipped_done": 1, "no_weights": 0}
    with SweepStore.open_readonly(copy) as store:
        got = {m["name"]: m for m in store.measures(stage="final") if m["grp"] == "jiang"}
    assert set(got) == {"path_norm", "dist_from_init", "inverse_margin",
                        "pacbayes_mag_flatness"}
    assert all(m["status"] == "ok" for m in got.values())
    run = sharpdim.load_run(copy, rid)
    assert got["dist_from_init"]["value"] == pytest.approx(
        distance_from_init(run.model, run.initial_model.state_dict()))
    with pytest.raises(ValueError, match="needs state a sweep file does not keep"):
        remeasure(copy, "sd_update")


def test_old_sweep_files_without_weights_say_so(tmp_path):
    committed = sorted((Path(__file__).resolve().parents[1] / "reports").glob(
        "*/sweep.sqlite"))[0]
    with SweepStore.open_readonly(committed) as store:
        rid = store.runs()[0]["run_id"]
    with pytest.raises(StorageError, match="no stored weights"):
        sharpdim.load_run(committed, rid)


def test_heldout_split_is_stratified_disjoint_and_seeded():
    d = digits_data(seed=0)
    a, b = with_heldout(d, 0.2, seed=3), with_heldout(d, 0.2, seed=3)
    assert torch.equal(a.x_heldout, b.x_heldout) and a.n_heldout == round(0.2 * d.n_train)
    # the two parts partition the original training split: the same rows, each once
    parts = sorted(map(tuple, torch.cat([a.x_train, a.x_heldout]).tolist()))
    assert parts == sorted(map(tuple, d.x_train.tolist()))
    counts = np.bincount(a.y_heldout.numpy(), minlength=10) / a.n_heldout
    assert np.abs(counts - np.bincount(d.y_train.numpy()) / d.n_train).max() < 1 / a.n_heldout
    assert torch.equal(a.x_test, d.x_test)
    with pytest.raises(ValueError, match="heldout_fraction must be in"):
        with_heldout(d, 1.0, seed=0)


def test_path_norm_of_a_bias_free_relu_mlp_equals_the_sum_over_paths():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4, bias=False), nn.ReLU(), nn.Linear(4, 2, bias=False))
    w1, w2 = (m.weight.detach().double() for m in (net[0], net[2]))
    # oracle: enumerate every path input i → hidden j → output k
    expected = sum(float(w1[j, i] ** 2 * w2[k, j] ** 2)
                   for i in range(3) for j in range(4) for k in range(2))
    assert path_norm(net, 3) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="bias-free ReLU MLP"):
        path_norm(nn.Sequential(nn.Linear(3, 2)), 3)


def test_inverse_margin_is_one_over_the_squared_10th_percentile_margin():
    net = nn.Identity()
    x = torch.tensor([[m, 0.0] for m in np.linspace(0.1, 1.0, 10)] + [[-1.0, 0.0]])
    y = torch.zeros(11, dtype=torch.long)
    margins = np.r_[np.linspace(0.1, 1.0, 10), -1.0]
    assert inverse_margin(net, x, y) == pytest.approx(1 / np.percentile(margins, 10) ** 2)
    assert math.isinf(inverse_margin(net, -x[:1].abs(), y[:1]))


def test_pacbayes_flatness_finds_the_planted_sigma_and_leaves_the_model_unchanged():
    # one weight w = 1 on a 1-D input x = 1 with label 0 vs logit 0: a perturbation
    # w + (σ|w| + ε)·n flips the prediction exactly when n < −1/(σ + ε)
    net = nn.Sequential(nn.Linear(1, 2, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0], [0.0]]))
    before = net[0].weight.clone()
    x, y = torch.ones(1, 1), torch.zeros(1, dtype=torch.long)
    _, sigma = pacbayes_magnitude_flatness(net, x, y, seed=0, draws=64, epsilon=0.0)
    assert torch.equal(net[0].weight, before)
    gen = torch.Generator().manual_seed(0)
    draws = [torch.randn((2, 1), generator=gen) for _ in range(64)]
    # oracle: the drop at σ is the share of draws whose perturbed logit 0 falls below logit 1
    def drop(s):
        return np.mean([float((1 + s * n[0, 0]) < (0 + 0 * n[1, 0])) for n in draws])
    assert drop(sigma) <= 0.1 < drop(sigma * 1.001)


def test_checkpoint_weights_false_keeps_only_the_initial_and_final_weights(tmp_path):
    path = tmp_path / "sweep.sqlite"
    toml = _TOML.format(output=path).replace("checkpoints = 2",
                                             "checkpoints = 2\ncheckpoint_weights = false")
    cfg = parse_config(tomllib.loads(toml), source="test")
    run_sweep(cfg, scheduler="inline", progress=False)
    con = sqlite3.connect(path)
    stages = {r[0] for r in con.execute("SELECT DISTINCT stage FROM weights")}
    con.close()
    assert stages == {"init", "final"}
    # the option is off the run identity when left at its default (old sweeps keep their ids)
    default = parse_config(tomllib.loads(_TOML.format(output=path)), source="test")
    assert "checkpoint_weights" not in default.train


def test_checkpoint_weights_must_be_a_boolean(tmp_path):
    toml = _TOML.format(output=tmp_path / "s.sqlite").replace(
        "checkpoints = 2", "checkpoints = 2\ncheckpoint_weights = 1")
    with pytest.raises(ConfigError, match="train.checkpoint_weights must be true or false, got 1"):
        parse_config(tomllib.loads(toml), source="test")
