"""Fashion-MNIST from the Debian package's IDX files: the IDX reader against bytes written by
hand with ``struct`` (the format's definition is the oracle), checksum and missing-file
errors, class-stratified subsets, and the installed files themselves (skipped with the
install command when the package is absent)."""

from __future__ import annotations

import gzip
import hashlib
import struct

import numpy as np
import pytest

from sharpdim.lab.sweeps.data import (
    FASHION_MNIST_DIR,
    FASHION_MNIST_SHA256,
    DatasetMissingError,
    fashion_mnist_data,
    read_idx,
)
from sharpdim.lab.sweeps.tasks import get_task


def _idx(values: np.ndarray, code: int, fmt: str) -> bytes:
    header = bytes([0, 0, code, values.ndim]) + struct.pack(f">{values.ndim}I", *values.shape)
    return header + struct.pack(f">{values.size}{fmt}", *values.ravel().tolist())


def test_read_idx_decodes_hand_written_files_of_every_type():
    rng = np.random.default_rng(0)
    u8 = rng.integers(0, 256, size=(3, 2, 4))
    assert np.array_equal(read_idx(_idx(u8, 0x08, "B")), u8)
    i4 = rng.integers(-2**31, 2**31 - 1, size=(5,))
    assert np.array_equal(read_idx(_idx(i4, 0x0C, "i")), i4)
    f8 = rng.standard_normal((2, 3))
    assert np.array_equal(read_idx(_idx(f8, 0x0E, "d")), f8)


@pytest.mark.parametrize("data, match", [
    (b"\x01\x00\x08\x01\x00\x00\x00\x01\x07", "magic"),
    (b"\x00\x00\x07\x01\x00\x00\x00\x01\x07", "type code"),
    (b"\x00\x00\x08\x02\x00\x00\x00\x01", "header"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x03\x07", "body must hold 3 bytes"),
])
def test_read_idx_rejects_malformed_files_with_the_reason(data, match):
    with pytest.raises(ValueError, match=match):
        read_idx(data)


def _fake_root(tmp_path, n_train=40, n_test=20):
    rng = np.random.default_rng(1)
    files = {
        "train-images-idx3-ubyte.gz": _idx(rng.integers(0, 256, (n_train, 28, 28)), 0x08, "B"),
        "train-labels-idx1-ubyte.gz": _idx(np.arange(n_train) % 10, 0x08, "B"),
        "t10k-images-idx3-ubyte.gz": _idx(rng.integers(0, 256, (n_test, 28, 28)), 0x08, "B"),
        "t10k-labels-idx1-ubyte.gz": _idx(np.arange(n_test) % 10, 0x08, "B"),
    }
    for name, raw in files.items():
        (tmp_path / name).write_bytes(gzip.compress(raw))
    return tmp_path


def test_missing_files_name_the_install_command(tmp_path):
    with pytest.raises(DatasetMissingError, match="make data"):
        fashion_mnist_data(root=tmp_path)


def test_checksum_mismatch_is_refused(tmp_path):
    with pytest.raises(ValueError, match="must have SHA-256"):
        fashion_mnist_data(root=_fake_root(tmp_path))


def test_subsets_are_class_stratified_seeded_and_scaled_to_unit_interval(tmp_path):
    root = _fake_root(tmp_path)
    d = fashion_mnist_data(root=root, verify=False, n_train=20, n_test=10, seed=3)
    assert (d.n_train, d.n_test, tuple(d.x_train.shape[1:])) == (20, 10, (784,))
    assert d.y_train.bincount(minlength=10).tolist() == [2] * 10
    assert d.y_test.bincount(minlength=10).tolist() == [1] * 10
    assert 0.0 <= float(d.x_train.min()) and float(d.x_train.max()) <= 1.0
    again = fashion_mnist_data(root=root, verify=False, n_train=20, n_test=10, seed=3)
    assert np.array_equal(again.x_train.numpy(), d.x_train.numpy())
    other = fashion_mnist_data(root=root, verify=False, n_train=20, n_test=10, seed=4)
    assert not np.array_equal(other.x_train.numpy(), d.x_train.numpy())


def test_subset_larger_than_the_split_is_refused(tmp_path):
    with pytest.raises(ValueError, match="n_train must be <= 40"):
        fashion_mnist_data(root=_fake_root(tmp_path), verify=False, n_train=41)


installed = all((FASHION_MNIST_DIR / name).is_file() for name in FASHION_MNIST_SHA256)


@pytest.mark.skipif(not installed, reason="dataset-fashion-mnist is not installed: `make data`")
def test_installed_files_match_the_recorded_checksums_and_official_sizes():
    for name, digest in FASHION_MNIST_SHA256.items():
        assert hashlib.sha256((FASHION_MNIST_DIR / name).read_bytes()).hexdigest() == digest
    d = fashion_mnist_data()
    # Xiao et al. 2017: 60,000 training and 10,000 test images, 6,000 / 1,000 per class.
    assert (d.n_train, d.n_test) == (60_000, 10_000)
    assert d.y_train.bincount().tolist() == [6000] * 10
    assert d.y_test.bincount().tolist() == [1000] * 10


@pytest.mark.skipif(not installed, reason="dataset-fashion-mnist is not installed: `make data`")
def test_fashion_task_is_the_papers_12960_parameter_network():
    task = get_task("fashion_mnist_mlp")
    options = task.options({"n_train": 100, "n_test": 50})
    # 784·16 + 16·16 + 16·10 weights, no biases (docs/theory.md §6).
    assert task.n_parameters(options) == 784 * 16 + 16 * 16 + 16 * 10 == 12_960
