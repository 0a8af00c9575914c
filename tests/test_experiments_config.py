"""Sweep configurations: bad input fails before any training, naming the key; the grid plan
and run identities are deterministic."""

from __future__ import annotations

import copy

import pytest

from sharpdim.lab.cli import main
from sharpdim.lab.sweeps.config import ConfigError, load_config, parse_config, plan_runs


def _raw(**over) -> dict:
    raw = {
        "name": "t", "task": "mnist1d_mlp", "seeds": [0],
        "task_options": {"n_samples": 200, "width": 4},
        "train": {"epochs": 2},
        "grid": {"lr": [0.05, 0.1], "batch_size": [16, 32]},
        "measures": {"final": ["sd_exact"], "exact": {"n_batches": 2}},
    }
    for key, value in over.items():
        section, _, sub = key.partition("__")
        if sub:
            raw.setdefault(section, {})[sub] = value
        else:
            raw[section] = value
    return raw


def _without(path: str) -> dict:
    raw = copy.deepcopy(_raw())
    section, _, sub = path.partition(".")
    if sub:
        del raw[section][sub]
    else:
        del raw[section]
    return raw


@pytest.mark.parametrize(("raw", "match"), [
    (_raw(task="mnist2d"), r"task must be one of .*got 'mnist2d'"),
    (_raw(grid__lr=[0.1, -0.1]), r"grid.lr values must be learning rates > 0, got -0.1"),
    (_raw(grid__lr=[0.0]), r"grid.lr .*> 0, got 0.0"),
    (_raw(grid__lr=[]), r"grid.lr must be a non-empty list"),
    (_raw(grid__batch_size=[]), r"grid.batch_size must be a non-empty list"),
    (_raw(seeds=[]), r"seeds must be a non-empty list"),
    (_without("name"), r"missing required key name"),
    (_without("task"), r"missing required key task"),
    (_without("seeds"), r"missing required key seeds"),
    (_without("train.epochs"), r"missing required key train.epochs"),
    (_without("grid.lr"), r"missing required key grid.lr"),
    (_without("grid.batch_size"), r"missing required key grid.batch_size"),
    (_raw(train__epocs=3), r"unknown key train.epocs"),
    (_raw(colour="red"), r"unknown key colour"),
    (_raw(task_options={"widht": 4}), r"task_options.widht is not an option"),
    (_raw(task_options={"width": 4.5}), r"task_options.width must be a int"),
    (_raw(grid__batch_size=[16, 500]), r"grid.batch_size .*<= the 160 training examples, got 500"),
    (_raw(grid__optimizer=["sgd", "rmsprop"]), r"grid.optimizer must be one of .*'rmsprop'"),
    (_raw(measures={"final": ["sd_magic"]}), r"measures.final entries must be measure groups"),
    (_raw(measures={"final": ["topology"]}), r"measures.topology.iterates must be >= 20"),
    (_raw(measures={"exact": {"n_batchs": 3}}), r"unknown key measures.exact.n_batchs"),
    (_raw(train__momentum=1.5), r"train.momentum must be in \[0, 1\)"),
    (_raw(grid__weight_decay=[-1.0]), r"grid.weight_decay values must be >= 0"),
])
def test_bad_config_is_a_clear_error_naming_the_key(raw, match):
    with pytest.raises(ConfigError, match=match):
        parse_config(raw)


def test_bad_config_fails_in_the_cli_before_any_training(tmp_path, capsys, monkeypatch):
    calls = []
    monkeypatch.setattr("sharpdim.lab.sweeps.run.train", lambda *a, **k: calls.append(a))
    path = tmp_path / "bad.toml"
    path.write_text('name = "x"\ntask = "mnist1d_mlp"\nseeds = [0]\n[train]\nepochs = 1\n'
                    "[grid]\nlr = [-0.1]\nbatch_size = [8]\n")
    assert main(["sweep", str(path), "--scheduler", "inline", "--quiet"]) == 2
    assert "grid.lr values must be learning rates > 0, got -0.1" in capsys.readouterr().err
    assert not calls and not (tmp_path / "reports").exists()


def test_bad_scheduler_address_fails_before_any_training(tmp_path, capsys):
    path = tmp_path / "ok.toml"
    path.write_text('name = "x"\ntask = "mnist1d_mlp"\nseeds = [0]\n[task_options]\n'
                    "n_samples = 200\n[train]\nepochs = 1\n[grid]\nlr = [0.1]\nbatch_size = [8]\n")
    assert main(["sweep", str(path), "--scheduler", "http://nowhere", "--quiet"]) == 2
    assert "scheduler must be" in capsys.readouterr().err


def test_invalid_toml_and_missing_file_are_config_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.toml")


