"""Datasets of the experiments, generated or shipped with a package (never downloaded).

* MNIST-1D: the ``mnist1d`` package's offline generator ``make_dataset`` (40-sample 1-D
  signals, 10 classes). ``get_dataset`` is avoided: it tries the network first.
  ``make_dataset`` reseeds Python's ``random`` and numpy's global generator; the global
  states are saved and restored around the call so that nothing outside sees the reseed.
* digits: scikit-learn's bundled 8×8 digits (1,797 images, 64 features, 10 classes).
* modular addition: all pairs ``(a, b)`` of ``Z_p``, label ``(a + b) mod p``; a random
  fraction is the training set.
* Fashion-MNIST: the IDX files of the Debian package ``dataset-fashion-mnist`` (``make data``
  installs it), each checked against its SHA-256 before it is read.

Every dataset is a :class:`Dataset` of float32 inputs and int64 labels; the split and any
subsampling are drawn from an explicit ``seed``. Two controlled factors that move the
generalization gap apply to any of them: :func:`train_subset` (a smaller, class-stratified
training set) and :func:`with_label_noise` (a fraction of training labels replaced by a
different class); the test set is never touched.
"""

from __future__ import annotations

import gzip
import hashlib
import random
import struct
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sharpdim import _validate

__all__ = [
    "Dataset",
    "mnist1d_data",
    "digits_data",
    "modular_addition_data",
    "fashion_mnist_data",
    "train_subset",
    "with_label_noise",
    "with_heldout",
    "read_idx",
    "FASHION_MNIST_DIR",
    "FASHION_MNIST_SHA256",
    "DatasetMissingError",
]


