"""Measure groups put on finished runs after training, from their stored weights
(``sharpdim measure SWEEP --group NAME``): resumable, one transaction per run, so an
interruption loses at most the run in progress and a rerun skips the runs already measured.

Groups that need what a sweep file does not keep — the optimizer's state (``sd_update``) or
the last iterates (``topology``, ``sd_sup``, ``bound``) — are refused by name.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sharpdim import _validate
from sharpdim.lab.sweeps.config import measure_settings
from sharpdim.lab.sweeps.load import load_run
from sharpdim.lab.sweeps.measures import GROUPS, MeasureContext, compute_measures
from sharpdim.lab.sweeps.storage import SweepStore
from sharpdim.lab.sweeps.training import TrainSettings

__all__ = ["NEEDS_TRAINING_STATE", "remeasure"]

NEEDS_TRAINING_STATE = ("sd_update", "sd_modal", "topology", "sd_sup", "bound", "training")


def _context(run, ms) -> MeasureContext:
    s, t = run.spec, run.spec.train
    settings = TrainSettings(lr=s.lr, batch_size=s.batch_size, epochs=1, optimizer=s.optimizer,
                             momentum=t["momentum"], weight_decay=s.weight_decay,
                             betas=tuple(t["betas"]))
    return MeasureContext(
        model=run.model, loss_fn=run.loss_fn, data=run.data, lr=s.lr, batch_size=s.batch_size,
        optimizer=s.optimizer, momentum=settings.torch_momentum, weight_decay=s.weight_decay,
        betas=settings.betas, n_parameters=sum(p.numel() for p in run.model.parameters()),
        seed=run.seeds["measures"], settings=ms, initial_state=run.initial_model.state_dict())


def remeasure(sweep_file: str | Path, group: str, *,
              log: Callable[[str], None] = lambda text: None) -> dict[str, int]:
    """Add ``group``'s outputs to every finished run of ``sweep_file`` that lacks them;
    returns counts ``{"measured", "skipped_done", "no_weights"}``."""
    _validate.choice("group", group, sorted(GROUPS))
    if group in NEEDS_TRAINING_STATE:
        raise ValueError(f"group {group!r} needs state a sweep file does not keep (the "
                         "optimizer or the last iterates); add it to the sweep's [measures] "
                         "and rerun the sweep instead")
    outputs = set(GROUPS[group].outputs)
    counts = {"measured": 0, "skipped_done": 0, "no_weights": 0}
    with SweepStore.open(sweep_file) as store:
        done = {(m["run_id"], m["name"]) for m in store.measures(stage="final")}
        todo = [r for r in store.runs() if r["status"] == "finished"]
        for r in todo:
            rid = r["run_id"]
            if all((rid, o) in done for o in outputs):
                counts["skipped_done"] += 1
                continue
            if not store.weights(rid):
                counts["no_weights"] += 1
                continue
            run = load_run(sweep_file, rid)   # a read-only connection beside the writer
            ms = measure_settings(run.spec.measures)
            outcomes, _ = compute_measures(_context(run, ms), [group])
            store.add_measures(rid, "final", r["epochs_completed"],
                               [o for o in outcomes if o.name in outputs])
            counts["measured"] += 1
            log(f"{rid}: {group} measured")
    return counts
