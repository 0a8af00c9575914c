"""Strategies for optimizers on quadratics: GD and heavy-ball momentum in a chosen stability
regime, with the Hessian's spectrum known (:mod:`sharpdim.testing.strategies`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from sharpdim.testing.strategies._checks import _bounds, _check_dims, _choice, _fail, _real
from sharpdim.testing.strategies.curvature import _BASES, _basis_strategy, _symmetric_from

__all__ = ["GD_REGIMES", "QuadraticGDParameters", "HeavyBallParameters", "quadratic_losses",
           "heavy_ball_parameters"]

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
    lr_lo, lr_hi = _bounds("lr", min_lr, max_lr, minimum=0, open_min=True)
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
    lr_lo, lr_hi = _bounds("lr", min_lr, max_lr, minimum=0, open_min=True)
    b_lo, b_hi = _bounds("momentum", min_momentum, max_momentum, minimum=0)
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
