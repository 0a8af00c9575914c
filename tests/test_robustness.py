"""Robustness of every public function and command against bad input.

Hypothesis generates bad values — NaN, ±inf, huge and tiny numbers, empty and ragged arrays,
wrong shapes, wrong types — one argument at a time, the others valid. The property, for
every entry point: the call either

* raises ``ValueError`` or ``TypeError`` *from sharpdim's own code* (the innermost frame is
  in the package, not inside numpy or torch) whose message names the argument, or
* returns a result whose numbers are finite (``-inf`` only where the contract allows it:
  Lyapunov exponents and RDS sharpness of a zero singular value), and, where the input was
  in fact valid, equal to an independent oracle (never a silently wrong number).

Commands are driven through :func:`sharpdim.lab.cli.main`: bad flags and bad files end with exit
status 2 and a message on stderr, never an exception or a Python traceback.
"""

from __future__ import annotations

import math
import traceback
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sharpdim
from sharpdim import systems
from sharpdim.dynamics.lyapunov import DivergenceError
from sharpdim.lab.stats import granulated_kendall, kendall_tau

PACKAGE = str(Path(sharpdim.__file__).resolve().parent)

# -- bad values ----------------------------------------------------------------------------

_BAD_NUMBERS = [math.nan, math.inf, -math.inf, 0.0, -1.0, -1e-300, 1e308, -1e308, 1e-320,
                np.float64("nan"), 1j, True]
_BAD_OBJECTS = ["x", "", None, object(), {"a": 1}, b"\x00"]


def bad_scalars() -> st.SearchStrategy:
    """A bad value for a scalar argument: non-finite, extreme, zero/negative, or wrong type."""
    return st.one_of(st.sampled_from(_BAD_NUMBERS + _BAD_OBJECTS),
                     st.lists(st.floats(-2, 2), min_size=0, max_size=3))


def bad_arrays(*, max_dims: int = 3) -> st.SearchStrategy:
    """A bad value for an array argument: an array holding NaN/inf/huge entries, an empty or
    ragged or wrongly shaped array, or a value of another type."""
    shapes = st.lists(st.integers(0, 3), min_size=0, max_size=max_dims).map(tuple)
    poisoned = st.tuples(shapes, st.sampled_from([math.nan, math.inf, -math.inf, 1e308])).map(
        lambda sv: np.full(sv[0], sv[1]))
    wrong_shape = shapes.map(lambda s: np.ones(s))
    ragged = st.just([[1.0, 2.0], [3.0]])
    return st.one_of(poisoned, wrong_shape, ragged, st.sampled_from(_BAD_OBJECTS),
                     st.sampled_from([math.nan, "abc", 1j]))


# -- the property ------------------------------------------------------------------------------

def _raised_in_package(exc: BaseException) -> bool:
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and str(Path(frames[-1].filename).resolve()).startswith(PACKAGE)


def _finite(value, *, allow_neg_inf: bool) -> bool:
    if isinstance(value, bool | str) or value is None:
        return True
    if isinstance(value, int | float | np.floating | np.integer):
        v = float(value)
        return math.isfinite(v) or (allow_neg_inf and v == -math.inf)
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "fc":
            return True
        bad = ~np.isfinite(value)
        if allow_neg_inf:
            bad &= ~(value == -np.inf)
        return not bad.any()
    if isinstance(value, torch.Tensor):
        return _finite(value.detach().cpu().double().numpy(), allow_neg_inf=allow_neg_inf)
    return True


def check_clean(fn, *args, names, allow_neg_inf=False, also=(), **kwargs):
    """Call ``fn``; assert the robustness property (module docstring). ``names``: words one
    of which a ``ValueError``/``TypeError`` message must contain (the argument's name);
    ``also``: further documented exception types. Returns the result or ``None``."""
    try:
        result = fn(*args, **kwargs)
    except (ValueError, TypeError) as exc:
        assert _raised_in_package(exc), (
            f"{type(exc).__name__} raised outside sharpdim: {exc}\n"
            + "".join(traceback.format_tb(exc.__traceback__)[-3:]))
        message = str(exc)
        assert any(n in message for n in names), f"message does not name {names}: {message}"
        assert "\n" not in message.strip() or len(message) < 2000
        return None
    except tuple(also):
        return None
    for field in _numbers_of(result):
        assert _finite(field, allow_neg_inf=allow_neg_inf), f"non-finite result {result!r}"
    return result


