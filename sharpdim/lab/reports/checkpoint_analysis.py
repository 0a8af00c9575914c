"""The analysis of a sweep's checkpoint series (the paper's Fig. 4: grokking), computed once.

Per run, over its checkpoints:

* the **grokking delay**: the first checkpoint with train accuracy ≥ :data:`MEMORIZED` and the
  first with test accuracy ≥ :data:`GENERALIZED`; a run *groks* when test accuracy is still
  ≤ :data:`PLATEAU` when it memorizes and reaches :data:`GENERALIZED` later;
* the **regime**: η·λ_max against the linear-stability threshold 2(1 + β) at every checkpoint;
* **Kendall τ** of every measure with each target over the checkpoints, with a moving-block
  bootstrap interval (:func:`sharpdim.lab.stats.block_bootstrap_ci`);
* the **decisive comparison** of each SD variant with the best baseline of that run
  (:data:`sharpdim.lab.stats.SERIES_VERDICT_RULE`), and the sweep verdict by
  :data:`SWEEP_RULE`;
* the **change point** of each measure against that of test accuracy (lead < 0 < lag, in
  epochs; :func:`sharpdim.lab.stats.change_point`);
* the **intra-measure matrix**: τ between every two measures over a run's checkpoints, averaged
  over runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from sharpdim.lab.evaluation.regime import EoSRegime, eos_regime
from sharpdim.lab.evaluation.rule import is_constant
from sharpdim.lab.reports.sweep_data import SweepData
from sharpdim.lab.stats import (
    BootstrapInterval,
    PairedDifference,
    block_bootstrap_ci,
    change_point,
    kendall_tau,
    paired_series_tau_difference,
)
from sharpdim.lab.sweeps.measures import eos_threshold
from sharpdim.lab.sweeps.registry import EOS_RATIO, TARGETS, names_with_role

__all__ = ["MEMORIZED", "GENERALIZED", "PLATEAU", "SWEEP_RULE", "RunSeries", "GrokkingDelay",
           "SeriesTau", "ChangePointRow", "CheckpointAnalysis", "run_series",
           "analyse_checkpoints", "checkpoint_table"]

MEMORIZED = 0.99     # train accuracy that counts as memorized
GENERALIZED = 0.9    # test accuracy that counts as generalized
PLATEAU = 0.5        # test accuracy at memorization below which the memorization came first
PERFORMANCE = ("train_acc", "test_acc", "train_loss", "test_loss")
TIME = "epoch"       # the training time itself: the first baseline a sceptic tries

SWEEP_RULE = (
    "Sweep verdict per SD variant and target, from the run verdicts: **held** when it held in "
    "a majority of runs and did not hold in none; **did not hold** when it did not hold in a "
    "majority of runs; otherwise **tie** (mixed or covering 0)."
)


@dataclass(frozen=True)
class RunSeries:
    """One run's checkpoints: ``epochs`` (ascending) and ``values[name]`` aligned with them
    (NaN where a measure was not recorded at a checkpoint)."""

    label: str
    run_id: str
    seed: int
    lr: float
    momentum: float
    optimizer: str
    epochs: np.ndarray
    values: Mapping[str, np.ndarray]

    def column(self, name: str) -> np.ndarray:
        if name == TIME:
            return self.epochs.astype(np.float64)
        return self.values.get(name, np.full(self.epochs.size, np.nan))


@dataclass(frozen=True)
class GrokkingDelay:
    """First epochs of memorization and generalization (``None``: never reached), the test
    accuracy at memorization, the delay, whether the run groks, the final accuracies and the
    EoS regime (max of η·λ_max / 2(1 + β) over checkpoints and the number of checkpoints at or
    above 1; ``None`` without top eigenvalues)."""

    label: str
    memorized: int | None
    test_at_memorized: float | None
    generalized: int | None
    delay: int | None
    groks: bool
    final_train: float
    final_test: float
    eos_ratio_max: float | None
    eos_checkpoints: int | None
    n_checkpoints: int
    eos: EoSRegime


@dataclass(frozen=True)
class SeriesTau:
    label: str
    measure: str
    target: str
    interval: BootstrapInterval
    n: int


@dataclass(frozen=True)
class ChangePointRow:
    """Change point of ``measure`` (epoch of the first checkpoint after the change) and its
    lag behind test accuracy's (``< 0``: the measure changes first)."""

    label: str
    measure: str
    epoch: int
    test_epoch: int
    lag: int


