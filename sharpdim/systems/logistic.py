"""The logistic map ``x ↦ r x (1 − x)`` on ``[0, 1]`` and its closed-form exponents.

Derivative ``f'(x) = r (1 − 2x)``. Closed forms (derived symbolically below):

* ``0 < r ≤ 1`` ("extinction"): ``0`` attracts, ``Λ = ln r``;
* ``1 < r ≤ 3`` ("fixed_point"): ``x* = 1 − 1/r`` attracts, ``Λ = ln|f'(x*)| = ln|2 − r|``;
* ``3 < r ≤ 1 + √6`` ("two_cycle"): the 2-cycle ``p± = (r + 1 ± √((r − 3)(r + 1)))/(2r)``
  attracts, ``Λ = ½ ln|f'(p+) f'(p−)| = ½ ln|−r² + 2r + 4|``;
* ``r = 4`` ("chaotic"): invariant density ``1/(π√(x(1 − x)))`` (conjugacy to the tent map by
  ``x = sin²(πθ/2)``), ``Λ = ∫ ln|4(1 − 2x)| ρ(x) dx = ln 2``.

Elsewhere in ``(1 + √6, 4)`` (period doubling, chaos, windows) there is no closed form; the
regime is ``"no_closed_form"`` and the exact oracles return ``None``. At the bifurcation values
the formulas give ``Λ = 0`` (a multiplier of modulus 1), but orbits approach the attractor
only algebraically there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sharpdim import _validate
from sharpdim.dimension import kaplan_yorke_dimension
from sharpdim.systems._common import Deterministic, state, states
from sharpdim.vocabulary import AGGREGATES, Aggregate

__all__ = [
    "Logistic",
    "logistic",
    "logistic_regime",
    "LOGISTIC_REGIME_BOUNDS",
    "logistic_fixed_points_symbolic",
    "logistic_cycle2_symbolic",
    "logistic_cycle2_exponent_symbolic",
    "logistic_r4_exponent_symbolic",
    "LogisticR4Derivation",
]

_R2 = 1.0 + math.sqrt(6.0)

#: ``regime -> (r_low, r_high)``: the regime holds for ``r_low < r ≤ r_high``.
LOGISTIC_REGIME_BOUNDS: dict[str, tuple[float, float]] = {
    "extinction": (0.0, 1.0),
    "fixed_point": (1.0, 3.0),
    "two_cycle": (3.0, _R2),
    "chaotic": (4.0, 4.0),
}


def logistic_regime(r: float) -> str:
    """``"extinction"``, ``"fixed_point"``, ``"two_cycle"``, ``"chaotic"`` (``r = 4`` only) or
    ``"no_closed_form"``; intervals are ``(low, high]`` as in :data:`LOGISTIC_REGIME_BOUNDS`.

    >>> [logistic_regime(r) for r in (0.5, 2.5, 3.2, 3.8, 4.0)]
    ['extinction', 'fixed_point', 'two_cycle', 'no_closed_form', 'chaotic']
    """
    r = _validate.real("r", r, minimum=0.0, maximum=4.0, open_min=True)
    if r == 4.0:
        return "chaotic"
    for name in ("extinction", "fixed_point", "two_cycle"):
        lo, hi = LOGISTIC_REGIME_BOUNDS[name]
        if lo < r <= hi:
            return name
    return "no_closed_form"


@dataclass(frozen=True)
class Logistic(Deterministic):
    """The logistic map on ``[0, 1]`` (``0 < r ≤ 4``); deterministic (noise ``None``).

    Orbits leaving ``[0, 1]`` (only from initial points outside it) run off to ``-inf``.
    """

    r: float
    name: str = "logistic map"

    @property
    def dim(self) -> int:
        return 1

    # ------------------------------------------------------------------ map protocol
    def step(self, x: np.ndarray, noise=None) -> np.ndarray:
        x = state(x, 1)
        return self.r * x * (1.0 - x)

    def jacobian(self, x: np.ndarray, noise=None) -> np.ndarray:
        x = state(x, 1)
        return np.array([[self.r * (1.0 - 2.0 * x[0])]])

    def step_batch(self, xs: np.ndarray, noise=None) -> np.ndarray:
        xs = states(xs, 1)
        return self.r * xs * (1.0 - xs)

    def jacobian_batch(self, xs: np.ndarray, noise=None) -> np.ndarray:
        xs = states(xs, 1)
        return (self.r * (1.0 - 2.0 * xs))[:, :, None]

    def derivative(self, x: float) -> float:
        """``f'(x) = r (1 − 2x)``."""
        return self.r * (1.0 - 2.0 * float(x))

    # ------------------------------------------------------------------ oracles
    @property
    def regime(self) -> str:
        return logistic_regime(self.r)

    @property
    def fixed_points(self) -> np.ndarray:
        """``0`` and ``1 − 1/r`` (the latter lies in ``[0, 1]`` iff ``r ≥ 1``)."""
        return np.array([0.0, 1.0 - 1.0 / self.r])

    @property
    def fixed_point_exponents(self) -> np.ndarray:
        """``ln|f'|`` at the fixed points: ``ln r`` and ``ln|2 − r|``."""
        with np.errstate(divide="ignore"):
            return np.array([math.log(self.r), float(np.log(abs(2.0 - self.r)))])

    def two_cycle(self) -> np.ndarray | None:
        """``(p+, p−)`` for ``r > 3`` (``None`` for ``r ≤ 3``, where it is not real/distinct)."""
        r = self.r
        if r <= 3.0:
            return None
        root = math.sqrt((r - 3.0) * (r + 1.0))
        return np.array([(r + 1.0 + root) / (2.0 * r), (r + 1.0 - root) / (2.0 * r)])

    def two_cycle_exponent(self) -> float | None:
        """``½ ln|−r² + 2r + 4|`` for ``r > 3`` (``None`` otherwise); attracting iff
        ``r < 1 + √6``."""
        if self.r <= 3.0:
            return None
        r = self.r
        with np.errstate(divide="ignore"):
            return 0.5 * float(np.log(abs(-r * r + 2.0 * r + 4.0)))

    @property
    def initial_point(self) -> np.ndarray:
        """A point on the attractor when it is a fixed point or a cycle (so no transient is
        needed), else the generic ``0.3`` (avoiding the preimages ``½, ¼, ¾`` of 0 at r = 4)."""
        regime = self.regime
        if regime == "fixed_point":
            return np.array([1.0 - 1.0 / self.r])
        if regime == "two_cycle":
            return self.two_cycle()[:1].copy()
        if regime == "extinction":
            return np.array([0.0])
        return np.array([0.3])

    def exact_lyapunov_exponents(self) -> np.ndarray | None:
        """The attractor's exponent by regime (see the module docstring), ``None`` without a
        closed form."""
        regime = self.regime
        with np.errstate(divide="ignore"):
            if regime == "extinction":
                value = math.log(self.r)
            elif regime == "fixed_point":
                value = float(np.log(abs(2.0 - self.r)))
            elif regime == "two_cycle":
                value = self.two_cycle_exponent()
            elif regime == "chaotic":
                value = math.log(2.0)
            else:
                return None
        return np.array([value])

    def exact_log_det_mean(self) -> float | None:
        exps = self.exact_lyapunov_exponents()
        return None if exps is None else float(exps[0])

    def exact_sharpness(self, aggregate: Aggregate = "sup") -> np.ndarray | None:
        """One-step sharpness ``sup_{x ∈ A} ln|f'(x)|`` (``"sup"``) or its natural-measure mean
        (``"mean"``, = Λ). Closed form on a fixed point or 2-cycle (sup = larger of the two
        ``ln|f'(p±)|``) and, for ``"mean"``, at ``r = 4``; at ``r = 4`` the sup is ``ln 4``
        (``x = 0`` and ``1`` lie on the attractor ``[0, 1]``)."""
        _validate.choice("aggregate", aggregate, AGGREGATES)
        regime = self.regime
        if aggregate == "mean" or regime in ("extinction", "fixed_point"):
            return self.exact_lyapunov_exponents()
        if regime == "two_cycle":
            p = self.two_cycle()
            with np.errstate(divide="ignore"):
                return np.array([float(np.max(np.log(np.abs(self.r * (1.0 - 2.0 * p)))))])
        if regime == "chaotic":
            return np.array([math.log(4.0)])
        return None

    def lyapunov_dimension(self) -> float | None:
        exps = self.exact_lyapunov_exponents()
        return None if exps is None else kaplan_yorke_dimension(exps)