def _numbers_of(result):
    if hasattr(result, "__dataclass_fields__"):
        return [getattr(result, f) for f in result.__dataclass_fields__]
    if isinstance(result, tuple | list):
        return list(result)
    return [result]


# -- layer 1: dimension functions ------------------------------------------------------------------

def _reference_sd(values) -> float:
    """The SD by its definition (docs/theory.md §2), written independently of the package."""
    lam = sorted((float(v) for v in np.ravel(values)), reverse=True)
    if lam[0] < 0:
        return 0.0
    s, j = 0.0, 0
    partial = []
    for v in lam:
        s += v
        partial.append(s)
    j = max(i for i, p in enumerate(partial) if p >= 0) + 1
    if j == len(lam):
        return float(j)
    return j + partial[j - 1] / abs(lam[j])


@given(values=st.one_of(bad_arrays(max_dims=2),
                        st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=6)))
def test_dimension_functions_reject_bad_spectra_or_agree_with_the_definition(values):
    for fn in (sharpdim.sharpness_dimension, sharpdim.kaplan_yorke_dimension):
        result = check_clean(fn, values, names=("values",))
        if result is not None:
            lam = np.asarray(values, dtype=float)
            assert 0.0 <= result <= lam.size
            if np.isfinite(lam).all() and np.abs(lam).max(initial=0) < 1e300:
                assert result == pytest.approx(_reference_sd(lam), rel=1e-12, abs=1e-12)


@given(weights=bad_arrays(max_dims=2))
def test_sharpness_dimension_rejects_bad_weights(weights):
    check_clean(sharpdim.sharpness_dimension, [0.5, -1.0], weights=weights,
                names=("weights",))


# -- layer 2: dynamics -------------------------------------------------------------------------

_HENON = systems.henon()


@given(x0=bad_arrays())
def test_lyapunov_spectrum_rejects_bad_initial_points(x0):
    check_clean(sharpdim.lyapunov_spectrum, _HENON, x0, 20, rng=0, names=("x0",),
                allow_neg_inf=True, also=(DivergenceError,))


@given(name=st.sampled_from(["n_steps", "transient", "k", "n_batches", "rng",
                             "on_divergence"]),
       value=bad_scalars())
def test_lyapunov_spectrum_rejects_bad_settings(name, value):
    kwargs = {"rng": 0}
    args = [_HENON, np.array([0.1, 0.1]), 20]
    if name == "n_steps":
        args[2] = value
    else:
        kwargs[name] = value
    check_clean(sharpdim.lyapunov_spectrum, *args, names=(name, "rng"), allow_neg_inf=True,
                also=(DivergenceError,), **kwargs)


@given(jac=bad_arrays(), step=bad_arrays())
def test_lyapunov_spectrum_rejects_maps_returning_garbage(jac, step):
    from sharpdim.dynamics.maps import as_map

    bad_jacobian = as_map(lambda x: 0.5 * x, lambda x: jac, 2, name="bad")
    check_clean(sharpdim.lyapunov_spectrum, bad_jacobian, np.ones(2), 5, rng=0,
                names=("jacobian",), allow_neg_inf=True, also=(DivergenceError,))
    bad_step = as_map(lambda x: step, lambda x: 0.5 * np.eye(2), 2, name="bad")
    result = check_clean(sharpdim.lyapunov_spectrum, bad_step, np.ones(2), 5, rng=0,
                         names=("step",), allow_neg_inf=True, also=(DivergenceError,))
    if result is not None:  # a state that only overflowed: exponents of J = I/2 are exact
        np.testing.assert_allclose(result.exponents, np.log([0.5, 0.5]), rtol=1e-12)


@given(points=bad_arrays(), name=st.sampled_from(["n_noise", "rng", "aggregate"]),
       value=bad_scalars())
