"""The cost of an estimate before doing it: ``estimate_sharpness(..., dry_run=True)``.

A :class:`CostPlan` predicts the Hessian-vector products, the wall time and the memory of
the estimator's own arrays, from two short measurements on the call's first minibatch:

* ``seconds_per_hvp`` — one block product ``H V`` of the shape the method uses (the dense
  build's block of ``min(N, 64)`` probes for exact, ``R`` stacked products for the density
  methods), after one warm-up, divided by its columns;
* ``eig_seconds`` — ``eigvalsh`` (``gd``) or ``svdvals`` (``update``) of random symmetric
  matrices of sizes ``n₁ = min(S, 384)`` and ``n₂ = min(S, 768)``, fitted by
  ``t = a n³ + b n²`` (``a, b ≥ 0``) and read at ``S`` (exact only). A cubic scaled from one
  small size over-predicts: LAPACK's time per ``n³`` falls with ``n`` (measured 0.25 ns at
  512, 0.12 at 1,024, 0.086 at 2,624 on one core).

Each timing is the fastest of three after a warm-up (the machines are shared).

Predicted seconds = ``n_hvp · seconds_per_hvp`` (+ ``distinct minibatches · eig_seconds``
for exact). Predicted bytes: exact — the dense matrix and its eigensolver copy, ``2 S²``
items; density — the Lanczos bases ``R · m · N`` items plus ``4 R N`` for the recurrence;
the autograd graph of the model is not counted (it is the model's own, as in training).
The prediction is checked against measured time on the bench models
(``sharpdim bench cost``, reports/benchmarks.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from sharpdim._serialize import Serializable
from sharpdim.curvature.hvp import _default_chunk, hessian_operator, hessian_stack
from sharpdim.vocabulary import JacobianKind

__all__ = ["CostPlan", "plan_cost", "COST_WARNING_SECONDS"]

# a call predicted to take longer says so before starting (warning, not an error)
COST_WARNING_SECONDS = 60.0
_EIG_PROBES = (384, 768)


@dataclass(frozen=True, repr=False)
class CostPlan(Serializable):
    """Predicted cost of one ``estimate_sharpness`` call (module docstring)."""

    method: str
    jacobian: str
    n_params: int
    state_dim: int
    n_batches: int
    distinct_batches: int
    n_hvp: int
    seconds_per_hvp: float
    eig_seconds: float
    seconds: float
    peak_bytes: int
    advice: str | None

    def summary(self) -> str:
        return (f"{self.method}: {self.n_hvp} HVPs × {self.seconds_per_hvp * 1e3:.3g} ms"
                + (f" + {self.distinct_batches} × {self.eig_seconds:.3g} s eigensolver"
                   if self.eig_seconds else "")
                + f" ≈ {self.seconds:.3g} s, {self.peak_bytes / 2**20:.4g} MiB"
                + (f"; {self.advice}" if self.advice else ""))


def _timed(fn, repeats: int = 3) -> float:
    fn()                                   # warm-up: allocations, first-call dispatch
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _hvp_seconds(f, theta, batches, *, method: str, dtype: torch.dtype) -> float:
    n = f.n_params
    if method == "exact":
        op = hessian_operator(f, theta, *batches[0], dtype=dtype)
        k = _default_chunk(n, dtype)
        V = torch.randn(n, k, dtype=dtype, device=theta.device)
        return _timed(lambda: op.matmat(V)) / k
    stack = hessian_stack(f, theta, batches, dtype=dtype)
    V = torch.randn(len(batches), n, dtype=dtype, device=theta.device)
    return _timed(lambda: stack.apply(V)) / len(batches)


def _eig_seconds(size: int, jacobian: JacobianKind, dtype: torch.dtype) -> float:
    solve = torch.linalg.eigvalsh if jacobian == "gd" else torch.linalg.svdvals
    gen = torch.Generator().manual_seed(0)
    sizes = sorted({min(size, n) for n in _EIG_PROBES})
    times = []
    for n in sizes:
        A = torch.randn(n, n, dtype=dtype, generator=gen)
        A = A + A.T
        times.append(_timed(lambda A=A: solve(A)))
    if len(sizes) == 1:
        return times[0] * (size / sizes[0]) ** 3
    (n1, n2), (t1, t2) = sizes, times
    # t = a n³ + b n² through both points, each coefficient kept >= 0
    a = max(0.0, (t2 / n2**2 - t1 / n1**2) / (n2 - n1))
    b = max(0.0, t1 / n1**2 - a * n1)
    return a * size**3 + b * size**2


def plan_cost(f, data, batches, thetas, setting: dict, *, dtype: torch.dtype) -> CostPlan:
    """:class:`CostPlan` of the validated call (``batches`` its minibatches, ``setting`` the
    diagnostics' settings); measures a few products on the first minibatches only."""
    method, jacobian = setting["method"], setting["jacobian"]
    R, P, N, S = len(batches), len(thetas), f.n_params, setting["state_dim"]
    distinct = 1 if setting["batch_size"] == data.n else R
    itemsize = torch.empty((), dtype=dtype).element_size()
    probe = [data.take(mb.indices) for mb in batches[: min(R, 8)]]
    per_hvp = _hvp_seconds(f, thetas[0], probe, method=method, dtype=dtype)
    if method == "exact":
        n_hvp, eig = distinct * P * S, _eig_seconds(S, jacobian, dtype)
        seconds = n_hvp * per_hvp + distinct * P * eig
        peak = 2 * S * S * itemsize
    else:
        m = setting["n_steps"]
        n_hvp, eig = R * P * m, 0.0
        seconds = n_hvp * per_hvp
        peak = (R * m * N + 4 * R * N) * itemsize
    advice = None
    if seconds > COST_WARNING_SECONDS:
        cheaper = ("method='slq' (R·m products instead of N per minibatch)" if method == "exact"
                   else "fewer n_batches or n_steps")
        advice = (f"predicted {seconds:.3g} s > {COST_WARNING_SECONDS:.0f} s; for a quicker "
                  f"estimate use {cheaper}")
    return CostPlan(method=method, jacobian=jacobian, n_params=N, state_dim=S, n_batches=R,
                    distinct_batches=distinct, n_hvp=int(n_hvp), seconds_per_hvp=per_hvp,
                    eig_seconds=eig, seconds=float(seconds), peak_bytes=int(peak),
                    advice=advice)
