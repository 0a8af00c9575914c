"""Random linear RDS ``x ↦ M(ω) x``: products of random matrices, with exact oracles.

The one-step Jacobian is ``M(ω)`` at every point, so the RDS sharpness needs no supremum over
the attractor: ``λ_k = E ln σ_k(M)``. The Lyapunov exponents ``Λ_i`` are the growth rates of
the products ``M(θ^{n-1}ω)⋯M(ω)`` (Furstenberg–Kesten / Oseledets). Four families:

* :func:`gaussian_matrix_product` — iid ``N(0, s²)`` entries. Exact exponents (Newman 1986)
  ``Λ_i = ln s + ½[ln 2 + ψ((d−i+1)/2)]``; their sum equals ``E ln|det M|`` by Bartlett's
  decomposition ``|det G| = Π_k χ_k``. Only that sum is closed form for the sharpness; the
  individual ``E ln σ_k`` are not (``exact_sharpness`` is ``None`` for ``d ≥ 2``).
* :func:`triangular_matrix_product` — upper-triangular, log-normal diagonal moduli with random
  signs, Gaussian off-diagonal entries: ``Λ = sort(E ln|M_ii|) = sort(μ)``.
* :func:`commuting_matrix_product` — ``Q diag(D_s) Qᵀ`` with state ``s`` drawn from a finite
  law ``p``: ``Λ = sort(Σ_s p_s ln|D_s|)`` per fixed direction, while the sharpness sorts
  first, ``λ = Σ_s p_s sort(ln|D_s|)``; when different directions dominate under different
  states, ``SD > D_KY`` strictly.
* :func:`fixed_matrix` — a deterministic map: ``Λ = ln|eigenvalues|``, ``λ = ln σ(A)``; for
  a non-normal ``A`` the two differ and ``SD > D_KY`` can be strict.

The state ``x`` grows or shrinks like ``e^{nΛ_1}``: start at ``x = 0`` (a fixed point of every
linear map) when only the tangent dynamics matter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import digamma

from sharpdim import _validate
from sharpdim.dimension import kaplan_yorke_dimension, sharpness_dimension
from sharpdim.systems._common import (
    EPS,
    Deterministic,
    descending,
    finite_array,
    orthogonal_matrix,
    readonly,
    state,
    states,
)
from sharpdim.vocabulary import AGGREGATES, Aggregate

__all__ = [
    "GaussianMatrixProduct",
    "TriangularMatrixProduct",
    "CommutingMatrixProduct",
    "FixedMatrixMap",
    "gaussian_matrix_product",
    "triangular_matrix_product",
    "commuting_matrix_product",
    "fixed_matrix",
    "newman_exponents",
]


class _LinearMap:
    """Shared members of ``x ↦ M x``: the noise value determines ``M`` (``_matrix``).

    Subclasses provide ``sample_noise``, ``exact_lyapunov_exponents`` and ``exact_sharpness``.
    """

    dim: int

    def _matrix(self, noise) -> np.ndarray:
        return noise

    def step(self, x: np.ndarray, noise) -> np.ndarray:
        return self._matrix(noise) @ state(x, self.dim)

    def jacobian(self, x: np.ndarray, noise) -> np.ndarray:
        state(x, self.dim)
        return np.array(self._matrix(noise), dtype=np.float64)

    def step_batch(self, xs: np.ndarray, noise) -> np.ndarray:
        return states(xs, self.dim) @ self._matrix(noise).T

    def jacobian_batch(self, xs: np.ndarray, noise) -> np.ndarray:
        n = states(xs, self.dim).shape[0]
        return np.broadcast_to(self._matrix(noise), (n, self.dim, self.dim)).copy()

    @property
    def initial_point(self) -> np.ndarray:
        """The origin: a fixed point of every linear map, so long runs never overflow (the
        tangent dynamics, hence every exponent, do not depend on the point)."""
        return np.zeros(self.dim)

    def lyapunov_dimension(self) -> float:
        """Kaplan–Yorke dimension of :meth:`exact_lyapunov_exponents`."""
        return kaplan_yorke_dimension(self.exact_lyapunov_exponents())

    def sharpness_dimension(self, aggregate: Aggregate = "sup") -> float | None:
        """SD of :meth:`exact_sharpness` (``None`` where that has no closed form)."""
        lam = self.exact_sharpness(aggregate)
        return None if lam is None else sharpness_dimension(lam)


def _vector(name: str, value, size: int | None = None) -> np.ndarray:
    v = finite_array(name, np.atleast_1d(np.asarray(value, dtype=np.float64)), 1)
    if size is not None and v.size != size:
        raise ValueError(f"{name} must have length {size}, got length {v.size}")
    return v


def newman_exponents(dim: int, scale: float = 1.0) -> np.ndarray:
    """Lyapunov exponents of products of ``dim × dim`` matrices with iid ``N(0, scale²)`` entries.

    ``Λ_i = ln s + ½[ln 2 + ψ((d − i + 1)/2)]``, ``i = 1..d`` (Newman 1986), descending.

    >>> float(newman_exponents(1)[0]) == float((digamma(0.5) + np.log(2)) / 2)  # E ln|Z|
    True
    """
    d = _validate.integer("dim", dim, minimum=1)
    s = _validate.positive("scale", scale)
    i = np.arange(1, d + 1)
    return np.log(s) + 0.5 * (np.log(2.0) + digamma((d - i + 1) / 2.0))


@dataclass(frozen=True)
class GaussianMatrixProduct(_LinearMap):
    """``x ↦ M x`` with iid ``M_ij ~ N(0, scale²)``; noise is the matrix ``M``."""

    dim: int
    scale: float = 1.0
    name: str = "gaussian matrix product"

    def sample_noise(self, rng: np.random.Generator) -> np.ndarray:
        return self.scale * rng.standard_normal((self.dim, self.dim))

    def exact_lyapunov_exponents(self) -> np.ndarray:
        """Newman's formula (see :func:`newman_exponents`)."""
        return newman_exponents(self.dim, self.scale)

    def exact_log_det_mean(self) -> float:
        """``E ln|det M| = d ln s + Σ_{k=1}^d ½[ln 2 + ψ(k/2)]`` (``|det| = Π χ_k``, Bartlett)."""
        k = np.arange(1, self.dim + 1)
        return float(self.dim * np.log(self.scale) + 0.5 * np.sum(np.log(2.0) + digamma(k / 2)))

    def exact_sharpness(self, aggregate: Aggregate = "sup") -> np.ndarray | None:
        """``E ln σ_k(M)`` (both aggregates: the Jacobian does not depend on the point). Closed
        form only for ``d = 1`` (``= Λ_1``); ``None`` otherwise — only the sum
        (:meth:`exact_log_det_mean`) is known."""
        _validate.choice("aggregate", aggregate, AGGREGATES)
        return self.exact_lyapunov_exponents() if self.dim == 1 else None


