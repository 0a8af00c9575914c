"""Array checks and small numerical kernels shared by the analytic catalogue.

Private to :mod:`sharpdim.systems`. Scalar arguments are checked by :mod:`sharpdim._validate`,
arrays by the checks below, so a bad argument fails at construction with a message naming the
argument, the rule and the value.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sharpdim._numerics import (  # noqa: F401 (EPS, log_abs_one_minus re-exported)
    EPS,
    log_abs_one_minus,
    symmetry_tolerance,
)
from sharpdim.dimension import as_float_array
from sharpdim.vocabulary import AGGREGATES  # noqa: F401 (the word list, re-exported)


def finite_array(name: str, value: Any, ndim: int) -> np.ndarray:
    """A float64 copy with ``ndim`` dimensions, non-empty and finite."""
    a = as_float_array(name, value).copy()
    if a.ndim != ndim or a.size == 0:
        raise ValueError(f"{name} must be a non-empty {ndim}-D array, got shape {np.shape(value)}")
    if not np.isfinite(a).all():
        bad = tuple(int(i[0]) for i in np.nonzero(~np.isfinite(a)))
        raise ValueError(f"{name} must be finite, got {a[bad]} at index {bad}")
    return a


def symmetric_matrix(name: str, value: Any) -> np.ndarray:
    """A finite square matrix, symmetric up to rounding; returned exactly symmetrized.

    ``Q diag(α) Qᵀ`` formed in float64 is asymmetric by about ``d·eps·max|α|``; anything beyond
    :func:`sharpdim._numerics.symmetry_tolerance` (``16·d·eps·max|A|``, the package's one
    symmetry tolerance) is a genuinely non-symmetric input and is rejected.
    """
    a = finite_array(name, value, 2)
    if a.shape[0] != a.shape[1]:
        raise ValueError(f"{name} must be square, got shape {a.shape}")
    asym = float(np.abs(a - a.T).max())
    if asym > symmetry_tolerance(a.shape[0], float(np.abs(a).max())):
        raise ValueError(
            f"{name} must be symmetric (a Hessian), got max |A - Aᵀ| = {asym:.3g}; "
            "pass (A + A.T) / 2 if the asymmetry is rounding"
        )
    return readonly(0.5 * (a + a.T))


def orthogonal_matrix(name: str, value: Any, dim: int) -> np.ndarray:
    """A ``dim × dim`` orthogonal matrix: ``|QᵀQ − I| ≤ 100·d·eps`` (a float64 QR factor)."""
    q = finite_array(name, value, 2)
    if q.shape != (dim, dim):
        raise ValueError(f"{name} must have shape ({dim}, {dim}), got {q.shape}")
    deviation = float(np.abs(q.T @ q - np.eye(dim)).max())
    if deviation > 100 * dim * EPS:
        raise ValueError(
            f"{name} must be orthogonal (|QᵀQ - I| <= {100 * dim * EPS:.2g}), got deviation "
            f"{deviation:.3g}; pass the Q factor of np.linalg.qr"
        )
    return readonly(q)


def state(x: Any, dim: int) -> np.ndarray:
    """One state ``(dim,)`` as float64 (shape checked; values are the caller's business)."""
    a = np.asarray(x, dtype=np.float64)
    if a.shape != (dim,):
        raise ValueError(f"x must have shape ({dim},), got shape {a.shape}")
    return a


def states(xs: Any, dim: int) -> np.ndarray:
    """An ensemble ``(n, dim)`` as float64."""
    a = np.asarray(xs, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != dim:
        raise ValueError(f"xs must have shape (n, {dim}), got shape {a.shape}")
    return a


def readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def descending(values: Any) -> np.ndarray:
    return np.sort(np.asarray(values, dtype=np.float64))[::-1].copy()


def curvatures_of(a: np.ndarray) -> np.ndarray:
    """The eigenvalues of a symmetric matrix ``a``, descending and read-only: exact for a
    diagonal ``a`` (no eigensolver rounding for diagonal Hessians), else from ``eigvalsh``."""
    if np.array_equal(a, np.diag(np.diag(a))):
        alpha = np.diag(a).copy()
    else:
        alpha = np.linalg.eigvalsh(a)
    return readonly(descending(alpha))


class Deterministic:
    """Mixin for maps without noise: one step's noise is ``None`` (the map protocol)."""

    __slots__ = ()

    def sample_noise(self, rng: np.random.Generator) -> None:
        return None
