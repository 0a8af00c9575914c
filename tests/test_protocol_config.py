"""Protocol configuration: stopping criterion keys, a task option as a grid factor (label
noise / training-set size) carried into the records, and the controlled data factors."""

from __future__ import annotations

import pytest
import torch

from sharpdim.lab.sweeps.config import ConfigError, parse_config, plan_runs
from sharpdim.lab.sweeps.data import digits_data, train_subset, with_label_noise


def _raw(**over):
    raw = {"name": "p", "task": "digits_mlp", "seeds": [0, 1],
           "train": {"epochs": 3, "stop": "criterion", "target_loss": 0.05, "max_steps": 500},
           "grid": {"lr": [0.1, 0.2], "batch_size": [32],
                    "task_options": {"label_noise": [0.0, 0.25]}},
           "measures": {"final": ["baselines"]}}
    for k, v in over.items():
        raw[k] = v
    return raw


def test_a_task_option_in_the_grid_is_a_factor_and_multiplies_the_runs():
    cfg = parse_config(_raw())
    assert cfg.factors == ("lr", "label_noise")
    runs = plan_runs(cfg)
    assert len(runs) == 2 * 2 * 2 and len({r.run_id for r in runs}) == 8
    assert sorted({r.task_options["label_noise"] for r in runs}) == [0.0, 0.25]
    assert cfg.train["stop"] == "criterion" and cfg.train["max_steps"] == 500


@pytest.mark.parametrize("grid_options, match", [
    ({"label_noise": []}, "grid.task_options.label_noise must be a non-empty list"),
    ({"noise": [0.1]}, "grid.task_options.noise is not an option"),
    ({"train_size": [1.5]}, "must be a int"),
])
def test_bad_grid_task_options_name_the_key(grid_options, match):
    raw = _raw(grid={"lr": [0.1], "batch_size": [32], "task_options": grid_options})
    with pytest.raises(ConfigError, match=match):
        parse_config(raw)


@pytest.mark.parametrize("train, match", [
    ({"epochs": 3, "stop": "loss"}, "train.stop must be one of"),
    ({"epochs": 3, "target_loss": -1}, "train.target_loss must be > 0"),
    ({"epochs": 3, "max_steps": 0}, "train.max_steps must be >= 1, got 0"),
])
def test_bad_stopping_keys_name_the_key(train, match):
    with pytest.raises(ConfigError, match=match):
        parse_config(_raw(train=train))


def test_sd_fixed_batch_needs_its_batch_size():
    with pytest.raises(ConfigError, match="measures.fixed_batch.batch_size"):
        parse_config(_raw(measures={"final": ["sd_fixed_batch"]}))


def test_label_noise_flips_exactly_the_stated_share_to_other_classes_only():
    d = digits_data(seed=0)
    noisy = with_label_noise(d, 0.3, seed=5)
    changed = noisy.y_train != d.y_train
    assert int(changed.sum()) == round(0.3 * d.n_train)
    assert torch.equal(noisy.x_train, d.x_train) and torch.equal(noisy.y_test, d.y_test)
    again = with_label_noise(d, 0.3, seed=5)
    assert torch.equal(again.y_train, noisy.y_train)
    with pytest.raises(ValueError, match=r"label_noise must be in \[0, 1\], got 1.5"):
        with_label_noise(d, 1.5, seed=0)


def test_train_subset_keeps_class_proportions_and_the_test_set():
    d = digits_data(seed=0)
    s = train_subset(d, 300, seed=2)
    assert s.n_train == 300 and torch.equal(s.x_test, d.x_test)
    full = torch.bincount(d.y_train, minlength=10).double() / d.n_train
    sub = torch.bincount(s.y_train, minlength=10).double() / 300
    # largest-remainder rounding: each class count is within one example of its share
    assert float((sub - full).abs().max()) <= 1 / 300 + 1e-12


def test_grid_factor_values_reach_the_records_of_the_sweep_file(tmp_path):
    from sharpdim.lab.sweeps.storage import SweepStore
    from sharpdim.lab.sweeps.sweep import run_sweep

    raw = _raw(seeds=[0], grid={"lr": [0.1], "batch_size": [64],
                                "task_options": {"label_noise": [0.0, 0.5]}},
               train={"epochs": 1})
    raw["output"] = str(tmp_path / "s.sqlite")
    cfg = parse_config(raw)
    run_sweep(cfg, scheduler="inline", progress=False)
    with SweepStore.open_readonly(tmp_path / "s.sqlite") as store:
        recs = store.records()
        factors = store.config()["factors"]
    assert factors == ["label_noise"]
    assert sorted(r["label_noise"] for r in recs) == [0.0, 0.5]
    noisy = next(r for r in recs if r["label_noise"] == 0.5)
    clean = next(r for r in recs if r["label_noise"] == 0.0)
    assert noisy["train_acc"] < clean["train_acc"]  # half the labels are wrong


def test_exact_runs_restrict_the_exact_groups_to_the_named_runs():
    raw = _raw(measures={"final": ["sd_exact", "baselines"], "exact_runs": [[0.2, 32, 1]]})
    runs = plan_runs(parse_config(raw))
    with_exact = [(r.lr, r.batch_size, r.seed) for r in runs
                  if "sd_exact" in r.measures["final"]]
    assert sorted(set(with_exact)) == [(0.2, 32, 1)]
    assert all("baselines" in r.measures["final"] for r in runs)
    with pytest.raises(ConfigError, match="measures.exact_runs entries must be"):
        parse_config(_raw(measures={"final": ["sd_exact"], "exact_runs": [[0.3, 32, 0]]}))
