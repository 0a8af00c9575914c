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
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from sharpdim.lab.stats import is_finite_number, kendall_tau
from sharpdim.lab.sweeps.registry import MEASURES, info

__all__ = [
    "LABELS",
    "scatter_against_target",
    "hessian_spectra",
    "slq_densities",
    "sharpness_profiles",
    "checkpoint_curves",
    "grid_heatmaps",
    "kendall_bars",
    "correlation_matrix",
    "eos_diagnostic",
    "estimate_vs_reference",
]

LABELS = {name: m.label for name, m in MEASURES.items()}  # from the measure registry
_ROLE_COLOUR = {"sd": "C3", "baseline": "C0", "measure": "C7", "target": "k",
                "diagnostic": "C2"}
_MARKERS = {"sgd": "o", "momentum": "s", "adam": "^", "adamw": "D"}


def _spans_decades(values: Sequence[float]) -> bool:
    v = np.asarray([x for x in values if is_finite_number(x)], dtype=float)
    return v.size > 1 and bool(np.all(v > 0)) and float(v.max() / v.min()) >= 10.0


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})
    return path


def _axis_labels(ax, xlabel: str, ylabel: str) -> None:
    """The report's axis style: labels at 8 pt, tick labels at 7 pt."""
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(labelsize=7)


def _finish(fig: Figure, title: str, path: Path) -> Path:
    """Title a figure of several panels (9 pt), lay it out and save it to ``path``."""
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)



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
        pts = [(r[m], r[target], r["lr"], r["batch_size"], r.get("optimizer", "sgd"))
               for r in records if is_finite_number(r.get(m)) and is_finite_number(r.get(target))]
        for opt in sorted({p[4] for p in pts}):
            x, y, lr, bs, _ = map(np.asarray, zip(*[p for p in pts if p[4] == opt],
                                                  strict=True))
            colour = (np.log10(lr) - lo) / (hi - lo) if hi > lo else np.zeros_like(lr)
            size = 12 + 40 * np.array([bss.index(b) for b in bs]) / max(1, len(bss) - 1)
            ax.scatter(x, y, c=colour, s=size, cmap="viridis", vmin=0, vmax=1,
                       marker=_MARKERS.get(str(opt), "o"), edgecolors="k", linewidths=0.3,
                       label=str(opt))
        if info(m).log_scale and _spans_decades([p[0] for p in pts]):
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
        if len({p[4] for p in pts}) > 1 and k == 0:
            ax.legend(fontsize=6)
        ax.set_xlabel(LABELS.get(m, m), fontsize=8)
        ax.set_ylabel(LABELS.get(target, target) if k % cols == 0 else "", fontsize=7)
        ax.tick_params(labelsize=7)
    return _finish(fig, f"measures against the {LABELS.get(target, target)} (colour: log lr, "
                   "dark = small; size: batch size; marker: optimizer)", path)


def hessian_spectra(spectra: Mapping[str, np.ndarray], path: Path, *,
                    title: str = "Hessian spectra (training loss)",
                    edges: Mapping[str, tuple[float, str]] | None = None) -> Path:
    """Histograms (log counts) of Hessian eigenvalues, one curve per labelled run, with a
    line at 0 and, per run, at its stability edge (``edges[label] = (value, text)``, e.g.
    ``(2/η, "2/η")`` or ``(2(1+β)/η, "2(1+β)/η")``)."""
    fig = _figure(7.0, 3.2)
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    allv = np.concatenate([v for v in spectra.values()]) if spectra else np.zeros(1)
    bins = np.linspace(allv.min(), allv.max(), 80) if allv.max() > allv.min() else 10
    for i, (label, v) in enumerate(spectra.items()):
        colour = f"C{i % 10}"
        ax1.hist(v, bins=bins, histtype="step", label=label, log=True, color=colour)
        top = np.sort(v)[::-1][:30]
        ax2.plot(np.arange(1, top.size + 1), top, marker=".", lw=0.8, label=label,
                 color=colour)
        if edges and label in edges:
            value, text = edges[label]
            ax1.axvline(value, color=colour, ls="--", lw=0.8)
            ax2.axhline(value, color=colour, ls="--", lw=0.8, label=f"{text} = {value:.3g}")
    ax1.axvline(0.0, color="grey", lw=0.6)
    _axis_labels(ax1, "eigenvalue α", "count (log)")
    _axis_labels(ax2, "rank", "top eigenvalues")
    ax2.legend(fontsize=6)
    return _finish(fig, title, path)


