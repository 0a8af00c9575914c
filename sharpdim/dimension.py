"""Kaplan–Yorke and sharpness dimensions of an ordered spectrum (layer 1: numpy only).

Both dimensions are the same formula applied to different numbers:

* ``kaplan_yorke_dimension`` takes long-time Lyapunov exponents ``Λ_1 ≥ … ≥ Λ_d``;
* ``sharpness_dimension`` takes one-step RDS sharpness values ``λ_1 ≥ … ≥ λ_d``
  (PAPER_NOTES §3), optionally weighted (a spectral density: nodes ``z_r``, masses ``m_r``).

Convention (pinned in ``theory_checks/test_dimension_conventions.py``): values are sorted
descending here, so input order never matters; ``j*`` is the **largest** index whose partial
sum is ``≥ 0`` (flat directions count); the dimension is ``0`` when the top value is ``< 0``
and the total mass when every partial sum is ``≥ 0``. ``-inf`` (a zero singular value) is a
valid value; NaN and ``+inf`` are not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "KaplanYorkeDecomposition",
    "as_float_array",
    "kaplan_yorke_decomposition",
    "kaplan_yorke_dimension",
    "sharpness_dimension",
]


@dataclass(frozen=True)
class KaplanYorkeDecomposition:
    """The pieces of the Kaplan–Yorke formula ``D = M_{j*} + S_{j*} / |z_{j*+1}|``.

    ``transition_index`` is ``j*`` (number of leading atoms whose partial sum stays ``≥ 0``),
    ``integer_part`` the mass ``M_{j*}`` of those atoms (``= j*`` for unit weights),
    ``partial_sum`` ``S_{j*}``, ``next_value`` ``z_{j*+1}`` (``None`` when ``j*`` is the last
    atom or the top value is negative), ``total_mass`` ``Σ m_r`` and ``dimension`` ``D``.
    """

    dimension: float
    transition_index: int
    integer_part: float
    partial_sum: float
    next_value: float | None
    total_mass: float


def as_float_array(name: str, value) -> np.ndarray:
    """``value`` as a float64 array, or a ``TypeError`` naming ``name`` (the one conversion
    every array argument of the package goes through): ``None``, strings, ragged nested
    sequences, complex numbers and objects float64 cannot hold are refused, never cast.

    >>> as_float_array("x", [1, 2]).tolist()
    [1.0, 2.0]
    """
    if value is None or isinstance(value, str | bytes):
        raise TypeError(f"{name} must be real numbers (array-like of float), got "
                        f"{type(value).__name__} {value!r}")
    try:
        raw = np.asarray(value)
        if np.iscomplexobj(raw):
            raise TypeError("complex values are not real numbers")
        return raw.astype(np.float64, copy=False)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"{name} must be real numbers (array-like of float), got {type(value).__name__} "
            f"that float64 cannot hold: {str(err).splitlines()[0]}"
        ) from None


def _validated(values, weights) -> tuple[np.ndarray, np.ndarray]:
    z = as_float_array("values", values)
    if z.ndim != 1:
        z = z.reshape(-1) if z.ndim == 0 else z
        if z.ndim != 1:
            raise ValueError(f"values must be one-dimensional, got shape {np.shape(values)}")
    if z.size == 0:
        raise ValueError("values must be non-empty, got an empty array")
    if np.isnan(z).any():
        bad = int(np.flatnonzero(np.isnan(z))[0])
        raise ValueError(f"values must not contain NaN, got NaN at index {bad}")
    if np.isposinf(z).any():
        bad = int(np.flatnonzero(np.isposinf(z))[0])
        raise ValueError(
            f"values must be finite or -inf, got +inf at index {bad} "
            "(an infinite expansion rate usually means the run diverged)"
        )
    if weights is None:
        return z, np.ones_like(z)
    m = as_float_array("weights", weights)
    if m.shape != z.shape:
        raise ValueError(
            f"weights must have the shape of values {z.shape}, got shape {m.shape}"
        )
    if not np.isfinite(m).all():
        bad = int(np.flatnonzero(~np.isfinite(m))[0])
        raise ValueError(f"weights must be finite, got {m[bad]} at index {bad}")
    if (m < 0).any():
        bad = int(np.flatnonzero(m < 0)[0])
        raise ValueError(f"weights must be >= 0, got {m[bad]} at index {bad}")
    if not (m > 0).any():
        raise ValueError("weights must have positive total mass, got all zeros")
    with np.errstate(over="ignore"):
        total = m.sum()
    if not np.isfinite(total):
        raise ValueError(f"weights must have a finite total, got a sum that overflows: {total}")
    keep = m > 0  # zero-mass atoms carry no dimension; dropping them keeps z_{j+1} meaningful
    return z[keep], m[keep]


def _overflow_exponent(z: np.ndarray, m: np.ndarray) -> int:
    """Smallest ``k ≥ 0`` with ``Σ_r |m_r z_r| 2^-k`` safely inside the float64 range."""
    finite = np.isfinite(z)
    if not finite.any():
        return 0
    e_z = int(np.frexp(np.abs(z[finite]).max())[1])  # max|z| < 2**e_z
    e_m = int(np.frexp(m.max())[1])
    e_n = int(z.size).bit_length()  # n <= 2**e_n
    return max(0, e_z + e_m + e_n - 1022)


def kaplan_yorke_decomposition(values, weights=None) -> KaplanYorkeDecomposition:
    """Kaplan–Yorke formula with its pieces, for plain or weighted spectra.

    Sort ``z`` descending (masses follow), ``S_j = Σ_{r≤j} m_r z_r``, ``j*`` = largest ``j``
    with ``S_j ≥ 0``. Then ``D = 0`` if ``z_1 < 0``; ``D = Σ m_r`` if ``j*`` is the last atom;
    else ``D = Σ_{r≤j*} m_r + S_{j*}/|z_{j*+1}|``, which lies in ``[M_{j*}, M_{j*+1})``.

    >>> d = kaplan_yorke_decomposition([0.0, -np.log(2)])  # flat direction counts (≥ 0)
    >>> d.transition_index, d.dimension
    (1, 1.0)
    """
    z, m = _validated(values, weights)
    order = np.argsort(-z, kind="stable")
    z, m = z[order], m[order]
    total = float(m.sum())
    if z[0] < 0:
        return KaplanYorkeDecomposition(0.0, 0, 0.0, 0.0, None, total)
    # The formula is invariant under z -> c z (c > 0): rescale by an exact power of two when
    # the partial sums could overflow (|z| near 1e308), instead of summing to inf.
    k = _overflow_exponent(z, m)
    zs = np.ldexp(z, -k)
    with np.errstate(invalid="ignore"):  # m * (-inf) is -inf, never NaN since m > 0
        partial = np.cumsum(m * zs)
    # Sorted descending, so partial sums rise then fall: {j : S_j ≥ 0} is a prefix.
    j = int(np.flatnonzero(partial >= 0)[-1]) + 1
    mass = float(m[:j].sum())
    with np.errstate(over="ignore"):  # a true S_j beyond the float range is reported as inf
        s_j = float(np.ldexp(partial[j - 1], k))
    if j == z.size:
        return KaplanYorkeDecomposition(total, j, mass, s_j, None, total)
    nxt = float(z[j])  # < 0, since S_{j+1} = S_j + m z_{j+1} < 0 ≤ S_j
    frac = 0.0 if np.isneginf(nxt) else float(partial[j - 1]) / abs(float(zs[j]))
    dim = min(max(mass + frac, 0.0), total)
    return KaplanYorkeDecomposition(dim, j, mass, s_j, nxt, total)


def kaplan_yorke_dimension(exponents) -> float:
    """Kaplan–Yorke (Lyapunov) dimension of a spectrum of Lyapunov exponents.

    ``D_KY = j + (Λ_1 + … + Λ_j) / |Λ_{j+1}|`` with ``j`` the largest index whose partial sum
    is ``≥ 0``; ``0`` when ``Λ_1 < 0``, ``d`` when all partial sums are ``≥ 0``. Exponents are
    sorted descending first; ``-inf`` is allowed.

    >>> round(kaplan_yorke_dimension([np.log(2), -np.log(4)]), 12)  # 1 + ln2 / ln4
    1.5
    """
    return kaplan_yorke_decomposition(exponents).dimension


def sharpness_dimension(values, weights=None) -> float:
    """Sharpness dimension (SD) of RDS sharpness values, plain or weighted (PAPER_NOTES §3).

    Unweighted: the Kaplan–Yorke formula on ``λ_1 ≥ … ≥ λ_d``. Weighted (spectral densities):
    nodes ``z_r`` with masses ``m_r ≥ 0``, ``SD = Σ_{r≤j} m_r + S_j/|z_{j+1}|`` truncated to
    ``[0, Σ m_r]``; unit weights give the unweighted value exactly.

    >>> # GD on a quadratic with curvatures (3, 0.5) at lr = 1: λ = ln|1 - α| = (ln 2, ln 0.5)
    >>> sharpness_dimension([np.log(2), np.log(0.5)])  # partial sums 0.69.., 0.0 -> SD = d
    2.0
    """
    return kaplan_yorke_decomposition(values, weights).dimension
