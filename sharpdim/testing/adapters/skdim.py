"""scikit-dimension (``skdim.id.CorrInt``, ``TwoNN``, ``MLE``) wrapped for the audit kind
``correlation-dimension``.

scikit-dimension estimates the dimension of a point cloud ``X`` of shape ``(n, d)``; the kind
hands over a scalar series, so the adapter delay-embeds it first: rows
``(x_t, x_{t+1}, x_{t+2}, x_{t+3})`` (embedding dimension 4, lag 1 — the setting of sharpdim's
own reference estimator, > 2·D₂ for every oracle below 2 and ≥ D₂ + 1 otherwise), then calls
``fit(X).dimension_`` at the library's defaults.

* ``CorrInt(k1=10, k2=20)`` — Grassberger–Procaccia's correlation integral, with the two radii
  taken from mean 10th and 20th nearest-neighbour distances: the correlation dimension ``D₂``
  proper.
* ``TwoNN`` and ``MLE`` (Levina–Bickel, ``K = 20``) estimate an intrinsic dimension from
  nearest-neighbour distance ratios. On the oracle measures (Lebesgue on an interval or a torus,
  the uniform Cantor measure, a finite orbit) every Rényi dimension coincides (``D₀ = D₁ = D₂``),
  so these estimators have the same target; they are audited as the other dimension estimators
  a user of this library reaches for.

No estimator here draws random numbers.
"""

from __future__ import annotations

import importlib
import warnings
from importlib import metadata

import numpy as np

from sharpdim.testing.adapters import AdapterInfo, with_info

__all__ = ["AUDITS", "corrint_defaults", "twonn_defaults", "mle_defaults", "EMBEDDING"]

EMBEDDING = 4

AUDITS = (
    ("corrint_defaults", "correlation-dimension", None),
    ("twonn_defaults", "correlation-dimension", None),
    ("mle_defaults", "correlation-dimension", None),
)


def _load():
    try:
        return importlib.import_module("skdim")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("skdim"):
            raise ImportError("the scikit-dimension adapter needs scikit-dimension: pip "
                              "install scikit-dimension (optional extra 'audit')") from exc
        raise


_SKDIM = _load()
_VERSION = metadata.version("scikit-dimension")
_EMBED_NOTE = (f"the series is delay-embedded first (dimension {EMBEDDING}, lag 1), as "
               "sharpdim's reference estimator does: scikit-dimension takes point clouds")


def _embed(series) -> np.ndarray:
    x = np.asarray(series, dtype=np.float64).reshape(-1)
    return np.lib.stride_tricks.sliding_window_view(x, EMBEDDING).copy()


def _fit(name: str, series) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(getattr(_SKDIM.id, name)().fit(_embed(series)).dimension_)


def _info(name: str, label: str) -> AdapterInfo:
    return AdapterInfo(library="scikit-dimension", version=_VERSION,
                       function=f"skdim.id.{name}().fit(X).dimension_", label=label,
                       settings={"embedding": EMBEDDING, "lag": 1},
                       settings_source="scikit-dimension defaults; embedding by the adapter",
                       notes=(_EMBED_NOTE,))


@with_info(_info("CorrInt", "scikit-dimension CorrInt — defaults"))
def corrint_defaults(series) -> float:
    return _fit("CorrInt", series)


@with_info(_info("TwoNN", "scikit-dimension TwoNN — defaults"))
def twonn_defaults(series) -> float:
    return _fit("TwoNN", series)


@with_info(_info("MLE", "scikit-dimension MLE — defaults"))
def mle_defaults(series) -> float:
    return _fit("MLE", series)
