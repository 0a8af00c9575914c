"""Gradient descent on a quadratic loss: the linear map ``w ↦ w − η A (w − c)``.

Loss ``L(w) = ½ (w − c)ᵀ A (w − c)`` with symmetric Hessian ``A`` (eigenvalues ``α_i``, any
sign) and minimizer / fixed point ``c``. The Jacobian ``I − ηA`` is constant and symmetric,
so everything is closed form (docs/theory.md §2):

* Lyapunov exponents = one-step RDS sharpness = ``ln|1 − ηα_i|``, sorted descending;
* SD = Kaplan–Yorke (Lyapunov) dimension (same numbers, no supremum to take);
* edge of stability ``λ_1 > 0`` ⇔ ``ηα_max > 2`` or ``α_min < 0``; the threshold is ``2/α_max``.

Exponents are computed from ``p = fl(η·α)`` with :func:`log_abs_one_minus`, whose sign is
exact, so ``edge_of_stability`` agrees with the predicate on ``p`` even at the boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sharpdim import _validate
from sharpdim.dimension import kaplan_yorke_dimension, sharpness_dimension
from sharpdim.systems._common import (
    Deterministic,
    curvatures_of,
    descending,
    finite_array,
    log_abs_one_minus,
    readonly,
    state,
    states,
    symmetric_matrix,
)
from sharpdim.vocabulary import AGGREGATES, Aggregate

__all__ = ["QuadraticGD", "quadratic_gd", "quadratic_gd_jacobian_symbolic"]


@dataclass(frozen=True, eq=False)  # arrays: identity equality and hash
class QuadraticGD(Deterministic):
    """GD ``w ↦ w − lr·A (w − center)`` on ``½ (w − c)ᵀ A (w − c)``; deterministic (noise None).

    ``curvatures`` are the eigenvalues of ``A``, descending (exact for a diagonal ``A``, else
    from ``eigh``, within about ``d·eps·‖A‖``).
    """

    A: np.ndarray
    lr: float
    center: np.ndarray
    name: str = "GD on a quadratic"
    curvatures: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "curvatures", curvatures_of(self.A))

    @property
    def dim(self) -> int:
        return int(self.A.shape[0])

    # ------------------------------------------------------------------ map protocol
    def step(self, x: np.ndarray, noise=None) -> np.ndarray:
        w = state(x, self.dim)
        return w - self.lr * (self.A @ (w - self.center))

    def jacobian(self, x: np.ndarray, noise=None) -> np.ndarray:
        state(x, self.dim)
        return np.eye(self.dim) - self.lr * self.A

    def step_batch(self, xs: np.ndarray, noise=None) -> np.ndarray:
        w = states(xs, self.dim)
        return w - self.lr * ((w - self.center) @ self.A)  # A symmetric: (A wᵀ)ᵀ = w A

    def jacobian_batch(self, xs: np.ndarray, noise=None) -> np.ndarray:
        n = states(xs, self.dim).shape[0]
        return np.broadcast_to(self.jacobian(self.center), (n, self.dim, self.dim)).copy()

    # ------------------------------------------------------------------ oracles
    @property
    def initial_point(self) -> np.ndarray:
        """The fixed point ``center``: the orbit stays there exactly (``A·0 = 0``), so long runs
        never overflow even at the edge of stability."""
        return self.center.copy()

    @property
    def fixed_point(self) -> np.ndarray:
        """``center`` (the unique fixed point when ``A`` is nonsingular; else ``center`` plus the
        null space of ``A``)."""
        return self.center.copy()

    @property
    def scaled_curvatures(self) -> np.ndarray:
        """``p_i = fl(lr·α_i)``, descending."""
        return self.lr * self.curvatures

    @property
    def stability_threshold(self) -> float:
        """``2 / α_max``: GD is stable in every positive-curvature direction iff ``lr < 2/α_max``
        (``inf`` when ``α_max ≤ 0``)."""
        top = float(self.curvatures[0])
        return 2.0 / top if top > 0 else float("inf")

    @property
    def edge_of_stability(self) -> bool:
        """``λ_1 > 0`` ⇔ ``lr·α_max > 2`` or ``α_min < 0`` (exact on ``p = fl(lr·α)``)."""
        p = self.scaled_curvatures
        return bool(p[0] > 2.0 or p[-1] < 0.0)

    def exact_lyapunov_exponents(self) -> np.ndarray:
        """``ln|1 − lr·α_i|``, descending (``-inf`` where ``lr·α_i = 1``)."""
        return descending(log_abs_one_minus(self.scaled_curvatures))

    def exact_log_det_mean(self) -> float:
        """``ln|det(I − lr·A)| = Σ_i ln|1 − lr·α_i|``."""
        return float(np.sum(self.exact_lyapunov_exponents()))

    def exact_sharpness(self, aggregate: Aggregate = "sup") -> np.ndarray:
        """One-step RDS sharpness ``ln σ_k(I − lr·A)`` = the Lyapunov exponents (symmetric,
        constant Jacobian: both aggregates agree)."""
        _validate.choice("aggregate", aggregate, AGGREGATES)
        return self.exact_lyapunov_exponents()

    def lyapunov_dimension(self) -> float:
        return kaplan_yorke_dimension(self.exact_lyapunov_exponents())

    def sharpness_dimension(self, aggregate: Aggregate = "sup") -> float:
        """SD of :meth:`exact_sharpness`; equals :meth:`lyapunov_dimension` for this map."""
        return sharpness_dimension(self.exact_sharpness(aggregate))


def quadratic_gd(A, lr: float, *, center=None) -> QuadraticGD:
    """GD with step ``lr`` on ``½ (w − center)ᵀ A (w − center)`` (``center`` defaults to 0).

    ``A`` is a symmetric ``d × d`` matrix (rounding-level asymmetry is symmetrized away).

    >>> gd = quadratic_gd(np.diag([3.0, 0.5]), lr=1.0)  # multipliers 1 - α = -2 and 0.5
    >>> gd.exact_lyapunov_exponents().tolist() == [np.log(2.0), np.log(0.5)], gd.edge_of_stability
    (True, True)
    >>> gd.sharpness_dimension()  # partial sums ln 2 ≥ 0 and ln 2 + ln ½ = 0 ≥ 0
    2.0
    """
    a = symmetric_matrix("A", A)
    eta = _validate.positive("lr", lr)
    d = a.shape[0]
    if center is None:
        c = np.zeros(d)
    else:
        c = finite_array("center", center, 1)
        if c.shape != (d,):
            raise ValueError(f"center must have shape ({d},) to match A, got {c.shape}")
    return QuadraticGD(a, eta, readonly(c))


def quadratic_gd_jacobian_symbolic(dim: int = 2):
    """Sympy: the Jacobian of ``w − η ∇(½ wᵀ A w)`` for a generic symmetric ``A``.

    Returns ``(jacobian, expected)`` with ``expected = I − ηA``; their difference simplifies to 0.
    """
    import sympy as sp

    eta = sp.Symbol("eta", positive=True)
    w = sp.Matrix(sp.symbols(f"w0:{dim}"))
    a = sp.Matrix(dim, dim, lambda i, j: sp.Symbol(f"a{min(i, j)}{max(i, j)}"))
    loss = (w.T * a * w)[0, 0] / 2
    grad = sp.Matrix([sp.diff(loss, wi) for wi in w])
    step = w - eta * grad
    return step.jacobian(w), sp.eye(dim) - eta * a
