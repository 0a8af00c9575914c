"""Deep linear networks at a balanced global minimum: real ``nn.Module``\\ s whose whole Hessian
spectrum, and hence the exact sharpness dimension, is known in closed form.

Model: ``x ↦ W_L ⋯ W_1 x``, ``L`` bias-free ``d × d`` layers (``nn.Linear``, weight ``W_k``).
Target: ``W* = U S Vᵀ`` with ``S = diag(s_1 ≥ … ≥ s_d > 0)`` and Haar-random ``U, V``.
Data: ``n ≥ d`` inputs with ``XᵀX/n = I`` exactly (``X = √n·Q``, ``Q`` with orthonormal
columns) and targets ``y = W* x``. Loss (:func:`half_squared_error`): the mean over examples
of ``½‖W x − y‖²`` — summed over output coordinates, **not** ``F.mse_loss``, which also
averages over them (and so halves-and-rescales every eigenvalue by ``2/d``).

Balanced minimum: ``W_k = R_k S^{1/L} R_{k−1}ᵀ`` with Haar-random orthogonal ``R_1 … R_{L−1}``,
``R_0 = V``, ``R_L = U``, so ``W_L ⋯ W_1 = W*`` and every ``W_{k+1}ᵀW_{k+1} = W_k W_kᵀ``.

Hessian (derivation). With ``XᵀX/n = I`` the loss is ``½‖W − W*‖_F²``; at a zero-residual
minimum the Hessian is the Gauss–Newton matrix ``JᵀJ`` of ``J = ∂vec W/∂θ``. Writing
``dW_k = R_k E_k R_{k−1}ᵀ``, ``Uᵀ dW V = Σ_k S^{(L−k)/L} E_k S^{(k−1)/L}``, so entry ``(i, j)``
of ``Uᵀ dW V`` is ``Σ_k v_k (E_k)_{ij}`` with ``v_k = s_i^{(L−k)/L} s_j^{(k−1)/L}``: for each
pair ``(i, j)`` the Hessian restricted to the ``L`` coordinates ``(E_1 … E_L)_{ij}`` is the
rank-one ``v vᵀ``. Its eigenvalues are therefore

    μ_ij = ‖v‖² = Σ_{k=1..L} s_i^{2(k−1)/L} s_j^{2(L−k)/L}     (one per pair (i, j)),

(``μ_ij = μ_ji``, so each off-diagonal value appears twice) and ``(L − 1)d²`` exact zeros:
``L·d²`` eigenvalues in all, ``λ_max = μ_11 = L·s_1^{2(L−1)/L}``. GD with step ``η`` has the
one-step Jacobian ``I − ηH`` there, so the exact RDS sharpness values are ``ln|1 − ημ_ij|``
plus ``(L − 1)d²`` exact zeros, and a minimum is GD-stable iff ``λ_max ≤ 2/η`` (the balanced
minimum is the flattest point of the fibre ``W_L ⋯ W_1 = W*``; see
``theory_checks/test_deep_linear_network.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from sharpdim import _validate
from sharpdim.testing.oracles._deep_linear import DeepLinearShape

__all__ = [
    "DeepLinearNetwork",
    "deep_linear_network",
    "deep_linear_hessian_eigenvalues",
    "deep_linear_sharpness",
    "half_squared_error",
]


def half_squared_error(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``mean_i ½‖z_i − y_i‖²``: the minibatch mean over examples of half the squared error,
    *summed* over output coordinates (``F.mse_loss`` would average over them too).

    >>> half_squared_error(torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 0.0]])).item()
    2.5
    """
    return 0.5 * ((outputs - targets) ** 2).sum(dim=-1).mean()


def _check_singular_values(singular_values) -> np.ndarray:
    s = np.asarray(singular_values, dtype=np.float64)
    if s.ndim != 1 or s.size < 1 or not np.isfinite(s).all() or (s <= 0).any():
        raise ValueError("singular_values must be a non-empty 1-D array of finite values > 0, "
                         f"got {singular_values!r}")
    return np.sort(s)[::-1].copy()


