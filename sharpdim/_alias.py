"""Old module paths kept working (layer 0): an alias module forwards every name to the module
where the code now lives.

An alias module reads::

    import sharpdim.new.place as _new
    from sharpdim._alias import forwarding

    __all__, __getattr__ = forwarding(_new)

``from old.path import name`` and ``from old.path import *`` then give the new module's objects
(private names too, through the module-level ``__getattr__`` of PEP 562).

>>> import types
>>> new = types.ModuleType("new"); new.__all__ = ["f"]; new.f = len; new._g = abs
>>> names, getattr_ = forwarding(new)
>>> names, getattr_("f") is len, getattr_("_g") is abs
(['f'], True, True)
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

__all__ = ["forwarding"]


def forwarding(module: ModuleType) -> tuple[list[str], Callable[[str], object]]:
    """``__all__`` and a module ``__getattr__`` that forward an old path to ``module``."""

    def __getattr__(name: str) -> object:
        return getattr(module, name)

    return list(module.__all__), __getattr__
