"""Strategies for curvature: Haar orthogonal matrices and real symmetric matrices (Hessians)
with a known spectrum (:mod:`sharpdim.testing.strategies`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from sharpdim.testing.strategies._checks import (
    InvalidStrategyArgument,
    _bounds,
    _check_dims,
    _choice,
    _fail,
)
from sharpdim.testing.strategies.spectral import spectra

__all__ = ["SymmetricMatrix", "orthogonal_matrices", "symmetric_matrices"]

_BASES = ("haar", "identity")


def _haar_orthogonal(seed: int, dim: int) -> np.ndarray:
    """Haar-distributed orthogonal matrix from ``seed`` (the one sampler,
    :func:`sharpdim.testing.oracles.planted.haar_orthogonal`)."""
    from sharpdim.testing.oracles.planted import haar_orthogonal

    return haar_orthogonal(np.random.default_rng(seed), dim)


def _basis_strategy(basis: str, dim: int) -> SearchStrategy[np.ndarray]:
    if basis == "identity":
        return st.just(np.eye(dim))
    return st.integers(0, 2**32 - 1).map(lambda seed: _haar_orthogonal(seed, dim))


def orthogonal_matrices(*, min_dim: int = 1, max_dim: int = 6) -> SearchStrategy[np.ndarray]:
    """Haar-random orthogonal matrices: the ``Q`` of a QR decomposition of a Gaussian matrix
    (drawn from a Hypothesis-chosen seed, with the sign of ``diag R`` fixed)."""
    min_dim, max_dim = _check_dims(min_dim, max_dim)
    return st.integers(min_dim, max_dim).flatmap(lambda d: _basis_strategy("haar", d))


@dataclass(frozen=True, eq=False)
class SymmetricMatrix:
    """``matrix = basis @ diag(eigenvalues) @ basis.T``, exactly symmetric.

    ``eigenvalues`` are descending and ``basis[:, k]`` is the eigenvector of
    ``eigenvalues[k]`` (up to the rounding of the product).
    """

    matrix: np.ndarray
    eigenvalues: np.ndarray
    basis: np.ndarray


def _symmetric_from(eigenvalues: np.ndarray, basis: np.ndarray) -> SymmetricMatrix:
    alpha = np.sort(np.asarray(eigenvalues, dtype=np.float64))[::-1].copy()
    a = (basis * alpha) @ basis.T
    a = 0.5 * (a + a.T)  # exactly symmetric, whatever the rounding of the product
    return SymmetricMatrix(a, alpha, basis)


def symmetric_matrices(
    *,
    min_dim: int = 1,
    max_dim: int = 6,
    min_eigenvalue: float = -10.0,
    max_eigenvalue: float = 10.0,
    eigenvalues: SearchStrategy[np.ndarray] | Sequence[float] | np.ndarray | None = None,
    basis: str = "haar",
) -> SearchStrategy[SymmetricMatrix]:
    """Real symmetric matrices ``Q diag(α) Qᵀ`` with a known spectrum ``α``.

    ``eigenvalues``: ``None`` (draw ``α`` with :func:`spectra` in ``[min_eigenvalue,
    max_eigenvalue]``, ties allowed, length in ``[min_dim, max_dim]``), a fixed 1-D array, or a
    strategy of 1-D arrays (its length sets the dimension; the bounds are then not used).
    ``basis``: ``"haar"`` (Q of a QR of a Gaussian matrix) or ``"identity"`` (diagonal).
    The computed matrix has eigenvalues within a few ``d·eps·max|α|`` of ``α``.
    """
    _choice("basis", basis, _BASES)
    if eigenvalues is None:
        lo, hi = _bounds("eigenvalue", min_eigenvalue, max_eigenvalue)
        alphas = spectra(min_dim=min_dim, max_dim=max_dim, min_value=lo, max_value=hi,
                         allow_ties=True)
    elif isinstance(eigenvalues, SearchStrategy):
        alphas = eigenvalues
    else:
        fixed = np.array(eigenvalues, dtype=np.float64, ndmin=1)
        if fixed.ndim != 1 or fixed.size == 0 or not np.isfinite(fixed).all():
            _fail(f"eigenvalues must be a non-empty finite 1-D array, got {eigenvalues!r}")
        alphas = st.just(fixed)

    @st.composite
    def build(draw) -> SymmetricMatrix:
        alpha = np.asarray(draw(alphas), dtype=np.float64)
        if alpha.ndim != 1 or alpha.size == 0 or not np.isfinite(alpha).all():
            raise InvalidStrategyArgument(
                f"eigenvalues strategy must draw non-empty finite 1-D arrays, got {alpha!r}"
            )
        return _symmetric_from(alpha, draw(_basis_strategy(basis, alpha.size)))

    return build()
