"""hessian-eigenthings 1.0 (``HessianOperator``/``GGNOperator`` with ``lanczos``,
``deflated_power_iteration``, ``trace``/``hutchinson`` and ``spectral_density``) wrapped for
the audit kind ``hessian-spectrum``.

How the adapter calls it (the package's documented usage): ``HessianOperator(model,
dataloader, supervised_loss(loss_fn))`` with ``dataloader = [(inputs, targets)]`` (one batch:
the minibatch-mean Hessian), ``GGNOperator(model, dataloader, supervised_forward,
supervised_loss_of_output(loss_fn))``; every algorithm takes ``seed=`` (the case seed), so no
global generator is touched.

Settings audited: the library's defaults (``lanczos(k, which='LM', tol=1e-4)``,
``deflated_power_iteration(k, max_iter=100, tol=1e-4)``, ``trace(num_matvecs=100,
method='hutch++')``, ``hutchinson(num_samples=100)``, ``spectral_density(num_runs=10,
lanczos_steps=80)``), ``lanczos(which='LA')`` — the largest *algebraic* eigenvalues, the
ones compared with ``2/η`` at the edge of stability — and ``lanczos(which='LA',
max_iter=100)`` (the default ``max_iter`` is ``min(2k, n − 1)`` Lanczos steps: two for
``k = 1``). Every eigen-result is returned as computed, whether or not its ``converged`` flags
are set (the library returns unconverged values without raising or warning).
``spectral_density`` is audited twice: its smoothed density on the grid (``density·Δgrid``,
renormalized) and its raw quadrature (the runs' Ritz values with their weights, each run's
weights divided by the number of runs).
"""

from __future__ import annotations

import importlib
from importlib import metadata

import numpy as np

from sharpdim.testing.adapters import AdapterInfo, with_info

__all__ = [
    "AUDITS",
    "lanczos_defaults",
    "lanczos_la",
    "lanczos_la_more_steps",
    "ggn_lanczos_la",
    "power_iteration_defaults",
    "trace_defaults",
    "hutchinson_defaults",
    "density_smoothed",
    "density_quadrature",
]

AUDITS = (
    ("lanczos_defaults", "hessian-spectrum", "top_eigenvalues"),
    ("lanczos_la", "hessian-spectrum", "top_eigenvalues"),
    ("lanczos_la_more_steps", "hessian-spectrum", "top_eigenvalues"),
    ("ggn_lanczos_la", "hessian-spectrum", "top_eigenvalues"),
    ("power_iteration_defaults", "hessian-spectrum", "top_eigenvalues"),
    ("trace_defaults", "hessian-spectrum", "trace"),
    ("hutchinson_defaults", "hessian-spectrum", "trace"),
    ("density_smoothed", "hessian-spectrum", "density"),
    ("density_quadrature", "hessian-spectrum", "density"),
)


def _load():
    try:
        return importlib.import_module("hessian_eigenthings")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("hessian_eigenthings"):
            raise ImportError("the hessian-eigenthings adapter needs hessian-eigenthings: "
                              "pip install hessian-eigenthings (optional extra 'audit')"
                              ) from exc
        raise


_HE = _load()
_VERSION = metadata.version("hessian-eigenthings")
_NOTES = ("dataloader = [(inputs, targets)]: one batch, so the operator is the minibatch-mean "
          "Hessian; seed= is the case seed (no global generator is used)",)


def _info(function: str, label: str, settings: dict, source: str, quantity: str,
          extra=()) -> AdapterInfo:
    return AdapterInfo(library="hessian-eigenthings", version=_VERSION, function=function,
                       label=label, settings=dict(settings), settings_source=source,
                       notes=(*_NOTES, *extra), quantity=quantity)


def _hessian(model, loss_fn, data):
    return _HE.HessianOperator(model, [tuple(data)], _HE.supervised_loss(loss_fn))


def _ggn(model, loss_fn, data):
    return _HE.GGNOperator(model, [tuple(data)], _HE.supervised_forward,
                           _HE.supervised_loss_of_output(loss_fn))


def _values(result) -> np.ndarray:
    return result.eigenvalues.detach().cpu().double().numpy()


_ORDER_NOTE = "eigenvalues returned in the library's order (EigenResult.eigenvalues)"


@with_info(_info("hessian_eigenthings.lanczos(HessianOperator)",
                 "hessian-eigenthings lanczos — defaults (which='LM')", {},
                 "hessian-eigenthings defaults", "top_eigenvalues", (_ORDER_NOTE,)))
def lanczos_defaults(model, loss_fn, data, k: int = 1, seed: int = 0) -> np.ndarray:
    return _values(_HE.lanczos(_hessian(model, loss_fn, data), k=k, seed=seed))