@dataclass(frozen=True)
class CheckpointAnalysis:
    runs: tuple[RunSeries, ...]
    delays: tuple[GrokkingDelay, ...]
    sd_variants: tuple[str, ...]
    baselines: tuple[str, ...]
    measures: tuple[str, ...]
    taus: tuple[SeriesTau, ...]
    comparisons: tuple[tuple[str, PairedDifference], ...]
    comparison_errors: tuple[str, ...]
    verdicts: Mapping[tuple[str, str], tuple[str, Mapping[str, int]]]
    change_points: tuple[ChangePointRow, ...]
    matrix_names: tuple[str, ...]
    matrix: np.ndarray
    n_resamples: int
    confidence: float

    @property
    def n_comparisons(self) -> int:
        return len(self.comparisons)


def run_series(data: SweepData) -> list[RunSeries]:
    """The checkpoint series of every run that has one, in the sweep's run order."""
    runs = data.runs_by_id
    out = []
    for lab, per in data.series.items():
        rid = data.series_runs[lab]
        epochs = np.array(sorted({e for pts in per.values() for e, _ in pts}), dtype=np.int64)
        where = {int(e): i for i, e in enumerate(epochs)}
        values = {}
        for name, pts in per.items():
            col = np.full(epochs.size, np.nan)
            for e, v in pts:
                col[where[int(e)]] = np.nan if v is None else float(v)
            values[name] = col
        r = runs[rid]
        momentum = float(data.canonical["train"].get("momentum", 0.0)) \
            if r["optimizer"] == "momentum" else 0.0
        out.append(RunSeries(lab, rid, int(r["seed"]), float(r["lr"]), momentum,
                             str(r["optimizer"]), epochs, values))
    order = list(runs)
    return sorted(out, key=lambda s: order.index(s.run_id))


def _first(epochs: np.ndarray, mask: np.ndarray) -> int | None:
    hit = np.flatnonzero(mask)
    return int(epochs[hit[0]]) if hit.size else None


def grokking_delay(s: RunSeries) -> GrokkingDelay:
    train, test = s.column("train_acc"), s.column("test_acc")
    mem = _first(s.epochs, train >= MEMORIZED)
    test_at = None if mem is None else float(test[np.flatnonzero(s.epochs == mem)[0]])
    after = s.epochs >= (mem if mem is not None else 0)
    gen = _first(s.epochs, (test >= GENERALIZED) & after) if mem is not None else \
        _first(s.epochs, test >= GENERALIZED)
    groks = mem is not None and gen is not None and test_at is not None and test_at <= PLATEAU
    ratio = eos_ratio(s)
    finite = np.isfinite(ratio)
    return GrokkingDelay(
        label=s.label, memorized=mem, test_at_memorized=test_at, generalized=gen,
        delay=None if mem is None or gen is None else gen - mem, groks=bool(groks),
        final_train=float(train[np.isfinite(train)][-1]),
        final_test=float(test[np.isfinite(test)][-1]),
        eos_ratio_max=float(ratio[finite].max()) if finite.any() else None,
        eos_checkpoints=int((ratio[finite] >= 1.0).sum()) if finite.any() else None,
        n_checkpoints=int(s.epochs.size), eos=eos_regime(s.epochs, ratio))


def eos_ratio(s: RunSeries) -> np.ndarray:
    """``η·λ_max / 2(1+β)`` at each checkpoint: from the ``eos`` group's ``eta_lambda_max``
    (the full-batch training Hessian) where it was recorded, else η × the ``hessian`` group's
    top eigenvalue."""
    threshold = eos_threshold(s.optimizer, s.momentum)
    full = EOS_RATIO[0]  # η·λ_max of the full-batch training Hessian
    if full in s.values and np.isfinite(s.column(full)).any():
        return s.column(full) / threshold
    return s.lr * s.column("top_eigenvalue") / threshold


def _present(runs: Sequence[RunSeries], names: Sequence[str]) -> tuple[str, ...]:
    return tuple(n for n in names if any(np.isfinite(s.column(n)).sum() >= 3 for s in runs))


def _sweep_verdict(run_verdicts: Sequence[str]) -> tuple[str, dict[str, int]]:
    counts = {v: sum(x == v for x in run_verdicts) for v in ("held", "tie", "did not hold")}
    n = len(run_verdicts)
    if counts["held"] * 2 > n and counts["did not hold"] == 0:
        return "held", counts
    if counts["did not hold"] * 2 > n:
        return "did not hold", counts
    return "tie", counts


