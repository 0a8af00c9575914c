"""Hypothesis strategies for spectra, curvature and (random) maps with known answers.

Public API for third parties, in the style of ``hypothesis.extra.numpy``. Every strategy

* takes keyword-only ``min_*``/``max_*`` bounds and validates them **when it is built** (an
  :class:`InvalidStrategyArgument`, which is both a ``ValueError`` and Hypothesis'
  ``InvalidArgument``, names the argument, the rule and the value);
* **generates parameters, then builds the object**: a symmetric matrix is ``Q diag(α) Qᵀ``
  with ``Q`` from the QR decomposition of a Gaussian matrix, a GD problem in a requested
  regime is built from scaled curvatures ``ηα`` drawn in that regime — nothing is filtered;
* returns plain floats/arrays or a small frozen dataclass carrying the generating parameters
  (the eigenvalues, the basis, the regime), so a test can use them as its oracle.

Shrinking: dimensions shrink toward ``min_dim``, values toward the simplest number in range
(0 or the bound nearest to it), optional features (``-inf`` entries, ties, zero weights,
extra unstable directions, random rotations) shrink away, and a Haar rotation shrinks toward
the one drawn from seed 0.

>>> import numpy as np
>>> from hypothesis import given
>>> @given(symmetric_matrices(max_dim=3))
... def test(s):
...     assert np.allclose(s.matrix, s.matrix.T)
>>> test()

One module per domain, every name importable from this package:
:mod:`~sharpdim.testing.strategies.spectral` (spectra, weighted spectra),
:mod:`~sharpdim.testing.strategies.curvature` (orthogonal and symmetric matrices),
:mod:`~sharpdim.testing.strategies.quadratics` (GD and heavy ball on quadratics),
:mod:`~sharpdim.testing.strategies.maps` (random linear RDS, the logistic map) and
:mod:`~sharpdim.testing.strategies.networks` (scalar and deep linear networks); the argument
checks are in :mod:`~sharpdim.testing.strategies._checks`.
"""

from __future__ import annotations

# every module-level name of the single module this package was, so every old import works
from sharpdim.testing.strategies._checks import (  # noqa: F401 (re-exported)
    InvalidStrategyArgument,
    _as_strategy_error,
    _bounds,
    _check_dims,
    _check_range,
    _choice,
    _fail,
    _flag,
    _integer,
    _real,
)
from sharpdim.testing.strategies.curvature import (  # noqa: F401 (re-exported)
    _BASES,
    SymmetricMatrix,
    _basis_strategy,
    _haar_orthogonal,
    _symmetric_from,
    orthogonal_matrices,
    symmetric_matrices,
)
from sharpdim.testing.strategies.maps import (  # noqa: F401 (re-exported)
    _SQRT6,
    LINEAR_RDS_KINDS,
    LOGISTIC_REGIMES,
    LogisticParameters,
    logistic_parameters,
    random_linear_rds,
)
from sharpdim.testing.strategies.networks import (  # noqa: F401 (re-exported)
    _CYCLE_MAX,
    SCALAR_NETWORK_REGIMES,
    DeepLinearNetworkParameters,
    ScalarNetworkParameters,
    deep_linear_networks,
    scalar_network_parameters,
)
from sharpdim.testing.strategies.quadratics import (  # noqa: F401 (re-exported)
    _VOLUMES,
    GD_REGIMES,
    HeavyBallParameters,
    QuadraticGDParameters,
    _force_contraction,
    _scaled_curvatures,
    heavy_ball_parameters,
    quadratic_losses,
)
from sharpdim.testing.strategies.spectral import (  # noqa: F401 (re-exported)
    _ORDERS,
    WeightedSpectrum,
    _check_resolution,
    _ordered,
    _value_strategy,
    spectra,
    weighted_spectra,
)

__all__ = [
    "InvalidStrategyArgument",
    "WeightedSpectrum",
    "SymmetricMatrix",
    "QuadraticGDParameters",
    "HeavyBallParameters",
    "LogisticParameters",
    "ScalarNetworkParameters",
    "DeepLinearNetworkParameters",
    "spectra",
    "weighted_spectra",
    "orthogonal_matrices",
    "symmetric_matrices",
    "quadratic_losses",
    "heavy_ball_parameters",
    "random_linear_rds",
    "logistic_parameters",
    "scalar_network_parameters",
    "deep_linear_networks",
    "LINEAR_RDS_KINDS",
    "GD_REGIMES",
    "LOGISTIC_REGIMES",
    "SCALAR_NETWORK_REGIMES",
]
