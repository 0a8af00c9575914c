"""The checkpoint analysis of a report (the paper's Fig. 4 metric and ours), on series whose
answers are known by construction: a run that groks at a known epoch, a measure that follows
the gap exactly, a measure that leads test accuracy by a known number of epochs."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from sharpdim.lab.reports.checkpoint_analysis import (
    analyse_checkpoints,
    checkpoint_table,
    grokking_delay,
    run_series,
)
from sharpdim.lab.reports.sweep_data import SweepData

EPOCHS = np.arange(0, 20001, 200)


def _sigmoid(center: float, width: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(EPOCHS - center) / width))


def _run(seed: int, grok_at: float, rng: np.random.Generator) -> dict[str, list]:
    train = 0.01 + 0.99 * _sigmoid(3000, 300)                 # memorizes near epoch 3,000
    test = 0.01 + 0.98 * _sigmoid(grok_at, 400)               # generalizes near grok_at
    gap = np.abs(train - test)
    noise = 0.02 * rng.standard_normal(EPOCHS.size)
    cols = {
        "train_acc": train, "test_acc": test, "gen_gap": gap,
        "train_loss": 4.6 * (1 - train) + 0.01, "test_loss": 4.6 * (1 - test) + 0.01,
        "loss_gap": np.abs(4.6 * (train - test)),
        "sd_slq": 5000 + 3000 * gap,                          # a monotone function of the gap
        "lambda_1_slq": np.where(EPOCHS >= grok_at - 1000, 0.2, 0.01),   # leads by 1,000
        "top_eigenvalue": 1.0 + EPOCHS / 20000.0,             # a smooth trend
        "trace": 50.0 - EPOCHS / 1000.0,
        "weight_norm": 30.0 - EPOCHS / 2000.0 + noise,
    }
    return {k: [(int(e), float(v)) for e, v in zip(EPOCHS, col, strict=True)]
            for k, col in cols.items()}


def _sweep(grok_epochs=(8000.0, 12000.0, 16000.0)) -> SweepData:
    rng = np.random.default_rng(0)
    series, runs, series_runs = {}, [], {}
    for seed, g in enumerate(grok_epochs):
        label = f"seed {seed}"
        series[label] = _run(seed, g, rng)
        series_runs[label] = f"run{seed}"
        runs.append({"run_id": f"run{seed}", "seed": seed, "lr": 0.5, "optimizer": "momentum",
                     "batch_size": 3763, "weight_decay": 1e-4})
    canonical = {"seeds": list(range(len(grok_epochs))), "train": {"momentum": 0.9}}
    return SweepData(path=Path("x.sqlite"), digest="0", config={
        "canonical": canonical, "factors": [], "name": "g"}, runs=tuple(runs), records=(),
        final_measures=(), sessions=(), seeds={}, timings={}, meta={}, hessian={},
        profiles={}, slq={}, slq_checkpoints={}, series=series, series_runs=series_runs)


@pytest.fixture(scope="module")
def analysis():
    return analyse_checkpoints(_sweep(), n_resamples=200)


def test_grokking_delay_is_read_from_the_first_crossings():
    d = grokking_delay(run_series(_sweep())[0])
    # train ≥ 0.99 first at the checkpoint after 3,000 + 300·ln(0.99/0.01·…) ≈ 4,400
    train = 0.01 + 0.99 * _sigmoid(3000, 300)
    assert d.memorized == int(EPOCHS[np.argmax(train >= 0.99)])
    test = 0.01 + 0.98 * _sigmoid(8000, 400)
    assert d.generalized == int(EPOCHS[np.argmax(test >= 0.9)])
    assert d.delay == d.generalized - d.memorized and d.groks
    assert d.test_at_memorized < 0.05
    # η·λ_max / 2(1 + β) with η = 0.5, β = 0.9, λ_max ≤ 2: at most 1/3.8
    assert d.eos_ratio_max == pytest.approx(0.5 * 2.0 / 3.8) and d.eos_checkpoints == 0


def test_a_run_whose_test_accuracy_rises_with_train_accuracy_does_not_grok():
    d = grokking_delay(run_series(_sweep(grok_epochs=(3000.0,)))[0])
    assert d.memorized is not None and not d.groks


def test_sd_that_is_a_monotone_function_of_the_gap_beats_every_baseline_in_every_run(analysis):
    rows = [d for _, d in analysis.comparisons if d.measure == "sd_slq" and d.target == "gen_gap"]
    assert len(rows) == 3 and all(d.verdict == "held" for d in rows)
    assert analysis.verdicts[("sd_slq", "gen_gap")][0] == "held"
    assert analysis.baselines[0] == "epoch"          # training time is always a baseline
    assert {"top_eigenvalue", "trace", "weight_norm"} <= set(analysis.baselines)


def test_change_point_lag_of_a_measure_that_steps_early_is_negative(analysis):
    lags = {p.label: p for p in analysis.change_points if p.measure == "lambda_1_slq"}
    for seed, g in enumerate((8000.0, 12000.0, 16000.0)):
        p = lags[f"seed {seed}"]
        assert p.epoch == g - 1000                    # the first checkpoint of its step
        assert abs(p.test_epoch - g) <= 200            # middle of the sigmoid rise
        assert p.lag < 0


def test_intra_measure_matrix_is_the_mean_of_per_run_kendall_taus(analysis):
    names = list(analysis.matrix_names)
    i, j = names.index("top_eigenvalue"), names.index("trace")
    assert analysis.matrix[i, j] == pytest.approx(-1.0)   # one rises, one falls, in every run
    assert np.allclose(analysis.matrix, analysis.matrix.T, equal_nan=True)


def test_checkpoints_csv_has_one_row_per_run_and_checkpoint(tmp_path, analysis):
    header, rows = checkpoint_table(analysis.runs)
    assert header[:9] == ["run_id", "seed", "epoch", "train_acc", "test_acc", "train_loss",
                          "test_loss", "gen_gap", "loss_gap"]
    assert {"sd_slq", "trace", "weight_norm"} <= set(header)
    assert len(rows) == 3 * EPOCHS.size
    path = tmp_path / "c.csv"
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    back = list(csv.DictReader(open(path)))
    assert float(back[1]["epoch"]) == 200 and back[0]["run_id"] == "run0"


_TOML = """
name = "ckpt"
task = "mnist1d_mlp"
seeds = [0, 1]
description = "checkpoint report test"
output = "{output}"
[task_options]
n_samples = 200
width = 4
[train]
epochs = 40
optimizer = "momentum"
momentum = 0.9
checkpoints = 5
[grid]
lr = [0.1]
batch_size = [160]
weight_decay = [0.001]
[measures]
final = ["training"]
checkpoint = ["sd_slq", "sd_modal", "hessian", "topology", "norms"]
[measures.density]
n_batches = 2
n_steps = 10
[measures.hessian]
method = "slq"
[measures.topology]
iterates = 20
loss_examples = 100
"""


@pytest.mark.slow  # ~15 s: trains 2 small runs with measures at 5 checkpoints
def test_a_full_batch_checkpoint_sweep_renders_the_checkpoint_analysis(tmp_path):
    import tomllib

    from sharpdim.lab.reports.sweep_report import write_report
    from sharpdim.lab.sweeps.config import parse_config
    from sharpdim.lab.sweeps.sweep import run_sweep

    path = tmp_path / "ckpt" / "sweep.sqlite"
    cfg = parse_config(tomllib.loads(_TOML.format(output=path)), source="test")
    assert run_sweep(cfg, scheduler="inline", progress=False).outcomes == {"finished": 2}
    readme = write_report(path, n_resamples=20)
    text = readme.read_text()
    # the rule is stated before the results it judges; the grid sections are left out
    rule, results = (text.index("## How the checkpoint claims are judged"),
                     text.index("## Across checkpoints: SD against the best baseline"))
    assert rule < results and "## Decisive comparison" not in text
    for section in ("## Grokking and regime, per run", "## Kendall τ across checkpoints",
                    "## Change points against test accuracy"):
        assert section in text
    rows = list(csv.DictReader(open(readme.parent / "checkpoints.csv")))
    assert len(rows) == 2 * 5 and {r["epoch"] for r in rows} == {"0", "10", "20", "30", "40"}
    first = next(r for r in rows if r["epoch"] == "0")
    assert first["sd_modal"] and first["trace"] and first["weight_norm"]
    assert first["e_alpha_euclidean"] == ""        # no iterates before the first step
    later = next(r for r in rows if r["epoch"] == "40")
    assert later["e_alpha_euclidean"] != ""
    assert (readme.parent / "checkpoint_correlation.png").is_file()
