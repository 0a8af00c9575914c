"""Trained weights as raw arrays: name, dtype, shape and the little-endian bytes — never a
pickle, so opening a sweep file someone else made runs no code.

:func:`encode_state` turns a model's ``state_dict`` into rows; :func:`decode_state` turns rows
back into tensors, refusing any dtype outside :data:`DTYPES` and any blob whose length is not
``prod(shape) · itemsize`` (a pickle payload planted in the table is refused, not unpickled).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping

import numpy as np
import torch

__all__ = ["DTYPES", "WeightsError", "encode_state", "decode_state"]

DTYPES = ("<f2", "<f4", "<f8", "<i8", "<i4", "|b1")  # what a state_dict of ours holds


class WeightsError(ValueError):
    """Stored weights that are not plain numeric arrays of the declared shape."""


def encode_state(state: Mapping[str, torch.Tensor]) -> list[tuple[str, str, str, bytes]]:
    """``(name, dtype, shape JSON, bytes)`` for every tensor of a ``state_dict``."""
    rows = []
    for name, t in state.items():
        a = t.detach().cpu().contiguous().numpy()
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        if a.dtype.str not in DTYPES:
            raise WeightsError(f"state[{name!r}] must have a dtype in {DTYPES}, got {a.dtype.str}")
        rows.append((name, a.dtype.str, json.dumps(list(a.shape)), a.tobytes()))
    return rows


def decode_state(rows: Iterable[tuple[str, str, str, bytes]]) -> dict[str, torch.Tensor]:
    """The tensors of :func:`encode_state`'s rows (copies; nothing is executed)."""
    out = {}
    for name, dtype, shape_json, blob in rows:
        if dtype not in DTYPES:
            raise WeightsError(f"weights {name!r}: dtype must be one of {DTYPES}, got {dtype!r}")
        shape = json.loads(shape_json)
        if not (isinstance(shape, list) and all(isinstance(s, int) and s >= 0 for s in shape)):
            raise WeightsError(f"weights {name!r}: shape must be a list of sizes, got {shape!r}")
        size = math.prod(shape) * np.dtype(dtype).itemsize
        if not isinstance(blob, bytes | memoryview) or len(blob) != size:
            raise WeightsError(f"weights {name!r}: data must be {size} bytes for {dtype} "
                               f"{shape}, got {len(blob) if isinstance(blob, bytes) else blob!r}")
        a = np.frombuffer(bytes(blob), dtype=dtype).reshape(shape).copy()
        out[name] = torch.from_numpy(a.astype(a.dtype.newbyteorder("=")))
    return out
