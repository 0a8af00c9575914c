"""The argument checks every strategy runs when it is built (:mod:`sharpdim.testing.strategies`):
a bad argument is an :class:`InvalidStrategyArgument` naming the argument, the rule and the
value."""

from __future__ import annotations

from hypothesis.errors import InvalidArgument

from sharpdim import _validate

__all__ = ["InvalidStrategyArgument"]


class InvalidStrategyArgument(InvalidArgument, ValueError):
    """A strategy was built with bad arguments (raised eagerly, at construction)."""

    __module__ = "sharpdim.testing.strategies"  # its public home (and name in tracebacks)


def _fail(message: str) -> None:
    raise InvalidStrategyArgument(message)


def _as_strategy_error(check):
    """``check`` (a :mod:`sharpdim._validate` rule) raising :class:`InvalidStrategyArgument`,
    what Hypothesis expects of a strategy built with bad arguments (it is a ``TypeError`` and a
    ``ValueError``, so the package's exception policy holds)."""

    def checked(name: str, value, *args, **kwargs):
        try:
            return check(name, value, *args, **kwargs)
        except ValueError as e:            # _validate.ArgumentTypeError is a ValueError too
            raise InvalidStrategyArgument(str(e)) from None

    return checked


_integer = _as_strategy_error(_validate.integer)
_real = _as_strategy_error(_validate.real)
_choice = _as_strategy_error(_validate.choice)
_flag = _as_strategy_error(_validate.flag)


def _check_range(lo_name: str, lo: float, hi_name: str, hi: float) -> None:
    if lo > hi:
        _fail(f"{lo_name} must be <= {hi_name}, got {lo_name}={lo!r} > {hi_name}={hi!r}")


def _bounds(name: str, lo, hi, check=_real, **rule) -> tuple:
    """``min_<name>`` and ``max_<name>`` checked by ``check`` with the same ``rule`` (e.g.
    ``minimum=0, open_min=True``), then ``min <= max``; returns the checked pair."""
    lo = check(f"min_{name}", lo, **rule)
    hi = check(f"max_{name}", hi, **rule)
    _check_range(f"min_{name}", lo, f"max_{name}", hi)
    return lo, hi


def _check_dims(min_dim, max_dim) -> tuple[int, int]:
    return _bounds("dim", min_dim, max_dim, _integer, minimum=1)