@with_info(_info("hessian_eigenthings.lanczos(HessianOperator, which='LA')",
                 "hessian-eigenthings lanczos — which='LA'", {"which": "LA"},
                 "documented option: largest algebraic", "top_eigenvalues", (_ORDER_NOTE,)))
def lanczos_la(model, loss_fn, data, k: int = 1, seed: int = 0) -> np.ndarray:
    return _values(_HE.lanczos(_hessian(model, loss_fn, data), k=k, which="LA", seed=seed))


MORE_STEPS = {"which": "LA", "max_iter": 100}


@with_info(_info("hessian_eigenthings.lanczos(HessianOperator, which='LA', max_iter=100)",
                 "hessian-eigenthings lanczos — which='LA', max_iter=100", MORE_STEPS,
                 "documented options: largest algebraic, more Lanczos steps (default "
                 "min(2k, n − 1))", "top_eigenvalues", (_ORDER_NOTE,)))
def lanczos_la_more_steps(model, loss_fn, data, k: int = 1, seed: int = 0) -> np.ndarray:
    return _values(_HE.lanczos(_hessian(model, loss_fn, data), k=k, seed=seed, **MORE_STEPS))


@with_info(_info("hessian_eigenthings.lanczos(GGNOperator, which='LA')",
                 "hessian-eigenthings GGN lanczos — which='LA'", {"which": "LA"},
                 "documented option; the planted models are linear in θ, so GGN = H",
                 "top_eigenvalues", (_ORDER_NOTE,)))
def ggn_lanczos_la(model, loss_fn, data, k: int = 1, seed: int = 0) -> np.ndarray:
    return _values(_HE.lanczos(_ggn(model, loss_fn, data), k=k, which="LA", seed=seed))


@with_info(_info("hessian_eigenthings.deflated_power_iteration(HessianOperator)",
                 "hessian-eigenthings deflated_power_iteration — defaults", {},
                 "hessian-eigenthings defaults", "top_eigenvalues", (_ORDER_NOTE,)))
def power_iteration_defaults(model, loss_fn, data, k: int = 1, seed: int = 0) -> np.ndarray:
    return _values(_HE.deflated_power_iteration(_hessian(model, loss_fn, data), k=k,
                                                seed=seed))


def _trace(result) -> dict:
    return {"trace": float(result.estimate), "n_probes": int(result.samples.numel())}


_TRACE_NOTE = ("n_probes = the number of per-sample contributions the TraceResult holds "
               "(Hutch++ spends the rest of num_matvecs on its sketch)")


@with_info(_info("hessian_eigenthings.trace(HessianOperator)",
                 "hessian-eigenthings trace — defaults (Hutch++)", {},
                 "hessian-eigenthings defaults", "trace", (_TRACE_NOTE,)))
def trace_defaults(model, loss_fn, data, seed: int = 0) -> dict:
    return _trace(_HE.trace(_hessian(model, loss_fn, data), seed=seed))


@with_info(_info("hessian_eigenthings.hutchinson(HessianOperator)",
                 "hessian-eigenthings hutchinson — defaults", {},
                 "hessian-eigenthings defaults", "trace", (_TRACE_NOTE,)))
def hutchinson_defaults(model, loss_fn, data, seed: int = 0) -> dict:
    return _trace(_HE.hutchinson(_hessian(model, loss_fn, data), seed=seed))


@with_info(_info("hessian_eigenthings.spectral_density(HessianOperator).density",
                 "hessian-eigenthings spectral_density — smoothed, defaults", {},
                 "hessian-eigenthings defaults", "density",
                 ("returns (grid, density·Δgrid / Σ density·Δgrid)",)))
def density_smoothed(model, loss_fn, data, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    result = _HE.spectral_density(_hessian(model, loss_fn, data), seed=seed)
    grid = result.grid.detach().cpu().double().numpy()
    weights = result.density.detach().cpu().double().numpy() * np.gradient(grid)
    return grid, weights / weights.sum()


@with_info(_info("hessian_eigenthings.spectral_density(HessianOperator).raw_*",
                 "hessian-eigenthings spectral_density — raw quadrature, defaults", {},
                 "hessian-eigenthings defaults", "density",
                 ("returns the runs' Ritz values (raw_eigenvalues) with raw_weights / "
                  "num_runs",)))
def density_quadrature(model, loss_fn, data, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    result = _HE.spectral_density(_hessian(model, loss_fn, data), seed=seed)
    nodes = result.raw_eigenvalues.detach().cpu().double().numpy()
    weights = result.raw_weights.detach().cpu().double().numpy()
    return nodes.reshape(-1), (weights / weights.shape[0]).reshape(-1)
