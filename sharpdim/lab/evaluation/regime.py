"""The edge-of-stability criterion of Cohen et al. (2021), applied to a run's checkpoints.

Full-batch GD with step η sharpens until the top eigenvalue of the training-loss Hessian
reaches the linear-stability limit ``2/η`` (``2(1 + β)/η`` with heavy-ball momentum β) and then
hovers at or slightly above it. With ``r = η·λ_max / 2(1 + β)`` at each checkpoint, a run is
**at the edge of stability** when the median of ``r`` over its *late* checkpoints (those at or
after :data:`LATE_FRACTION` of its last checkpoint's epoch) lies in :data:`EOS_BAND`, i.e.
``η·λ_max ∈ [1.8, 2.6]`` for plain GD; fewer than :data:`MIN_LATE` late checkpoints and the
regime is not measured (``None``). The share of late checkpoints with ``r ≥ 1`` is reported
beside it.

>>> eos_regime([0, 100, 200, 300, 400], [0.3, 0.8, 1.02, 0.97, 1.1]).at_eos
True
>>> eos_regime([0, 100, 200, 300, 400], [0.1, 0.2, 0.3, 0.4, 0.5]).at_eos
False
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["EOS_BAND", "LATE_FRACTION", "MIN_LATE", "EoSRegime", "eos_regime"]

EOS_BAND = (0.9, 1.3)  # r = η·λ_max / 2(1+β); [1.8, 2.6] for GD (docs/evaluation.md §7)
LATE_FRACTION = 0.5    # the late steps: the second half of the run's checkpoints, by epoch
MIN_LATE = 3           # fewer late checkpoints: the regime is not measured


@dataclass(frozen=True)
class EoSRegime:
    """The late-phase statistics of ``r = η·λ_max / 2(1+β)``: how many late checkpoints had
    a finite ``r``, their median, the share at or above 1, and the verdict (``None``: fewer
    than :data:`MIN_LATE` late checkpoints)."""

    n_late: int
    late_median: float | None
    late_share_above: float | None
    at_eos: bool | None


def eos_regime(epochs: Sequence[float], ratio: Sequence[float]) -> EoSRegime:
    """The criterion of the module docstring on one run's checkpoint series."""
    e = np.asarray(epochs, dtype=float)
    r = np.asarray(ratio, dtype=float)
    if e.shape != r.shape or e.ndim != 1:
        raise ValueError(f"epochs and ratio must be 1-D of one length, got {e.shape} and "
                         f"{r.shape}")
    ok = np.isfinite(r) & np.isfinite(e)
    if not ok.any():
        return EoSRegime(0, None, None, None)
    late = ok & (e >= LATE_FRACTION * e[ok].max())
    n = int(late.sum())
    if n < MIN_LATE:
        return EoSRegime(n, None, None, None)
    med = float(np.median(r[late]))
    return EoSRegime(n, med, float((r[late] >= 1.0).mean()),
                     bool(EOS_BAND[0] <= med <= EOS_BAND[1]))
