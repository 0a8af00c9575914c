"""Rank correlation between a complexity measure and a generalization target (layer 7).

Jiang et al. (2019, *Fantastic generalization measures and where to find them*) rank trained
models by a measure ``μ`` and by the generalization gap ``g`` and report

* **Kendall's τ** in its *sign* form (τ-a)::

      τ = (1 / C(n, 2)) Σ_{i<j} sign(μ_i − μ_j) · sign(g_i − g_j)

  A tied pair contributes 0 and the denominator is the number of *all* pairs, so ties pull τ
  toward 0 and a constant measure has τ = 0. scipy's default is τ-b, which divides by
  ``sqrt((n₀ − n₁)(n₀ − n₂))`` (pairs untied in each variable) instead: on tied data
  |τ-b| ≥ |τ-a|, and τ-b of a constant is NaN. :func:`kendall_tau_b` exposes scipy's value
  beside ours so the two can be compared; the paper's numbers are τ-a.
* **Granulated coefficients**: for factor ``i`` (a hyperparameter), ``ψ_i`` is the mean,
  over every setting of the *other* factors ("cell"), of τ over the records of that cell
  (where only factor ``i`` varies); ``Ψ`` is the mean of the ``ψ_i``.

Rules where the definition is silent (pinned in ``tests/test_stats.py``):

* A record whose measure or target is missing or non-finite (a diverged run) is **excluded**
  before anything is computed, and counted in ``n_excluded_measure`` / ``n_excluded_target``.
  A record that lacks a factor key is malformed and raises ``ValueError``.
* A cell is **used** when factor ``i`` takes at least two distinct values in it (after the
  exclusions); otherwise it is **skipped** and counted — a single record has no pair, and a
  cell where factor ``i`` does not vary says nothing about factor ``i``. Records that share
  every factor value (seed replicates) stay in their cell and are paired like any others.
* Inside a used cell ties are τ-a ties: they contribute 0, so a constant measure gives
  τ = 0 for that cell, never NaN. Such cells are counted in ``cells_degenerate``.
* ``ψ_i`` is ``None`` when factor ``i`` has no used cell; ``Ψ`` is the mean of the ``ψ_i``
  that are defined (``None`` when none is), and ``factors_without_cells`` names the others.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sharpdim import _validate
from sharpdim.dimension import as_float_array

__all__ = [
    "is_finite_number",
    "kendall_tau",
    "kendall_tau_b",
    "GranulatedKendall",
    "granulated_kendall",
    "BootstrapInterval",
    "bootstrap_ci",
    "VERDICT_RULE",
    "PairedDifference",
    "paired_tau_difference",
    "verdict",
    "accuracy_standard_error",
    "default_block_length",
    "block_bootstrap_ci",
    "bootstrap_standard_error",
    "stratified_indices",
    "nested_indices",
    "SERIES_VERDICT_RULE",
    "paired_series_tau_difference",
    "change_point",
]

_CHUNK = 512  # rows per block of the pairwise sign sum: O(n · _CHUNK) memory


def _ranked_pair(x, y) -> tuple[np.ndarray, np.ndarray]:
    a = as_float_array("x", x)
    b = as_float_array("y", y)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(
            f"x and y must be one-dimensional, got shapes {np.shape(x)} and {np.shape(y)}"
        )
    if a.size != b.size:
        raise ValueError(f"x and y must have the same length, got {a.size} and {b.size}")
    if a.size < 2:
        raise ValueError(f"x and y must hold at least 2 observations (one pair) for Kendall's "
                         f"tau, got {a.size}")
    for name, v in (("x", a), ("y", b)):
        if not np.isfinite(v).all():
            bad = int(np.flatnonzero(~np.isfinite(v))[0])
            raise ValueError(
                f"{name} must be finite, got {v[bad]} at index {bad} "
                "(drop diverged runs first; granulated_kendall does and counts them)"
            )
    return a, b


def _sign_sum(a: np.ndarray, b: np.ndarray) -> int:
    """``Σ_{i<j} sign(a_i − a_j) sign(b_i − b_j)`` exactly, in integers."""
    n = a.size
    total = 0
    for start in range(0, n - 1, _CHUNK):
        rows = slice(start, min(start + _CHUNK, n - 1))
        sa = np.sign(a[rows, None] - a[None, :]).astype(np.int8)
        sb = np.sign(b[rows, None] - b[None, :]).astype(np.int8)
        prod = (sa * sb).astype(np.int64)
        # Keep j > i only: row r (global index i = start + r) contributes columns i+1..n-1.
        total += int(np.triu(prod, k=start + 1).sum())
    return total


def kendall_tau(x, y) -> float:
    """Kendall's τ-a with Jiang et al.'s sign definition (ties count 0, all pairs in the
    denominator): ``τ = Σ_{i<j} sign(x_i − x_j) sign(y_i − y_j) / (n(n − 1)/2)``.

    The numerator is summed exactly in integers. ``x`` and ``y`` must be finite, of equal
    length ``≥ 2``.

    >>> kendall_tau([1, 2, 3], [1, 3, 2])  # pairs: +1, +1, -1
    0.3333333333333333
    >>> kendall_tau([1, 1, 2], [1, 2, 3])  # the tied pair counts 0: (0 + 1 + 1) / 3
    0.6666666666666666
    >>> kendall_tau([5, 5, 5], [1, 2, 3])  # a constant measure: 0, never NaN
    0.0
    """
    a, b = _ranked_pair(x, y)
    n = a.size
    return _sign_sum(a, b) / (n * (n - 1) / 2)


def kendall_tau_b(x, y) -> float:
    """scipy's Kendall τ-b, ``(P − Q) / sqrt((n₀ − n₁)(n₀ − n₂))``: ties removed from the
    denominator. NaN when either variable is constant (scipy's convention). Provided to
    compare with :func:`kendall_tau`; it is *not* the coefficient Jiang et al. define.

    >>> abs(kendall_tau_b([1, 1, 2], [1, 2, 3]) - 2 / 6 ** 0.5) < 1e-15  # 2 / sqrt(2 · 3)
    True
    """
    from scipy.stats import kendalltau

    a, b = _ranked_pair(x, y)
    return float(kendalltau(a, b, variant="b").statistic)


@dataclass(frozen=True)
class GranulatedKendall:
    """Kendall analysis of one measure against one target (see the module docstring).

    ``psi``: ``{factor: ψ_i or None}``; ``Psi``: mean of the defined ``ψ_i`` (``None`` when
    none is); ``tau``: τ-a over all kept records; ``n_records``: records kept;
    ``n_excluded_measure`` / ``n_excluded_target``: records dropped for a missing or
    non-finite measure / target (a record missing both counts under the measure);
    ``cells_used`` / ``cells_skipped`` / ``cells_degenerate``: per factor, the cells averaged,
    the cells skipped (fewer than 2 distinct values of the factor), and the used cells whose
    measure or target is constant (τ = 0 there); ``factors_without_cells``: factors whose
    ``ψ`` is ``None``.
    """

    measure: str
    target: str
    factors: tuple[str, ...]
    psi: Mapping[str, float | None]
    Psi: float | None
    tau: float
    n_records: int
    n_excluded_measure: int
    n_excluded_target: int
    cells_used: Mapping[str, int]
    cells_skipped: Mapping[str, int]
    cells_degenerate: Mapping[str, int]
    factors_without_cells: tuple[str, ...]


def is_finite_number(value: Any) -> bool:
    """Whether a record's value is a finite real number (an ``int`` or ``float``, not a
    ``bool``, not NaN or ±inf): what a value must be to enter a statistic or a figure."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _finite_number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _validated_names(measure: str, target: str, factors: Iterable[str]) -> tuple[str, ...]:
    if isinstance(factors, str):
        raise TypeError(f"factors must be a sequence of key names, got the string {factors!r}")
    names = tuple(factors)
    if not names:
        raise ValueError("factors must name at least one hyperparameter, got none")
    if len(set(names)) != len(names):
        raise ValueError(f"factors must be distinct, got {names}")
    for key in (measure, target):
        if key in names:
            raise ValueError(f"{key!r} is the measure or target and cannot also be a factor")
    if measure == target:
        raise ValueError(f"measure and target must differ, got {measure!r} for both")
    return names


