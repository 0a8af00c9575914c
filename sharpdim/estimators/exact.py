"""Exact one-step log singular values for one minibatch at one point (small models).

``jacobian="gd"`` (the paper's practice): the minibatch Hessian ``H`` is formed (``N``
Hessian-vector products), ``α = eigvalsh(H)`` and ``z = ln|1 − η(α + κ)|`` (``ε = 0``; ``κ``
the weight decay, so the Jacobian is ``I − η(H + κI)``).
``jacobian="update"``: the optimizer step's dense Jacobian ``J`` at the state (``S``
forward products through the gradient) and ``z = ln svdvals(J)``; the Hessian is formed too,
for its extreme eigenvalues and trace. Cost ``Θ(N²)`` memory (``Θ(S²)``), ``Θ(N³)`` time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sharpdim._numerics import gd_log_singular_value, log_singular_value
from sharpdim.curvature.functional import FlatLoss
from sharpdim.curvature.hvp import hessian_operator
from sharpdim.curvature.update_jacobian import gradient_function, update_jacobian
from sharpdim.curvature.update_maps import UpdateMap
from sharpdim.vocabulary import EpsilonForm, JacobianKind

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
    jacobian: JacobianKind,
    update: UpdateMap | None = None,
    state: torch.Tensor | None = None,
    dtype: torch.dtype = torch.float64,
    label: str = "minibatch",
    eps: float = 0.0,
    epsilon_form: EpsilonForm = "clamp",
    weight_decay: float = 0.0,
) -> ExactSpectrum:
    """Exact spectra of one minibatch at ``theta`` (and ``state`` for ``jacobian="update"``).

    ``"gd"``: ``z = ln|1 − η(α + κ)|`` (``κ = weight_decay``: the Jacobian ``I − η(H + κI)``);
    ``"update"``: ``z = ln σ`` of the step Jacobian (whose update map carries ``κ`` itself).
    ``eps > 0`` floors ``z`` in ``epsilon_form`` (:data:`sharpdim._numerics.EPSILON_FORMS`);
    ``eps = 0`` unless asked otherwise."""
    op = hessian_operator(f, theta, inputs, targets, dtype=dtype, method="graph")
    H = op.to_dense()
    scale = float(H.abs().max())
    residual = _asymmetry(H) / scale if scale > 0 else 0.0
    alpha = torch.linalg.eigvalsh(H).double().cpu().numpy()
    del H
    n_hvp = op.n_hvp
    if jacobian == "gd":
        with np.errstate(over="ignore"):
            z = np.sort(gd_log_singular_value(alpha, lr=lr, weight_decay=weight_decay, eps=eps,
                                              epsilon_form=epsilon_form))[::-1]
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
        z = log_singular_value(sigma, eps=eps, epsilon_form=epsilon_form)  # σ = 0: -inf
    return ExactSpectrum(np.ascontiguousarray(z), alpha, residual, int(n_hvp))


def _asymmetry(H: torch.Tensor, block: int = 1024) -> float:
    """``max|H − Hᵀ|`` by row blocks: working memory ``2·block·N`` instead of a second
    ``N × N`` matrix (1.3 GiB at 13k float64 parameters)."""
    n = H.shape[0]
    return max((float((H[a:a + block] - H[:, a:a + block].T).abs().max())
                for a in range(0, n, block)), default=0.0)

