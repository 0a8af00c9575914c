"""Heavy-ball momentum on a quadratic: a linear map on the state ``(w, v)`` of size ``2d``.

Update (docs/theory.md §2): ``v' = β v + A w``, ``w' = w − η v'`` for the loss ``½ wᵀ A w``. With
the state ordered ``(w, v)`` the Jacobian is the constant

    J = [[I − ηA, −ηβ I],
         [A,       β I ]]

(``∂w'/∂w = I − ηA``, ``∂w'/∂v = −ηβ I``, ``∂v'/∂w = A``, ``∂v'/∂v = β I``). In an eigenbasis of
``A`` it splits into 2×2 blocks ``M_α = [[1 − ηα, −ηβ], [α, β]]`` with characteristic
polynomial ``z² − (1 + β − ηα) z + β`` and determinant ``β``. Hence

* Lyapunov exponents: ``ln|z|`` over the two roots per eigenvalue (complex roots: ``ln √β``
  twice), sorted; their total is ``d ln β``;
* one-step sharpness: ``ln σ`` of the blocks, ``σ± = (√(F + 2β) ± √(F − 2β))/2`` with
  ``F = ‖M_α‖²_F = (1 − ηα)² + η²β² + α² + β²`` (``J`` is not symmetric, so ``σ ≠ |z|`` and
  ``SD ≥ D_KY`` by Horn's inequality, strictly for suitable parameters);
* ``β = 0`` is GD: roots ``1 − ηα`` and ``0``, so the ``v``-block exponents are ``−inf``.
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
    log_abs_one_minus,
    state,
    states,
    symmetric_matrix,
)
from sharpdim.vocabulary import AGGREGATES, Aggregate

__all__ = [
    "HeavyBallQuadratic",
    "heavy_ball_quadratic",
    "heavy_ball_roots",
    "heavy_ball_characteristic_polynomial_symbolic",
]


def heavy_ball_roots(scaled_curvature, momentum: float) -> np.ndarray:
    """Roots of ``z² − (1 + β − p) z + β`` for each ``p = ηα``: ``(n, 2)`` complex, larger
    modulus first. The larger real root avoids cancellation; the other is ``β / z₁`` (Vieta).
    """
    p = np.atleast_1d(np.asarray(scaled_curvature, dtype=np.float64))
    beta = float(momentum)
    t = 1.0 + beta - p
    disc = t * t - 4.0 * beta
    roots = np.empty((p.size, 2), dtype=np.complex128)
    real = disc >= 0
    sq = np.sqrt(np.where(real, disc, 0.0))
    z1 = 0.5 * (t + np.where(t >= 0, sq, -sq))
    with np.errstate(divide="ignore", invalid="ignore"):
        z2 = np.where(z1 != 0, beta / np.where(z1 != 0, z1, 1.0), 0.0)
    roots[real, 0], roots[real, 1] = z1[real], z2[real]
    im = np.sqrt(np.where(real, 0.0, -disc)) / 2.0
    roots[~real, 0] = t[~real] / 2.0 + 1j * im[~real]
    roots[~real, 1] = t[~real] / 2.0 - 1j * im[~real]
    return roots


@dataclass(frozen=True, eq=False)  # arrays: identity equality and hash
class HeavyBallQuadratic(Deterministic):
    """Heavy ball with step ``lr`` and momentum ``momentum`` on ``½ wᵀ A w``; state ``(w, v)``."""

    A: np.ndarray
    lr: float
    momentum: float
    name: str = "heavy ball on a quadratic"
    curvatures: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "curvatures", curvatures_of(self.A))

    @property
    def d(self) -> int:
        """Number of parameters ``w`` (the state has ``2d`` entries)."""
        return int(self.A.shape[0])

    @property
    def dim(self) -> int:
        return 2 * self.d

    # ------------------------------------------------------------------ map protocol
    def step(self, x: np.ndarray, noise=None) -> np.ndarray:
        x = state(x, self.dim)
        w, v = x[: self.d], x[self.d :]
        v_new = self.momentum * v + self.A @ w
        return np.concatenate([w - self.lr * v_new, v_new])

    def jacobian(self, x: np.ndarray = None, noise=None) -> np.ndarray:
        if x is not None:
            state(x, self.dim)
        d, eye = self.d, np.eye(self.d)
        jac = np.empty((2 * d, 2 * d))
        jac[:d, :d] = eye - self.lr * self.A
        jac[:d, d:] = -self.lr * self.momentum * eye
        jac[d:, :d] = self.A
        jac[d:, d:] = self.momentum * eye
        return jac

    def step_batch(self, xs: np.ndarray, noise=None) -> np.ndarray:
        xs = states(xs, self.dim)
        w, v = xs[:, : self.d], xs[:, self.d :]
        v_new = self.momentum * v + w @ self.A  # A symmetric
        return np.concatenate([w - self.lr * v_new, v_new], axis=1)

    def jacobian_batch(self, xs: np.ndarray, noise=None) -> np.ndarray:
        n = states(xs, self.dim).shape[0]
        return np.broadcast_to(self.jacobian(), (n, self.dim, self.dim)).copy()

    # ------------------------------------------------------------------ oracles
    @property
    def initial_point(self) -> np.ndarray:
        """The fixed point ``(0, 0)``: the orbit stays there exactly."""
        return np.zeros(self.dim)

    @property
    def edge_of_stability(self) -> bool:
        """Some root outside the unit circle: ``ηα > 2(1 + β)`` or ``α < 0`` (Schur–Cohn,
        for ``0 ≤ β < 1``)."""
        return bool(self.exact_lyapunov_exponents()[0] > 0)

    def roots(self) -> np.ndarray:
        """``(d, 2)`` complex roots of ``z² − (1 + β − ηα) z + β``, per curvature (descending)."""
        return heavy_ball_roots(self.lr * self.curvatures, self.momentum)

    def exact_lyapunov_exponents(self) -> np.ndarray:
        """``ln|z|`` over all ``2d`` roots, descending. Complex pairs give ``½ ln β`` exactly;
        ``β = 0`` gives ``ln|1 − ηα|`` (computed accurately) and ``−inf``."""
        p = self.lr * self.curvatures
        if self.momentum == 0.0:
            return descending(np.concatenate([log_abs_one_minus(p), np.full(self.d, -np.inf)]))
        roots = self.roots()
        with np.errstate(divide="ignore"):
            logs = np.log(np.abs(roots))
        complex_pair = roots[:, 0].imag != 0
        logs[complex_pair] = 0.5 * np.log(self.momentum)
        return descending(logs.ravel())

    def exact_log_det_mean(self) -> float:
        """``ln|det J| = d ln β`` (``−inf`` for ``β = 0``)."""
        with np.errstate(divide="ignore"):
            return float(self.d * np.log(self.momentum))

    def singular_values(self) -> np.ndarray:
        """Singular values of ``J`` from the 2×2 blocks (closed form), descending."""
        alpha, beta, eta = self.curvatures, self.momentum, self.lr
        frob = (1.0 - eta * alpha) ** 2 + (eta * beta) ** 2 + alpha**2 + beta**2
        top = 0.5 * (np.sqrt(frob + 2.0 * beta) + np.sqrt(np.maximum(frob - 2.0 * beta, 0.0)))
        with np.errstate(divide="ignore", invalid="ignore"):
            bottom = np.where(top > 0, beta / np.where(top > 0, top, 1.0), 0.0)  # σ₊σ₋ = β
        return descending(np.concatenate([top, bottom]))

    def exact_sharpness(self, aggregate: Aggregate = "sup") -> np.ndarray:
        """``ln σ_k(J)``, descending (constant Jacobian: both aggregates agree)."""
        _validate.choice("aggregate", aggregate, AGGREGATES)
        alpha, beta, eta = self.curvatures, self.momentum, self.lr
        frob = (1.0 - eta * alpha) ** 2 + (eta * beta) ** 2 + alpha**2 + beta**2
        top = 0.5 * (np.sqrt(frob + 2.0 * beta) + np.sqrt(np.maximum(frob - 2.0 * beta, 0.0)))
        with np.errstate(divide="ignore"):
            log_top = np.log(top)
            # ln σ₋ = ln β − ln σ₊ (σ₊σ₋ = β): β/σ₊ would underflow to 0 for tiny β.
            log_bottom = np.log(beta) - log_top if beta > 0 else np.full_like(log_top, -np.inf)
        return descending(np.concatenate([log_top, log_bottom]))

    def gd_approximation_sharpness(self) -> np.ndarray:
        """The paper's practice ``ln|1 − ηα|`` (``d`` values, descending): GD's sharpness,
        an approximation for momentum (docs/theory.md §2)."""
        return descending(log_abs_one_minus(self.lr * self.curvatures))

    def lyapunov_dimension(self) -> float:
        return kaplan_yorke_dimension(self.exact_lyapunov_exponents())

    def sharpness_dimension(self, aggregate: Aggregate = "sup") -> float:
        return sharpness_dimension(self.exact_sharpness(aggregate))


def heavy_ball_quadratic(A, lr: float, momentum: float) -> HeavyBallQuadratic:
    """Heavy-ball momentum ``v' = momentum·v + A w``, ``w' = w − lr·v'`` on ``½ wᵀ A w``.

    ``A`` symmetric ``d × d``; ``lr > 0``; ``0 ≤ momentum < 1``. State ``(w, v)``, size ``2d``.

    >>> hb = heavy_ball_quadratic(np.diag([1.0, 4.0]), lr=1.0, momentum=0.25)
    >>> bool(np.isclose(hb.exact_lyapunov_exponents().sum(), 2 * np.log(0.25)))  # d ln β
    True
    """
    a = symmetric_matrix("A", A)
    eta = _validate.positive("lr", lr)
    beta = _validate.real("momentum", momentum, minimum=0.0, maximum=1.0, open_max=True)
    return HeavyBallQuadratic(a, eta, beta)


def heavy_ball_characteristic_polynomial_symbolic():
    """Sympy: ``(det(z I − M_α), expected)`` for the block ``M_α = [[1 − ηα, −ηβ], [α, β]]``
    derived from the update (``M_α`` is the Jacobian of ``(w, v) ↦ (w − η(βv + αw), βv + αw)``),
    and ``expected = z² − (1 + β − ηα) z + β``; their difference expands to 0."""
    import sympy as sp

    z, eta, alpha, beta, w, v = sp.symbols("z eta alpha beta w v")
    v_new = beta * v + alpha * w
    update = sp.Matrix([w - eta * v_new, v_new])
    block = update.jacobian([w, v])
    poly = sp.expand((z * sp.eye(2) - block).det())
    return poly, sp.expand(z**2 - (1 + beta - eta * alpha) * z + beta)