def granulated_kendall(
    records: Sequence[Mapping[str, Any]],
    measure: str,
    target: str,
    factors: Sequence[str],
) -> GranulatedKendall:
    """Overall τ-a and Jiang et al.'s granulated coefficients ``ψ_i`` and ``Ψ``.

    ``ψ_i = mean over cells c of τ-a(μ, g on the records of c)``, where a cell is one setting
    of every factor except ``i``; ``Ψ = mean_i ψ_i``. Exclusion, skipping and tie rules are
    in the module docstring; every count is in the result.

    >>> runs = [{"lr": lr, "bs": bs, "sd": lr / bs, "gap": 2 * lr / bs}
    ...         for lr in (0.1, 0.2) for bs in (32, 64)]
    >>> g = granulated_kendall(runs, "sd", "gap", ["lr", "bs"])
    >>> g.psi, g.Psi  # each cell is a perfectly concordant pair
    ({'lr': 1.0, 'bs': 1.0}, 1.0)
    >>> g.tau  # overall: sd(0.1, 32) = sd(0.2, 64) is a tied pair and counts 0 -> 5/6
    0.8333333333333334
    """
    names = _validated_names(measure, target, factors)
    if isinstance(records, str | bytes | Mapping) or not isinstance(records, Iterable):
        raise TypeError(f"records must be a sequence of mappings (one per run), got "
                        f"{type(records).__name__}")
    kept: list[tuple[tuple[Any, ...], float, float]] = []
    excluded_measure = excluded_target = 0
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise TypeError(f"records[{index}] must be a mapping, got {type(record).__name__}")
        missing = [f for f in names if f not in record]
        if missing:
            raise ValueError(
                f"records[{index}] lacks factor {missing[0]!r}; every record needs "
                f"all factors {names}"
            )
        mu = _finite_number(record.get(measure))
        if mu is None:
            excluded_measure += 1
            continue
        g = _finite_number(record.get(target))
        if g is None:
            excluded_target += 1
            continue
        kept.append((tuple(record[f] for f in names), mu, g))
    if len(kept) < 2:
        raise ValueError(
            f"granulated_kendall needs at least 2 records with a finite {measure!r} and "
            f"{target!r}, got {len(kept)} ({excluded_measure} excluded for the measure, "
            f"{excluded_target} for the target)"
        )
    mus = np.array([k[1] for k in kept])
    gaps = np.array([k[2] for k in kept])
    psi: dict[str, float | None] = {}
    used: dict[str, int] = {}
    skipped: dict[str, int] = {}
    degenerate: dict[str, int] = {}
    for i, name in enumerate(names):
        cells: dict[tuple[Any, ...], list[int]] = {}
        for row, (setting, _, _) in enumerate(kept):
            cells.setdefault(setting[:i] + setting[i + 1 :], []).append(row)
        taus = []
        skipped[name] = degenerate[name] = 0
        for rows in cells.values():
            if len({kept[r][0][i] for r in rows}) < 2:
                skipped[name] += 1
                continue
            m, t = mus[rows], gaps[rows]
            if np.all(m == m[0]) or np.all(t == t[0]):
                degenerate[name] += 1
            taus.append(kendall_tau(m, t))
        used[name] = len(taus)
        psi[name] = float(np.mean(taus)) if taus else None
    defined = [v for v in psi.values() if v is not None]
    return GranulatedKendall(
        measure=measure,
        target=target,
        factors=names,
        psi=psi,
        Psi=float(np.mean(defined)) if defined else None,
        tau=kendall_tau(mus, gaps),
        n_records=len(kept),
        n_excluded_measure=excluded_measure,
        n_excluded_target=excluded_target,
        cells_used=used,
        cells_skipped=skipped,
        cells_degenerate=degenerate,
        factors_without_cells=tuple(n for n, v in psi.items() if v is None),
    )


