"""Planted-spectrum torch models: a model, loss and data whose Hessian is exactly
``H = Q diag(α) Qᵀ`` for any minibatch.

Parameters ``θ ∈ R^N`` live in two tensors (a ``weight`` matrix and a ``bias`` vector, so an
estimator must handle several parameter tensors in their ``model.parameters()`` order). Every
example shares the output ``z = M θ`` with ``M = diag(√|α|) Qᵀ`` and has its own target
``y_i``; the loss is ``ℓ_i = ½ Σ_j s_j (z_j − y_ij)²`` with ``s = sign(α)``, so

    ∇²ℓ_i = Mᵀ diag(s) M = Q diag(|α| s) Qᵀ = Q diag(α) Qᵀ   for every example i,

hence every minibatch-mean Hessian is ``H`` (the examples differ only in their gradients:
SGD noise without curvature noise). Everything is float64 unless asked otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = ["PlantedQuadratic", "PlantedLoss", "PlantedProblem", "planted_problem",
           "haar_orthogonal", "random_orthogonal"]


def haar_orthogonal(rng: np.random.Generator, n: int, d: int | None = None) -> np.ndarray:
    """The package's one Haar sampler: ``n × d`` (default ``d = n``) with orthonormal columns
    distributed by Haar measure — the ``Q`` of a QR decomposition of an ``n × d`` standard
    Gaussian matrix drawn from ``rng``, with each column's sign fixed so that ``diag R > 0``
    (Mezzadri 2007, "How to generate random matrices from the classical compact groups").

    >>> q = haar_orthogonal(np.random.default_rng(0), 4, 2)
    >>> bool(np.allclose(q.T @ q, np.eye(2)))
    True
    """
    d = n if d is None else d
    q, r = np.linalg.qr(rng.standard_normal((n, d)))
    return q * np.where(np.diag(r) < 0, -1.0, 1.0)


def random_orthogonal(n: int, seed: int) -> np.ndarray:
    """Haar-random orthogonal ``n × n`` matrix from ``seed`` (:func:`haar_orthogonal`)."""
    return haar_orthogonal(np.random.default_rng(seed), n)


class PlantedQuadratic(nn.Module):
    """``z = M θ`` for every example of the batch (inputs only set the batch size)."""

    def __init__(self, mixing: torch.Tensor, theta0: torch.Tensor) -> None:
        super().__init__()
        n = mixing.shape[1]
        rows = 2 if n >= 3 else 1
        n_weight = rows * ((n - 1) // rows)  # leaves 1 or 2 entries for the bias
        self.register_buffer("mixing", mixing)
        self.weight = nn.Parameter(theta0[:n_weight].reshape(rows, -1).clone())
        self.bias = nn.Parameter(theta0[n_weight:].clone())

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        theta = torch.cat([self.weight.reshape(-1), self.bias])
        return (self.mixing @ theta).expand(inputs.shape[0], -1)


class PlantedLoss(nn.Module):
    """``mean_i ½ Σ_j s_j (z_ij − y_ij)²`` — the minibatch mean, like ``F.mse_loss``."""

    def __init__(self, signs: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("signs", signs)

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((outputs - targets) ** 2 * self.signs).sum(dim=1).mean()


@dataclass(frozen=True)
class PlantedProblem:
    """``model``, ``loss_fn``, ``data = (inputs, targets)`` and the planted ``hessian``."""

    model: PlantedQuadratic
    loss_fn: PlantedLoss
    data: tuple[torch.Tensor, torch.Tensor]
    hessian: np.ndarray
    curvatures: np.ndarray


def planted_problem(curvatures, *, seed: int, rotate: bool = True, n_examples: int = 64,
                    dtype: torch.dtype = torch.float64) -> PlantedProblem:
    """Model, loss and data with minibatch Hessian ``Q diag(curvatures) Qᵀ`` (``Q = I`` when
    ``rotate`` is false), parameters and targets drawn from ``seed``.

    >>> p = planted_problem([3.0, -1.0, 0.5], seed=0)
    >>> from torch.autograd.functional import hessian
    >>> theta = torch.cat([q.detach().reshape(-1) for q in p.model.parameters()])
    >>> def loss(t):
    ...     w = t[: p.model.weight.numel()].reshape(p.model.weight.shape)
    ...     z = torch.func.functional_call(p.model, {"weight": w, "bias": t[w.numel():]},
    ...                                    (p.data[0],))
    ...     return p.loss_fn(z, p.data[1])
    >>> bool(np.allclose(hessian(loss, theta).numpy(), p.hessian, atol=1e-12))
    True
    """
    alpha = np.asarray(curvatures, dtype=np.float64)
    if alpha.ndim != 1 or alpha.size < 2 or not np.isfinite(alpha).all():
        raise ValueError(f"curvatures must be a finite 1-D array of length >= 2, got {alpha!r}")
    n = alpha.size
    q = random_orthogonal(n, seed) if rotate else np.eye(n)
    mixing = np.sqrt(np.abs(alpha))[:, None] * q.T
    rng = np.random.default_rng(seed + 1)
    theta0 = rng.standard_normal(n)
    targets = rng.standard_normal((n_examples, n))
    model = PlantedQuadratic(torch.as_tensor(mixing, dtype=dtype),
                             torch.as_tensor(theta0, dtype=dtype))
    loss_fn = PlantedLoss(torch.as_tensor(np.sign(alpha), dtype=dtype))
    data = (torch.zeros((n_examples, 1), dtype=dtype), torch.as_tensor(targets, dtype=dtype))
    hessian = (q * alpha) @ q.T
    return PlantedProblem(model, loss_fn, data, (hessian + hessian.T) / 2, alpha.copy())