def test_rds_sharpness_rejects_bad_points_and_settings(points, name, value):
    check_clean(sharpdim.rds_sharpness, _HENON, points, rng=0, names=("points",),
                allow_neg_inf=True)
    check_clean(sharpdim.rds_sharpness, _HENON, np.array([[0.1, 0.1]]),
                names=(name, "rng"), allow_neg_inf=True, **{"rng": 0, name: value})


# -- layer 3: the analytic catalogue -------------------------------------------------------------

_FACTORIES = {
    "quadratic_gd": (systems.quadratic_gd, dict(A=np.diag([1.0, 2.0]), lr=0.1)),
    "least_squares_sgd": (systems.least_squares_sgd,
                          dict(X=np.eye(3), y=np.ones(3), lr=0.1, batch_size=2)),
    "logistic": (systems.logistic, dict(r=3.5)),
    "cubic_loss_gd": (systems.cubic_loss_gd, dict(r=1.0, lr=0.1)),
    "tent": (systems.tent, dict(mu=1.5)),
    "henon": (systems.henon, dict(a=1.4, b=0.3)),
    "heavy_ball_quadratic": (systems.heavy_ball_quadratic,
                             dict(A=np.diag([1.0, 2.0]), lr=0.1, momentum=0.5)),
    "scalar_linear_network": (systems.scalar_linear_network, dict(y=1.0, lr=0.1)),
    "toral_automorphism": (systems.toral_automorphism, dict(matrix=[[2, 1], [1, 1]])),
    "generalized_baker": (systems.generalized_baker,
                          dict(alpha=1 / 3, lambda_a=0.2, lambda_b=0.4)),
}


@given(factory=st.sampled_from(sorted(_FACTORIES)), data=st.data())
def test_every_system_factory_rejects_a_bad_argument_by_name(factory, data):
    fn, valid = _FACTORIES[factory]
    name = data.draw(st.sampled_from(sorted(valid)), label="argument")
    is_array = isinstance(valid[name], np.ndarray | list)
    value = data.draw(bad_arrays() if is_array else bad_scalars(), label="value")
    system = check_clean(fn, **{**valid, name: value}, names=(name,))
    if system is not None:  # accepted: its oracles must be finite where they exist
        for oracle in ("exact_lyapunov_exponents", "exact_log_det_mean"):
            if hasattr(system, oracle):
                check_clean(getattr(system, oracle), names=(name,), allow_neg_inf=True)


# -- statistics ------------------------------------------------------------------------------------

@given(x=bad_arrays(max_dims=2), y=st.lists(st.floats(-5, 5), min_size=0, max_size=4))
def test_kendall_tau_rejects_bad_samples(x, y):
    result = check_clean(kendall_tau, x, y, names=("x", "y"))
    if result is not None:
        assert -1.0 <= result <= 1.0


@given(records=st.one_of(st.sampled_from([None, "x", [], [1, 2], [{"a": 1}]]),
                         st.lists(st.fixed_dictionaries({"m": st.sampled_from(
                             [math.nan, "x", None, 1.0, math.inf]), "g": st.floats(0, 1),
                             "f": st.sampled_from([1, 2])}), max_size=5)),
       measure=st.sampled_from(["m", "", "missing", 3]))
def test_granulated_kendall_rejects_bad_records(records, measure):
    check_clean(granulated_kendall, records, measure, "g", ["f"],
                names=("records", "measure", "factor", "target", "value"))


# -- layer 5: estimate_sharpness -----------------------------------------------------------------

def _problem():
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(12, 3, generator=g), torch.randn(12, 1, generator=g)
    lin = torch.nn.Linear(3, 1)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[0.1, -0.2, 0.3]]))
        lin.bias.fill_(0.05)
    return lin, X, y


_SETTINGS = ["lr", "batch_size", "method", "aggregate", "optimizer", "momentum",
             "weight_decay", "seed", "n_batches", "n_steps", "epsilon", "bandwidth",
             "n_quantiles", "n_bins", "train", "dtype", "jacobian", "betas", "adam_eps"]
# the optimizer's hyperparameters (make_update_map's names) and the EstimateOptions fields
_OPTIMIZER_SETTINGS = {"momentum": "momentum", "weight_decay": "weight_decay",
                       "betas": "betas", "adam_eps": "eps"}
