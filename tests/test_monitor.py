"""SharpnessMonitor and the Lightning callback: SD logged inside a user's own loop.

Oracles: the same loop run without the monitor (bit-identical weights), a direct
``estimate_sharpness`` call at the saved weights with the recorded seed (the row's values),
and pandas reading the JSON-lines file back.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sharpdim import EstimateOptions, SharpnessMonitor, estimate_sharpness, make_update_map

torch.set_num_threads(1)


def _data(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 5, generator=g), torch.randint(0, 3, (n,), generator=g)


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(5, 12), torch.nn.Tanh(), torch.nn.Dropout(0.2),
                               torch.nn.Linear(12, 3))


def _train(model, X, y, steps, monitor=None, snapshots=None):
    opt = torch.optim.SGD(model.parameters(), lr=0.3, momentum=0.9)
    gen = torch.Generator().manual_seed(5)
    model.train()
    for k in range(steps):
        idx = torch.randint(0, X.shape[0], (16,), generator=gen)
        opt.zero_grad()
        F.cross_entropy(model(X[idx]), y[idx]).backward()   # train-mode dropout: global RNG
        opt.step()
        if snapshots is not None and k % 5 == 0:
            snapshots[k] = copy.deepcopy(model.state_dict())
        if monitor is not None:
            monitor.step(model, F.cross_entropy, (X, y), optimizer=opt, batch_size=16)
    return model


def test_training_with_the_monitor_is_bit_identical_to_training_without_it(tmp_path):
    X, y = _data()
    torch.manual_seed(11)
    plain = _train(_model(), X, y, 20)
    torch.manual_seed(11)
    log = tmp_path / "sd.jsonl"
    monitor = SharpnessMonitor(every=5, n_batches=3, options=EstimateOptions(n_steps=8), log=log,
                               budget=1.0)
    watched = _train(_model(), X, y, 20, monitor=monitor)
    for (k, a), b in zip(plain.state_dict().items(), watched.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    assert [r["step"] for r in monitor.records] == [0, 5, 10, 15]
    pandas = pytest.importorskip("pandas")
    frame = pandas.read_json(log, lines=True)
    assert list(frame["step"]) == [0, 5, 10, 15]
    np.testing.assert_array_equal(frame["dimension"], [r["dimension"] for r in monitor.records])


def test_a_logged_row_is_the_estimate_at_that_steps_weights_with_its_recorded_seed():
    X, y = _data()
    torch.manual_seed(11)
    snaps = {}
    monitor = SharpnessMonitor(every=5, n_batches=3, options=EstimateOptions(n_steps=8),
                               budget=1.0, seed=100)
    _train(_model(), X, y, 11, monitor=monitor, snapshots=snaps)
    row = monitor.records[2]
    model = _model()
    model.load_state_dict(snaps[10])
    est = estimate_sharpness(model, F.cross_entropy, (X, y), batch_size=16, method="slq",
                             n_batches=3, seed=row["seed"],
                             optimizer=make_update_map("sgd", lr=0.3, momentum=0.9),
                             options=EstimateOptions(n_steps=8))
    assert row["seed"] == 110 and row["dimension"] == est.dimension


def test_a_due_measurement_over_budget_is_skipped_and_says_so():
    X, y = _data()
    monitor = SharpnessMonitor(every=1, n_batches=3, options=EstimateOptions(n_steps=8),
                               budget=0.01)
    _train(_model(), X, y, 6, monitor=monitor)
    skipped = [r for r in monitor.records if r["skipped"] == "budget"]
    assert monitor.records[0]["skipped"] is None and skipped    # measuring costs > 1 %


@pytest.mark.parametrize("kwargs, match", [
    (dict(every=0), "every must be >= 1, got 0"),
    (dict(budget=0.0), "budget must be in \\(0, 1\\], got 0.0"),
    (dict(method="svd"), "method must be one of"),
    (dict(log="/no/such/dir/sd.jsonl"), "log must be a file in an existing directory"),
])
def test_bad_monitor_settings_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SharpnessMonitor(**kwargs)


def test_a_lightning_trainer_logs_sd_every_k_steps(tmp_path):
    pl = pytest.importorskip("lightning.pytorch")
    from sharpdim.integrations.lightning import SharpnessCallback

    X, y = _data()

    class Module(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = _model()

        def forward(self, x):
            return self.net(x)

        def training_step(self, batch, batch_idx):
            return F.cross_entropy(self(batch[0]), batch[1])

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.3)

    class Recorder(pl.loggers.Logger):
        name, version = "recorder", 0
        rows: list = []

        def log_metrics(self, metrics, step=None):
            self.rows.append((step, dict(metrics)))

        def log_hyperparams(self, params, *args, **kwargs):
            pass

    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=16)
    callback = SharpnessCallback(F.cross_entropy, (X, y), batch_size=16, every=4,
                                 n_batches=2, options=EstimateOptions(n_steps=6), budget=1.0,
                                 log=tmp_path / "sd.jsonl")
    recorder = Recorder()
    trainer = pl.Trainer(max_steps=12, accelerator="cpu", logger=recorder,
                         callbacks=[callback], enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         default_root_dir=tmp_path)
    trainer.fit(Module(), loader)
    assert [r["step"] for r in callback.monitor.records] == [4, 8, 12]
    logged = [(s, m["sharpness/dimension"]) for s, m in recorder.rows
              if "sharpness/dimension" in m]
    assert logged == [(r["step"], r["dimension"]) for r in callback.monitor.records]
    assert (tmp_path / "sd.jsonl").read_text().count("\n") == 3


def test_an_old_option_keyword_to_the_monitor_warns_and_replaces_only_its_field():
    with pytest.warns(DeprecationWarning, match=r"options=EstimateOptions\(n_steps=8\)"):
        monitor = SharpnessMonitor(every=5, n_batches=3, n_steps=8)
    assert monitor.estimate_kwargs["options"] == EstimateOptions(n_steps=8)
    assert monitor.estimate_kwargs["n_batches"] == 3