@dataclass(frozen=True)
class BootstrapInterval:
    """Percentile bootstrap interval of a statistic of the records.

    ``estimate``: the statistic on the original records; ``low``/``high``: the
    ``(1 − confidence)/2`` and ``(1 + confidence)/2`` quantiles (numpy's linear
    interpolation) of the resampled statistics; ``n_resamples``: resamples drawn;
    ``n_failed``: resamples whose statistic was ``None`` or non-finite (left out of the
    quantiles); ``seed``: the generator seed; ``strata``: number of groups resampled within
    (1 for a plain bootstrap); ``single_replicate_strata``: groups with one record, which
    every resample copies unchanged (they contribute no seed variability).
    """

    estimate: float
    low: float
    high: float
    confidence: float
    n_resamples: int
    n_failed: int
    seed: int
    strata: int
    single_replicate_strata: int
    method: str = "percentile"


def _statistic_value(value: Any) -> float | None:
    if isinstance(value, GranulatedKendall):
        raise TypeError(
            "statistic must return a number; pick a field, e.g. lambda r: "
            "granulated_kendall(r, ...).Psi"
        )
    return _finite_number(value)


def stratified_indices(rng: np.random.Generator, members: Sequence[np.ndarray]) -> np.ndarray:
    """One stratified bootstrap resample — the package's one: within every group of record
    indices, as many draws as it has, with replacement, groups in order.

    >>> stratified_indices(np.random.default_rng(0), [np.array([0, 1]), np.array([2])]).size
    3
    """
    return np.concatenate([rng.choice(g, size=g.size, replace=True) for g in members])


