"""Kaplan–Yorke and sharpness dimensions of an ordered spectrum (layer 1: numpy only).

Both dimensions are the same formula applied to different numbers:

* ``kaplan_yorke_dimension`` takes long-time Lyapunov exponents ``Λ_1 ≥ … ≥ Λ_d``;
* ``sharpness_dimension`` takes one-step RDS sharpness values ``λ_1 ≥ … ≥ λ_d``
  (docs/theory.md §3), optionally weighted (a spectral density: nodes ``z_r``, masses ``m_r``).

Convention (pinned in ``theory_checks/test_dimension_conventions.py``): values are sorted
descending here, so input order never matters; ``j*`` is the **largest** index whose partial
sum is ``≥ 0`` (flat directions count); the dimension is ``0`` when the top value is ``< 0``
and the total mass when every partial sum is ``≥ 0``. ``-inf`` (a zero singular value) is a
valid value; NaN and ``+inf`` are not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.special import ndtr

from sharpdim import _validate

__all__ = [
    "GaussianMixtureDimension",
    "gaussian_mixture_dimension",
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
    """Sharpness dimension (SD) of RDS sharpness values, plain or weighted (docs/theory.md §3).

    Unweighted: the Kaplan–Yorke formula on ``λ_1 ≥ … ≥ λ_d``. Weighted (spectral densities):
    nodes ``z_r`` with masses ``m_r ≥ 0``, ``SD = Σ_{r≤j} m_r + S_j/|z_{j+1}|`` truncated to
    ``[0, Σ m_r]``; unit weights give the unweighted value exactly.

    >>> # GD on a quadratic with curvatures (3, 0.5) at lr = 1: λ = ln|1 - α| = (ln 2, ln 0.5)
    >>> sharpness_dimension([np.log(2), np.log(0.5)])  # partial sums 0.69.., 0.0 -> SD = d
    2.0
    """
    return kaplan_yorke_decomposition(values, weights).dimension


@dataclass(frozen=True)
class GaussianMixtureDimension:
    """Weighted SD of the Gaussian mixture ``p(z) = Σ_r m_r φ_σ(z − z_r)`` with its pieces.

    ``crossing`` is the root ``t*`` of the partial sum ``S(t) = ∫_{z ≥ t} z p(z) dz`` (the
    value at the crossing, the continuous analogue of ``z_{j*+1}``; ``None`` when
    ``S ≥ 0`` everywhere, i.e. ``Σ m_r z_r ≥ 0``), ``dimension = M(t*)`` the mass above it,
    ``bandwidth`` ``σ`` and ``total_mass`` ``Σ m_r``.
    """

    dimension: float
    crossing: float | None
    bandwidth: float
    total_mass: float


def _mixture_tail(t: float, z: np.ndarray, m: np.ndarray, sigma: float) -> tuple[float, float]:
    """``(S(t), M(t))``: ``∫_{z≥t} z p`` and ``∫_{z≥t} p`` of the mixture, in closed form."""
    u = (t - z) / sigma
    upper = ndtr(-u)                                   # 1 − Φ(u), accurate in the tail
    density = np.exp(-0.5 * u * u) / math.sqrt(2.0 * math.pi)
    return float(m @ (z * upper + sigma * density)), float(m @ upper)


def gaussian_mixture_dimension(values, weights=None, *,
                               bandwidth: float) -> GaussianMixtureDimension:
    """Weighted sharpness dimension of the Gaussian kernel density of ``values`` — without a
    grid.

    The weighted SD of a measure ``ν`` of mass ``W`` is ``max{M : Φ(M) ≥ 0}`` with
    ``Φ(M) = ∫_0^M Q(u) du`` and ``Q`` the decreasing quantile function (the weighted
    Kaplan–Yorke formula, :func:`kaplan_yorke_decomposition`, is this for atoms). For the
    mixture ``p(z) = Σ_r m_r φ_σ(z − z_r)`` the top-mass integral and the mass above ``t`` are
    closed forms (``u_r = (t − z_r)/σ``, ``Φ``, ``φ`` the standard normal cdf and pdf):

        S(t) = Σ_r m_r [z_r (1 − Φ(u_r)) + σ φ(u_r)],     M(t) = Σ_r m_r (1 − Φ(u_r)).

    ``S' (t) = −t p(t)``: ``S`` rises to its maximum at ``t = 0`` and falls on ``t < 0`` to
    ``S(−∞) = Σ m_r z_r``. Hence ``SD = W`` when ``Σ m_r z_r ≥ 0``, and otherwise
    ``SD = M(t*)`` with ``t* < 0`` the unique root of ``S`` (found by Brent's method to
    ``|δt| ≤ 10⁻¹³ σ``, then corrected to first order, ``M(t) + S(t)/|t|``, since
    ``dS/dM = t``).

    Conventions (pinned in ``tests/test_dimension.py``): the kernel has unbounded support, so
    the density always has mass above 0 and ``SD > 0`` even when every atom is negative — it
    is the mass ``M(t*)`` of the tail that balances, ``O(W e^{−z_max²/2σ²})``, and tends to the
    atoms' ``SD = 0`` as ``σ → 0``; in float64 it underflows to exactly 0 once
    ``z_max < −38σ``. ``bandwidth = 0`` *is* the atoms' weighted SD
    (:func:`sharpness_dimension`; ``crossing`` is then ``z_{j*+1}``). ``−inf`` atoms carry no
    mass above any finite ``t``, and make ``Σ m_r z_r = −∞``.

    >>> d = gaussian_mixture_dimension([1.0, -1.0], bandwidth=0.5)   # symmetric: Σ m z = 0
    >>> d.dimension, d.crossing
    (2.0, None)
    >>> d = gaussian_mixture_dimension([1.0, -3.0], bandwidth=1e-9)  # → atoms' SD 1 + 1/3
    >>> round(d.dimension, 9), round(d.crossing, 9)
    (1.333333333, -3.0)
    """
    z, m = _validated(values, weights)
    total = float(m.sum())
    sigma = _validate.non_negative("bandwidth", bandwidth)
    if sigma == 0:
        d = kaplan_yorke_decomposition(z, m)
        return GaussianMixtureDimension(d.dimension, d.next_value, 0.0, total)
    finite = np.isfinite(z)
    if finite.all() and float(m @ z) >= 0:
        return GaussianMixtureDimension(total, None, sigma, total)
    zf, mf = z[finite], m[finite]
    if zf.size == 0:                     # every atom at −inf: no mass above any finite t
        return GaussianMixtureDimension(0.0, None, sigma, total)
    # Σ m z < 0 (or −inf): the root lies in (z_min − 40σ, 0], where S(z_min − 40σ) = Σ m z.
    lo = min(float(zf.min()) - 40.0 * sigma, -40.0 * sigma)
    s_lo = _mixture_tail(lo, zf, mf, sigma)[0]
    if np.all(finite) and s_lo >= 0:     # rounding of Σ m z near 0: every partial sum ≥ 0
        return GaussianMixtureDimension(total, None, sigma, total)
    s_hi, m_hi = _mixture_tail(0.0, zf, mf, sigma)
    if s_hi <= 0:                        # the tail above 0 underflowed: no mass that balances
        return GaussianMixtureDimension(min(max(m_hi, 0.0), total), 0.0, sigma, total)
    if s_lo >= 0:                        # finite atoms balance; only −inf atoms lie below
        return GaussianMixtureDimension(float(mf.sum()), None, sigma, total)
    root = brentq(lambda t: _mixture_tail(t, zf, mf, sigma)[0], lo, 0.0,
                  xtol=1e-13 * sigma, rtol=4 * np.finfo(np.float64).eps, maxiter=500)
    # M(t*) directly would inherit the rounding of t* (one ulp of t moves M by p(t)·eps|t|,
    # large when σ ≪ |t|); S as a function of M has slope Q = t, so the first-order
    # correction M(t) + S(t)/|t| is exact up to O(S²) and rounding of S (eps·Σ|m z|).
    s_root, mass = _mixture_tail(root, zf, mf, sigma)
    if root < 0:                         # t* = 0: no mass above 0 that needs balancing
        mass += s_root / abs(root)
    return GaussianMixtureDimension(min(max(mass, 0.0), total), float(root), sigma, total)