def slq_densities(measures: Mapping[str, tuple[np.ndarray, np.ndarray]], path: Path, *,
                  title: str, edges: Mapping[str, tuple[float, str]] | None = None) -> Path:
    """Histograms of SLQ spectral measures (Ritz values weighted by their quadrature weights,
    total mass N), one curve per label; log mass axis; a line at 0 and, per run, a dashed
    line at its stability edge (``edges[label] = (value, text)``) in the run's colour."""
    fig = _figure(7.0, 3.2)
    ax = fig.add_subplot(1, 1, 1)
    nodes = np.concatenate([m[0] for m in measures.values()]) if measures else np.zeros(1)
    lo, hi = float(nodes.min()), float(nodes.max())
    bins = np.linspace(lo, hi, 80) if hi > lo else 10
    edges_drawn: set[float] = set()
    for i, (label, (x, w)) in enumerate(measures.items()):
        colour = f"C{i % 10}"
        ax.hist(x, bins=bins, weights=w, histtype="step", label=label, log=True,
                color=colour)
        if edges and label in edges and edges[label][0] not in edges_drawn:  # one per value
            value, text = edges[label]
            edges_drawn.add(value)
            ax.axvline(value, color=colour, ls="--", lw=0.8, label=f"{text} = {value:.3g}")
    ax.axvline(0.0, color="grey", lw=0.6)
    _axis_labels(ax, "Hessian eigenvalue α (Ritz values)", "spectral mass (log)")
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
    _axis_labels(ax1, "order k", "λ_k = mean ln|1 − ηα|_(k)")
    _axis_labels(ax2, "order k", "partial sum λ_1 + … + λ_k")
    ax1.legend(fontsize=6)
    return _finish(fig, "RDS sharpness profiles (exact)", path)


