"""Gradient descent on a cubic loss is the logistic map: period doubling as edge of stability.

With ``L(x) = ((1 − r) x²/2 + r x³/3) / η`` one GD step is

    x − η L'(x) = x − (1 − r) x − r x² = r x (1 − x),

the logistic map itself (the change of variables is the identity). The minimizer is
``x* = 1 − 1/r`` (for ``r > 1``) with curvature ``L''(x*) = (r − 1)/η``, so ``η L''(x*) > 2``
⇔ ``r > 3``: the fixed point loses stability exactly at the edge of stability, and the
logistic period-doubling cascade is GD beyond it. The exponent there is
``ln|1 − η L''(x*)| = ln|2 − r|``.

For a general cubic ``L(w) = a w²/2 + c w³/3`` (``c ≠ 0``, ``1 − ηa ≠ 0``), GD
``w ↦ (1 − ηa) w − ηc w²`` is conjugate to the logistic map with ``r = 1 − ηa`` by the linear
change ``x = ηc w / (1 − ηa)``; :func:`cubic_loss_logistic_conjugacy_symbolic` checks both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sharpdim import _validate
from sharpdim.systems._common import Deterministic, state, states
from sharpdim.systems.logistic import Logistic, logistic
from sharpdim.vocabulary import Aggregate

__all__ = [
    "CubicLossGD",
    "cubic_loss_gd",
    "CubicConjugacy",
    "cubic_loss_logistic_conjugacy_symbolic",
]


@dataclass(frozen=True)
class CubicLossGD(Deterministic):
    """GD with step ``lr`` on ``L(x) = ((1 − r) x²/2 + r x³/3) / lr``; deterministic.

    ``step`` literally computes ``x − lr·L'(x)`` (not ``r x (1 − x)``), so comparing it with
    :class:`~sharpdim.systems.logistic.Logistic` tests the identity in floating point too.
    """

    r: float
    lr: float
    name: str = "GD on a cubic loss"

    @property
    def dim(self) -> int:
        return 1

    def loss(self, x: float) -> float:
        x = float(x)
        return ((1.0 - self.r) * x * x / 2.0 + self.r * x**3 / 3.0) / self.lr

    def gradient(self, x):
        """``L'(x) = ((1 − r) x + r x²) / lr`` (elementwise)."""
        return ((1.0 - self.r) * x + self.r * x * x) / self.lr

    def curvature(self, x):
        """``L''(x) = ((1 − r) + 2 r x) / lr`` (elementwise)."""
        return ((1.0 - self.r) + 2.0 * self.r * x) / self.lr

    # ------------------------------------------------------------------ map protocol
    def step(self, x: np.ndarray, noise=None) -> np.ndarray:
        x = state(x, 1)
        return x - self.lr * self.gradient(x)

    def jacobian(self, x: np.ndarray, noise=None) -> np.ndarray:
        x = state(x, 1)
        return np.array([[1.0 - self.lr * self.curvature(x[0])]])

    def step_batch(self, xs: np.ndarray, noise=None) -> np.ndarray:
        xs = states(xs, 1)
        return xs - self.lr * self.gradient(xs)

    def jacobian_batch(self, xs: np.ndarray, noise=None) -> np.ndarray:
        xs = states(xs, 1)
        return (1.0 - self.lr * self.curvature(xs))[:, :, None]

    # ------------------------------------------------------------------ oracles
    def as_logistic(self) -> Logistic:
        """The identical logistic map ``x ↦ r x (1 − x)``."""
        return logistic(self.r)

    @property
    def minimizer(self) -> float | None:
        """``1 − 1/r`` for ``r > 1`` (a local minimum: ``L'' = (r − 1)/lr > 0``), else ``None``
        (for ``r ≤ 1`` the critical point ``0`` is the local minimum of a loss that is
        unbounded below; the fixed point ``1 − 1/r`` is then a maximum)."""
        return 1.0 - 1.0 / self.r if self.r > 1.0 else None

    @property
    def minimizer_sharpness(self) -> float | None:
        """``L''(x*) = (r − 1)/lr`` (``None`` when there is no interior minimizer)."""
        return (self.r - 1.0) / self.lr if self.r > 1.0 else None

    @property
    def edge_of_stability(self) -> bool | None:
        """``lr·L''(x*) > 2`` ⇔ ``r > 3`` (``None`` when there is no interior minimizer)."""
        return None if self.r <= 1.0 else bool(self.r > 3.0)

    @property
    def initial_point(self) -> np.ndarray:
        return self.as_logistic().initial_point

    def exact_lyapunov_exponents(self) -> np.ndarray | None:
        return self.as_logistic().exact_lyapunov_exponents()

    def exact_log_det_mean(self) -> float | None:
        return self.as_logistic().exact_log_det_mean()

    def exact_sharpness(self, aggregate: Aggregate = "sup") -> np.ndarray | None:
        return self.as_logistic().exact_sharpness(aggregate)

    def lyapunov_dimension(self) -> float | None:
        return self.as_logistic().lyapunov_dimension()


def cubic_loss_gd(r: float, lr: float) -> CubicLossGD:
    """GD on ``((1 − r) x²/2 + r x³/3) / lr``: the logistic map with parameter ``r`` (0 < r ≤ 4).

    >>> gd = cubic_loss_gd(3.2, lr=0.1)
    >>> round(gd.minimizer_sharpness * gd.lr, 12), gd.edge_of_stability  # lr·L''(x*) = r − 1
    (2.2, True)
    """
    r = _validate.real("r", r, minimum=0.0, maximum=4.0, open_min=True)
    return CubicLossGD(r, _validate.positive("lr", lr))


@dataclass(frozen=True)
class CubicConjugacy:
    """Symbolic residuals (sympy expressions, each simplifying to ``0``).

    ``identity_residual``: ``(x − η L'(x)) − r x (1 − x)`` for the normalized loss.
    ``conjugacy_residual``: ``h(g(w)) − F(h(w))`` for the general cubic, with
    ``g(w) = w − η(a w + c w²)``, ``h(w) = ηc w/(1 − ηa)``, ``F(x) = R x (1 − x)``,
    ``R = 1 − ηa`` (``parameter``).
    """

    identity_residual: object
    conjugacy_residual: object
    parameter: object


def cubic_loss_logistic_conjugacy_symbolic() -> CubicConjugacy:
    """Sympy: GD on a cubic loss equals / is affinely conjugate to the logistic map.

    >>> c = cubic_loss_logistic_conjugacy_symbolic()
    >>> c.identity_residual, c.conjugacy_residual, c.parameter
    (0, 0, -a*eta + 1)
    """
    import sympy as sp

    x, w, r, eta, a, c = sp.symbols("x w r eta a c", real=True)
    loss = ((1 - r) * x**2 / 2 + r * x**3 / 3) / eta
    identity = sp.simplify(x - eta * sp.diff(loss, x) - r * x * (1 - x))
    general = a * w**2 / 2 + c * w**3 / 3
    g = w - eta * sp.diff(general, w)
    big_r = 1 - eta * a

    def h(z):
        return eta * c * z / big_r

    conjugacy = sp.simplify(h(g) - big_r * h(w) * (1 - h(w)))
    return CubicConjugacy(identity, conjugacy, big_r)