def logistic(r: float) -> Logistic:
    """The logistic map ``x ↦ r x (1 − x)``, ``0 < r ≤ 4``.

    >>> m = logistic(3.2)
    >>> m.regime, bool(np.isclose(m.exact_lyapunov_exponents()[0],
    ...                           0.5 * np.log(abs(-3.2**2 + 2 * 3.2 + 4)), rtol=1e-15))
    ('two_cycle', True)
    """
    return Logistic(_validate.real("r", r, minimum=0.0, maximum=4.0, open_min=True))


# ---------------------------------------------------------------------- sympy derivations


def logistic_fixed_points_symbolic():
    """Sympy: fixed points of ``f`` and ``f'`` there. Returns ``{x*: f'(x*)}`` (simplified):
    ``{0: r, 1 − 1/r: 2 − r}``."""
    import sympy as sp

    r = sp.Symbol("r", positive=True)
    x = sp.Symbol("x")
    f = r * x * (1 - x)
    return {sp.simplify(p): sp.simplify(sp.diff(f, x).subs(x, p)) for p in sp.solve(f - x, x)}


def logistic_cycle2_symbolic():
    """Sympy: the 2-cycle of ``f``: roots of ``(f(f(x)) − x)/(f(x) − x)`` and the product of
    ``f'`` over them. Returns ``(points, multiplier)`` with ``multiplier`` simplified
    (``= −r² + 2r + 4``)."""
    import sympy as sp

    r, x = sp.symbols("r x", positive=True)
    f = r * x * (1 - x)
    ff = f.subs(x, f)
    period_two = sp.factor(sp.cancel((ff - x) / (f - x)))
    points = sp.solve(period_two, x)
    fprime = sp.diff(f, x)
    multiplier = sp.expand(sp.simplify(fprime.subs(x, points[0]) * fprime.subs(x, points[1])))
    return points, multiplier


