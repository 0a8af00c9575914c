"""Strategies for networks with closed-form answers: the two-parameter scalar linear network by
regime and deep linear networks at a balanced minimum (:mod:`sharpdim.testing.strategies`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from sharpdim.testing.oracles._deep_linear import DeepLinearShape
from sharpdim.testing.strategies._checks import _bounds, _choice, _fail, _integer, _real

__all__ = ["SCALAR_NETWORK_REGIMES", "ScalarNetworkParameters", "DeepLinearNetworkParameters",
           "scalar_network_parameters", "deep_linear_networks"]

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
    y_lo, y_hi = _bounds("target", min_target, max_target, minimum=0, open_min=True)
    lr_lo, lr_hi = _bounds("lr", min_lr, max_lr, minimum=0, open_min=True)
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
    d_lo, d_hi = _bounds("depth", min_depth, max_depth, _integer, minimum=1)
    w_lo, w_hi = _bounds("width", min_width, max_width, _integer, minimum=1)
    s_lo, s_hi = _bounds("singular_value", min_singular_value, max_singular_value,
                         minimum=0, open_min=True)

    @st.composite
    def build(draw) -> DeepLinearNetworkParameters:
        depth = draw(st.integers(d_lo, d_hi))
        width = draw(st.integers(w_lo, w_hi))
        values = draw(st.lists(st.floats(s_lo, s_hi), min_size=width, max_size=width))
        seed = draw(st.integers(0, 2**32 - 1))
        s = np.sort(np.asarray(values, dtype=np.float64))[::-1].copy()
        return DeepLinearNetworkParameters(s, depth, seed)

    return build()
