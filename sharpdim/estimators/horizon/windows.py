"""Independent windows of ``k`` minibatches, their seeds, and the exponents averaged over them
(:mod:`sharpdim.estimators.horizon`).

Windows: ``R`` independent windows (``n_windows``), window ``r`` uses the minibatches of seeds
``batch_seeds[t·R + r]``, ``t = 0..k−1`` (``batch_seeds = slq_run_seeds(seed, R·k)``), so
the first minibatch of each window is the one the ``horizon=1`` estimate with the same seed
uses. Exponents are averaged over windows order by order, with their standard errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sharpdim.curvature.slq import slq_run_seeds
from sharpdim.estimators.data import minibatch

__all__ = ["HorizonSharpness"]


def _stderr(values: np.ndarray) -> np.ndarray | None:
    """Standard error over windows (axis 0), ``None`` with one window; equal ``−∞`` → 0."""
    R = values.shape[0]
    if R < 2:
        return None
    with np.errstate(invalid="ignore"):
        dev = values - values.mean(axis=0)
    dev = np.where(np.isneginf(values) & np.isneginf(values.mean(axis=0)), 0.0, dev)
    dev = np.where(np.isnan(dev), np.inf, dev)
    return np.sqrt((dev**2).sum(axis=0) / (R - 1)) / math.sqrt(R)


@dataclass(frozen=True)
class HorizonSharpness:
    """Horizon-``k`` exponents averaged over ``R`` independent windows.

    * ``exponents``: ``(1/k) ln σ_i(J_k⋯J_1)``, mean over windows order by order, descending
      (length ``S`` for ``"dense"``, ``top`` for ``"lanczos"``); ``stderr`` the standard
      error over windows (``None`` for one window); ``window_exponents`` ``(R, ·)``.
    * ``dimension``: the SD of ``exponents`` (dense only; ``None`` for a partial spectrum).
    * ``error_bounds``/``converged``: per window (see :class:`ProductExponents`).
    * Randomness: ``seed``; ``batch_seeds`` (``R·k``; window ``r``, step ``t`` is
      ``batch_seeds[t·R + r]``), ``batch_index_hashes``; ``lanczos_seeds`` (or ``None``).
    * ``state_dim`` ``S``, ``n_hvp``, ``seconds``.
    """

    horizon: int
    method: str
    exponents: np.ndarray
    stderr: np.ndarray | None
    window_exponents: np.ndarray
    dimension: float | None
    error_bounds: tuple[float, ...]
    converged: tuple[bool, ...]
    seed: int
    batch_seeds: tuple[int, ...]
    batch_index_hashes: tuple[str, ...]
    lanczos_seeds: tuple[int, ...] | None
    state_dim: int
    n_hvp: int
    seconds: float

    @property
    def lambda_1(self) -> float:
        """The leading horizon-``k`` exponent (mean over windows)."""
        return float(self.exponents[0])


def _window_batches(seed: int, n_windows: int, horizon: int, n: int, batch_size: int):
    seeds = slq_run_seeds(seed, n_windows * horizon)
    batches = [minibatch(i, s, n, batch_size) for i, s in enumerate(seeds)]
    windows = [[batches[t * n_windows + r] for t in range(horizon)] for r in range(n_windows)]
    return seeds, batches, windows

