"""One base class for every curvature operator: products, adjoint, dense view and cost.

A :class:`CurvatureOperator` is a linear map ``A`` of shape ``(M, N)`` on torch tensors, in
the spirit of curvlinops' ``CurvatureLinearOperator``. A subclass sets ``shape``, ``dtype``
and ``device`` and implements one primitive:

* ``_matmat(V)`` — ``A V`` for a validated block ``V`` of shape ``(N, k)``, ``k ≥ 1``
  (or ``_matvec(v)``: each has a default through the other, one column at a time);
* ``_rmatmat(V)`` — ``Aᵀ V`` (or ``_rmatvec``), only when ``symmetric = False``.

The base supplies the rest, the same for every operator:

* ``A @ v`` (``v`` of shape ``(N,)``) and ``A @ V`` (``(N, k)``); ``matvec``/``matmat``;
  ``rmatvec``/``rmatmat`` for ``Aᵀ``;
* ``adjoint()`` — ``Aᵀ`` as an operator (``self`` when ``symmetric``);
* ``to_dense()`` — the ``M × N`` matrix from products with identity columns, in chunks;
* ``as_linear_operator()`` — a ``scipy.sparse.linalg.LinearOperator`` (float64 numpy);
* ``n_hvp`` — the cost so far, in **products of the underlying map**: Hessian-vector
  products of the loss for a Hessian; Jacobian-vector or vector-Jacobian products of the
  update map (each one loss Hessian-vector product, docs/theory.md) for an update Jacobian;
  entries of an explicit matrix count one per column. One column of ``A V`` costs
  ``hvp_per_product`` of them (``1``, or ``2`` for a Gram operator ``JᵀJ``: one ``J u`` and
  one ``Jᵀ``). Every ``matvec``/``matmat``/``rmatmat`` (and so ``to_dense``, ``@``) adds
  ``k · hvp_per_product`` for ``k`` columns; an operator built on another one (a Gram, an
  adjoint) counts its own products, and the inner operator counts them as well.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

__all__ = ["CurvatureOperator", "AdjointOperator", "default_chunk"]


_DENSE_BLOCK = 64
"""Probes per batched product when an operator is built densely. Measured (13k-parameter
MLP, batch 128, float64, one thread): per column 1.2× one HVP at 64, 1.4× at 128, 1.6× at
256, 2.8× at 642 (the old 64 MiB block); wide blocks spill the activations' batched copies
out of cache."""


def default_chunk(n: int, dtype: torch.dtype) -> int:
    """Probes per product when building densely: :data:`_DENSE_BLOCK`, and the probe block
    itself (``n × chunk``) at most 64 MiB."""
    itemsize = torch.empty((), dtype=dtype).element_size()
    return int(max(1, min(n, _DENSE_BLOCK, (64 * 2**20) // max(1, n * itemsize))))


class CurvatureOperator:
    """A linear map on torch tensors with one product primitive (see module docstring).

    ``shape = (M, N)``; ``dtype``/``device`` those of the products (inputs are cast to them);
    ``symmetric`` (class attribute) when ``Aᵀ = A``; ``n_hvp`` the products of the
    underlying map made through this object (``hvp_per_product`` per column).
    """

    shape: tuple[int, int]
    dtype: torch.dtype
    device: torch.device
    symmetric: ClassVar[bool] = True
    hvp_per_product: ClassVar[int] = 1

    def __init__(self) -> None:
        self.n_hvp = 0

    # validation --------------------------------------------------------------------------
    def _vector(self, v, name: str = "v", *, n: int | None = None) -> torch.Tensor:
        n = self.shape[1] if n is None else n
        if isinstance(v, np.ndarray):
            v = torch.from_numpy(v)
        if not isinstance(v, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(v).__name__}")
        if v.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},), got {tuple(v.shape)}")
        return v.to(device=self.device, dtype=self.dtype)

    def _block(self, V, name: str = "V", *, n: int | None = None) -> torch.Tensor:
        n = self.shape[1] if n is None else n
        if isinstance(V, np.ndarray):
            V = torch.from_numpy(V)
        if not isinstance(V, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(V).__name__}")
        if V.ndim != 2 or V.shape[0] != n:
            raise ValueError(f"{name} must have shape ({n}, k), got {tuple(V.shape)}")
        return V.to(device=self.device, dtype=self.dtype)

    def _count(self, k: int, *, adjoint: bool = False) -> None:
        """Record ``k`` columns of ``A V`` (``adjoint``: of ``Aᵀ V``)."""
        self.n_hvp += k * self.hvp_per_product

    # products ----------------------------------------------------------------------------
    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """``A v`` for a vector ``v`` of shape ``(N,)`` (cast to the operator's dtype)."""
        v = self._vector(v)
        out = self._matvec(v)
        self._count(1)
        return out

    def matmat(self, V: torch.Tensor) -> torch.Tensor:
        """``A V`` for a block ``V`` of shape ``(N, k)``: ``k`` products in one call."""
        V = self._block(V)
        if V.shape[1] == 0:
            return V.new_zeros((self.shape[0], 0))
        out = self._matmat(V)
        self._count(V.shape[1])
        return out

    def rmatvec(self, u: torch.Tensor) -> torch.Tensor:
        """``Aᵀ u`` for ``u`` of shape ``(M,)``."""
        if self.symmetric:
            return self.matvec(u)
        u = self._vector(u, "u", n=self.shape[0])
        out = self._rmatvec(u)
        self._count(1, adjoint=True)
        return out

    def rmatmat(self, U: torch.Tensor) -> torch.Tensor:
        """``Aᵀ U`` for a block ``U`` of shape ``(M, k)``."""
        if self.symmetric:
            return self.matmat(U)
        U = self._block(U, "U", n=self.shape[0])
        if U.shape[1] == 0:
            return U.new_zeros((self.shape[1], 0))
        out = self._rmatmat(U)
        self._count(U.shape[1], adjoint=True)
        return out

    def __matmul__(self, x):
        """``A @ v`` (1-D) is :meth:`matvec`, ``A @ V`` (2-D) is :meth:`matmat`."""
        if getattr(x, "ndim", None) == 1:
            return self.matvec(x)
        return self.matmat(x)

    # primitives: a subclass overrides _matvec or _matmat (and _rmatvec or _rmatmat) -------
    def _matvec(self, v: torch.Tensor) -> torch.Tensor:
        if type(self)._matmat is CurvatureOperator._matmat:
            raise NotImplementedError(f"{type(self).__name__} implements neither _matvec "
                                      "nor _matmat")
        return self._matmat(v[:, None])[:, 0]

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        return torch.stack([self._matvec(V[:, j]) for j in range(V.shape[1])], dim=1)

    def _rmatvec(self, u: torch.Tensor) -> torch.Tensor:
        if type(self)._rmatmat is CurvatureOperator._rmatmat:
            raise NotImplementedError(f"{type(self).__name__} implements neither _rmatvec "
                                      "nor _rmatmat")
        return self._rmatmat(u[:, None])[:, 0]

    def _rmatmat(self, U: torch.Tensor) -> torch.Tensor:
        return torch.stack([self._rmatvec(U[:, j]) for j in range(U.shape[1])], dim=1)

    # views -------------------------------------------------------------------------------
    def adjoint(self) -> CurvatureOperator:
        """``Aᵀ`` as an operator: ``self`` when symmetric, else an :class:`AdjointOperator`."""
        return self if self.symmetric else AdjointOperator(self)

    def to_dense(self, *, chunk_size: int | None = None) -> torch.Tensor:
        """The ``M × N`` matrix, built from ``matmat`` on identity columns in chunks
        (``chunk_size`` columns per product; default :func:`default_chunk`)."""
        m, n = self.shape
        chunk = chunk_size or default_chunk(n, self.dtype)
        out = torch.empty((m, n), dtype=self.dtype, device=self.device)
        for a in range(0, n, chunk):
            b = min(n, a + chunk)
            E = torch.zeros((n, b - a), dtype=self.dtype, device=self.device)
            E[torch.arange(a, b, device=self.device), torch.arange(b - a, device=self.device)] = 1
            out[:, a:b] = self.matmat(E)
        return out

    def as_linear_operator(self):
        """A ``scipy.sparse.linalg.LinearOperator`` (numpy float64 in and out)."""
        from scipy.sparse.linalg import LinearOperator

        def vec(product):
            def run(x: np.ndarray) -> np.ndarray:
                x = np.asarray(x, dtype=np.float64).reshape(-1)
                return product(torch.from_numpy(x)).detach().double().cpu().numpy()
            return run

        def mat(product):
            def run(X: np.ndarray) -> np.ndarray:
                X = np.asarray(X, dtype=np.float64)
                return product(torch.from_numpy(X)).detach().double().cpu().numpy()
            return run

        return LinearOperator(self.shape, matvec=vec(self.matvec), rmatvec=vec(self.rmatvec),
                              matmat=mat(self.matmat), rmatmat=mat(self.rmatmat),
                              dtype=np.float64)


class AdjointOperator(CurvatureOperator):
    """``Aᵀ`` of a non-symmetric :class:`CurvatureOperator` ``A``: its products are ``A``'s
    transposed products (counted on ``A`` as well as here); ``adjoint()`` gives ``A`` back."""

    symmetric = False

    def __init__(self, parent: CurvatureOperator) -> None:
        super().__init__()
        self.parent = parent
        self.shape = (parent.shape[1], parent.shape[0])
        self.dtype, self.device = parent.dtype, parent.device

    def _count(self, k: int, *, adjoint: bool = False) -> None:
        self.n_hvp += k * self.parent.hvp_per_product

    def _matvec(self, v: torch.Tensor) -> torch.Tensor:
        return self.parent.rmatvec(v)

    def _rmatvec(self, u: torch.Tensor) -> torch.Tensor:
        return self.parent.matvec(u)

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        return self.parent.rmatmat(V)

    def _rmatmat(self, U: torch.Tensor) -> torch.Tensor:
        return self.parent.matmat(U)

    def adjoint(self) -> CurvatureOperator:
        return self.parent

    def __repr__(self) -> str:
        return f"AdjointOperator({self.parent!r})"
