"""The task catalogue: a dataset plus a network family, each named and with default options.

A task is looked up by name (:func:`get_task`); its options (dataset size, width, modulus,
...) have defaults that a sweep's ``[task]`` table may override, key by key and type by
type (:meth:`Task.options`). ``Task.dataset(options)`` is deterministic in the options (the
data seed is an option, so every run of a sweep sees the same data) and cached per
process; ``Task.model(options, seed)`` draws the initialization from ``seed``.

Paper correspondence (docs/theory.md §6): ``mnist1d_mlp`` is the 3-layer width-16 ReLU MLP
without bias (1,056 parameters on MNIST-1D's 40 inputs, against 12,960 on MNIST's 784);
``mnist1d_mlp_wide`` (width 92: 13,064 parameters) matches the paper's parameter count;
``fashion_mnist_mlp`` is the paper's network itself (784 → 16 → 16 → 10 ReLU, no bias: 12,960
parameters) on a class-stratified Fashion-MNIST subset; ``mnist1d_mlp_deep`` is the 5-layer
width-200 MLP (130,000 parameters here), SLQ only; ``fashion_mnist_cnn`` is a LeNet-style CNN
(5,182 parameters, no bias or batch norm: exact SD feasible) on the same subset;
``modadd_mlp_gelu`` / ``modadd_mlp_relu`` are the grokking networks; ``modadd_transformer``
stands in for the paper's GPT-2 optimizer comparison at toy scale.

The classification tasks also take two controlled factors of the generalization gap:
``train_size`` (a class-stratified subset of the training split; 0 = all) and
``label_noise`` (a fraction of training labels flipped to another class), drawn from
``data_seed``; the test set is never changed. Their ``loss`` option is ``"cross_entropy"``
(default) or ``"mse"`` (:func:`mse_onehot`; :meth:`Task.loss_for`).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sharpdim.lab.sweeps.data import (
    Dataset,
    digits_data,
    fashion_mnist_data,
    mnist1d_data,
    modular_addition_data,
    train_subset,
    with_heldout,
    with_label_noise,
)
from sharpdim.lab.sweeps.models import ModularTransformer, count_parameters, lenet, mlp

__all__ = ["Task", "TASKS", "LOSSES", "get_task", "task_names", "mse_onehot"]


@dataclass(frozen=True)
class Task:
    """A named dataset + network family. ``defaults`` lists every option and its default."""

    name: str
    description: str
    defaults: Mapping[str, Any]
    _data: Callable[[Mapping[str, Any]], Dataset]
    _model: Callable[[Mapping[str, Any], Dataset, int], nn.Module]

    def options(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The defaults updated by ``overrides``; an unknown key or a value of another type
        than its default is a ``ValueError`` naming the key."""
        merged = dict(self.defaults)
        known = {**OPTIONAL_OPTIONS, **self.defaults}
        for key, value in (overrides or {}).items():
            if key not in known:
                raise ValueError(
                    f"task.{key} is not an option of task {self.name!r}; its options are "
                    f"{sorted(known)}")
            default = known[key]
            ok = (isinstance(value, bool) if isinstance(default, bool)
                  else isinstance(value, int | float) and not isinstance(value, bool)
                  if isinstance(default, float)
                  else isinstance(value, type(default)) and not isinstance(value, bool))
            if not ok:
                raise ValueError(
                    f"task.{key} must be a {type(default).__name__} like its default "
                    f"{default!r}, got {value!r}")
            merged[key] = float(value) if isinstance(default, float) else value
        return merged

    def dataset(self, options: Mapping[str, Any]) -> Dataset:
        """The task's data for ``options`` (cached per process: the data seed is an option)."""
        return _cached_dataset(self.name, json.dumps(dict(options), sort_keys=True))

    def model(self, options: Mapping[str, Any], seed: int) -> nn.Module:
        """A freshly initialized network (initialization drawn from ``seed``)."""
        return self._model(options, self.dataset(options), seed)

    def n_parameters(self, options: Mapping[str, Any]) -> int:
        return count_parameters(self.model(options, 0))

    @staticmethod
    def loss_fn(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Minibatch-mean cross-entropy (what an SGD step differentiates)."""
        return F.cross_entropy(outputs, targets)

    def loss_for(self, options: Mapping[str, Any]) -> Callable:
        """The training loss of ``options``: cross-entropy, or :func:`mse_onehot` when the
        task option ``loss`` is ``"mse"`` (where sharpness does not decay with the loss)."""
        loss = options.get("loss", "cross_entropy")
        if loss not in LOSSES:
            raise ValueError(f"task.loss must be one of {sorted(LOSSES)}, got {loss!r}")
        return LOSSES[loss]


def mse_onehot(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Squared error to one-hot targets, ``mean_i ½‖f(x_i) − e_{y_i}‖²`` (the MSE of Cohen et
    al. 2021's edge-of-stability experiments), a minibatch mean like cross-entropy.

    >>> out = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    >>> float(mse_onehot(out, torch.tensor([0, 1])))  # (0 + ½·1) / 2
    0.25
    """
    # ½‖o − e_y‖² = ½(‖o‖² − 2·o_y + 1), written with gather so it also runs under vmap
    o_y = outputs.gather(1, targets.unsqueeze(1)).squeeze(1)
    return 0.5 * ((outputs ** 2).sum(dim=1) - 2 * o_y + 1).mean()


LOSSES: dict[str, Callable] = {"cross_entropy": Task.loss_fn, "mse": mse_onehot}


@functools.lru_cache(maxsize=4)
def _cached_dataset(name: str, options_json: str) -> Dataset:
    return _controlled(TASKS[name]._data(json.loads(options_json)), json.loads(options_json))


def _controlled(data: Dataset, o: Mapping[str, Any]) -> Dataset:
    """The controlled factors of the protocol, in this order: ``heldout_fraction`` (a
    stratified part of the training split held out as the positive control's data; 0 = none),
    ``train_size`` (a stratified subset of the rest; 0 = all of it) and ``label_noise`` (a
    fraction of the training labels flipped to another class), all drawn from ``data_seed``."""
    if o.get("heldout_fraction", 0.0) > 0:
        data = with_heldout(data, o["heldout_fraction"], seed=o["data_seed"])
    if o.get("train_size", 0) and o["train_size"] < data.n_train:
        data = train_subset(data, o["train_size"], seed=o["data_seed"])
    if o.get("label_noise", 0.0) > 0:
        data = with_label_noise(data, o["label_noise"], seed=o["data_seed"])
    return data


def _mnist1d(o: Mapping[str, Any]) -> Dataset:
    return mnist1d_data(n_samples=o["n_samples"], seed=o["data_seed"])


def _mlp_for(o: Mapping[str, Any], d: Dataset, seed: int) -> nn.Module:
    return mlp(int(d.x_train.shape[1]), o["width"], o["depth"], d.n_classes, bias=o["bias"],
               activation=o["activation"], seed=seed)


def _modadd(encoding: str) -> Callable[[Mapping[str, Any]], Dataset]:
    def build(o: Mapping[str, Any]) -> Dataset:
        return modular_addition_data(modulus=o["modulus"], train_fraction=o["train_fraction"],
                                     seed=o["data_seed"], encoding=encoding)
    return build


def _lenet_for(o: Mapping[str, Any], d: Dataset, seed: int) -> nn.Module:
    side = math.isqrt(int(d.x_train.shape[1]))
    if side * side != int(d.x_train.shape[1]):
        raise ValueError(f"the CNN needs square one-channel images, got {d.x_train.shape[1]} "
                         "features per example")
    return lenet(side, d.n_classes, channels=(o["channels_1"], o["channels_2"]),
                 hidden=o["hidden"], seed=seed)


def _transformer_for(o: Mapping[str, Any], d: Dataset, seed: int) -> nn.Module:
    return ModularTransformer(vocab=o["modulus"] + 1, n_classes=d.n_classes,
                              d_model=o["d_model"], n_heads=o["n_heads"], d_mlp=o["d_mlp"],
                              n_layers=o["n_layers"], seed=seed)


def _mnist1d_task(name: str, description: str, width: int, depth: int) -> Task:
    return Task(name, description,
                {"n_samples": 5000, "data_seed": 42, "width": width, "depth": depth,
                 "bias": False, "activation": "relu", **_CONTROLLED},
                _mnist1d, _mlp_for)


_MODADD = {"modulus": 97, "train_fraction": 0.4, "data_seed": 0}
# Controlled factors that move the generalization gap (see _controlled); a sweep makes one a
# grid factor with [grid.task_options].
_CONTROLLED = {"train_size": 0, "label_noise": 0.0, "loss": "cross_entropy"}
# Options every task accepts that enter a run's options only when a sweep sets them (so the
# run ids of sweeps made before they existed do not change).
OPTIONAL_OPTIONS = {"heldout_fraction": 0.0}

TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        _mnist1d_task("mnist1d_mlp", "MNIST-1D, 3-layer width-16 ReLU MLP without bias "
                      "(1,056 parameters; exact SD feasible)", 16, 3),
        _mnist1d_task("mnist1d_mlp_wide", "MNIST-1D, 3-layer width-92 ReLU MLP without bias "
                      "(13,064 parameters, near the paper's 12,960)", 92, 3),
        _mnist1d_task("mnist1d_mlp_deep", "MNIST-1D, 5-layer width-200 ReLU MLP without bias "
                      "(130,000 parameters; SLQ measures only)", 200, 5),
        Task("digits_mlp", "scikit-learn digits (8x8), 3-layer width-16 ReLU MLP without bias "
             "(1,440 parameters)",
             {"test_fraction": 0.25, "data_seed": 0, "width": 16, "depth": 3, "bias": False,
              "activation": "relu", **_CONTROLLED},
             lambda o: digits_data(test_fraction=o["test_fraction"], seed=o["data_seed"]),
             _mlp_for),
        Task("fashion_mnist_mlp", "Fashion-MNIST (Debian dataset-fashion-mnist; `make data`), "
             "the paper's 784-16-16-10 ReLU MLP without bias (12,960 parameters), on a "
             "class-stratified subset",
             {"n_train": 10000, "n_test": 10000, "data_seed": 0, "width": 16, "depth": 3,
              "bias": False, "activation": "relu", **_CONTROLLED},
             lambda o: fashion_mnist_data(n_train=o["n_train"], n_test=o["n_test"],
                                          seed=o["data_seed"]),
             _mlp_for),
        Task("fashion_mnist_cnn", "Fashion-MNIST (Debian dataset-fashion-mnist; `make data`), "
             "a LeNet-style CNN without bias or batch norm (conv 5×5 1→6, max-pool, conv 5×5 "
             "6→12, max-pool, 192→16→10: 5,182 parameters), on a class-stratified subset",
             {"n_train": 10000, "n_test": 10000, "data_seed": 0, "channels_1": 6,
              "channels_2": 12, "hidden": 16, **_CONTROLLED},
             lambda o: fashion_mnist_data(n_train=o["n_train"], n_test=o["n_test"],
                                          seed=o["data_seed"]),
             _lenet_for),
        Task("modadd_mlp_gelu", "modular addition, one-hot (a, b) -> 2-layer MLP with 32 GELU "
             "hidden units (grokking)",
             {**_MODADD, "width": 32, "depth": 2, "bias": True, "activation": "gelu"},
             _modadd("onehot"), _mlp_for),
        Task("modadd_mlp_relu", "modular addition, one-hot (a, b) -> 3-layer ReLU MLP "
             "(grokking)",
             {**_MODADD, "width": 32, "depth": 3, "bias": True, "activation": "relu"},
             _modadd("onehot"), _mlp_for),
        Task("modadd_transformer", "modular addition, tokens (a, b, =) -> 1-layer causal "
             "transformer (no layer norm, no dropout)",
             {**_MODADD, "d_model": 32, "n_heads": 2, "d_mlp": 64, "n_layers": 1},
             _modadd("tokens"), _transformer_for),
    )
}


def task_names() -> list[str]:
    return sorted(TASKS)


def get_task(name: str) -> Task:
    """The task called ``name``; an unknown name is a ``ValueError`` listing the known ones."""
    if not isinstance(name, str) or name not in TASKS:
        raise ValueError(f"task must be one of {task_names()}, got {name!r}")
    return TASKS[name]