def gaussian_matrix_product(dim: int, scale: float = 1.0) -> GaussianMatrixProduct:
    """Random linear RDS with iid Gaussian matrices (exact exponents: Newman's formula).

    >>> m = gaussian_matrix_product(3, scale=2.0)
    >>> bool(np.isclose(m.exact_lyapunov_exponents().sum(), m.exact_log_det_mean()))
    True
    """
    return GaussianMatrixProduct(_validate.integer("dim", dim, minimum=1),
                                 _validate.positive("scale", scale))


@dataclass(frozen=True, eq=False)  # arrays: identity equality and hash
class TriangularMatrixProduct(_LinearMap):
    """Upper-triangular ``M``: ``M_ii = ±exp(μ_i + τ_i Z_i)``, ``M_ij ~ N(0, c²)`` for ``j > i``.

    Noise is the matrix ``M``. ``E ln|M_ii| = μ_i``, so ``Λ = sort(μ)`` (descending).
    """

    log_diagonal_mean: np.ndarray
    log_diagonal_std: np.ndarray
    off_diagonal_std: float
    dim: int = field(init=False)
    name: str = "triangular matrix product"

    def __post_init__(self) -> None:
        object.__setattr__(self, "dim", int(self.log_diagonal_mean.size))

    def sample_noise(self, rng: np.random.Generator) -> np.ndarray:
        d = self.dim
        moduli = np.exp(self.log_diagonal_mean + self.log_diagonal_std * rng.standard_normal(d))
        signs = np.where(rng.random(d) < 0.5, -1.0, 1.0)
        upper = np.triu(self.off_diagonal_std * rng.standard_normal((d, d)), k=1)
        return upper + np.diag(signs * moduli)

    def exact_lyapunov_exponents(self) -> np.ndarray:
        """``sort(E ln|M_ii|) = sort(μ)``, descending."""
        return descending(self.log_diagonal_mean)

    def exact_log_det_mean(self) -> float:
        """``E ln|det M| = Σ μ_i``."""
        return float(np.sum(self.log_diagonal_mean))

    def exact_sharpness(self, aggregate: Aggregate = "sup") -> np.ndarray | None:
        """``E ln σ_k(M)``: closed form (``sort(μ)``) only when ``M`` is diagonal with
        deterministic moduli (``τ = 0`` and ``c = 0``); ``None`` otherwise."""
        _validate.choice("aggregate", aggregate, AGGREGATES)
        if self.off_diagonal_std == 0 and not np.any(self.log_diagonal_std):
            return self.exact_lyapunov_exponents()
        return None


