"""The map protocol: the one abstraction every dynamical computation in sharpdim consumes.

A (random) map is any object with

    dim: int
    sample_noise(rng: np.random.Generator) -> noise   # None for a deterministic map
    step(x, noise) -> x'                              # one step x' = φ(1, ω, x)
    jacobian(x, noise) -> (dim, dim) array            # Dφ(1, ω, x)

and optionally the vectorized forms ``step_batch(xs, noise)`` (``(n, dim) -> (n, dim)``) and
``jacobian_batch(xs, noise)`` (``(n, dim) -> (n, dim, dim)``), which ensemble algorithms use
when present. One noise value drives one step; consumers pass that same value to ``step``
and ``jacobian``. Nothing here assumes ``jacobian`` is the derivative of ``step`` (a linear
cocycle may keep ``x`` fixed and return a random matrix).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from sharpdim import _validate
from sharpdim.dimension import as_float_array

__all__ = [
    "RandomMap",
    "FunctionMap",
    "as_map",
    "validate_map",
    "as_real_array",
    "step_many",
    "jacobian_many",
]


@runtime_checkable
class RandomMap(Protocol):
    """Structural type of a (random) map; see the module docstring."""

    dim: int

    def sample_noise(self, rng: np.random.Generator) -> Any: ...

    def step(self, x: np.ndarray, noise: Any) -> np.ndarray: ...

    def jacobian(self, x: np.ndarray, noise: Any) -> np.ndarray: ...


def as_real_array(value: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    """``value`` as a float64 array of ``shape``; a ``TypeError``/``ValueError`` naming
    ``what`` (e.g. ``"system.jacobian"``) for non-numbers, complex values or another shape.

    A size-1 value is accepted for a size-1 shape (``2.0`` for a ``(1, 1)`` Jacobian); any
    other shape must match exactly (a flat ``(4,)`` is not silently read as ``(2, 2)``).

    >>> as_real_array([[1, 2], [3, 4]], (2, 2), "system.jacobian").dtype
    dtype('float64')
    """
    arr = as_float_array(f"{what}'s return value", value)
    size = math.prod(shape)  # plain ints (np.prod costs ~15 µs a call, on every step)
    if arr.shape != shape and not (size == 1 and arr.size == 1):
        raise ValueError(f"{what} must return a {shape} array, got shape {arr.shape}")
    return arr.reshape(shape)


@dataclass(frozen=True)
class FunctionMap:
    """A map built from plain functions ``step(x, noise)``, ``jacobian(x, noise)``.

    ``noise`` is ``None`` for deterministic maps, else ``noise(rng)`` draws one step's noise.
    """

    dim: int
    step_fn: Callable[[np.ndarray, Any], np.ndarray]
    jacobian_fn: Callable[[np.ndarray, Any], np.ndarray]
    noise_fn: Callable[[np.random.Generator], Any] | None = None
    name: str = "function map"

    def sample_noise(self, rng: np.random.Generator) -> Any:
        return None if self.noise_fn is None else self.noise_fn(rng)

    def step(self, x: np.ndarray, noise: Any) -> np.ndarray:
        return as_real_array(self.step_fn(x, noise), np.shape(x), f"step of {self.name}")

    def jacobian(self, x: np.ndarray, noise: Any) -> np.ndarray:
        return as_real_array(self.jacobian_fn(x, noise), (self.dim, self.dim),
                             f"jacobian of {self.name}")


def as_map(
    step: Callable[[np.ndarray, Any], np.ndarray],
    jacobian: Callable[[np.ndarray, Any], np.ndarray],
    dim: int,
    *,
    noise: Callable[[np.random.Generator], Any] | None = None,
    name: str = "function map",
) -> FunctionMap:
    """Wrap plain functions as a map. Functions of ``x`` alone are accepted too.

    >>> m = as_map(lambda x: 2 * x, lambda x: np.array([[2.0]]), 1)
    >>> float(m.step(np.array([1.5]), None)[0]), float(m.jacobian(np.array([0.0]), None)[0, 0])
    (3.0, 2.0)
    """
    return FunctionMap(_validate.integer("dim", dim, minimum=1), _accept_noise(step),
                       _accept_noise(jacobian), noise, name)


def _accept_noise(fn: Callable) -> Callable[[np.ndarray, Any], np.ndarray]:
    """Let deterministic maps be written as ``f(x)`` as well as ``f(x, noise)``."""
    import inspect

    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return fn
    positional = [
        p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    has_varargs = any(p.kind == p.VAR_POSITIONAL for p in params)
    if len(positional) == 1 and not has_varargs:
        return lambda x, noise: fn(x)
    return fn


def validate_map(system: Any) -> int:
    """Check the protocol members early; return ``dim``. Raise ``TypeError`` naming a gap."""
    missing = [
        name
        for name in ("dim", "sample_noise", "step", "jacobian")
        if not hasattr(system, name)
    ]
    if missing:
        raise TypeError(
            f"system must follow the map protocol (dim, sample_noise, step, jacobian); "
            f"{type(system).__name__} lacks {', '.join(missing)}"
        )
    return _validate.integer("system.dim", system.dim, minimum=1)


def step_many(system: Any, xs: np.ndarray, noise: Any) -> np.ndarray:
    """Advance an ensemble ``(n, dim)`` one step with shared noise (vectorized if offered)."""
    if hasattr(system, "step_batch"):
        return np.asarray(system.step_batch(xs, noise), dtype=np.float64)
    return np.stack([np.asarray(system.step(x, noise), dtype=np.float64) for x in xs])


def jacobian_many(system: Any, xs: np.ndarray, noise: Any) -> np.ndarray:
    """Jacobians ``(n, dim, dim)`` of an ensemble with shared noise (vectorized if offered)."""
    dim = int(system.dim)
    if hasattr(system, "jacobian_batch"):
        return np.asarray(system.jacobian_batch(xs, noise), dtype=np.float64)
    return np.stack(
        [np.asarray(system.jacobian(x, noise), dtype=np.float64).reshape(dim, dim) for x in xs]
    )
