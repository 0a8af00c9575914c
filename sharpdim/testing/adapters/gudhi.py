"""GUDHI (``gudhi.RipsComplex``) wrapped for the audit kind ``persistence-h0``.

``RipsComplex(points=points).create_simplex_tree(max_dimension=1)`` holds the vertices and
edges of the Vietoris–Rips filtration (all that 0-dimensional persistence needs);
``persistence()`` returns ``(dimension, (birth, death))`` pairs; the adapter returns the finite
deaths of dimension 0, ascending. Defaults otherwise (``max_edge_length=inf``, Euclidean
distances computed by GUDHI in double precision, persistence over Z/2 with
``min_persistence=0``).
"""

from __future__ import annotations

import importlib
from importlib import metadata

import numpy as np

from sharpdim.testing.adapters import AdapterInfo, with_info

__all__ = ["AUDITS", "rips_h0_defaults"]

AUDITS = (("rips_h0_defaults", "persistence-h0", None),)


def _load():
    try:
        return importlib.import_module("gudhi")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("gudhi"):
            raise ImportError("the gudhi adapter needs gudhi: pip install gudhi "
                              "(optional extra 'audit')") from exc
        raise


_GUDHI = _load()
_VERSION = metadata.version("gudhi")


@with_info(AdapterInfo(library="gudhi", version=_VERSION,
                       function="gudhi.RipsComplex(points=...).create_simplex_tree("
                                "max_dimension=1).persistence()",
                       label="GUDHI RipsComplex H0 — defaults", settings={"max_dimension": 1},
                       settings_source="GUDHI defaults (max_dimension=1: edges suffice for H0)",
                       notes=("returns the finite deaths of dimension 0, ascending",)))
def rips_h0_defaults(points) -> np.ndarray:
    complex_ = _GUDHI.RipsComplex(points=np.asarray(points, dtype=np.float64))
    tree = complex_.create_simplex_tree(max_dimension=1)
    pairs = tree.persistence()
    deaths = np.array([d for dim, (_, d) in pairs if dim == 0 and np.isfinite(d)],
                      dtype=np.float64)
    return np.sort(deaths)
