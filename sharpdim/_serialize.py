"""Results that travel: JSON-safe dictionaries, their inverse, and one-screen reprs (layer 0).

:class:`Serializable` gives a frozen dataclass ``to_dict()`` / ``from_dict()`` and a compact
``repr``. ``to_dict`` maps every field to plain JSON values — arrays and tuples to lists,
numpy scalars to Python numbers, a ``torch.dtype`` to its name, nested dataclasses to
dictionaries — and writes the non-finite floats a sharpness profile holds (``λ_k = -inf``
for a zero singular value) as the strings ``"inf"``, ``"-inf"``, ``"nan"``, so that
``json.dumps(..., allow_nan=False)`` accepts it. ``from_dict`` reads the field types from the
class's annotations and rebuilds the value: ``from_dict(to_dict(x)) == x`` field by field.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping

import numpy as np

__all__ = ["Serializable", "jsonable", "compact_repr"]

_NONFINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}
_MAX_ITEMS = 4  # a tuple longer than this is shown by its first items and its length


def _number(x: float) -> float | str:
    return x if math.isfinite(x) else ("nan" if math.isnan(x) else ("inf" if x > 0 else "-inf"))


def jsonable(value):
    """``value`` as plain JSON data (module docstring)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [jsonable(v) for v in value]
    if type(value).__module__ == "torch" and type(value).__name__ == "dtype":
        return str(value).removeprefix("torch.")
    raise TypeError(f"value must be JSON-representable, got {type(value).__name__}")


def _float(x) -> float:
    return _NONFINITE[x] if isinstance(x, str) else float(x)


def _array(data) -> np.ndarray:
    return np.array([_float(x) if isinstance(x, str) else x for x in data])


def _rebuild(hint, data):
    """``data`` (from :func:`jsonable`) as a value of the annotated type ``hint``."""
    if data is None:
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        return _rebuild(options[0], data) if len(options) == 1 else data
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return hint.from_dict(data) if issubclass(hint, Serializable) else hint(**data)
    if hint is np.ndarray:
        return _array(data)
    if hint is float:
        return _float(data)
    if origin is tuple:
        inner = args[0] if args and (len(args) == 2 and args[1] is Ellipsis) else None
        if inner is not None:
            return tuple(_rebuild(inner, x) for x in data)
        if args:
            return tuple(_rebuild(a, x) for a, x in zip(args, data, strict=True))
        return tuple(data)
    if origin in (Mapping, dict) or hint is Mapping:
        return dict(data)
    return data


class Serializable:
    """Mixin for frozen dataclasses: ``to_dict``, ``from_dict`` and a compact ``repr``."""

    _repr_summary: typing.ClassVar[tuple[str, ...]] = ()

    def to_dict(self) -> dict:
        """Every field as plain JSON data (``json.dumps(x.to_dict(), allow_nan=False)``)."""
        return jsonable(self)

    @classmethod
    def from_dict(cls, data: Mapping):
        """The value whose :meth:`to_dict` is ``data``."""
        if not isinstance(data, Mapping):
            raise TypeError(f"data must be a mapping from to_dict(), got {type(data).__name__}")
        hints = typing.get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"data must hold only fields of {cls.__name__}, got unknown "
                             f"{sorted(unknown)}")
        return cls(**{k: _rebuild(hints[k], v) for k, v in data.items()})

    def __repr__(self) -> str:
        return compact_repr(self)


def _short(value) -> str:
    if isinstance(value, np.ndarray):
        if value.size == 0:
            return "array([])"
        finite = value[np.isfinite(value)] if value.dtype.kind == "f" else value
        span = (f" in [{finite.min():.4g}, {finite.max():.4g}]" if finite.size else "")
        extra = "" if finite.size == value.size else f", {value.size - finite.size} non-finite"
        return f"array({value.size} values{span}{extra})"
    if isinstance(value, tuple | list) and len(value) > _MAX_ITEMS:
        head = ", ".join(_short(v) for v in value[:2])
        return f"({head}, …; {len(value)} items)"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, Mapping):
        return f"{{…{len(value)} entries}}" if len(value) > _MAX_ITEMS else repr(dict(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        shown = getattr(value, "_repr_summary", ()) or tuple(
            f.name for f in dataclasses.fields(value))[:_MAX_ITEMS]
        inner = ", ".join(f"{k}={_short(getattr(value, k))}" for k in shown)
        return f"{type(value).__name__}({inner}, …)"
    return repr(value)


def compact_repr(obj) -> str:
    """One line per field, arrays and long tuples summarized, nested results in one line
    (their ``_repr_summary`` fields): a result prints on one screen."""
    lines = [f"    {f.name}={_short(getattr(obj, f.name))}," for f in dataclasses.fields(obj)]
    return f"{type(obj).__name__}(\n" + "\n".join(lines) + "\n)"
