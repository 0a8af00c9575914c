"""``sharpdim bench training``: the sweep trainer against a bare PyTorch loop, and the cost of
tracking λ_max along training.

* **Trainer ÷ bare loop** — :func:`~sharpdim.lab.sweeps.training.train`, full-batch GD with
  the loss-only stopping rule (``stop="train_loss"``, a target no run reaches, so every run
  makes the same number of steps), on the paper's 12,960-parameter network (784 → 16 → 16 →
  10 ReLU, no bias) and 1,000 synthetic 784-feature examples, squared error to one-hot
  targets — the fashion_gd_eos setting. Against a bare loop that does the same work
  (forward, loss, ``zero_grad``, backward, ``SGD.step``, and the stopping rule's no-grad
  forward over the training set after every epoch) and against one without the stopping
  rule, which shows what the rule costs, and against one that also shuffles as the trainer
  does (a full batch is still drawn in a random order and gathered: kept, so that the
  committed full-batch sweeps stay reproducible step for step). Goal: ≤ 1.15 against the
  same work.
* **Tracking share** — the recorded phase times of a committed sweep file
  (``timings``: checkpoint measures ÷ training), i.e. what λ_max tracking cost in the sweep
  itself.

Timings are the least of ``repeats`` interleaved runs, on one thread.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from sharpdim.lab.provenance import repository_root
from sharpdim.lab.sweeps.data import Dataset
from sharpdim.lab.sweeps.models import mlp
from sharpdim.lab.sweeps.tasks import mse_onehot
from sharpdim.lab.sweeps.training import TrainSettings, evaluate, train

__all__ = ["TrainingRow", "bench_training", "render_training_markdown", "tracking_share"]

LR = 0.05  # a step size of the fashion_gd_eos grid


@dataclass(frozen=True)
class TrainingRow:
    """One figure: ``value`` of ``quantity`` with its detail, goal and whether met."""

    quantity: str
    setting: str
    value: float
    detail: str
    goal: str
    met: bool | None


def _data(n: int, seed: int = 0) -> Dataset:
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 784, generator=gen)
    y = torch.randint(0, 10, (n,), generator=gen)
    return Dataset(x, y, x[:10], y[:10], 10)


def _trainer(data: Dataset, steps: int) -> float:
    model = mlp(784, 16, 3, 10, seed=0)
    settings = TrainSettings(lr=LR, batch_size=data.n_train, epochs=steps, stop="train_loss",
                             target_loss=1e-12)
    t = time.perf_counter()
    result = train(model, data, settings, mse_onehot, seed=0)
    seconds = time.perf_counter() - t
    if result.steps != steps:
        raise RuntimeError(f"the trainer must make {steps} steps, made {result.steps}")
    return seconds


def _bare(data: Dataset, steps: int, *, stopping_rule: bool, shuffle: bool = False) -> float:
    model = mlp(784, 16, 3, 10, seed=0)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    x, y, n = data.x_train, data.y_train, data.n_train
    gen = torch.Generator().manual_seed(0)
    t = time.perf_counter()
    for _ in range(steps):
        if shuffle:
            idx = torch.randperm(n, generator=gen)
            loss = mse_onehot(model(x[idx]), y[idx])
        else:
            loss = mse_onehot(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if stopping_rule:
            evaluate(model, x, y, mse_onehot)
    return time.perf_counter() - t


def tracking_share(sweep: str | Path) -> tuple[float, float, float]:
    """(checkpoint-measure seconds ÷ training seconds, their sums) over a sweep file's runs,
    from the phase times each run recorded."""
    from sharpdim.lab.sweeps.storage import SweepStore

    timings = SweepStore.open_readonly(sweep).timings()
    train_s = sum(t.get("train", 0.0) for t in timings.values())
    check_s = sum(t.get("checkpoint_measures", 0.0) for t in timings.values())
    if train_s <= 0:
        raise ValueError(f"sweep must hold runs with recorded training time, got {sweep}")
    return check_s / train_s, check_s, train_s


def bench_training(*, n_examples: int = 1000, steps: int = 400, repeats: int = 3,
                   sweep: str | Path | None = "reports/fashion_gd_eos/sweep.sqlite"
                   ) -> list[TrainingRow]:
    """Every row of the suite (module docstring); ``sweep`` (relative to the checkout) is the
    sweep file whose tracking share is read, ``None`` or a missing file leaves it out."""
    data = _data(n_examples)
    trainer, same, plain, shuffled = [], [], [], []
    for _ in range(repeats):
        trainer.append(_trainer(data, steps))
        same.append(_bare(data, steps, stopping_rule=True))
        plain.append(_bare(data, steps, stopping_rule=False))
        shuffled.append(_bare(data, steps, stopping_rule=True, shuffle=True))
    t, s, p, g = min(trainer), min(same), min(plain), min(shuffled)
    setting = f"12,960-parameter MLP, full batch of {n_examples:,}, {steps} GD steps"
    rows = [TrainingRow("trainer ÷ bare loop, same work", setting, t / s,
                        f"{1e3 * t / steps:.3g} ms/step against {1e3 * s / steps:.3g} ms/step",
                        "≤ 1.15", t / s <= 1.15),
            TrainingRow("trainer ÷ bare loop that also shuffles", setting, t / g,
                        f"the trainer draws each epoch's order (torch.randperm) and gathers "
                        f"the batch even when it is the whole set; that gather is "
                        f"{(g - s) / s:.0%} of a bare step", "≤ 1.15", t / g <= 1.15),
            TrainingRow("trainer ÷ bare loop without the stopping rule", setting, t / p,
                        f"{1e3 * p / steps:.3g} ms/step bare: the rule's full-set forward "
                        f"after each epoch is {(s - p) / p:.0%} of a step", "–", None)]
    if sweep is not None and not Path(sweep).is_absolute():
        sweep = repository_root() / sweep
    if sweep is not None and Path(sweep).is_file():
        share, check_s, train_s = tracking_share(sweep)
        rows.append(TrainingRow(
            "λ_max tracking ÷ training time", f"sweep file {Path(sweep).parent.name}", share,
            f"checkpoint measures {check_s / 3600:.2f} h, training {train_s / 3600:.2f} h, "
            "summed over the runs (recorded in the sweep)", "–", None))
    return rows


def render_training_markdown(rows: list[TrainingRow]) -> str:
    """The ``## Sweep trainer`` section of reports/benchmarks.md."""
    lines = ["## Sweep trainer (`sharpdim bench training`)", "",
             "The trainer of the sweeps against a bare PyTorch loop on the same model, data, "
             "step size and batch (full-batch GD, squared error), least of interleaved "
             "repeats, one thread; and what tracking λ_max along training cost in a committed "
             "sweep, from the phase times its runs recorded.", "",
             "| quantity | setting | value | detail | goal | met |", "|---|---|---:|---|---|---|"]
    for r in rows:
        met = "–" if r.met is None else ("yes" if r.met else "**no**")
        lines.append(f"| {r.quantity} | {r.setting} | {r.value:.3g} | {r.detail} | {r.goal} | "
                     f"{met} |")
    return "\n".join(lines)
