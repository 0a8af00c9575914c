"""Figures of a sweep report (matplotlib, Agg canvas, no global pyplot state).

Each function draws one PNG and returns its path. PNGs are saved without the "Software"
metadata so that a report regenerates byte for byte under the same library versions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = [
    "LABELS",
    "scatter_against_target",
    "hessian_spectra",
    "slq_densities",
    "sharpness_profiles",
    "checkpoint_curves",
    "grid_heatmaps",
]

LABELS = {
    "sd_exact": "SD (exact)", "sd_sup": "SD (exact, sup over iterates)", "sd_slq": "SD-SLQ",
    "sd_kde": "SD-KDE", "sd_ps": "SD-PS", "sd_update": "SD (update Jacobian)",
    "lambda_1": "λ₁ (exact)", "lambda_1_sup": "λ₁ (sup)", "lambda_1_slq": "λ₁ (SLQ)",
    "lambda_1_update": "λ₁ (update)", "top_eigenvalue": "top Hessian eigenvalue",
    "trace": "Hessian trace", "ph_dim_euclidean": "PH dim (Euclidean)",
    "ph_dim_loss": "PH dim (loss)", "e_alpha_euclidean": "E_α (Euclidean)",
    "e_alpha_loss": "E_α (loss)", "gen_gap": "generalization gap |acc_tr − acc_te|",
    "loss_gap": "loss gap |L_tr − L_te|", "train_acc": "train accuracy",
    "test_acc": "test accuracy",
}


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})
    return path


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and math.isfinite(v)


def scatter_against_target(records: Sequence[Mapping[str, Any]], measures: Sequence[str],
                           target: str, path: Path) -> Path:
    """One panel per measure: measure (x) against ``target`` (y); colour = log lr, marker
    size = batch size."""
    n = len(measures)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig = _figure(3.2 * cols, 2.8 * rows)
    lrs = [r["lr"] for r in records]
    lo, hi = (math.log10(min(lrs)), math.log10(max(lrs))) if lrs else (0.0, 1.0)
    bss = sorted({r["batch_size"] for r in records})
    for k, m in enumerate(measures):
        ax = fig.add_subplot(rows, cols, k + 1)
        pts = [(r[m], r[target], r["lr"], r["batch_size"]) for r in records
               if _finite(r.get(m)) and _finite(r.get(target))]
        if pts:
            x, y, lr, bs = map(np.asarray, zip(*pts, strict=True))
            colour = (np.log10(lr) - lo) / (hi - lo) if hi > lo else np.zeros_like(lr)
            size = 12 + 40 * np.array([bss.index(b) for b in bs]) / max(1, len(bss) - 1)
            sc = ax.scatter(x, y, c=colour, s=size, cmap="viridis", vmin=0, vmax=1,
                            edgecolors="k", linewidths=0.3)
            del sc
        ax.set_xlabel(LABELS.get(m, m), fontsize=8)
        ax.set_ylabel(LABELS.get(target, target) if k % cols == 0 else "", fontsize=7)
        ax.tick_params(labelsize=7)
    fig.suptitle(f"measures against the {LABELS.get(target, target)} (colour: log lr, "
                 "dark = small; size: batch size)", fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def hessian_spectra(spectra: Mapping[str, np.ndarray], path: Path, *,
                    title: str = "Hessian spectra (training loss)") -> Path:
    """Histograms (log counts) of Hessian eigenvalues, one curve per labelled run."""
    fig = _figure(7.0, 3.2)
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    allv = np.concatenate([v for v in spectra.values()]) if spectra else np.zeros(1)
    edges = np.linspace(allv.min(), allv.max(), 80) if allv.max() > allv.min() else 10
    for label, v in spectra.items():
        ax1.hist(v, bins=edges, histtype="step", label=label, log=True)
        top = np.sort(v)[::-1][:30]
        ax2.plot(np.arange(1, top.size + 1), top, marker=".", lw=0.8, label=label)
    ax1.set_xlabel("eigenvalue α", fontsize=8)
    ax1.set_ylabel("count (log)", fontsize=8)
    ax2.set_xlabel("rank", fontsize=8)
    ax2.set_ylabel("top eigenvalues", fontsize=8)
    for ax in (ax1, ax2):
        ax.tick_params(labelsize=7)
    ax2.legend(fontsize=6)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def slq_densities(measures: Mapping[str, tuple[np.ndarray, np.ndarray]], path: Path, *,
                  title: str) -> Path:
    """Histograms of SLQ spectral measures (Ritz values weighted by their quadrature weights,
    total mass N), one curve per label; log mass axis."""
    fig = _figure(7.0, 3.2)
    ax = fig.add_subplot(1, 1, 1)
    nodes = np.concatenate([m[0] for m in measures.values()]) if measures else np.zeros(1)
    lo, hi = float(nodes.min()), float(nodes.max())
    edges = np.linspace(lo, hi, 80) if hi > lo else 10
    for label, (x, w) in measures.items():
        ax.hist(x, bins=edges, weights=w, histtype="step", label=label, log=True)
    ax.set_xlabel("Hessian eigenvalue α (Ritz values)", fontsize=8)
    ax.set_ylabel("spectral mass (log)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def sharpness_profiles(profiles: Mapping[str, np.ndarray], path: Path) -> Path:
    """RDS sharpness ``λ_k`` against ``k`` (left: all orders; right: partial sums, whose last
    non-negative index is ``j*``)."""
    fig = _figure(7.0, 3.2)
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for label, lam in profiles.items():
        lam = np.sort(np.asarray(lam))[::-1]
        finite = np.where(np.isfinite(lam), lam, np.nan)
        k = np.arange(1, lam.size + 1)
        ax1.plot(k, finite, lw=0.8, label=label)
        ax2.plot(k, np.cumsum(np.where(np.isfinite(lam), lam, -np.inf)), lw=0.8, label=label)
    ax1.axhline(0.0, color="grey", lw=0.5)
    ax2.axhline(0.0, color="grey", lw=0.5)
    ax1.set_xlabel("order k", fontsize=8)
    ax1.set_ylabel("λ_k = mean ln|1 − ηα|_(k)", fontsize=8)
    ax2.set_xlabel("order k", fontsize=8)
    ax2.set_ylabel("partial sum λ_1 + … + λ_k", fontsize=8)
    for ax in (ax1, ax2):
        ax.tick_params(labelsize=7)
    ax1.legend(fontsize=6)
    fig.suptitle("RDS sharpness profiles (exact)", fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def checkpoint_curves(series: Mapping[str, Mapping[str, Sequence[tuple[int, float]]]],
                      panels: Sequence[tuple[str, Sequence[str]]], path: Path) -> Path:
    """Curves across checkpoints: ``series[run_label][measure] = [(epoch, value), ...]``;
    ``panels``: ``(title, measures)`` per panel; one colour per run, one style per measure."""
    n = len(panels)
    fig = _figure(3.4 * min(n, 3), 2.8 * math.ceil(n / 3))
    styles = ["-", "--", ":", "-."]
    colours = [f"C{i}" for i in range(10)]
    for k, (title, names) in enumerate(panels):
        ax = fig.add_subplot(math.ceil(n / 3), min(n, 3), k + 1)
        for i, (label, per) in enumerate(series.items()):
            for j, name in enumerate(names):
                pts = sorted(per.get(name, []))
                if pts:
                    e, v = zip(*pts, strict=True)
                    ax.plot(e, v, styles[j % 4], color=colours[i % 10], lw=1.0,
                            label=f"{LABELS.get(name, name)}" + (f" · {label}" if len(series) > 1
                                                                 else ""))
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("epoch", fontsize=7)
        ax.tick_params(labelsize=7)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=5)
    fig.tight_layout()
    return _save(fig, path)


def grid_heatmaps(records: Sequence[Mapping[str, Any]], names: Sequence[str],
                  path: Path) -> Path:
    """lr × batch-size heatmaps of ``names`` (mean over seeds; blank = missing/diverged)."""
    lrs = sorted({r["lr"] for r in records})
    bss = sorted({r["batch_size"] for r in records})
    n = len(names)
    cols = min(3, n)
    fig = _figure(3.2 * cols, 2.7 * math.ceil(n / cols))
    for k, name in enumerate(names):
        ax = fig.add_subplot(math.ceil(n / cols), cols, k + 1)
        grid = np.full((len(lrs), len(bss)), np.nan)
        for i, lr in enumerate(lrs):
            for j, bs in enumerate(bss):
                vals = [r[name] for r in records if r["lr"] == lr and r["batch_size"] == bs
                        and _finite(r.get(name))]
                if vals:
                    grid[i, j] = float(np.mean(vals))
        im = ax.imshow(grid, origin="lower", aspect="auto", cmap="magma")
        fig.colorbar(im, ax=ax, fraction=0.046)
        ax.set_xticks(range(len(bss)), [str(b) for b in bss], fontsize=6)
        ax.set_yticks(range(len(lrs)), [f"{lr:g}" for lr in lrs], fontsize=6)
        ax.set_xlabel("batch size", fontsize=7)
        ax.set_ylabel("learning rate", fontsize=7)
        ax.set_title(LABELS.get(name, name), fontsize=8)
    fig.tight_layout()
    return _save(fig, path)
