"""A PyTorch Lightning ``Callback`` that logs the sharpness dimension every ``every`` steps.

``SharpnessCallback(loss_fn, data, batch_size=b, every=k)`` wraps a
:class:`~sharpdim.monitor.SharpnessMonitor`: after every ``k``-th optimizer step
(``trainer.global_step`` a multiple of ``k``) it estimates SD of the ``LightningModule`` —
``module(inputs)`` is the model, ``loss_fn(outputs, targets)`` its mean loss, ``data`` the
training set the estimate draws from — with the trainer's single optimizer, keeps the row in
``callback.monitor.records`` (and the JSON-lines ``log``), and sends ``sharpness/dimension``,
``sharpness/lambda_1``, ``sharpness/top_eigenvalue`` and ``sharpness/trace`` to every logger
of the trainer. Training is unchanged (see :mod:`sharpdim.monitor`).
"""

from __future__ import annotations

import lightning.pytorch as pl

from sharpdim.monitor import SharpnessMonitor

__all__ = ["SharpnessCallback"]

_LOGGED = ("dimension", "lambda_1", "top_eigenvalue", "trace")


class SharpnessCallback(pl.Callback):
    """Log SD every ``every`` optimizer steps of a Lightning run (module docstring); keywords
    other than ``batch_size`` go to :class:`~sharpdim.monitor.SharpnessMonitor`."""

    def __init__(self, loss_fn, data, *, batch_size: int, every: int = 100, **monitor_kwargs):
        super().__init__()
        if not callable(loss_fn):
            raise TypeError(f"loss_fn must be callable as loss_fn(outputs, targets), got "
                            f"{loss_fn!r}")
        self.loss_fn, self.data, self.batch_size = loss_fn, data, batch_size
        self.monitor = SharpnessMonitor(every, **monitor_kwargs)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = int(trainer.global_step)
        if step == 0 or step % self.monitor.every:   # no optimizer step yet, or not due
            return
        if len(trainer.optimizers) != 1:
            raise ValueError(f"trainer must have one optimizer for SharpnessCallback, got "
                             f"{len(trainer.optimizers)}")
        est = self.monitor.step(pl_module, self.loss_fn, self.data, batch_size=self.batch_size,
                                optimizer=trainer.optimizers[0], step=step)
        if est is None:
            return
        row = self.monitor.records[-1]
        metrics = {f"sharpness/{k}": float(row[k]) for k in _LOGGED if row[k] is not None}
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=step)