def deep_linear_hessian_eigenvalues(singular_values, depth: int) -> np.ndarray:
    """All ``L·d²`` Hessian eigenvalues at a balanced minimum, descending: ``μ_ij =
    Σ_k s_i^{2(k−1)/L} s_j^{2(L−k)/L}`` for every pair ``(i, j)`` and ``(L − 1)d²`` zeros.

    >>> deep_linear_hessian_eigenvalues([2.0], 2).tolist()   # ½(uv − 2)² at u = v = √2
    [4.0, 0.0]
    """
    s = _check_singular_values(singular_values)
    L = _validate.integer("depth", depth, minimum=1)
    k = np.arange(1, L + 1)
    # mu[i, j] = Σ_k s_i^{2(k−1)/L} s_j^{2(L−k)/L}, summed with fsum (L terms, all > 0)
    mu = np.array([[math.fsum(si ** (2 * (kk - 1) / L) * sj ** (2 * (L - kk) / L) for kk in k)
                    for sj in s] for si in s])
    values = np.concatenate([mu.ravel(), np.zeros((L - 1) * s.size**2)])
    return np.sort(values)[::-1].copy()


def deep_linear_sharpness(singular_values, depth: int, lr: float) -> np.ndarray:
    """Exact GD sharpness values ``ln|1 − ημ_ij|`` and ``(L − 1)d²`` zeros, descending
    (``-inf`` where ``ημ = 1``): the log singular values of ``I − ηH`` at the balanced minimum.

    >>> np.round(deep_linear_sharpness([2.0], 2, 0.75), 12).tolist()   # ln|1 − 3| = ln 2
    [0.69314718056, 0.0]
    """
    eta = _validate.positive("lr", lr)
    mu = deep_linear_hessian_eigenvalues(singular_values, depth)
    with np.errstate(divide="ignore"):
        values = np.log(np.abs(1.0 - eta * mu))
    values[mu == 0.0] = 0.0  # exact zeros: ln 1
    return np.sort(values)[::-1].copy()


def _kaplan_yorke(values: np.ndarray) -> float:
    """KY formula on descending ``values`` (docs/theory.md §3), written out here with ``fsum``
    partial sums so the oracle does not share code with the estimators it checks."""
    if values[0] < 0:
        return 0.0
    partial = 0.0
    for j, v in enumerate(values):
        nxt = math.fsum(values[: j + 1])
        if nxt < 0:
            return j + partial / abs(v)
        partial = nxt
    return float(values.size)


