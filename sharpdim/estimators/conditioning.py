"""Conditioning of a sharpness dimension (our diagnostics, not the paper's; numpy).

The SD of a trained network is typically ``N`` minus a little: most log singular values are
neutral (``≈ 0``), and the SD is fragile when the partial sum crosses zero inside that bulk,
where it moves by ``1/|z_next|`` per unit of partial sum (docs/theory.md §7). Beside every SD we
report, for a tolerance ``τ`` tied to the estimation error of the values (how it is derived is
in ``tolerance_kind``; see :func:`sharpdim.estimators.estimate.estimate_sharpness`):

* ``z_next`` — the value at the crossing (``z_{j*+1}``; for a kernel density the root ``t*`` of
  its partial sum); ``None`` when every partial sum is ``≥ 0`` (``SD = W``);
* the masses of **expanding** (``z > τ``), **neutral** (``|z| ≤ τ``) and **contracting**
  (``z < −τ``) values;
* ``transverse_dimension`` — the SD of the non-neutral values alone. When the neutral values
  are exactly 0, ``SD = neutral + transverse`` (zeros leave every partial sum unchanged);
* ``sensitivity`` — ``W·τ / |z_next|``, the first-order bound of
  :mod:`sharpdim.estimators.perturbation` (``|ΔSD| ≤ W₁/|z_next|``) with ``W₁ ≤ W·τ`` when
  every value is off by at most ``τ``;
* ``interval`` — ``[SD(z − τ), SD(z + τ)]``: the SD is nondecreasing in every value, so this
  brackets the SD of every spectrum within ``τ`` of the estimated one, exactly;
* ``ill_conditioned`` — ``True`` when either the sensitivity or the interval's width is ``≥ 1``:
  the estimation error alone could move the SD by a whole dimension.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from sharpdim import _validate
from sharpdim._serialize import Serializable
from sharpdim.dimension import kaplan_yorke_decomposition, sharpness_dimension

__all__ = ["Conditioning", "conditioning", "with_advice"]

# what shrinks each part of the per-value error (the parts the estimators add up)
_REMEDIES = {
    "sampling": "more minibatches (n_batches; the split-half error falls like 1/√R)",
    "rounding": "float64 products (dtype=torch.float64)",
    "lanczos": "more Lanczos steps (n_steps; the residual of the extreme Ritz pairs falls)",
    "kernel": "a smaller bandwidth, or method='slq'",
}


@dataclass(frozen=True, repr=False)
class Conditioning(Serializable):
    """Conditioning diagnostics of one SD (ours, not the paper's; see the module docstring)."""

    z_next: float | None
    tolerance: float
    tolerance_kind: str
    n_expanding: float
    n_neutral: float
    n_contracting: float
    transverse_dimension: float
    sensitivity: float
    interval: tuple[float, float]
    ill_conditioned: bool
    advice: str | None = None

    _repr_summary = ("ill_conditioned", "z_next", "tolerance", "n_neutral")


def conditioning(values, weights=None, *, tolerance: float, tolerance_kind: str,
                 z_next: float | None = None, use_z_next: bool = False) -> Conditioning:
    """Conditioning of the SD of ``values`` (masses ``weights``; unit when ``None``) for a
    per-value error ``tolerance`` ``τ ≥ 0``.

    ``z_next`` defaults to the Kaplan–Yorke ``z_{j*+1}`` of the values; pass
    ``use_z_next=True`` to give the crossing of a smoothed version instead (a kernel density's
    root ``t*``). ``-inf`` values count as contracting.

    >>> c = conditioning([0.5, 0.0, 0.0, -1.0], tolerance=1e-12, tolerance_kind="rounding")
    >>> c.n_expanding, c.n_neutral, c.n_contracting, c.transverse_dimension, c.z_next
    (1.0, 2.0, 1.0, 1.5, -1.0)
    >>> c.ill_conditioned
    False
    """
    z = np.asarray(values, dtype=np.float64).reshape(-1)
    m = np.ones_like(z) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    tau = _validate.non_negative("tolerance", tolerance)
    total = float(m.sum())
    decomposition = kaplan_yorke_decomposition(z, m)
    if not use_z_next:
        z_next = decomposition.next_value
        if z_next is None and decomposition.dimension < total:   # top value < 0: SD = 0
            z_next = float(np.max(z))
    expanding = float(m[z > tau].sum())
    neutral = float(m[np.abs(z) <= tau].sum())
    contracting = total - expanding - neutral
    outside = np.abs(z) > tau
    transverse = sharpness_dimension(z[outside], m[outside]) if outside.any() else 0.0
    low = sharpness_dimension(z - tau, m)
    high = sharpness_dimension(z + tau, m)
    if z_next is None:
        sensitivity = 0.0
    elif z_next == 0 or not math.isfinite(z_next):
        sensitivity = 0.0 if tau == 0 or math.isinf(z_next) else math.inf
    else:
        sensitivity = total * tau / abs(z_next)
    return Conditioning(
        z_next=None if z_next is None else float(z_next), tolerance=tau,
        tolerance_kind=tolerance_kind, n_expanding=expanding, n_neutral=neutral,
        n_contracting=contracting, transverse_dimension=float(transverse),
        sensitivity=float(sensitivity), interval=(float(low), float(high)),
        ill_conditioned=bool(sensitivity >= 1.0 or high - low >= 1.0),
    )


def with_advice(c: Conditioning, parts: dict[str, float], state_dim: int) -> Conditioning:
    """``c`` with ``advice`` saying what would make an ill-conditioned SD well-conditioned:
    the per-value error must fall below ``|z_next| / S`` (sensitivity ``S·τ/|z_next| < 1``)
    and the largest of its ``parts`` (keys of ``_REMEDIES``) is the one to shrink first."""
    if not c.ill_conditioned:
        return c
    worst = max(parts, key=parts.get)
    need = (f"a per-value error below |z_next|/S = {abs(c.z_next) / state_dim:.3g}"
            if c.z_next not in (None, 0.0) and math.isfinite(c.z_next)
            else "a crossing value z_next away from 0")
    text = (f"well-conditioned needs {need} (now {c.tolerance:.3g}, of which {worst} "
            f"{parts[worst]:.3g}): use {_REMEDIES[worst]}; {c.n_neutral:.6g} of {state_dim} "
            "values lie within the error of 0, and the SD among them is set by near-neutral "
            "directions")
    return dataclasses.replace(c, advice=text)
