"""``reports/<sweep>/``: README.md, PNG figures, results.csv and kendall.json of a sweep file.

Pipeline: :func:`~sharpdim.lab.reports.sweep_data.load_sweep` (the file, read once) →
:func:`~sharpdim.lab.reports.analysis.analyse` (every number) → one function per figure
(:data:`FIGURES`) → one renderer per section (:data:`sharpdim.lab.reports.sections.SECTIONS`) and
the CSV/JSON writers. Everything is computed from the sweep file (and this code), so the same
file regenerates the same report. Provenance comes from the file itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sharpdim.lab.reports import figures as fig
from sharpdim.lab.reports.analysis import MIN_RUNS_FOR_KENDALL, Analysis, analyse
from sharpdim.lab.reports.outputs import write_checkpoints_csv, write_csv, write_json
from sharpdim.lab.reports.protocol import sweep_protocol, write_protocol_json
from sharpdim.lab.reports.sections import ReportContext, render_readme
from sharpdim.lab.reports.sweep_data import SweepData, load_sweep, run_label
from sharpdim.lab.stats import is_finite_number
from sharpdim.lab.sweeps.measures import eos_threshold
from sharpdim.lab.sweeps.registry import (
    EOS_RATIO,
    SLQ_VALIDATION,
    TARGETS,
    label,
    names_in_family,
    names_with_role,
)
from sharpdim.vocabulary import ADAPTIVE_OPTIMIZERS

__all__ = ["write_report", "default_report_dir", "FIGURES"]

Figure = tuple[str, str]


def default_report_dir(sweep_path: str | Path, name: str) -> Path:
    """``reports/<name>`` beside the sweep file when it lives in one, else next to it."""
    p = Path(sweep_path).resolve()
    return p.parent if p.parent.name == name else p.parent / name


def _spectrum_runs(done: Sequence[Mapping[str, Any]],
                   arrays: Mapping[tuple[str, int], Any]) -> list[tuple[str, int]]:
    """The runs with the smallest and the largest generalization gap that have a spectrum."""
    have = {rid: ep for rid, ep in arrays}
    cands = sorted((r for r in done if r["run_id"] in have), key=lambda r: r["gen_gap"])
    pick = cands[:1] + cands[-1:] if len(cands) > 1 else cands
    return [(r["run_id"], have[r["run_id"]]) for r in pick]


def _enough(a: Analysis) -> bool:
    return bool(a.present) and len(a.records) >= MIN_RUNS_FOR_KENDALL


# -- one function per figure ----------------------------------------------------------------


def fig_kendall(d: SweepData, a: Analysis, out: Path) -> list[Figure]:
    if not a.kendall:
        return []
    return [(f"Kendall τ, ψ and Ψ per measure against the {label(t)} (Fig. 2 style)",
             fig.kendall_bars(a.kendall, t, out / f"kendall_{t}.png").name)
            for t in TARGETS if any(r.target == t for r in a.kendall)]


def fig_correlation(d: SweepData, a: Analysis, out: Path) -> list[Figure]:
    if not _enough(a):
        return []
    names = [n for n in ("lr", "batch_size", *d.factors) if n in a.records[0]]
    names = list(dict.fromkeys(names + [m for m in a.present if m not in names]
                               + [t for t in TARGETS if t in a.records[0]]))
    return [("Rank correlation between measures, targets and hyperparameters",
             fig.correlation_matrix(a.records, names, out / "correlation_matrix.png").name)]


def fig_scatter(d: SweepData, a: Analysis, out: Path) -> list[Figure]:
    if not _enough(a):
        return []
    return [(f"Each measure against the {label(t)}",
             fig.scatter_against_target(a.records, a.present, t, out / f"scatter_{t}.png").name)
            for t in TARGETS]


def fig_heatmaps(d: SweepData, a: Analysis, out: Path) -> list[Figure]:
    if not _enough(a) or len({r["lr"] for r in a.records}) < 2 \
            or len({r["batch_size"] for r in a.records}) < 2:
        return []
    names = ["gen_gap", "loss_gap", "train_acc", "test_acc"]
    names += [m for m in names_with_role("sd") if m in a.present][:3]
    names += [m for m in (*names_in_family("lambda")[:1], EOS_RATIO[0], "top_eigenvalue",
                          "converged") if m in a.present or any(m in r for r in a.records)]
    names = list(dict.fromkeys(n for n in names if any(n in r for r in a.records)))
    return [("Outcomes and measures over the lr × batch-size grid (mean over seeds and other "
             "factors)", fig.grid_heatmaps(a.records, names, out / "grid_heatmaps.png").name)]


def fig_eos(d: SweepData, a: Analysis, out: Path) -> list[Figure]:
    full, mini, thr = EOS_RATIO
    rows = sorted((r for r in a.records if full in r or mini in r),
                  key=lambda r: (r["lr"], r["batch_size"], r["seed"]))
    if not rows:
        return []
    caption = "Edge-of-stability diagnostic per run against the threshold 2(1+β)"
    if d.multi_seed:  # one point per configuration: the mean over its seeds
        groups: dict[str, list[Mapping[str, Any]]] = {}
        for r in rows:
            groups.setdefault(run_label(r, d.factors, False), []).append(r)
        rows = [{**g[0], **{k: float(np.mean([r[k] for r in g if k in r]))
                            for k in (full, mini, thr) if any(k in r for r in g)}}
                for g in groups.values()]
        labels = list(groups)
        caption += " (mean over seeds per configuration)"
    else:
        labels = [d.label_of(r["run_id"]) for r in rows]
    return [(caption, fig.eos_diagnostic(rows, labels, full, mini, thr,
                                         out / "eos_diagnostic.png").name)]


def fig_spectra(d: SweepData, a: Analysis, out: Path) -> list[Figure]:
    runs = d.runs_by_id
    figs: list[Figure] = []
    if d.hessian:
        chosen = _spectrum_runs(a.records, d.hessian)
        spectra = {d.label_of(rid): d.hessian[(rid, ep)] for rid, ep in chosen}
        edges = _stability_edges(d, {d.label_of(rid): rid for rid, _ in chosen})
        if spectra:
            figs.append(("Hessian spectra of the training loss at the end of training "
                         "(smallest and largest gap); dashed: the stability edge 2(1+β)/η "
                         "(2/η without momentum), grey: 0",
                         fig.hessian_spectra(spectra, out / "hessian_spectra.png",
                                             edges=edges).name))
    elif d.slq:
        chosen = _spectrum_runs(a.records, d.slq)
        spectra = {d.label_of(rid): d.slq[(rid, ep)] for rid, ep in chosen}
        if spectra:
            edges = _stability_edges(d, {d.label_of(rid): rid for rid, _ in chosen})
            figs.append(("Hessian spectra (SLQ) at the end of training (smallest and largest "
                         "gap); dashed: the stability edge 2(1+β)/η (2/η without momentum; "
                         "none for Adam), grey: 0",
                         fig.slq_densities(spectra, out / "hessian_spectra_slq.png",
                                           title="SLQ spectral density of minibatch "
                                           "Hessians at the end (pooled runs)",
                                           edges=edges).name))
    if d.slq_checkpoints:
        order = list(runs)
        first = sorted({rid for rid, _ in d.slq_checkpoints}, key=order.index)
        for rid in first[:2]:
            epochs = sorted(ep for r, ep in d.slq_checkpoints if r == rid)
            pick = sorted({epochs[0], epochs[len(epochs) // 2], epochs[-1]})
            spectra = {f"epoch {ep}": d.slq_checkpoints[(rid, ep)] for ep in pick}
            lab = d.label_of(rid)
            name = f"hessian_spectra_checkpoints_{order.index(rid)}.png"
            edge = _stability_edges(d, {lab: rid}).get(lab)
            p = fig.slq_densities(spectra, out / name,
                                  title=f"SLQ Hessian spectra across checkpoints ({lab})",
                                  edges=dict.fromkeys(spectra, edge) if edge else None)
            figs.append((f"Hessian spectra (SLQ) at three checkpoints ({lab}); dashed: the "
                         "stability edge 2(1+β)/η (2/η without momentum), grey: 0", p.name))
    return figs


def _stability_edges(d: SweepData, run_of: Mapping[str, str]) -> dict[str, tuple[float, str]]:
    """``{label: (edge, text)}``: the eigenvalue at which η·α reaches the linear-stability
    limit of the run's optimizer (:func:`~sharpdim.lab.sweeps.measures.eos_threshold`):
    2/η for SGD, 2(1 + β)/η for heavy ball; none for Adam, which has no such constant."""
    runs = {r["run_id"]: r for r in d.runs}
    beta = float(d.canonical["train"].get("momentum", 0.0))
    out = {}
    for name, rid in run_of.items():
        r = runs[rid]
        if r["optimizer"] in ADAPTIVE_OPTIMIZERS:
            continue
        momentum = beta if r["optimizer"] == "momentum" else 0.0
        text = f"2(1+{momentum:g})/η" if momentum else "2/η"
        out[name] = (eos_threshold(r["optimizer"], momentum) / r["lr"], text)
    return out


def fig_slq_vs_exact(d: SweepData, a: Analysis, out: Path) -> list[Figure]:
    ref, est = SLQ_VALIDATION
    n_of = {r["run_id"]: r["n_parameters"] for r in d.runs if r["n_parameters"]}
    both = [(r[ref], r[est], n_of.get(r["run_id"])) for r in a.records
            if is_finite_number(r.get(ref)) and is_finite_number(r.get(est))]
    if not both:
        return []
    diff = np.array([abs(e - x) for x, e, _ in both])
    # the error as a share of N − SD(exact), where the runs differ (see the Regime section)
    share = [abs(e - x) / (n - x) for x, e, n in both if n and n - x > 0]
    text = (f"{label(est)} against {label(ref)} on the {len(both)} runs that have both: "
            f"|difference| {diff.min():.3g}–{diff.max():.3g} (median {np.median(diff):.3g})"
            + (f", up to {100 * max(share):.0f} % of N − {label(ref)}" if share else ""))
    return [(text, fig.estimate_vs_reference(a.records, ref, est,
                                             out / "slq_vs_exact.png").name)]


def fig_profiles(d: SweepData, a: Analysis, out: Path) -> list[Figure]:
    if not d.profiles:
        return []
    chosen = _spectrum_runs(a.records, d.hessian or d.profiles)
    prof = {d.label_of(rid): d.profiles[(rid, ep)] for rid, ep in chosen
            if (rid, ep) in d.profiles}
    if not prof:
        return []
    return [("RDS sharpness λ_k (mean over minibatches of sorted ln|1 − ηα|)",
             fig.sharpness_profiles(prof, out / "rds_sharpness.png").name)]


def fig_checkpoints(d: SweepData, a: Analysis, out: Path) -> list[Figure]:
    if not d.series:
        return []

    def present(names):
        return [m for m in names if any(m in s for s in d.series.values())]

    panels = [("accuracy", ["train_acc", "test_acc"]),
              ("sharpness dimension", present(names_in_family("sd"))),
              ("λ₁", present(names_in_family("lambda"))),
              ("Hessian trace", present(["trace"])),
              ("top Hessian eigenvalue", present(["top_eigenvalue"])),
              ("η·λ_max of the full-batch training Hessian", present([EOS_RATIO[0]])),
              ("loss", ["train_loss", "test_loss"]),
              ("parameter norm", present(["weight_norm"])),
              ("E_α of the iterates before the checkpoint", present(names_in_family("e_alpha")))]
    panels = [(t, names) for t, names in panels if names]
    runs = d.runs_by_id
    lrs = {lab: float(runs[rid]["lr"]) for lab, rid in d.series_runs.items()}
    # more runs than a legend can name: one colour per learning rate
    groups = {lab: f"η = {lr:g}" for lab, lr in sorted(lrs.items(), key=lambda t: t[1])} \
        if len(d.series) > 10 else None
    momentum = float(d.canonical["train"].get("momentum", 0.0))
    optimizers = {runs[rid]["optimizer"] for rid in d.series_runs.values()}
    threshold = {EOS_RATIO[0]: (eos_threshold(*optimizers, momentum), "2(1+β)")} \
        if len(optimizers) == 1 else None
    figs = [("Across checkpoints: accuracies, SD, λ₁, trace, top eigenvalue, η·λ_max against "
             "the stability limit 2(1+β) (progressive sharpening, then the edge of stability), "
             "parameter norm and E_α",
             fig.checkpoint_curves(d.series, panels, out / "checkpoint_curves.png",
                                   groups=groups, reference=threshold).name)]
    c = a.checkpoints
    if c is not None and len(c.matrix_names) > 1:
        figs.append(("Kendall τ between measures and targets over the checkpoints of a run "
                     "(mean over runs)", fig.tau_matrix(c.matrix, c.matrix_names,
                                                        out / "checkpoint_correlation.png",
                                                        title="Kendall τ-a over checkpoints "
                                                        "(mean over runs)").name))
    return figs


# Adding a figure is adding a function here.
FIGURES: tuple[Callable[[SweepData, Analysis, Path], list[Figure]], ...] = (
    fig_kendall, fig_correlation, fig_scatter, fig_heatmaps, fig_eos, fig_spectra,
    fig_slq_vs_exact, fig_profiles, fig_checkpoints)


def write_report(sweep_path: str | Path, out_dir: str | Path | None = None, *,
                 n_resamples: int = 400, confidence: float = 0.95) -> Path:
    """Write the report of the sweep file ``sweep_path``; returns the README path."""
    data = load_sweep(sweep_path)
    out = Path(out_dir) if out_dir is not None else default_report_dir(sweep_path,
                                                                      data.config["name"])
    out.mkdir(parents=True, exist_ok=True)
    analysis = analyse(data, n_resamples=n_resamples, confidence=confidence)
    figs = [f for make in FIGURES for f in make(data, analysis, out)]
    written = {name for _, name in figs}
    for stale in out.glob("*.png"):  # figures of an earlier report that this one lacks
        if stale.name not in written:
            stale.unlink()
    write_csv(out / "results.csv", data, analysis)
    if not write_checkpoints_csv(out / "checkpoints.csv", analysis):
        (out / "checkpoints.csv").unlink(missing_ok=True)   # a stale one from an earlier report
    write_json(out / "kendall.json", data, analysis)
    protocol = sweep_protocol(data.config, data.factors, out / "results.csv")
    write_protocol_json(out / "protocol.json", protocol)
    readme = out / "README.md"
    readme.write_text(render_readme(ReportContext(data, analysis, tuple(figs), out, protocol)))
    return readme


