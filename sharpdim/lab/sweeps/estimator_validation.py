"""Trained networks of the task catalogue for the estimator convergence report's second
section, "real networks in the sweeps' regime"
(:func:`sharpdim.lab.bench.convergence.network_table`).

Each case trains a catalogue network with the sweeps' own
:func:`~sharpdim.lab.sweeps.training.train` (plain SGD, no momentum or weight decay,
cross-entropy, a fixed short schedule stated in the case) and then measures it as the sweeps
do: Hessian minibatches at a batch size the sweeps use,
``m`` Lanczos steps with ``m/N`` as small as in the sweep configs (``configs/mnist1d_5x5.toml``:
``m = 40`` at ``N = 1,056``; ``configs/fashion_mnist_5x5.toml``: ``m = 100`` at
``N = 12,960``). ``R`` (minibatches per estimate) and the number of seeds are set by the cost of
the exact reference (``N`` Hessian-vector products and an ``N × N`` eigendecomposition per
minibatch: seconds at ``N ≈ 1k``, about 20 s at 5k, minutes at 13k on one CPU core).

Regenerate the section (the rest of the report is kept) with
``python -m sharpdim.lab.sweeps.estimator_validation reports/estimator_convergence.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from sharpdim.lab.bench.convergence import NetworkCase
from sharpdim.lab.sweeps.tasks import get_task
from sharpdim.lab.sweeps.training import TrainSettings, train

__all__ = ["NetworkSpec", "NETWORK_SPECS", "network_case", "network_cases"]


@dataclass(frozen=True)
class NetworkSpec:
    """A catalogue task (``task`` with ``options`` overrides), its training schedule (plain
    SGD at ``lr``, ``train_batch`` examples per step, ``epochs`` epochs, initialization from
    ``init_seed``, minibatch order from ``order_seed``) and its measurement (``batch_size``,
    ``n_steps`` ``m``, ``n_batches`` ``R``, ``seeds``; ``n_points`` late iterates, the last
    ``n_points`` of every ``point_stride`` steps, with ``sup_batches`` minibatches for the exact
    mean against sup; ``n_points = 0`` skips it)."""

    name: str
    task: str
    options: Mapping[str, Any]
    lr: float
    train_batch: int
    epochs: int
    batch_size: int
    n_steps: int
    n_batches: int
    seeds: tuple[int, ...]
    init_seed: int = 0
    order_seed: int = 0
    n_points: int = 0
    point_stride: int = 50
    sup_batches: int = 0


NETWORK_SPECS: tuple[NetworkSpec, ...] = (
    NetworkSpec("mnist1d-1056", "mnist1d_mlp", {}, lr=0.1, train_batch=32, epochs=20,
                batch_size=32, n_steps=40, n_batches=30, seeds=(2026, 2027, 2028),
                n_points=3, point_stride=50, sup_batches=5),
    NetworkSpec("mnist1d-w50-5000", "mnist1d_mlp", {"width": 50}, lr=0.1, train_batch=64,
                epochs=20, batch_size=64, n_steps=40, n_batches=6, seeds=(2026, 2027, 2028)),
    NetworkSpec("fashion-12960", "fashion_mnist_mlp", {}, lr=0.05, train_batch=64, epochs=3,
                batch_size=64, n_steps=100, n_batches=4, seeds=(2026,)),
)


def network_case(spec: NetworkSpec) -> NetworkCase:
    """Train ``spec``'s network (float32, as the sweeps do; the curvature products run in
    float64) and return it as a :class:`~sharpdim.lab.bench.convergence.NetworkCase` on its
    training split."""
    task = get_task(spec.task)
    options = task.options(dict(spec.options))
    data = task.dataset(options)
    model = task.model(options, spec.init_seed)
    loss_fn = task.loss_for(options)
    keep = spec.point_stride * max(spec.n_points - 1, 0) + 1 if spec.n_points else 0
    result = train(model, data, TrainSettings(lr=spec.lr, batch_size=spec.train_batch,
                                              epochs=spec.epochs, trajectory=keep),
                   loss_fn, seed=spec.order_seed)
    if result.diverged:
        raise RuntimeError(f"{spec.name}: training diverged: {result.divergence}")
    points: tuple[torch.Tensor, ...] = ()
    if spec.n_points:
        traj = result.trajectory
        points = tuple(torch.as_tensor(traj[-1 - k * spec.point_stride]).clone()
                       for k in reversed(range(spec.n_points)))
    n = sum(p.numel() for p in model.parameters())
    description = (
        f"`{spec.task}` {dict(spec.options) or 'defaults'} ({n:,} parameters; "
        f"{data.n_train:,} training examples), trained from init seed {spec.init_seed} with "
        f"plain SGD, lr {spec.lr}, batch {spec.train_batch}, {spec.epochs} epochs "
        f"({result.steps:,} steps, order seed {spec.order_seed}; final train loss "
        f"{result.final_train_loss:.3f}, accuracy {result.final_train_acc:.3f})"
        + (f"; late iterates for the sup: the last {spec.n_points} of every "
           f"{spec.point_stride} steps" if spec.n_points else ""))
    return NetworkCase(spec.name, description, model, loss_fn, (data.x_train, data.y_train),
                       spec.lr, spec.batch_size, spec.n_steps, spec.n_batches, spec.seeds,
                       points, spec.sup_batches)


def network_cases(specs: Sequence[NetworkSpec] = NETWORK_SPECS) -> tuple[NetworkCase, ...]:
    return tuple(network_case(s) for s in specs)


def _provenance(cases: Sequence[NetworkCase]) -> dict[str, str]:
    from sharpdim.lab.provenance import device_of, git_commit, package_versions

    info = {"git commit": git_commit(), **package_versions(("numpy", "scipy", "torch"))}
    seen = [device_of(c.model) for c in cases]
    info.update({f"model {k}": ", ".join(sorted({str(d[k]) for d in seen}))
                 for k in ("device", "dtype")})
    info["curvature dtype"] = "float64"
    return info


if __name__ == "__main__":  # pragma: no cover - report generation entry point
    import os
    import sys

    from sharpdim.lab.bench.convergence import network_table, render_network_section, splice_section

    path = sys.argv[1] if len(sys.argv) > 1 else "reports/estimator_convergence.md"
    cases = network_cases()
    table = network_table(cases)
    section = render_network_section(table, provenance=_provenance(cases))
    text = ""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(splice_section(text, section, network=True))
    print(f"wrote {path} in {table.seconds:.0f} s")
