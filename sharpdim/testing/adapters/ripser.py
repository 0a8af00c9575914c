"""ripser.py (``ripser.ripser``) wrapped for the audit kind ``persistence-h0``.

``ripser(points, maxdim=0)["dgms"][0]`` is the 0-dimensional diagram of the Vietoris–Rips
filtration as ``(birth, death)`` rows, one of them ``(0, inf)``; the adapter returns the finite
deaths, ascending. Defaults otherwise (Euclidean metric, no sparsification ``thresh=inf``, no
subsampling). ripser.py builds the distance matrix itself; its C++ core (Bauer's Ripser) stores
filtration values in single precision, which the audit's float64 tolerance sees.
"""

from __future__ import annotations

import importlib
from importlib import metadata

import numpy as np

from sharpdim.testing.adapters import AdapterInfo, with_info

__all__ = ["AUDITS", "h0_defaults"]

AUDITS = (("h0_defaults", "persistence-h0", None),)


def _load():
    try:
        return importlib.import_module("ripser")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("ripser"):
            raise ImportError("the ripser adapter needs ripser: pip install ripser "
                              "(optional extra 'audit')") from exc
        raise


_RIPSER = _load()
_VERSION = metadata.version("ripser")


@with_info(AdapterInfo(library="ripser", version=_VERSION,
                       function="ripser.ripser(points, maxdim=0)['dgms'][0]",
                       label="ripser H0 diagram — defaults", settings={"maxdim": 0},
                       settings_source="ripser defaults (maxdim=0: only H0 is asked for)",
                       notes=("returns the finite deaths of the H0 diagram, ascending",)))
def h0_defaults(points) -> np.ndarray:
    diagram = _RIPSER.ripser(np.asarray(points, dtype=np.float64), maxdim=0)["dgms"][0]
    deaths = np.asarray(diagram[:, 1], dtype=np.float64)
    return np.sort(deaths[np.isfinite(deaths)])
