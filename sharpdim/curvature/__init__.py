"""Curvature of a torch model's loss (layer 4): flat-parameter losses, exact Hessians,
Hessian-vector products and update Jacobians behind one operator base class
(:class:`~sharpdim.curvature.operator.CurvatureOperator`), Lanczos, Hutchinson traces and SLQ
spectral measures.

Arithmetic on spectra (tridiagonal matrices, Ritz values, quadrature weights, traces) is
float64; tensors follow the model's device and dtype unless a ``dtype`` is requested.
"""

from __future__ import annotations

from sharpdim.curvature import update_jacobian as _update_jacobian
from sharpdim.curvature import update_maps as _update_maps
from sharpdim.curvature.functional import (
    FlatLoss,
    ModeFlags,
    NonFiniteError,
    TrainModeWarning,
    batch_fingerprint,
    flat_loss,
)
from sharpdim.curvature.hessian import exact_hessian, exact_hessian_eigenvalues
from sharpdim.curvature.hvp import (
    HVP_METHODS,
    HessianOperator,
    HessianStack,
    MatrixOperator,
    SymmetricOperator,
    hessian_operator,
    hessian_stack,
)
from sharpdim.curvature.lanczos import (
    ExtremeEigenvalues,
    LanczosNotConverged,
    LanczosResult,
    extreme_eigenvalues,
    lanczos,
    lanczos_lockstep,
    lanczos_plain,
)
from sharpdim.curvature.minibatch import Minibatch, minibatch
from sharpdim.curvature.operator import AdjointOperator, CurvatureOperator
from sharpdim.curvature.slq import (
    SLQRuns,
    draw_minibatch,
    slq_run_seeds,
    slq_runs,
    slq_spectral_measure,
)
from sharpdim.curvature.spectral_measure import (
    DensityGrid,
    Histogram,
    SpectralMeasure,
    gd_log_singular_value,
    robust_bandwidth,
    silverman_bandwidth,
    weighted_quantile,
)
from sharpdim.curvature.trace import TraceEstimate, hutch_plus_plus, hutchinson_trace
from sharpdim.curvature.update_jacobian import *  # noqa: F401,F403  (see its __all__)
from sharpdim.curvature.update_maps import *  # noqa: F401,F403  (see its __all__)

__all__ = [
    "FlatLoss",
    "ModeFlags",
    "NonFiniteError",
    "TrainModeWarning",
    "batch_fingerprint",
    "flat_loss",
    "exact_hessian",
    "exact_hessian_eigenvalues",
    "CurvatureOperator",
    "AdjointOperator",
    "HVP_METHODS",
    "HessianOperator",
    "HessianStack",
    "MatrixOperator",
    "SymmetricOperator",
    "hessian_operator",
    "hessian_stack",
    "ExtremeEigenvalues",
    "LanczosNotConverged",
    "LanczosResult",
    "extreme_eigenvalues",
    "lanczos",
    "lanczos_lockstep",
    "lanczos_plain",
    "draw_minibatch",
    "slq_run_seeds",
    "slq_spectral_measure",
    "slq_runs",
    "SLQRuns",
    "Minibatch",
    "minibatch",
    "DensityGrid",
    "Histogram",
    "SpectralMeasure",
    "gd_log_singular_value",
    "silverman_bandwidth",
    "robust_bandwidth",
    "weighted_quantile",
    "TraceEstimate",
    "hutch_plus_plus",
    "hutchinson_trace",
]
__all__ += _update_maps.__all__ + _update_jacobian.__all__
