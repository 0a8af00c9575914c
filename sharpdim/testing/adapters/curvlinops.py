"""curvlinops (``HessianLinearOperator``, ``GGNLinearOperator``, its trace estimators and its
spectral density) wrapped for the audit kind ``hessian-spectrum``.

How the adapter calls it (curvlinops 3.0's documented usage): ``HessianLinearOperator(model,
loss_func, params, data)`` with ``params`` the model's trainable parameters in
``model.parameters()`` order and ``data = [(inputs, targets)]`` (one batch, so the operator is
the minibatch-mean Hessian the kind asks for). curvlinops reads ``loss_func.reduction``
(``"mean"`` or ``"sum"``, as torch's loss modules have it) to normalize over batches; the
audit's ``loss_fn`` is a plain callable that returns the minibatch mean, so the adapter passes
it inside a module whose ``reduction`` is ``"mean"`` — a statement of the kind's contract, not
a change of the loss.

* Top eigenvalues: curvlinops has no eigensolver of its own; its examples hand the operator to
  SciPy (``scipy.sparse.linalg.eigsh(H.to_scipy(), k, which=...)``). Audited with
  ``which="LA"`` (largest algebraic: ``λ_max``, what the edge of stability compares with
  ``2/η``) and ``which="LM"`` (largest magnitude, SciPy's default), for the Hessian and for the
  generalized Gauss–Newton ``GGNLinearOperator`` (on the planted problems the model is linear
  in its parameters, so GGN = Hessian exactly, indefinite loss curvature included).
* Trace: ``hutchinson_trace``, ``hutchpp_trace`` and ``xtrace`` with ``num_matvecs = 48``
  (no default; it must be below the operator's size, 100 in the trace cases, and Hutch++
  needs a multiple of 3). Probes come from torch's global generator: each call runs inside
  ``torch.random.fork_rng`` seeded with the case seed. ``n_probes`` reported =
  ``num_matvecs``. Hutch++ and XTrace spend them on a sketch plus probes; their variance is
  not Hutchinson's (smaller when the spectrum decays fast, not in general), and the case
  tolerances, scaled to a Rademacher Hutchinson mean, are read with that in mind.
* Density: ``lanczos_approximate_spectrum`` (Papyan 2020, algorithm 2) returns a density on a
  grid of Gaussian bumps; the adapter returns its grid and ``density·Δgrid`` renormalized to
  mass 1 (``ncv = 128``, ``num_repeats = 1``, the library's other defaults). Its smoothing
  width is a property of the method: it is audited as it is used.
"""

from __future__ import annotations

import importlib
from importlib import metadata

import numpy as np
import torch
from torch import nn

from sharpdim.testing.adapters import AdapterInfo, with_info

__all__ = [
    "AUDITS",
    "eigsh_la",
    "eigsh_lm",
    "ggn_eigsh_la",
    "hutchinson",
    "hutchpp",
    "xtrace",
    "density_papyan",
]

NUM_MATVECS = 48
DENSITY = {"ncv": 128}

AUDITS = (
    ("eigsh_la", "hessian-spectrum", "top_eigenvalues"),
    ("eigsh_lm", "hessian-spectrum", "top_eigenvalues"),
    ("ggn_eigsh_la", "hessian-spectrum", "top_eigenvalues"),
    ("hutchinson", "hessian-spectrum", "trace"),
    ("hutchpp", "hessian-spectrum", "trace"),
    ("xtrace", "hessian-spectrum", "trace"),
    ("density_papyan", "hessian-spectrum", "density"),
)


def _load():
    try:
        return importlib.import_module("curvlinops")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("curvlinops"):
            raise ImportError("the curvlinops adapter needs curvlinops-for-pytorch: see the "
                              "Makefile's audit install (optional extra 'audit')") from exc
        raise


_CURVLINOPS = _load()
_VERSION = metadata.version("curvlinops-for-pytorch")
_NOTES = (
    "loss_func is passed inside an nn.Module with reduction='mean' (curvlinops reads "
    "loss_func.reduction; the audit's loss_fn returns the minibatch mean)",
    "data = [(inputs, targets)]: one batch, so the operator is the minibatch-mean Hessian",
)


class _MeanLoss(nn.Module):
    """``loss_fn`` with the attribute curvlinops reads: it already returns the batch mean."""

    reduction = "mean"

    def __init__(self, loss_fn) -> None:
        super().__init__()
        self.loss_fn = loss_fn

    def forward(self, outputs, targets):
        return self.loss_fn(outputs, targets)


def _info(function: str, label: str, settings: dict, source: str, quantity: str,
          extra=()) -> AdapterInfo:
    return AdapterInfo(library="curvlinops-for-pytorch", version=_VERSION, function=function,
                       label=label, settings=dict(settings), settings_source=source,
                       notes=(*_NOTES, *extra), quantity=quantity)


def _operator(model, loss_fn, data, cls: str = "HessianLinearOperator"):
    params = [p for p in model.parameters() if p.requires_grad]
    return getattr(_CURVLINOPS, cls)(model, _MeanLoss(loss_fn), params, [tuple(data)])


