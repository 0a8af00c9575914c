"""GD on the two-parameter linear network ``L(u, v) = ½ (u v − y)²``.

Gradient ``(u v − y)(v, u)``; Hessian ``[[v², 2uv − y], [2uv − y, u²]]``. Facts (derived
symbolically below):

* On the minimum set ``u v = y`` the Hessian has eigenvalues ``0`` (along the set) and
  ``u² + v²``; a minimum is linearly stable under GD iff ``u² + v² < 2/η``, and its exponents
  are ``(0, ln|1 − η(u² + v²)|)``.
* ``u² + v² ≥ 2|y|`` on the set, with equality at the balanced minima ``|u| = |v| = √|y|``:
  the flattest minimum, so GD can converge to a minimum only if ``η|y| < 1``.
* Balanced line ``v = σu`` (``σ = sign y``) is invariant: ``s ↦ s − η s (s² − |y|)``. For
  ``k = η|y| > 1`` it carries the 2-cycle ``s₁² , s₂² = (k + 1 ± √((k − 1)(k + 3))) / (2η)``
  (``s₁ s₂ = 1/η``), born from the balanced minimum at ``k = 1``. The Jacobians along it
  share the eigenvectors ``(1, σ)`` and ``(1, −σ)``, so its exponents are
  ``½ ln|7 − 4k − 2k²|`` (along the line) and ``½ ln|3 − 2k|`` (across it); it attracts iff
  ``1 < k < √5 − 1``.
* Conservation: ``u'² − v'² = (u² − v²)(1 − η² (u v − y)²)`` (GD's version of the balancedness
  invariant of gradient flow).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sharpdim import _validate
from sharpdim.dimension import kaplan_yorke_dimension
from sharpdim.systems._common import Deterministic, descending, log_abs_one_minus, state, states
from sharpdim.vocabulary import AGGREGATES, Aggregate

__all__ = [
    "ScalarLinearNetwork",
    "scalar_linear_network",
    "ScalarNetworkDerivation",
    "scalar_network_symbolic",
]

_CYCLE_STABLE_MAX = math.sqrt(5.0) - 1.0


@dataclass(frozen=True)
class ScalarLinearNetwork(Deterministic):
    """GD with step ``lr`` on ``½ (u v − y)²``; state ``(u, v)``; deterministic."""

    y: float
    lr: float
    name: str = "GD on a scalar linear network"

    @property
    def dim(self) -> int:
        return 2

    @property
    def sign(self) -> float:
        """``σ = sign(y)`` (``+1`` for ``y = 0``): the balanced line is ``v = σu``."""
        return -1.0 if self.y < 0 else 1.0

    @property
    def k(self) -> float:
        """``η|y|``: the dimensionless step that decides every regime."""
        return self.lr * abs(self.y)

    def loss(self, x) -> float:
        u, v = state(x, 2)
        return 0.5 * (u * v - self.y) ** 2

    def gradient(self, x) -> np.ndarray:
        u, v = state(x, 2)
        r = u * v - self.y
        return np.array([r * v, r * u])

    def hessian(self, x) -> np.ndarray:
        u, v = state(x, 2)
        off = 2.0 * u * v - self.y
        return np.array([[v * v, off], [off, u * u]])

    # ------------------------------------------------------------------ map protocol
    def step(self, x: np.ndarray, noise=None) -> np.ndarray:
        u, v = state(x, 2)
        r = u * v - self.y
        return np.array([u - self.lr * r * v, v - self.lr * r * u])

    def jacobian(self, x: np.ndarray, noise=None) -> np.ndarray:
        return np.eye(2) - self.lr * self.hessian(x)

    def step_batch(self, xs: np.ndarray, noise=None) -> np.ndarray:
        xs = states(xs, 2)
        u, v = xs[:, 0], xs[:, 1]
        r = u * v - self.y
        return np.stack([u - self.lr * r * v, v - self.lr * r * u], axis=1)

    def jacobian_batch(self, xs: np.ndarray, noise=None) -> np.ndarray:
        xs = states(xs, 2)
        u, v = xs[:, 0], xs[:, 1]
        off = -self.lr * (2.0 * u * v - self.y)
        jac = np.empty((u.size, 2, 2))
        jac[:, 0, 0] = 1.0 - self.lr * (v * v)  # same rounding as jacobian(): 1 − lr·(v²)
        jac[:, 1, 1] = 1.0 - self.lr * (u * u)
        jac[:, 0, 1] = off
        jac[:, 1, 0] = off
        return jac

    # ------------------------------------------------------------------ oracles
    def minimum(self, u: float) -> np.ndarray:
        """The minimum ``(u, y/u)`` (``u ≠ 0``; for ``y = 0`` also ``(u, 0)``)."""
        u = _validate.real("u", u)
        if u == 0.0:
            raise ValueError("u must be nonzero (the minimum is (u, y/u)), got 0.0")
        return np.array([u, self.y / u])

    def minimum_sharpness(self, u: float) -> float:
        """Top Hessian eigenvalue ``u² + v²`` at the minimum ``(u, y/u)``."""
        m = self.minimum(u)
        return float(m @ m)

    def minimum_exponents(self, u: float) -> np.ndarray:
        """``(0, ln|1 − η(u² + v²)|)`` sorted descending, at the minimum ``(u, y/u)``."""
        p = self.lr * self.minimum_sharpness(u)
        return descending([0.0, float(log_abs_one_minus(p))])

    def is_stable_minimum(self, u: float) -> bool:
        """``η (u² + v²) < 2`` at the minimum ``(u, y/u)``."""
        return bool(self.lr * self.minimum_sharpness(u) < 2.0)

    @property
    def flattest_sharpness(self) -> float:
        """``min over u v = y of u² + v² = 2|y|`` (at the balanced minima)."""
        return 2.0 * abs(self.y)

    @property
    def max_stable_lr(self) -> float:
        """``1/|y|``: a GD-stable minimum exists iff ``lr < 1/|y|`` (``inf`` for ``y = 0``)."""
        return 1.0 / abs(self.y) if self.y != 0 else float("inf")

    @property
    def balanced_minimum(self) -> np.ndarray:
        """``(√|y|, σ√|y|)``."""
        s = math.sqrt(abs(self.y))
        return np.array([s, self.sign * s])

    def balanced_two_cycle(self) -> np.ndarray | None:
        """The 2-cycle on the balanced line, ``[[s₁, σs₁], [s₂, σs₂]]`` with ``s₁ > s₂ > 0``, for
        ``k = η|y| > 1``; ``None`` for ``k ≤ 1`` (it does not exist)."""
        k = self.k
        if k <= 1.0:
            return None
        disc = math.sqrt((k - 1.0) * (k + 3.0))
        big = (k + 1.0 + disc) / (2.0 * self.lr)
        small = 1.0 / (self.lr * self.lr * big)  # s₁² s₂² = 1/η² (Vieta, no cancellation)
        s1, s2 = math.sqrt(big), math.sqrt(small)
        return np.array([[s1, self.sign * s1], [s2, self.sign * s2]])

    def balanced_two_cycle_exponents(self) -> np.ndarray | None:
        """``(½ ln|7 − 4k − 2k²|, ½ ln|3 − 2k|)`` sorted descending, for ``k > 1``."""
        k = self.k
        if k <= 1.0:
            return None
        with np.errstate(divide="ignore"):
            along = 0.5 * float(np.log(abs(7.0 - 4.0 * k - 2.0 * k * k)))
            across = 0.5 * float(np.log(abs(3.0 - 2.0 * k)))
        return descending([along, across])

    @property
    def regime(self) -> str:
        """``"stable_minima"`` (``k < 1``: the balanced minimum attracts), ``"two_cycle"``
        (``1 < k < √5 − 1``: the balanced 2-cycle attracts) or ``"no_closed_form"``."""
        if self.k < 1.0:
            return "stable_minima"
        if 1.0 < self.k < _CYCLE_STABLE_MAX:
            return "two_cycle"
        return "no_closed_form"

    @property
    def initial_point(self) -> np.ndarray:
        """On the attractor the oracles describe: the balanced minimum or the 2-cycle point
        ``s₁``; else ``(1, 0.5)``."""
        regime = self.regime
        if regime == "stable_minima":
            return self.balanced_minimum
        if regime == "two_cycle":
            return self.balanced_two_cycle()[0].copy()
        return np.array([1.0, 0.5])

    def exact_lyapunov_exponents(self) -> np.ndarray | None:
        """Exponents of the attractor through :attr:`initial_point` (``None`` without one)."""
        regime = self.regime
        if regime == "stable_minima":
            if self.y == 0.0:
                return np.zeros(2)  # H = 0 at the origin
            return self.minimum_exponents(self.balanced_minimum[0])
        if regime == "two_cycle":
            return self.balanced_two_cycle_exponents()
        return None

    def exact_log_det_mean(self) -> float | None:
        exps = self.exact_lyapunov_exponents()
        return None if exps is None else float(np.sum(exps))

    def exact_sharpness(self, aggregate: Aggregate = "sup") -> np.ndarray | None:
        """One-step sharpness on the attractor: at a fixed point the exponents; on the 2-cycle
        (symmetric Jacobians with shared eigenvectors) ``sup`` takes, per order, the larger of
        the two points' sorted ``ln|eigenvalue|``, ``mean`` their average."""
        aggregate = _validate.choice("aggregate", aggregate, AGGREGATES)
        regime = self.regime
        if regime == "stable_minima":
            return self.exact_lyapunov_exponents()
        if regime != "two_cycle":
            return None
        logs = []
        for s in self.balanced_two_cycle()[:, 0]:
            with np.errstate(divide="ignore"):
                along = log_abs_one_minus(self.lr * (3.0 * s * s - abs(self.y)))
                across = log_abs_one_minus(self.lr * (abs(self.y) - s * s))
            logs.append(descending([float(along), float(across)]))
        logs = np.array(logs)
        return logs.max(axis=0) if aggregate == "sup" else logs.mean(axis=0)

    def lyapunov_dimension(self) -> float | None:
        exps = self.exact_lyapunov_exponents()
        return None if exps is None else kaplan_yorke_dimension(exps)


