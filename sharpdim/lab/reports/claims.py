"""The paper's qualitative claims (docs/theory.md §6), checked against a sweep's numbers.

Each claim becomes a :class:`ClaimVerdict`: ``held`` / ``did not hold`` / ``partly held``
(a compound claim with some parts true) / ``not tested`` (the sweep lacks the measures or
checkpoints the claim needs). The rule behind every verdict is stated in ``rule`` and the
numbers it used in ``evidence``, so a reader can disagree with the rule, not the arithmetic.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from sharpdim.lab.evaluation.rule import is_constant
from sharpdim.lab.reports.checkpoint_analysis import MEMORIZED
from sharpdim.lab.reports.kendall_table import KendallRow
from sharpdim.lab.sweeps.registry import names_in_family

__all__ = ["ClaimVerdict", "DKY_COLUMNS", "KENDALL_CLAIMS", "kendall_claims", "grokking_claims",
           "WEAK_TAU"]

# The columns of the trajectory Lyapunov report's results.csv that D_KY ≤ SD compares (the
# sup form: the definition), each with a ``_stderr`` column beside it.
DKY_COLUMNS = ("d_ky", "sd_sup")

WEAK_TAU = 0.3  # |τ| below this is called "weak" (Jiang et al. report |τ| ≲ 0.3 as weak)


@dataclass(frozen=True)
class ClaimVerdict:
    claim: str
    paper: str
    rule: str
    evidence: str
    verdict: str


def _tau(rows: Sequence[KendallRow], measure: str, target: str) -> KendallRow | None:
    return next((r for r in rows if r.measure == measure and r.target == target), None)


def _fmt(r: KendallRow) -> str:
    ci = "" if r.tau_ci is None else f" [{r.tau_ci.low:+.2f}, {r.tau_ci.high:+.2f}]"
    return f"τ({r.measure}) = {r.tau:+.2f}{ci}"


def _not_tested(claim: str, paper: str, rule: str, why: str) -> ClaimVerdict:
    return ClaimVerdict(claim, paper, rule, why, "not tested")


def _claim_sd_strongest(rel: Sequence[KendallRow], target: str, by_optimizer) -> ClaimVerdict:
    claim = "SD has the strongest Kendall correlation with the generalization gap"
    paper = "MNIST MLP, 5×5 (lr, batch) grid: exact SD had the highest τ of all measures"
    rule = ("τ of the best SD variant is positive and strictly above the τ of every other "
            "measure and baseline (a tie does not count; the paired test with intervals is "
            "the section 'Decisive comparison')")
    sd_names = [m for m in names_in_family("sd") if _tau(rel, m, target)]
    if not sd_names or len(rel) < 2:
        return _not_tested(claim, paper, rule, "needs an SD measure and another measure")
    best_sd = max((_tau(rel, m, target) for m in sd_names), key=lambda r: r.tau)
    best_other = max((r for r in rel if r.measure not in names_in_family("sd")),
                     key=lambda r: r.tau, default=None)
    ranked = sorted(rel, key=lambda r: -r.tau)
    evidence = (f"{_fmt(best_sd)}; best non-SD: "
                f"{'none' if best_other is None else _fmt(best_other)}; ranking: "
                + ", ".join(f"{r.measure} {r.tau:+.2f}" for r in ranked))
    held = best_sd.tau > 0 and (best_other is None or best_sd.tau > best_other.tau)
    return ClaimVerdict(claim, paper, rule, evidence, "held" if held else "did not hold")


def _claim_ph_fails(rel: Sequence[KendallRow], target: str, by_optimizer) -> ClaimVerdict:
    claim = "PH dimensions (Euclidean and loss-based) fail to rank the generalization gap"
    paper = "same grid: both PH dimensions had weak or wrong-signed τ"
    rule = (f"each PH-dimension τ is below the best SD τ and weak (|τ| < {WEAK_TAU}) or "
            "negative")
    sd_names = [m for m in names_in_family("sd") if _tau(rel, m, target)]
    ph = [r for r in (_tau(rel, m, target) for m in names_in_family("ph_dim")) if r is not None]
    if not ph or not sd_names:
        return _not_tested(claim, paper, rule, "needs the topology and an SD measure")
    best_sd = max((_tau(rel, m, target) for m in sd_names), key=lambda r: r.tau)
    fails = [r.tau < best_sd.tau and (abs(r.tau) < WEAK_TAU or r.tau < 0) for r in ph]
    verdict = "held" if all(fails) else ("partly held" if any(fails) else "did not hold")
    return ClaimVerdict(claim, paper, rule,
                        "; ".join(_fmt(r) for r in ph) + f"; best SD {_fmt(best_sd)}", verdict)


def _claim_lambda_weak(rel: Sequence[KendallRow], target: str, by_optimizer) -> ClaimVerdict:
    claim = "λ₁ alone is weakly negatively correlated with the generalization gap"
    paper = "same grid: τ(λ₁) small and negative"
    rule = f"τ(λ₁) < 0 (sign) and |τ(λ₁)| < {WEAK_TAU} (weak)"
    lam = next((r for r in (_tau(rel, m, target) for m in names_in_family("lambda"))
                if r is not None), None)
    if lam is None:
        return _not_tested(claim, paper, rule, "needs λ₁")
    parts = [lam.tau < 0, abs(lam.tau) < WEAK_TAU]
    verdict = "held" if all(parts) else ("partly held" if any(parts) else "did not hold")
    return ClaimVerdict(claim, paper, rule, _fmt(lam), verdict)


def _claim_density_beats_classical(rel: Sequence[KendallRow], target: str,
                                   by_optimizer) -> ClaimVerdict:
    claim = "SD-KDE and SD-PS correlate positively; classical sharpness does not"
    paper = ("GPT-2 / WikiText-2 with SGD, momentum SGD, AdamW: SD-KDE and SD-PS the most "
             "consistent positive τ; top eigenvalue and trace not")
    rule = ("τ(SD-KDE) > 0 and τ(SD-PS) > 0, each above τ of the top Hessian eigenvalue and of "
            "the trace" + ("; and, per optimizer, τ(SD-KDE), τ(SD-PS) > 0 (consistency)"
                           if by_optimizer else ""))
    dens = [r for r in (_tau(rel, "sd_kde", target), _tau(rel, "sd_ps", target)) if r]
    classic = [r for r in (_tau(rel, m, target) for m in names_in_family("hessian")) if r]
    if len(dens) < 2 or not classic:
        return _not_tested(claim, paper, rule, "needs sd_kde, sd_ps and the Hessian group")
    cmax = max(r.tau for r in classic)
    parts = [r.tau > 0 and r.tau > cmax for r in dens]
    evidence = "; ".join(_fmt(r) for r in dens + classic)
    if by_optimizer:
        for m in ("sd_kde", "sd_ps"):
            per = by_optimizer.get(m, {})
            parts.append(bool(per) and all(t is not None and t > 0 for t in per.values()))
            evidence += f"; per optimizer τ({m}): " + ", ".join(
                f"{o} {'–' if t is None else f'{t:+.2f}'}" for o, t in per.items())
    verdict = "held" if all(parts) else ("partly held" if any(parts) else "did not hold")
    return ClaimVerdict(claim, paper, rule, evidence, verdict)


def _claim_slq_best_density(rel: Sequence[KendallRow], target: str,
                            by_optimizer) -> ClaimVerdict:
    claim = "SD-SLQ has the best plain τ among the density estimates"
    paper = "5-layer width-200 MLP (SLQ only): SD-SLQ the best τ; Ψ similar across good measures"
    rule = "τ(SD-SLQ) ≥ τ(SD-KDE) and ≥ τ(SD-PS)"
    slq = _tau(rel, "sd_slq", target)
    dens = [r for r in (_tau(rel, "sd_kde", target), _tau(rel, "sd_ps", target)) if r]
    if slq is None or len(dens) < 2:
        return _not_tested(claim, paper, rule, "needs sd_slq, sd_kde and sd_ps")
    held = all(slq.tau >= r.tau for r in dens)
    return ClaimVerdict(claim, paper, rule, "; ".join(_fmt(r) for r in [slq, *dens]),
                        "held" if held else "did not hold")


# One function per claim: adding a claim is adding a function here.
KENDALL_CLAIMS = (_claim_sd_strongest, _claim_ph_fails, _claim_lambda_weak,
                  _claim_density_beats_classical, _claim_slq_best_density)


def kendall_claims(rows: Sequence[KendallRow], *, target: str = "gen_gap",
                   by_optimizer: Mapping[str, Mapping[str, float | None]] | None = None
                   ) -> list[ClaimVerdict]:
    """Claims about rank correlations with the generalization gap, one function each
    (:data:`KENDALL_CLAIMS`). ``by_optimizer`` (``{measure: {optimizer: τ}}``, when the
    optimizer varies) adds the per-optimizer consistency the paper's GPT-2 claim is about.

    Only measures taken on the same runs are compared: those with the largest number of
    records; a measure taken on a subset (exact SD on a few runs of a large network) is left
    out of the claims, and each claim's evidence names it."""
    rel = [r for r in rows if r.target == target]
    n = max((r.n_records for r in rel), default=0)
    subset = [r for r in rel if r.n_records < n]
    rel = [r for r in rel if r.n_records == n]
    out = [claim(rel, target, by_optimizer) for claim in KENDALL_CLAIMS]
    if not subset:
        return out
    note = ("; left out (taken on fewer runs than the other measures, n = "
            f"{n}): " + ", ".join(f"{r.measure} (n = {r.n_records})" for r in subset))
    return [dataclasses.replace(v, evidence=v.evidence + note) for v in out]


