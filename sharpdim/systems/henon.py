"""The Hénon map ``(x, y) ↦ (1 − a x² + y, b x)``.

Jacobian ``[[−2 a x, 1], [b, 0]]`` with ``det J = −b`` at every point, so along any orbit
``Λ_1 + Λ_2 = ln|b|`` exactly (the one exact statement about its exponents). Fixed points
``x* = (−(1 − b) ± √((1 − b)² + 4a)) / (2a)``, ``y* = b x*`` (real iff ``(1 − b)² + 4a ≥ 0``),
with Jacobian eigenvalues ``z = −a x* ± √(a² x*² + b)`` (roots of ``z² + 2 a x* z − b``).

Literature reference (not an exactness oracle): at the classical ``(a, b) = (1.4, 0.3)``,
``Λ ≈ (0.41922, −1.62319)`` and ``D_KY ≈ 1.25827`` — J. C. Sprott, *Chaos and Time-Series
Analysis*, Oxford University Press (2003), Appendix A, "Hénon map"; the values are rounded to
5 decimals (their sum ``−1.20397`` matches ``ln 0.3 = −1.2039728…``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sharpdim import _validate
from sharpdim.systems._common import Deterministic, state, states
from sharpdim.vocabulary import AGGREGATES, Aggregate

__all__ = [
    "Henon",
    "henon",
    "HENON_CLASSICAL",
    "HENON_LITERATURE_EXPONENTS",
    "HENON_LITERATURE_KY_DIMENSION",
    "HENON_LITERATURE_SOURCE",
    "henon_fixed_points_symbolic",
    "henon_jacobian_det_symbolic",
]

HENON_CLASSICAL = (1.4, 0.3)
HENON_LITERATURE_EXPONENTS = (0.41922, -1.62319)
HENON_LITERATURE_KY_DIMENSION = 1.25827
HENON_LITERATURE_SOURCE = (
    "J. C. Sprott, Chaos and Time-Series Analysis, Oxford University Press (2003), "
    "Appendix A (Hénon map, a = 1.4, b = 0.3); values rounded to 5 decimals"
)


@dataclass(frozen=True)
class Henon(Deterministic):
    """The Hénon map with parameters ``a`` and ``b ≠ 0``; deterministic (noise ``None``).

    Orbits outside the basin of the attractor run off to infinity; consumers see non-finite
    states (``lyapunov_spectrum`` stops when the Jacobian becomes non-finite).
    """

    a: float
    b: float
    name: str = "Hénon map"

    @property
    def dim(self) -> int:
        return 2

    def step(self, x: np.ndarray, noise=None) -> np.ndarray:
        u, v = state(x, 2)
        return np.array([1.0 - self.a * u * u + v, self.b * u])

    def jacobian(self, x: np.ndarray, noise=None) -> np.ndarray:
        u = state(x, 2)[0]
        return np.array([[-2.0 * self.a * u, 1.0], [self.b, 0.0]])

    def step_batch(self, xs: np.ndarray, noise=None) -> np.ndarray:
        xs = states(xs, 2)
        u, v = xs[:, 0], xs[:, 1]
        return np.stack([1.0 - self.a * u * u + v, self.b * u], axis=1)

    def jacobian_batch(self, xs: np.ndarray, noise=None) -> np.ndarray:
        u = states(xs, 2)[:, 0]
        jac = np.zeros((u.size, 2, 2))
        jac[:, 0, 0] = -2.0 * self.a * u
        jac[:, 0, 1] = 1.0
        jac[:, 1, 0] = self.b
        return jac

    # ------------------------------------------------------------------ oracles
    def fixed_points(self) -> np.ndarray:
        """``(2, 2)`` array of fixed points ``(x*, b x*)``, the ``+`` root first; ``(0, 2)`` when
        ``(1 − b)² + 4a < 0``. For ``a = 0`` the single fixed point ``(1/(1 − b), b/(1 − b))``."""
        a, b = self.a, self.b
        if a == 0.0:
            if b == 1.0:
                return np.zeros((0, 2))
            x = 1.0 / (1.0 - b)
            return np.array([[x, b * x]])
        disc = (1.0 - b) ** 2 + 4.0 * a
        if disc < 0:
            return np.zeros((0, 2))
        root = math.sqrt(disc)
        # The root without cancellation first, the other one from the product -1/a (Vieta).
        big = (-(1.0 - b) - math.copysign(root, 1.0 - b)) / (2.0 * a)
        small = -1.0 / (a * big)
        xs = sorted([big, small], reverse=True)
        return np.array([[x, b * x] for x in xs])

    def fixed_point_eigenvalues(self) -> np.ndarray:
        """Jacobian eigenvalues ``−a x* ± √(a² x*² + b)`` per fixed point, ``(n, 2)`` complex;
        each pair multiplies to ``−b``."""
        out = []
        for x, _ in self.fixed_points():
            root = np.sqrt(complex(self.a**2 * x * x + self.b))
            out.append([-self.a * x + root, -self.a * x - root])
        return np.array(out, dtype=np.complex128).reshape(-1, 2)

    @property
    def initial_point(self) -> np.ndarray:
        """``(0, 0)``: in the basin of the attractor at the classical parameters; use a
        transient of a few hundred steps."""
        return np.zeros(2)

    def exact_lyapunov_exponents(self) -> None:
        """No closed form for the individual exponents."""
        return None

    def exact_log_det_mean(self) -> float:
        """``ln|det J| = ln|b|`` at every point, hence ``Λ_1 + Λ_2``."""
        return math.log(abs(self.b))

    def exact_sharpness(self, aggregate: Aggregate = "sup") -> None:
        _validate.choice("aggregate", aggregate, AGGREGATES)
        return None

    def lyapunov_dimension(self) -> None:
        return None


def henon(a: float = 1.4, b: float = 0.3) -> Henon:
    """The Hénon map ``(x, y) ↦ (1 − a x² + y, b x)`` (defaults: the classical 1.4, 0.3).

    >>> h = henon(1.4, 0.3)
    >>> np.allclose(h.step(h.fixed_points()[0]), h.fixed_points()[0]), h.exact_log_det_mean()
    (True, -1.2039728043259361)
    """
    a = _validate.real("a", a)
    b = _validate.real("b", b)
    if b == 0.0:
        raise ValueError("b must be nonzero (det J = -b; b = 0 is the 1-D quadratic map), got 0.0")
    return Henon(a, b)


def henon_fixed_points_symbolic():
    """Sympy: ``(fixed points, eigenvalue pairs, det J)`` of the Hénon map, with the fixed
    points from ``solve`` and the eigenvalues of the symbolic Jacobian at each."""
    import sympy as sp

    a, b = sp.symbols("a b", real=True, nonzero=True)
    x, y = sp.symbols("x y")
    f = sp.Matrix([1 - a * x**2 + y, b * x])
    jac = f.jacobian([x, y])
    points = sp.solve(list(f - sp.Matrix([x, y])), [x, y], dict=True)
    eigen = [list(jac.subs(p).eigenvals(multiple=True)) for p in points]
    return points, eigen, sp.simplify(jac.det())


def henon_jacobian_det_symbolic():
    """Sympy: ``det J`` of the Hénon map (``−b``, independent of the point)."""
    return henon_fixed_points_symbolic()[2]
