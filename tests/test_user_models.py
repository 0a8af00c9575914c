"""Models, data and optimizers people have, estimated without workarounds.

Each test is a claim a new user relies on; its oracle is named: a dense Hessian from
``torch.func.hessian`` (an independent second-derivative path), the same data given as
plain tensors (the documented equivalent form), or the state before the call.
"""

from __future__ import annotations

import json
import pickle
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

import sharpdim
from sharpdim import EstimateOptions, estimate_sharpness, make_update_map
from sharpdim.curvature.functional import TrainModeWarning
from sharpdim.estimators.result import SharpnessEstimate

torch.set_num_threads(1)


def _images(n=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 3, (n,), generator=g)


class _CNN(torch.nn.Module):
    """A user's CNN: convolution, batch norm, dropout, a buffer counting forwards."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 3, 3)
        self.bn = torch.nn.BatchNorm2d(3)
        self.drop = torch.nn.Dropout(0.3)
        self.head = torch.nn.Linear(3 * 6 * 6, 3)
        self.register_buffer("calls", torch.zeros(()))

    def forward(self, x):
        self.calls += 1                          # a buffer updated in forward
        h = self.drop(torch.relu(self.bn(self.conv(x))))
        return self.head(h.flatten(1))


class _LM(torch.nn.Module):
    """A tiny causal language model on nn.TransformerEncoder (scaled_dot_product_attention)."""

    def __init__(self, vocab=11, d=8):
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, d)
        layer = torch.nn.TransformerEncoderLayer(d, 2, 16, dropout=0.0, batch_first=True)
        self.enc = torch.nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.head = torch.nn.Linear(d, vocab)

    def forward(self, x):
        mask = torch.nn.Transformer.generate_square_subsequent_mask(x.shape[1])
        return self.head(self.enc(self.emb(x), mask=mask, is_causal=True))


def _lm_loss(logits, targets):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def _dense_top_eigenvalue(model, loss_fn, inputs, targets, output=None):
    """Oracle: the largest eigenvalue of ``torch.autograd.functional.hessian`` of the mean
    loss (float64), one autograd double backward per row (``vectorize=False``: no ``vmap``).

    Not ``torch.func.hessian``: on the causal ``nn.TransformerEncoder`` below its
    ``jacfwd(jacrev)`` gives a top eigenvalue 9e-4 (relative) away from the row-by-row
    autograd Hessian, which every one of our three products (graph, jvp, linearize) and this
    loop agree with to 1e-15."""
    from torch.autograd.functional import hessian
    from torch.func import functional_call
    from torch.nn.attention import SDPBackend, sdpa_kernel

    names = [n for n, p in model.named_parameters() if p.requires_grad]
    shapes = [p.shape for n, p in model.named_parameters() if p.requires_grad]
    theta = torch.cat([p.detach().double().reshape(-1) for n, p in model.named_parameters()
                       if p.requires_grad])
    model64 = model.double()
    cast = lambda t: t.double() if t.is_floating_point() else t  # noqa: E731
    inputs = ({k: cast(v) for k, v in inputs.items()} if isinstance(inputs, dict)
              else cast(inputs))

    def loss(flat):
        parts = torch.split(flat, [int(np.prod(s)) for s in shapes])
        blocks = {n: b.view(s) for n, b, s in zip(names, parts, shapes, strict=True)}
        kwargs = inputs if isinstance(inputs, dict) else None
        args = () if kwargs is not None else (inputs,)
        out = functional_call(model64, blocks, args, kwargs)
        return loss_fn(out if output is None else out[output], targets)

    with sdpa_kernel(SDPBackend.MATH):
        H = hessian(loss, theta, vectorize=False)
    model.float()
    return float(torch.linalg.eigvalsh(H)[-1])


# -- models ------------------------------------------------------------------------------------

def test_a_transformer_encoder_lm_is_estimated_without_warnings_and_matches_a_dense_hessian():
    torch.manual_seed(0)
    lm = _LM()
    x, y = torch.randint(0, 11, (16, 5)), torch.randint(0, 11, (16, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # no batching-rule performance warnings either
        est = estimate_sharpness(lm, _lm_loss, (x, y), lr=0.1, batch_size=16, n_batches=1,
                                 seed=0)
    # full batch: the exact method's top eigenvalue is the dense Hessian's (float64 rounding
    # of a ~1.7k-parameter Hessian: agreement to 1e-8 relative leaves a margin of 1e4)
    top = _dense_top_eigenvalue(lm, _lm_loss, x, y)
    assert est.top_eigenvalue == pytest.approx(top, rel=1e-8)


def test_a_transformers_gpt2_with_dict_batches_and_an_output_selector_matches_a_dense_hessian():
    transformers = pytest.importorskip("transformers")
    cfg = transformers.GPT2Config(vocab_size=16, n_positions=8, n_embd=8, n_layer=1, n_head=2,
                                  resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    torch.manual_seed(0)
    gpt = transformers.GPT2LMHeadModel(cfg)      # random init: nothing downloaded
    ids = torch.randint(0, 16, (12, 6))
    data = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids}
    est = estimate_sharpness(gpt, _lm_loss, data, lr=0.1, batch_size=12, n_batches=1, seed=0,
                             options=EstimateOptions(output="logits"))
    assert est.diagnostics.output == "logits"
    top = _dense_top_eigenvalue(gpt, _lm_loss, {"input_ids": ids, "attention_mask":
                                                torch.ones_like(ids)}, ids, output="logits")
    assert est.top_eigenvalue == pytest.approx(top, rel=1e-8)


# -- data --------------------------------------------------------------------------------------

def _cnn_estimate(data, **kw):
    torch.manual_seed(1)
    model = _CNN()
    return estimate_sharpness(model, F.cross_entropy, data, lr=0.05, batch_size=8, n_batches=3,
                              seed=3, **kw)


def test_a_dataloader_gives_the_estimate_of_its_dataset_as_tensors():
    X, y = _images()
    oracle = _cnn_estimate((X, y))
    loader = DataLoader(TensorDataset(X, y), batch_size=5, shuffle=True)
    est = _cnn_estimate(loader)
    assert est.diagnostics.batch_index_hashes == oracle.diagnostics.batch_index_hashes
    np.testing.assert_array_equal(est.sharpness, oracle.sharpness)


class _Stream(IterableDataset):
    def __init__(self, X, y):
        self.X, self.y = X, y

    def __iter__(self):
        yield from zip(self.X, self.y, strict=True)


def test_an_iterable_dataset_gives_the_estimate_of_its_first_n_examples():
    X, y = _images(60)
    oracle = _cnn_estimate((X[:48], y[:48]))
    est = _cnn_estimate(_Stream(X, y), options=EstimateOptions(n_examples=48))
    np.testing.assert_array_equal(est.sharpness, oracle.sharpness)
    batched = _cnn_estimate(DataLoader(_Stream(X, y), batch_size=7),
                            options=EstimateOptions(n_examples=48))
    np.testing.assert_array_equal(batched.sharpness, oracle.sharpness)
    with pytest.raises(ValueError, match="n_examples must be given for an iterable dataset"):
        _cnn_estimate(_Stream(X, y))
    with pytest.raises(ValueError, match=r"n_examples must be <= the examples .* \(60\)"):
        _cnn_estimate(_Stream(X, y), options=EstimateOptions(n_examples=61))


def test_dict_batches_pass_their_entries_as_keyword_inputs():
    class Keyword(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(3, 2)

        def forward(self, features, scale):
            return self.lin(features) * scale

    g = torch.Generator().manual_seed(0)
    feats, scale = torch.randn(20, 3, generator=g), torch.rand(20, 1, generator=g) + 0.5
    labels = torch.randint(0, 2, (20,), generator=g)
    torch.manual_seed(0)
    model = Keyword()
    est = estimate_sharpness(model, F.cross_entropy, {"features": feats, "scale": scale,
                                                      "y": labels}, lr=0.1, batch_size=20,
                             n_batches=1, seed=0, options=EstimateOptions(target_key="y"))
    oracle = _dense_top_eigenvalue(model, F.cross_entropy, {"features": feats, "scale": scale},
                                   labels)
    assert est.top_eigenvalue == pytest.approx(oracle, rel=1e-8)
    with pytest.raises(KeyError, match="target_key must name.*'labels'.*'features'"):
        estimate_sharpness(model, F.cross_entropy, {"features": feats, "scale": scale,
                                                    "y": labels}, lr=0.1, batch_size=4)


# -- optimizers --------------------------------------------------------------------------------

def test_a_torch_optimizer_gives_its_own_hyperparameters():
    X, y = _images()
    torch.manual_seed(1)
    model = _CNN()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
    est = estimate_sharpness(model, F.cross_entropy, (X, y), optimizer=opt, batch_size=8,
                             n_batches=2, seed=3)
    oracle = estimate_sharpness(model, F.cross_entropy, (X, y), batch_size=8, n_batches=2, seed=3,
                                optimizer=make_update_map("sgd", lr=0.05, momentum=0.9,
                                                          weight_decay=1e-3))
    d = est.diagnostics
    assert (d.optimizer, d.lr, d.momentum, d.weight_decay) == ("momentum", 0.05, 0.9, 1e-3)
    np.testing.assert_array_equal(est.sharpness, oracle.sharpness)
    with pytest.raises(ValueError, match="lr is given twice with different values: 0.1"):
        estimate_sharpness(model, F.cross_entropy, (X, y), optimizer=opt, lr=0.1, batch_size=8)
    groups = torch.optim.SGD([{"params": [model.conv.weight]},
                              {"params": [p for n, p in model.named_parameters()
                                          if n != "conv.weight"], "lr": 0.1}], lr=0.05)
    with pytest.raises(ValueError, match="one param group .* got 2 groups"):
        estimate_sharpness(model, F.cross_entropy, (X, y), optimizer=groups, batch_size=8)
    with pytest.raises(ValueError, match="without nesterov"):
        estimate_sharpness(model, F.cross_entropy, (X, y), batch_size=8, optimizer=torch.optim.SGD(
            model.parameters(), lr=0.1, momentum=0.9, nesterov=True))


def test_an_optimizer_passed_as_state_with_other_settings_than_the_keywords_is_refused():
    X, y = _images()
    torch.manual_seed(1)
    model = _CNN()
    opt = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
    with pytest.raises(ValueError, match=r"lr=0.1 \(the optimizer's: 0.2\).*optimizer="):
        estimate_sharpness(model, F.cross_entropy, (X, y), lr=0.1, batch_size=8,
                           jacobian="update", optimizer_state=opt)


def test_adams_state_is_read_from_the_torch_optimizer_for_the_update_jacobian():
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(24, 3, generator=g), torch.randn(24, 1, generator=g)
    torch.manual_seed(0)
    lin = torch.nn.Linear(3, 1)
    opt = torch.optim.AdamW(lin.parameters(), lr=0.01, weight_decay=0.1)
    for _ in range(3):
        opt.zero_grad()
        F.mse_loss(lin(X), y).backward()
        opt.step()
    est = estimate_sharpness(lin, F.mse_loss, (X, y), optimizer=opt, batch_size=24,
                             jacobian="update", n_batches=1, seed=0)
    oracle = estimate_sharpness(lin, F.mse_loss, (X, y), batch_size=24, jacobian="update",
                                optimizer_state=opt, n_batches=1, seed=0,
                                optimizer=make_update_map("adamw", lr=0.01, weight_decay=0.1))
    assert est.diagnostics.state_dim == 3 * 4
    np.testing.assert_array_equal(est.sharpness, oracle.sharpness)


# -- no side effects, nothing silent -----------------------------------------------------------

def test_a_measurement_leaves_the_models_buffers_parameters_and_torchs_rng_as_they_were():
    X, y = _images()
    torch.manual_seed(1)
    model = _CNN()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    _ = estimate_sharpness(model, F.cross_entropy, (X, y), lr=0.05, batch_size=8, n_batches=2,
                           seed=0, method="slq", options=EstimateOptions(n_steps=5))
    assert torch.equal(torch.get_rng_state(), rng)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_frozen_parameters_and_batch_norm_without_running_statistics_are_named():
    X, y = _images()
    torch.manual_seed(1)
    model = _CNN()
    model.conv.weight.requires_grad_(False)
    model.bn = torch.nn.BatchNorm2d(3, track_running_stats=False)
    with pytest.warns(TrainModeWarning, match=r"batch statistics \['bn'\].*eval mode") as rec:
        est = estimate_sharpness(model, F.cross_entropy, (X, y), lr=0.05, batch_size=8,
                                 n_batches=1, seed=0)
    assert all("dropout []" not in str(w.message) for w in rec)
    assert est.diagnostics.frozen == ("conv.weight",)
    assert est.diagnostics.batch_norm == ("bn",)
    assert any("frozen" in n and "conv.weight" in n for n in est.diagnostics.notes)


def test_train_mode_warning_names_only_the_modules_present():
    X, y = _images()
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Dropout(0.2),
                                torch.nn.Linear(64, 3))
    with pytest.warns(TrainModeWarning) as rec:
        estimate_sharpness(model, F.cross_entropy, (X, y), lr=0.05, batch_size=8, n_batches=1,
                           seed=0, options=EstimateOptions(train=True))
    text = str(rec[0].message)
    assert "train-mode dropout ['1']" in text and "batch norm" not in text


# -- results that travel -----------------------------------------------------------------------

@pytest.mark.parametrize("method", ["exact", "slq", "kde", "ps"])
def test_every_result_round_trips_through_pickle_and_strict_json(method):
    X, y = _images()
    torch.manual_seed(1)
    est = estimate_sharpness(_CNN(), F.cross_entropy, (X, y), lr=0.05, batch_size=8, n_batches=2,
                             seed=0, method=method,
                             options=EstimateOptions(n_steps=None if method == "exact" else 6))
    data = est.to_dict()
    text = json.dumps(data, allow_nan=False)          # strict JSON: no NaN/Infinity tokens
    back = SharpnessEstimate.from_dict(json.loads(text))
    assert back.to_dict() == data
    assert pickle.loads(pickle.dumps(est)).to_dict() == data
    if est.sharpness is not None:
        np.testing.assert_array_equal(back.sharpness, est.sharpness)   # -inf survives
    shown = repr(est)
    assert shown.count("\n") < 20 and "dtype='float64'" in shown
    assert "float64" in est.summary()
    assert any("parameters are float32; its curvature was computed in float64" in n
               for n in est.diagnostics.notes)
    assert repr(est.diagnostics).count("\n") < 60


def test_the_public_names_a_user_looks_for_exist():
    assert callable(sharpdim.estimate_sharpness)
    assert callable(sharpdim.plot.spectrum) and callable(sharpdim.plot.sharpness)
    assert callable(sharpdim.SharpnessMonitor)
