"""The trajectory-Lyapunov report generator runs end to end on a tiny setting."""

from __future__ import annotations

import csv
import dataclasses

import numpy as np
import pytest

from sharpdim.lab.studies import trajectory_lyapunov as tl


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("trajectory_lyapunov")
    assert tl.main([str(out), "--tiny"]) == 0
    return out


@pytest.fixture(scope="module")
def tiny_records():
    return [tl.run_setting(s) for s in tl.TINY_SETTINGS]


def test_generator_writes_results_figure_and_readme_on_a_tiny_setting(tiny_report):
    tmp_path = tiny_report
    rows = list(csv.DictReader(open(tmp_path / "results.csv")))
    assert len(rows) == len(tl.TINY_SETTINGS)
    required = ["run_id", "model", "optimizer", "lr", "batch_size", "n_params", "steps",
                "Lambda_1", "d_ky", "lambda_1", "sd_mean", "sd_sup", "Lambda_1_stderr",
                "d_ky_stderr", "sd_mean_stderr", "sd_sup_stderr"]
    assert list(rows[0])[: len(required) - 4] == required[:-4]
    assert set(required) <= set(rows[0])
    for row in rows:
        assert row["diverged"] == "False"
        # metamorphic: Σ Λ_i = mean ln|det J| (QR recursion vs LU), and D_KY ≤ state dim
        assert float(row["Lambda_sum"]) == pytest.approx(float(row["log_det_mean"]), abs=1e-8)
        assert 0.0 <= float(row["d_ky"]) <= float(row["state_dim"])
        assert 0.0 <= float(row["sd_mean"]) <= float(row["state_dim"])
    text = (tmp_path / "README.md").read_text()
    assert text.index("## Decision rule") < text.index("## Results")
    assert (tmp_path / "dky_vs_sd.png").stat().st_size > 1000
    assert '"commit"' in (tmp_path / "results.json").read_text()


def test_runs_are_reproducible_from_their_seeds(tiny_report, tiny_records):
    rows = list(csv.DictReader(open(tiny_report / "results.csv")))
    for row, record in zip(rows, tiny_records, strict=True):
        assert float(row["d_ky"]) == pytest.approx(record.d_ky, rel=1e-5)
        assert float(row["sd_sup"]) == pytest.approx(record.sd_sup, rel=1e-5)


def test_render_only_rewrites_the_same_table_from_results_json(tiny_report):
    before = (tiny_report / "results.csv").read_text()
    assert tl.main([str(tiny_report), "--render-only"]) == 0
    assert (tiny_report / "results.csv").read_text() == before


def test_a_rerun_keeps_the_hand_written_reading(tmp_path, tiny_records):
    tl.write_outputs(tiny_records, tmp_path, {"commit": "test"})
    readme = tmp_path / "README.md"
    readme.write_text(readme.read_text().replace("*(no reading written yet)*", "my reading"))
    tl.write_outputs(tiny_records, tmp_path, {"commit": "test"})
    assert "my reading" in readme.read_text()


def test_sd_sup_is_never_below_sd_mean_on_the_same_samples(tiny_records):
    record = tiny_records[1]
    sup, mean = np.array(record.sharpness_sup), np.array(record.sharpness_mean)
    assert np.all(sup >= mean - 1e-12)  # sup over points ≥ mean over points, order by order
    assert record.sd_sup >= record.sd_mean - 1e-9  # SD is monotone in every value


def test_a_rerun_on_another_processor_is_compared_run_by_run(tmp_path, tiny_records):
    # oracle: the same records with one run changed by hand (it diverged there)
    there = [dataclasses.replace(tiny_records[0], diverged=True), *tiny_records[1:]]
    tl.write_outputs(there, tmp_path / tl.RERUN,
                     {"commit": "b", "cpu": "CPU B", "cpu_capability": "AVX2"})
    tl.write_outputs(tiny_records, tmp_path, {"commit": "a"})
    text = (tmp_path / "README.md").read_text()
    n = len(tiny_records)
    assert text.index("## The same runs on another processor") < text.index("## Reading")
    assert "Here: the processor was not recorded.\nThere: CPU B, torch kernels AVX2." in text
    assert f"{n - 1} of {n} runs keep all four verdicts" in text
    first = tiny_records[0]
    assert f"| {first.run_id} | {tl._verdicts(first)} | diverged | — | — | — | — |" in text
    assert "another processor" not in (tmp_path / tl.RERUN / "README.md").read_text()


def test_no_rerun_folder_no_comparison_and_an_identical_rerun_changes_nothing(tmp_path,
                                                                            tiny_records):
    tl.write_outputs(tiny_records, tmp_path, {"commit": "a"})
    assert "another processor" not in (tmp_path / "README.md").read_text()
    tl.write_outputs(tiny_records, tmp_path / tl.RERUN, {"commit": "a"})
    tl.write_outputs(tiny_records, tmp_path, {"commit": "a"})
    text = (tmp_path / "README.md").read_text()
    n = len(tiny_records)
    assert f"{n} of {n} runs keep all four verdicts" in text and "No run changed a verdict" in text
    chaotic = sum(tl._is_chaotic(r) for r in tiny_records)
    assert (f"Among the {chaotic} runs chaotic on both, they are 0 in Λ₁" if chaotic else
            "No run was chaotic on both.") in text
