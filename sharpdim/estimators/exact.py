"""Exact one-step log singular values for one minibatch at one point (small models).

``jacobian="gd"`` (the paper's practice): the minibatch Hessian ``H`` is formed (``N``
Hessian-vector products), ``α = eigvalsh(H)`` and ``z = ln|1 − ηα|`` (``ε = 0``).
``jacobian="update"``: the optimizer step's dense Jacobian ``J`` at the state (``S``
forward products through the gradient) and ``z = ln svdvals(J)``; the Hessian is formed too,
for its extreme eigenvalues and trace. Cost ``Θ(N²)`` memory (``Θ(S²)``), ``Θ(N³)`` time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sharpdim.curvature.functional import FlatLoss
from sharpdim.curvature.hvp import hessian_operator
from sharpdim.curvature.spectral_measure import gd_log_singular_value
from sharpdim.curvature.update_jacobian import gradient_function, update_jacobian
from sharpdim.curvature.update_maps import UpdateMap

__all__ = ["ExactSpectrum", "exact_spectrum"]


@dataclass(frozen=True)
class ExactSpectrum:
    """One minibatch at one point: ``log_singular_values`` (descending, length ``S``; may
    end in ``-inf``), ``hessian_eigenvalues`` (ascending, length ``N``), ``symmetry_residual``
    ``max|H − Hᵀ| / max|H|`` (rounding of the products), ``n_hvp``."""

    log_singular_values: np.ndarray
    hessian_eigenvalues: np.ndarray
    symmetry_residual: float
    n_hvp: int


def exact_spectrum(
    f: FlatLoss,
    inputs,
    targets,
    *,
    theta: torch.Tensor,
    lr: float,
    jacobian: str,
    update: UpdateMap | None = None,
    state: torch.Tensor | None = None,
    dtype: torch.dtype = torch.float64,
    label: str = "minibatch",
    eps: float = 0.0,
) -> ExactSpectrum:
    """Exact spectra of one minibatch at ``theta`` (and ``state`` for ``jacobian="update"``);
    ``z = ln(σ + eps)`` with ``eps = 0`` unless asked otherwise."""
    op = hessian_operator(f, theta, inputs, targets, dtype=dtype, method="graph")
    H = op.to_dense()
    scale = float(H.abs().max())
    residual = float((H - H.T).abs().max()) / scale if scale > 0 else 0.0
    alpha = torch.linalg.eigvalsh(H).double().cpu().numpy()
    del H
    n_hvp = op.n_hvp
    if jacobian == "gd":
        with np.errstate(over="ignore"):
            z = np.sort(gd_log_singular_value(alpha, lr=lr, eps=eps))[::-1]
        if np.isposinf(z[:1]).any():  # lr·α overflowed float64: no finite exponent exists
            worst = float(alpha[np.argmax(np.abs(alpha))])
            raise ValueError(f"lr = {lr:g} times the Hessian eigenvalue {worst:g} overflows "
                             "float64 (ln|1 - lr·α| = +inf); lr must keep lr·max|α| finite")
    else:
        if update is None or state is None:
            raise ValueError("jacobian='update' needs the update map and its state")
        grad_fn = gradient_function(f, inputs, targets)
        J = update_jacobian(update, state.detach().to(dtype), grad_fn,
                            describe=f.parameter_of, batch=label)
        n_hvp += J.shape[0]
        sigma = torch.linalg.svdvals(J).double().cpu().numpy()
        del J
        with np.errstate(divide="ignore"):  # σ = 0 gives -inf, a valid exponent
            z = np.log(sigma + eps)
    return ExactSpectrum(np.ascontiguousarray(z), alpha, residual, int(n_hvp))
