"""Estimators of the sharpness dimension for torch models (layer 5).

``estimate_sharpness`` (exact / SLQ / KDE / PS; mean or sup over attractor points; the GD
Jacobian ``I − ηH`` or the optimizer's true step Jacobian) returns a ``SharpnessEstimate``.
``training_map`` turns a model's training step into a random map (map protocol), so the
dynamics layer's Lyapunov spectra run along the network's own trajectory.
"""

from __future__ import annotations

from sharpdim.estimators.conditioning import Conditioning
from sharpdim.estimators.cost import CostPlan
from sharpdim.estimators.estimate import JACOBIANS, METHODS, CostWarning, estimate_sharpness
from sharpdim.estimators.options import EstimateOptions
from sharpdim.estimators.result import EstimateDiagnostics, SharpnessEstimate
from sharpdim.estimators.training_map import TrainingMap, training_map

__all__ = [
    "estimate_sharpness",
    "SharpnessEstimate",
    "EstimateDiagnostics",
    "EstimateOptions",
    "Conditioning",
    "CostPlan",
    "CostWarning",
    "METHODS",
    "JACOBIANS",
    "TrainingMap",
    "training_map",
]