def triangular_matrix_product(
    log_diagonal_mean, log_diagonal_std=0.0, off_diagonal_std: float = 1.0
) -> TriangularMatrixProduct:
    """Products of random upper-triangular matrices (exact exponents: ``sort(E ln|M_ii|)``).

    ``log_diagonal_std`` is a scalar or one value per diagonal entry (``≥ 0``).

    >>> m = triangular_matrix_product([0.5, -1.0, 0.0])
    >>> m.exact_lyapunov_exponents().tolist()
    [0.5, 0.0, -1.0]
    """
    mu = _vector("log_diagonal_mean", log_diagonal_mean)
    tau = np.asarray(log_diagonal_std, dtype=np.float64)
    tau = _vector("log_diagonal_std", np.full(mu.shape, float(tau)) if tau.ndim == 0 else tau,
                  mu.size)
    if (tau < 0).any():
        bad = int(np.flatnonzero(tau < 0)[0])
        raise ValueError(f"log_diagonal_std must be >= 0, got {tau[bad]} at index {bad}")
    c = _validate.non_negative("off_diagonal_std", off_diagonal_std)
    return TriangularMatrixProduct(readonly(mu), readonly(tau), c)


@dataclass(frozen=True, eq=False)  # arrays: identity equality and hash
class CommutingMatrixProduct(_LinearMap):
    """``M = Q diag(D_s) Qᵀ`` with state ``s`` drawn with probability ``p_s``; noise is ``s``.

    All matrices share the eigenbasis ``Q`` (they commute), so along each fixed direction the
    product multiplies scalars: ``Λ = sort(Σ_s p_s ln|D_s|)``. Each ``M`` is symmetric, so
    ``σ(M) = |D_s|`` and ``λ = Σ_s p_s sort(ln|D_s|)``.
    """

    basis: np.ndarray
    diagonals: np.ndarray
    probabilities: np.ndarray
    dim: int = field(init=False)
    matrices: np.ndarray = field(init=False, repr=False)
    name: str = "commuting matrix product"
    _cdf: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        q, diag = self.basis, self.diagonals
        mats = np.einsum("ik,sk,jk->sij", q, diag, q)
        mats = 0.5 * (mats + mats.transpose(0, 2, 1))  # exactly symmetric, like Q D Qᵀ
        object.__setattr__(self, "dim", int(q.shape[0]))
        object.__setattr__(self, "matrices", readonly(mats))
        object.__setattr__(self, "_cdf", readonly(np.cumsum(self.probabilities)))

    def sample_noise(self, rng: np.random.Generator) -> int:
        # Inverse-CDF draw (cheaper than rng.choice per step); the min guards cdf[-1] < 1.
        u = rng.random()
        return min(int(np.searchsorted(self._cdf, u, side="right")), self.probabilities.size - 1)

    def _matrix(self, noise) -> np.ndarray:
        return self.matrices[noise]

    def exact_lyapunov_exponents(self) -> np.ndarray:
        """``sort(Σ_s p_s ln|D_s|)``: one exponent per fixed eigen-direction."""
        return descending(self.probabilities @ np.log(np.abs(self.diagonals)))

    def exact_log_det_mean(self) -> float:
        """``E ln|det M| = Σ_s p_s Σ_i ln|D_{s,i}|``."""
        return float(self.probabilities @ np.log(np.abs(self.diagonals)).sum(axis=1))

    def exact_sharpness(self, aggregate: Aggregate = "sup") -> np.ndarray:
        """``λ_k = Σ_s p_s (k-th largest of ln|D_s|)`` (exact: finite law, symmetric ``M``;
        both aggregates agree since the Jacobian does not depend on the point)."""
        _validate.choice("aggregate", aggregate, AGGREGATES)
        per_state = -np.sort(-np.log(np.abs(self.diagonals)), axis=1)
        return self.probabilities @ per_state


