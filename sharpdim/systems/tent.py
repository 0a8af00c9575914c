"""The tent map ``x ↦ μ min(x, 1 − x)`` on ``[0, 1]``: ``|T'| = μ`` everywhere, so ``Λ = ln μ``.

For ``1 < μ ≤ 2`` the attractor is the interval ``[μ(1 − μ/2), μ/2]`` (two bands for
``μ < √2``) and every orbit on it has exponent ``ln μ`` (also the topological entropy); for
``μ ≤ 1`` the attractor is the fixed point ``0`` with the same exponent ``ln μ``. At the kink
``x = ½`` the derivative is taken from the right (``−μ``); only the sign is conventional.

Floating point: at ``μ = 2`` each step shifts out one bit, so float64 orbits reach the fixed
point ``0`` within about 55 steps. The exponent is unaffected (``|T'| = 2`` there too), but
statistics of the orbit itself (box counting, invariant density) are meaningless at ``μ = 2``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sharpdim import _validate
from sharpdim.dimension import kaplan_yorke_dimension
from sharpdim.systems._common import Deterministic, state, states
from sharpdim.vocabulary import AGGREGATES, Aggregate

__all__ = ["Tent", "tent"]


@dataclass(frozen=True)
class Tent(Deterministic):
    """The tent map with slope ``mu`` (``0 < mu ≤ 2``); deterministic (noise ``None``)."""

    mu: float
    name: str = "tent map"

    @property
    def dim(self) -> int:
        return 1

    def step(self, x: np.ndarray, noise=None) -> np.ndarray:
        x = state(x, 1)
        return self.mu * np.minimum(x, 1.0 - x)

    def jacobian(self, x: np.ndarray, noise=None) -> np.ndarray:
        x = state(x, 1)
        return np.array([[self.mu if x[0] < 0.5 else -self.mu]])

    def step_batch(self, xs: np.ndarray, noise=None) -> np.ndarray:
        xs = states(xs, 1)
        return self.mu * np.minimum(xs, 1.0 - xs)

    def jacobian_batch(self, xs: np.ndarray, noise=None) -> np.ndarray:
        xs = states(xs, 1)
        return np.where(xs < 0.5, self.mu, -self.mu)[:, :, None]

    # ------------------------------------------------------------------ oracles
    @property
    def fixed_points(self) -> np.ndarray:
        """``0`` and ``μ/(1 + μ)`` (the latter on the decreasing branch, for ``μ > 1``)."""
        return np.array([0.0, self.mu / (1.0 + self.mu)])

    @property
    def attractor_interval(self) -> tuple[float, float]:
        """``[T(μ/2), μ/2] = [μ − μ²/2, μ/2]`` for ``μ > 1``; ``(0, 0)`` for ``μ ≤ 1``."""
        if self.mu <= 1.0:
            return (0.0, 0.0)
        return (self.mu - self.mu**2 / 2.0, self.mu / 2.0)

    @property
    def initial_point(self) -> np.ndarray:
        """A generic point (``1/√5``) inside the attractor's basin ``(0, 1)``."""
        return np.array([1.0 / math.sqrt(5.0)])

    def exact_lyapunov_exponents(self) -> np.ndarray:
        return np.array([math.log(self.mu)])

    def exact_log_det_mean(self) -> float:
        return math.log(self.mu)

    def exact_sharpness(self, aggregate: Aggregate = "sup") -> np.ndarray:
        """``ln μ`` for both aggregates (``|T'|`` is constant)."""
        _validate.choice("aggregate", aggregate, AGGREGATES)
        return self.exact_lyapunov_exponents()

    def lyapunov_dimension(self) -> float:
        return kaplan_yorke_dimension(self.exact_lyapunov_exponents())


def tent(mu: float) -> Tent:
    """The tent map ``x ↦ mu·min(x, 1 − x)``, ``0 < mu ≤ 2``.

    >>> t = tent(2.0)
    >>> t.exact_lyapunov_exponents().tolist() == [np.log(2.0)], t.attractor_interval
    (True, (0.0, 1.0))
    """
    return Tent(_validate.real("mu", mu, minimum=0.0, maximum=2.0, open_min=True))
