"""Datasets of the experiments, generated or shipped with a package (never downloaded).

* MNIST-1D: the ``mnist1d`` package's offline generator ``make_dataset`` (40-sample 1-D
  signals, 10 classes). ``get_dataset`` is avoided: it tries the network first.
  ``make_dataset`` reseeds Python's ``random`` and numpy's global generator; the global
  states are saved and restored around the call so that nothing outside sees the reseed.
* digits: scikit-learn's bundled 8×8 digits (1,797 images, 64 features, 10 classes).
* modular addition: all pairs ``(a, b)`` of ``Z_p``, label ``(a + b) mod p``; a random
  fraction is the training set.

Every dataset is a :class:`Dataset` of float32 inputs and int64 labels; the split and any
subsampling are drawn from an explicit ``seed``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

__all__ = ["Dataset", "mnist1d_data", "digits_data", "modular_addition_data"]


@dataclass(frozen=True)
class Dataset:
    """A classification dataset split into train and test tensors.

    ``x_*``: float32 inputs (or int64 token ids for sequence models); ``y_*``: int64 labels
    in ``[0, n_classes)``; ``info``: how it was made (generator, seed, sizes).
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_train(self) -> int:
        return int(self.y_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.y_test.shape[0])


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _seed(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ValueError(f"seed must be a non-negative integer, got {value!r}")
    return int(value)


def _fraction(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise ValueError(f"{name} must be a number in (0, 1), got {value!r}")
    return float(value)


def mnist1d_data(*, n_samples: int = 5000, train_fraction: float = 0.8, seed: int = 42) -> Dataset:
    """MNIST-1D from ``mnist1d.data.make_dataset`` with ``num_samples = n_samples``.

    The generator's own split is kept (the first ``train_fraction`` of its shuffled samples
    train). The global ``random``/``numpy`` states are restored after the call.

    >>> d = mnist1d_data(n_samples=100, seed=0)
    >>> (d.n_train, d.n_test, tuple(d.x_train.shape[1:]), d.n_classes)
    (80, 20, (40,), 10)
    """
    from mnist1d.data import get_dataset_args, make_dataset

    n_samples = _positive_int("n_samples", n_samples)
    if n_samples < 20:
        raise ValueError(f"n_samples must be >= 20 (two per class), got {n_samples}")
    train_fraction = _fraction("train_fraction", train_fraction)
    seed = _seed(seed)
    args = get_dataset_args()
    args.num_samples = n_samples
    args.train_split = train_fraction
    args.seed = seed
    # mnist1d reseeds the legacy global generators; restore them (the point of this code).
    py_state, np_state = random.getstate(), np.random.get_state()  # noqa: NPY002
    try:
        raw = make_dataset(args)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)  # noqa: NPY002
    return Dataset(
        x_train=torch.as_tensor(raw["x"], dtype=torch.float32),
        y_train=torch.as_tensor(raw["y"], dtype=torch.int64),
        x_test=torch.as_tensor(raw["x_test"], dtype=torch.float32),
        y_test=torch.as_tensor(raw["y_test"], dtype=torch.int64),
        n_classes=10,
        info={"generator": "mnist1d.data.make_dataset", "n_samples": n_samples,
              "train_fraction": train_fraction, "seed": seed},
    )


def digits_data(*, test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """scikit-learn's bundled digits, pixel values scaled to ``[0, 1]`` (÷ 16), split at
    random with ``seed`` (stratified by class).

    >>> d = digits_data(seed=0)
    >>> (d.n_train + d.n_test, tuple(d.x_train.shape[1:]), float(d.x_train.max()) <= 1.0)
    (1797, (64,), True)
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    test_fraction = _fraction("test_fraction", test_fraction)
    seed = _seed(seed)
    X, y = load_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(
        X / 16.0, y, test_size=test_fraction, random_state=seed, stratify=y)
    return Dataset(
        x_train=torch.as_tensor(x_tr, dtype=torch.float32),
        y_train=torch.as_tensor(y_tr, dtype=torch.int64),
        x_test=torch.as_tensor(x_te, dtype=torch.float32),
        y_test=torch.as_tensor(y_te, dtype=torch.int64),
        n_classes=10,
        info={"generator": "sklearn.datasets.load_digits", "test_fraction": test_fraction,
              "seed": seed},
    )


def modular_addition_data(
    *, modulus: int = 97, train_fraction: float = 0.4, seed: int = 0, encoding: str = "onehot"
) -> Dataset:
    """All ``p²`` pairs ``(a, b)`` with label ``(a + b) mod p``; a random ``train_fraction``
    of the pairs (rounded down) trains, the rest test.

    ``encoding="onehot"``: inputs are the concatenated one-hot codes of ``a`` and ``b``
    (``2p`` floats, for MLPs); ``"tokens"``: inputs are the int64 sequence ``(a, b, p)``,
    ``p`` being an "=" token (for the transformer).

    >>> d = modular_addition_data(modulus=5, train_fraction=0.4, seed=0)
    >>> (d.n_train, d.n_test, tuple(d.x_train.shape[1:]))
    (10, 15, (10,))
    >>> x, y = d.x_train[0], d.y_train[0]      # label = (a + b) mod 5 from the one-hot codes
    >>> int(y) == (int(x[:5].argmax()) + int(x[5:].argmax())) % 5
    True
    """
    p = _positive_int("modulus", modulus)
    if p < 2:
        raise ValueError(f"modulus must be >= 2, got {p}")
    train_fraction = _fraction("train_fraction", train_fraction)
    if encoding not in ("onehot", "tokens"):
        raise ValueError(f"encoding must be 'onehot' or 'tokens', got {encoding!r}")
    seed = _seed(seed)
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    a, b = a.ravel(), b.ravel()
    labels = (a + b) % p
    order = np.random.default_rng(seed).permutation(p * p)
    n_train = int(train_fraction * p * p)
    if n_train < 1 or n_train >= p * p:
        raise ValueError(
            f"train_fraction={train_fraction} leaves an empty train or test set for "
            f"modulus {p} ({p * p} pairs)")
    if encoding == "onehot":
        eye = np.eye(p, dtype=np.float32)
        inputs = torch.as_tensor(np.concatenate([eye[a], eye[b]], axis=1))
    else:
        inputs = torch.as_tensor(np.stack([a, b, np.full_like(a, p)], axis=1), dtype=torch.int64)
    y = torch.as_tensor(labels, dtype=torch.int64)
    tr, te = torch.as_tensor(order[:n_train]), torch.as_tensor(order[n_train:])
    return Dataset(
        x_train=inputs[tr], y_train=y[tr], x_test=inputs[te], y_test=y[te], n_classes=p,
        info={"generator": "modular addition", "modulus": p, "train_fraction": train_fraction,
              "seed": seed, "encoding": encoding},
    )