def _haar(rng: np.random.Generator, d: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.where(np.diag(r) < 0, -1.0, 1.0)


@dataclass(frozen=True)
class DeepLinearNetwork(DeepLinearShape):
    """A deep linear network at a balanced global minimum (module docstring), with its data.

    ``model`` (``nn.Sequential`` of ``depth`` bias-free ``d × d`` ``nn.Linear``), ``loss_fn``
    (:func:`half_squared_error`), ``data = (inputs, targets)`` (``XᵀX/n = I``, ``y = W*x``),
    ``singular_values`` (descending), ``depth``, ``target`` (``W*``), ``factors``
    (``W_1 … W_L`` as numpy arrays), ``hessian_eigenvalues`` (all ``L·d²``, descending) and
    ``hessian`` (the dense Gauss–Newton matrix ``JᵀJ`` in ``model.parameters()`` order,
    row-major blocks, built in numpy from the factors — not by autograd), ``seed``.
    """

    model: nn.Sequential
    loss_fn: object
    data: tuple[torch.Tensor, torch.Tensor]
    singular_values: np.ndarray
    depth: int
    target: np.ndarray
    factors: tuple[np.ndarray, ...]
    hessian_eigenvalues: np.ndarray
    hessian: np.ndarray = field(repr=False)
    seed: int

    @property
    def top_eigenvalue(self) -> float:
        """``λ_max = L·s_1^{2(L−1)/L}``."""
        return float(self.hessian_eigenvalues[0])

    @property
    def stability_threshold(self) -> float:
        """The largest step ``2/λ_max`` at which this minimum is GD-stable."""
        return 2.0 / self.top_eigenvalue

    def sharpness(self, lr: float) -> np.ndarray:
        """Exact GD sharpness values at step ``lr`` (:func:`deep_linear_sharpness`)."""
        return deep_linear_sharpness(self.singular_values, self.depth, lr)

    def sharpness_dimension(self, lr: float) -> float:
        """The exact SD of :meth:`sharpness` (every minibatch of the full data set, ε = 0)."""
        return _kaplan_yorke(self.sharpness(lr))


def _gauss_newton(factors: list[np.ndarray]) -> np.ndarray:
    """``JᵀJ`` with ``J = ∂ vec W / ∂θ``, ``W = W_L ⋯ W_1``; ``θ`` = the row-major entries of
    ``W_1, …, W_L``. ``∂W/∂(W_k)_{ab} = A_k[:, a] B_k[b, :]`` with ``A_k = W_L⋯W_{k+1}``,
    ``B_k = W_{k−1}⋯W_1``."""
    d = factors[0].shape[0]
    eye = np.eye(d)
    cols = []
    for k in range(len(factors)):
        a = eye
        for w in factors[k + 1:]:
            a = w @ a
        b = eye
        for w in factors[:k]:
            b = w @ b
        # column (a_idx, b_idx) = vec(A[:, a_idx] ⊗ B[b_idx, :])
        cols.append(np.einsum("pa,bq->abpq", a, b).reshape(d * d, d * d))
    jac = np.concatenate(cols, axis=0).T  # (d² outputs, L d² parameters)
    h = jac.T @ jac
    return 0.5 * (h + h.T)


def deep_linear_network(singular_values, depth: int, *, n_examples: int | None = None,
                        seed: int = 0, dtype: torch.dtype = torch.float64
                        ) -> DeepLinearNetwork:
    """A ``depth``-layer linear network of width ``d = len(singular_values)`` at a balanced
    global minimum of ``mean_i ½‖W x_i − y_i‖²`` with target singular values
    ``singular_values`` (all ``> 0``); ``n_examples ≥ d`` (default ``max(2d, 8)``); every
    random matrix (``U``, ``V``, ``R_k``, the inputs) is drawn from ``seed``.

    >>> net = deep_linear_network([2.0, 1.0], 3, seed=0)
    >>> from sharpdim.curvature import exact_hessian, flat_loss
    >>> f = flat_loss(net.model, net.loss_fn)
    >>> H = exact_hessian(f, f.theta0, *net.data)
    >>> alpha = np.sort(torch.linalg.eigvalsh(H).numpy())[::-1]
    >>> bool(np.allclose(alpha, net.hessian_eigenvalues, atol=1e-12))
    True
    >>> round(net.top_eigenvalue, 12) == round(3 * 2.0 ** (4 / 3), 12)   # L·s_1^{2(L−1)/L}
    True
    """
    s = _check_singular_values(singular_values)
    L = _validate.integer("depth", depth, minimum=1)
    d = s.size
    n = max(2 * d, 8) if n_examples is None else \
        _validate.integer("n_examples", n_examples, minimum=d)   # at least the width
    rng = np.random.default_rng(_validate.integer("seed", seed, minimum=0))
    rotations = [_haar(rng, d) for _ in range(L + 1)]  # R_0 = V, R_1 … R_{L−1}, R_L = U
    root = s ** (1.0 / L)
    factors = [(rotations[k] * root) @ rotations[k - 1].T for k in range(1, L + 1)]
    target = (rotations[L] * s) @ rotations[0].T
    q, r = np.linalg.qr(rng.standard_normal((int(n), d)))
    inputs = math.sqrt(n) * q * np.where(np.diag(r) < 0, -1.0, 1.0)
    targets = inputs @ target.T
    layers = []
    for w in factors:
        layer = nn.Linear(d, d, bias=False).to(dtype)
        with torch.no_grad():
            layer.weight.copy_(torch.as_tensor(w, dtype=dtype))
        layers.append(layer)
    model = nn.Sequential(*layers)
    data = (torch.as_tensor(inputs, dtype=dtype), torch.as_tensor(targets, dtype=dtype))
    return DeepLinearNetwork(model, half_squared_error, data, s, L, target,
                             tuple(factors), deep_linear_hessian_eigenvalues(s, L),
                             _gauss_newton(factors), int(seed))
