"""A TOML sweep configuration to a validated :class:`SweepConfig`, every key checked before any
training; every error a :class:`ConfigError` naming the key (:mod:`sharpdim.lab.sweeps.config`)."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sharpdim import _validate
from sharpdim.lab.stats import is_finite_number
from sharpdim.lab.sweeps.config.plan import _option_combos
from sharpdim.lab.sweeps.config.schema import (
    _BOUND,
    _ENGINE,
    _EOS,
    _ESTIMATOR_FIXED,
    _GRID,
    _HESSIAN,
    _MEASURES,
    _TOP,
    _TOPOLOGY,
    _TRAIN,
    FULL_BATCH,
    ConfigError,
    SweepConfig,
)
from sharpdim.lab.sweeps.measures import GROUPS
from sharpdim.lab.sweeps.tasks import get_task
from sharpdim.lab.sweeps.training import OPTIMIZERS, STOP_MODES
from sharpdim.vocabulary import METHODS

__all__ = ["load_config", "parse_config"]


def _fail(key: str, rule: str, value: Any) -> ConfigError:
    return ConfigError(f"{key} {rule}, got {value!r}")


def _table(raw: Mapping[str, Any], key: str, allowed: set[str] | None,
           prefix: str) -> dict[str, Any]:
    """``raw[key]`` as a dict (``{}`` when absent); keys outside ``allowed`` are an error
    (``allowed=None``: checked by the caller)."""
    value = raw.get(key, {})
    if not isinstance(value, Mapping):
        raise _fail(f"{prefix}{key}", "must be a table", value)
    unknown = [] if allowed is None else sorted(set(value) - allowed)
    if unknown:
        raise ConfigError(f"unknown key {prefix}{key}.{unknown[0]}; allowed keys of "
                          f"[{prefix}{key}]: {sorted(allowed)}")
    return dict(value)


def _checked(check: Callable[..., Any], key: str, value: Any, **rule: Any) -> Any:
    """``check(key, value, **rule)`` — a check of :mod:`sharpdim._validate` — with its error
    raised as a :class:`ConfigError`: every error of a configuration is one, naming the key."""
    try:
        return check(key, value, **rule)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _non_empty_list(key: str, v: Any) -> list:
    if not isinstance(v, list):
        raise _fail(key, "must be a list", v)
    if not v:
        raise _fail(key, "must be a non-empty list (an empty grid has no runs)", v)
    if len({json.dumps(x) for x in v}) != len(v):
        raise _fail(key, "must not repeat a value", v)
    return v


def _lrs(key: str, v: Any) -> list[float]:
    for x in _non_empty_list(key, v):
        if not is_finite_number(x) or x <= 0:
            raise _fail(key, "values must be learning rates > 0", x)
    return [float(x) for x in v]


def _optimizer(key: str, v: Any) -> str:
    if v not in OPTIMIZERS:
        raise _fail(key, f"must be one of {list(OPTIMIZERS)}", v)
    return v


def _required(raw: Mapping[str, Any], key: str, prefix: str = "") -> Any:
    if key not in raw:
        raise ConfigError(f"missing required key {prefix}{key}")
    return raw[key]


def _train(raw: Mapping[str, Any]) -> dict[str, Any]:
    t = _table(raw, "train", _TRAIN, "")
    epochs = _checked(_validate.integer, "train.epochs", _required(t, "epochs", "train."),
                      minimum=1)
    momentum = t.get("momentum", 0.9)
    if not is_finite_number(momentum) or not 0 <= momentum < 1:
        raise _fail("train.momentum", "must be in [0, 1)", momentum)
    wd = t.get("weight_decay", 0.0)
    if not is_finite_number(wd) or wd < 0:
        raise _fail("train.weight_decay", "must be >= 0", wd)
    betas = t.get("betas", [0.9, 0.999])
    if (not isinstance(betas, list) or len(betas) != 2
            or not all(is_finite_number(b) and 0 <= b < 1 for b in betas)):
        raise _fail("train.betas", "must be a pair of numbers in [0, 1)", betas)
    div = t.get("divergence_loss", 1e4)
    if not is_finite_number(div) or div <= 0:
        raise _fail("train.divergence_loss", "must be > 0", div)
    checkpoints = t.get("checkpoints", 0)
    _checked(_validate.integer, "train.checkpoints", checkpoints, minimum=0)
    epochs_at = sorted({round(x) for x in _linspace(0, epochs, checkpoints)})
    stop = t.get("stop", "epochs")
    if stop not in STOP_MODES:
        raise _fail("train.stop", f"must be one of {list(STOP_MODES)}", stop)
    target = t.get("target_loss", 0.01)
    if not is_finite_number(target) or target <= 0:
        raise _fail("train.target_loss", "must be > 0", target)
    max_steps = t.get("max_steps")
    if max_steps is not None:
        _checked(_validate.integer, "train.max_steps", max_steps, minimum=1)
    keep = t.get("checkpoint_weights", True)
    if not isinstance(keep, bool):
        raise _fail("train.checkpoint_weights", "must be true or false", keep)
    # entered only when off, so the run ids of sweeps made before the option do not change
    off = {} if keep else {"checkpoint_weights": False}
    return {**off, "epochs": epochs, "stop": stop, "target_loss": float(target),
            "max_steps": max_steps, "optimizer": _optimizer("train.optimizer",
                                                      t.get("optimizer", "sgd")),
            "momentum": float(momentum), "weight_decay": float(wd),
            "betas": [float(b) for b in betas], "divergence_loss": float(div),
            "checkpoint_epochs": epochs_at}


def _linspace(a: float, b: float, n: int) -> list[float]:
    if n == 0:
        return []
    if n == 1:
        return [b]
    return [a + (b - a) * i / (n - 1) for i in range(n)]


def _grid(raw: Mapping[str, Any], train: Mapping[str, Any]) -> dict[str, Any]:
    g = _table(raw, "grid", _GRID, "")
    optimizers = [_optimizer("grid.optimizer", o)
                  for o in _non_empty_list("grid.optimizer", g["optimizer"])] \
        if "optimizer" in g else [train["optimizer"]]
    if "lr_by_optimizer" in g:
        if "lr" in g:
            raise ConfigError("give grid.lr or grid.lr_by_optimizer, not both")
        table = g["lr_by_optimizer"]
        if not isinstance(table, Mapping):
            raise _fail("grid.lr_by_optimizer", "must be a table {optimizer = [lr, ...]}", table)
        missing = [o for o in optimizers if o not in table]
        if missing:
            raise ConfigError(f"missing required key grid.lr_by_optimizer.{missing[0]}")
        extra = sorted(set(table) - set(optimizers))
        if extra:
            raise ConfigError(f"unknown key grid.lr_by_optimizer.{extra[0]} (not in the "
                              f"grid's optimizers {optimizers})")
        lr = {o: _lrs(f"grid.lr_by_optimizer.{o}", table[o]) for o in optimizers}
    else:
        values = _lrs("grid.lr", _required(g, "lr", "grid."))
        lr = {o: values for o in optimizers}
    per_optimizer_wd = None
    if "weight_decay_by_optimizer" in g:
        if "weight_decay" in g:
            raise ConfigError("give grid.weight_decay or grid.weight_decay_by_optimizer, not "
                              "both")
        table = g["weight_decay_by_optimizer"]
        if not isinstance(table, Mapping):
            raise _fail("grid.weight_decay_by_optimizer", "must be a table {optimizer = "
                        "[weight_decay, ...]}", table)
        missing = [o for o in optimizers if o not in table]
        if missing:
            raise ConfigError(f"missing required key grid.weight_decay_by_optimizer."
                              f"{missing[0]}")
        extra = sorted(set(table) - set(optimizers))
        if extra:
            raise ConfigError(f"unknown key grid.weight_decay_by_optimizer.{extra[0]} (not in "
                              f"the grid's optimizers {optimizers})")
        per_optimizer_wd = {}
        for o in optimizers:
            key = f"grid.weight_decay_by_optimizer.{o}"
            for w in _non_empty_list(key, table[o]):
                if not is_finite_number(w) or w < 0:
                    raise _fail(key, "values must be >= 0", w)
            per_optimizer_wd[o] = [float(w) for w in table[o]]
    bs = _non_empty_list("grid.batch_size", _required(g, "batch_size", "grid."))
    for b in bs:
        if b != FULL_BATCH and (isinstance(b, bool) or not isinstance(b, int) or b < 1):
            raise _fail("grid.batch_size", f"values must be positive integers or "
                        f"{FULL_BATCH!r}", b)
    wds = g.get("weight_decay", [train["weight_decay"]])
    if per_optimizer_wd is None:
        for w in _non_empty_list("grid.weight_decay", wds):
            if not is_finite_number(w) or w < 0:
                raise _fail("grid.weight_decay", "values must be >= 0", w)
    if "momentum" in optimizers and not 0 < train["momentum"] < 1:
        raise _fail("train.momentum", "must be in (0, 1) when optimizer 'momentum' is used",
                    train["momentum"])
    grid_options = _table(g, "task_options", None, "grid.")
    for key, values in grid_options.items():
        _non_empty_list(f"grid.task_options.{key}", values)
    out = {"lr": lr, "batch_size": bs,
           # a list shared by every optimizer (the form every earlier sweep file stores)
           "weight_decay": (per_optimizer_wd if per_optimizer_wd is not None
                            else [float(w) for w in wds]),
           "optimizer": optimizers}
    if grid_options:
        out["task_options"] = {k: list(v) for k, v in grid_options.items()}
    return out


def _estimator_options(key: str, table: Mapping[str, Any], extra: set[str]) -> dict[str, Any]:
    try:
        from sharpdim.estimators.options import OPTION_NAMES
    except ImportError:  # estimators not installed: options are checked when measured
        return dict(table)
    # the call's n_batches and every EstimateOptions field, less what the sweep sets itself
    allowed = ({"n_batches", *OPTION_NAMES} - _ESTIMATOR_FIXED) | extra
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"unknown key measures.{key}.{unknown[0]}; allowed: {sorted(allowed)}")
    return dict(table)


def _measures(raw: Mapping[str, Any]) -> dict[str, Any]:
    m = _table(raw, "measures", _MEASURES, "")
    out: dict[str, Any] = {}
    for key in ("final", "checkpoint"):
        default = ["sd_exact", "hessian"] if key == "final" else []
        groups = m.get(key, default)
        if not isinstance(groups, list):
            raise _fail(f"measures.{key}", "must be a list of measure groups", groups)
        for g in groups:
            if g not in GROUPS:
                raise _fail(f"measures.{key}", f"entries must be measure groups {list(GROUPS)}",
                            g)
        out[key] = list(groups)
    out["exact_max_params"] = _checked(_validate.integer, "measures.exact_max_params",
                                       m.get("exact_max_params", 5000), minimum=1)
    for key, extra in (("exact", set()), ("density", set()), ("update", {"method"})):
        out[key] = _estimator_options(key, _table(m, key, None, "measures."), extra)
    if out["update"].get("method", "exact") not in METHODS:
        raise _fail("measures.update.method", "must be exact, slq, kde or ps",
                    out["update"]["method"])
    out["sup"] = _estimator_options("sup", {"n_points": 5, **_table(m, "sup", None,
                                                                     "measures.")},
                                    {"n_points"})
    _checked(_validate.integer, "measures.sup.n_points", out["sup"]["n_points"], minimum=1)
    hess = _table(m, "hessian", _HESSIAN, "measures.")
    if hess.get("method", "auto") not in ("auto", "exact", "lanczos", "slq"):
        raise _fail("measures.hessian.method", "must be auto, exact, lanczos or slq",
                    hess["method"])
    for k in ("n_examples", "n_steps", "trace_samples"):
        if k in hess:
            _checked(_validate.integer, f"measures.hessian.{k}", hess[k], minimum=1)
    out["hessian"] = hess
    topo = {"iterates": 0, "alpha": 1.0, "n_sizes": 8, "loss_examples": 1000,
            **_table(m, "topology", _TOPOLOGY, "measures.")}
    _checked(_validate.integer, "measures.topology.iterates", topo["iterates"], minimum=0)
    if not is_finite_number(topo["alpha"]) or topo["alpha"] <= 0:
        raise _fail("measures.topology.alpha", "must be > 0", topo["alpha"])
    _checked(_validate.integer, "measures.topology.loss_examples", topo["loss_examples"],
             minimum=1)
    _checked(_validate.integer, "measures.topology.n_sizes", topo["n_sizes"], minimum=2)
    uses_traj = {"topology", "sd_sup"} & set(out["final"] + out["checkpoint"])
    if uses_traj and topo["iterates"] < 20:
        raise _fail("measures.topology.iterates", f"must be >= 20 for {sorted(uses_traj)}",
                    topo["iterates"])
    out["topology"] = topo
    fixed = _estimator_options("fixed_batch", _table(m, "fixed_batch", None, "measures."),
                               {"batch_size", "method"})
    if "batch_size" in fixed:
        _checked(_validate.integer, "measures.fixed_batch.batch_size", fixed["batch_size"],
                 minimum=1)
    elif "sd_fixed_batch" in out["final"] + out["checkpoint"]:
        raise ConfigError("missing required key measures.fixed_batch.batch_size (the one "
                          "Hessian batch size of sd_fixed_batch for every run)")
    if fixed.get("method", "exact") not in METHODS:
        raise _fail("measures.fixed_batch.method", "must be exact, slq, kde or ps",
                    fixed["method"])
    out["fixed_batch"] = fixed
    eos = _table(m, "eos", _EOS, "measures.")
    for k in (_EOS - {"method"}) & set(eos):
        _checked(_validate.integer, f"measures.eos.{k}", eos[k], minimum=1)
    if eos.get("method", "auto") not in ("auto", "exact", "lanczos"):
        raise _fail("measures.eos.method", "must be auto, exact or lanczos", eos["method"])
    out["eos"] = eos
    bound = _table(m, "bound", _BOUND, "measures.")
    for k in _BOUND & set(bound):
        _checked(_validate.integer, f"measures.bound.{k}", bound[k], minimum=1)
    if "bound" in out["final"] and topo["iterates"] < 1:
        raise _fail("measures.topology.iterates", "must be >= 1 for the bound group (its "
                    "iterates are the last ones kept)", topo["iterates"])
    out["bound"] = bound
    exact_runs = m.get("exact_runs", [])
    if not isinstance(exact_runs, list) or not all(
            isinstance(t, list) and len(t) == 3 and is_finite_number(t[0])
            and not isinstance(t[1], bool) and isinstance(t[1], int)
            and not isinstance(t[2], bool) and isinstance(t[2], int) for t in exact_runs):
        raise _fail("measures.exact_runs", "must be a list of [lr, batch_size, seed] triples",
                    exact_runs)
    out["exact_runs"] = [[float(t[0]), t[1], t[2]] for t in exact_runs]
    return out


def parse_config(
    raw: Mapping[str, Any], *, source: str = "<mapping>", text: str = ""
) -> SweepConfig:
    """Validate a parsed TOML mapping (see the module docstring); raises :class:`ConfigError`."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"config must be a table, got {type(raw).__name__}")
    raw = dict(raw)
    if "task" in raw and isinstance(raw["task"], Mapping):
        raise ConfigError("task must be the task name (a string); put task options in a "
                          "[task_options] table")
    unknown = sorted(set(raw) - _TOP)
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]}; allowed top-level keys: {sorted(_TOP)}")
    name = _required(raw, "name")
    if (not isinstance(name, str) or not name
            or not name.replace("_", "").replace("-", "").isalnum()):
        raise _fail("name", "must be a non-empty string of letters, digits, '_' and '-'", name)
    task_name = _required(raw, "task")
    try:
        task = get_task(task_name)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    seeds = _non_empty_list("seeds", _required(raw, "seeds"))
    for s in seeds:
        _checked(_validate.integer, "seeds values", s, minimum=0)
    options_raw = raw.get("task_options", {})
    if not isinstance(options_raw, Mapping):
        raise _fail("task_options", "must be a table", options_raw)
    try:
        options = task.options(options_raw)
    except ValueError as exc:
        raise ConfigError(str(exc).replace("task.", "task_options.")) from None
    train = _train(raw)
    grid = _grid(raw, train)
    for key, values in grid.get("task_options", {}).items():
        if key in options_raw:
            raise ConfigError(f"task option {key} is given both in [task_options] and in "
                              "[grid.task_options]; keep one")
        try:
            grid["task_options"][key] = [task.options({key: v})[key] for v in values]
        except ValueError as exc:
            raise ConfigError(str(exc).replace("task.", "grid.task_options.")) from None
    measures = _measures(raw)
    engine = _table(raw, "engine", _ENGINE, "")
    if "workers" in engine:
        _checked(_validate.integer, "engine.workers", engine["workers"], minimum=1)
    try:
        sizes = []
        for combo in _option_combos(grid):
            data = task.dataset({**options, **combo})
            sizes.append(data.n_train)
        task.model(options, 0)
    except ValueError as exc:
        raise ConfigError(f"task_options: {exc}") from None
    data_n = min(sizes)
    for lr, bs, seed in measures["exact_runs"]:
        if (not any(lr in v for v in grid["lr"].values()) or bs not in grid["batch_size"]
                or seed not in seeds):
            raise _fail("measures.exact_runs", "entries must be [lr, batch_size, seed] of the "
                        "grid", [lr, bs, seed])
    too_big = [b for b in grid["batch_size"] if b != FULL_BATCH and b > data_n]
    if too_big:
        raise _fail("grid.batch_size", f"values must be <= the {data_n} training "
                    "examples", too_big[0])
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise _fail("description", "must be a string", description)
    output = raw.get("output", f"reports/{name}/sweep.sqlite")
    if not isinstance(output, str) or not output:
        raise _fail("output", "must be a path string", output)
    return SweepConfig(name=name, task=task_name, seeds=tuple(seeds), description=description,
                       output=output, task_options=options, train=train, grid=grid,
                       measures=measures, engine=engine, source=source, text=text)


def load_config(path: str | Path) -> SweepConfig:
    """Read and validate a TOML sweep configuration."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    return parse_config(raw, source=str(path), text=text)