_OPTION_SETTINGS = {"n_steps", "epsilon", "bandwidth", "n_quantiles", "n_bins", "train",
                    "dtype"}


def _estimate_with(model, loss_fn, data, *, name, value, **kwargs):
    """``estimate_sharpness`` with the setting ``name`` set to ``value`` in its channel: a
    hyperparameter of the update map (made here, so that the map's own check is part of the
    call), a field of ``options``, or a keyword of the call."""
    if name in _OPTIMIZER_SETTINGS:
        kwargs["optimizer"] = sharpdim.make_update_map(
            "sgd", lr=kwargs.pop("lr"), **{_OPTIMIZER_SETTINGS[name]: value})
    elif name in _OPTION_SETTINGS:
        kwargs["options"] = sharpdim.EstimateOptions(**{name: value})
    else:
        kwargs[name] = value
    return sharpdim.estimate_sharpness(model, loss_fn, data, **kwargs)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(_SETTINGS), value=bad_scalars())
def test_estimate_sharpness_rejects_a_bad_setting_by_name(name, value):
    lin, X, y = _problem()
    kwargs = dict(lr=0.1, batch_size=4, seed=0, n_batches=2)
    est = check_clean(_estimate_with, lin, F.mse_loss, (X, y), name=name, value=value,
                      **kwargs, names=(name, "betas" if name == "betas" else name),
                      allow_neg_inf=True)
    if est is not None:
        assert 0.0 <= est.dimension <= 4 and math.isfinite(est.lambda_1)


@given(inputs=bad_arrays(), targets=st.sampled_from(["ok", "nan", "short", "str"]))
def test_estimate_sharpness_rejects_bad_data_by_name(inputs, targets):
    lin, X, y = _problem()
    if isinstance(inputs, np.ndarray):
        inputs = torch.as_tensor(inputs, dtype=torch.float32)
    y_bad = {"ok": y, "nan": torch.full_like(y, math.nan), "short": y[:3], "str": "y"}[targets]
    check_clean(sharpdim.estimate_sharpness, lin, F.mse_loss, (inputs, y_bad), lr=0.1,
                batch_size=2, seed=0, n_batches=1,
                names=("inputs", "targets", "data", "batch_size", "loss_fn"),
                allow_neg_inf=True)


@given(model=st.sampled_from([None, "model", torch.nn.ReLU(), lambda x: x]),
       loss_fn=st.sampled_from([None, "mse", F.mse_loss,
                                lambda o, t: float(F.mse_loss(o, t).detach()),
                                lambda o, t: (o - t).detach().pow(2).mean(),
                                lambda o, t: (o - t) ** 2]))
def test_estimate_sharpness_rejects_bad_models_and_losses_by_name(model, loss_fn):
    lin, X, y = _problem()
    model = lin if model is None and loss_fn is not F.mse_loss else model
    check_clean(sharpdim.estimate_sharpness, model, loss_fn, (X, y), lr=0.1, batch_size=2,
                seed=0, n_batches=1, names=("model", "loss_fn", "trainable"),
                allow_neg_inf=True)


# -- commands ----------------------------------------------------------------------------------

_CLI = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def _command(argv, capsys) -> tuple[int, str]:
    from sharpdim.lab.cli import main

    try:
        status = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        status = exc.code
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return status, err


_FLAG_VALUES = st.sampled_from(["nan", "inf", "-1", "0", "1e400", "abc", "", "-0.0",
                                "99999999999999999999"])


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flag=st.sampled_from(["--lr", "--batch-size", "--momentum", "--n-batches",
                             "--n-steps", "--seed", "--model-seed", "--optimizer", "--method",
                             "--aggregate", "--jacobian"]),
       value=_FLAG_VALUES)
def test_estimate_command_turns_bad_flags_into_exit_status_2(flag, value, capsys):
    argv = ["estimate", "--task", "mnist1d_mlp", "--option", "n_samples=200", "--lr", "0.1",
            "--batch-size", "8", "--n-batches", "1", flag, value]
    status, err = _command(argv, capsys)
    assert status in (0, 2), err
    if status == 2:
        assert err.strip()


