"""``sharpdim bench adoption``: the cost plan's accuracy and the monitor's overhead.

* **Plan ÷ measured** — ``estimate_sharpness(..., dry_run=True).seconds`` against the wall
  time of the same call, on the bench MLPs (:mod:`sharpdim.lab.bench.curvature`): exact at 1k
  and 5k parameters, SLQ at 13k and 280k. Goal: within ±30 % (ratio in [0.7, 1.3]).
* **Monitor share** — a plain SGD loop on the 13k MLP (batch 32), timed with and without
  :class:`~sharpdim.monitor.SharpnessMonitor` at its defaults (``every=100``, SLQ, budget
  0.1); the figure is ``(t_with − t_without) / t_with``. Goal: ≤ 10 %.

Timings are the least of ``repeats`` interleaved runs, on one thread.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sharpdim.estimators.estimate import estimate_sharpness
from sharpdim.estimators.options import EstimateOptions
from sharpdim.lab.bench.curvature import (
    EXACT_WIDTHS,
    LARGE_WIDTHS,
    SMALL_WIDTHS,
    mlp,
    synthetic_classification,
)
from sharpdim.monitor import SharpnessMonitor

__all__ = ["AdoptionRow", "bench_adoption", "render_adoption_markdown"]

PLAN_CASES = (("1k", EXACT_WIDTHS["1k"], "exact", 4), ("5k", EXACT_WIDTHS["5k"], "exact", 1),
              ("13k", SMALL_WIDTHS, "slq", 20), ("280k", LARGE_WIDTHS, "slq", 4))


@dataclass(frozen=True)
class AdoptionRow:
    """One figure: ``value`` of ``quantity`` on ``model`` with its goal and whether met."""

    quantity: str
    model: str
    value: float
    detail: str
    goal: str
    met: bool


def _plan_row(name, widths, method, n_batches, x, y, repeats) -> AdoptionRow:
    model = mlp(widths, seed=0)
    kw = dict(lr=0.1, batch_size=128, method=method, n_batches=n_batches, seed=0,
              options=EstimateOptions(n_steps=None if method == "exact" else 50,
                                      progress=False))
    plans, times = [], []
    for _ in range(repeats):
        plans.append(estimate_sharpness(model, F.cross_entropy, (x, y), dry_run=True, **kw))
        t = time.perf_counter()
        estimate_sharpness(model, F.cross_entropy, (x, y), **kw)
        times.append(time.perf_counter() - t)
    plan, measured = min(plans, key=lambda p: p.seconds), min(times)
    ratio = plan.seconds / measured
    return AdoptionRow("predicted ÷ measured seconds", f"{name} MLP ({plan.n_params:,})",
                       ratio, f"{method}, {plan.n_hvp} HVPs: {plan.seconds:.3g} s predicted, "
                       f"{measured:.3g} s measured", "in [0.7, 1.3]", 0.7 <= ratio <= 1.3)


def _loop(model, x, y, steps, monitor):
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    gen = torch.Generator().manual_seed(0)
    t = time.perf_counter()
    for _ in range(steps):
        idx = torch.randint(0, x.shape[0], (32,), generator=gen)
        opt.zero_grad()
        F.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
        if monitor is not None:
            monitor.step(model, F.cross_entropy, (x, y), optimizer=opt, batch_size=32)
    return time.perf_counter() - t


def _monitor_row(x, y, steps, repeats) -> AdoptionRow:
    plain, watched, measured = [], [], 0
    for _ in range(repeats):
        plain.append(_loop(mlp(SMALL_WIDTHS, seed=0), x, y, steps, None))
        monitor = SharpnessMonitor(seed=0)
        watched.append(_loop(mlp(SMALL_WIDTHS, seed=0), x, y, steps, monitor))
        measured = sum(r["skipped"] is None for r in monitor.records)
    share = (min(watched) - min(plain)) / min(watched)
    return AdoptionRow("monitor share of training time", f"13k MLP ({steps} SGD steps)", share,
                       f"{min(plain):.3g} s without, {min(watched):.3g} s with; "
                       f"{measured} of {steps // 100 + 1} due measurements ran",
                       "≤ 0.10", share <= 0.10)


def bench_adoption(*, n_examples: int = 2048, repeats: int = 2, steps: int = 10000,
                   cases=PLAN_CASES) -> list[AdoptionRow]:
    """Every row of the suite (module docstring)."""
    x, y = synthetic_classification(n_examples, seed=0)
    rows = [_plan_row(*case, x, y, repeats) for case in cases]
    rows.append(_monitor_row(x, y, steps, repeats))
    return rows


def render_adoption_markdown(rows: list[AdoptionRow]) -> str:
    """The ``## Adoption`` section of reports/benchmarks.md."""
    lines = ["## Adoption: the cost plan and the monitor (`sharpdim bench adoption`)", "",
             "`dry_run=True` predicts an estimate's seconds from a few timed products and "
             "eigensolver probes; the monitor's share is its added time over the loop's total "
             "at its defaults. Least of interleaved repeats, one thread.", "",
             "| quantity | model | value | detail | goal | met |", "|---|---|---:|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.quantity} | {r.model} | {r.value:.3g} | {r.detail} | {r.goal} | "
                     f"{'yes' if r.met else '**no**'} |")
    return "\n".join(lines)
