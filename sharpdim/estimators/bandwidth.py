"""Default Gaussian-kernel bandwidth of the density estimators: Silverman's robust rule.

``h = 0.9 · min(σ_w, IQR_w / 1.34) · n_eff^{-1/5}`` (Silverman 1986, eq. 3.31) with the
weighted standard deviation ``σ_w``, the weighted interquartile range ``IQR_w`` (generalized
inverse of the weighted step CDF) and ``n_eff = (Σw)² / Σw²``; when ``IQR_w = 0`` (half the
mass on one value) ``σ_w`` alone is used.

Why not the normal-reference rule ``1.06 σ_w n_eff^{-1/5}``: curvature spectra of trained
networks are a sharp bulk near ``α = 0`` (``ln σ ≈ 0``) plus a few outliers, so ``σ_w`` is set
by the outliers and over-smooths the bulk — exactly where the sharpness dimension is most
sensitive (``|ΔSD| ≤ W₁ / |z_next|`` with ``z_next ≈ 0``). On the small MLP of
``reports/estimator_convergence.md`` the normal-reference rule moves SD-KDE from 52 to 62–67
(of 83) while the robust rule keeps it within 1 of the exact value.
"""

from __future__ import annotations

import numpy as np

__all__ = ["robust_bandwidth", "weighted_quantile"]


def weighted_quantile(nodes, weights, q: float) -> float:
    """Smallest node ``x`` with ``F(x) ≥ q`` for the normalized weighted step CDF ``F``.

    >>> weighted_quantile([1.0, 2.0, 3.0], [1.0, 1.0, 2.0], 0.5)
    2.0
    """
    x = np.asarray(nodes, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    cdf = np.cumsum(w[order]) / w.sum()
    return float(x[order][min(int(np.searchsorted(cdf, q, side="left")), x.size - 1)])


def robust_bandwidth(nodes, weights) -> float:
    """Silverman's robust rule of thumb for a weighted sample (see the module docstring).

    >>> x = np.r_[np.zeros(50), np.linspace(-1e-3, 1e-3, 50), [5.0]]   # bulk + an outlier
    >>> bool(robust_bandwidth(x, np.ones(x.size)) < 1e-3 < 1.06 * x.std())
    True
    """
    x = np.asarray(nodes, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    total = w.sum()
    mean = float((w * x).sum() / total)
    sd = float(np.sqrt((w * (x - mean) ** 2).sum() / total))
    iqr = weighted_quantile(x, w, 0.75) - weighted_quantile(x, w, 0.25)
    spread = min(sd, iqr / 1.34) if iqr > 0 else sd
    n_eff = total**2 / float((w**2).sum())
    h = 0.9 * spread * n_eff ** (-0.2)
    if not h > 0:
        raise ValueError(
            "bandwidth must be > 0, got 0 from the rule of thumb (all mass on one value); "
            "pass bandwidth explicitly"
        )
    return h