_TOML_VALUES = st.sampled_from(['"x"', "nan", "inf", "-1", "0", "[]", "[nan]", "{}",
                                '[-0.1]', "1e400", "true"])


@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(["seeds", "task", "name", "output", "train.epochs", "grid.lr",
                            "grid.batch_size", "measures.final", "engine.workers",
                            "task_options.width"]),
       value=_TOML_VALUES)
def test_sweep_command_rejects_a_bad_config_value_by_key(key, value, tmp_path_factory,
                                                         capsys):
    folder = tmp_path_factory.mktemp("cfg")
    table, _, leaf = key.rpartition(".")
    base = {"": {"name": '"r"', "task": '"mnist1d_mlp"', "seeds": "[0]",
                 "output": f'"{folder / "s.sqlite"}"'},
            "task_options": {"n_samples": "200", "width": "4"}, "train": {"epochs": "1"},
            "grid": {"lr": "[0.1]", "batch_size": "[32]"},
            "measures": {"final": '["performance"]'}, "engine": {"workers": "1"}}
    base[table][leaf] = value
    text = "\n".join(f"{k} = {v}" for k, v in base[""].items())
    for t in ("task_options", "train", "grid", "measures", "engine"):
        text += f"\n[{t}]\n" + "\n".join(f"{k} = {v}" for k, v in base[t].items())
    config = folder / "c.toml"
    config.write_text(text + "\n")
    status, err = _command(["sweep", str(config), "--scheduler", "inline", "--quiet"], capsys)
    if status == 2:
        assert leaf in err or key in err or "TOML" in err or "output" in err, err
    else:  # a value that happens to be valid ran the sweep
        assert status == 0, err


@_CLI
@given(content=st.sampled_from([b"", b"\x00" * 100, b"SQLite format 3\x00" + b"\x00" * 84,
                                b"plain text\n"]))
def test_report_and_audit_commands_turn_bad_files_into_exit_status_2(content, tmp_path_factory,
                                                                    capsys):
    folder = tmp_path_factory.mktemp("files")
    path = folder / "x.sqlite"
    path.write_bytes(content)
    status, err = _command(["report", str(path), "--out", str(folder / "out")], capsys)
    assert status == 2 and str(path) in err
    assert path.read_bytes() == content
    status, err = _command(["audit", "sharpdim.testing.adapters.reference", "--kind",
                            "dimension", "--isolation", "thread", "--report",
                            str(folder / "a.md")], capsys) if content else (2, "skipped")
    assert status in (0, 2)


@_CLI
@given(argv=st.sampled_from([
    ["check", "--profile", "slow"], ["check", "--workers", "x"], ["bench", "nope"],
    ["audit", "no_such_mod_xyz:f", "--kind", "dimension"], ["audit", "os:getcwd"],
    ["audit", "sharpdim.testing.adapters.reference", "--kind", "dimension",
     "--isolation", "inline", "--time-limit", "-1"],
    ["report", "/nonexistent/s.sqlite"], ["sweep", "/nonexistent/c.toml"],
    ["estimate", "--task", "no_such_task", "--lr", "0.1", "--batch-size", "1"], [],
]))
def test_every_command_turns_usage_errors_into_exit_status_2(argv, capsys):
    status, err = _command(argv, capsys)
    assert status == 2 and err.strip(), (argv, err)


# Regression: ln|1 - lr·α| formed as log(abs(1 - lr·α)) rounds to 0 once lr·α < 2**-53 (SD
# jumps to N); the one sign-exact ln|1 - p| (sharpdim._numerics) keeps the exponent.
def test_a_tiny_learning_rate_keeps_its_negative_exponents():
    lin, X, y = _problem()
    est = sharpdim.estimate_sharpness(lin, F.mse_loss, (X, y), lr=1e-17, batch_size=4,
                                      seed=0, n_batches=2)
    # Oracle: ln|1 − ηα| = −ηα(1 + O(ηα)); the Hessian 2[X 1]ᵀ[X 1]/b of a 4-example batch
    # with 4 parameters is positive definite, so every λ_k < 0 and SD = 0.
    assert est.lambda_1 < 0 and est.dimension == 0.0
