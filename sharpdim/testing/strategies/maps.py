"""Strategies for maps with known Lyapunov exponents: random linear dynamical systems and the
logistic map by regime (:mod:`sharpdim.testing.strategies`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from sharpdim.testing.strategies._checks import (
    _bounds,
    _check_dims,
    _choice,
    _fail,
    _integer,
    _real,
)
from sharpdim.testing.strategies.curvature import _BASES, _basis_strategy

__all__ = ["LINEAR_RDS_KINDS", "LOGISTIC_REGIMES", "LogisticParameters", "random_linear_rds",
           "logistic_parameters"]

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
    lo, hi = _bounds("log_scale", min_log_scale, max_log_scale)
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
