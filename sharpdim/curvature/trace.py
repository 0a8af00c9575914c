"""Stochastic trace estimators with a fixed product budget and a standard error.

* Hutchinson: ``tr H ≈ (1/n) Σ_i v_iᵀ H v_i`` with Rademacher (``±1``) or Gaussian probes;
  unbiased since ``E[v vᵀ] = I``. For Rademacher probes ``v_iᵀ D v_i = tr D`` exactly when
  ``D`` is diagonal (``v_j² = 1``). Standard error: sample standard deviation ``/ √n``.
* Hutch++ (Meyer, Musco, Musco, Woodruff 2021): with a budget of ``n`` products, sketch
  ``Q = orth(H S)`` with ``n/3`` probes, take ``tr(QᵀHQ)`` exactly and estimate the rest,
  ``tr((I − QQᵀ) H (I − QQᵀ))``, by Hutchinson with the remaining probes. Unbiased for
  every ``Q``; the standard error reported is that of the residual part given ``Q``.

Probes come from ``numpy.random.default_rng(seed)`` (device-independent), products are
batched through ``op.matmat``, sums are float64.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from sharpdim import _validate
from sharpdim.curvature.hvp import SymmetricOperator
from sharpdim.vocabulary import PROBE_DISTRIBUTIONS, ProbeDistribution

__all__ = ["TraceEstimate", "hutchinson_trace", "hutch_plus_plus"]


@dataclass(frozen=True)
class TraceEstimate:
    """``value`` ± ``stderr`` (``None`` with fewer than 2 stochastic samples); ``samples``
    the per-probe quadratic forms of the stochastic part; ``exact_part`` the deterministic
    ``tr(QᵀHQ)`` of Hutch++ (``None`` for Hutchinson); cost ``n_hvp`` and ``seconds``."""

    value: float
    stderr: float | None
    samples: np.ndarray
    exact_part: float | None
    method: str
    distribution: str
    n_hvp: int
    seed: int
    seconds: float


def _probes(rng: np.random.Generator, N: int, k: int, distribution: str) -> np.ndarray:
    if distribution == "rademacher":
        return rng.integers(0, 2, size=(N, k)).astype(np.float64) * 2 - 1
    return rng.standard_normal((N, k))


def _quadratic_forms(op: SymmetricOperator, V: torch.Tensor, block: int) -> np.ndarray:
    out = []
    for a in range(0, V.shape[1], block):
        Vb = V[:, a:a + block]
        HV = op.matmat(Vb)
        out.append((Vb.double() * HV.double()).sum(dim=0).cpu().numpy())
    return np.concatenate(out)


def _probe_stream(n_samples, seed, distribution, block_size,
                  minimum: int) -> tuple[int, np.random.Generator, float]:
    """Check a trace estimate's settings (``n_samples >= minimum`` products); return the seed
    it records, the generator of its probes and its start time."""
    _validate.integer("n_samples", n_samples, minimum=minimum)
    _validate.choice("distribution", distribution, PROBE_DISTRIBUTIONS)
    _validate.integer("block_size", block_size, minimum=1)
    seed = _validate.seed(seed)
    t0 = time.perf_counter()
    return seed, np.random.default_rng(seed), t0


def _stderr(samples: np.ndarray) -> float | None:
    return float(samples.std(ddof=1) / np.sqrt(samples.size)) if samples.size >= 2 else None


def hutchinson_trace(op: SymmetricOperator, *, n_samples: int, seed: int | None,
                     distribution: ProbeDistribution = "rademacher",
                     block_size: int = 16) -> TraceEstimate:
    """Hutchinson's estimate of ``tr H`` from ``n_samples`` probes (``n_samples`` products,
    ``block_size`` per batched call).

    >>> import torch
    >>> from sharpdim.curvature.hvp import MatrixOperator
    >>> D = MatrixOperator(torch.diag(torch.tensor([1.0, -2.0, 5.0], dtype=torch.float64)))
    >>> hutchinson_trace(D, n_samples=3, seed=0).value   # exact for diagonal, Rademacher
    4.0
    """
    seed, rng, t0 = _probe_stream(n_samples, seed, distribution, block_size, 1)
    N = op.shape[0]
    V = torch.as_tensor(_probes(rng, N, n_samples, distribution), dtype=op.dtype,
                        device=op.device)
    samples = _quadratic_forms(op, V, block_size)
    return TraceEstimate(
        value=float(samples.mean()), stderr=_stderr(samples), samples=samples,
        exact_part=None, method="hutchinson", distribution=distribution,
        n_hvp=int(n_samples), seed=seed, seconds=time.perf_counter() - t0,
    )


def hutch_plus_plus(op: SymmetricOperator, *, n_samples: int, seed: int | None,
                    distribution: ProbeDistribution = "rademacher",
                    block_size: int = 16) -> TraceEstimate:
    """Hutch++ estimate of ``tr H`` with a budget of ``n_samples ≥ 3`` products:
    ``k = n_samples // 3`` sketch probes, ``k`` products for ``HQ``, the rest for the
    residual's Hutchinson estimate."""
    seed, rng, t0 = _probe_stream(n_samples, seed, distribution, block_size, 3)
    N = op.shape[0]
    k = n_samples // 3
    n_rest = n_samples - 2 * k
    S = torch.as_tensor(_probes(rng, N, k, distribution), dtype=op.dtype, device=op.device)
    G = torch.as_tensor(_probes(rng, N, n_rest, distribution), dtype=op.dtype,
                        device=op.device)
    HS = torch.cat([op.matmat(S[:, a:a + block_size]) for a in range(0, k, block_size)], dim=1)
    Q, _ = torch.linalg.qr(HS.double())
    Qd = Q.to(op.dtype)
    HQ = torch.cat([op.matmat(Qd[:, a:a + block_size]) for a in range(0, k, block_size)], dim=1)
    exact = float((Q * HQ.double()).sum())
    Gp = G.double() - Q @ (Q.T @ G.double())
    HGp = torch.cat([op.matmat(Gp[:, a:a + block_size].to(op.dtype))
                     for a in range(0, n_rest, block_size)], dim=1).double()
    HGp = HGp - Q @ (Q.T @ HGp)
    samples = (Gp * HGp).sum(dim=0).cpu().numpy()
    return TraceEstimate(
        value=exact + float(samples.mean()), stderr=_stderr(samples), samples=samples,
        exact_part=exact, method="hutch++", distribution=distribution,
        n_hvp=int(2 * k + n_rest), seed=seed, seconds=time.perf_counter() - t0,
    )
