"""Figures of one :class:`~sharpdim.estimators.result.SharpnessEstimate` (matplotlib).

* :func:`spectrum` — the loss Hessian's spectrum (``est.curvature_measure``: mass ``N``), as a
  histogram of masses, with ``α = 0`` and the edge of stability ``α = 2/η`` marked (for
  ``jacobian="update"``, whose measure is of ``σ²``, ``σ² = 1`` is marked instead).
* :func:`sharpness` — the sharpness values ``λ_1 ≥ λ_2 ≥ …`` against their cumulative mass
  (exact: the profile; density methods: the weighted atoms of ``est.measure``) and their
  partial sums, with the Kaplan–Yorke crossing ``j*`` and the dimension ``SD`` marked.

Both return the matplotlib ``Figure`` (a new one, or the one holding ``ax``) and change no
global state; the backend is the caller's.
"""

from __future__ import annotations

import numpy as np

from sharpdim.dimension import kaplan_yorke_decomposition
from sharpdim.estimators.result import SharpnessEstimate

__all__ = ["spectrum", "sharpness", "sharpness_values"]


def _axes(ax):
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 3.6), layout="constrained")
    return fig, fig.add_subplot()


def _estimate(est) -> SharpnessEstimate:
    if not isinstance(est, SharpnessEstimate):
        raise TypeError(f"est must be a SharpnessEstimate, got {type(est).__name__}")
    return est


def spectrum(est: SharpnessEstimate, *, ax=None, bins: int = 60):
    """Histogram of ``est.curvature_measure`` with ``0`` and ``2/η`` (or ``σ² = 1``) marked."""
    est = _estimate(est)
    mu = est.curvature_measure
    if mu is None:
        raise ValueError("est must hold a curvature measure (every method but the k-step "
                         "horizon does), got curvature_measure=None")
    fig, ax = _axes(ax)
    d = est.diagnostics
    ax.hist(mu.nodes, bins=bins, weights=mu.weights, color="0.45")
    ax.set_yscale("log")
    if d.jacobian == "gd":
        ax.axvline(0.0, color="k", lw=0.8)
        edge = 2.0 / d.lr
        ax.axvline(edge, color="C3", ls="--", lw=1.2, label=f"2/η = {edge:.4g}")
        ax.set_xlabel("Hessian eigenvalue α")
    else:
        ax.axvline(1.0, color="C3", ls="--", lw=1.2, label="σ² = 1 (neutral)")
        ax.set_xlabel("σ², eigenvalue of JᵀJ of the optimizer step")
    ax.set_ylabel(f"mass (total {mu.total_mass:.6g})")
    ax.set_title(f"{d.method} spectrum, N = {d.n_params}, batch size {d.batch_size}")
    ax.legend(frameon=False)
    return fig


def sharpness_values(est: SharpnessEstimate) -> tuple[np.ndarray, np.ndarray]:
    """``(values, masses)`` of the estimate's sharpness values, sorted descending: the exact
    profile with unit masses, or the atoms of a density method's ``measure``."""
    est = _estimate(est)
    if est.sharpness is not None:
        return np.asarray(est.sharpness), np.ones(est.sharpness.size)
    order = np.argsort(-est.measure.nodes, kind="stable")
    return est.measure.nodes[order], est.measure.weights[order]


def sharpness(est: SharpnessEstimate, *, ax=None):
    """``λ`` against cumulative mass, with its partial sums (right axis), ``j*`` and ``SD``
    marked. For kde with ``"log"`` smoothing the atoms are the kernel centers: ``SD`` is the
    mixture's, ``j*`` the atoms'."""
    z, m = sharpness_values(est)
    fig, ax = _axes(ax)
    mass = np.cumsum(m)
    finite = np.isfinite(z)
    ax.step(mass[finite], z[finite], where="pre", color="C0", label="λ (sharpness values)")
    partial = np.cumsum(np.where(finite, z * m, 0.0))
    twin = ax.twinx()
    twin.plot(mass[finite], partial[finite], color="C1", lw=1.0)
    twin.axhline(0.0, color="C1", lw=0.5, ls=":")
    twin.set_ylabel("partial sums Σ m λ", color="C1")
    ax.plot([], [], color="C1", lw=1.0, label="partial sums (right axis)")
    ax.axhline(0.0, color="k", lw=0.8)
    ky = kaplan_yorke_decomposition(np.where(finite, z, -np.inf), m)
    ax.axvline(ky.integer_part, color="0.4", ls=":", lw=1.2,
               label=f"j*: {ky.transition_index} values, mass {ky.integer_part:.6g}")
    ax.axvline(est.dimension, color="C3", ls="--", lw=1.2, label=f"SD = {est.dimension:.6g}")
    ax.set_xlabel("cumulative mass (order k)")
    ax.set_ylabel("λ_k")
    ax.set_title(f"{est.diagnostics.method}: SD = {est.dimension:.4g} of "
                 f"{est.diagnostics.state_dim}")
    ax.legend(frameon=False, fontsize="small")
    return fig
