"""Training data for the estimators: validation, tensors on the model's device, minibatches.

``data`` is ``(inputs, targets)`` (``inputs`` a tensor, a tuple of tensors — the model's
positional arguments — or a dict of tensors — its keyword arguments — sharing the first
dimension); a dict of tensors holding the targets under ``target_key`` (``{"input_ids": …,
"labels": …}``); a map-style ``torch.utils.data.Dataset`` whose items are ``(input, target)``
pairs or such dicts; a ``DataLoader`` (over a map-style dataset its dataset is used — its
shuffling and batching are not, since minibatches are drawn here —, over an iterable one its
batches are read in order); or an ``IterableDataset``, whose first ``n_examples`` examples are
taken. Everything is collated once into tensors (the training set must fit in memory, which
exact and SLQ estimation need anyway for random minibatches).

Minibatch ``i`` of a call with seed ``s`` is drawn by ``numpy.random.default_rng(r_i)``
(``r = slq_run_seeds(s, R)``) as ``batch_size`` distinct indices — the protocol of
:func:`sharpdim.curvature.slq_spectral_measure` — so the exact and the density methods see
the same minibatches for the same seed, and any single minibatch is reproducible on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sharpdim import _validate
from sharpdim._numerics import resolve_seed  # noqa: F401 (the package's one seed resolver)
from sharpdim.curvature.minibatch import Minibatch, minibatch  # noqa: F401 (the protocol)

__all__ = ["TrainingData", "training_data", "resolve_seed", "Minibatch", "minibatch"]


@dataclass(frozen=True)
class TrainingData:
    """Validated training set: ``inputs`` (a tensor, a tuple of positional tensors or a dict
    of keyword tensors), ``targets``, ``n`` examples."""

    inputs: torch.Tensor | tuple[torch.Tensor, ...] | dict[str, torch.Tensor]
    targets: torch.Tensor
    n: int

    def take(self, idx: np.ndarray) -> tuple[torch.Tensor | tuple[torch.Tensor, ...],
                                             torch.Tensor]:
        """``(inputs[idx], targets[idx])``."""
        index = torch.as_tensor(np.asarray(idx, dtype=np.int64), device=self.targets.device)
        if isinstance(self.inputs, dict):
            return {k: t[index] for k, t in self.inputs.items()}, self.targets[index]
        if isinstance(self.inputs, tuple):
            return tuple(t[index] for t in self.inputs), self.targets[index]
        return self.inputs[index], self.targets[index]


def _first_len(t: torch.Tensor, name: str) -> int:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.ndim == 0:
        raise ValueError(f"{name} must have a leading example dimension, got a 0-d tensor")
    return int(t.shape[0])


def _split_item(item, target_key: str):
    """``(input, target)`` of one example or batch: a pair, or a dict holding ``target_key``
    (its other entries are the model's keyword inputs)."""
    if isinstance(item, dict):
        if target_key not in item:
            raise KeyError(f"target_key must name the targets' entry of the dict items, got "
                           f"{target_key!r}; the items hold {sorted(item)}")
        return {k: v for k, v in item.items() if k != target_key}, item[target_key]
    if isinstance(item, tuple | list) and len(item) == 2:
        return item[0], item[1]
    raise TypeError("data items must be (input, target) pairs or dicts holding "
                    f"{target_key!r}, got {type(item).__name__}")


def _concat(batches: list):
    """Batches (tensors, tuples or dicts of tensors) joined along the example dimension."""
    first = batches[0]
    if isinstance(first, dict):
        return {k: torch.cat([b[k] for b in batches]) for k in first}
    if isinstance(first, tuple | list):
        return tuple(torch.cat(parts) for parts in zip(*batches, strict=True))
    return torch.cat(batches)


def _first(x, n: int):
    if isinstance(x, dict):
        return {k: v[:n] for k, v in x.items()}
    if isinstance(x, tuple | list):
        return tuple(t[:n] for t in x)
    return x[:n]


def _collate(dataset, target_key: str) -> tuple:
    from torch.utils.data import default_collate

    n = len(dataset)
    if n == 0:
        raise ValueError("data must contain at least one example, got an empty dataset")
    pairs = [_split_item(dataset[i], target_key) for i in range(n)]
    inputs, targets = default_collate(pairs)
    return inputs, targets


def _stream(batches, n_examples: int | None, target_key: str, *, batched: bool) -> tuple:
    """The first ``n_examples`` examples of an iterable of examples (``batched=False``: an
    ``IterableDataset``) or of batches (a ``DataLoader`` over one), in the order they come."""
    from torch.utils.data import default_collate

    if n_examples is None:
        raise ValueError("n_examples must be given for an iterable dataset (it has no len(); "
                         "the estimators draw minibatches from a fixed set), got None")
    taken, parts = 0, []
    for item in batches:
        inputs, targets = _split_item(item, target_key)
        if not batched:
            inputs, targets = default_collate([(inputs, targets)])
        parts.append((inputs, targets))
        taken += _first_len(targets, "targets")
        if taken >= n_examples:
            break
    if taken < n_examples:
        raise ValueError(f"n_examples must be <= the examples the iterable yields ({taken}), "
                         f"got {n_examples}")
    inputs = _first(_concat([p[0] for p in parts]), n_examples)
    return inputs, _concat([p[1] for p in parts])[:n_examples]


def _as_pair(data, n_examples: int | None, target_key: str) -> tuple:
    """``(inputs, targets)`` from any accepted form of ``data`` (module docstring)."""
    from torch.utils.data import DataLoader, IterableDataset, TensorDataset

    if isinstance(data, DataLoader):
        if not isinstance(data.dataset, IterableDataset):
            data = data.dataset   # its own order and batching are ours to draw
        else:
            return _stream(data, n_examples, target_key, batched=data.batch_size is not None)
    if isinstance(data, IterableDataset):
        return _stream(data, n_examples, target_key, batched=False)
    if isinstance(data, TensorDataset):
        if len(data.tensors) != 2:
            raise TypeError(f"data must hold (inputs, targets), got a TensorDataset of "
                            f"{len(data.tensors)} tensors")
        return tuple(data.tensors)
    if isinstance(data, dict):
        return _split_item(data, target_key)
    if isinstance(data, torch.utils.data.Dataset) or (
        hasattr(data, "__getitem__") and hasattr(data, "__len__")
        and not isinstance(data, tuple | list)
    ):
        return _collate(data, target_key)
    if not isinstance(data, tuple | list) or len(data) != 2:
        raise TypeError(
            "data must be (inputs, targets) tensors, a dict of tensors holding the targets, a "
            f"torch Dataset, IterableDataset or DataLoader, got {type(data).__name__}"
        )
    return tuple(data)


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


def training_data(data, *, device: torch.device | None = None, n_examples: int | None = None,
                  target_key: str = "labels") -> TrainingData:
    """Validate ``data`` and put its tensors on ``device`` (the model's). Raises
    ``ValueError`` for empty data, mismatched lengths or a NaN/inf entry in a floating input
    or target (checked once, up front), ``TypeError`` for other types. ``n_examples``: how
    many examples to take from an iterable dataset (required there; else at most ``len``);
    ``target_key``: the targets' entry of dict batches."""
    if n_examples is not None:
        n_examples = _validate.integer("n_examples", n_examples, minimum=1)
    inputs, targets = _as_pair(data, n_examples, target_key)
    n = _first_len(targets, "targets")
    names, parts = _named_parts(inputs)
    if not parts:
        raise ValueError("inputs must hold at least one tensor, got an empty tuple")
    for name, t in zip(names, parts, strict=True):
        if _first_len(t, name) != n:
            raise ValueError(
                f"{name} and targets must have the same number of examples, got "
                f"{int(t.shape[0])} and {n}"
            )
    if n == 0:
        raise ValueError("data must contain at least one example, got an empty dataset")
    if n_examples is not None and n_examples < n:
        inputs, targets, n = _first(inputs, n_examples), targets[:n_examples], n_examples
        names, parts = _named_parts(inputs)
    for name, t in zip(names, parts, strict=True):
        _check_finite(t, name)
    _check_finite(targets, "targets")
    if device is not None:
        parts = tuple(t.to(device) for t in parts)
        targets = targets.to(device)
    if isinstance(inputs, dict):
        inputs = dict(zip(inputs, parts, strict=True))
    else:
        inputs = parts if isinstance(inputs, tuple | list) else parts[0]
    return TrainingData(inputs, targets, n)


def _named_parts(inputs) -> tuple[tuple[str, ...], tuple[torch.Tensor, ...]]:
    if isinstance(inputs, dict):
        return tuple(f"inputs[{k!r}]" for k in inputs), tuple(inputs.values())
    if isinstance(inputs, tuple | list):
        parts = tuple(inputs)
        names = ("inputs",) if len(parts) == 1 else tuple(f"inputs[{k}]"
                                                          for k in range(len(parts)))
        return names, parts
    return ("inputs",), (inputs,)
