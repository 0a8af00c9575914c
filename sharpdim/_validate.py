"""The one home of argument checks (layer 0): every public function validates through these.

One exception policy: an argument of the wrong *type* raises :class:`ArgumentTypeError`, a
``TypeError``; one of the right type with a wrong *value* raises ``ValueError``. Every message
reads ``"<name> must <rule>, got <value>"``. :class:`ArgumentTypeError` also derives from
``ValueError`` because the library documented ``ValueError`` for every bad setting before the
policy existed: code that catches it keeps working (as numpy's ``AxisError`` is both an
``IndexError`` and a ``ValueError``).

>>> integer("n_steps", 3, minimum=1)
3
>>> real("lr", 0.1, minimum=0, open_min=True)
0.1
>>> try:
...     integer("n_steps", 2.5)
... except TypeError as e:
...     print(e)
n_steps must be an int, got float 2.5
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["ArgumentTypeError", "integer", "real", "positive", "non_negative", "fraction",
           "flag", "choice", "seed"]


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type (a ``TypeError``; also a ``ValueError``, see the module
    docstring)."""


def _type_error(name: str, expected: str, value: Any) -> ArgumentTypeError:
    return ArgumentTypeError(f"{name} must be {expected}, got {type(value).__name__} {value!r}")


def _bound(name: str, v: float, minimum, maximum, open_min: bool, open_max: bool,
           shown: Any) -> None:
    low_bad = minimum is not None and (v <= minimum if open_min else v < minimum)
    high_bad = maximum is not None and (v >= maximum if open_max else v > maximum)
    if not (low_bad or high_bad):
        return
    if minimum is not None and maximum is not None:
        rule = (f"be in {'(' if open_min else '['}{minimum:g}, {maximum:g}"
                f"{')' if open_max else ']'}")
    elif minimum is not None:
        rule = f"be {'>' if open_min else '>='} {minimum:g}"
    else:
        rule = f"be {'<' if open_max else '<='} {maximum:g}"
    raise ValueError(f"{name} must {rule}, got {shown!r}")


def integer(name: str, value: Any, *, minimum: int | None = None,
            maximum: int | None = None) -> int:
    """``value`` as a Python int in ``[minimum, maximum]`` (bools are not ints here).

    >>> integer("n_bins", np.int64(4), minimum=1)
    4
    """
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise _type_error(name, "an int", value)
    _bound(name, int(value), minimum, maximum, False, False, value)
    return int(value)


def real(name: str, value: Any, *, minimum: float | None = None, maximum: float | None = None,
         open_min: bool = False, open_max: bool = False) -> float:
    """``value`` as a finite float in the interval the bounds give (``open_*``: the bound is
    excluded).

    >>> real("momentum", 0.9, minimum=0, maximum=1, open_max=True)
    0.9
    """
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise _type_error(name, "a real number", value)
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    _bound(name, v, minimum, maximum, open_min, open_max, value)
    return v


def positive(name: str, value: Any) -> float:
    """A finite real ``> 0``."""
    return real(name, value, minimum=0, open_min=True)


def non_negative(name: str, value: Any) -> float:
    """A finite real ``>= 0``."""
    return real(name, value, minimum=0)


def fraction(name: str, value: Any) -> float:
    """A finite real in the open interval ``(0, 1)``."""
    return real(name, value, minimum=0, maximum=1, open_min=True, open_max=True)


def flag(name: str, value: Any) -> bool:
    """A bool (``0``/``1`` and numpy bools are not accepted: a flag is stated, not coerced)."""
    if not isinstance(value, bool):
        raise _type_error(name, "a bool", value)
    return value


def choice(name: str, value: Any, options: Sequence[str]) -> str:
    """``value`` if it is one of ``options`` (a word list of :mod:`sharpdim.vocabulary`).

    >>> choice("method", "kde", ("exact", "slq", "kde", "ps"))
    'kde'
    """
    if not isinstance(value, str):
        raise _type_error(name, f"one of {tuple(options)}", value)
    if value not in options:
        raise ValueError(f"{name} must be one of {tuple(options)}, got {value!r}")
    return value


def seed(value: Any, name: str = "seed") -> int:
    """The integer seed a result records — the package's one seed resolver: ``value`` itself
    (an int ``>= 0``), fresh OS entropy when ``None`` (63 bits, so it can be recorded and
    passed back), or one draw ``rng.integers(2**63)`` from a ``numpy.random.Generator`` (which
    advances it by one call). ``name`` is the argument's name in error messages.

    >>> seed(7), seed(np.random.default_rng(0)) == seed(np.random.default_rng(0))
    (7, True)
    """
    if value is None:
        return int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0] >> 1)
    if isinstance(value, np.random.Generator):
        return int(value.integers(2**63))
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise _type_error(name, "None, a non-negative int seed or a numpy Generator", value)
    if value < 0:
        label = name if name.endswith("seed") else f"{name} seed"
        raise ValueError(f"{label} must be >= 0, got {value!r}")
    return int(value)
