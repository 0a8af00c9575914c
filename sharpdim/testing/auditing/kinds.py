"""Kinds of estimator the audit knows: how each is called, and how its answer is read.

=========================  ===============================================================
kind                       callable (returns)
=========================  ===============================================================
``lyapunov-map``           ``f(system, x0, n_steps, seed)`` → the Lyapunov spectrum,
                           descending (``system`` follows the map protocol of
                           :mod:`sharpdim.dynamics.maps`; average over about ``n_steps``
                           steps; draw noise from ``seed``)
``lyapunov-series``        ``f(series)`` → ``λ_1`` per sample, natural log (a scalar time
                           series, as nolds' ``lyap_r``)
``correlation-dimension``  ``f(series)`` → the correlation dimension ``D_2`` of the series'
                           attractor (as nolds' ``corr_dim``; added beside the five kinds
                           of the issue because a series → dimension estimator fits none)
``dimension``              ``f(exponents)`` → the Kaplan–Yorke dimension (any input order)
``hessian-spectrum``       ``f(model, loss_fn, data, **kw)`` → per ``quantity``:
                           ``top_eigenvalues``: the ``k`` largest eigenvalues, descending
                           (``kw`` has ``k``; a scalar is accepted for ``k = 1``);
                           ``trace``: ``tr H``, or ``{"trace": t, "n_probes": M}``;
                           ``density``: ``(nodes, weights)`` of the normalized spectral
                           measure (weights sum to 1), or an object with ``.nodes`` and
                           ``.weights``. ``kw`` also has ``seed``; only keywords in ``f``'s
                           signature are passed. ``data = (inputs, targets)``; ``loss_fn``
                           returns the minibatch mean
``sharpness-dimension``    ``f(model, loss_fn, data, *, lr, batch_size, seed)`` → SD
                           (like ``sharpdim.estimate_sharpness(...).dimension``)
``kendall``                ``f(x, y)`` → Kendall's τ-a (Jiang et al.'s sign definition;
                           added so that a τ-b-for-τ-a mistake is caught)
``persistence-h0``         ``f(points)`` → the ``n − 1`` finite death times of the
                           0-dimensional Vietoris–Rips persistence of ``n`` distinct points
                           (``(n, d)`` array), ascending (= minimum-spanning-tree edge
                           lengths; what PH dimensions and lifetime sums are built from)
=========================  ===============================================================

Torch tensors, numpy arrays, lists and Python numbers are all accepted as return values.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sharpdim.testing.oracles import OracleCase, format_values
from sharpdim.vocabulary import AUDIT_KINDS, AUDIT_SIGNATURES, AuditKind, choice

KINDS = AUDIT_KINDS  # the vocabulary's word list (one home), under its old name

__all__ = ["KINDS", "KIND_SIGNATURES", "Returned", "invoke", "read_answer"]

KIND_SIGNATURES = AUDIT_SIGNATURES  # the vocabulary's (one home)
assert set(KIND_SIGNATURES) == set(KINDS)


def _accepted(fn: Callable, candidates: Mapping[str, Any]) -> dict[str, Any]:
    """The keywords of ``candidates`` that ``fn``'s signature accepts (all, with ``**kw``)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return dict(candidates)
    if any(p.kind == p.VAR_KEYWORD for p in params):
        return dict(candidates)
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return {k: v for k, v in candidates.items() if k in names}


def invoke(kind: AuditKind, estimator: Callable, case: OracleCase) -> Any:
    """Build the case's inputs and call ``estimator`` as its kind prescribes."""
    choice("kind", kind, KINDS)
    inputs = case.build()
    if kind == "lyapunov-map":
        return estimator(inputs["system"], inputs["x0"], inputs["n_steps"], inputs["seed"])
    if kind in ("lyapunov-series", "correlation-dimension"):
        return estimator(inputs["series"])
    if kind == "dimension":
        return estimator(inputs["exponents"])
    if kind == "kendall":
        return estimator(inputs["x"], inputs["y"])
    if kind == "persistence-h0":
        return estimator(inputs["points"])
    if kind == "hessian-spectrum":
        wanted = {"seed": case.seed}
        if case.options["quantity"] == "top_eigenvalues":
            wanted["k"] = case.options["k"]
        kwargs = _accepted(estimator, wanted)
        if "k" in wanted and "k" not in kwargs and wanted["k"] > 1:
            raise TypeError(f"the estimator does not accept k, so it cannot return the "
                            f"{wanted['k']} largest eigenvalues this case asks for")
        return estimator(inputs["model"], inputs["loss_fn"], inputs["data"], **kwargs)
    if kind == "sharpness-dimension":
        return estimator(inputs["model"], inputs["loss_fn"], inputs["data"],
                         lr=inputs["lr"], batch_size=inputs["batch_size"], seed=inputs["seed"])
    raise AssertionError(f"invoke has no call for the audit kind {kind!r}")