def test_grid_plan_is_the_full_product_with_stable_content_ids():
    cfg = parse_config(_raw(seeds=[0, 1]))
    runs = plan_runs(cfg)
    assert len(runs) == 2 * 2 * 2
    assert len({r.run_id for r in runs}) == len(runs)
    assert [r.run_id for r in plan_runs(parse_config(_raw(seeds=[0, 1])))] == \
        [r.run_id for r in runs]
    assert cfg.factors == ("lr", "batch_size")
    other = plan_runs(parse_config(_raw(seeds=[0, 1], train__epochs=3)))
    assert not {r.run_id for r in other} & {r.run_id for r in runs}


def test_full_batch_size_is_each_task_option_combination_s_training_set_size():
    from sharpdim.lab.sweeps.tasks import get_task

    cfg = parse_config(_raw(grid={"lr": [0.1], "batch_size": ["full"],
                                  "task_options": {"train_size": [50, 120]}}))
    runs = plan_runs(cfg)
    # oracle: the dataset each combination trains on, built directly from the task
    task = get_task("mnist1d_mlp")
    sizes = {r.task_options["train_size"]: task.dataset(task.options(r.task_options)).n_train
             for r in runs}
    assert sizes == {50: 50, 120: 120}
    assert {(r.task_options["train_size"], r.batch_size) for r in runs} == {(50, 50), (120, 120)}
    with pytest.raises(ConfigError, match="grid.batch_size values must be positive integers or "
                       "'full', got 'all'"):
        parse_config(_raw(grid={"lr": [0.1], "batch_size": ["all"]}))


def test_lr_by_optimizer_gives_each_optimizer_its_own_learning_rates():
    cfg = parse_config(_raw(grid={"optimizer": ["sgd", "adamw"], "batch_size": [16],
                                  "lr_by_optimizer": {"sgd": [0.1], "adamw": [1e-3, 3e-3]}}))
    runs = plan_runs(cfg)
    assert sorted((r.optimizer, r.lr) for r in runs) == [("adamw", 1e-3), ("adamw", 3e-3),
                                                          ("sgd", 0.1)]
    assert cfg.factors == ("lr", "optimizer")
    with pytest.raises(ConfigError, match="missing required key grid.lr_by_optimizer.adamw"):
        parse_config(_raw(grid={"optimizer": ["sgd", "adamw"], "batch_size": [16],
                                "lr_by_optimizer": {"sgd": [0.1]}}))


def test_weight_decay_by_optimizer_gives_each_optimizer_its_own_weight_decays():
    cfg = parse_config(_raw(grid={"optimizer": ["sgd", "adamw"], "batch_size": [16],
                                  "lr_by_optimizer": {"sgd": [0.1], "adamw": [1e-3]},
                                  "weight_decay_by_optimizer": {"sgd": [1e-3],
                                                                "adamw": [0.1, 1.0]}}))
    runs = plan_runs(cfg)
    assert sorted((r.optimizer, r.weight_decay) for r in runs) == [
        ("adamw", 0.1), ("adamw", 1.0), ("sgd", 1e-3)]
    assert cfg.factors == ("lr", "weight_decay", "optimizer")
    with pytest.raises(ConfigError, match="not both"):
        parse_config(_raw(grid={"optimizer": ["sgd"], "batch_size": [16], "lr": [0.1],
                                "weight_decay": [0.0],
                                "weight_decay_by_optimizer": {"sgd": [0.0]}}))
    with pytest.raises(ConfigError, match="weight_decay_by_optimizer.sgd.*>= 0"):
        parse_config(_raw(grid={"optimizer": ["sgd"], "batch_size": [16], "lr": [0.1],
                                "weight_decay_by_optimizer": {"sgd": [-1.0]}}))


@pytest.mark.parametrize("name", ["digits_5x5", "mnist1d_5x5", "fashion_mnist_5x5",
                                  "transformer", "grokking_relu"])
def test_a_committed_sweep_file_still_matches_its_config_so_it_resumes(name):
    # a change to how configs are parsed must not change the hash of a committed sweep
    import sqlite3

    from sharpdim.lab.reports.provenance import repository_root

    root = repository_root()
    path = root / "reports" / name / "sweep.sqlite"
    if not path.is_file():
        pytest.skip(f"{path} is not committed")
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
        stored = {h for (h,) in con.execute("SELECT config_hash FROM configs")}
    assert load_config(root / "configs" / f"{name}.toml").config_hash in stored, (
        f"{name}.toml hashes differently from {path}: a parse change altered the canonical "
        "form (keep old configs' hashes), or the config changed and a new sweep is due")


def test_shipped_configs_are_valid():
    from sharpdim.lab.reports.provenance import repository_root

    configs = sorted((repository_root() / "configs").glob("*.toml"))
    assert {p.name for p in configs} >= {"demo_digits_gd_eos.toml", "mnist1d_5x5.toml",
                                         "grokking.toml", "transformer.toml"}
    for path in configs:
        cfg = load_config(path)
        assert plan_runs(cfg), path
