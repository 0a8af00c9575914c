"""PyHessian (``hessian.eigenvalues``, ``.trace``, ``.density``) wrapped for the audit kind
``hessian-spectrum``.

Shim (applied when this module is imported, recorded in every report): PyHessian 0.1's
``density`` calls ``torch.eig(T, eigenvectors=True)``, removed from torch (it now raises). The
adapter gives the module ``pyhessian.hessian`` its own ``torch`` namespace — every attribute is
torch's, except ``eig``, which returns ``(stack([w, 0]), V)`` from ``torch.linalg.eigh(T)``.
That matches the removed function's output layout (real parts in column 0) and is exact for
PyHessian's ``T``, a symmetric tridiagonal matrix. torch itself is not modified.

Usage: ``hessian(model, criterion, data=(inputs, targets), cuda=...)`` as in PyHessian's
README; ``cuda`` follows the model's device (the default ``True`` fails on a CPU-only
machine). PyHessian leaves a graph-carrying gradient in ``param.grad`` (its
``loss.backward(create_graph=True)``; torch warns of a reference cycle), so the adapter clears
``.grad`` before and after each call; the model stays in eval mode (PyHessian calls
``model.eval()``). Its probes come
from torch's global generator: each call runs inside ``torch.random.fork_rng`` seeded with the
case seed, so the caller's generator is untouched and reports regenerate.

Settings: defaults (``eigenvalues(maxIter=100, tol=1e-3)``, ``trace(maxIter=100, tol=1e-3)``,
``density(iter=100, n_v=1)`` — what the README's example calls) and, for the two iterative
methods, more iterations as PyHessian's tutorial advises for a closer top eigenvalue
(``maxIter=1000`` with ``tol=1e-6``, so that the stopping rule lets the iterations run).
"""

from __future__ import annotations

import importlib
import types
import warnings
from importlib import metadata

import numpy as np
import torch

from sharpdim.testing.adapters import AdapterInfo, with_info

__all__ = [
    "SHIMS",
    "AUDITS",
    "eigenvalues_defaults",
    "eigenvalues_more_iterations",
    "trace_defaults",
    "trace_more_iterations",
    "density_defaults",
]

MORE_ITERATIONS = {"maxIter": 1000, "tol": 1e-6}

AUDITS = (
    ("eigenvalues_defaults", "hessian-spectrum", "top_eigenvalues"),
    ("eigenvalues_more_iterations", "hessian-spectrum", "top_eigenvalues"),
    ("trace_defaults", "hessian-spectrum", "trace"),
    ("trace_more_iterations", "hessian-spectrum", "trace"),
    ("density_defaults", "hessian-spectrum", "density"),
)


def _eig_from_eigh(T: torch.Tensor, eigenvectors: bool = False):
    """``torch.eig``'s old output layout from ``eigh`` (valid for symmetric ``T`` only)."""
    w, V = torch.linalg.eigh(T)
    values = torch.stack([w, torch.zeros_like(w)], dim=1)
    return values, (V if eigenvectors else torch.empty(0, dtype=T.dtype))


def _eig_removed() -> bool:
    eig = getattr(torch, "eig", None)
    if eig is None:
        return True
    try:
        eig(torch.eye(2), eigenvectors=True)
    except (RuntimeError, TypeError):
        return True
    return False


def _load() -> tuple[types.ModuleType, tuple[str, ...]]:
    try:
        # import_module, not "import pyhessian.hessian as m": the package rebinds the name
        # pyhessian.hessian to the class, which the "as" form would return.
        module = importlib.import_module("pyhessian.hessian")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("pyhessian"):
            raise ImportError("the PyHessian adapter needs PyHessian: pip install pyhessian "
                              "(optional extra 'audit')") from exc
        raise
    if not _eig_removed():
        return module, ()
    namespace = types.ModuleType("torch_with_eig", "torch, plus the removed torch.eig")
    namespace.__dict__.update({k: v for k, v in vars(torch).items() if not k.startswith("__")})
    namespace.eig = _eig_from_eigh
    module.torch = namespace
    shim = (f"pyhessian.hessian.density calls torch.eig, removed from torch "
            f"{torch.__version__.split('+')[0]} (it raises); pyhessian.hessian now sees a "
            "torch namespace whose eig(T, eigenvectors=True) is built from "
            "torch.linalg.eigh(T) — exact for PyHessian's symmetric tridiagonal T")
    return module, (shim,)


