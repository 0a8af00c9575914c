"""Degenerate runs: a finished run whose curvature measures say nothing about expansion.

A network killed by a large learning rate (dead ReLUs, saturated softmax) has an exactly zero
loss Hessian: every one-step Jacobian is the identity, every ``λ_k = ln|1 − η·0| = 0``, and
the SD convention (``j*`` is the largest index with partial sum ``≥ 0``, flat directions
count) gives ``SD = N`` — the largest possible value, from a run that learned nothing. Such a
run *finished*, so its status stays ``finished``; sweeps and reports flag it instead, with
the reason, so that an extreme SD is never read as extreme sharpness.

The test is exact, not a threshold: an all-zero profile means every sampled one-step
Jacobian is the identity in float64 — zero curvature, or curvature so small that ``|ηα|`` is
below the rounding of ``1 − ηα`` (``2⁻⁵³``); either way the SD counts flat directions. The
training-set Hessian's eigenvalues (exactly zero) or its top eigenvalue and trace (both
exactly zero) flag the same runs when the profile was not measured.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["degenerate_reason"]


def degenerate_reason(record: Mapping[str, Any], *, profile: np.ndarray | None = None,
                      hessian: np.ndarray | None = None) -> str | None:
    """Why a finished run is degenerate, or ``None``.

    ``record``: the run's final measures (``sd_exact``, ``top_eigenvalue``, ``trace``, ...);
    ``profile``: its exact RDS sharpness ``λ_k`` (array ``rds_sharpness``); ``hessian``: the
    training-set Hessian eigenvalues (array ``hessian_eigenvalues``), when stored.

    >>> degenerate_reason({"sd_exact": 3.0}, profile=np.zeros(3)).split(", so ")[1]
    'SD = N = 3 counts flat directions, not expansion'
    >>> degenerate_reason({"sd_exact": 1.0}, profile=np.array([0.1, -0.2])) is None
    True
    """
    if profile is not None and np.size(profile) and not np.any(np.asarray(profile)):
        n = np.size(profile)
        return (f"zero curvature: every exact λ_k is 0 (identity one-step Jacobians), so SD = "
                f"N = {n} counts flat directions, not expansion")
    if hessian is not None and np.size(hessian) and not np.any(np.asarray(hessian)):
        return "zero curvature: the training-set Hessian is exactly 0"
    top, trace = record.get("top_eigenvalue"), record.get("trace")
    if top is not None and trace is not None and top == 0 and trace == 0:
        return "zero curvature: top Hessian eigenvalue and trace are exactly 0"
    return None
