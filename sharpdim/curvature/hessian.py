"""Exact minibatch Hessians, built column block by column block from batched products.

``H[:, a:b] = H E_{a:b}`` with ``E`` the identity's columns ``a..b-1``: each block is one
batched double backward through the reused gradient graph (the ``"graph"`` strategy of
:mod:`sharpdim.curvature.hvp`), so the working memory beyond ``H`` itself is one probe block
(``chunk_size × N``) plus its activations — a 13k-parameter float64 Hessian (1.4 GB) is
built in place. Cost: ``N`` Hessian-vector products and ``Θ(N²)`` memory; the spectrum then
costs ``Θ(N³)`` (docs/theory.md §5, exact path).

The result is returned as computed (not symmetrized), so its asymmetry measures the
rounding of the products; ``eigvalsh`` reads only one triangle.
"""

from __future__ import annotations

import numpy as np
import torch

from sharpdim import _validate
from sharpdim.curvature.functional import FlatLoss
from sharpdim.curvature.hvp import hessian_operator

__all__ = ["exact_hessian", "exact_hessian_eigenvalues"]


def exact_hessian(f: FlatLoss, theta: torch.Tensor, inputs, targets, *,
                  dtype: torch.dtype = torch.float64,
                  chunk_size: int | None = None) -> torch.Tensor:
    """The ``N × N`` Hessian of the minibatch-mean loss at ``θ``, in ``dtype`` (default
    float64), on ``θ``'s device.

    ``chunk_size`` = probes per batched product (default: a probe block of about 64 MiB).

    >>> import torch
    >>> from sharpdim.curvature import flat_loss
    >>> lin = torch.nn.Linear(2, 1, bias=False)
    >>> f = flat_loss(lin, torch.nn.functional.mse_loss)
    >>> X = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> H = exact_hessian(f, f.theta0, X, torch.zeros(2, 1))
    >>> bool(torch.allclose(H, 2 * X.double().T @ X.double() / 2))   # 2XᵀX/n for MSE
    True
    """
    if chunk_size is not None:
        chunk_size = _validate.integer("chunk_size", chunk_size, minimum=1)
    op = hessian_operator(f, theta, inputs, targets, dtype=dtype, method="graph")
    return op.to_dense(chunk_size=chunk_size)


def exact_hessian_eigenvalues(f: FlatLoss, theta: torch.Tensor, inputs, targets, *,
                              dtype: torch.dtype = torch.float64,
                              chunk_size: int | None = None) -> np.ndarray:
    """Eigenvalues of the exact minibatch Hessian, ascending, as a float64 numpy array.

    ``eigvalsh`` reads the lower triangle, i.e. the Hessian symmetrized by construction.
    """
    H = exact_hessian(f, theta, inputs, targets, dtype=dtype, chunk_size=chunk_size)
    values = torch.linalg.eigvalsh(H)
    del H
    return values.double().cpu().numpy()

