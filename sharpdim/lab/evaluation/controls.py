"""Controls of the rule (:mod:`sharpdim.lab.evaluation.rule`): can it say "held", and how often does
it say so by chance?

* **Held-out oracle** (positive, realistic): the gap measured on a held-out 20 % of the training
  distribution (never trained on, never the test set), judged like any measure; a sound rule
  must say it "holds".
* **Power curve** (positive): the true gap plus Gaussian noise of ``k`` standard errors,
  ``k ∈ {0.5, 1, 2, 4}``, seeded; the largest ``k`` still "held" is the sweep's resolving power.
* **Null**: the measure permuted across configurations inside each seed block (the seed index
  and the multiset of values kept, every link to configuration and gap broken), ``≥ 200``
  permutations; the share judged "held" estimates the false-positive rate, which must be
  ``≤ 2.5 %`` (the rule's one-sided error at a 95 % two-sided interval).

A sweep whose positive controls fail *cannot decide*: its verdicts say so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from sharpdim.lab.evaluation.records import column
from sharpdim.lab.evaluation.rule import RuleResult, draw_resamples, paired_rule

__all__ = ["POWER_KS", "NULL_MAX_RATE", "NullControl", "power_curve", "null_control"]

POWER_KS = (0.5, 1.0, 2.0, 4.0)
NULL_MAX_RATE = 0.025


def power_curve(rows: Sequence[Mapping], target: str, target_se: str,
                competitors: Mapping[str, int], resamples, *, seed: int,
                ks: Sequence[float] = POWER_KS) -> list[tuple[float, RuleResult]]:
    """The rule on ``gap + N(0, (k·se)²)`` for each ``k`` (one generator, seeded, drawn in the
    order of ``ks``)."""
    g, se = column(rows, target), column(rows, target_se)
    rng = np.random.default_rng(seed)
    out = []
    for k in ks:
        noisy = g + rng.normal(0.0, 1.0, g.size) * (k * se)
        out.append((float(k), paired_rule(rows, noisy, target, competitors, resamples,
                                          name=f"gap + N(0, ({k:g}·se)²)")))
    return out


@dataclass(frozen=True)
class NullControl:
    """``rate`` of "held" over ``n_permutations`` permutations of ``measure`` (seeded by
    ``seed``; ``n_resamples`` bootstrap sets per verdict, shared by the permutations)."""

    measure: str
    rate: float
    n_held: int
    n_permutations: int
    n_resamples: int
    seed: int

    @property
    def passed(self) -> bool:
        return self.rate <= NULL_MAX_RATE


def _seed_blocks(rows, seed_key) -> list[np.ndarray]:
    blocks: dict = {}
    for i, r in enumerate(rows):
        blocks.setdefault(r[seed_key], []).append(i)
    return [np.asarray(b) for b in blocks.values()]


def null_control(rows: Sequence[Mapping], measure: str, target: str,
                 competitors: Mapping[str, int], hyperparameters: Sequence[str], *,
                 seed: int, seed_key: str = "seed", n_permutations: int = 200,
                 n_resamples: int = 200) -> NullControl:
    """Permute ``measure`` across configurations within each seed block and judge each
    permutation by the rule (module docstring)."""
    if n_permutations < 200:
        raise ValueError(f"n_permutations must be >= 200 for a 2.5 % rate, got {n_permutations}")
    m = column(rows, measure)
    rng = np.random.default_rng(seed)
    resamples = draw_resamples(rows, hyperparameters, seed=seed, n_resamples=n_resamples,
                               seed_only=False)
    blocks = _seed_blocks(rows, seed_key)
    held = 0
    for _ in range(n_permutations):
        permuted = m.copy()
        for b in blocks:
            permuted[b] = m[rng.permutation(b)]
        held += paired_rule(rows, permuted, target, competitors, resamples).verdict == "held"
    return NullControl(measure, held / n_permutations, held, n_permutations, n_resamples,
                       int(seed))
