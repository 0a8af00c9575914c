"""Strategies for spectra: arrays of exponents / sharpness values, and weighted spectra (a
discrete spectral density) (:mod:`sharpdim.testing.strategies`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from sharpdim.testing.strategies._checks import _bounds, _check_dims, _choice, _fail, _flag, _real

__all__ = ["WeightedSpectrum", "spectra", "weighted_spectra"]

_ORDERS = ("any", "descending", "ascending")


def _ordered(values: np.ndarray, order: str) -> np.ndarray:
    if order == "descending":
        return np.sort(values)[::-1].copy()
    if order == "ascending":
        return np.sort(values)
    return values


def _value_strategy(min_value: float, max_value: float, resolution: float | None):
    if resolution is None:
        return st.floats(min_value, max_value, allow_nan=False, allow_infinity=False)
    lo, hi = math.ceil(min_value / resolution), math.floor(max_value / resolution)
    return st.integers(lo, hi).map(lambda k: k * resolution)


def _check_resolution(resolution, min_value: float, max_value: float, max_dim: int):
    if resolution is None:
        return None
    r = _real("resolution", resolution, minimum=0, open_min=True)
    mantissa, _ = math.frexp(r)
    if mantissa != 0.5:
        _fail(f"resolution must be a power of two (so sums are exact), got {resolution!r}")
    if math.floor(max_value / r) < math.ceil(min_value / r):
        _fail(
            f"resolution={resolution!r} leaves no multiple in [min_value, max_value] = "
            f"[{min_value!r}, {max_value!r}]"
        )
    # Multiples of r add exactly while every partial sum stays below 2**53 · r.
    if max(abs(min_value), abs(max_value)) / r * max_dim >= 2.0**53:
        _fail(f"resolution={resolution!r} is too fine for exact sums of {max_dim} values")
    return r


def spectra(
    *,
    min_dim: int = 1,
    max_dim: int = 6,
    min_value: float = -5.0,
    max_value: float = 5.0,
    allow_neg_inf: bool = False,
    allow_ties: bool = False,
    allow_zeros: bool = False,
    order: str = "any",
    resolution: float | None = None,
) -> SearchStrategy[np.ndarray]:
    """1-D float64 arrays of exponents / sharpness values, for SD and Kaplan–Yorke checks.

    Draws a length in ``[min_dim, max_dim]`` and finite entries in ``[min_value, max_value]``.
    ``allow_neg_inf``: entries may be ``-inf`` (a zero singular value; at least one entry
    stays finite). ``allow_ties``: entries may repeat an earlier entry exactly.
    ``allow_zeros``: entries may be exactly ``0.0`` (needs ``min_value ≤ 0 ≤ max_value``).
    ``order``: ``"any"`` (as drawn), ``"descending"`` or ``"ascending"``. ``resolution``: a
    power of two ``r``; entries are then multiples of ``r`` and every partial sum is exact in
    float64, so conventions such as "partial sum ``≥ 0``" can be tested without rounding.
    Shrinks toward short arrays of values near 0 without ``-inf`` or ties.

    >>> spectra(min_dim=3, max_dim=2)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sharpdim.testing.strategies.InvalidStrategyArgument: min_dim must be <= max_dim, got ...
    """
    min_dim, max_dim = _check_dims(min_dim, max_dim)
    lo, hi = _bounds("value", min_value, max_value)
    for name, flag in (("allow_neg_inf", allow_neg_inf), ("allow_ties", allow_ties),
                       ("allow_zeros", allow_zeros)):
        _flag(name, flag)
    if allow_zeros and not lo <= 0.0 <= hi:
        _fail(f"allow_zeros needs min_value <= 0 <= max_value, got [{lo!r}, {hi!r}]")
    _choice("order", order, _ORDERS)
    res = _check_resolution(resolution, lo, hi, max_dim)
    fresh = _value_strategy(lo, hi, res)
    if allow_zeros:
        fresh = st.one_of(fresh, st.just(0.0))

    @st.composite
    def build(draw) -> np.ndarray:
        n = draw(st.integers(min_dim, max_dim))
        values: list[float] = []
        for i in range(n):
            if allow_ties and i > 0 and draw(st.booleans()):
                values.append(values[draw(st.integers(0, i - 1))])
            else:
                values.append(draw(fresh))
        out = np.array(values, dtype=np.float64)
        if allow_neg_inf and n > 1:
            # Entry 0 stays finite: an all -inf spectrum is a degenerate map, not a test case.
            n_inf = draw(st.one_of(st.just(0), st.integers(1, n - 1)))
            out[n - n_inf:] = -np.inf
            out = out[draw(st.permutations(range(n)))]
        return _ordered(out, order)

    return build()


@dataclass(frozen=True, eq=False)
class WeightedSpectrum:
    """Nodes ``values`` with masses ``weights`` (a discrete spectral density)."""

    values: np.ndarray
    weights: np.ndarray


def weighted_spectra(
    *,
    min_dim: int = 1,
    max_dim: int = 6,
    min_value: float = -5.0,
    max_value: float = 5.0,
    min_weight: float = 0.1,
    max_weight: float = 10.0,
    integer_weights: bool = False,
    allow_zero_weights: bool = False,
    allow_neg_inf: bool = False,
    allow_ties: bool = False,
    allow_zeros: bool = False,
    order: str = "any",
    resolution: float | None = None,
) -> SearchStrategy[WeightedSpectrum]:
    """Values as in :func:`spectra` plus one weight per value in ``[min_weight, max_weight]``.

    ``integer_weights``: weights are whole numbers (floats), so a weighted spectrum equals the
    unweighted one with each value repeated; needs an integer in the weight range.
    ``allow_zero_weights``: some weights may be exactly 0 (at least one stays positive).
    Shrinks like :func:`spectra`, weights toward the simplest value in range.
    """
    w_lo, w_hi = _bounds("weight", min_weight, max_weight, minimum=0, open_min=True)
    _flag("integer_weights", integer_weights)
    _flag("allow_zero_weights", allow_zero_weights)
    if integer_weights and math.ceil(w_lo) > math.floor(w_hi):
        _fail(f"integer_weights needs an integer in [min_weight, max_weight] = [{w_lo}, {w_hi}]")
    values = spectra(min_dim=min_dim, max_dim=max_dim, min_value=min_value, max_value=max_value,
                     allow_neg_inf=allow_neg_inf, allow_ties=allow_ties, allow_zeros=allow_zeros,
                     order=order, resolution=resolution)
    if integer_weights:
        weight = st.integers(math.ceil(w_lo), math.floor(w_hi)).map(float)
    else:
        weight = st.floats(w_lo, w_hi, allow_nan=False, allow_infinity=False)

    @st.composite
    def build(draw) -> WeightedSpectrum:
        z = draw(values)
        m = np.array(draw(st.lists(weight, min_size=z.size, max_size=z.size)))
        if allow_zero_weights and z.size > 1:
            zero = np.array(draw(st.lists(st.booleans(), min_size=z.size, max_size=z.size)))
            zero[draw(st.integers(0, z.size - 1))] = False
            m[zero] = 0.0
        return WeightedSpectrum(z, m)

    return build()
