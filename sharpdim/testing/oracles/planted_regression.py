"""Planted spectra: least-squares problems whose minibatch Hessians are known in closed form
(a test fixture of the estimators: their oracles).

For a linear model ``x ↦ xᵀw`` (``torch.nn.Linear(d, 1, bias=False)``) under
``F.mse_loss`` (the mean over the minibatch), the minibatch Hessian is ``H_B = 2 X_BᵀX_B / b``
whatever ``w`` is. Two designs:

* :func:`planted_regression` — full-batch spectrum planted exactly: ``X = √(n/2) U diag(√α)
  Vᵀ`` with ``U`` (``n × d``, orthonormal columns) and ``V`` (orthogonal) random, so
  ``2XᵀX/n = V diag(α) Vᵀ``; with ``batch_size = n`` every minibatch has spectrum ``α``.
* :func:`planted_sparse_regression` — each example lies on one rotated axis,
  ``x_i = c_i V e_{k(i)}``, so ``H_B = V diag(h_B) Vᵀ`` with ``h_{B,k} = (2/b) Σ_{i ∈ B,
  k(i) = k} c_i²``: every minibatch spectrum is known from its indices alone.

:meth:`PlantedRegression.minibatch_hessian` is the numpy oracle ``2X_BᵀX_B/b`` (float64),
independent of the torch code under test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from sharpdim.testing.oracles.planted import haar_orthogonal

__all__ = ["PlantedRegression", "planted_regression", "planted_sparse_regression"]


@dataclass(frozen=True)
class PlantedRegression:
    """A least-squares problem with its design ``X`` (``n × d``, float64 numpy), targets
    ``y`` and rotation ``V``; ``axes[i]``/``scales[i]`` describe the sparse design (``None``
    for the dense one). ``model()`` builds a fresh ``Linear(d, 1, bias=False)`` at
    ``weights``; ``data`` are float64 ``(X, y)`` tensors; ``loss_fn`` is ``F.mse_loss``."""

    X: np.ndarray
    y: np.ndarray
    V: np.ndarray
    weights: np.ndarray
    axes: np.ndarray | None = None
    scales: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    @property
    def d(self) -> int:
        return int(self.X.shape[1])

    @property
    def loss_fn(self):
        return F.mse_loss

    @property
    def data(self) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(self.X.copy()), torch.from_numpy(self.y.copy())[:, None]

    def model(self) -> torch.nn.Linear:
        lin = torch.nn.Linear(self.d, 1, bias=False).double()
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(self.weights.copy())[None])
        return lin

    def minibatch_hessian(self, indices) -> np.ndarray:
        """``2 X_Bᵀ X_B / b`` for the examples ``indices`` (the full batch when ``None``)."""
        XB = self.X if indices is None else self.X[np.asarray(indices)]
        return 2.0 * XB.T @ XB / XB.shape[0]

    def minibatch_eigenvalues(self, indices) -> np.ndarray:
        """Ascending eigenvalues of the minibatch Hessian: in closed form for the sparse design
        (``h_{B,k}``), by ``numpy.linalg.eigvalsh`` of ``2X_BᵀX_B/b`` otherwise."""
        if self.axes is not None and indices is not None:
            idx = np.asarray(indices)
            h = np.zeros(self.d)
            np.add.at(h, self.axes[idx], self.scales[idx] ** 2)
            return np.sort(2.0 * h / idx.size)
        return np.linalg.eigvalsh(self.minibatch_hessian(indices))


def planted_regression(eigenvalues, *, n_examples: int | None = None,
                       seed: int) -> PlantedRegression:
    """Least squares whose full-batch Hessian ``2XᵀX/n`` has exactly the spectrum
    ``eigenvalues`` (``≥ 0``), in a random eigenbasis; ``n_examples`` defaults to ``2d``.

    >>> p = planted_regression([0.5, 3.0], seed=0)
    >>> np.allclose(p.minibatch_eigenvalues(None), [0.5, 3.0])
    True
    """
    alpha = np.asarray(eigenvalues, dtype=np.float64)
    if alpha.ndim != 1 or alpha.size == 0 or not np.isfinite(alpha).all() or (alpha < 0).any():
        raise ValueError(f"eigenvalues must be a non-empty 1-D array of finite values >= 0, "
                         f"got {eigenvalues!r}")
    d = alpha.size
    n = 2 * d if n_examples is None else int(n_examples)
    if n < d:
        raise ValueError(f"n_examples must be >= the dimension {d}, got {n}")
    rng = np.random.default_rng(seed)
    U, V = haar_orthogonal(rng, n, d), haar_orthogonal(rng, d, d)
    X = np.sqrt(n / 2.0) * (U * np.sqrt(alpha)) @ V.T
    return PlantedRegression(X, rng.standard_normal(n), V, rng.standard_normal(d))


def planted_sparse_regression(axes, scales, *, seed: int) -> PlantedRegression:
    """Least squares with examples ``x_i = scales[i] · V e_{axes[i]}`` (``V`` random
    orthogonal): minibatch ``B`` has Hessian eigenvalues ``(2/b) Σ_{i∈B, axes[i]=k} scales[i]²``.

    >>> p = planted_sparse_regression([0, 1, 1], [1.0, 1.0, 2.0], seed=0)
    >>> p.minibatch_eigenvalues([1, 2]).tolist()          # axis 1 only: (2/2)(1 + 4)
    [0.0, 5.0]
    """
    k = np.asarray(axes, dtype=np.int64)
    c = np.asarray(scales, dtype=np.float64)
    if k.ndim != 1 or k.size == 0 or c.shape != k.shape or (k < 0).any():
        raise ValueError(f"axes (ints >= 0) and scales must be 1-D of the same non-zero length, "
                         f"got {np.shape(axes)} and {np.shape(scales)}")
    if not np.isfinite(c).all():
        raise ValueError("scales must be finite")
    d = int(k.max()) + 1
    rng = np.random.default_rng(seed)
    V = haar_orthogonal(rng, d, d)
    X = c[:, None] * V[:, k].T
    return PlantedRegression(X, rng.standard_normal(k.size), V, rng.standard_normal(d), k, c)
