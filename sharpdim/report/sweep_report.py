"""``reports/<sweep>/``: README.md, PNG figures, results.csv and kendall.json of a sweep file.

Everything is computed from the sweep file (and this code), so the same file regenerates
the same report. Provenance comes from the file itself: the configuration, the sessions
that ran it (git commit, host, scheduler, package versions), each run's device, dtype,
threads and seeds.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sharpdim.report import figures
from sharpdim.report.claims import ClaimVerdict, grokking_claims, kendall_claims
from sharpdim.report.kendall_table import (
    KendallRow,
    kendall_rows,
    measures_present,
    tau_by_group,
)
from sharpdim.report.provenance import package_versions, repository_root, source_digest

__all__ = ["write_report", "default_report_dir"]

MIN_RUNS_FOR_KENDALL = 4  # fewer runs give too few pairs for a rank correlation to mean much


def default_report_dir(sweep_path: str | Path, name: str) -> Path:
    """``reports/<name>`` beside the sweep file when it lives in one, else next to it."""
    p = Path(sweep_path).resolve()
    return p.parent if p.parent.name == name else p.parent / name


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def _num(v: Any, fmt: str = ".3g") -> str:
    if v is None:
        return "–"
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return format(v, fmt)


def _ci(ci) -> str:
    return "" if ci is None else f" [{ci.low:+.2f}, {ci.high:+.2f}]"


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _kendall_markdown(rows: Sequence[KendallRow], factors: Sequence[str], target: str,
                      confidence: float) -> list[str]:
    rel = [r for r in rows if r.target == target]
    if not rel:
        return [f"No measure has two finite values against `{target}`.", ""]
    head = ["measure", "n", f"τ [{int(confidence * 100)}% CI]"] + [f"ψ_{f}" for f in factors]
    head += [f"Ψ [{int(confidence * 100)}% CI]"] if factors else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rel:
        cells = [figures.LABELS.get(r.measure, r.measure), str(r.n_records),
                 f"{r.tau:+.3f}{_ci(r.tau_ci)}"]
        cells += [_num(r.psi.get(f), "+.3f") for f in factors]
        if factors:
            cells.append(("–" if r.Psi is None else f"{r.Psi:+.3f}") + _ci(r.Psi_ci))
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def _claims_markdown(claims: Sequence[ClaimVerdict]) -> list[str]:
    lines = ["| claim | paper | rule | our numbers | verdict |", "|---|---|---|---|---|"]
    for c in claims:
        v = f"**{c.verdict}**" if c.verdict in ("held", "did not hold") else c.verdict
        lines.append(f"| {_md(c.claim)} | {_md(c.paper)} | {_md(c.rule)} | {_md(c.evidence)} "
                     f"| {v} |")
    return lines + [""]


def _measure_status(measures: Sequence[Mapping[str, Any]]) -> list[str]:
    counts: dict[str, Counter] = defaultdict(Counter)
    first: dict[str, str] = {}
    for m in measures:
        counts[m["name"]][m["status"]] += 1
        if m["status"] != "ok" and m["name"] not in first and m["error"]:
            first[m["name"]] = m["error"].splitlines()[0][:160]
    lines = ["| measure | ok | error | skipped | first error or skip reason |",
             "|---|---:|---:|---:|---|"]
    for name, c in counts.items():
        lines.append(f"| {name} | {c['ok']} | {c['error']} | {c['skipped']} | "
                     f"{_md(first.get(name, ''))} |")
    return lines + [""]


def _estimator_labels(measures: Sequence[Mapping[str, Any]]) -> list[str]:
    """How each stored SD was estimated, read from its diagnostics: ε and its form, the kernel
    smoothing, and how many values our conditioning diagnostics flag as ill-conditioned.
    Values stored before the ε form was recorded used the additive ``ln(σ + ε)``; SD-KDE values
    stored before ``smoothing`` was recorded come from the old gridded KDE."""
    seen: dict[str, Counter] = defaultdict(Counter)
    flagged: dict[str, Counter] = defaultdict(Counter)
    for m in measures:
        diag = (m.get("details") or {}).get("diagnostics")
        if m["status"] != "ok" or not isinstance(diag, Mapping) or "epsilon" not in diag:
            continue
        eps = float(diag["epsilon"]) if diag["epsilon"] is not None else 0.0
        form = diag.get("epsilon_form")
        if eps == 0:
            label = "ε = 0"
        elif form is None:
            label = f"ε = {eps:g}, additive ln(σ + ε) (recorded before the ε form existed)"
        else:
            label = f"ε = {eps:g}, {form} " + ("ln max(σ, ε)" if form == "clamp" else "ln(σ + ε)")
        if diag.get("method") in ("kde", "ps"):
            sm = diag.get("smoothing")
            label += (f"; smoothing {sm}" if sm is not None else
                      ("; gridded KDE (before the grid-free SD-KDE)" if diag["method"] == "kde"
                       else "; smoothing curvature"))
        seen[m["name"]][label] += 1
        cond = diag.get("conditioning")
        if isinstance(cond, Mapping):
            flagged[m["name"]]["flagged" if cond.get("ill_conditioned") else "ok"] += 1
    lines = []
    for name in sorted(seen):
        labels = "; ".join(f"{lab} ({n})" for lab, n in sorted(seen[name].items()))
        c = flagged.get(name)
        cond = (f"; ill-conditioned (our diagnostics, not the paper's): {c['flagged']} of "
                f"{c['flagged'] + c['ok']}" if c else "")
        lines.append(f"  * `{name}`: {labels}{cond}")
    return (["* how the SDs were estimated (from the stored diagnostics):", *lines]
            if lines else [])


def _series(store, runs_by_id: Mapping[str, Mapping[str, Any]], label_of) -> dict:
    series: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for m in store.measures(stage="checkpoint"):
        if m["status"] != "ok" or m["run_id"] not in runs_by_id:
            continue
        per = series.setdefault(label_of(runs_by_id[m["run_id"]]), {})
        per.setdefault(m["name"], []).append((m["epoch"], m["value"]))
    return series


_SHORT = {"lr": "lr", "batch_size": "bs", "weight_decay": "wd"}


def _run_label(run: Mapping[str, Any], factors: Sequence[str], multi_seed: bool) -> str:
    parts = [run["optimizer"] if f == "optimizer" else f"{_SHORT[f]}={run[f]:g}"
             for f in factors]
    if multi_seed or not parts:
        parts.append(f"seed {run['seed']}")
    return ", ".join(parts)


def write_report(sweep_path: str | Path, out_dir: str | Path | None = None, *,
                 n_resamples: int = 400, confidence: float = 0.95) -> Path:
    """Write the report of the sweep file ``sweep_path``; returns the README path."""
    from sharpdim.experiments.storage import SweepStore

    sweep_path = Path(sweep_path)
    with SweepStore.open_readonly(sweep_path) as store:
        cfg = store.config()
        canonical = cfg["canonical"]
        factors = list(cfg["factors"])
        runs = store.runs()
        runs_by_id = {r["run_id"]: r for r in runs}
        records = store.records()
        measures = store.measures(stage="final")
        sessions = store.sessions()
        seeds = store.seeds()
        timings = store.timings()
        hess = store.arrays("hessian_eigenvalues")
        profiles = store.arrays("rds_sharpness")
        slq, slq_ckpt = ({k: (v, weights[k]) for k, v in store.arrays("slq_nodes",
                                                                      stage=st).items()
                          if k in weights}
                         for st, weights in (
                             ("final", store.arrays("slq_weights")),
                             ("checkpoint", store.arrays("slq_weights", stage="checkpoint"))))
        multi_seed = len(canonical["seeds"]) > 1
        label_of = lambda r: _run_label(r, factors, multi_seed)  # noqa: E731
        series = _series(store, runs_by_id, label_of)
        meta = store.meta()
    out = Path(out_dir) if out_dir is not None else default_report_dir(sweep_path, cfg["name"])
    out.mkdir(parents=True, exist_ok=True)

    done = [r for r in records if "gen_gap" in r]
    present = measures_present(done)
    krows = kendall_rows(done, factors, measures=present, n_resamples=n_resamples,
                         replicated=multi_seed) if len(done) >= MIN_RUNS_FOR_KENDALL else []
    per_opt = ({t: tau_by_group(done, "optimizer", present, t) for t in ("gen_gap", "loss_gap")}
               if "optimizer" in factors and present else {})
    claims = kendall_claims(krows, by_optimizer=per_opt.get("gen_gap")) if krows else []
    if series:
        sd_name = next((m for m in ("sd_exact", "sd_slq", "sd_kde", "sd_ps")
                        if any(m in per for per in series.values())), "sd_exact")
        lam_name = "lambda_1" if any("lambda_1" in p for p in series.values()) else "lambda_1_slq"
        claims += grokking_claims(series, sd_name=sd_name, lambda_name=lam_name)

    figs: list[tuple[str, str]] = []
    if present and len(done) >= MIN_RUNS_FOR_KENDALL:
        for target in ("gen_gap", "loss_gap"):
            p = figures.scatter_against_target(done, present, target, out / f"scatter_{target}.png")
            figs.append((f"Each measure against the {figures.LABELS[target]}", p.name))
        lrs = {r["lr"] for r in done}
        bss = {r["batch_size"] for r in done}
        if len(lrs) > 1 and len(bss) > 1:
            names = ["gen_gap", "loss_gap", "test_acc"] + [m for m in ("sd_exact", "sd_slq",
                                                                       "lambda_1", "top_eigenvalue")
                                                           if m in present]
            p = figures.grid_heatmaps(done, names, out / "grid_heatmaps.png")
            figs.append(("Outcomes and measures over the lr × batch-size grid", p.name))
    chosen = _spectrum_runs(done, hess or profiles)
    if hess:
        spectra = {label_of(runs_by_id[rid]): hess[(rid, ep)] for rid, ep in chosen
                   if (rid, ep) in hess}
        if spectra:
            p = figures.hessian_spectra(spectra, out / "hessian_spectra.png")
            figs.append(("Hessian spectra of the training loss at the end of training "
                         "(smallest and largest gap)", p.name))
    if not hess and slq:
        chosen_slq = _spectrum_runs(done, slq)
        spectra = {label_of(runs_by_id[rid]): slq[(rid, ep)] for rid, ep in chosen_slq}
        if spectra:
            p = figures.slq_densities(spectra, out / "hessian_spectra_slq.png",
                                      title="SLQ spectral density of minibatch Hessians at the "
                                      "end (pooled runs)")
            figs.append(("Hessian spectra (SLQ) at the end of training (smallest and largest "
                         "gap)", p.name))
    if slq_ckpt:
        first = sorted({rid for rid, _ in slq_ckpt}, key=lambda r: list(runs_by_id).index(r))
        for rid in first[:2]:
            epochs = sorted(ep for r, ep in slq_ckpt if r == rid)
            pick = sorted({epochs[0], epochs[len(epochs) // 2], epochs[-1]})
            spectra = {f"epoch {ep}": slq_ckpt[(rid, ep)] for ep in pick}
            label = label_of(runs_by_id[rid])
            name = f"hessian_spectra_checkpoints_{list(runs_by_id).index(rid)}.png"
            p = figures.slq_densities(spectra, out / name,
                                      title=f"SLQ Hessian spectra across checkpoints ({label})")
            figs.append((f"Hessian spectra (SLQ) at three checkpoints ({label})", p.name))
    if profiles:
        prof = {label_of(runs_by_id[rid]): profiles[(rid, ep)] for rid, ep in chosen
                if (rid, ep) in profiles}
        if prof:
            p = figures.sharpness_profiles(prof, out / "rds_sharpness.png")
            figs.append(("RDS sharpness λ_k (mean over minibatches of sorted ln|1 − ηα|)",
                         p.name))
    if series:
        panels = [("accuracy", ["train_acc", "test_acc"]),
                  ("sharpness dimension", [m for m in ("sd_exact", "sd_slq", "sd_kde", "sd_ps")
                                           if any(m in s for s in series.values())]),
                  ("λ₁", [m for m in ("lambda_1", "lambda_1_slq")
                          if any(m in s for s in series.values())]),
                  ("Hessian trace", ["trace"]), ("top Hessian eigenvalue", ["top_eigenvalue"]),
                  ("loss", ["train_loss", "test_loss"])]
        p = figures.checkpoint_curves(series, panels, out / "checkpoint_curves.png")
        figs.append(("Across checkpoints: accuracies, SD, λ₁, trace and top eigenvalue",
                     p.name))

    written = {name for _, name in figs}
    for stale in out.glob("*.png"):  # figures of an earlier report that this one lacks
        if stale.name not in written:
            stale.unlink()
    _write_csv(out / "results.csv", runs, records, seeds, timings)
    _write_json(out / "kendall.json", krows, claims, factors)
    readme = out / "README.md"
    readme.write_text(_readme(cfg, canonical, factors, runs, done, measures, krows, claims,
                              figs, sessions, meta, sweep_path, out, confidence, n_resamples,
                              multi_seed, per_opt))
    return readme


def _spectrum_runs(done: Sequence[Mapping[str, Any]],
                   arrays: Mapping[tuple[str, int], np.ndarray]) -> list[tuple[str, int]]:
    """The runs with the smallest and the largest generalization gap that have a spectrum."""
    have = {rid: ep for rid, ep in arrays}
    cands = sorted((r for r in done if r["run_id"] in have), key=lambda r: r["gen_gap"])
    pick = cands[:1] + cands[-1:] if len(cands) > 1 else cands
    return [(r["run_id"], have[r["run_id"]]) for r in pick]


def _write_csv(path: Path, runs, records, seeds, timings) -> None:
    by_id = {r["run_id"]: r for r in records}
    names = sorted({k for r in records for k in r} - {"run_id", "lr", "batch_size",
                                                       "weight_decay", "optimizer", "seed",
                                                       "status"})
    cols = ["run_id", "lr", "batch_size", "weight_decay", "optimizer", "seed", "status",
            "epochs_completed", "n_parameters", "seconds", "seed_init", "seed_order",
            "seed_measures"] + names
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for r in runs:
            rec = by_id.get(r["run_id"], {})
            s = seeds.get(r["run_id"], {})
            w.writerow([r["run_id"], r["lr"], r["batch_size"], r["weight_decay"],
                        r["optimizer"], r["seed"], r["status"], r["epochs_completed"],
                        r["n_parameters"], _num(r["seconds"], ".1f"), s.get("init"),
                        s.get("order"), s.get("measures")]
                       + [repr(rec[n]) if n in rec else "" for n in names])


def _write_json(path: Path, krows, claims, factors) -> None:
    def ci(c):
        return None if c is None else {"low": c.low, "high": c.high, "confidence": c.confidence,
                                       "n_resamples": c.n_resamples, "seed": c.seed,
                                       "n_failed": c.n_failed}
    payload = {
        "factors": list(factors),
        "kendall": [{"measure": r.measure, "target": r.target, "n": r.n_records,
                     "tau": r.tau, "tau_ci": ci(r.tau_ci), "psi": r.psi, "Psi": r.Psi,
                     "Psi_ci": ci(r.Psi_ci), "bootstrap": r.bootstrap} for r in krows],
        "claims": [c.__dict__ for c in claims],
    }
    path.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")


def _per_optimizer_markdown(per_opt) -> list[str]:
    lines = []
    for target, table in per_opt.items():
        if not table:
            continue
        opts = list(next(iter(table.values())))
        lines += [f"τ within each optimizer against the {figures.LABELS[target]}:", "",
                  "| measure | " + " | ".join(map(str, opts)) + " |",
                  "|---|" + "---:|" * len(opts)]
        for m, per in table.items():
            lines.append(f"| {figures.LABELS.get(m, m)} | "
                         + " | ".join(_num(per[o], "+.3f") for o in opts) + " |")
        lines.append("")
    return lines


def _readme(cfg, canonical, factors, runs, done, measures, krows, claims, figs, sessions,
            meta, sweep_path: Path, out: Path, confidence, n_resamples, multi_seed,
            per_opt) -> str:
    from sharpdim.experiments.tasks import get_task

    task = get_task(cfg["task"])
    status = Counter(r["status"] for r in runs)
    train = canonical["train"]
    grid = canonical["grid"]
    env = Counter((r["environment"].get("device"), r["environment"].get("dtype"),
                   r["environment"].get("torch_threads")) for r in runs if r["environment"])
    n_params = sorted({r["n_parameters"] for r in runs if r["n_parameters"]})
    try:
        rel_sweep = sweep_path.resolve().relative_to(repository_root())
    except ValueError:
        rel_sweep = sweep_path.name
    L: list[str] = [
        f"# {cfg['name']}: {task.description}", "",
        f"> Generated by `sharpdim report {rel_sweep}` from the sweep file; do not edit by "
        "hand. Regenerate with the same command.", "",
    ]
    description = ""
    if cfg.get("toml"):
        import tomllib

        try:
            description = str(tomllib.loads(cfg["toml"]).get("description", "")).strip()
        except tomllib.TOMLDecodeError:
            description = ""
    if description:
        L += [description, ""]
    grid_text = ", ".join(f"`{o}` (lr {', '.join(f'{x:g}' for x in grid['lr'][o])})"
                          for o in grid["optimizer"])
    ms = canonical["measures"]
    groups = ", ".join(f"`{g}`" for g in ms["final"])
    if ms["checkpoint"]:
        groups += "; at checkpoints: " + ", ".join(f"`{g}`" for g in ms["checkpoint"])
    options = json.dumps({k: v for k, v in ms.items() if k not in ("final", "checkpoint")},
                         sort_keys=True)
    checkpoints = (f"; checkpoints at epochs {train['checkpoint_epochs']}"
                   if train["checkpoint_epochs"] else "")
    L += ["## Setup", "",
          f"* task `{cfg['task']}`: {task.description}; options "
          + ", ".join(f"`{k}={v}`" for k, v in canonical["task_options"].items()),
          f"* parameters: {', '.join(map(str, n_params)) or '–'}",
          f"* training: {train['epochs']} epochs, minibatches of exactly `batch_size` examples "
          "(last incomplete batch dropped), cross-entropy; momentum "
          f"{train['momentum']:g} where the optimizer is `momentum`; divergence when a minibatch "
          f"loss is non-finite or > {train['divergence_loss']:g}{checkpoints}",
          f"* grid: optimizer {grid_text}; batch size {grid['batch_size']}; weight decay "
          f"{grid['weight_decay']}; seeds {canonical['seeds']}",
          f"* factors of the granulated Kendall coefficients: {factors or 'none'}",
          f"* measures at the end: {groups}",
          f"* measure options: `{options}`",
          *_estimator_labels(measures),
          "", "## Outcomes", "",
          f"* runs: {len(runs)} planned — "
          + ", ".join(f"{v} {k}" for k, v in sorted(status.items()))]
    for r in runs:
        where = (f"lr={r['lr']:g}, bs={r['batch_size']}, wd={r['weight_decay']:g}, "
                 f"{r['optimizer']}, seed {r['seed']}")
        if r["status"] == "diverged":
            L.append(f"  * diverged: {where}: {r['error']}")
        elif r["status"] in ("failed", "pending"):
            first = (r["error"] or "").strip().splitlines()[-1:] or ["not run yet"]
            L.append(f"  * {r['status']}: {where}: {_md(first[0])}")
    L += ["", "Measure outcomes at the end of training (a failing measure is recorded, never "
          "fatal):", ""] + _measure_status(measures)
    L += ["## Kendall correlations", "",
          "τ is Kendall's τ-a over all runs (ties count 0; `sharpdim.stats.kendall_tau`); ψ_f is "
          "the mean τ over the cells where only factor f varies and Ψ the mean of the ψ "
          "(Jiang et al. 2019; `sharpdim.stats.granulated_kendall`). Intervals: "
          f"{int(confidence * 100)}% percentile bootstrap, {n_resamples} resamples, seed 0, "
          + ("seeds resampled within each configuration." if multi_seed else
             "runs resampled over the grid (one seed per configuration; see "
             "`sharpdim.stats.bootstrap_ci` for the τ-a tie caveat)."), ""]
    if len(done) < MIN_RUNS_FOR_KENDALL:
        L += [f"Only {len(done)} runs with a generalization gap (fewer than "
              f"{MIN_RUNS_FOR_KENDALL}): too few for rank correlations; this sweep is about "
              "the curves across checkpoints.", ""]
    else:
        for target in ("gen_gap", "loss_gap"):
            L += [f"### against the {figures.LABELS[target]}", ""]
            L += _kendall_markdown(krows, factors, target, confidence)
        if per_opt:
            L += ["### per optimizer", ""] + _per_optimizer_markdown(per_opt)
    L += ["## The paper's claims (PAPER_NOTES §6) beside ours", "",
          "Each verdict applies the stated rule to this sweep's numbers; the sweep is smaller "
          "than the paper's (see Setup), so a verdict speaks for this setting only.", ""]
    L += _claims_markdown(claims) if claims else ["No claim is testable with this sweep.", ""]
    if figs:
        L += ["## Figures", ""]
        for caption, name in figs:
            L += [f"**{caption}**", "", f"![{caption}]({name})", ""]
    L += ["## Runs", "", "| lr | batch | wd | optimizer | seed | status | epochs | train acc | "
          "test acc | gen gap | loss gap | SD | λ₁ | seconds |",
          "|---:|---:|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    by_id = {r["run_id"]: r for r in done}
    for r in runs:
        rec = by_id.get(r["run_id"], {})
        sd = rec.get("sd_exact", rec.get("sd_slq"))
        lam = rec.get("lambda_1", rec.get("lambda_1_slq"))
        L.append(f"| {r['lr']:g} | {r['batch_size']} | {r['weight_decay']:g} | {r['optimizer']} "
                 f"| {r['seed']} | {r['status']} | {r['epochs_completed']} | "
                 f"{_num(rec.get('train_acc'))} | {_num(rec.get('test_acc'))} | "
                 f"{_num(rec.get('gen_gap'))} | {_num(rec.get('loss_gap'))} | {_num(sd, '.5g')} "
                 f"| {_num(lam)} | {_num(r['seconds'], '.0f')} |")
    L += ["", "## Provenance", "",
          f"* sweep file: `{sweep_path.name}` (sha256 prefix `{_file_digest(sweep_path)}`), "
          f"schema {meta.get('schema_version')}, created {meta.get('created')}; configuration "
          f"hash `{cfg['config_hash']}` from `{cfg['source']}`",
          "* device / dtype / torch threads of the runs: "
          + (", ".join(f"{d} / {t} / {th} ({n} runs)" for (d, t, th), n in env.items()) or "–"),
          "* seeds: each run's training seed is split into initialization, minibatch-order and "
          "measure seeds (`numpy.random.SeedSequence`); all are in `results.csv`",
          "* sessions that ran the sweep:"]
    for s in sessions:
        L.append(f"  * {s['started']} → {s['finished'] or 'interrupted'}: scheduler "
                 f"`{s['scheduler']}`, {s['workers'] or '?'} workers, host {s['host']}, git "
                 f"`{s['git_commit']}`, {s['n_done']}/{s['n_todo']} runs; versions "
                 + ", ".join(f"{k} {v}" for k, v in s["versions"].items()))
    versions = package_versions(("numpy", "scipy", "matplotlib"))
    L += [f"* report code digest (sharpdim/): `{source_digest('sharpdim')}`; report rendered "
          "with " + ", ".join(f"{k} {v}" for k, v in versions.items()),
          "* numbers: `results.csv` (one row per run, every final measure), `kendall.json` "
          "(the tables and verdicts above)", ""]
    return "\n".join(L)