def nested_indices(rng: np.random.Generator, members: Sequence[np.ndarray]) -> np.ndarray:
    """One two-stage resample: groups (configurations) drawn with replacement, then within each
    drawn group as many records as it has — the interval over configurations and seeds."""
    picked = rng.integers(len(members), size=len(members))
    return np.concatenate([rng.choice(members[p], members[p].size) for p in picked])


def bootstrap_standard_error(values: np.ndarray, statistic: Callable[[np.ndarray], float], *,
                             axis: int, rng: np.random.Generator,
                             n_resamples: int = 200) -> float:
    """Bootstrap standard error of ``statistic(values)``: the sample standard deviation of the
    statistic over ``n_resamples`` i.i.d. resamples of ``values`` along ``axis`` (with
    replacement, draws from ``rng``). With fewer than 2 entries along ``axis`` no resample
    differs from the data and a standard error is undefined: the value is NaN, by definition
    and documented, not a failure.

    >>> x = np.arange(10.0)
    >>> se = bootstrap_standard_error(x, np.mean, axis=0, rng=np.random.default_rng(0))
    >>> 0.5 < se < 1.5          # σ/√n = 2.87/√10 ≈ 0.91
    True
    """
    size = values.shape[axis]
    if size < 2:
        return float("nan")
    draws = [statistic(np.take(values, rng.integers(0, size, size), axis=axis))
             for _ in range(n_resamples)]
    return float(np.std(draws, ddof=1))


def _resampled_values(draw: Callable[[], Any], n_resamples: int) -> list[float]:
    """The finite values of ``n_resamples`` calls of ``draw`` (a statistic of one resample);
    an error when none is finite — never a silent NaN interval."""
    values = [v for v in (_statistic_value(draw()) for _ in range(int(n_resamples)))
              if v is not None]
    if not values:
        raise ValueError(
            f"statistic was None or non-finite on all {n_resamples} resamples; no interval")
    return values


def _percentile_interval(values: Sequence[float], confidence: float) -> tuple[float, float]:
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(np.asarray(values), [alpha, 1.0 - alpha])
    return float(low), float(high)