def commuting_matrix_product(
    diagonals, probabilities=None, basis=None
) -> CommutingMatrixProduct:
    """Random commuting (simultaneously diagonalizable) matrices ``Q diag(D_s) Qᵀ``.

    ``diagonals``: ``(n_states, d)`` nonzero eigenvalues; ``probabilities``: law of the state
    (uniform by default; ``≥ 0``, summing to 1 within ``4·n·eps``); ``basis``: orthogonal ``Q``
    (identity by default).

    >>> m = commuting_matrix_product([[2.0, 0.25], [0.25, 2.0]])  # each direction wins half
    >>> m.exact_lyapunov_exponents().tolist(), m.exact_sharpness().tolist()  # -½ln2; ln2, ln¼
    ([-0.34657359027997264, -0.34657359027997264], [0.6931471805599453, -1.3862943611198906])
    """
    diag = finite_array("diagonals", np.atleast_2d(np.asarray(diagonals, dtype=np.float64)), 2)
    if (diag == 0).any():
        s, i = (int(v[0]) for v in np.nonzero(diag == 0))
        raise ValueError(
            f"diagonals must be nonzero (a zero makes an exponent -inf), got 0 at [{s}, {i}]"
        )
    n_states, d = diag.shape
    if probabilities is None:
        p = np.full(n_states, 1.0 / n_states)
    else:
        p = _vector("probabilities", probabilities, n_states)
        if (p < 0).any():
            bad = int(np.flatnonzero(p < 0)[0])
            raise ValueError(f"probabilities must be >= 0, got {p[bad]} at index {bad}")
        # Summing n floats of a normalized vector errs by at most ~n·eps.
        if abs(p.sum() - 1.0) > 4 * n_states * EPS:
            raise ValueError(f"probabilities must sum to 1, got sum {float(p.sum())!r}")
        p = p / p.sum()
    q = np.eye(d) if basis is None else orthogonal_matrix("basis", basis, d)
    return CommutingMatrixProduct(readonly(q), readonly(diag), readonly(p))


@dataclass(frozen=True, eq=False)  # arrays: identity equality and hash
class FixedMatrixMap(_LinearMap, Deterministic):
    """Deterministic linear map ``x ↦ A x``; noise is ``None``.

    ``Λ = ln|eigenvalues(A)|`` (moduli with multiplicity), ``λ = ln σ(A)``; both sum to
    ``ln|det A|``. The partial sums of ``λ`` dominate those of ``Λ`` (Weyl's inequality
    ``Π_{i≤k} |μ_i| ≤ Π_{i≤k} σ_i``), so ``SD ≥ D_KY``, strictly for suitable non-normal ``A``.
    """

    matrix: np.ndarray
    dim: int = field(init=False)
    name: str = "fixed matrix"

    def __post_init__(self) -> None:
        object.__setattr__(self, "dim", int(self.matrix.shape[0]))

    def _matrix(self, noise) -> np.ndarray:
        return self.matrix

    def exact_lyapunov_exponents(self) -> np.ndarray:
        """``ln|eigenvalues(A)|``, descending (``-inf`` for a zero eigenvalue; LAPACK ``geev``,
        accurate to ``eps·‖A‖`` times the eigenvalue condition number)."""
        with np.errstate(divide="ignore"):
            return descending(np.log(np.abs(np.linalg.eigvals(self.matrix))))

    def exact_log_det_mean(self) -> float:
        """``ln|det A|``."""
        return float(np.linalg.slogdet(self.matrix)[1])

    def exact_sharpness(self, aggregate: Aggregate = "sup") -> np.ndarray:
        """``ln σ_k(A)``, descending (``-inf`` for a zero singular value)."""
        _validate.choice("aggregate", aggregate, AGGREGATES)
        with np.errstate(divide="ignore"):
            return np.log(np.linalg.svd(self.matrix, compute_uv=False))


def fixed_matrix(matrix) -> FixedMatrixMap:
    """The deterministic linear map ``x ↦ A x``.

    >>> m = fixed_matrix([[0.5, 2.0], [0.0, 0.5]])  # eigenvalues ½, ½; σ_1 > 2
    >>> m.exact_lyapunov_exponents().tolist() == [np.log(0.5)] * 2, bool(m.exact_sharpness()[0] > 0)
    (True, True)
    """
    a = finite_array("matrix", matrix, 2)
    if a.shape[0] != a.shape[1]:
        raise ValueError(f"matrix must be square, got shape {a.shape}")
    return FixedMatrixMap(readonly(a))