def checkpoint_curves(series: Mapping[str, Mapping[str, Sequence[tuple[int, float]]]],
                      panels: Sequence[tuple[str, Sequence[str]]], path: Path, *,
                      groups: Mapping[str, str] | None = None,
                      reference: Mapping[str, tuple[float, str]] | None = None) -> Path:
    """Curves across checkpoints: ``series[run_label][measure] = [(epoch, value), ...]``;
    ``panels``: ``(title, measures)`` per panel; one style per measure. Colour: one per run,
    or with ``groups`` (run label → group name, e.g. its learning rate) one per group with the
    legend naming each group once — for sweeps with more runs than a legend can list.
    ``reference[measure] = (value, text)`` draws a dashed line in that measure's panels."""
    n = len(panels)
    fig = _figure(3.4 * min(n, 3), 2.8 * math.ceil(n / 3))
    styles = ["-", "--", ":", "-."]
    names_of = list(dict.fromkeys(groups.values())) if groups else list(series)
    colours = {g: colormaps["viridis"](i / max(len(names_of) - 1, 1)) if groups else f"C{i % 10}"
               for i, g in enumerate(names_of)}
    for k, (title, names) in enumerate(panels):
        ax = fig.add_subplot(math.ceil(n / 3), min(n, 3), k + 1)
        seen: set[str] = set()
        for label, per in series.items():
            key = groups[label] if groups else label
            for j, name in enumerate(names):
                pts = sorted(per.get(name, []))
                if not pts:
                    continue
                e, v = zip(*pts, strict=True)
                text = f"{LABELS.get(name, name)}" + (f" · {key}" if len(names_of) > 1 else "")
                ax.plot(e, v, styles[j % 4], color=colours[key], lw=0.8 if groups else 1.0,
                        alpha=0.7 if groups else 1.0, label=None if text in seen else text)
                seen.add(text)
        for name in names:
            if reference and name in reference:
                ax.axhline(reference[name][0], color="k", ls="--", lw=0.8,
                           label=reference[name][1])
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
                        and is_finite_number(r.get(name))]
                if vals:
                    grid[i, j] = float(np.mean(vals))
        norm = (LogNorm() if info(name).log_scale and _spans_decades(grid.ravel().tolist())
                else None)
        im = ax.imshow(grid, origin="lower", aspect="auto", cmap="magma", norm=norm)
        fig.colorbar(im, ax=ax, fraction=0.046)
        ax.set_xticks(range(len(bss)), [str(b) for b in bss], fontsize=6)
        ax.set_yticks(range(len(lrs)), [f"{lr:g}" for lr in lrs], fontsize=6)
        ax.set_xlabel("batch size", fontsize=7)
        ax.set_ylabel("learning rate", fontsize=7)
        ax.set_title(LABELS.get(name, name) + (" (log colour)" if norm else ""), fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def kendall_bars(rows: Sequence[Any], target: str, path: Path) -> Path:
    """The paper's Fig. 2 style: per measure, τ and Ψ with their bootstrap intervals (bars
    and whiskers) and each ψ_f as a marker; colour by role (SD red, baseline blue)."""
    rel = [r for r in rows if r.target == target]
    fig = _figure(7.5, 0.32 * max(len(rel), 4) + 1.2)
    ax = fig.add_subplot(1, 1, 1)
    y = np.arange(len(rel))[::-1]
    for yi, r in zip(y, rel, strict=True):
        colour = _ROLE_COLOUR.get(info(r.measure).role, "C7")
        ax.barh(yi + 0.18, r.tau, height=0.34, color=colour, alpha=0.85)
        if r.tau_ci is not None:
            ax.plot([r.tau_ci.low, r.tau_ci.high], [yi + 0.18] * 2, color="k", lw=1)
        if r.Psi is not None:
            ax.barh(yi - 0.18, r.Psi, height=0.34, color=colour, alpha=0.4, hatch="//")
            if r.Psi_ci is not None:
                ax.plot([r.Psi_ci.low, r.Psi_ci.high], [yi - 0.18] * 2, color="k", lw=1)
        for j, (f, v) in enumerate(sorted(r.psi.items())):
            if v is not None:
                ax.plot(v, yi - 0.18, marker="os^Dv"[j % 5], color="k", ms=3, ls="none",
                        label=f"ψ_{f}" if yi == y[0] else None)
    ax.axvline(0.0, color="grey", lw=0.6)
    ax.set_yticks(y, [LABELS.get(r.measure, r.measure) for r in rel], fontsize=7)
    ax.set_xlim(-1.05, 1.05)
    ax.set_xlabel(f"Kendall coefficient against the {LABELS.get(target, target)}", fontsize=8)
    ax.set_title("τ (solid) and Ψ (hatched) with 95% bootstrap intervals; ψ per factor "
                 "(markers)\nred: SD variants, blue: baselines, grey: other measures", fontsize=8)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6, loc="lower right")
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    return _save(fig, path)


def correlation_matrix(records: Sequence[Mapping[str, Any]], names: Sequence[str],
                       path: Path) -> Path:
    """Kendall τ-a between every pair of ``names`` (measures, targets, hyperparameters) over
    the runs where both are finite: shows a measure that is a function of b or η."""
    k = len(names)
    M = np.full((k, k), np.nan)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            pairs = [(r[a], r[b]) for r in records
                     if is_finite_number(r.get(a)) and is_finite_number(r.get(b))]
            if len(pairs) >= 2:
                M[i, j] = kendall_tau(*zip(*pairs, strict=True))
    return tau_matrix(M, names, path, title="Kendall τ-a between measures, targets and "
                      "hyperparameters (tied pairs count 0, so a variable with ties has a "
                      "diagonal below 1)")