def scalar_linear_network(y: float, lr: float) -> ScalarLinearNetwork:
    """GD with step ``lr`` on ``½ (u v − y)²`` (state ``(u, v)``).

    >>> net = scalar_linear_network(1.0, lr=0.5)  # k = 0.5: balanced minimum (1, 1), u² + v² = 2
    >>> net.regime, net.exact_lyapunov_exponents().tolist()  # (0, ln|1 - 0.5·2|) = (0, -inf)
    ('stable_minima', [0.0, -inf])
    """
    return ScalarLinearNetwork(_validate.real("y", y), _validate.positive("lr", lr))


@dataclass(frozen=True)
class ScalarNetworkDerivation:
    """Sympy results for the scalar network (each ``*_residual`` simplifies to 0).

    ``hessian_eigenvalues_on_minima``: eigenvalues of the Hessian at ``(u, y/u)``
    (``{0, u² + y²/u²}``); ``flattest``: ``min_u u² + y²/u²`` (``2y``, ``y > 0``);
    ``cycle_polynomial``: the factor of ``g(g(s)) − s`` that carries the non-antipodal 2-cycle;
    ``cycle_squares``: its roots ``s²``; ``along``/``across``: products of the Jacobian's
    eigenvalues along the cycle in the two eigen-directions, as polynomials in ``k = ηy``;
    ``conservation_residual``: ``u'² − v'² − (u² − v²)(1 − η²(uv − y)²)``.
    """

    hessian_eigenvalues_on_minima: object
    flattest: object
    cycle_polynomial: object
    cycle_squares: object
    along: object
    across: object
    conservation_residual: object