def bootstrap_ci(
    records: Sequence[Mapping[str, Any]],
    statistic: Callable[[list[Mapping[str, Any]]], float | None],
    *,
    seed: int,
    group_by: Sequence[str] = (),
    n_resamples: int = 1000,
    confidence: float = 0.95,
) -> BootstrapInterval:
    """Percentile bootstrap over training seeds.

    Records are grouped by their values of ``group_by`` (normally the hyperparameter
    factors, so a group holds the seed replicates of one configuration); each resample draws,
    within every group, as many records as it has, with replacement. The grid design is kept
    intact, so granulated cells never lose a factor value. With ``group_by=()`` it is the
    ordinary bootstrap over all records. Randomness comes only from
    ``np.random.default_rng(seed)``.

    Caveat for τ-a: a resample repeats records, a repeated pair is tied, and τ-a scores it
    0, so resampled τ-a values lean toward 0 and the interval can lie below a perfect
    estimate (as below). Read the interval as the spread due to seeds, not a centred one.

    >>> runs = [{"lr": lr, "seed": s, "sd": lr + 0.01 * s, "gap": lr + 0.02 * s}
    ...         for lr in (0.1, 0.2, 0.3) for s in range(3)]
    >>> ci = bootstrap_ci(runs, lambda r: granulated_kendall(r, "sd", "gap", ["lr"]).tau,
    ...                   seed=0, group_by=["lr"], n_resamples=200)
    >>> ci.estimate, ci.n_resamples, ci.strata, ci.n_failed, ci.low <= ci.high < 1.0
    (1.0, 200, 3, 0, True)
    """
    _validate.integer("seed", seed, minimum=0)
    _validate.integer("n_resamples", n_resamples, minimum=1)
    _validate.fraction("confidence", confidence)
    if isinstance(group_by, str):
        raise TypeError(f"group_by must be a sequence of key names, got the string {group_by!r}")
    rows = list(records)
    if not rows:
        raise ValueError("records must be non-empty, got none")
    keys = tuple(group_by)
    groups: dict[tuple[Any, ...], list[int]] = {}
    for index, record in enumerate(rows):
        missing = [k for k in keys if k not in record]
        if missing:
            raise ValueError(f"records[{index}] lacks group_by key {missing[0]!r}")
        groups.setdefault(tuple(record[k] for k in keys), []).append(index)
    estimate = _statistic_value(statistic(rows))
    if estimate is None:
        raise ValueError("statistic of the original records is None or non-finite")
    rng = np.random.default_rng(int(seed))
    members = [np.asarray(g) for g in groups.values()]
    values = _resampled_values(
        lambda: statistic([rows[i] for i in stratified_indices(rng, members)]), n_resamples)
    low, high = _percentile_interval(values, confidence)
    return BootstrapInterval(
        estimate=estimate,
        low=float(low),
        high=float(high),
        confidence=float(confidence),
        n_resamples=int(n_resamples),
        n_failed=int(n_resamples) - len(values),
        seed=int(seed),
        strata=len(members),
        single_replicate_strata=sum(g.size == 1 for g in members),
    )


VERDICT_RULE = (
    "For each SD variant, d = τ(SD, gap) − s·τ(best baseline, gap), the best baseline being "
    "the baseline with the largest |τ| on all runs and s the sign of its τ (chosen once, "
    "before resampling: a baseline may predict the gap in either direction, SD must predict "
    "it with the paper's sign, positive); the 95 % "
    "interval of d is a seed-stratified percentile bootstrap (seeds resampled within each "
    "configuration; both τ on the same resample: a paired difference). Verdict: **held** "
    "when the whole interval is above 0, **did not hold** when it is below 0, **tie** when "
    "it covers 0."
)


