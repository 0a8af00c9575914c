"""Closed forms evaluated in exact or high-precision arithmetic (mpmath), then rounded once.

An oracle that evaluates ``ln|1 − ηα|`` in float64 as ``log(abs(1 − η·α))`` rounds twice
before the logarithm: ``η·α`` (relative ``eps/2``) and ``1 − η·α`` (absolute ``eps/2``, which
is a relative error of ``eps/(2ηα)`` on the result when ``ηα`` is small: at ``ηα = 1e-5`` the
float64 oracle is off by 4.6e-17, relative 4.6e-12). Here ``y = −η(α + κ)`` is formed in 256-bit
arithmetic (exact for ``κ = 0``: a product of two doubles has 106 bits) and ``log1p(y)`` is
evaluated there, so ``1 + y`` is never rounded (``ηα = 3.9e-215`` gives ``−3.9e-215``, where
``log(1 − ηα)`` at any fixed decimal precision gives 0); only the result is rounded to float64.
"""

from __future__ import annotations

import mpmath
import numpy as np

__all__ = ["log_abs_one_minus_exact"]

_BITS = 256  # > 2 × 53: the product of two doubles is exact


def log_abs_one_minus_exact(alpha, lr: float = 1.0, shift: float = 0.0) -> np.ndarray:
    """``ln|1 − lr·(α + shift)|`` for each ``α``, correctly rounded to float64 (``-inf`` at 0).

    >>> float(log_abs_one_minus_exact([1e-5])[0]) == float(np.log1p(-1e-5))
    True
    >>> log_abs_one_minus_exact([0.5], lr=2.0).tolist()
    [-inf]
    """
    a = np.asarray(alpha, dtype=np.float64)
    with mpmath.workprec(_BITS):
        eta, kappa = mpmath.mpf(float(lr)), mpmath.mpf(float(shift))

        def one(x: float) -> float:
            y = -eta * (mpmath.mpf(float(x)) + kappa)          # ln|1 + y|
            if y == -1:
                return float("-inf")
            return float(mpmath.log1p(y) if y > -1 else mpmath.log(-y - 1))

        return np.array([one(x) for x in a.reshape(-1)], dtype=np.float64).reshape(a.shape)
