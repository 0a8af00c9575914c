"""``sharpdim study``: the list, an unknown name, the guard of committed outputs, the dispatch
to each study's own functions, and one real quick run (two tiny trajectory runs)."""

from __future__ import annotations

import pytest

from sharpdim.lab.cli import main
from sharpdim.lab.cli import study as study_cli


def test_list_names_every_study_on_one_line(capsys):
    assert main(["study", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(study_cli.STUDIES)


@pytest.mark.parametrize("argv", [["study", "no_such_study"], ["study"]])
def test_an_unknown_name_is_a_one_line_error_naming_the_choices(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert all(name in err for name in study_cli.STUDIES)


def test_quick_on_a_study_without_a_quick_mode_is_a_usage_error(capsys):
    assert main(["study", "dysts_maps", "--quick"]) == 2
    assert "no quick mode" in capsys.readouterr().err


def test_a_quick_run_never_writes_the_committed_output(monkeypatch, capsys):
    calls = []
    fake = study_cli.Study("s", "reports/trajectory_lyapunov", None, True,
                           lambda target, quick: calls.append((target, quick)) or 0)
    monkeypatch.setitem(study_cli.STUDIES, "trajectory_lyapunov", fake)
    assert main(["study", "trajectory_lyapunov", "--quick"]) == 2
    assert calls == []
    assert "never replaces the committed reports/trajectory_lyapunov" in capsys.readouterr().err


def test_a_run_outside_the_checkout_writes_nothing_by_default(monkeypatch, tmp_path):
    calls = []
    fake = study_cli.Study("s", "reports/audits/dysts_maps.md", "dysts_maps.md", False,
                           lambda target, quick: calls.append(target) or 0)
    monkeypatch.setitem(study_cli.STUDIES, "dysts_maps", fake)
    monkeypatch.chdir(tmp_path)
    assert main(["study", "dysts_maps"]) == 2
    assert calls == []


def test_output_dir_holds_the_study_file_and_each_study_calls_its_own_functions(
        monkeypatch, tmp_path):
    import sharpdim.lab.studies.dysts_maps as dysts_maps
    import sharpdim.lab.studies.estimator_convergence as convergence

    seen = []
    monkeypatch.setattr(dysts_maps, "main", lambda argv: seen.append(("dysts", argv)) or 0)
    monkeypatch.setattr(convergence, "write_synthetic_section", lambda p: seen.append(("syn", p)))
    monkeypatch.setattr(convergence, "write_network_section", lambda p: seen.append(("net", p)))
    assert main(["study", "dysts_maps", "--output", str(tmp_path / "a")]) == 0
    assert main(["study", "estimator_convergence", "--output", str(tmp_path / "b")]) == 0
    assert seen == [("dysts", [str(tmp_path / "a" / "dysts_maps.md")]),
                    ("syn", tmp_path / "b" / "estimator_convergence.md"),
                    ("net", tmp_path / "b" / "estimator_convergence.md")]


def test_the_reorthogonalization_study_prints_its_table_and_writes_only_with_output(
        monkeypatch, tmp_path, capsys):
    import sharpdim.lab.studies.reorthogonalization as reorth

    options = []
    monkeypatch.setattr(reorth, "reorthogonalization_study",
                        lambda **kw: options.append(kw) or [])
    assert main(["study", "reorthogonalization", "--quick"]) == 0
    assert "### Re-orthogonalization" in capsys.readouterr().out
    assert options == [dict(n_runs=4, n_seeds=2, network_seeds=2, network_runs=2,
                            network_steps=10)]
    assert main(["study", "reorthogonalization", "--output", str(tmp_path)]) == 0
    assert options[-1] == {}
    assert (tmp_path / "reorthogonalization.md").read_text().startswith("### Re-orth")


def test_a_quick_trajectory_study_runs_end_to_end_into_output(tmp_path):
    assert main(["study", "trajectory_lyapunov", "--quick", "--output", str(tmp_path)]) == 0
    assert {"results.csv", "results.json", "README.md"} <= {p.name for p in tmp_path.iterdir()}


@pytest.mark.parametrize("old, new, names", [
    ("sharpdim.lab.bench.convergence", "sharpdim.lab.studies.estimator_convergence",
     ("convergence_table", "network_table", "splice_section", "_exact_profiles")),
    ("sharpdim.lab.sweeps.estimator_validation", "sharpdim.lab.studies.estimator_convergence",
     ("NetworkSpec", "NETWORK_SPECS", "network_case", "network_cases")),
    ("sharpdim.lab.sweeps.trajectory_lyapunov", "sharpdim.lab.studies.trajectory_lyapunov",
     ("main", "run_setting", "TINY_SETTINGS", "_grid")),
    ("sharpdim.lab.reports.dysts_maps", "sharpdim.lab.studies.dysts_maps",
     ("write", "render", "main")),
    ("sharpdim.lab.bench.curvature", "sharpdim.lab.studies.reorthogonalization",
     ("reorthogonalization_study",)),
])
def test_the_old_paths_give_the_studies_objects(old, new, names):
    import importlib

    old_module, new_module = importlib.import_module(old), importlib.import_module(new)
    assert all(getattr(old_module, n) is getattr(new_module, n) for n in names)