def verdict(low: float, high: float) -> str:
    """``"held"`` when ``low > 0``, ``"did not hold"`` when ``high < 0``, else ``"tie"``
    (the interval covers 0; see :data:`VERDICT_RULE`).

    >>> verdict(0.01, 0.3), verdict(-0.2, 0.1), verdict(-0.4, -0.05), verdict(0.0, 0.0)
    ('held', 'tie', 'did not hold', 'tie')
    """
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise ValueError(f"need finite low <= high, got low={low!r}, high={high!r}")
    if low > 0:
        return "held"
    if high < 0:
        return "did not hold"
    return "tie"


@dataclass(frozen=True)
class PairedDifference:
    """``τ(measure, target) − s·τ(baseline, target)`` on the same records, with a bootstrap
    interval in which both τ are computed on each resample (paired). ``baseline`` is the
    best baseline (largest ``|τ|`` on the original records) among ``candidates`` and
    ``sign`` (s) the sign of its τ; ``verdict`` applies :func:`verdict` to the interval."""

    measure: str
    baseline: str
    target: str
    tau_measure: float
    tau_baseline: float
    difference: float
    interval: BootstrapInterval
    verdict: str
    candidates: Mapping[str, float]
    sign: int = 1


def paired_tau_difference(
    records: Sequence[Mapping[str, Any]],
    measure: str,
    baselines: Sequence[str],
    target: str,
    *,
    group_by: Sequence[str],
    seed: int,
    n_resamples: int = 1000,
    confidence: float = 0.95,
) -> PairedDifference:
    """Paired difference of Kendall τ-a between ``measure`` and the best of ``baselines``,
    oriented by the sign of its τ (see :data:`VERDICT_RULE`). Records missing any of the
    compared values (or the target) are dropped first, so both τ use the same runs.
    ``group_by``: the factors (seeds are resampled within each of their settings).

    >>> runs = [{"lr": lr, "seed": s, "sd": lr + s / 10, "eta": lr, "gap": lr + s / 10}
    ...         for lr in (1, 2, 3) for s in range(3)]
    >>> d = paired_tau_difference(runs, "sd", ["eta"], "gap", group_by=["lr"], seed=0,
    ...                           n_resamples=200)
    >>> d.baseline, round(d.difference, 4), d.verdict  # η ties inside an lr: τ = 27/36
    ('eta', 0.25, 'held')
    """
    if isinstance(baselines, str) or not baselines:
        raise ValueError(f"baselines must be a non-empty sequence of names, got {baselines!r}")
    names = [measure, *baselines, target]
    rows = [r for r in records if all(_finite_number(r.get(k)) is not None for k in names)]
    if len(rows) < 3:
        raise ValueError(f"paired_tau_difference needs at least 3 records with finite "
                         f"{names}, got {len(rows)}")
    settings = Counter(tuple(r.get(k) for k in group_by) for r in rows)
    if group_by and max(settings.values()) < 2:
        # seeds are resampled within a setting: with one record in each, every resample is
        # the data itself and the "interval" is a point, which a verdict must not read
        raise ValueError(f"paired_tau_difference needs two or more records (seeds) in some "
                         f"setting of {list(group_by)} to resample, got one record in each of "
                         f"{len(settings)} settings")

    def tau(rs, m):
        return kendall_tau([r[m] for r in rs], [r[target] for r in rs])

    candidates = {b: tau(rows, b) for b in baselines}
    best = max(candidates, key=lambda b: (abs(candidates[b]), -list(baselines).index(b)))
    sign = -1 if candidates[best] < 0 else 1

    def stat(rs):
        try:
            return tau(rs, measure) - sign * tau(rs, best)
        except ValueError:
            return None

    ci = bootstrap_ci(rows, stat, seed=seed, group_by=group_by, n_resamples=n_resamples,
                      confidence=confidence)
    return PairedDifference(measure=measure, baseline=best, target=target,
                            tau_measure=tau(rows, measure), tau_baseline=candidates[best],
                            difference=ci.estimate, interval=ci,
                            verdict=verdict(ci.low, ci.high), candidates=candidates,
                            sign=sign)


