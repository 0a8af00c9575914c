"""Hypothesis strategies for spectra, curvature and (random) maps with known answers.

Public API for third parties, in the style of ``hypothesis.extra.numpy``. Every strategy

* takes keyword-only ``min_*``/``max_*`` bounds and validates them **when it is built** (an
  :class:`InvalidStrategyArgument`, which is both a ``ValueError`` and Hypothesis'
  ``InvalidArgument``, names the argument, the rule and the value);
* **generates parameters, then builds the object**: a symmetric matrix is ``Q diag(α) Qᵀ``
  with ``Q`` from the QR decomposition of a Gaussian matrix, a GD problem in a requested
  regime is built from scaled curvatures ``ηα`` drawn in that regime — nothing is filtered;
* returns plain floats/arrays or a small frozen dataclass carrying the generating parameters
  (the eigenvalues, the basis, the regime), so a test can use them as its oracle.

Shrinking: dimensions shrink toward ``min_dim``, values toward the simplest number in range
(0 or the bound nearest to it), optional features (``-inf`` entries, ties, zero weights,
extra unstable directions, random rotations) shrink away, and a Haar rotation shrinks toward
the one drawn from seed 0.

>>> from hypothesis import given
>>> @given(symmetric_matrices(max_dim=3))
... def test(s):
...     assert np.allclose(s.matrix, s.matrix.T)
>>> test()
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.strategies import SearchStrategy

from sharpdim import _validate
from sharpdim.testing.oracles._deep_linear import DeepLinearShape

__all__ = [
    "InvalidStrategyArgument",
    "WeightedSpectrum",
    "SymmetricMatrix",
    "QuadraticGDParameters",
    "HeavyBallParameters",
    "LogisticParameters",
    "ScalarNetworkParameters",
    "DeepLinearNetworkParameters",
    "spectra",
    "weighted_spectra",
    "orthogonal_matrices",
    "symmetric_matrices",
    "quadratic_losses",
    "heavy_ball_parameters",
    "random_linear_rds",
    "logistic_parameters",
    "scalar_network_parameters",
    "deep_linear_networks",
    "LINEAR_RDS_KINDS",
    "GD_REGIMES",
    "LOGISTIC_REGIMES",
    "SCALAR_NETWORK_REGIMES",
]


class InvalidStrategyArgument(InvalidArgument, ValueError):
    """A strategy was built with bad arguments (raised eagerly, at construction)."""


# ----------------------------------------------------------------------------- validation


def _fail(message: str) -> None:
    raise InvalidStrategyArgument(message)


def _as_strategy_error(check):
    """``check`` (a :mod:`sharpdim._validate` rule) raising :class:`InvalidStrategyArgument`,
    what Hypothesis expects of a strategy built with bad arguments (it is a ``TypeError`` and a
    ``ValueError``, so the package's exception policy holds)."""

    def checked(name: str, value, *args, **kwargs):
        try:
            return check(name, value, *args, **kwargs)
        except ValueError as e:            # _validate.ArgumentTypeError is a ValueError too
            raise InvalidStrategyArgument(str(e)) from None

    return checked


_integer = _as_strategy_error(_validate.integer)
_real = _as_strategy_error(_validate.real)
_choice = _as_strategy_error(_validate.choice)
_flag = _as_strategy_error(_validate.flag)


def _check_range(lo_name: str, lo: float, hi_name: str, hi: float) -> None:
    if lo > hi:
        _fail(f"{lo_name} must be <= {hi_name}, got {lo_name}={lo!r} > {hi_name}={hi!r}")


def _check_dims(min_dim, max_dim) -> tuple[int, int]:
    lo = _integer("min_dim", min_dim, minimum=1)
    hi = _integer("max_dim", max_dim, minimum=1)
    _check_range("min_dim", lo, "max_dim", hi)
    return lo, hi


# ----------------------------------------------------------------------------- spectra

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
    lo = _real("min_value", min_value)
    hi = _real("max_value", max_value)
    _check_range("min_value", lo, "max_value", hi)
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
    w_lo = _real("min_weight", min_weight, minimum=0, open_min=True)
    w_hi = _real("max_weight", max_weight, minimum=0, open_min=True)
    _check_range("min_weight", w_lo, "max_weight", w_hi)
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


# ----------------------------------------------------------------------------- matrices

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
        lo = _real("min_eigenvalue", min_eigenvalue)
        hi = _real("max_eigenvalue", max_eigenvalue)
        _check_range("min_eigenvalue", lo, "max_eigenvalue", hi)
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


# ----------------------------------------------------------------------------- GD on quadratics

GD_REGIMES = ("stable", "edge_of_stability", "negative_curvature", "any")
_VOLUMES = ("any", "contracting")


@dataclass(frozen=True, eq=False)
class QuadraticGDParameters:
    """GD ``w ↦ w − lr·H w`` on the quadratic ``½ wᵀ H w``, with ``H``'s spectrum known.

    ``regime`` is the generated one: ``"stable"`` (every ``lr·α ∈ (0, 2)``),
    ``"edge_of_stability"`` (some ``lr·α > 2``, none negative), ``"negative_curvature"``
    (some ``α < 0``, every ``lr·α < 2``) or ``"both"`` (some ``lr·α > 2`` and some ``α < 0``).
    """

    hessian: np.ndarray
    eigenvalues: np.ndarray
    basis: np.ndarray
    lr: float
    regime: str

    @property
    def dim(self) -> int:
        return int(self.eigenvalues.size)

    @property
    def scaled_curvatures(self) -> np.ndarray:
        """``lr·α``, descending."""
        return self.lr * self.eigenvalues

    @property
    def one_step_sharpness(self) -> np.ndarray:
        """Closed form ``λ_k = ln|1 − lr·α|`` sorted descending (the Jacobian ``I − lr·H`` is
        symmetric, so its singular values are ``|1 − lr·α|``)."""
        with np.errstate(divide="ignore"):
            return np.sort(np.log(np.abs(1.0 - self.lr * self.eigenvalues)))[::-1].copy()

    def system(self):
        """The map :func:`sharpdim.systems.quadratic_gd` ``(hessian, lr)``."""
        from sharpdim.systems.quadratic import quadratic_gd

        return quadratic_gd(self.hessian, self.lr)


def _scaled_curvatures(draw, regime: str, dim: int, margin: float, lo: float, hi: float,
                       volume: str) -> tuple[np.ndarray, str]:
    stable = st.floats(margin, 2.0 - margin)
    expanding = st.floats(2.0 + margin, hi)
    negative = st.floats(lo, -margin)
    if regime == "any":
        choices = ["stable", "edge_of_stability", "negative_curvature"]
        if dim >= 2 + (volume == "contracting"):
            choices.append("both")
        regime = draw(st.sampled_from(choices))
    if regime == "stable":
        return np.array(draw(st.lists(stable, min_size=dim, max_size=dim))), regime
    n_free = dim - 1 if volume == "contracting" else dim  # keep one contracting direction
    kinds = {"edge_of_stability": [expanding], "negative_curvature": [negative],
             "both": [expanding, negative]}[regime]
    x = [draw(k) for k in kinds]
    n_more = draw(st.integers(0, n_free - len(x)))
    x += [draw(st.sampled_from(kinds).flatmap(lambda s: s)) for _ in range(n_more)]
    x += draw(st.lists(stable, min_size=dim - len(x), max_size=dim - len(x)))
    x = np.array(x)
    if volume == "contracting":
        x = _force_contraction(draw, x, margin)
    return x, regime


def _force_contraction(draw, x: np.ndarray, margin: float) -> np.ndarray:
    """Scale the log-contractions of the stable directions until ``Σ ln|1 − x| < 0``.

    Only contractions ``ln|1 − x| < 0`` are scaled, by a factor ``> 1``, so each stable ``x``
    moves toward 1 and stays in ``[margin, 2 − margin]``.
    """
    with np.errstate(divide="ignore"):  # x = 1 exactly: an infinitely contracting direction
        logs = np.log(np.abs(1.0 - x))
    inside = logs < 0
    expansion, contraction = logs[~inside].sum(), -logs[inside].sum()
    if contraction > expansion:
        return x
    rho = draw(st.floats(margin, 1.0))
    scaled = logs[inside] * (expansion * (1.0 + rho) / contraction)
    x = x.copy()
    x[inside] = 1.0 - np.sign(1.0 - x[inside]) * np.exp(scaled)
    return x


def quadratic_losses(
    *,
    min_dim: int = 1,
    max_dim: int = 6,
    min_lr: float = 0.01,
    max_lr: float = 1.0,
    regime: str = "any",
    volume: str = "any",
    margin: float = 0.05,
    min_scaled_curvature: float = -2.0,
    max_scaled_curvature: float = 4.0,
    basis: str = "haar",
) -> SearchStrategy[QuadraticGDParameters]:
    """GD on quadratics ``½ wᵀ H w`` in a chosen stability regime.

    Draws ``lr ∈ [min_lr, max_lr]`` and scaled curvatures ``x = lr·α``: stable ones in
    ``[margin, 2 − margin]``, expanding ones in ``[2 + margin, max_scaled_curvature]``,
    negative ones in ``[min_scaled_curvature, −margin]``, as ``regime`` asks (see
    :class:`QuadraticGDParameters`; ``"any"`` picks one of them).
    ``volume="contracting"`` also makes ``Σ ln|1 − x| < 0`` by strengthening the stable
    directions (needs ``min_dim ≥ 2`` outside the stable regime). Then
    ``H = Q diag(x / lr) Qᵀ``. The ``margin`` keeps every ``x`` away from the thresholds 0 and
    2, so the regime survives rounding. Shrinks toward small ``lr``, one unstable direction
    and the rotation of seed 0.
    """
    min_dim, max_dim = _check_dims(min_dim, max_dim)
    lr_lo = _real("min_lr", min_lr, minimum=0, open_min=True)
    lr_hi = _real("max_lr", max_lr, minimum=0, open_min=True)
    _check_range("min_lr", lr_lo, "max_lr", lr_hi)
    _choice("regime", regime, GD_REGIMES)
    _choice("volume", volume, _VOLUMES)
    _choice("basis", basis, _BASES)
    m = _real("margin", margin, minimum=0, open_min=True)
    if m >= 1.0:
        _fail(f"margin must be < 1 (stable scaled curvatures lie in (0, 2)), got {margin!r}")
    lo = _real("min_scaled_curvature", min_scaled_curvature)
    hi = _real("max_scaled_curvature", max_scaled_curvature)
    if regime in ("negative_curvature", "any") and lo > -m:
        _fail(f"min_scaled_curvature must be <= -margin = {-m!r} for regime={regime!r}, "
              f"got {lo!r}")
    if regime in ("edge_of_stability", "any") and hi < 2.0 + m:
        _fail(f"max_scaled_curvature must be >= 2 + margin = {2.0 + m!r} for regime={regime!r}, "
              f"got {hi!r}")
    if volume == "contracting" and regime != "stable" and min_dim < 2:
        _fail(f"volume='contracting' with regime={regime!r} needs min_dim >= 2 (one unstable "
              f"and one contracting direction), got {min_dim}")

    @st.composite
    def build(draw) -> QuadraticGDParameters:
        dim = draw(st.integers(min_dim, max_dim))
        lr = draw(st.floats(lr_lo, lr_hi))
        x, label = _scaled_curvatures(draw, regime, dim, m, lo, hi, volume)
        sym = _symmetric_from(x / lr, draw(_basis_strategy(basis, dim)))
        return QuadraticGDParameters(sym.matrix, sym.eigenvalues, sym.basis, lr, label)

    return build()


# ----------------------------------------------------------------------------- heavy ball


@dataclass(frozen=True, eq=False)
class HeavyBallParameters:
    """Heavy ball ``v' = β v + H w``, ``w' = w − lr·v'`` on ``½ wᵀ H w``.

    Per eigenvalue ``α`` the state map is the 2×2 block ``[[1 − lr α, −lr β], [α, β]]`` with
    characteristic polynomial ``z² − (1 + β − lr α) z + β`` (determinant ``β``); both roots lie
    inside the unit circle iff ``0 < lr·α < 2(1 + β)`` (Schur–Cohn). ``regime`` is
    ``"stable"`` (every direction inside) or ``"edge_of_stability"`` (some ``lr·α > 2(1+β)``).
    """

    hessian: np.ndarray
    eigenvalues: np.ndarray
    basis: np.ndarray
    lr: float
    momentum: float
    regime: str

    @property
    def dim(self) -> int:
        return int(self.eigenvalues.size)

    def system(self):
        """The map :func:`sharpdim.systems.heavy_ball_quadratic` ``(hessian, lr, momentum)``."""
        from sharpdim.systems.heavy_ball import heavy_ball_quadratic

        return heavy_ball_quadratic(self.hessian, self.lr, self.momentum)


def heavy_ball_parameters(
    *,
    min_dim: int = 1,
    max_dim: int = 4,
    min_lr: float = 0.01,
    max_lr: float = 1.0,
    min_momentum: float = 0.0,
    max_momentum: float = 0.9,
    regime: str = "any",
    margin: float = 0.05,
    max_excess: float = 2.0,
    basis: str = "haar",
) -> SearchStrategy[HeavyBallParameters]:
    """Heavy-ball momentum on quadratics, stable or beyond its edge of stability.

    Draws ``β ∈ [min_momentum, max_momentum]`` (``0 ≤ β < 1``), ``lr``, and scaled curvatures
    ``x = lr·α``: stable ones in ``[margin, 2(1+β) − margin]``, unstable ones in
    ``[2(1+β) + margin, 2(1+β) + max_excess]``; ``regime`` in ``"stable"``,
    ``"edge_of_stability"`` (at least one unstable) or ``"any"``. Then ``H = Q diag(x/lr) Qᵀ``.
    """
    min_dim, max_dim = _check_dims(min_dim, max_dim)
    lr_lo = _real("min_lr", min_lr, minimum=0, open_min=True)
    lr_hi = _real("max_lr", max_lr, minimum=0, open_min=True)
    _check_range("min_lr", lr_lo, "max_lr", lr_hi)
    b_lo = _real("min_momentum", min_momentum, minimum=0)
    b_hi = _real("max_momentum", max_momentum, minimum=0)
    _check_range("min_momentum", b_lo, "max_momentum", b_hi)
    if b_hi >= 1.0:
        _fail(f"max_momentum must be < 1 (|β| < 1 for any stable direction), got {max_momentum!r}")
    _choice("regime", regime, ("stable", "edge_of_stability", "any"))
    _choice("basis", basis, _BASES)
    m = _real("margin", margin, minimum=0, open_min=True)
    if m >= 1.0:
        _fail(f"margin must be < 1, got {margin!r}")
    excess = _real("max_excess", max_excess, minimum=0, open_min=True)
    if excess < m:
        _fail(f"max_excess must be >= margin = {m!r}, got {max_excess!r}")

    @st.composite
    def build(draw) -> HeavyBallParameters:
        dim = draw(st.integers(min_dim, max_dim))
        lr = draw(st.floats(lr_lo, lr_hi))
        beta = draw(st.floats(b_lo, b_hi))
        edge = 2.0 * (1.0 + beta)
        label = regime if regime != "any" else draw(
            st.sampled_from(["stable", "edge_of_stability"]))
        stable = st.floats(m, edge - m)
        x = []
        if label == "edge_of_stability":
            unstable = st.floats(edge + m, edge + excess)
            x = draw(st.lists(unstable, min_size=1, max_size=dim))
        x += draw(st.lists(stable, min_size=dim - len(x), max_size=dim - len(x)))
        sym = _symmetric_from(np.array(x) / lr, draw(_basis_strategy(basis, dim)))
        return HeavyBallParameters(sym.matrix, sym.eigenvalues, sym.basis, lr, beta, label)

    return build()


# ----------------------------------------------------------------------------- linear RDS

LINEAR_RDS_KINDS = ("gaussian", "triangular", "commuting", "fixed")


def random_linear_rds(
    *,
    kinds: Sequence[str] = LINEAR_RDS_KINDS,
    min_dim: int = 1,
    max_dim: int = 4,
    min_log_scale: float = -1.0,
    max_log_scale: float = 1.0,
    max_log_std: float = 1.0,
    max_off_diagonal: float = 1.0,
    max_states: int = 3,
    basis: str = "haar",
) -> SearchStrategy[Any]:
    """Random linear RDS ``x ↦ M(ω) x`` from :mod:`sharpdim.systems.linear_cocycle`.

    ``kinds`` (any non-empty subset of :data:`LINEAR_RDS_KINDS`):

    * ``"gaussian"``: iid ``N(0, s²)`` entries, ``ln s ∈ [min_log_scale, max_log_scale]``;
    * ``"triangular"``: log-diagonal means ``μ_i`` in the same range, log-stds in
      ``[0, max_log_std]``, off-diagonal std in ``[0, max_off_diagonal]``;
    * ``"commuting"``: ``1..max_states`` states of eigenvalues ``±e^{u}``, ``u`` in the log
      range, positive probabilities, a shared basis (``basis``);
    * ``"fixed"``: ``A = Q T Qᵀ`` with ``T`` upper triangular, ``|T_ii| = e^{u}`` and
      off-diagonal entries in ``[−max_off_diagonal, max_off_diagonal]`` (non-normal unless
      those are 0), so ``ln|eig A| = u``.

    Every system exposes ``exact_lyapunov_exponents()`` (and ``exact_sharpness()``, ``None``
    where no closed form exists). Shrinks toward the first kind listed and small dimensions.
    """
    if isinstance(kinds, str) or not kinds:
        _fail(f"kinds must be a non-empty sequence of {LINEAR_RDS_KINDS}, got {kinds!r}")
    for kind in kinds:
        _choice("kinds entry", kind, LINEAR_RDS_KINDS)
    min_dim, max_dim = _check_dims(min_dim, max_dim)
    lo = _real("min_log_scale", min_log_scale)
    hi = _real("max_log_scale", max_log_scale)
    _check_range("min_log_scale", lo, "max_log_scale", hi)
    tau_hi = _real("max_log_std", max_log_std, minimum=0)
    off_hi = _real("max_off_diagonal", max_off_diagonal, minimum=0)
    n_states = _integer("max_states", max_states, minimum=1)
    _choice("basis", basis, _BASES)
    from sharpdim.systems import linear_cocycle as lc

    logs = st.floats(lo, hi)

    @st.composite
    def build(draw):
        kind = draw(st.sampled_from(list(kinds)))
        d = draw(st.integers(min_dim, max_dim))
        if kind == "gaussian":
            return lc.gaussian_matrix_product(d, float(np.exp(draw(logs))))
        if kind == "triangular":
            mu = draw(st.lists(logs, min_size=d, max_size=d))
            tau = draw(st.lists(st.floats(0.0, tau_hi), min_size=d, max_size=d))
            return lc.triangular_matrix_product(mu, tau, draw(st.floats(0.0, off_hi)))
        if kind == "commuting":
            s = draw(st.integers(1, n_states))
            u = np.array(draw(st.lists(logs, min_size=s * d, max_size=s * d))).reshape(s, d)
            signs = np.array(draw(st.lists(st.sampled_from([1.0, -1.0]), min_size=s * d,
                                           max_size=s * d))).reshape(s, d)
            w = np.array(draw(st.lists(st.floats(0.1, 1.0), min_size=s, max_size=s)))
            q = draw(_basis_strategy(basis, d))
            return lc.commuting_matrix_product(signs * np.exp(u), w / w.sum(), q)
        u = np.array(draw(st.lists(logs, min_size=d, max_size=d)))
        signs = np.array(draw(st.lists(st.sampled_from([1.0, -1.0]), min_size=d, max_size=d)))
        off = draw(st.lists(st.floats(-off_hi, off_hi), min_size=d * d, max_size=d * d))
        t = np.triu(np.array(off).reshape(d, d), k=1) + np.diag(signs * np.exp(u))
        q = draw(_basis_strategy(basis, d))
        return lc.fixed_matrix(q @ t @ q.T)

    return build()


# ----------------------------------------------------------------------------- scalar maps

LOGISTIC_REGIMES = ("extinction", "fixed_point", "two_cycle", "chaotic", "any")
_SQRT6 = math.sqrt(6.0)


@dataclass(frozen=True)
class LogisticParameters:
    """Logistic map ``x ↦ r x (1 − x)`` parameter and its regime.

    ``"extinction"``: ``0 < r < 1``, ``0`` attracts, ``Λ = ln r``;
    ``"fixed_point"``: ``1 < r < 3``, attracting ``x* = 1 − 1/r``, ``Λ = ln|2 − r|``;
    ``"two_cycle"``: ``3 < r < 1 + √6``, attracting 2-cycle, ``Λ = ½ ln|−r² + 2r + 4|``;
    ``"chaotic"``: ``r = 4``, ``Λ = ln 2`` (the only chaotic ``r`` with a closed form).
    """

    r: float
    regime: str

    def system(self):
        """The map :func:`sharpdim.systems.logistic` ``(r)``."""
        from sharpdim.systems.logistic import logistic

        return logistic(self.r)


def logistic_parameters(*, regime: str = "any", margin: float = 1e-3
                        ) -> SearchStrategy[LogisticParameters]:
    """Logistic-map parameters ``r`` in a regime, ``margin`` away from its bifurcations.

    Extinction: ``r ∈ [margin, 1 − margin]``; fixed point: ``r ∈ [1 + margin, 3 − margin]``;
    two-cycle: ``r ∈ [3 + margin, 1 + √6 − margin]``; chaotic: exactly ``r = 4``; ``"any"``
    picks one regime first (shrinking toward extinction).
    """
    _choice("regime", regime, LOGISTIC_REGIMES)
    m = _real("margin", margin, minimum=0, open_min=True)
    if 3.0 + m > 1.0 + _SQRT6 - m:
        _fail(f"margin must be < {(_SQRT6 - 2) / 2:.4g} to leave a two-cycle window, "
              f"got {margin!r}")
    by_regime = {
        "extinction": st.floats(m, 1.0 - m),
        "fixed_point": st.floats(1.0 + m, 3.0 - m),
        "two_cycle": st.floats(3.0 + m, 1.0 + _SQRT6 - m),
        "chaotic": st.just(4.0),
    }
    names = list(by_regime) if regime == "any" else [regime]
    return st.sampled_from(names).flatmap(
        lambda name: by_regime[name].map(lambda r: LogisticParameters(float(r), name))
    )


SCALAR_NETWORK_REGIMES = ("stable_minima", "two_cycle", "no_stable_minimum", "any")
_CYCLE_MAX = math.sqrt(5.0) - 1.0


@dataclass(frozen=True)
class ScalarNetworkParameters:
    """Target ``y`` and step ``lr`` for GD on the scalar network loss ``½(u v − y)²``.

    The minima ``u v = y`` have top Hessian eigenvalue ``u² + v² ≥ 2|y|`` (equality when
    balanced), so with ``k = lr·|y|`` a GD-stable minimum exists iff ``k < 1``
    (``"stable_minima"``); for ``1 < k < √5 − 1`` the balanced 2-cycle attracts
    (``"two_cycle"``); ``"no_stable_minimum"`` is any ``k > 1``.
    """

    y: float
    lr: float
    regime: str

    def system(self):
        """The map :func:`sharpdim.systems.scalar_linear_network` ``(y, lr)``."""
        from sharpdim.systems.scalar_network import scalar_linear_network

        return scalar_linear_network(self.y, self.lr)


def scalar_network_parameters(
    *,
    min_target: float = 0.1,
    max_target: float = 4.0,
    min_lr: float = 0.01,
    max_lr: float = 1.0,
    regime: str = "any",
    margin: float = 0.05,
) -> SearchStrategy[ScalarNetworkParameters]:
    """``(y, lr)`` for the two-parameter linear network ``½(u v − y)²``, by regime of
    ``k = lr·|y|``.

    Draws ``|y| ∈ [min_target, max_target]`` (``min_target > 0``) with a random sign and
    ``lr ∈ [min_lr, max_lr]`` with ``k ≤ 1 − margin`` (``"stable_minima"``),
    ``1 + margin ≤ k ≤ √5 − 1 − margin`` (``"two_cycle"``) or ``k ≥ 1 + margin``
    (``"no_stable_minimum"``); ``"any"`` picks one of those the bounds allow.
    """
    y_lo = _real("min_target", min_target, minimum=0, open_min=True)
    y_hi = _real("max_target", max_target, minimum=0, open_min=True)
    _check_range("min_target", y_lo, "max_target", y_hi)
    lr_lo = _real("min_lr", min_lr, minimum=0, open_min=True)
    lr_hi = _real("max_lr", max_lr, minimum=0, open_min=True)
    _check_range("min_lr", lr_lo, "max_lr", lr_hi)
    _choice("regime", regime, SCALAR_NETWORK_REGIMES)
    m = _real("margin", margin, minimum=0, open_min=True)
    if m >= (_CYCLE_MAX - 1.0) / 2:
        _fail(f"margin must be < {(_CYCLE_MAX - 1.0) / 2:.4g} to leave a two-cycle window, "
              f"got {margin!r}")
    windows = {
        "stable_minima": (0.0, 1.0 - m),
        "two_cycle": (1.0 + m, _CYCLE_MAX - m),
        "no_stable_minimum": (1.0 + m, math.inf),
    }
    possible = [name for name, (k_lo, k_hi) in windows.items()
                if y_lo * lr_lo <= k_hi and y_hi * lr_hi >= k_lo]
    wanted = possible if regime == "any" else [regime]
    if not wanted or not set(wanted) <= set(possible):
        _fail(f"regime={regime!r} is impossible with |y| in [{y_lo}, {y_hi}] and lr in "
              f"[{lr_lo}, {lr_hi}]: lr·|y| ranges over [{y_lo * lr_lo:.4g}, {y_hi * lr_hi:.4g}]")

    @st.composite
    def build(draw) -> ScalarNetworkParameters:
        label = draw(st.sampled_from(wanted))
        k_lo, k_hi = windows[label]
        y = draw(st.floats(max(y_lo, k_lo / lr_hi), min(y_hi, k_hi / lr_lo)))
        lr_top = min(lr_hi, k_hi / y)
        lr = draw(st.floats(min(max(lr_lo, k_lo / y), lr_top), lr_top))  # min: rounding of k/y
        sign = draw(st.sampled_from([1.0, -1.0]))
        return ScalarNetworkParameters(sign * y, lr, label)

    return build()


# ----------------------------------------------------------------------------- deep linear networks


@dataclass(frozen=True, eq=False)
class DeepLinearNetworkParameters(DeepLinearShape):
    """Target singular values (descending, all ``> 0``), ``depth`` ``L`` and the ``seed`` of
    the rotations and inputs of a deep linear network at a balanced global minimum.

    ``hessian_eigenvalues`` are the closed form ``μ_ij = Σ_k s_i^{2(k−1)/L} s_j^{2(L−k)/L}``
    and ``(L − 1)d²`` zeros; :meth:`build` makes the torch model, loss and data
    (:func:`sharpdim.testing.oracles.deep_linear_network`).
    """

    singular_values: np.ndarray
    depth: int
    seed: int

    @property
    def top_eigenvalue(self) -> float:
        """``λ_max = L·s_1^{2(L−1)/L}``."""
        return self.depth * float(self.singular_values[0]) ** (2 * (self.depth - 1) / self.depth)

    def build(self, *, n_examples: int | None = None):
        """The :class:`~sharpdim.testing.oracles.linear_network.DeepLinearNetwork` (torch)."""
        from sharpdim.testing.oracles.linear_network import deep_linear_network

        return deep_linear_network(self.singular_values, self.depth, n_examples=n_examples,
                                   seed=self.seed)


def deep_linear_networks(
    *,
    min_depth: int = 1,
    max_depth: int = 4,
    min_width: int = 1,
    max_width: int = 3,
    min_singular_value: float = 0.2,
    max_singular_value: float = 3.0,
) -> SearchStrategy[DeepLinearNetworkParameters]:
    """Deep linear networks ``x ↦ W_L ⋯ W_1 x`` (``d × d`` layers) at a balanced minimum of
    ``mean ½‖Wx − y‖²``: depth ``L ∈ [min_depth, max_depth]``, width ``d ∈ [min_width,
    max_width]``, target singular values in ``[min_singular_value, max_singular_value]``
    (``> 0``; ties allowed) and a seed for the Haar rotations and the inputs.

    Shrinks toward the shallowest, narrowest network, singular values toward
    ``min_singular_value``'s side and seed 0.

    >>> from hypothesis import given
    >>> @given(deep_linear_networks(max_depth=2, max_width=2))
    ... def test(p):
    ...     assert p.n_params == p.depth * p.width ** 2
    >>> test()
    """
    d_lo = _integer("min_depth", min_depth, minimum=1)
    d_hi = _integer("max_depth", max_depth, minimum=1)
    _check_range("min_depth", d_lo, "max_depth", d_hi)
    w_lo = _integer("min_width", min_width, minimum=1)
    w_hi = _integer("max_width", max_width, minimum=1)
    _check_range("min_width", w_lo, "max_width", w_hi)
    s_lo = _real("min_singular_value", min_singular_value, minimum=0, open_min=True)
    s_hi = _real("max_singular_value", max_singular_value, minimum=0, open_min=True)
    _check_range("min_singular_value", s_lo, "max_singular_value", s_hi)

    @st.composite
    def build(draw) -> DeepLinearNetworkParameters:
        depth = draw(st.integers(d_lo, d_hi))
        width = draw(st.integers(w_lo, w_hi))
        values = draw(st.lists(st.floats(s_lo, s_hi), min_size=width, max_size=width))
        seed = draw(st.integers(0, 2**32 - 1))
        s = np.sort(np.asarray(values, dtype=np.float64))[::-1].copy()
        return DeepLinearNetworkParameters(s, depth, seed)

    return build()
