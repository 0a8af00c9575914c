"""nolds (``lyap_r``, ``lyap_e``, ``corr_dim``) wrapped for the audit kinds
``lyapunov-series`` and ``correlation-dimension``.

Shim (applied when this module is imported, recorded in every report): nolds 0.6.3 loads a
bundled data file at import time with ``importlib.resources.files("nolds.datasets")``, which
Python 3.11 rejects because ``nolds.datasets`` is a module, not a package (3.12 accepts a
module and anchors at its package). The import therefore runs with ``files`` temporarily
resolving that one anchor to the ``nolds`` package directory (the 3.12 behaviour; the global
is restored right after), and ``nolds.datasets`` keeps a private ``resources`` namespace with
the same resolution for its later loaders. Nothing is patched when nolds imports cleanly.

Settings: each function is audited at nolds' defaults and at the settings nolds documents for
maps — ``nolds.examples.plot_lyap`` (the library's own logistic/tent-map example) for
``lyap_r`` and ``lyap_e``; the benchmark list in ``nolds.examples`` ("corr_dim with emb_dim=10,
and fit=poly") for ``corr_dim``, whose ``emb_dim`` has no default. ``lyap_e`` returns
``matrix_dim`` exponents; like nolds' example we audit their maximum. ``fit="RANSAC"`` (the
default) draws from numpy's global generator: each call seeds it with 0 and restores the
caller's state afterwards, so reports regenerate.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import types
from importlib import metadata

import numpy as np

from sharpdim.testing.adapters import AdapterInfo, with_info

__all__ = [
    "SHIMS",
    "AUDITS",
    "lyap_r_defaults",
    "lyap_r_documented",
    "lyap_e_defaults",
    "lyap_e_documented",
    "corr_dim_defaults",
    "corr_dim_documented",
]

_RANSAC_SEED = 0
LYAP_R_DOCUMENTED = {"emb_dim": 6, "lag": 2, "min_tsep": 20, "trajectory_len": 20}
LYAP_E_DOCUMENTED = {"emb_dim": 6, "matrix_dim": 2}
CORR_DIM_DEFAULTS = {"emb_dim": 10}
CORR_DIM_DOCUMENTED = {"emb_dim": 10, "fit": "poly"}

AUDITS = (
    ("lyap_r_defaults", "lyapunov-series", None),
    ("lyap_r_documented", "lyapunov-series", None),
    ("lyap_e_defaults", "lyapunov-series", None),
    ("lyap_e_documented", "lyapunov-series", None),
    ("corr_dim_defaults", "correlation-dimension", None),
    ("corr_dim_documented", "correlation-dimension", None),
)


def _import_nolds() -> tuple[types.ModuleType, tuple[str, ...]]:
    from importlib import resources

    try:
        return importlib.import_module("nolds"), ()
    except ModuleNotFoundError as exc:
        if exc.name == "nolds":
            raise ImportError("the nolds adapter needs nolds: pip install nolds "
                              "(optional extra 'audit')") from exc
        raise
    except TypeError as exc:
        if "is not a package" not in str(exc):
            raise
    for name in [m for m in sys.modules if m == "nolds" or m.startswith("nolds.")]:
        del sys.modules[name]  # drop the half-imported package before retrying
    original = resources.files

    def files(anchor=None):
        name = anchor if isinstance(anchor, str) else getattr(anchor, "__name__", None)
        return original("nolds") if name == "nolds.datasets" else original(anchor)

    resources.files = files
    try:
        module = importlib.import_module("nolds")
    finally:
        resources.files = original
    sys.modules["nolds.datasets"].resources = types.SimpleNamespace(files=files)
    shim = ("nolds.datasets calls importlib.resources.files('nolds.datasets') at import, "
            "which Python 3.11 rejects ('nolds.datasets' is not a package); the import ran "
            "with that anchor resolved to the nolds package directory (Python 3.12 "
            "behaviour) and nolds.datasets keeps that resolution for its later loaders")
    return module, (shim,)


_NOLDS, SHIMS = _import_nolds()
_VERSION = metadata.version("nolds")


def _sklearn_note() -> str:
    try:
        version = metadata.version("scikit-learn")
    except metadata.PackageNotFoundError:
        return ("fit='RANSAC' needs scikit-learn, which is not installed: nolds falls back "
                "to fit='poly' with a warning")
    return (f"fit='RANSAC' uses scikit-learn {version}; its random draws come from numpy's "
            f"global generator, seeded with {_RANSAC_SEED} per call and restored afterwards")


@contextlib.contextmanager
def _seeded_global_numpy(seed: int):
    # nolds' RANSAC (sklearn, random_state=None) reads numpy's legacy global generator, which
    # no Generator argument can reach: seed it for the call, then give the caller its state.
    state = np.random.get_state()  # noqa: NPY002
    np.random.seed(seed)  # noqa: NPY002
    try:
        yield
    finally:
        np.random.set_state(state)  # noqa: NPY002


def _call(name: str, series, settings: dict):
    with _seeded_global_numpy(_RANSAC_SEED):
        return getattr(_NOLDS, name)(np.asarray(series, dtype=np.float64), **settings)


def _info(name: str, label: str, settings: dict, source: str, extra=()) -> AdapterInfo:
    notes = (_sklearn_note(), *extra) if settings.get("fit", "RANSAC") == "RANSAC" \
        else tuple(extra)
    return AdapterInfo(library="nolds", version=_VERSION, function=f"nolds.{name}",
                       label=label, settings=dict(settings), settings_source=source,
                       shims=SHIMS, notes=notes)


_MAX_NOTE = ("lyap_e returns matrix_dim exponents; the adapter returns their maximum, as "
             "nolds.examples.plot_lyap does")


@with_info(_info("lyap_r", "nolds.lyap_r — defaults", {}, "nolds defaults"))
def lyap_r_defaults(series) -> float:
    return float(_call("lyap_r", series, {}))


@with_info(_info("lyap_r", "nolds.lyap_r — documented map settings", LYAP_R_DOCUMENTED,
                 "nolds.examples.plot_lyap"))
def lyap_r_documented(series) -> float:
    return float(_call("lyap_r", series, LYAP_R_DOCUMENTED))


@with_info(_info("lyap_e", "nolds.lyap_e — defaults", {}, "nolds defaults", (_MAX_NOTE,)))
def lyap_e_defaults(series) -> float:
    return float(np.max(_call("lyap_e", series, {})))


@with_info(_info("lyap_e", "nolds.lyap_e — documented map settings", LYAP_E_DOCUMENTED,
                 "nolds.examples.plot_lyap", (_MAX_NOTE,)))
def lyap_e_documented(series) -> float:
    return float(np.max(_call("lyap_e", series, LYAP_E_DOCUMENTED)))


@with_info(_info("corr_dim", "nolds.corr_dim — defaults (emb_dim = 10)", CORR_DIM_DEFAULTS,
                 "nolds defaults; emb_dim has no default, 10 as in nolds' benchmark"))
def corr_dim_defaults(series) -> float:
    return float(_call("corr_dim", series, CORR_DIM_DEFAULTS))


@with_info(_info("corr_dim", "nolds.corr_dim — documented settings", CORR_DIM_DOCUMENTED,
                 "nolds.examples benchmark list ('corr_dim with emb_dim=10, and fit=poly')"))
def corr_dim_documented(series) -> float:
    return float(_call("corr_dim", series, CORR_DIM_DOCUMENTED))
