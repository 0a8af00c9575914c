"""Training data for the estimators: validation, tensors on the model's device, minibatches.

``data`` is ``(inputs, targets)`` (``inputs`` a tensor or a tuple of tensors sharing the first
dimension) or a map-style ``torch.utils.data.Dataset`` whose items are ``(input, target)``
pairs; a dataset is collated once into tensors with ``torch.utils.data.default_collate`` (the
training set must fit in memory, which exact and SLQ estimation need anyway for random
minibatches).

Minibatch ``i`` of a call with seed ``s`` is drawn by ``numpy.random.default_rng(r_i)``
(``r = slq_run_seeds(s, R)``) as ``batch_size`` distinct indices — the protocol of
:func:`sharpdim.curvature.slq_spectral_measure` — so the exact and the density methods see
the same minibatches for the same seed, and any single minibatch is reproducible on its own.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

from sharpdim._numerics import resolve_seed  # noqa: F401 (the package's one seed resolver)
from sharpdim.curvature.slq import draw_minibatch, run_probe

__all__ = ["TrainingData", "training_data", "resolve_seed", "Minibatch", "minibatch"]


@dataclass(frozen=True)
class TrainingData:
    """Validated training set: ``inputs`` (tensor or tuple), ``targets``, ``n`` examples."""

    inputs: torch.Tensor | tuple[torch.Tensor, ...]
    targets: torch.Tensor
    n: int

    def take(self, idx: np.ndarray) -> tuple[torch.Tensor | tuple[torch.Tensor, ...],
                                             torch.Tensor]:
        """``(inputs[idx], targets[idx])``."""
        index = torch.as_tensor(np.asarray(idx, dtype=np.int64), device=self.targets.device)
        if isinstance(self.inputs, tuple):
            return tuple(t[index] for t in self.inputs), self.targets[index]
        return self.inputs[index], self.targets[index]


def _first_len(t: torch.Tensor, name: str) -> int:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.ndim == 0:
        raise ValueError(f"{name} must have a leading example dimension, got a 0-d tensor")
    return int(t.shape[0])


def _collate(dataset) -> tuple:
    from torch.utils.data import default_collate

    n = len(dataset)
    if n == 0:
        raise ValueError("data must contain at least one example, got an empty dataset")
    items = [dataset[i] for i in range(n)]
    if not all(isinstance(it, tuple | list) and len(it) == 2 for it in items[:1]):
        raise TypeError(
            f"data items must be (input, target) pairs, got {type(items[0]).__name__}"
        )
    inputs, targets = default_collate(items)
    return inputs, targets


def _check_finite(t: torch.Tensor, name: str) -> None:
    """``ValueError`` naming the first example with a NaN/inf entry of a floating tensor.

    Checked once for the whole training set, so a bad example is caught whether or not a
    sampled minibatch happens to contain it."""
    if not (t.is_floating_point() or t.is_complex()):
        return
    if t.numel() and bool(torch.isfinite(t.sum())):  # one reduction; a sum that overflows
        return                                         # with every entry finite is re-checked
    bad = ~torch.isfinite(t)
    if bool(bad.any()):
        where = tuple(int(i) for i in bad.nonzero()[0])
        value = float(t[where].real) if t.is_complex() else float(t[where])
        count = int(bad.reshape(t.shape[0], -1).any(dim=1).sum()) if t.ndim else 1
        raise ValueError(
            f"{name} must be finite, got {value} at index {where} (example {where[0]}; "
            f"{count} example(s) with a non-finite entry): remove or repair them")


def training_data(data, *, device: torch.device | None = None) -> TrainingData:
    """Validate ``data`` and put its tensors on ``device`` (the model's). Raises
    ``ValueError`` for empty data, mismatched lengths or a NaN/inf entry in a floating input
    or target (checked once, up front), ``TypeError`` for other types."""
    if isinstance(data, torch.utils.data.TensorDataset):
        if len(data.tensors) != 2:
            raise TypeError(f"data must hold (inputs, targets), got a TensorDataset of "
                            f"{len(data.tensors)} tensors")
        data = data.tensors
    elif isinstance(data, torch.utils.data.Dataset) or (
        hasattr(data, "__getitem__") and hasattr(data, "__len__")
        and not isinstance(data, tuple | list)
    ):
        data = _collate(data)
    if not isinstance(data, tuple | list) or len(data) != 2:
        raise TypeError(
            "data must be (inputs, targets) tensors or a torch Dataset of (input, target) "
            f"pairs, got {type(data).__name__}"
        )
    inputs, targets = data
    n = _first_len(targets, "targets")
    parts = tuple(inputs) if isinstance(inputs, tuple | list) else (inputs,)
    if not parts:
        raise ValueError("inputs must hold at least one tensor, got an empty tuple")
    for k, t in enumerate(parts):
        name = "inputs" if len(parts) == 1 else f"inputs[{k}]"
        if _first_len(t, name) != n:
            raise ValueError(
                f"{name} and targets must have the same number of examples, got "
                f"{int(t.shape[0])} and {n}"
            )
    if n == 0:
        raise ValueError("data must contain at least one example, got an empty dataset")
    for k, t in enumerate(parts):
        _check_finite(t, "inputs" if len(parts) == 1 else f"inputs[{k}]")
    _check_finite(targets, "targets")
    if device is not None:
        parts = tuple(t.to(device) for t in parts)
        targets = targets.to(device)
    inputs = parts if isinstance(inputs, tuple | list) else parts[0]
    return TrainingData(inputs, targets, n)


@dataclass(frozen=True)
class Minibatch:
    """Minibatch ``index`` of a call: its ``seed``, ``indices`` (out of ``n_examples``) and
    their hash. :meth:`probe` re-creates the run's Rademacher probe from the seed (no
    generator is kept in the object)."""

    index: int
    seed: int
    indices: np.ndarray
    index_hash: str
    n_examples: int

    def probe(self, size: int) -> np.ndarray:
        """The run's probe of length ``size``
        (:func:`sharpdim.curvature.slq.run_probe`: drawn after the indices from
        ``default_rng(seed)``)."""
        return run_probe(self.seed, self.n_examples, int(self.indices.size), size)

    def label(self) -> str:
        return f"minibatch {self.index} (batch seed {self.seed}, indices sha1 {self.index_hash})"


def minibatch(index: int, batch_seed: int, n: int, batch_size: int) -> Minibatch:
    """Draw minibatch ``index`` from its seed (see the module docstring)."""
    idx = draw_minibatch(n, batch_size, np.random.default_rng(batch_seed))
    digest = hashlib.sha1(np.asarray(idx, dtype=np.int64).tobytes()).hexdigest()[:16]
    return Minibatch(index, int(batch_seed), idx, digest, int(n))
