"""Classical chaotic maps with exact Lyapunov exponents, for generality beyond optimizers.

* :func:`cat_map` (and any hyperbolic :func:`toral_automorphism`): ``x ↦ M x mod 1`` with a
  constant integer Jacobian ``M``; ``Λ = ln|eigenvalues(M)|``, for Arnold's cat map
  ``M = [[2, 1], [1, 1]]``: ``ln((3 ± √5)/2)``, summing to ``ln|det M| = 0``.
* :func:`doubling_map`: ``x ↦ 2x mod 1``, ``Λ = ln 2``.
* :func:`generalized_baker` (Farmer, Ott & Yorke, "The dimension of chaotic attractors",
  Physica D 7 (1983) 153–180): on the unit square,

      y < α:  (x, y) ↦ (λ_a x,               y / α)
      y ≥ α:  (x, y) ↦ ((1 − λ_b) + λ_b x,   (y − α) / β),     β = 1 − α,

  with ``λ_a + λ_b ≤ 1``. The ``y``-dynamics preserves Lebesgue measure and visits the lower
  strip with frequency ``α``, so ``Λ_1 = −α ln α − β ln β`` and ``Λ_2 = α ln λ_a + β ln λ_b``;
  ``D_KY = 1 + Λ_1/|Λ_2|`` (the information dimension, FOY 1983). One-step sharpness: the
  Jacobian is ``diag(λ_a, 1/α)`` or ``diag(λ_b, 1/β)`` and both strips meet the attractor, so
  ``sup`` gives ``(ln max(1/α, 1/β), ln max(λ_a, λ_b))`` while ``mean`` (natural measure) gives
  ``Λ``: here ``SD > D_KY`` strictly unless ``α = ½`` and ``λ_a = λ_b``.

Floating point: ``2x mod 1`` (and the baker's ``y`` at ``α = ½``) shifts out one bit per step,
so float64 orbits reach ``0`` within ~53 steps. The doubling map's exponent is unaffected
(``|f'| = 2`` everywhere); the baker's map at ``α = ½`` would then sit in one strip forever,
so use a non-dyadic ``α`` (default ``1/3``), whose divisions keep the orbit generic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sharpdim import _validate
from sharpdim.dimension import kaplan_yorke_dimension, sharpness_dimension
from sharpdim.systems._common import (
    Deterministic,
    descending,
    finite_array,
    readonly,
    state,
    states,
)
from sharpdim.vocabulary import AGGREGATES, Aggregate

__all__ = [
    "ToralAutomorphism",
    "toral_automorphism",
    "cat_map",
    "DoublingMap",
    "doubling_map",
    "GeneralizedBaker",
    "generalized_baker",
    "cat_map_exponents_symbolic",
]


@dataclass(frozen=True, eq=False)  # arrays: identity equality and hash
class ToralAutomorphism(Deterministic):
    """``x ↦ M x mod 1`` on the 2-torus; integer ``M`` with ``det M = ±1``, no eigenvalue on the
    unit circle (hyperbolic); deterministic."""

    matrix: np.ndarray
    name: str = "toral automorphism"

    @property
    def dim(self) -> int:
        return 2

    def step(self, x: np.ndarray, noise=None) -> np.ndarray:
        return np.mod(self.matrix @ state(x, 2), 1.0)

    def jacobian(self, x: np.ndarray, noise=None) -> np.ndarray:
        state(x, 2)
        return self.matrix.copy()

    def step_batch(self, xs: np.ndarray, noise=None) -> np.ndarray:
        return np.mod(states(xs, 2) @ self.matrix.T, 1.0)

    def jacobian_batch(self, xs: np.ndarray, noise=None) -> np.ndarray:
        n = states(xs, 2).shape[0]
        return np.broadcast_to(self.matrix, (n, 2, 2)).copy()

    @property
    def initial_point(self) -> np.ndarray:
        return np.array([1.0 / math.sqrt(2.0), 1.0 / math.sqrt(3.0)])

    def exact_lyapunov_exponents(self) -> np.ndarray:
        """``ln|eigenvalues(M)|``: with trace ``t`` and ``det M = ±1`` the eigenvalues are
        ``(t ± √(t² ∓ 4))/2``; the larger modulus is computed directly, the other as its
        reciprocal modulus (product ``±1``)."""
        t = float(np.trace(self.matrix))
        det = round(float(np.linalg.det(self.matrix)))
        big = (abs(t) + math.sqrt(t * t - 4.0 * det)) / 2.0
        return np.array([math.log(big), -math.log(big)])

    def exact_log_det_mean(self) -> float:
        return 0.0

    def exact_sharpness(self, aggregate: Aggregate = "sup") -> np.ndarray:
        """``ln σ(M)`` (constant Jacobian; equals ``Λ`` for symmetric ``M``)."""
        _validate.choice("aggregate", aggregate, AGGREGATES)
        return np.log(np.linalg.svd(self.matrix, compute_uv=False))

    def lyapunov_dimension(self) -> float:
        return kaplan_yorke_dimension(self.exact_lyapunov_exponents())

    def sharpness_dimension(self, aggregate: Aggregate = "sup") -> float:
        return sharpness_dimension(self.exact_sharpness(aggregate))


def toral_automorphism(matrix) -> ToralAutomorphism:
    """A hyperbolic automorphism of the 2-torus, ``x ↦ M x mod 1``.

    ``M``: 2×2 integer entries, ``det M = ±1``, ``|trace| > 2`` if ``det = 1`` (``≠ 0`` if
    ``det = −1``) so that no eigenvalue has modulus 1.
    """
    m = finite_array("matrix", matrix, 2)
    if m.shape != (2, 2):
        raise ValueError(f"matrix must be 2x2, got shape {m.shape}")
    if not np.array_equal(m, np.round(m)):
        raise ValueError(f"matrix must have integer entries (a map of the torus), got {m.tolist()}")
    det = m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0]
    if det not in (1.0, -1.0):
        raise ValueError(f"matrix must have det ±1 (invertible on the torus), got det {det:g}")
    t = abs(m[0, 0] + m[1, 1])
    if (det == 1.0 and t <= 2.0) or (det == -1.0 and t == 0.0):
        raise ValueError(
            f"matrix must be hyperbolic (|trace| > 2 for det 1, trace ≠ 0 for det -1), "
            f"got trace {m[0, 0] + m[1, 1]:g}"
        )
    return ToralAutomorphism(readonly(m))


def cat_map() -> ToralAutomorphism:
    """Arnold's cat map ``(x, y) ↦ (2x + y, x + y) mod 1``: ``Λ = ln((3 ± √5)/2)``.

    >>> bool(np.allclose(cat_map().exact_lyapunov_exponents(), np.log([(3 + 5**.5) / 2,
    ...                                                               (3 - 5**.5) / 2])))
    True
    """
    return ToralAutomorphism(readonly(np.array([[2.0, 1.0], [1.0, 1.0]])), name="cat map")


def cat_map_exponents_symbolic():
    """Sympy: ``ln|eigenvalue|`` of ``[[2, 1], [1, 1]]``, descending (``log(3/2 ± √5/2)``)."""
    import sympy as sp

    eig = sp.Matrix([[2, 1], [1, 1]]).eigenvals(multiple=True)
    return sorted((sp.log(sp.Abs(e)) for e in eig), key=lambda e: -float(e))


@dataclass(frozen=True)
class DoublingMap(Deterministic):
    """``x ↦ 2x mod 1`` (Jacobian ``2`` everywhere); deterministic."""

    name: str = "doubling map"

    @property
    def dim(self) -> int:
        return 1

    def step(self, x: np.ndarray, noise=None) -> np.ndarray:
        return np.mod(2.0 * state(x, 1), 1.0)

    def jacobian(self, x: np.ndarray, noise=None) -> np.ndarray:
        state(x, 1)
        return np.array([[2.0]])

    def step_batch(self, xs: np.ndarray, noise=None) -> np.ndarray:
        return np.mod(2.0 * states(xs, 1), 1.0)

    def jacobian_batch(self, xs: np.ndarray, noise=None) -> np.ndarray:
        return np.full((states(xs, 1).shape[0], 1, 1), 2.0)

    @property
    def initial_point(self) -> np.ndarray:
        return np.array([1.0 / math.sqrt(2.0)])

    def exact_lyapunov_exponents(self) -> np.ndarray:
        return np.array([math.log(2.0)])

    def exact_log_det_mean(self) -> float:
        return math.log(2.0)

    def exact_sharpness(self, aggregate: Aggregate = "sup") -> np.ndarray:
        _validate.choice("aggregate", aggregate, AGGREGATES)
        return self.exact_lyapunov_exponents()

    def lyapunov_dimension(self) -> float:
        return 1.0


def doubling_map() -> DoublingMap:
    """The doubling map ``x ↦ 2x mod 1`` (``Λ = ln 2``).

    >>> doubling_map().step(np.array([0.75]), None).tolist()
    [0.5]
    """
    return DoublingMap()


@dataclass(frozen=True)
class GeneralizedBaker(Deterministic):
    """The generalized baker's map (module docstring); state ``(x, y)`` in the unit square."""

    alpha: float
    lambda_a: float
    lambda_b: float
    name: str = "generalized baker's map"
    beta: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "beta", 1.0 - self.alpha)

    @property
    def dim(self) -> int:
        return 2

    def step(self, x: np.ndarray, noise=None) -> np.ndarray:
        return self.step_batch(state(x, 2)[None, :])[0]

    def jacobian(self, x: np.ndarray, noise=None) -> np.ndarray:
        return self.jacobian_batch(state(x, 2)[None, :])[0]

    def step_batch(self, xs: np.ndarray, noise=None) -> np.ndarray:
        xs = states(xs, 2)
        x, y = xs[:, 0], xs[:, 1]
        lower = y < self.alpha
        new_x = np.where(lower, self.lambda_a * x, (1.0 - self.lambda_b) + self.lambda_b * x)
        new_y = np.where(lower, y / self.alpha, (y - self.alpha) / self.beta)
        return np.stack([new_x, new_y], axis=1)

    def jacobian_batch(self, xs: np.ndarray, noise=None) -> np.ndarray:
        y = states(xs, 2)[:, 1]
        lower = y < self.alpha
        jac = np.zeros((y.size, 2, 2))
        jac[:, 0, 0] = np.where(lower, self.lambda_a, self.lambda_b)
        jac[:, 1, 1] = np.where(lower, 1.0 / self.alpha, 1.0 / self.beta)
        return jac

    @property
    def initial_point(self) -> np.ndarray:
        return np.array([0.5, 1.0 / math.sqrt(5.0)])

    def exact_lyapunov_exponents(self) -> np.ndarray:
        """``(−α ln α − β ln β, α ln λ_a + β ln λ_b)``."""
        a, b = self.alpha, self.beta
        expanding = -a * math.log(a) - b * math.log(b)
        contracting = a * math.log(self.lambda_a) + b * math.log(self.lambda_b)
        return descending([expanding, contracting])

    def exact_log_det_mean(self) -> float:
        """``α ln(λ_a/α) + β ln(λ_b/β)``."""
        a, b = self.alpha, self.beta
        return a * math.log(self.lambda_a / a) + b * math.log(self.lambda_b / b)

    def exact_sharpness(self, aggregate: Aggregate = "sup") -> np.ndarray:
        """``sup``: ``(ln max(1/α, 1/β), ln max(λ_a, λ_b))``; ``mean`` (natural measure): ``Λ``."""
        if _validate.choice("aggregate", aggregate, AGGREGATES) == "mean":
            return self.exact_lyapunov_exponents()
        return np.array([-math.log(min(self.alpha, self.beta)),
                         math.log(max(self.lambda_a, self.lambda_b))])

    def lyapunov_dimension(self) -> float:
        """``1 + Λ_1/|Λ_2|``."""
        return kaplan_yorke_dimension(self.exact_lyapunov_exponents())

    def sharpness_dimension(self, aggregate: Aggregate = "sup") -> float:
        return sharpness_dimension(self.exact_sharpness(aggregate))


def generalized_baker(
    alpha: float = 1.0 / 3.0, lambda_a: float = 0.2, lambda_b: float = 0.4
) -> GeneralizedBaker:
    """The Farmer–Ott–Yorke generalized baker's map (``0 < alpha < 1``, ``lambda_a, lambda_b
    > 0`` with ``lambda_a + lambda_b ≤ 1``).

    >>> b = generalized_baker(0.5, 0.25, 0.25)  # Λ = (ln 2, ln ¼): D_KY = 1 + ln2/ln4
    >>> round(b.lyapunov_dimension(), 12)
    1.5
    """
    a = _validate.fraction("alpha", alpha)
    la = _validate.real("lambda_a", lambda_a, minimum=0.0, maximum=1.0, open_min=True)
    lb = _validate.real("lambda_b", lambda_b, minimum=0.0, maximum=1.0, open_min=True)
    if la + lb > 1.0:
        raise ValueError(
            f"lambda_a + lambda_b must be <= 1 (non-overlapping strips), "
            f"got {la} + {lb} = {la + lb}"
        )
    return GeneralizedBaker(a, la, lb)
