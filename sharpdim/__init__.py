"""sharpdim: the sharpness dimension of optimizers seen as random dynamical systems.

The public contract (docs/design.md) is re-exported here; internals stay importable from their
modules. Heavy layers (torch) load lazily, so ``import sharpdim`` stays cheap.
"""

from __future__ import annotations

import importlib

from sharpdim.dimension import kaplan_yorke_dimension, sharpness_dimension

__version__ = "0.1.0"

_LAZY = {
    "lyapunov_spectrum": "sharpdim.dynamics.lyapunov",
    "LyapunovSpectrum": "sharpdim.dynamics.lyapunov",
    "rds_sharpness": "sharpdim.dynamics.sharpness",
    "rds_sharpness_samples": "sharpdim.dynamics.sharpness",
    "DivergenceError": "sharpdim.dynamics.lyapunov",
    "estimate_sharpness": "sharpdim.estimators",
    "SharpnessEstimate": "sharpdim.estimators",
    "EstimateOptions": "sharpdim.estimators",
    "make_update_map": "sharpdim.curvature.update_maps",
    "load_run": "sharpdim.lab.sweeps.load",
    "SharpnessMonitor": "sharpdim.monitor",
}
_SUBMODULES = {"systems", "stats", "testing", "dynamics", "curvature", "estimators", "dimension",
               "vocabulary", "plot", "integrations"}

__all__ = [
    "sharpness_dimension",
    "kaplan_yorke_dimension",
    *_LAZY,
    *sorted(_SUBMODULES),
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        module = importlib.import_module(f"sharpdim.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'sharpdim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