def _eigsh(model, loss_fn, data, k: int, which: str, cls: str) -> np.ndarray:
    from scipy.sparse.linalg import eigsh

    op = _operator(model, loss_fn, data, cls).to_scipy()
    values = eigsh(op, k=k, which=which, return_eigenvectors=False)
    return np.sort(np.asarray(values, dtype=np.float64))[::-1]


_EIGSH_NOTE = ("returned sorted descending (eigsh returns its k values in ascending order); "
               "tol=0 (machine precision), SciPy's default")


@with_info(_info("scipy.sparse.linalg.eigsh(HessianLinearOperator.to_scipy(), which='LA')",
                 "curvlinops Hessian + eigsh (which='LA')", {"which": "LA"},
                 "curvlinops examples (eigsh on the operator); LA = largest algebraic",
                 "top_eigenvalues", (_EIGSH_NOTE,)))
def eigsh_la(model, loss_fn, data, k: int = 1) -> np.ndarray:
    return _eigsh(model, loss_fn, data, k, "LA", "HessianLinearOperator")


@with_info(_info("scipy.sparse.linalg.eigsh(HessianLinearOperator.to_scipy(), which='LM')",
                 "curvlinops Hessian + eigsh (which='LM', SciPy's default)", {"which": "LM"},
                 "SciPy's default which", "top_eigenvalues", (_EIGSH_NOTE,)))
def eigsh_lm(model, loss_fn, data, k: int = 1) -> np.ndarray:
    return _eigsh(model, loss_fn, data, k, "LM", "HessianLinearOperator")


@with_info(_info("scipy.sparse.linalg.eigsh(GGNLinearOperator.to_scipy(), which='LA')",
                 "curvlinops GGN + eigsh (which='LA')", {"which": "LA"},
                 "curvlinops examples; the planted models are linear in θ, so GGN = H",
                 "top_eigenvalues", (_EIGSH_NOTE,)))
def ggn_eigsh_la(model, loss_fn, data, k: int = 1) -> np.ndarray:
    return _eigsh(model, loss_fn, data, k, "LA", "GGNLinearOperator")


def _seeded(model, seed: int, fn):
    devices = [torch.cuda.current_device()] if next(model.parameters()).is_cuda else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        return fn()


def _trace(name: str, model, loss_fn, data, seed: int) -> dict:
    op = _operator(model, loss_fn, data)
    value = _seeded(model, seed, lambda: getattr(_CURVLINOPS, name)(op, NUM_MATVECS))
    return {"trace": float(value), "n_probes": NUM_MATVECS}


_MATVEC_SOURCE = "adapter (no default; < N = 100, divisible by 3 for Hutch++)"
_PROBE_NOTE = ("probes from torch's global generator, seeded with the case seed inside "
               "torch.random.fork_rng (caller's state untouched)")


@with_info(_info("curvlinops.hutchinson_trace", "curvlinops hutchinson_trace",
                 {"num_matvecs": NUM_MATVECS}, _MATVEC_SOURCE, "trace",
                 (_PROBE_NOTE,)))
def hutchinson(model, loss_fn, data, seed: int = 0) -> dict:
    return _trace("hutchinson_trace", model, loss_fn, data, seed)


@with_info(_info("curvlinops.hutchpp_trace", "curvlinops hutchpp_trace (Hutch++)",
                 {"num_matvecs": NUM_MATVECS}, _MATVEC_SOURCE, "trace",
                 (_PROBE_NOTE,)))
def hutchpp(model, loss_fn, data, seed: int = 0) -> dict:
    return _trace("hutchpp_trace", model, loss_fn, data, seed)


@with_info(_info("curvlinops.xtrace", "curvlinops xtrace (XTrace)",
                 {"num_matvecs": NUM_MATVECS}, _MATVEC_SOURCE, "trace",
                 (_PROBE_NOTE,)))
def xtrace(model, loss_fn, data, seed: int = 0) -> dict:
    return _trace("xtrace", model, loss_fn, data, seed)


@with_info(_info("curvlinops.lanczos_approximate_spectrum",
                 "curvlinops lanczos_approximate_spectrum (Papyan 2020)", DENSITY,
                 "adapter (ncv has no default); num_points=1024, kappa=3, margin=0.05 are "
                 "the library's", "density",
                 (_PROBE_NOTE, "returns (grid, density·Δgrid / Σ density·Δgrid): the "
                  "smoothed density as a probability measure on its grid")))
def density_papyan(model, loss_fn, data, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    op = _operator(model, loss_fn, data)
    ncv = min(DENSITY["ncv"], op.shape[0] - 1)
    grid, density = _seeded(model, seed, lambda: _CURVLINOPS.lanczos_approximate_spectrum(
        op, ncv))
    grid = grid.detach().cpu().double().numpy()
    density = density.detach().cpu().double().numpy()
    weights = density * np.gradient(grid)
    return grid, weights / weights.sum()