def scalar_network_symbolic() -> ScalarNetworkDerivation:
    """Sympy derivation of the facts in the module docstring (``y > 0``; ``y < 0`` follows by
    ``v ↦ −v``)."""
    import sympy as sp

    u, v, s = sp.symbols("u v s", positive=True)
    y, eta, k = sp.symbols("y eta k", positive=True)
    loss = (u * v - y) ** 2 / 2
    hess = sp.hessian(loss, (u, v))
    on_min = hess.subs(v, y / u)
    eigen = [sp.simplify(e) for e in on_min.eigenvals(multiple=True)]
    sharp = u**2 + (y / u) ** 2
    u_star = [c for c in sp.solve(sp.diff(sharp, u), u) if c.is_positive]
    flattest = sp.simplify(sharp.subs(u, u_star[0]))

    g = s - eta * s * (s**2 - y)  # GD restricted to the balanced line u = v = s
    quotient = sp.factor(sp.cancel((g.subs(s, g) - s) / (g - s)))
    antipodal = eta * s**2 - eta * y - 2  # the s <-> -s cycle, s² = y + 2/η
    quartic = sp.factor(sp.cancel(quotient / antipodal))
    squares = sp.solve(quartic.subs(s, sp.sqrt(sp.Symbol("q", positive=True))),
                       sp.Symbol("q", positive=True))
    jac = sp.eye(2) - eta * hess
    # On u = v = s the Jacobian has eigenvectors (1, 1) and (1, -1) at every point.
    lam_along = sp.simplify((jac * sp.Matrix([1, 1]))[0].subs({u: s, v: s}))
    lam_across = sp.simplify((jac * sp.Matrix([1, -1]))[0].subs({u: s, v: s}))

    def cycle_product(lam):
        prod = sp.Integer(1)
        for q in squares:
            prod *= lam.subs(s, sp.sqrt(q))
        return sp.simplify(sp.expand(prod).subs(y, k / eta))

    r = u * v - y
    u_new, v_new = u - eta * r * v, v - eta * r * u
    conservation = sp.simplify(sp.expand(u_new**2 - v_new**2 - (u**2 - v**2) * (1 - eta**2 * r**2)))
    return ScalarNetworkDerivation(
        eigen, flattest, quartic, squares, cycle_product(lam_along),
        cycle_product(lam_across), conservation,
    )