def tau_matrix(M: np.ndarray, names: Sequence[str], path: Path, *, title: str) -> Path:
    """Heat map of a matrix of Kendall τ between ``names`` (NaN cells blank)."""
    k = len(names)
    fig = _figure(0.42 * k + 2.5, 0.42 * k + 1.6)
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(M, cmap="RdBu_r", vmin=-1, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046, label="Kendall τ-a")
    ticks = [LABELS.get(n, n) for n in names]
    ax.set_xticks(range(k), ticks, rotation=75, ha="right", fontsize=6)
    ax.set_yticks(range(k), ticks, fontsize=6)
    for i in range(k):
        for j in range(k):
            if np.isfinite(M[i, j]):
                ax.text(j, i, f"{M[i, j]:.1f}", ha="center", va="center", fontsize=5,
                        color="w" if abs(M[i, j]) > 0.6 else "k")
    ax.set_title(title, fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def eos_diagnostic(records: Sequence[Mapping[str, Any]], labels: Sequence[str],
                   full: str, minibatch: str, threshold: str, path: Path) -> Path:
    """Per run: η·λ_max of the full-batch Hessian (filled) and the minibatch mean (open)
    against the EoS threshold 2(1+β) (dashed, per run); log axis; marker per optimizer."""
    fig = _figure(min(16.0, max(6.0, 0.22 * len(records) + 2)), 3.4)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(records))
    for xi, r in zip(x, records, strict=True):
        m = _MARKERS.get(str(r.get("optimizer", "sgd")), "o")
        if is_finite_number(r.get(full)):
            ax.plot(xi, r[full], marker=m, color="C0", ms=5, ls="none")
        if is_finite_number(r.get(minibatch)):
            ax.plot(xi, r[minibatch], marker=m, mfc="none", color="C3", ms=5, ls="none")
        if is_finite_number(r.get(threshold)):
            ax.plot([xi - 0.4, xi + 0.4], [r[threshold]] * 2, color="k", ls="--", lw=0.8)
    ax.plot([], [], "o", color="C0", label="η·λ_max, full batch")
    ax.plot([], [], "o", mfc="none", color="C3", label="η·λ_max, mean over minibatches")
    ax.plot([], [], "--", color="k", label="threshold 2(1+β)")
    vals = [r[k] for r in records for k in (full, minibatch) if is_finite_number(r.get(k))]
    if vals and min(vals) > 0:
        ax.set_yscale("log")
    ax.set_xticks(x, labels, rotation=80, fontsize=6)
    ax.set_ylabel("η·λ_max", fontsize=8)
    ax.set_title("edge-of-stability diagnostic per run (above the dashed line: at or past the "
                 "linear stability limit)", fontsize=8)
    ax.legend(fontsize=6)
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    return _save(fig, path)


def estimate_vs_reference(records: Sequence[Mapping[str, Any]], reference: str,
                          estimate: str, path: Path) -> Path:
    """Scatter of an estimate against its reference (e.g. SD-SLQ against exact SD) over the
    runs that have both, with the line y = x."""
    pts = [(r[reference], r[estimate]) for r in records
           if is_finite_number(r.get(reference)) and is_finite_number(r.get(estimate))]
    fig = _figure(4.2, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    if pts:
        x, y = map(np.asarray, zip(*pts, strict=True))
        ax.scatter(x, y, s=18, edgecolors="k", linewidths=0.3)
        lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
        ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8, label="y = x")
        ax.legend(fontsize=7)
    _axis_labels(ax, LABELS.get(reference, reference), LABELS.get(estimate, estimate))
    ax.set_title(f"{LABELS.get(estimate, estimate)} against {LABELS.get(reference, reference)}"
                 f" ({len(pts)} runs)", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)
