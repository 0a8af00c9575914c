"""Samples of a random attractor ``A(ω)`` (docs/theory.md §1).

Two approximations:

(a) :func:`pullback_snapshot` — many initial points pushed through **one shared** noise
    realization for ``n_steps``; their images approximate the pullback attractor of that
    realization at the final time. Points whose state becomes non-finite are dropped as soon
    as it happens and counted (an unbounded orbit is not on a compact attractor).
(b) :func:`trajectory_tail` — the last ``n_keep`` iterates of one long run (a training run
    that has settled); a non-finite state raises :class:`DivergenceError`.

Noise comes from :func:`~sharpdim.dynamics.lyapunov.noise_generator` of the recorded seed, one
``sample_noise`` per step, as in ``lyapunov_spectrum``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sharpdim import _validate
from sharpdim.dynamics.lyapunov import DivergenceError, noise_generator, validated_points
from sharpdim.dynamics.maps import step_many, validate_map

__all__ = ["AttractorSnapshot", "TrajectoryTail", "pullback_snapshot", "trajectory_tail"]


@dataclass(frozen=True)
class AttractorSnapshot:
    """Images at time ``n_steps`` of ``n_initial`` points under one noise realization.

    ``points`` (``(n_initial − n_dropped, dim)``) keeps the finite images in their original
    order; ``n_dropped`` points went non-finite on the way and were removed.
    """

    points: np.ndarray
    n_initial: int
    n_dropped: int
    n_steps: int
    seed: int


@dataclass(frozen=True)
class TrajectoryTail:
    """Iterates ``x_{n_steps − n_keep + 1}, …, x_{n_steps}`` of one orbit (``(n_keep, dim)``)."""

    points: np.ndarray
    n_steps: int
    n_keep: int
    seed: int


def pullback_snapshot(
    system: Any,
    initial_points: Any,
    n_steps: int,
    *,
    rng: None | int | np.random.Generator = None,
) -> AttractorSnapshot:
    """Push ``initial_points`` ``(n, dim)`` through ``n_steps`` steps of one noise realization.

    All points see the same noise ``ω_0, …, ω_{n_steps−1}`` (one ``sample_noise`` per step), so
    a contracting RDS collapses them onto the random attractor of that realization.
    Raises :class:`DivergenceError` (``partial`` = the empty snapshot) if every point went
    non-finite.

    >>> from sharpdim.dynamics.maps import as_map
    >>> m = as_map(lambda x: 0.5 * x, lambda x: 0.5 * np.eye(1), 1)
    >>> snap = pullback_snapshot(m, np.array([[1.0], [-3.0]]), 3, rng=0)
    >>> snap.points.ravel().tolist(), snap.n_dropped   # 0.5**3 times each point
    ([0.125, -0.375], 0)
    """
    dim = validate_map(system)
    xs, single = validated_points(initial_points, dim, "initial_points")
    if single:
        raise ValueError(
            f"initial_points must have shape (n_points, {dim}), "
            f"got shape {np.shape(initial_points)}"
        )
    n_steps = _validate.integer("n_steps", n_steps, minimum=1)
    seed = _validate.seed(rng, "rng")
    noise_rng = noise_generator(seed)
    n_initial = xs.shape[0]
    for t in range(n_steps):
        noise = system.sample_noise(noise_rng)
        with np.errstate(all="ignore"):
            out = step_many(system, xs, noise)
        if out.shape != xs.shape:
            raise ValueError(f"system.step must keep the state shape ({dim},), got {out.shape}")
        finite = np.isfinite(out).all(axis=1)
        xs = out if finite.all() else out[finite]
        if xs.shape[0] == 0:
            empty = AttractorSnapshot(np.empty((0, dim)), n_initial, n_initial, n_steps, seed)
            raise DivergenceError(
                f"pullback_snapshot: all {n_initial} points became non-finite by step {t + 1} "
                f"of {n_steps} (seed {seed})",
                empty,
            )
    xs.setflags(write=False)
    return AttractorSnapshot(xs, n_initial, n_initial - xs.shape[0], n_steps, seed)


def trajectory_tail(
    system: Any,
    x0: Any,
    n_steps: int,
    n_keep: int,
    *,
    rng: None | int | np.random.Generator = None,
) -> TrajectoryTail:
    """Run one orbit from ``x0`` for ``n_steps`` steps and keep the last ``n_keep`` iterates.

    >>> from sharpdim.dynamics.maps import as_map
    >>> m = as_map(lambda x: 0.5 * x, lambda x: 0.5 * np.eye(1), 1)
    >>> trajectory_tail(m, np.array([8.0]), 4, 2, rng=0).points.ravel().tolist()  # x3, x4
    [1.0, 0.5]
    """
    dim = validate_map(system)
    xs, single = validated_points(x0, dim)
    if not single:
        raise ValueError(f"x0 must be one point of shape ({dim},), got shape {np.shape(x0)}")
    n_steps = _validate.integer("n_steps", n_steps, minimum=1)
    n_keep = _validate.integer("n_keep", n_keep, minimum=1)
    if n_keep > n_steps:
        raise ValueError(f"n_keep must be <= n_steps = {n_steps}, got {n_keep}")
    seed = _validate.seed(rng, "rng")
    noise_rng = noise_generator(seed)
    kept = np.empty((n_keep, dim))
    x = xs[0]
    first_kept = n_steps - n_keep
    for t in range(n_steps):
        noise = system.sample_noise(noise_rng)
        with np.errstate(all="ignore"):
            x = np.asarray(system.step(x, noise), dtype=np.float64)
        if x.shape != (dim,):
            raise ValueError(f"system.step must keep the state shape ({dim},), got {x.shape}")
        if not np.isfinite(x).all():
            done = max(0, t - first_kept)
            partial = TrajectoryTail(kept[:done].copy(), t, done, seed) if done else None
            raise DivergenceError(
                f"trajectory_tail: the state became non-finite at step {t + 1} of {n_steps} "
                f"(seed {seed})",
                partial,
            )
        if t >= first_kept:
            kept[t - first_kept] = x
    kept.setflags(write=False)
    return TrajectoryTail(kept, n_steps, n_keep, seed)
