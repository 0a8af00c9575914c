"""neurokit2 ``complexity_lyapunov`` (each of its methods) wrapped for the audit kind
``lyapunov-series``.

``complexity_lyapunov(signal, delay=1, dimension=2, method=..., separation="auto")`` returns
``(lle, info)``; ``lle`` is per sample (there is no sampling-rate argument: neurokit2 fits
the log-divergence against the sample index). Methods:

* ``rosenstein1993`` — Rosenstein et al.'s nearest-neighbour divergence, a line fitted over
  ``len_trajectory = 20`` steps (defaults);
* ``makowski`` — the same with a KD-tree and the fit stopped at the change point where the
  divergence flattens (defaults);
* ``eckmann1986`` — tangent maps fitted in the embedding; returns ``matrix_dim = 4``
  exponents, whose maximum the adapter returns (as for nolds' ``lyap_e``). At the defaults
  (``dimension = 2 < matrix_dim``) it is audited as called; a second entry uses
  ``dimension = 4``, following the docstring ("larger values for dimension are recommended")
  and the smallest value for which ``matrix_dim = 4`` exponents exist. neurokit2's docstring
  warns that this method "currently does not work".

``separation="auto"`` sets the minimum temporal separation of neighbours from the mean
frequency of the series' power spectrum (Rosenstein's rule). No method draws random numbers.
"""

from __future__ import annotations

import importlib
import warnings
from importlib import metadata

import numpy as np

from sharpdim.testing.adapters import AdapterInfo, with_info

__all__ = ["AUDITS", "rosenstein_defaults", "makowski_defaults", "eckmann_defaults",
           "eckmann_dimension4"]

AUDITS = (
    ("rosenstein_defaults", "lyapunov-series", None),
    ("makowski_defaults", "lyapunov-series", None),
    ("eckmann_defaults", "lyapunov-series", None),
    ("eckmann_dimension4", "lyapunov-series", None),
)

ECKMANN_DIMENSION4 = {"method": "eckmann1986", "dimension": 4}


def _load():
    try:
        return importlib.import_module("neurokit2")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("neurokit2"):
            raise ImportError("the neurokit2 adapter needs neurokit2: pip install neurokit2 "
                              "(optional extra 'audit')") from exc
        raise


_NK = _load()
_VERSION = metadata.version("neurokit2")
_MAX_NOTE = ("eckmann1986 returns matrix_dim exponents; the adapter returns their maximum "
             "(the largest exponent the kind asks for)")


def _info(label: str, settings: dict, source: str, extra=()) -> AdapterInfo:
    return AdapterInfo(library="neurokit2", version=_VERSION,
                       function="neurokit2.complexity_lyapunov", label=label,
                       settings=dict(settings), settings_source=source, notes=tuple(extra))


def _call(series, settings: dict) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # neurokit2 warns about its own heuristics
        lle, _ = _NK.complexity_lyapunov(np.asarray(series, dtype=np.float64), **settings)
    return np.atleast_1d(np.asarray(lle, dtype=np.float64))


@with_info(_info("neurokit2 complexity_lyapunov — rosenstein1993, defaults",
                 {"method": "rosenstein1993"}, "neurokit2 defaults"))
def rosenstein_defaults(series) -> float:
    return float(_call(series, {"method": "rosenstein1993"})[0])


@with_info(_info("neurokit2 complexity_lyapunov — makowski, defaults",
                 {"method": "makowski"}, "neurokit2 defaults"))
def makowski_defaults(series) -> float:
    return float(_call(series, {"method": "makowski"})[0])


@with_info(_info("neurokit2 complexity_lyapunov — eckmann1986, defaults",
                 {"method": "eckmann1986"}, "neurokit2 defaults", (_MAX_NOTE,)))
def eckmann_defaults(series) -> float:
    return float(np.max(_call(series, {"method": "eckmann1986"})))


@with_info(_info("neurokit2 complexity_lyapunov — eckmann1986, dimension 4",
                 ECKMANN_DIMENSION4, "neurokit2 docstring: larger dimension recommended for "
                 "eckmann1986; 4 = its default matrix_dim", (_MAX_NOTE,)))
def eckmann_dimension4(series) -> float:
    return float(np.max(_call(series, ECKMANN_DIMENSION4)))
