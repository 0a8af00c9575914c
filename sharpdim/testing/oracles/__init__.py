"""The oracle registry: named audit cases with exact answers, per kind of estimator.

Each :class:`OracleCase` holds an input (built on demand, deterministically from its seed),
the exact value a correct estimator returns, the derivation of that value (closed forms from
the analytic catalogue, hand-counted tables, planted spectra — never another estimator) and a
tolerance with its reason. :func:`cases` lists a kind's cases for a profile (``quick`` is a
subset of ``thorough``); :func:`get_case` finds one by name, which is how an isolated worker
process rebuilds the inputs without receiving them.

Kinds (the callable each one audits is documented in :mod:`sharpdim.testing.auditing`):
``lyapunov-map``, ``lyapunov-series``, ``correlation-dimension``, ``dimension``,
``hessian-spectrum``, ``sharpness-dimension``, ``kendall``, ``persistence-h0``.

Oracle families usable on their own (loaded on first access, they import torch):
:func:`deep_linear_network` (:mod:`sharpdim.testing.oracles.linear_network`) — a deep linear
network at a balanced global minimum with its closed-form Hessian spectrum and exact SD.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from sharpdim.testing.oracles._case import COMPARISONS, PROFILES, OracleCase, format_values
from sharpdim.vocabulary import AUDIT_KINDS, AuditKind, AuditProfile, choice

__all__ = [
    "OracleCase",
    "KINDS",
    "PROFILES",
    "COMPARISONS",
    "cases",
    "get_case",
    "format_values",
    "DeepLinearNetwork",
    "deep_linear_network",
    "deep_linear_hessian_eigenvalues",
    "deep_linear_sharpness",
    "half_squared_error",
]

_LAZY = {"DeepLinearNetwork", "deep_linear_network", "deep_linear_hessian_eigenvalues",
         "deep_linear_sharpness", "half_squared_error"}


def __getattr__(name: str):
    if name in _LAZY:  # torch-backed: imported only when asked for
        from sharpdim.testing.oracles import linear_network
        value = getattr(linear_network, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sharpdim.testing.oracles' has no attribute {name!r}")


def _maps():
    from sharpdim.testing.oracles.maps import lyapunov_map_cases
    return lyapunov_map_cases()


def _series():
    from sharpdim.testing.oracles.series import lyapunov_series_cases
    return lyapunov_series_cases()


def _d2():
    from sharpdim.testing.oracles.series import correlation_dimension_cases
    return correlation_dimension_cases()


def _dimension():
    from sharpdim.testing.oracles.spectra import dimension_cases
    return dimension_cases()


def _kendall():
    from sharpdim.testing.oracles.spectra import kendall_cases
    return kendall_cases()


def _ph0():
    from sharpdim.testing.oracles.persistence import persistence_h0_cases
    return persistence_h0_cases()


def _hessian():
    from sharpdim.testing.oracles.hessian import hessian_spectrum_cases
    return hessian_spectrum_cases()


def _sd():
    from sharpdim.testing.oracles.hessian import sharpness_dimension_cases
    return sharpness_dimension_cases()


# Builders import lazily: the torch kinds load torch only when asked for.
_BUILDERS: dict[str, Callable[[], list[OracleCase]]] = {
    "lyapunov-map": _maps,
    "lyapunov-series": _series,
    "correlation-dimension": _d2,
    "dimension": _dimension,
    "hessian-spectrum": _hessian,
    "sharpness-dimension": _sd,
    "kendall": _kendall,
    "persistence-h0": _ph0,
}

KINDS = AUDIT_KINDS  # the vocabulary's word list, re-exported
assert tuple(_BUILDERS) == KINDS, "the oracle builders and the vocabulary's audit kinds agree"


@cache
def _all(kind: str) -> tuple[OracleCase, ...]:
    built = tuple(_BUILDERS[kind]())
    names = [c.name for c in built]
    if len(set(names)) != len(names):
        raise RuntimeError(f"duplicate case names in kind {kind!r}: {names}")
    return built


def cases(kind: AuditKind, profile: AuditProfile = "quick", *, quantity: str | None = None
          ) -> tuple[OracleCase, ...]:
    """The cases of ``kind`` run by ``profile`` (for ``hessian-spectrum``, only those of
    ``quantity`` when given).

    >>> [c.name for c in cases("dimension")][:3]
    ['two-exponents', 'unsorted-input', 'flat-direction']
    """
    choice("kind", kind, KINDS)
    choice("profile", profile, PROFILES)
    selected = tuple(c for c in _all(kind) if profile in c.profiles)
    if quantity is not None:
        selected = tuple(c for c in selected if c.options.get("quantity") == quantity)
        if not selected:
            raise ValueError(f"kind {kind!r} has no cases of quantity {quantity!r}")
    return selected


def get_case(kind: AuditKind, name: str) -> OracleCase:
    """The case of ``kind`` called ``name`` (any profile)."""
    choice("kind", kind, KINDS)
    for case in _all(kind):
        if case.name == name:
            return case
    raise ValueError(f"kind {kind!r} has no case {name!r}; cases: "
                     f"{', '.join(c.name for c in _all(kind))}")