@dataclass(frozen=True)
class Dataset:
    """A classification dataset split into train and test tensors.

    ``x_*``: float32 inputs (or int64 token ids for sequence models); ``y_*``: int64 labels
    in ``[0, n_classes)``; ``info``: how it was made (generator, seed, sizes);
    ``x_heldout``/``y_heldout``: a held-out part of the *training distribution* (never trained
    on, never the test set; ``None`` without one, see :func:`with_heldout`).
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    info: dict[str, Any] = field(default_factory=dict)
    x_heldout: torch.Tensor | None = None
    y_heldout: torch.Tensor | None = None

    @property
    def n_heldout(self) -> int:
        return 0 if self.y_heldout is None else int(self.y_heldout.shape[0])

    @property
    def n_train(self) -> int:
        return int(self.y_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.y_test.shape[0])


def mnist1d_data(*, n_samples: int = 5000, train_fraction: float = 0.8, seed: int = 42) -> Dataset:
    """MNIST-1D from ``mnist1d.data.make_dataset`` with ``num_samples = n_samples``.

    The generator's own split is kept (the first ``train_fraction`` of its shuffled samples
    train). The global ``random``/``numpy`` states are restored after the call.

    >>> d = mnist1d_data(n_samples=100, seed=0)
    >>> (d.n_train, d.n_test, tuple(d.x_train.shape[1:]), d.n_classes)
    (80, 20, (40,), 10)
    """
    from mnist1d.data import get_dataset_args, make_dataset

    n_samples = _validate.integer("n_samples", n_samples, minimum=1)
    if n_samples < 20:
        raise ValueError(f"n_samples must be >= 20 (two per class), got {n_samples}")
    train_fraction = _validate.fraction("train_fraction", train_fraction)
    seed = _validate.integer("seed", seed, minimum=0)
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

    test_fraction = _validate.fraction("test_fraction", test_fraction)
    seed = _validate.integer("seed", seed, minimum=0)
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
    p = _validate.integer("modulus", modulus, minimum=2)
    train_fraction = _validate.fraction("train_fraction", train_fraction)
    _validate.choice("encoding", encoding, ("onehot", "tokens"))
    seed = _validate.integer("seed", seed, minimum=0)
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


FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
"""Where the Debian package ``dataset-fashion-mnist`` (0.0~git20200523.55506a9-1) puts the
four IDX files (``dpkg -L dataset-fashion-mnist``)."""

FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz":
        "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "train-labels-idx1-ubyte.gz":
        "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    "t10k-images-idx3-ubyte.gz":
        "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "t10k-labels-idx1-ubyte.gz":
        "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
}
"""SHA-256 of the gzipped IDX files as the Debian package ships them."""

_INSTALL_HINT = ("run `make data` (it runs `apt-get install -y dataset-fashion-mnist` as root) "
                 "or pass root= a folder holding the four IDX files")


class DatasetMissingError(FileNotFoundError):
    """A shipped dataset is not installed; the message names the command that installs it."""


_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(data: bytes) -> np.ndarray:
    """Decode one IDX file (LeCun's format): two zero bytes, a type code, the number of
    dimensions ``k``, ``k`` big-endian uint32 sizes, then the values in C order.

    >>> read_idx(bytes([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6])).tolist()
    [[1, 2, 3], [4, 5, 6]]
    """
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError("data must start with the IDX magic (two zero bytes), got "
                         f"{data[:4]!r}")
    code, ndim = data[2], data[3]
    if code not in _IDX_TYPES:
        raise ValueError(f"IDX type code must be one of {sorted(_IDX_TYPES)}, got {code:#x}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"IDX header announces {ndim} dimensions but the file has "
                         f"{len(data)} bytes")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_TYPES[code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(f"IDX body must hold {expected} bytes for shape {shape}, got "
                         f"{len(data) - header}")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def _checked_idx(path: Path, sha256: str | None) -> np.ndarray:
    if not path.is_file():
        raise DatasetMissingError(f"Fashion-MNIST file {path} is missing: {_INSTALL_HINT}")
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if sha256 is not None and digest != sha256:
        raise ValueError(f"{path} must have SHA-256 {sha256}, got {digest} (a corrupt or "
                         "different copy; reinstall the package)")
    return read_idx(gzip.decompress(raw) if path.suffix == ".gz" else raw)


def _stratified_subset(labels: np.ndarray, n: int | None, rng: np.random.Generator,
                       name: str) -> np.ndarray:
    """``n`` indices with the class proportions of ``labels`` (largest remainders), drawn
    without replacement; all indices in their original order when ``n`` is ``None``."""
    if n is None:
        return np.arange(labels.size)
    n = _validate.integer(name, n, minimum=1)
    if n > labels.size:
        raise ValueError(f"{name} must be <= {labels.size} (the split's size), got {n}")
    classes, counts = np.unique(labels, return_counts=True)
    share = counts * n / labels.size
    take = np.floor(share).astype(int)
    take[np.argsort(-(share - take), kind="stable")[: n - take.sum()]] += 1
    picked = [rng.choice(np.flatnonzero(labels == c), size=k, replace=False)
              for c, k in zip(classes, take, strict=True)]
    return np.sort(np.concatenate(picked))


def fashion_mnist_data(
    *, n_train: int | None = None, n_test: int | None = None, seed: int = 0,
    root: str | Path | None = None, verify: bool = True,
) -> Dataset:
    """Fashion-MNIST (Xiao et al. 2017; 60,000 + 10,000 28×28 grey images, 10 classes) from
    the IDX files of the Debian package ``dataset-fashion-mnist``, flattened to 784 floats in
    ``[0, 1]`` (pixel ÷ 255).

    ``n_train`` / ``n_test``: class-stratified subsets of the official splits drawn with
    ``seed`` (``None``: the whole split). ``root``: a folder with the four ``*.gz`` files
    (default :data:`FASHION_MNIST_DIR`); ``verify``: check each file's SHA-256 against
    :data:`FASHION_MNIST_SHA256` (a copy under another ``root`` may differ: pass ``False``).
    A missing file raises :class:`DatasetMissingError` naming ``make data``.
    """
    seed = _validate.integer("seed", seed, minimum=0)
    folder = FASHION_MNIST_DIR if root is None else Path(root)
    arrays = {}
    for name, digest in FASHION_MNIST_SHA256.items():
        arrays[name] = _checked_idx(folder / name, digest if verify else None)
    x_tr, y_tr = arrays["train-images-idx3-ubyte.gz"], arrays["train-labels-idx1-ubyte.gz"]
    x_te, y_te = arrays["t10k-images-idx3-ubyte.gz"], arrays["t10k-labels-idx1-ubyte.gz"]
    for x, y, split in ((x_tr, y_tr, "train"), (x_te, y_te, "test")):
        if x.ndim != 3 or y.ndim != 1 or x.shape[0] != y.shape[0]:
            raise ValueError(f"Fashion-MNIST {split} files must hold (n, rows, cols) images and "
                             f"n labels, got {x.shape} and {y.shape}")
    rng = np.random.default_rng(seed)
    tr = _stratified_subset(y_tr, n_train, rng, "n_train")
    te = _stratified_subset(y_te, n_test, rng, "n_test")

    def images(x: np.ndarray, idx: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(x[idx].reshape(idx.size, -1).astype(np.float32) / 255.0)

    return Dataset(
        x_train=images(x_tr, tr), y_train=torch.as_tensor(y_tr[tr].astype(np.int64)),
        x_test=images(x_te, te), y_test=torch.as_tensor(y_te[te].astype(np.int64)),
        n_classes=10,
        info={"source": "Debian dataset-fashion-mnist (IDX)", "root": str(folder),
              "sha256_verified": bool(verify), "n_train": int(tr.size),
              "n_test": int(te.size), "seed": seed},
    )


def train_subset(data: Dataset, n_train: int, *, seed: int) -> Dataset:
    """The first-class factor "training-set size": a class-stratified subset of ``n_train``
    training examples (largest-remainder class counts), drawn with ``seed``; the test set
    is unchanged. ``info`` records ``n_train_subset`` and ``subset_seed``.

    >>> d = digits_data(seed=0)
    >>> s = train_subset(d, 100, seed=1)
    >>> s.n_train, s.n_test == d.n_test, sorted(set(s.y_train.tolist())) == list(range(10))
    (100, True, True)
    """
    seed = _validate.integer("seed", seed, minimum=0)
    idx = _stratified_subset(data.y_train.numpy(), n_train, np.random.default_rng(seed),
                             "n_train")
    t = torch.as_tensor(idx)
    return replace(data, x_train=data.x_train[t], y_train=data.y_train[t],
                   info={**data.info, "n_train_subset": int(idx.size), "subset_seed": seed})


def with_heldout(data: Dataset, fraction: float, *, seed: int) -> Dataset:
    """Move a class-stratified ``fraction`` of the training split (largest-remainder class
    counts, drawn with ``seed``) into a held-out split: the same distribution as the training
    data, never trained on and never the test set — the realistic positive control of the
    evaluation protocol estimates the gap on it. ``info`` records its size and seed.

    >>> d = with_heldout(digits_data(seed=0), 0.2, seed=0)
    >>> d.n_train + d.n_heldout, d.n_heldout, sorted(set(d.y_heldout.tolist())) == list(range(10))
    (1347, 269, True)
    """
    fraction = _validate.fraction("heldout_fraction", fraction)
    seed = _validate.integer("seed", seed, minimum=0)
    labels = data.y_train.numpy()
    held = _stratified_subset(labels, int(round(fraction * labels.size)),
                              np.random.default_rng(seed), "heldout size")
    keep = torch.as_tensor(np.setdiff1d(np.arange(labels.size), held))
    h = torch.as_tensor(held)
    return replace(data, x_train=data.x_train[keep], y_train=data.y_train[keep],
                   x_heldout=data.x_train[h], y_heldout=data.y_train[h],
                   info={**data.info, "n_heldout": int(held.size), "heldout_seed": seed})


def with_label_noise(data: Dataset, fraction: float, *, seed: int) -> Dataset:
    """Replace the labels of ``round(fraction · n_train)`` training examples (drawn without
    replacement) by a class drawn uniformly from the ``C − 1`` *other* classes, with
    ``seed``; inputs and the test set are unchanged. ``info`` records the fraction, the
    number flipped and the seed.

    >>> d = digits_data(seed=0)
    >>> noisy = with_label_noise(d, 0.2, seed=3)
    >>> int((noisy.y_train != d.y_train).sum()), round(0.2 * d.n_train)
    (269, 269)
    """
    fraction = _validate.real("label_noise", fraction, minimum=0, maximum=1)
    seed = _validate.integer("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    y = data.y_train.numpy().copy()
    k = int(round(fraction * y.size))
    rows = rng.choice(y.size, size=k, replace=False)
    shift = rng.integers(1, data.n_classes, size=k)  # 1..C-1: never the same class
    y[rows] = (y[rows] + shift) % data.n_classes
    return replace(data, y_train=torch.as_tensor(y),
                   info={**data.info, "label_noise": float(fraction), "labels_flipped": k,
                         "label_noise_seed": seed})
