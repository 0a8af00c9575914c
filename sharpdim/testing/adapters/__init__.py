"""Adapters: third-party estimators wrapped to an audit kind's call signature.

Each adapter function carries an ``audit_info`` (:class:`AdapterInfo`) that the audit report
prints: the library and version, the function it calls, the settings it passes (and where
they come from: the library's defaults or its documentation), the shims applied to make the
library run here at all, and notes. Shims are applied when the adapter module is imported
(never at package import), each recorded as a sentence in ``shims``.

* :mod:`sharpdim.testing.adapters.nolds` — ``lyap_r``, ``lyap_e``, ``corr_dim`` (extra
  ``audit``: ``nolds``);
* :mod:`sharpdim.testing.adapters.pyhessian` — ``eigenvalues``, ``trace``, ``density``
  (extra ``audit``: ``pyhessian``);
* :mod:`sharpdim.testing.adapters.reference` — sharpdim's own estimators, for dogfooding.

A module's ``AUDITS`` lists ``(function name, kind, quantity)`` for ``sharpdim audit MODULE``
(no ``:FUNCTION``), which audits them all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["AdapterInfo", "with_info", "info_dict"]


@dataclass(frozen=True)
class AdapterInfo:
    """What an adapter calls and how: see the package docstring."""

    library: str
    version: str
    function: str
    label: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    settings_source: str = "library defaults"
    shims: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    quantity: str | None = None


def with_info(info: AdapterInfo) -> Callable[[Callable], Callable]:
    """Decorator attaching ``info`` as the function's ``audit_info``."""

    def attach(fn: Callable) -> Callable:
        fn.audit_info = info
        return fn

    return attach


def info_dict(estimator: Any) -> dict[str, Any] | None:
    """The estimator's ``audit_info`` as a plain dict (``None`` when it has none)."""
    info = getattr(estimator, "audit_info", None)
    if info is None:
        info = getattr(getattr(estimator, "func", None), "audit_info", None)
    if info is None:
        return None
    if isinstance(info, AdapterInfo):
        out = asdict(info)
        out["settings"] = dict(info.settings)
        out["shims"], out["notes"] = list(info.shims), list(info.notes)
        return out
    return dict(info)