def logistic_cycle2_exponent_symbolic():
    """Sympy: ``½ ln|f'(p+) f'(p−)|`` as an expression in ``r``."""
    import sympy as sp

    _, multiplier = logistic_cycle2_symbolic()
    return sp.log(sp.Abs(multiplier)) / 2


@dataclass(frozen=True)
class LogisticR4Derivation:
    """Pieces of the symbolic proof that ``Λ = ln 2`` at ``r = 4`` (all sympy expressions).

    ``invariance_residual``: Perron–Frobenius ``Σ_{f(x)=y} ρ(x)/|f'(x)| − ρ(y)`` (``0``);
    ``derivative_identity_residual``: ``f'(x)² − 16 (1 − f(x))`` (``0``); ``mass``: ``∫ρ``
    (``1``); ``mean_log_x``: ``E_ρ ln x`` (``−ln 4``); ``exponent``: ``ln 4 + ½ E_ρ ln x``.
    """

    invariance_residual: object
    derivative_identity_residual: object
    mass: object
    mean_log_x: object
    exponent: object


def logistic_r4_exponent_symbolic() -> LogisticR4Derivation:
    """Sympy: ``Λ = E_ρ ln|f'(x)| = ln 2`` at ``r = 4``, ``ρ(x) = 1/(π√(x(1 − x)))``.

    1. ``ρ`` is invariant: the preimages of ``y = 1 − u²`` are ``(1 ± u)/2`` with ``|f'| = 4u``,
       and the Perron–Frobenius sum equals ``ρ(y)`` (checked symbolically).
    2. ``f'(x)² = 16 (1 − f(x))``, so ``ln|f'(x)| = ln 4 + ½ ln(1 − f(x))``; by invariance and
       the symmetry ``ρ(x) = ρ(1 − x)``, ``E ln(1 − f(x)) = E ln(1 − x) = E ln x``.
    3. Euler's Beta integral ``∫₀¹ x^{s−½}(1 − x)^{−½} dx = Γ(s + ½)Γ(½)/Γ(s + 1)``; dividing
       by ``π`` gives ``E x^s``; its ``s``-derivative at ``0`` is ``E ln x = −ln 4``.

    Hence ``Λ = ln 4 − ½ ln 4 = ln 2``.
    """
    import sympy as sp

    x, u = sp.symbols("x u", positive=True)
    s = sp.Symbol("s")

    def rho(z):
        return 1 / (sp.pi * sp.sqrt(z * (1 - z)))

    f = 4 * x * (1 - x)
    fprime = sp.diff(f, x)
    preimages = ((1 + u) / 2, (1 - u) / 2)  # 0 < u < 1 parametrizes y = 1 - u² in (0, 1)
    transfer = sum(rho(p) / sp.Abs(fprime.subs(x, p)) for p in preimages)
    invariance = sp.simplify(transfer - rho(1 - u**2))
    identity = sp.simplify(fprime**2 - 16 * (1 - f))
    moment = sp.gamma(s + sp.S.Half) * sp.gamma(sp.S.Half) / sp.gamma(s + 1) / sp.pi
    mass = sp.simplify(moment.subs(s, 0))
    mean_log_x = sp.simplify(sp.diff(moment, s).subs(s, 0))
    exponent = sp.simplify(sp.log(4) + mean_log_x / 2)
    return LogisticR4Derivation(invariance, identity, mass, mean_log_x, exponent)
