"""Minibatch SGD on linear least squares: an affine random map with exact oracles.

Convention: per-example loss ``½ (x_i·w − y_i)²``, empirical risk ``½ mean_i (x_i·w − y_i)²``
(full-batch Hessian ``XᵀX/n``). The noise of one step is a minibatch ``B``: ``b`` distinct
indices drawn uniformly **without replacement within the batch**, independently across steps
(the RDS model of docs/theory.md §1, not epoch-wise shuffling). The step differentiates the
minibatch *mean* loss:

    w' = w − η X_Bᵀ (X_B w − y_B) / b,     Jacobian  I − η H_B,   H_B = X_Bᵀ X_B / b.

The Jacobian does not depend on ``w``, so the one-step sharpness needs no supremum over the
attractor and is exact by enumerating all ``C(n, b)`` equally likely minibatches:
``λ_k = mean_B (k-th largest of ln|1 − η eig(H_B)|)``; likewise ``Σ Λ_i = mean_B ln|det(I − ηH_B)|``
for any data. When the rows of ``X`` are pairwise parallel or orthogonal (build such data with
:func:`commuting_least_squares_sgd`), all ``H_B`` are diagonal in one orthonormal basis ``V``
and the Lyapunov exponents are exact too: ``Λ = sort_i mean_B ln|1 − η (Vᵀ H_B V)_ii|``.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np

from sharpdim import _validate
from sharpdim.dimension import kaplan_yorke_dimension, sharpness_dimension
from sharpdim.systems._common import (
    EPS,
    descending,
    finite_array,
    log_abs_one_minus,
    orthogonal_matrix,
    readonly,
    state,
    states,
)
from sharpdim.vocabulary import AGGREGATES, Aggregate

__all__ = [
    "LeastSquaresSGD",
    "least_squares_sgd",
    "commuting_least_squares_sgd",
    "MAX_ENUMERATED_BATCHES",
]

#: Exact expectations enumerate every minibatch; beyond this many they refuse (``ValueError``).
MAX_ENUMERATED_BATCHES = 200_000

# Rows count as parallel/orthogonal when |cos| is within this of 1 or 0: rounding of the
# normalized Gram matrix is a few d·eps, far below it; genuine angles are far above it.
_ALIGNMENT_TOL = 1e-9


def _commuting_basis(x: np.ndarray) -> np.ndarray | None:
    """An orthonormal ``V`` diagonalizing every ``x_i x_iᵀ`` (rows pairwise parallel or
    orthogonal), or ``None``. Columns: one per class of parallel rows, then a completion.

    One pass over the rows against the (at most ``d``) class representatives: ``O(n d²)``
    time, no ``n × n`` Gram matrix.
    """
    d = x.shape[1]
    reps: list[np.ndarray] = []
    for row in x:
        norm = float(np.linalg.norm(row))
        if norm == 0.0:
            continue
        u = row / norm
        cos = np.abs(np.array([rep @ u for rep in reps])) if reps else np.zeros(0)
        if np.any(cos > 1.0 - _ALIGNMENT_TOL):
            if np.sum(cos > _ALIGNMENT_TOL) != 1:
                return None
        elif np.all(cos < _ALIGNMENT_TOL):
            reps.append(u)  # orthogonal to every class so far: a new direction
        else:
            return None
    if not reps:
        return np.eye(d)
    r = np.array(reps).T
    full = np.linalg.svd(r, full_matrices=True)[0]  # complete with an orthonormal complement
    return np.concatenate([r, full[:, r.shape[1]:]], axis=1)


@dataclass(frozen=True, eq=False)  # arrays: identity equality and hash
class LeastSquaresSGD:
    """SGD with step ``lr`` and minibatch size ``batch_size`` on ``½ mean (X w − y)²``.

    Noise: a sorted ``int64`` array of ``batch_size`` distinct row indices.
    ``commuting_basis``: orthonormal ``V`` diagonalizing every minibatch Hessian when the rows
    are pairwise parallel or orthogonal (or the batch is the full data set), else ``None``.
    """

    X: np.ndarray
    y: np.ndarray
    lr: float
    batch_size: int
    name: str = "SGD on least squares"

    @functools.cached_property
    def commuting_basis(self) -> np.ndarray | None:
        """Orthonormal ``V`` diagonalizing every minibatch Hessian, or ``None`` (computed once)."""
        basis = _commuting_basis(self.X)
        if basis is None and self.batch_size == self.n:
            basis = np.linalg.eigh(self.full_batch_hessian)[1]  # one minibatch: GD
        return None if basis is None else readonly(basis)

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    @property
    def dim(self) -> int:
        return int(self.X.shape[1])

    # ------------------------------------------------------------------ map protocol
    def sample_noise(self, rng: np.random.Generator) -> np.ndarray:
        return np.sort(rng.choice(self.n, size=self.batch_size, replace=False))

    def minibatch_hessian(self, batch) -> np.ndarray:
        """``H_B = X_Bᵀ X_B / b``."""
        xb = self.X[self._batch(batch)]
        return xb.T @ xb / xb.shape[0]

    def minibatch_gradient(self, w, batch) -> np.ndarray:
        """``X_Bᵀ (X_B w − y_B) / b``."""
        idx = self._batch(batch)
        xb = self.X[idx]
        return xb.T @ (xb @ state(w, self.dim) - self.y[idx]) / idx.size

    def step(self, x: np.ndarray, noise) -> np.ndarray:
        return state(x, self.dim) - self.lr * self.minibatch_gradient(x, noise)

    def jacobian(self, x: np.ndarray, noise) -> np.ndarray:
        state(x, self.dim)
        return np.eye(self.dim) - self.lr * self.minibatch_hessian(noise)

    def step_batch(self, xs: np.ndarray, noise) -> np.ndarray:
        w = states(xs, self.dim)
        idx = self._batch(noise)
        xb = self.X[idx]
        residual = w @ xb.T - self.y[idx]
        return w - self.lr * (residual @ xb) / idx.size

    def jacobian_batch(self, xs: np.ndarray, noise) -> np.ndarray:
        n = states(xs, self.dim).shape[0]
        jac = np.eye(self.dim) - self.lr * self.minibatch_hessian(noise)
        return np.broadcast_to(jac, (n, self.dim, self.dim)).copy()

    def _batch(self, batch) -> np.ndarray:
        idx = np.asarray(batch)
        if idx.ndim != 1 or idx.size != self.batch_size or idx.dtype.kind not in "iu":
            raise ValueError(
                f"batch must be a 1-D integer array of {self.batch_size} indices, got {batch!r}"
            )
        # sample_noise returns sorted indices: strictly increasing ⇒ distinct (a cheap check).
        ordered = np.sort(idx) if np.any(idx[1:] < idx[:-1]) else idx
        if ordered[0] < 0 or ordered[-1] >= self.n or np.any(ordered[1:] == ordered[:-1]):
            raise ValueError(f"batch must hold distinct indices in [0, {self.n}), got {batch!r}")
        return idx

    # ------------------------------------------------------------------ oracles
    @property
    def full_batch_hessian(self) -> np.ndarray:
        """``XᵀX / n`` (= the mean of ``H_B`` over all minibatches)."""
        return self.X.T @ self.X / self.n

    @property
    def minimizer(self) -> np.ndarray:
        """Minimum-norm least-squares solution of ``X w = y``."""
        return np.linalg.lstsq(self.X, self.y, rcond=None)[0]

    @property
    def interpolating(self) -> bool:
        """Whether every minibatch gradient vanishes at :attr:`minimizer` (``X w* = y`` up to
        ``64·n·eps·scale``): then ``w*`` is a common fixed point of all the random maps."""
        residual = self.X @ self.minimizer - self.y
        scale = max(1.0, float(np.abs(self.y).max()), float(np.abs(self.X).max()))
        return bool(np.abs(residual).max() <= 64 * self.n * EPS * scale)

    @property
    def initial_point(self) -> np.ndarray:
        """:attr:`minimizer`. With ``y = 0`` it is ``0``, kept exactly by every step, so long
        runs never overflow even at the edge of stability."""
        return self.minimizer

    @property
    def n_batches(self) -> int:
        """``C(n, b)``, the number of equally likely minibatches."""
        return math.comb(self.n, self.batch_size)

    def minibatches(self) -> np.ndarray:
        """All ``C(n, b)`` minibatches, ``(C(n, b), b)`` (lexicographic)."""
        count = self.n_batches
        if count > MAX_ENUMERATED_BATCHES:
            raise ValueError(
                f"exact expectations enumerate C(n, b) = C({self.n}, {self.batch_size}) = {count} "
                f"minibatches, more than MAX_ENUMERATED_BATCHES = {MAX_ENUMERATED_BATCHES}; "
                "use fewer examples or estimate by sampling"
            )
        return np.array(list(itertools.combinations(range(self.n), self.batch_size)),
                        dtype=np.int64).reshape(count, self.batch_size)

    def minibatch_hessians(self) -> np.ndarray:
        """``H_B`` for every minibatch, ``(C(n, b), d, d)``."""
        xb = self.X[self.minibatches()]
        return np.einsum("kbi,kbj->kij", xb, xb) / self.batch_size

    def minibatch_log_multipliers(self) -> np.ndarray:
        """``ln|1 − η α|`` for the eigenvalues ``α`` of every ``H_B``, sorted descending per
        minibatch: ``(C(n, b), d)`` (the one-step ``ln σ_k``; ``I − ηH_B`` is symmetric)."""
        alpha = np.linalg.eigvalsh(self.minibatch_hessians())
        return -np.sort(-log_abs_one_minus(self.lr * alpha), axis=1)

    def minibatch_log_det(self) -> np.ndarray:
        """``ln|det(I − ηH_B)|`` per minibatch (the sum of its log-multipliers)."""
        return self.minibatch_log_multipliers().sum(axis=1)

    def exact_sharpness(self, aggregate: Aggregate = "sup") -> np.ndarray:
        """``λ_k = mean_B ln σ_k(I − ηH_B)`` over all minibatches (both aggregates agree: the
        Jacobian does not depend on the point)."""
        _validate.choice("aggregate", aggregate, AGGREGATES)
        return self.minibatch_log_multipliers().mean(axis=0)

    def exact_log_det_mean(self) -> float:
        """``E_B ln|det(I − ηH_B)|`` (= the sum of the Lyapunov exponents, any data)."""
        return float(self.minibatch_log_det().mean())

    def direction_log_multipliers(self) -> np.ndarray | None:
        """``ln|1 − η h_i(B)|`` with ``h_i(B) = (Vᵀ H_B V)_ii`` along the common eigenbasis,
        ``(C(n, b), d)`` (columns = fixed directions, unsorted); ``None`` if not commuting."""
        v = self.commuting_basis
        if v is None:
            return None
        h = np.einsum("ki,nij,kj->nk", v.T, self.minibatch_hessians(), v.T)
        return log_abs_one_minus(self.lr * h)

    def exact_lyapunov_exponents(self) -> np.ndarray | None:
        """``sort_i mean_B ln|1 − η h_i(B)|`` when the minibatch Hessians commute, else ``None``."""
        per_direction = self.direction_log_multipliers()
        return None if per_direction is None else descending(per_direction.mean(axis=0))

    def lyapunov_dimension(self) -> float | None:
        exps = self.exact_lyapunov_exponents()
        return None if exps is None else kaplan_yorke_dimension(exps)

    def sharpness_dimension(self, aggregate: Aggregate = "sup") -> float:
        return sharpness_dimension(self.exact_sharpness(aggregate))


def least_squares_sgd(X, y, lr: float, batch_size: int) -> LeastSquaresSGD:
    """SGD on ``½ mean_i (x_i·w − y_i)²`` with minibatches of ``batch_size`` distinct rows.

    >>> sgd = least_squares_sgd(np.eye(2) * [2.0, 1.0], np.zeros(2), lr=0.5, batch_size=1)
    >>> # direction 1: h ∈ {4, 0}, mean(ln|1 - 2|, ln 1) = 0; direction 2: h ∈ {0, 1}, ½ ln ½
    >>> sgd.exact_lyapunov_exponents().tolist() == [0.0, 0.5 * np.log(0.5)]
    True
    """
    x = finite_array("X", X, 2)
    n = x.shape[0]
    target = finite_array("y", y, 1)
    if target.shape != (n,):
        raise ValueError(f"y must have shape ({n},) to match X's {n} rows, got {target.shape}")
    eta = _validate.positive("lr", lr)
    b = _validate.integer("batch_size", batch_size, minimum=1)
    if b > n:
        raise ValueError(f"batch_size must be <= the number of examples {n}, got {b}")
    return LeastSquaresSGD(readonly(x), readonly(target), eta, b)


def commuting_least_squares_sgd(
    scales, features, dim: int, lr: float, batch_size: int, *, basis=None, y=None
) -> LeastSquaresSGD:
    """Least-squares SGD whose minibatch Hessians all commute (exact Lyapunov exponents).

    Example ``i`` has a single feature: ``x_i = scales[i] · basis[:, features[i]]`` (``basis``
    orthogonal, identity by default), so every ``H_B`` is diagonal in ``basis`` with
    ``h_k(B) = Σ_{i ∈ B, features[i] = k} scales[i]² / b``. ``y`` defaults to zeros (then ``0``
    is a common fixed point).

    >>> sgd = commuting_least_squares_sgd([2.0, 1.0, 3.0], [0, 1, 0], dim=2, lr=0.2, batch_size=2)
    >>> sgd.commuting_basis is not None, sgd.n_batches
    (True, 3)
    """
    c = finite_array("scales", scales, 1)
    f = np.asarray(features)
    d = _validate.integer("dim", dim, minimum=1)
    if f.shape != c.shape or f.dtype.kind not in "iu":
        raise ValueError(f"features must be integers with the shape of scales {c.shape}, "
                         f"got {features!r}")
    if f.size and (f.min() < 0 or f.max() >= d):
        raise ValueError(f"features must lie in [0, dim) = [0, {d}), got {features!r}")
    q = np.eye(d) if basis is None else orthogonal_matrix("basis", basis, d)
    x = c[:, None] * q[:, f].T
    target = np.zeros(c.size) if y is None else y
    return least_squares_sgd(x, target, lr, batch_size)
