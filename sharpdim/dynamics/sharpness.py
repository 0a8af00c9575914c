"""RDS sharpness: one-step log singular values on attractor points (docs/theory.md §2).

For noise draws ``ω_1, …, ω_n`` and points ``w`` of the attractor sample, take the singular
values ``σ_1 ≥ … ≥ σ_d`` of ``Dφ(1, ω, w)`` and ``ln σ_k`` (``-inf`` for ``σ_k = 0``). Then

* ``aggregate="sup"`` (the definition): ``λ_k = mean_ω max_w ln σ_k(ω, w)`` — the max is taken
  order by order, so different points may attain different orders;
* ``aggregate="mean"`` (the paper's practice): ``λ_k = mean_ω mean_w ln σ_k(ω, w)``.

``points`` is ``(n_points, dim)`` (one sample shared by all draws) or
``(n_noise, n_points, dim)`` (a separate attractor sample ``A(ω_i)`` per draw, e.g. pullback
snapshots). The Jacobian noise is drawn fresh: it is the time-0 noise ``j_0``, independent of
the past noise that formed ``A(ω)``. Both aggregates are descending in ``k`` because
``σ_1 ≥ … ≥ σ_d`` at every point.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sharpdim import _validate
from sharpdim.dimension import as_float_array
from sharpdim.dynamics.lyapunov import noise_generator
from sharpdim.dynamics.maps import jacobian_many, validate_map
from sharpdim.vocabulary import AGGREGATES, Aggregate

__all__ = ["AGGREGATES", "SharpnessSamples", "rds_sharpness", "rds_sharpness_samples"]

@dataclass(frozen=True)
class SharpnessSamples:
    """Per-draw, per-point log singular values ``ln σ_k(ω_i, w_j)``.

    ``log_singular_values`` has shape ``(n_noise, n_points, dim)``, descending along the last
    axis. ``shared_points`` says whether all draws used the same attractor sample.
    """

    log_singular_values: np.ndarray
    seed: int
    shared_points: bool

    @property
    def n_noise(self) -> int:
        return int(self.log_singular_values.shape[0])

    @property
    def n_points(self) -> int:
        return int(self.log_singular_values.shape[1])

    def per_draw(self, aggregate: Aggregate = "sup") -> np.ndarray:
        """``(n_noise, dim)``: max (``"sup"``) or mean (``"mean"``) over points, per order."""
        _validate.choice("aggregate", aggregate, AGGREGATES)
        if aggregate == "sup":
            return self.log_singular_values.max(axis=1)
        return self.log_singular_values.mean(axis=1)

    def values(self, aggregate: Aggregate = "sup") -> np.ndarray:
        """``λ_k`` (``dim``,): the per-draw aggregate averaged over noise draws."""
        return self.per_draw(aggregate).mean(axis=0)

    def stderr(self, aggregate: Aggregate = "sup") -> np.ndarray:
        """Standard error of :meth:`values` over the iid noise draws, ``std/sqrt(n_noise)``.

        ``inf`` with a single draw; ``0`` where the value is ``-inf`` (some draw has a zero
        singular value of that order, which pins the mean at ``-inf``).
        """
        draws = self.per_draw(aggregate)
        mean = draws.mean(axis=0)
        out = np.zeros_like(mean)
        finite = np.isfinite(mean)
        if self.n_noise < 2:
            out[finite] = np.inf
        else:
            out[finite] = draws[:, finite].std(axis=0, ddof=1) / np.sqrt(self.n_noise)
        return out


def _validated_points(points: Any, dim: int, n_noise: int) -> tuple[np.ndarray, bool]:
    """Points as ``(1 or n_noise, n_points, dim)`` and whether one sample serves every draw."""
    pts = as_float_array("points", points).copy()
    shared = pts.ndim == 2
    if shared and pts.shape[1] == dim and pts.shape[0] >= 1:
        pts = pts[None]
    elif not (pts.ndim == 3 and pts.shape[0] == n_noise and pts.shape[2] == dim
              and pts.shape[1] >= 1):
        raise ValueError(
            f"points must have shape (n_points, {dim}) or (n_noise={n_noise}, n_points, {dim}), "
            f"got shape {np.shape(points)}"
        )
    if not np.isfinite(pts).all():
        raise ValueError("points must be finite, got a non-finite entry "
                         f"at index {tuple(int(i) for i in np.argwhere(~np.isfinite(pts))[0])}")
    return pts, shared


def rds_sharpness_samples(
    system: Any,
    points: Any,
    *,
    n_noise: int = 1,
    rng: None | int | np.random.Generator = None,
) -> SharpnessSamples:
    """Log singular values of the one-step Jacobian for each noise draw and point.

    Draw ``i`` uses noise ``ω_i`` (``sample_noise`` of the recorded seed's noise stream) and the
    points ``points[i]`` (or the shared ``points``). A non-finite Jacobian raises ValueError.
    """
    dim = validate_map(system)
    n_noise = _validate.integer("n_noise", n_noise, minimum=1)
    pts, shared = _validated_points(points, dim, n_noise)
    seed = _validate.seed(rng, "rng")
    noise_rng = noise_generator(seed)
    n_points = pts.shape[1]
    out = np.empty((n_noise, n_points, dim))
    for i in range(n_noise):
        noise = system.sample_noise(noise_rng)
        jac = jacobian_many(system, pts[0 if shared else i], noise)
        if jac.shape != (n_points, dim, dim):
            raise ValueError(
                f"system Jacobians must have shape {(n_points, dim, dim)}, got {jac.shape}"
            )
        if not np.isfinite(jac).all():
            j = int(np.flatnonzero(~np.isfinite(jac).all(axis=(1, 2)))[0])
            raise ValueError(
                f"system.jacobian is non-finite at noise draw {i}, point {j} "
                f"({pts[0 if shared else i][j]}); sharpness needs finite Jacobians (seed {seed})"
            )
        with np.errstate(divide="ignore"):
            out[i] = np.log(np.linalg.svd(jac, compute_uv=False))
    out.setflags(write=False)
    return SharpnessSamples(out, seed, shared)


def rds_sharpness(
    system: Any,
    points: Any,
    *,
    n_noise: int = 1,
    rng: None | int | np.random.Generator = None,
    aggregate: Aggregate = "sup",
) -> np.ndarray:
    """RDS sharpness ``λ_1 ≥ … ≥ λ_d`` of ``system`` on ``points`` (see the module docstring).

    >>> from sharpdim.dynamics.maps import as_map
    >>> # GD on a quadratic with curvatures (3, 0.5), lr 1: Jacobian I − A, λ = ln|1 − α|
    >>> gd = as_map(lambda x: x - np.array([3.0, 0.5]) * x,
    ...             lambda x: np.diag([-2.0, 0.5]), 2)
    >>> lam = rds_sharpness(gd, np.zeros((1, 2)), rng=0)
    >>> bool(np.allclose(lam, [np.log(2.0), np.log(0.5)]))
    True
    """
    _validate.choice("aggregate", aggregate, AGGREGATES)
    return rds_sharpness_samples(system, points, n_noise=n_noise, rng=rng).values(aggregate)
