"""The extreme eigenvalues of a symmetric operator by Lanczos with full
re-orthogonalization, restarting orthogonally on a breakdown."""

from __future__ import annotations

import numpy as np
import torch

from sharpdim import _validate
from sharpdim.curvature.hvp import SymmetricOperator
from sharpdim.curvature.lanczos.clock import Clock, resolve_clock
from sharpdim.curvature.lanczos.recurrence import _Lockstep
from sharpdim.curvature.lanczos.results import ExtremeEigenvalues, LanczosNotConverged, _ritz
from sharpdim.vocabulary import EXTREMES, Extremes, choice

__all__ = ["extreme_eigenvalues"]


def extreme_eigenvalues(
    op: SymmetricOperator,
    *,
    k: int = 1,
    which: Extremes = "both",
    n_steps: int | None = None,
    seed: int | None = None,
    tol: float | None = None,
    clock: Clock | None = None,
) -> ExtremeEigenvalues:
    """The ``k`` largest and/or smallest eigenvalues of ``op`` by Lanczos with full
    re-orthogonalization from a Gaussian start vector drawn with ``seed``.

    Stops as soon as every wanted Ritz pair has residual ``β_m|S_{mℓ}| ≤ tol · max|θ|``
    (default ``tol = √eps`` of ``op``'s dtype: the eigenvalue error is then
    ``≲ residual² / gap``, i.e. near ``eps``), or after ``n_steps`` (default
    ``min(N, 200)``) steps. On a breakdown it restarts orthogonally, so every eigenvalue
    stays reachable. Raises :class:`LanczosNotConverged` (``.partial`` holds the result
    reached) when the budget runs out first. ``seed=None`` draws fresh entropy, recorded.

    Like any single-vector Krylov method it sees one copy of a repeated eigenvalue until a
    breakdown forces a restart: for ``k > 1`` with a repeated eigenvalue among the wanted
    ones, only a run to exhaustion (``n_steps = N``) is guaranteed to list every copy.
    ``clock`` and the unit of ``n_hvp`` as in :func:`~sharpdim.curvature.lanczos.lanczos`.
    """
    N = op.shape[0]
    choice("which", which, EXTREMES)
    k = _validate.integer("k", k, minimum=1, maximum=N)
    n_steps = _validate.integer("n_steps", min(N, 200) if n_steps is None else n_steps,
                                minimum=1, maximum=N)
    if n_steps < k:
        raise ValueError(f"n_steps must be >= k={k}, got {n_steps}")
    eps = float(torch.finfo(op.dtype).eps)
    tol = float(np.sqrt(eps)) if tol is None else tol
    tol = _validate.positive("tol", tol)
    seed = _validate.seed(seed)
    rng = np.random.default_rng(seed)
    v0 = torch.as_tensor(rng.standard_normal(N), dtype=op.dtype, device=op.device)
    clock = resolve_clock(clock)
    t0 = clock()
    engine = _Lockstep(lambda Q: op.matvec(Q[0])[None], (v0 / torch.linalg.vector_norm(v0))[None],
                       n_steps, reorthogonalize="full", restart_rng=rng, clock=clock)
    state = None
    while not engine.done:
        engine.step()
        # after a restart every residual is 0 (T decoupled) though eigenvalues in the new
        # block, e.g. further copies of a repeated one, are unseen yet: check a step later
        if engine.j >= k and not engine.restarted:
            state = _extremes(engine, k, which, tol)
            if state[-1]:
                break
    top, top_res, bottom, bottom_res, converged = state or _extremes(engine, k, which, tol)
    result = ExtremeEigenvalues(
        top=top, bottom=bottom, top_residuals=top_res, bottom_residuals=bottom_res,
        converged=converged, which=which, k=int(k), tol=tol, n_steps=int(engine.j),
        n_hvp=int(engine.j) * getattr(op, "hvp_per_product", 1), seed=int(seed),
        seconds=clock() - t0,
    )
    if not converged:
        worst = max(float(np.max(r)) for r in (top_res, bottom_res) if r is not None)
        raise LanczosNotConverged(
            f"extreme eigenvalues not converged after n_steps={engine.j}: worst residual "
            f"{worst:.3g} > tol·max|θ| (tol={tol:.3g}); raise n_steps or tol "
            "(the partial result is attached as .partial)", result)
    return result


def _extremes(engine: _Lockstep, k: int, which: str, tol: float):
    alphas, betas, beta_last = engine.tridiagonal(0)
    theta, _, residuals = _ritz(alphas, betas, beta_last)
    bound = tol * max(float(np.abs(theta).max()), np.finfo(np.float64).tiny)
    exhausted = engine.j >= engine.N  # the whole space is spanned: T is similar to H
    top = top_res = bottom = bottom_res = None
    ok = True
    if which in ("both", "largest"):
        top, top_res = theta[::-1][:k].copy(), residuals[::-1][:k].copy()
        ok &= exhausted or bool(np.all(top_res <= bound))
    if which in ("both", "smallest"):
        bottom, bottom_res = theta[:k].copy(), residuals[:k].copy()
        ok &= exhausted or bool(np.all(bottom_res <= bound))
    return top, top_res, bottom, bottom_res, bool(ok)
