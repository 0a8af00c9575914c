"""A new user's first hour: committed files are never overwritten by partial runs, wrong
inputs give one-line errors instead of tracebacks or silently wrong numbers, reports never
write to their inputs, and the help says what the commands do. One test per probe."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import textwrap
import time
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sharpdim import DivergenceError, EstimateOptions, estimate_sharpness, lyapunov_spectrum
from sharpdim.curvature.functional import LossScaleError, check_loss_contract, flat_loss
from sharpdim.dynamics.maps import as_map
from sharpdim.lab.cli import build_parser, main
from sharpdim.lab.reports.provenance import repository_root
from sharpdim.lab.sweeps.degenerate import degenerate_reason
from sharpdim.lab.sweeps.storage import StorageError, SweepStore

ROOT = repository_root()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- committed files are never overwritten --------------------------------------------------

def test_check_with_a_keyword_never_rewrites_the_committed_report(tmp_path, capsys):
    battery = tmp_path / "battery"
    battery.mkdir()
    (battery / "test_one.py").write_text("def test_one():\n    assert True\n")
    committed = ROOT / "reports" / "theory_checks.md"
    before = _digest(committed)
    main(["check", "--battery", str(battery), "-k", "one", "--workers", "0"])
    assert _digest(committed) == before
    assert "report not written: a partial run (-k, --battery)" in capsys.readouterr().err
    out = tmp_path / "partial.md"
    main(["check", "--battery", str(battery), "-k", "one", "--workers", "0",
          "--report", str(out)])
    assert out.read_text().startswith("# Theory checks")


def test_check_run_outside_the_checkout_has_no_default_report(tmp_path, monkeypatch):
    from sharpdim.lab.cli.check import _report_path
    from sharpdim.lab.reports.provenance import checkout_target

    monkeypatch.chdir(tmp_path)
    assert checkout_target("reports/theory_checks.md") is None
    args = build_parser().parse_args(["check"])
    assert _report_path(args) is None
    monkeypatch.chdir(ROOT / "sharpdim")
    assert _report_path(args) == ROOT / "reports" / "theory_checks.md"


def test_quick_bench_never_rewrites_the_committed_benchmarks(tmp_path, capsys):
    committed = ROOT / "reports" / "benchmarks.md"
    before = _digest(committed)
    assert main(["bench", "--quick", "lyapunov"]) == 0
    captured = capsys.readouterr()
    assert _digest(committed) == before
    assert "report not written: a --quick run" in captured.err
    assert "Lyapunov spectrum" in captured.out  # the tables are still printed


def test_version_flag_prints_the_package_version(capsys):
    from sharpdim import __version__

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"sharpdim {__version__}"


# -- the loss contract ------------------------------------------------------------------------

def _regression(n: int = 40, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, generator=g), torch.randn(n, 1, generator=g)


def test_a_sum_loss_is_refused_unless_its_scale_is_stated_and_then_is_divided_by_it():
    X, y = _regression()
    lin = torch.nn.Linear(3, 1)
    sum_loss = lambda o, t: F.mse_loss(o, t, reduction="sum")  # noqa: E731
    with pytest.raises(LossScaleError, match="a mean gives 1, a sum 2.*loss_reduction='sum'"):
        estimate_sharpness(lin, sum_loss, (X, y), lr=0.1, batch_size=8, seed=0, n_batches=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = estimate_sharpness(lin, F.mse_loss, (X, y), lr=0.1, batch_size=8, seed=0,
                                 n_batches=2)
        est_sum = estimate_sharpness(lin, sum_loss, (X, y), lr=0.1, batch_size=8, seed=0,
                                     n_batches=2, options=EstimateOptions(loss_reduction="sum"))
    # Oracle: sum/b is the mean exactly up to rounding (float32 forward: 8-term sums, ≤ 1e-6)
    np.testing.assert_allclose(est_sum.top_eigenvalue, est.top_eigenvalue, rtol=1e-6)
    assert est_sum.dimension == est.dimension


def test_the_loss_scale_ratio_is_one_for_a_mean_and_a_sum_is_an_error_naming_the_fix():
    X, y = (t.double() for t in _regression())
    # float64: the two means differ by the rounding of 8- and 16-term sums, < 16·eps ≈ 4e-15
    f_mean = flat_loss(torch.nn.Linear(3, 1).double(), F.mse_loss)
    assert check_loss_contract(f_mean, X[:8], y[:8]) == pytest.approx(1.0, rel=1e-13)
    sum_loss = lambda o, t: F.mse_loss(o, t, reduction="sum")  # noqa: E731
    f_sum = flat_loss(torch.nn.Linear(3, 1).double(), sum_loss)
    with pytest.raises(LossScaleError, match="a batch taken twice gives 2 times"):
        check_loss_contract(f_sum, X[:8], y[:8])
    f_stated = flat_loss(torch.nn.Linear(3, 1).double(), sum_loss, reduction="sum")
    assert check_loss_contract(f_stated, X[:8], y[:8]) == pytest.approx(1.0, rel=1e-13)


@pytest.mark.parametrize("loss_fn, error, match", [
    (lambda o, t: float(F.mse_loss(o, t).detach()), TypeError, "0-d torch.Tensor.*got float"),
    (lambda o, t: F.mse_loss(o, t).detach(), ValueError, "without gradient history"),
    (lambda o, t: torch.tensor(1.0), ValueError, "without gradient history"),
    (lambda o, t: (o - t) ** 2, ValueError, "0-d tensor, got shape \\(8, 1\\)"),
])
def test_a_loss_that_is_not_a_differentiable_scalar_is_a_one_line_error(loss_fn, error, match):
    X, y = _regression()
    with pytest.raises(error, match=match):
        estimate_sharpness(torch.nn.Linear(3, 1), loss_fn, (X, y), lr=0.1, batch_size=8,
                           seed=0, n_batches=1)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.int64])
def test_a_half_precision_dtype_is_refused_before_any_work(dtype):
    X, y = _regression()
    with pytest.raises(ValueError, match="dtype must be torch.float32 or torch.float64"):
        estimate_sharpness(torch.nn.Linear(3, 1), F.mse_loss, (X, y), lr=0.1, batch_size=8,
                           options=EstimateOptions(dtype=dtype))


def test_a_model_whose_dtype_does_not_fit_the_data_is_a_one_line_error():
    X, y = _regression()
    with pytest.raises(ValueError, match="failed on a batch of 8 examples"):
        estimate_sharpness(torch.nn.Linear(3, 1).half(), F.mse_loss, (X, y), lr=0.1,
                           batch_size=8, seed=0, n_batches=1)


def test_nan_in_the_data_is_caught_up_front_even_outside_every_sampled_minibatch():
    X, y = _regression()
    X[37, 1] = float("nan")
    with pytest.raises(ValueError, match=r"inputs must be finite, got nan at index \(37, 1\)"):
        estimate_sharpness(torch.nn.Linear(3, 1), F.mse_loss, (X, y), lr=0.1, batch_size=2,
                           seed=0, n_batches=1)
    X, y = _regression()
    y[3, 0] = float("inf")
    with pytest.raises(ValueError, match="targets must be finite"):
        estimate_sharpness(torch.nn.Linear(3, 1), F.mse_loss, (X, y), lr=0.1, batch_size=2)


# -- maps -----------------------------------------------------------------------------------

def test_a_step_returning_nan_with_a_finite_jacobian_is_a_divergence():
    A = np.diag([0.5, 2.0])
    nan_map = as_map(lambda x: x * np.nan, lambda x: A, 2)
    with pytest.raises(DivergenceError, match="system.step returned NaN from the finite state"):
        lyapunov_spectrum(nan_map, np.ones(2), 50, rng=0)
    spec = lyapunov_spectrum(nan_map, np.ones(2), 50, rng=0, on_divergence="record")
    assert spec.diverged and spec.steps_completed == 1 and spec.nonfinite_state_step == 1


@pytest.mark.parametrize("jacobian, error, match", [
    (lambda x: np.arange(4.0), ValueError, r"must return a \(2, 2\) array, got shape \(4,\)"),
    (lambda x: np.eye(3), ValueError, r"must return a \(2, 2\) array, got shape \(3, 3\)"),
    (lambda x: [[1.0, 2.0], [3.0]], TypeError, "float64 cannot hold"),
    (lambda x: None, TypeError, "real numbers"),
    (lambda x: np.eye(2) * 1j, TypeError, "complex"),
])
def test_a_wrong_jacobian_is_a_one_line_error_naming_it(jacobian, error, match):
    with pytest.raises(error, match=match):
        lyapunov_spectrum(as_map(lambda x: x, jacobian, 2), np.ones(2), 5, rng=0)


# -- degenerate runs, sweeps and reports ------------------------------------------------------

def test_a_zero_curvature_profile_is_degenerate_and_a_real_one_is_not():
    assert "SD = N = 4" in degenerate_reason({}, profile=np.zeros(4))
    assert degenerate_reason({}, profile=np.array([1e-300, 0.0])) is None
    assert degenerate_reason({"top_eigenvalue": 0.0, "trace": 0.0}) is not None
    assert degenerate_reason({"top_eigenvalue": 0.2, "trace": 0.6}) is None


_DEAD = """
name = "dead"
task = "mnist1d_mlp"
seeds = [0]
output = "{output}"
[task_options]
n_samples = 200
width = 4
[train]
epochs = 3
[grid]
lr = [5.0]
batch_size = [32]
[measures]
final = ["sd_exact", "hessian"]
[measures.exact]
n_batches = 2
"""


@pytest.mark.slow
def test_a_dead_network_is_flagged_and_its_report_leaves_the_sweep_file_untouched(
        tmp_path, capsys):
    sweep = tmp_path / "dead" / "sweep.sqlite"
    config = tmp_path / "dead.toml"
    config.write_text(_DEAD.format(output=sweep))
    assert main(["sweep", str(config), "--scheduler", "inline", "--quiet"]) == 0
    assert "1 finished run(s) are degenerate" in capsys.readouterr().err
    assert not Path(str(sweep) + ".lock").exists()  # the writer removes its lock file
    before = _digest(sweep)
    assert main(["report", str(sweep), "--resamples", "10"]) == 0
    assert _digest(sweep) == before
    assert sorted(p.name for p in sweep.parent.glob("sweep.sqlite*")) == ["sweep.sqlite"]
    readme = (sweep.parent / "README.md").read_text()
    assert "finished but **degenerate**" in readme and "| finished (degenerate) |" in readme
    assert "zero curvature" in (sweep.parent / "results.csv").read_text()


def _tiny_config(tmp_path, lr=(0.05,)) -> Path:
    text = _DEAD.replace("lr = [5.0]", f"lr = {list(lr)}").replace("epochs = 3", "epochs = 1")
    path = tmp_path / "tiny.toml"
    path.write_text(text.format(output=tmp_path / "tiny" / "sweep.sqlite"))
    return path


def test_an_unwritable_output_folder_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    import sharpdim.lab.sweeps.storage as storage

    real_open = storage.os.open

    def denied(path, *args, **kwargs):
        if str(path).endswith(".lock"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(storage.os, "open", denied)
    assert main(["sweep", str(_tiny_config(tmp_path)), "--scheduler", "inline",
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "cannot write the sweep file" in err and "Permission denied" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_an_unreachable_scheduler_fails_fast(tmp_path, capsys):
    start = time.perf_counter()
    status = main(["sweep", str(_tiny_config(tmp_path)), "--scheduler", "tcp://127.0.0.1:9",
                   "--quiet"])
    assert status == 2 and time.perf_counter() - start < 10
    assert "no Dask scheduler answers at tcp://127.0.0.1:9" in capsys.readouterr().err


def test_ctrl_c_keeps_the_finished_runs_and_says_how_to_resume(tmp_path, monkeypatch, capsys):
    import sharpdim.lab.sweeps.sweep as sweep_module
    from sharpdim.lab.sweeps.run import execute_run

    def interrupted(todo, on_result, **kwargs):
        on_result(execute_run(todo[0]))
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep_module, "run_all", interrupted)
    status = main(["sweep", str(_tiny_config(tmp_path, lr=(0.05, 0.1))), "--scheduler",
                   "inline", "--quiet"])
    err = capsys.readouterr().err
    assert status == 130
    assert "interrupted; 1 run kept" in err and "rerun the same command to resume" in err


@pytest.mark.parametrize("content", [b"", b"not a database" * 100, "foreign"])
def test_report_never_writes_to_an_empty_or_foreign_input(tmp_path, content, capsys):
    path = tmp_path / "input.sqlite"
    if content == "foreign":
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE t (x)")
    else:
        path.write_bytes(content)
    before = path.read_bytes()
    assert main(["report", str(path), "--out", str(tmp_path / "out")]) == 2
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["input.sqlite"]
    err = capsys.readouterr().err
    assert "is not" in err and "Traceback" not in err


def test_the_writer_lock_file_is_removed_when_the_writer_closes(tmp_path):
    path = tmp_path / "s.sqlite"
    with SweepStore.open(path):
        assert Path(str(path) + ".lock").exists()
    assert not Path(str(path) + ".lock").exists()
    SweepStore.open(path).close()  # and a stale one left by a killed writer is harmless
    Path(str(path) + ".lock").touch()
    SweepStore.open(path).close()


def test_a_writer_never_converts_a_foreign_database(tmp_path):
    path = tmp_path / "foreign.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
    before = path.read_bytes()
    with pytest.raises(StorageError, match="not a sharpdim sweep file"):
        SweepStore.open(path)
    assert path.read_bytes() == before


# -- estimate and audit errors ----------------------------------------------------------------

@pytest.mark.parametrize("payload", ["garbage", "wrong-shapes", "not-a-dict"])
def test_a_bad_state_dict_is_a_one_line_error(tmp_path, payload, capsys):
    path = tmp_path / "weights.pt"
    if payload == "garbage":
        path.write_bytes(b"not a torch file")
    elif payload == "wrong-shapes":
        torch.save({"net.0.weight": torch.zeros(2, 2)}, path)
    else:
        torch.save([1, 2, 3], path)
    status = main(["estimate", "--task", "mnist1d_mlp", "--option", "n_samples=200",
                   "--state-dict", str(path), "--lr", "0.1", "--batch-size", "8"])
    err = capsys.readouterr().err
    assert status == 2 and "does not fit task 'mnist1d_mlp'" in err
    assert len(err.strip().splitlines()) == 1


def _audit(argv):
    return main(["audit", *argv])


def test_a_syntax_error_in_the_audited_module_is_a_one_line_error(tmp_path, monkeypatch,
                                                                   capsys):
    (tmp_path / "broken_mod.py").write_text("def f(x:\n    return x\n")
    monkeypatch.chdir(tmp_path)
    assert _audit(["broken_mod:f", "--kind", "dimension"]) == 2
    err = capsys.readouterr().err
    assert "cannot import broken_mod: SyntaxError" in err and "line 1" in err


def test_a_corrupt_json_beside_an_audit_report_is_refused_and_left_untouched(tmp_path, capsys):
    report = tmp_path / "audit.md"
    report.with_suffix(".json").write_text("{ not json")
    status = _audit(["sharpdim.testing.adapters.reference", "--kind", "dimension",
                     "--isolation", "inline", "--report", str(report)])
    assert status == 2 and "is not valid JSON" in capsys.readouterr().err
    assert report.with_suffix(".json").read_text() == "{ not json" and not report.exists()


def test_inline_isolation_refuses_a_time_limit(capsys):
    assert _audit(["sharpdim.testing.adapters.reference", "--kind", "dimension",
                   "--isolation", "inline", "--time-limit", "5"]) == 2
    assert "time_limit cannot be enforced with isolation='inline'" in capsys.readouterr().err


def test_unknown_case_names_list_the_valid_ones(capsys):
    assert _audit(["sharpdim.testing.adapters.reference", "--kind", "dimension",
                   "--isolation", "inline", "--case", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown: nope; valid:" in err and "flat-direction" in err


@pytest.mark.parametrize("isolation", ["thread", "process"])
@pytest.mark.parametrize("raised", ["SystemExit", "KeyboardInterrupt"])
def test_system_exit_and_keyboard_interrupt_in_the_estimator_are_named(
        tmp_path, monkeypatch, capsys, isolation, raised):
    name = f"exits_{raised.lower()}_{isolation}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(f"""
        def f(exponents):
            raise {raised}(3) if "{raised}" == "SystemExit" else {raised}()
    """))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    status = _audit([f"{name}:f", "--kind", "dimension", "--isolation", isolation,
                     "--case", "flat-direction", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert status == 1
    (row,) = data["rows"]
    assert f"the estimator raised {raised}" in json.dumps(row)


# -- build metadata and help --------------------------------------------------------------------

def test_the_license_is_an_spdx_string_with_a_backend_that_reads_it():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["license"] == "MIT"  # PEP 639; the table form is deprecated
    assert "setuptools>=77" in meta["build-system"]["requires"]  # first to accept PEP 639


def _subparser(name: str):
    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    return parser, sub.choices[name]


def test_every_flag_of_every_command_has_help():
    parser, _ = _subparser("check")
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    missing = [f"{name} {a.option_strings or a.dest}" for name, p in sub.choices.items()
               for a in p._actions if not a.help and a.dest != "help"]
    assert missing == []


def test_estimate_help_lists_the_tasks_and_report_help_states_its_default():
    from sharpdim.lab.sweeps.tasks import task_names

    estimate_help = _subparser("estimate")[1].format_help()
    assert all(name in estimate_help for name in task_names())
    report_help = " ".join(_subparser("report")[1].format_help().split())
    assert "beside the sweep file" in report_help and "named after the sweep" in report_help
    sweep_help = " ".join(_subparser("sweep")[1].format_help().split())
    assert "relative to the current directory, not to the config file" in sweep_help