def _steps(series: Sequence[tuple[int, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pts = sorted(series)
    e = np.array([p[0] for p in pts], dtype=float)
    v = np.array([p[1] for p in pts], dtype=float)
    return e, v, np.diff(v)


def _sharpest(e: np.ndarray, v: np.ndarray) -> tuple[int, float]:
    """Interval (index ≥ 1: the first interval, the initialization transient, is left out)
    of the largest |Δv|, and that step's share of the range of v after the first interval."""
    d = np.abs(np.diff(v))[1:]
    k = int(np.argmax(d)) + 1
    span = float(np.ptp(v[1:]))
    return k, (float(d[k - 1]) / span if span > 0 else 0.0)


def _smooth_decay(v: np.ndarray) -> tuple[bool, str]:
    """Decays smoothly: ends below its maximum, is nearly monotone after it (total variation
    ≤ 1.2 × the decline) and no single step carries more than half of the decline."""
    peak = int(np.argmax(v))
    tail = v[peak:]
    decline = float(tail[0] - tail[-1])
    if tail.size < 2 or decline <= 0:
        return False, "does not end below its maximum"
    tv = float(np.abs(np.diff(tail)).sum())
    cliff = float(np.max(-np.diff(tail), initial=0.0))
    ok = tv <= 1.2 * decline and cliff <= 0.5 * decline
    return ok, (f"peak at checkpoint {peak}, decline {decline:.3g}, TV/decline = "
                f"{tv / decline:.2f}, largest drop {cliff / decline:.0%} of the decline")


def _memorized_index(train: Sequence[tuple[int, float]], epochs: np.ndarray) -> int:
    """Index in ``epochs`` of the first checkpoint with train accuracy ≥ :data:`MEMORIZED`
    (0 without a train-accuracy series, or when it never gets there, or when that is the last
    checkpoint: then the whole series is searched)."""
    pts = dict(train)
    hit = [i for i, ep in enumerate(epochs[:-1]) if pts.get(int(ep), -1.0) >= MEMORIZED]
    return hit[0] if hit else 0


def grokking_claims(series: Mapping[str, Mapping[str, Sequence[tuple[int, float]]]],
                    *, sd_name: str, lambda_name: str) -> list[ClaimVerdict]:
    """Claims about checkpoint curves, one verdict per run label in ``series``.

    The jump is the checkpoint interval with the largest rise in test accuracy at or after
    memorization (the first checkpoint with train accuracy ≥ :data:`MEMORIZED`; grokking is
    generalization after memorization, and an earlier rise is ordinary learning). The first
    interval (from the initialization, where every measure moves) is left out of the search
    for sharp changes. SD or λ₁ "changes sharply at the jump" when its largest step falls in
    the jump's interval or an adjacent one. Trace or top eigenvalue "decays smoothly" when it
    ends below its maximum, is nearly monotone after it (total variation ≤ 1.2 × the
    decline) and no single step carries more than half of the decline.
    """
    out = []
    paper = ("modular addition mod 97, 2-layer GELU MLP (momentum + weight decay) and 3-layer "
             "ReLU MLP (SGD + weight decay): SD and λ₁ change sharply exactly when test "
             "accuracy jumps; trace and top eigenvalue decay smoothly")
    rule = ("sharp: the largest step of SD / λ₁ after the first interval lies within one "
            "checkpoint interval of the largest test-accuracy rise at or after memorization "
            f"(train accuracy ≥ {MEMORIZED:g}); a constant SD / λ₁ is not testable; smooth "
            "decay: ends below "
            "its maximum, total variation after the peak ≤ 1.2 × the decline, no step > half "
            "the decline")
    for label, per in series.items():
        test = per.get("test_acc", [])
        if len(test) < 4:
            out.append(_not_tested(f"grokking curves ({label})", paper, rule,
                                   "needs at least 4 checkpoints"))
            continue
        e, v, dtest = _steps(test)
        start = _memorized_index(per.get("train_acc", []), e)
        jump = start + int(np.argmax(dtest[start:]))
        ev = [f"steepest test-accuracy rise at epochs {int(e[jump])}→{int(e[jump + 1])} "
              f"(+{dtest[jump]:.2f})"
              + (f", searched from memorization (epoch {int(e[start])})" if start else "")]
        if len(per.get("train_acc", [])) >= 4:
            _, tr, dtr = _steps(per["train_acc"])
            drops = [k for k in range(dtr.size) if dtr[k] < -0.2 and tr[: k + 1].max() >= 0.5]
            if drops:
                ev.append(f"caution: train accuracy fell by more than 0.2 in {len(drops)} "
                          "interval(s) after reaching 0.5 (loss spikes): the steepest test "
                          "rise may be a recovery from an instability, not grokking")
        parts = []
        for name in (sd_name, lambda_name):
            if len(per.get(name, [])) >= 4:
                em, vm, _ = _steps(per[name])
                if is_constant(vm[np.isfinite(vm)]):
                    ev.append(f"{name}: constant over the checkpoints (not testable)")
                    continue
                k, share = _sharpest(em, vm)
                parts.append(abs(k - jump) <= 1)
                ev.append(f"{name}: sharpest change at epochs {int(em[k])}→{int(em[k + 1])} "
                          f"({share:.0%} of its later range) → "
                          f"{'at the jump' if parts[-1] else 'not at the jump'}")
        for name in ("trace", "top_eigenvalue"):
            if len(per.get(name, [])) >= 4:
                _, vm, _ = _steps(per[name])
                ok, text = _smooth_decay(vm)
                parts.append(ok)
                ev.append(f"{name}: {text} → {'smooth decay' if ok else 'not a smooth decay'}")
        if not parts:
            out.append(_not_tested(f"grokking curves ({label})", paper, rule,
                                   "needs SD, λ₁, trace or top eigenvalue at checkpoints"))
            continue
        verdict = "held" if all(parts) else ("partly held" if any(parts) else "did not hold")
        out.append(ClaimVerdict(f"SD/λ₁ jump with test accuracy, trace/top eigenvalue decay "
                                f"smoothly ({label})", paper, rule, "; ".join(ev), verdict))
    return out