def analyse_checkpoints(data: SweepData, *, n_resamples: int = 1000,
                        confidence: float = 0.95) -> CheckpointAnalysis | None:
    """Every checkpoint number of the report (module docstring); ``None`` without series."""
    runs = run_series(data)
    if not runs:
        return None
    sd_variants = _present(runs, names_with_role("sd"))
    baselines = (TIME, *_present(runs, [b for b in names_with_role("baseline")
                                         if b not in ("lr", "inv_batch_size",
                                                      "lr_over_batch_size", "steps")]))
    others = _present(runs, names_with_role("measure"))
    measures = (*sd_variants, *others, *baselines)
    taus, comparisons, errors, cps = [], [], [], []
    constant: set[tuple[str, str, str]] = set()
    for s in runs:
        for target in TARGETS:
            y = s.column(target)
            for m in measures:
                x = s.column(m)
                ok = np.isfinite(x) & np.isfinite(y)
                if ok.sum() < 3:
                    continue
                xs, ys = x[ok], y[ok]
                ci = block_bootstrap_ci(int(ok.sum()), lambda i, xs=xs, ys=ys:
                                        kendall_tau(xs[i], ys[i]), seed=0,
                                        n_resamples=n_resamples, confidence=confidence)
                taus.append(SeriesTau(s.label, m, target, ci, int(ok.sum())))
            for m in sd_variants:
                cols = {k: s.column(k) for k in (m, *baselines, target)}
                finite = cols[m][np.isfinite(cols[m])]
                if finite.size and is_constant(finite):   # e.g. SD ≡ 0 at every checkpoint
                    constant.add((s.label, m, target))
                    continue
                try:
                    comparisons.append((s.label, paired_series_tau_difference(
                        cols, m, list(baselines), target, seed=0, n_resamples=n_resamples,
                        confidence=confidence)))
                except ValueError as exc:
                    errors.append(f"{s.label}: {m} vs baselines on {target}: {exc}")
        test = s.column("test_acc")
        ok_test = np.isfinite(test)
        if ok_test.sum() >= 3:
            t_epoch = int(s.epochs[ok_test][change_point(test[ok_test])])
            for m in (*measures[: len(sd_variants) + len(others)], *baselines[1:], "train_acc"):
                x = s.column(m)
                ok = np.isfinite(x)
                if ok.sum() < 3 or np.ptp(x[ok]) == 0:
                    continue
                e = int(s.epochs[ok][change_point(x[ok])])
                cps.append(ChangePointRow(s.label, m, e, t_epoch, e - t_epoch))
    verdicts = {}
    for m in sd_variants:
        for target in TARGETS:
            run_v = [d.verdict for _, d in comparisons if d.measure == m and d.target == target]
            n_constant = sum(k[1:] == (m, target) for k in constant)
            if run_v:
                verdicts[(m, target)] = _sweep_verdict(run_v)
            elif n_constant:   # constant in every run: a ranking of nothing
                verdicts[(m, target)] = ("not testable", {"not testable": n_constant})
    names = (*measures, *TARGETS)
    names = tuple(dict.fromkeys(n for n in names if n != TIME))
    mats = []
    for s in runs:
        M = np.full((len(names), len(names)), np.nan)
        for i, a in enumerate(names):
            for j, b in enumerate(names):
                x, y = s.column(a), s.column(b)
                ok = np.isfinite(x) & np.isfinite(y)
                if ok.sum() >= 3:
                    M[i, j] = kendall_tau(x[ok], y[ok])
        mats.append(M)
    with np.errstate(invalid="ignore"):
        stack = np.stack(mats)
        counts = np.isfinite(stack).sum(axis=0)
        matrix = np.where(counts > 0, np.nansum(stack, axis=0) / np.maximum(counts, 1), np.nan)
    return CheckpointAnalysis(
        runs=tuple(runs), delays=tuple(grokking_delay(s) for s in runs),
        sd_variants=sd_variants, baselines=baselines, measures=measures, taus=tuple(taus),
        comparisons=tuple(comparisons), comparison_errors=tuple(errors), verdicts=verdicts,
        change_points=tuple(cps), matrix_names=names, matrix=matrix,
        n_resamples=n_resamples, confidence=confidence)


def checkpoint_table(runs: Sequence[RunSeries]) -> tuple[list[str], list[list[object]]]:
    """``checkpoints.csv``: one row per run × checkpoint — ``run_id, seed, epoch``, the
    accuracies and losses, the targets, then every other recorded measure (blank where not
    recorded)."""
    fixed = ("run_id", "seed", "epoch", *PERFORMANCE, *TARGETS)
    extra = sorted({n for s in runs for n in s.values} - set(fixed))
    header = [*fixed, *extra]
    rows = []
    for s in runs:
        for i, e in enumerate(s.epochs):
            row: list[object] = [s.run_id, s.seed, int(e)]
            for n in (*PERFORMANCE, *TARGETS, *extra):
                v = s.column(n)[i]
                row.append("" if not math.isfinite(v) else repr(float(v)))
            rows.append(row)
    return header, rows
