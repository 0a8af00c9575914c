"""sharpdim's own estimators in the audit kinds' signatures (dogfooding: they must pass the
same audit as anyone else's). ``sharpdim.lab.stats.kendall_tau`` (layer 7, above this one) is
audited directly, with no adapter: ``sharpdim audit sharpdim.lab.stats:kendall_tau --kind kendall``.

    sharpdim audit sharpdim.testing.adapters.reference            # every one, quick profile
    sharpdim audit sharpdim.testing.adapters.reference:lyapunov_qr --kind lyapunov-map
"""

from __future__ import annotations

import numpy as np

from sharpdim import __version__
from sharpdim.testing.adapters import AdapterInfo, with_info

__all__ = [
    "lyapunov_qr",
    "kaplan_yorke",
    "correlation_dimension_delay",
    "top_eigenvalues",
    "trace",
    "density",
    "sharpness_dimension",
    "AUDITS",
]

AUDITS = (
    ("lyapunov_qr", "lyapunov-map", None),
    ("kaplan_yorke", "dimension", None),
    ("correlation_dimension_delay", "correlation-dimension", None),
    ("top_eigenvalues", "hessian-spectrum", "top_eigenvalues"),
    ("trace", "hessian-spectrum", "trace"),
    ("density", "hessian-spectrum", "density"),
    ("sharpness_dimension", "sharpness-dimension", None),
)

_TRANSIENT_FRACTION = 10  # a tenth of the steps settle the orbit and the frame
_EMBEDDING = 4  # delay-embedding dimension: > 2·D_2 for every D_2 ≤ 1.5, ≥ D_2 + 1 otherwise
_TRACE_PROBES = 100
_SLQ_RUNS, _SLQ_STEPS = 4, 60


def _info(function: str, label: str, settings: dict, quantity: str | None = None):
    return AdapterInfo(library="sharpdim", version=__version__, function=function,
                       label=label, settings=settings, settings_source="sharpdim defaults",
                       quantity=quantity)


@with_info(_info("sharpdim.lyapunov_spectrum", "sharpdim.lyapunov_spectrum (QR)",
                 {"transient": "n_steps // 10"}))
def lyapunov_qr(system, x0, n_steps: int, seed: int) -> np.ndarray:
    """QR (Benettin) spectrum: a tenth of ``n_steps`` as transient, the rest averaged."""
    from sharpdim.dynamics.lyapunov import lyapunov_spectrum

    transient = n_steps // _TRANSIENT_FRACTION
    return lyapunov_spectrum(system, x0, n_steps - transient, transient=transient,
                             rng=seed).exponents


@with_info(_info("sharpdim.kaplan_yorke_dimension", "sharpdim.kaplan_yorke_dimension", {}))
def kaplan_yorke(exponents) -> float:
    from sharpdim.dimension import kaplan_yorke_dimension

    return kaplan_yorke_dimension(exponents)


@with_info(_info("sharpdim.dynamics.fractal.correlation_dimension",
                 "sharpdim correlation_dimension (delay embedding)",
                 {"embedding": _EMBEDDING, "lag": 1, "radii": "default"}))
def correlation_dimension_delay(series) -> float:
    """Grassberger–Procaccia on the delay vectors ``(x_t, …, x_{t+3})``."""
    from sharpdim.dynamics.fractal import correlation_dimension

    x = np.asarray(series, dtype=np.float64)
    points = np.lib.stride_tricks.sliding_window_view(x, _EMBEDDING)
    return correlation_dimension(points).dimension


def _operator(model, loss_fn, data):
    from sharpdim.curvature import flat_loss, hessian_operator

    f = flat_loss(model, loss_fn)
    inputs, targets = data
    return f, hessian_operator(f, f.theta0, inputs, targets)


@with_info(_info("sharpdim.curvature.extreme_eigenvalues",
                 "sharpdim extreme_eigenvalues (Lanczos, full re-orthogonalization)",
                 {"which": "largest", "tol": "sqrt(eps)"}, "top_eigenvalues"))
def top_eigenvalues(model, loss_fn, data, k: int = 1, seed: int = 0) -> np.ndarray:
    from sharpdim.curvature import extreme_eigenvalues

    _, op = _operator(model, loss_fn, data)
    return extreme_eigenvalues(op, k=k, which="largest", seed=seed).top


@with_info(_info("sharpdim.curvature.hutchinson_trace", "sharpdim hutchinson_trace",
                 {"n_samples": _TRACE_PROBES, "distribution": "rademacher"}, "trace"))
def trace(model, loss_fn, data, seed: int = 0) -> dict:
    from sharpdim.curvature import hutchinson_trace

    _, op = _operator(model, loss_fn, data)
    est = hutchinson_trace(op, n_samples=_TRACE_PROBES, seed=seed)
    return {"trace": est.value, "n_probes": _TRACE_PROBES}


@with_info(_info("sharpdim.curvature.slq_spectral_measure", "sharpdim slq_spectral_measure",
                 {"n_runs": _SLQ_RUNS, "n_steps": f"min(N, {_SLQ_STEPS})",
                  "batch_size": "all examples"}, "density"))
def density(model, loss_fn, data, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """SLQ measure (total mass ``N``) divided by ``N``: the normalized spectral measure."""
    from sharpdim.curvature import flat_loss, slq_spectral_measure

    f = flat_loss(model, loss_fn)
    n_examples = int(data[0].shape[0])
    mu = slq_spectral_measure(f, f.theta0, data, n_runs=_SLQ_RUNS,
                              n_steps=min(f.n_params, _SLQ_STEPS), batch_size=n_examples,
                              seed=seed)
    return np.asarray(mu.nodes), np.asarray(mu.weights) / mu.total_mass


@with_info(_info("sharpdim.estimate_sharpness", "sharpdim.estimate_sharpness (exact)",
                 {"method": "exact", "aggregate": "mean", "jacobian": "gd"}))
def sharpness_dimension(model, loss_fn, data, *, lr: float, batch_size: int,
                        seed: int) -> float:
    from sharpdim.estimators import EstimateOptions, estimate_sharpness

    return estimate_sharpness(model, loss_fn, data, lr=lr, batch_size=batch_size,
                              seed=seed, options=EstimateOptions(progress=False)).dimension