_PYHESSIAN, SHIMS = _load()
_VERSION = metadata.version("pyhessian")
_NOTES = (
    "cuda= follows the model's device (PyHessian's default cuda=True fails without a GPU)",
    "PyHessian leaves a graph-carrying gradient in param.grad (backward(create_graph=True)); "
    "the adapter clears .grad before and after each call",
    "probes come from torch's global generator, seeded with the case seed inside "
    "torch.random.fork_rng (caller's state untouched)",
)


def _info(method: str, label: str, settings: dict, source: str, quantity: str) -> AdapterInfo:
    return AdapterInfo(library="pyhessian", version=_VERSION,
                       function=f"pyhessian.hessian(...).{method}", label=label,
                       settings=dict(settings), settings_source=source, shims=SHIMS,
                       notes=_NOTES, quantity=quantity)


def _computer(model, loss_fn, data):
    model.zero_grad(set_to_none=True)
    cuda = next(model.parameters()).is_cuda
    return _PYHESSIAN.hessian(model, loss_fn, data=data, cuda=cuda)


def _run(model, loss_fn, data, seed: int, method: str, **kwargs):
    devices = [torch.cuda.current_device()] if next(model.parameters()).is_cuda else []
    with torch.random.fork_rng(devices=devices), warnings.catch_warnings():
        # PyHessian's own backward(create_graph=True) warns about the cycle that the
        # adapter breaks by clearing .grad afterwards.
        warnings.filterwarnings("ignore", message="Using backward\\(\\) with create_graph")
        torch.manual_seed(seed)
        try:
            comp = _computer(model, loss_fn, data)
            return getattr(comp, method)(**kwargs)
        finally:
            model.zero_grad(set_to_none=True)


def _eigenvalues(model, loss_fn, data, k: int, seed: int, settings: dict) -> np.ndarray:
    values, _ = _run(model, loss_fn, data, seed, "eigenvalues", top_n=k, **settings)
    return np.asarray(values, dtype=np.float64)


def _trace(model, loss_fn, data, seed: int, settings: dict) -> dict:
    samples = _run(model, loss_fn, data, seed, "trace", **settings)
    return {"trace": float(np.mean(samples)), "n_probes": len(samples)}


@with_info(_info("eigenvalues", "PyHessian eigenvalues — defaults", {}, "PyHessian defaults",
                 "top_eigenvalues"))
def eigenvalues_defaults(model, loss_fn, data, k: int = 1, seed: int = 0) -> np.ndarray:
    """``eigenvalues(top_n=k)`` as returned (PyHessian's order)."""
    return _eigenvalues(model, loss_fn, data, k, seed, {})


@with_info(_info("eigenvalues", "PyHessian eigenvalues — more iterations", MORE_ITERATIONS,
                 "PyHessian tutorial: increase the power iterations", "top_eigenvalues"))
def eigenvalues_more_iterations(model, loss_fn, data, k: int = 1, seed: int = 0
                                ) -> np.ndarray:
    return _eigenvalues(model, loss_fn, data, k, seed, MORE_ITERATIONS)


@with_info(_info("trace", "PyHessian trace — defaults", {}, "PyHessian defaults", "trace"))
def trace_defaults(model, loss_fn, data, seed: int = 0) -> dict:
    """``mean(trace())`` (as PyHessian's example prints it) and the number of probes."""
    return _trace(model, loss_fn, data, seed, {})


@with_info(_info("trace", "PyHessian trace — more iterations", MORE_ITERATIONS,
                 "PyHessian tutorial: more iterations", "trace"))
def trace_more_iterations(model, loss_fn, data, seed: int = 0) -> dict:
    return _trace(model, loss_fn, data, seed, MORE_ITERATIONS)


@with_info(_info("density", "PyHessian density — defaults", {}, "PyHessian defaults",
                 "density"))
def density_defaults(model, loss_fn, data, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The ``n_v`` runs' Ritz values and weights pooled, each run's weights divided by
    ``n_v`` (each run's weights sum to 1)."""
    eigen_runs, weight_runs = _run(model, loss_fn, data, seed, "density")
    n_runs = len(eigen_runs)
    nodes = np.concatenate([np.asarray(e, dtype=np.float64) for e in eigen_runs])
    weights = np.concatenate([np.asarray(w, dtype=np.float64) for w in weight_runs]) / n_runs
    return nodes, weights
