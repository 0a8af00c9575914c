"""The analytic catalogue (layer 3): maps with closed-form oracles.

Every system follows the map protocol of :mod:`sharpdim.dynamics.maps` (``dim``,
``sample_noise``, ``step``, ``jacobian``, plus ``step_batch``/``jacobian_batch``) and carries
its oracles under one vocabulary, shared with :mod:`sharpdim.systems.linear_cocycle`:

* ``exact_lyapunov_exponents()`` — ``Λ`` descending, or ``None`` without a closed form;
* ``exact_log_det_mean()`` — ``E ln|det J|`` on the attractor (= ``Σ Λ_i``), or ``None``;
* ``exact_sharpness(aggregate="sup")`` — one-step RDS sharpness ``λ_k`` (``"sup"``: the
  definition, sup over the attractor then mean over noise; ``"mean"``: mean over the natural
  measure), or ``None``;
* ``initial_point`` — a state on (or in the basin of) the attractor those oracles describe;
* ``name`` — a human-readable label.

System-specific oracles (fixed points, cycles, thresholds, regimes) and the sympy derivations
(``*_symbolic()``) live in each module. :func:`catalogue` lists every system at famous
parameters.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import numpy as np

from sharpdim.systems.classical import (
    DoublingMap,
    GeneralizedBaker,
    ToralAutomorphism,
    cat_map,
    doubling_map,
    generalized_baker,
    toral_automorphism,
)
from sharpdim.systems.cubic_loss import CubicLossGD, cubic_loss_gd
from sharpdim.systems.heavy_ball import HeavyBallQuadratic, heavy_ball_quadratic
from sharpdim.systems.henon import Henon, henon
from sharpdim.systems.least_squares import (
    LeastSquaresSGD,
    commuting_least_squares_sgd,
    least_squares_sgd,
)
from sharpdim.systems.logistic import LOGISTIC_REGIME_BOUNDS, Logistic, logistic, logistic_regime
from sharpdim.systems.quadratic import QuadraticGD, quadratic_gd
from sharpdim.systems.scalar_network import ScalarLinearNetwork, scalar_linear_network
from sharpdim.systems.tent import Tent, tent

__all__ = [
    "CatalogueEntry",
    "catalogue",
    # factories
    "quadratic_gd",
    "least_squares_sgd",
    "commuting_least_squares_sgd",
    "logistic",
    "logistic_regime",
    "LOGISTIC_REGIME_BOUNDS",
    "cubic_loss_gd",
    "tent",
    "henon",
    "heavy_ball_quadratic",
    "scalar_linear_network",
    "cat_map",
    "toral_automorphism",
    "doubling_map",
    "generalized_baker",
    # classes
    "QuadraticGD",
    "LeastSquaresSGD",
    "Logistic",
    "CubicLossGD",
    "Tent",
    "Henon",
    "HeavyBallQuadratic",
    "ScalarLinearNetwork",
    "ToralAutomorphism",
    "DoublingMap",
    "GeneralizedBaker",
]


class CatalogueEntry(NamedTuple):
    """``(name, factory)``: ``factory()`` builds the system at its famous parameters (a
    ``functools.partial`` where there are parameters, so they can be read off ``.keywords``)."""

    name: str
    factory: Any


def catalogue() -> list[CatalogueEntry]:
    """Every catalogue system at famous / default parameters, as ``(name, factory)`` pairs.

    Each built system has ``exact_log_det_mean()`` (not ``None``); all but ``henon`` and
    ``least_squares_sgd`` (non-commuting minibatch Hessians) also have
    ``exact_lyapunov_exponents()``.

    >>> entries = catalogue()
    >>> all(entry.factory().exact_log_det_mean() is not None for entry in entries)
    True
    """
    return [
        # EoS quadratic: multipliers 1 − α = (−1.5, −0.5, 0.5), SD = 1 + ln1.5/ln2
        CatalogueEntry("quadratic_gd", partial(quadratic_gd, A=np.diag([2.5, 1.5, 0.5]), lr=1.0)),
        CatalogueEntry("least_squares_sgd", partial(
            least_squares_sgd,
            X=np.array([[1.0, 2.0], [0.0, 1.0], [1.0, -1.0], [2.0, 0.5], [-1.0, 1.0]]),
            y=np.zeros(5), lr=0.9, batch_size=2)),
        CatalogueEntry("commuting_least_squares_sgd", partial(
            commuting_least_squares_sgd, scales=[2.0, 1.0, 2.5, 0.5, 1.5, 1.0],
            features=[0, 1, 0, 2, 1, 2], dim=3, lr=0.8, batch_size=2)),
        CatalogueEntry("logistic", partial(logistic, r=4.0)),
        CatalogueEntry("logistic_two_cycle", partial(logistic, r=3.2)),
        CatalogueEntry("logistic_fixed_point", partial(logistic, r=2.5)),
        CatalogueEntry("cubic_loss_gd", partial(cubic_loss_gd, r=3.2, lr=0.1)),
        CatalogueEntry("tent", partial(tent, mu=1.5)),
        CatalogueEntry("henon", partial(henon, a=1.4, b=0.3)),
        CatalogueEntry("heavy_ball_quadratic", partial(
            heavy_ball_quadratic, A=np.diag([4.0, 1.0, 0.25]), lr=1.0, momentum=0.5)),
        CatalogueEntry("scalar_linear_network", partial(scalar_linear_network, y=1.0, lr=0.3)),
        CatalogueEntry("scalar_linear_network_two_cycle",
                       partial(scalar_linear_network, y=1.0, lr=1.1)),
        CatalogueEntry("cat_map", cat_map),
        CatalogueEntry("doubling_map", doubling_map),
        CatalogueEntry("generalized_baker", partial(
            generalized_baker, alpha=1.0 / 3.0, lambda_a=0.2, lambda_b=0.4)),
    ]


# Linear cocycles / random matrix products (sharpdim/systems/linear_cocycle.py).
from sharpdim.systems import linear_cocycle as _linear_cocycle  # noqa: E402
from sharpdim.systems.linear_cocycle import *  # noqa: E402,F401,F403  (see its __all__)

__all__ += _linear_cocycle.__all__
