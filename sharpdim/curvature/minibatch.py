"""The minibatch protocol of every curvature estimate (layer 4): draw, hash, probe.

Run ``i`` of a call with seed ``s`` has its own seed ``r_i`` (``slq_run_seeds(s, R)``);
``numpy.random.default_rng(r_i)`` draws its minibatch (``batch_size`` distinct indices) and
then its Rademacher probe, so any single run is reproducible on its own, and the exact and the
density methods see the same minibatches for the same seed. A minibatch's identity in results
is a SHA-1 prefix of its index array (:func:`indices_hash`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

__all__ = ["slq_run_seeds", "draw_minibatch", "run_probe", "indices_hash", "Minibatch",
           "minibatch"]


def slq_run_seeds(seed: int, n_runs: int) -> tuple[int, ...]:
    """Independent per-run seeds ``SeedSequence(seed).spawn(n_runs)`` as plain ints."""
    children = np.random.SeedSequence(seed).spawn(n_runs)
    return tuple(int(c.generate_state(1, dtype=np.uint64)[0] >> 1) for c in children)


def draw_minibatch(n: int, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """``batch_size`` distinct indices out of ``range(n)`` (uniform, without replacement)."""
    return rng.choice(n, size=batch_size, replace=False)


def run_probe(run_seed: int, n: int, batch_size: int, size: int) -> np.ndarray:
    """The Rademacher probe (``size`` entries ``±1``) of the run with seed ``run_seed``:
    ``default_rng(run_seed)`` draws the run's minibatch (:func:`draw_minibatch` of ``n``
    examples) first, then the probe. The generator is re-created from the seed on every call,
    so no object carries a half-consumed generator, and the probe is a pure function of the
    seed (the protocol of :func:`slq_spectral_measure` and
    :func:`sharpdim.estimate_sharpness`).

    >>> a = run_probe(7, 10, 3, 5)
    >>> bool(np.array_equal(a, run_probe(7, 10, 3, 5))) and set(a.tolist()) <= {-1.0, 1.0}
    True
    """
    rng = np.random.default_rng(run_seed)
    draw_minibatch(n, batch_size, rng)
    return rng.integers(0, 2, size=size).astype(np.float64) * 2 - 1


def indices_hash(idx: np.ndarray) -> str:
    """The identity of a minibatch that results record: a SHA-1 prefix of its index array
    (int64 bytes) — one definition for every SLQ and exact estimate.

    >>> indices_hash(np.array([0, 2])) == indices_hash(np.array([0, 2], dtype=np.int32))
    True
    """
    return hashlib.sha1(np.asarray(idx, dtype=np.int64).tobytes()).hexdigest()[:16]


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
    return Minibatch(index, int(batch_seed), idx, indices_hash(idx), int(n))