def accuracy_standard_error(p: float, n: int) -> float:
    """Binomial standard error of an accuracy ``p`` measured on ``n`` examples,
    ``√(p(1 − p)/n)``.

    >>> accuracy_standard_error(0.9, 100)
    0.03
    """
    p = _validate.real("p", p, minimum=0, maximum=1)
    n = _validate.integer("n", n, minimum=1)
    return math.sqrt(p * (1 - p) / n)


# -- across the checkpoints of one run: an autocorrelated series ------------------------------


def default_block_length(n: int) -> int:
    """``max(1, round(n^(1/3)))``: the order of the block length that minimises the error of
    a moving-block bootstrap variance for a smooth statistic (Hall, Horowitz & Jing 1995; Künsch
    1989) — the constant is not tuned here.

    >>> default_block_length(101), default_block_length(8), default_block_length(1)
    (5, 2, 1)
    """
    n = _validate.integer("n", n, minimum=1)
    return max(1, int(round(n ** (1.0 / 3.0))))


def block_bootstrap_ci(
    n: int,
    statistic: Callable[[np.ndarray], float | None],
    *,
    seed: int,
    block_length: int | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
) -> BootstrapInterval:
    """Moving-block percentile bootstrap of ``statistic(indices)`` over a series of length
    ``n`` (Künsch 1989): each resample concatenates ``⌈n/ℓ⌉`` blocks of ``ℓ`` consecutive
    indices, starts drawn uniformly from ``0 … n − ℓ``, cut to length ``n``. Keeping runs of
    neighbours together keeps the short-range dependence of successive checkpoints, which an
    i.i.d. bootstrap would destroy (it treats a smooth curve's 100 points as 100 independent
    draws and gives intervals that are too narrow). It does not remove a common trend: two
    measures that both drift with training time stay correlated. ``statistic`` receives the
    index array of the original series (``np.arange(n)``) first; ``ℓ`` defaults to
    :func:`default_block_length`.

    >>> x = np.arange(30.0)
    >>> ci = block_bootstrap_ci(30, lambda i: kendall_tau(x[i], 2 * x[i]), seed=0,
    ...                         n_resamples=100)
    >>> ci.estimate, ci.high <= 1.0, ci.method
    (1.0, True, 'moving block, length 3')
    """
    n = _validate.integer("n", n, minimum=2)
    ell = default_block_length(n) if block_length is None else block_length
    ell = _validate.integer("block_length", ell, minimum=1, maximum=n)
    _validate.integer("seed", seed, minimum=0)
    _validate.integer("n_resamples", n_resamples, minimum=1)
    _validate.fraction("confidence", confidence)
    estimate = _statistic_value(statistic(np.arange(n)))
    if estimate is None:
        raise ValueError("statistic of the original series is None or non-finite")
    rng = np.random.default_rng(int(seed))
    n_blocks = -(-int(n) // int(ell))
    offsets = np.arange(int(ell))

    def one() -> float | None:
        starts = rng.integers(0, int(n) - int(ell) + 1, size=n_blocks)
        return statistic((starts[:, None] + offsets[None, :]).reshape(-1)[: int(n)])

    values = _resampled_values(one, n_resamples)
    low, high = _percentile_interval(values, confidence)
    return BootstrapInterval(estimate=estimate, low=float(low), high=float(high),
                             confidence=float(confidence), n_resamples=int(n_resamples),
                             n_failed=int(n_resamples) - len(values), seed=int(seed), strata=1,
                             single_replicate_strata=0, method=f"moving block, length {ell}")


SERIES_VERDICT_RULE = (
    "Within one run, over its checkpoints: d = τ(SD, gap) − s·τ(best baseline, gap), the best "
    "baseline being the one with the largest |τ| over that run's checkpoints and s the sign "
    "of its τ (chosen once, before resampling); the 95 % interval of d is a moving-block "
    "bootstrap over checkpoints (blocks of round(n^(1/3)) consecutive checkpoints; both τ on the "
    "same resample). Run verdict: **held** when the interval is above 0, **did not hold** "
    "when below, **tie** when it covers 0."
)


def paired_series_tau_difference(
    series: Mapping[str, Sequence[float]],
    measure: str,
    baselines: Sequence[str],
    target: str,
    *,
    seed: int,
    block_length: int | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
) -> PairedDifference:
    """:func:`paired_tau_difference` for the checkpoints of one run: ``series`` maps names to
    aligned values (one per checkpoint; a checkpoint missing any compared value is dropped
    first) and the interval is :func:`block_bootstrap_ci` (see :data:`SERIES_VERDICT_RULE`).

    >>> t = np.arange(40.0)
    >>> s = {"sd": t, "epoch": -t, "gap": t + np.sin(t)}
    >>> d = paired_series_tau_difference(s, "sd", ["epoch"], "gap", seed=0, n_resamples=200)
    >>> d.baseline, d.sign, round(d.difference, 6), d.verdict   # |τ| equal: nothing to choose
    ('epoch', -1, 0.0, 'tie')
    """
    if isinstance(baselines, str) or not baselines:
        raise ValueError(f"baselines must be a non-empty sequence of names, got {baselines!r}")
    names = [measure, *baselines, target]
    missing = [k for k in names if k not in series]
    if missing:
        raise ValueError(f"series lacks {missing}; it has {sorted(series)}")
    cols = {k: np.asarray(series[k], dtype=np.float64) for k in names}
    lengths = {k: v.size for k, v in cols.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"series must be aligned (one value per checkpoint), got lengths "
                         f"{lengths}")
    keep = np.logical_and.reduce([np.isfinite(v) for v in cols.values()])
    cols = {k: v[keep] for k, v in cols.items()}
    n = int(keep.sum())
    if n < 3:
        raise ValueError(f"paired_series_tau_difference needs at least 3 checkpoints with "
                         f"finite {names}, got {n}")

    def tau(i, m):
        return kendall_tau(cols[m][i], cols[target][i])

    every = np.arange(n)
    candidates = {b: tau(every, b) for b in baselines}
    best = max(candidates, key=lambda b: (abs(candidates[b]), -list(baselines).index(b)))
    sign = -1 if candidates[best] < 0 else 1
    ci = block_bootstrap_ci(n, lambda i: tau(i, measure) - sign * tau(i, best), seed=seed,
                            block_length=block_length, n_resamples=n_resamples,
                            confidence=confidence)
    return PairedDifference(measure=measure, baseline=best, target=target,
                            tau_measure=tau(every, measure), tau_baseline=candidates[best],
                            difference=ci.estimate, interval=ci,
                            verdict=verdict(ci.low, ci.high), candidates=candidates, sign=sign)


def change_point(values: Sequence[float]) -> int:
    """Index ``k`` (``1 ≤ k ≤ n − 1``) of the single change in mean that fits ``values`` best
    in least squares: ``argmin_k`` of the residual sum of squares of the two-segment constant
    fit ``values[:k]``, ``values[k:]`` (equivalently the maximum of the CUSUM statistic
    ``k(n − k)/n · (mean_left − mean_right)²``; Hinkley 1970). For a sigmoid-like rise it is the
    middle of the rise. Ties take the first ``k``.

    >>> change_point([0, 0, 0, 1, 1])
    3
    >>> change_point([0.0, 0.1, 0.2, 5.0, 5.1, 5.2])
    3
    """
    v = as_float_array("values", values)
    if v.ndim != 1 or v.size < 2:
        raise ValueError(f"values must be a 1-D sequence of at least 2 numbers, got shape "
                         f"{v.shape}")
    if not np.isfinite(v).all():
        raise ValueError("values must be finite")
    n = v.size
    k = np.arange(1, n)
    left = np.cumsum(v)[:-1] / k
    right = (v.sum() - np.cumsum(v)[:-1]) / (n - k)
    gain = k * (n - k) / n * (left - right) ** 2
    return int(np.argmax(gain)) + 1
