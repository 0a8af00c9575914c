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

A package split into several modules forwards to each in turn (``forwarding(a, b)``: ``a``'s
names first); a name none of them has is an ``AttributeError`` naming the old path's
modules.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

__all__ = ["forwarding"]


def forwarding(*modules: ModuleType) -> tuple[list[str], Callable[[str], object]]:
    """``__all__`` (the modules' ``__all__`` together) and a module ``__getattr__`` that
    forward an old path to ``modules``, the first holding a name winning."""

    def __getattr__(name: str) -> object:
        for module in modules:
            if hasattr(module, name):
                return getattr(module, name)
        where = ", ".join(m.__name__ for m in modules)
        raise AttributeError(f"no name {name!r} in {where}")

    return [name for module in modules for name in module.__all__], __getattr__