@dataclass(frozen=True)
class Returned:
    """An estimator's answer, read into float64: ``values`` (value comparisons) or
    ``measure`` (``(nodes, weights)``), ``n_probes`` when a trace reports it, ``text`` for
    the report, ``problem`` when the answer cannot be compared (``None`` otherwise)."""

    values: np.ndarray | None
    measure: tuple[np.ndarray, np.ndarray] | None
    n_probes: int | None
    text: str
    problem: str | None


def _numbers(obj: Any) -> np.ndarray:
    """A float64 array from numbers, numpy arrays, torch tensors or sequences of them."""
    if isinstance(obj, str | bytes):
        raise TypeError(f"returned {type(obj).__name__} {obj!r:.40}, not numbers")
    if hasattr(obj, "detach") and hasattr(obj, "cpu"):  # a torch tensor, without importing torch
        obj = obj.detach().cpu().double().numpy()
    if isinstance(obj, list | tuple):
        obj = [_numbers(o) for o in obj]
    try:
        arr = np.asarray(obj, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"returned {type(obj).__name__}, not numbers ({exc})") from None
    return arr


def _problem(values: np.ndarray) -> str | None:
    if np.isnan(values).any():
        return "NaN"
    return None


def _read_values(case: OracleCase, raw: Any) -> Returned:
    values = _numbers(raw).reshape(-1)
    text = format_values(values) if values.size else "[]"
    if case.comparison == "values" and values.shape != case.expected.shape:
        return Returned(values, None, None, text,
                        f"wrong shape: {values.shape[0]} value(s) for {case.expected.size}")
    if case.comparison == "sum" and values.size < 1:
        return Returned(values, None, None, text, "wrong shape: no values")
    return Returned(values, None, None, text, _problem(values))


def _read_trace(raw: Any) -> Returned:
    n_probes = None
    if isinstance(raw, Mapping):
        if "trace" not in raw:
            return Returned(None, None, None, repr(raw)[:80], "wrong shape: no 'trace' key")
        n_probes = raw.get("n_probes")
        raw = raw["trace"]
    values = _numbers(raw).reshape(-1)
    if values.size != 1:
        return Returned(values, None, None, format_values(values),
                        f"wrong shape: {values.size} values for one trace")
    text = format_values(values) + (f" (M = {int(n_probes)} probes)" if n_probes else "")
    n = int(n_probes) if n_probes is not None and int(n_probes) >= 1 else None
    return Returned(values, None, n, text, _problem(values))


def _read_measure(raw: Any) -> Returned:
    if isinstance(raw, Mapping):
        raw = (raw.get("nodes"), raw.get("weights"))
    elif hasattr(raw, "nodes") and hasattr(raw, "weights"):
        raw = (raw.nodes, raw.weights)
    if not isinstance(raw, tuple | list) or len(raw) != 2:
        return Returned(None, None, None, type(raw).__name__,
                        "wrong shape: expected (nodes, weights)")
    nodes, weights = (_numbers(a).reshape(-1) for a in raw)
    text = f"{nodes.size} atoms, mass {weights.sum():.6g}"
    if nodes.shape != weights.shape or nodes.size == 0:
        return Returned(None, (nodes, weights), None, text,
                        f"wrong shape: {nodes.size} nodes, {weights.size} weights")
    if np.isnan(nodes).any() or np.isnan(weights).any():
        return Returned(None, (nodes, weights), None, text, "NaN")
    return Returned(None, (nodes, weights), None, text, None)


def read_answer(case: OracleCase, raw: Any) -> Returned:
    """Read an estimator's raw return value for ``case`` (never raises on bad answers)."""
    if raw is None:
        return Returned(None, None, None, "None", "wrong shape: returned None")
    try:
        if case.comparison == "measure":
            return _read_measure(raw)
        if case.options.get("quantity") == "trace":
            return _read_trace(raw)
        return _read_values(case, raw)
    except TypeError as exc:
        return Returned(None, None, None, type(raw).__name__, f"wrong shape: {exc}")
