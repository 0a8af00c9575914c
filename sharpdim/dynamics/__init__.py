"""Dynamics layer (numpy): the map protocol, QR Lyapunov spectra, RDS sharpness,
random-attractor samples and fractal dimensions of point clouds (box-counting and correlation
here; the persistent-homology dimension in :mod:`sharpdim.dynamics.topology`, not re-exported
here)."""

from sharpdim.dynamics.attractor import (
    AttractorSnapshot,
    TrajectoryTail,
    pullback_snapshot,
    trajectory_tail,
)
from sharpdim.dynamics.fractal import (
    BoxCountingDimension,
    CorrelationDimension,
    box_counting_dimension,
    correlation_dimension,
)
from sharpdim.dynamics.lyapunov import (
    DivergenceError,
    LyapunovSpectrum,
    lyapunov_spectrum,
    noise_generator,
    resolve_seed,
)
from sharpdim.dynamics.maps import (
    FunctionMap,
    RandomMap,
    as_map,
    jacobian_many,
    step_many,
    validate_map,
)
from sharpdim.dynamics.sharpness import SharpnessSamples, rds_sharpness, rds_sharpness_samples

__all__ = [
    "AttractorSnapshot",
    "BoxCountingDimension",
    "CorrelationDimension",
    "DivergenceError",
    "FunctionMap",
    "LyapunovSpectrum",
    "RandomMap",
    "SharpnessSamples",
    "TrajectoryTail",
    "as_map",
    "box_counting_dimension",
    "correlation_dimension",
    "jacobian_many",
    "lyapunov_spectrum",
    "noise_generator",
    "pullback_snapshot",
    "rds_sharpness",
    "rds_sharpness_samples",
    "resolve_seed",
    "step_many",
    "trajectory_tail",
    "validate_map",
]
