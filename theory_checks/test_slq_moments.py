"""SLQ moment identity: ``Σ_ℓ ω_ℓ θ_ℓ^p = qᵀ A^p q`` for ``p ≤ 2m − 1``, and exactly where
it stops: at ``p = 2m`` the gap is ``(β_1 ⋯ β_m)²``.

After ``m`` Lanczos steps from unit ``q``, ``e_1ᵀ T_m^p e_1 = qᵀ A^p q`` for ``p ≤ 2m − 1``
(Gauss quadrature is exact up to degree ``2m − 1``), and for ``p = 2m`` the error is
``∫ π_m² dμ = ‖π_m(A) q‖² = (β_1 ⋯ β_m)²`` with ``π_m`` the monic Lanczos polynomial.
The oracle ``qᵀ A^p q`` is computed by ``p`` plain matrix-vector products in float64.

Tolerance (derived): with ``‖A‖ ≤ 1``, the computed ``T_m`` equals ``Q_mᵀ A Q_m`` up to a
perturbation ``‖E‖ ≲ 4 (N + m) eps`` (length-``N`` inner products and the re-orthogonal-
ization of ``m`` vectors), which moves ``e_1ᵀ T^p e_1`` by at most ``p ‖E‖``; the oracle's
own ``p`` products add ``p γ_N``. Total ``atol_p = 5 p (N + m) eps`` (plus one ulp).
"""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from sharpdim.curvature import MatrixOperator, lanczos
from sharpdim.testing.checking import EPS, Tolerance, check_close


@st.composite
def planted_unit_spectrum(draw, *, min_dim: int = 2, max_dim: int = 40):
    n = draw(st.integers(min_dim, max_dim))
    lam = draw(st.lists(st.floats(-1.0, 1.0, allow_nan=False), min_size=n, max_size=n))
    seed = draw(st.integers(0, 2**32 - 1))
    m = draw(st.integers(1, min(n, 8)))
    return np.array(lam, dtype=np.float64), seed, m


def _operator_and_probe(lam: np.ndarray, seed: int):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((lam.size, lam.size)))
    A = (Q * lam) @ Q.T
    A = torch.tensor((A + A.T) / 2)
    v = torch.tensor(rng.integers(0, 2, lam.size) * 2.0 - 1.0)  # Rademacher, as in SLQ
    return A, v / np.sqrt(lam.size)


def _quadratic_forms(A: torch.Tensor, q: torch.Tensor, p_max: int) -> np.ndarray:
    out, w = [], q.clone()
    for _ in range(p_max + 1):
        out.append(float(q @ w))
        w = A @ w
    return np.array(out)


def _tol(p: np.ndarray, n: int, m: int) -> np.ndarray:
    return 5 * p * (n + m) * EPS + EPS


@given(planted_unit_spectrum())
@example((np.array([-1.0, -0.25, 0.0, 0.5, 1.0]), 7, 2))
def test_lanczos_quadrature_reproduces_moments_up_to_degree_2m_minus_1(case):
    lam, seed, m = case
    A, q = _operator_and_probe(lam, seed)
    res = lanczos(MatrixOperator(A), q, m)
    m_eff = res.n_steps  # an invariant Krylov space ends the run early: exact from then on
    p = np.arange(2 * m_eff)
    quadrature = np.array([(res.ritz_weights * res.ritz_values**k).sum() for k in p])
    exact = _quadratic_forms(A, q, 2 * m_eff - 1)
    atol = float(_tol(p, lam.size, m_eff).max())
    check_close("Σ ω θ^p = qᵀA^p q for p ≤ 2m − 1 (Gauss quadrature degree)",
                f"N={lam.size}, m={m_eff}, seed={seed}", exact, quadrature,
                Tolerance(reason="first-order rounding of T = QᵀAQ: 5·p·(N+m)·eps at "
                                 "p = 2m − 1, ‖A‖ ≤ 1", atol=atol))


@given(planted_unit_spectrum(min_dim=4))
def test_quadrature_error_at_degree_2m_is_the_squared_beta_product(case):
    lam, seed, m = case
    A, q = _operator_and_probe(lam, seed)
    res = lanczos(MatrixOperator(A), q, m)
    m_eff = res.n_steps
    betas = np.append(res.betas, res.beta_last)
    exact = _quadratic_forms(A, q, 2 * m_eff)[-1]
    quadrature = float((res.ritz_weights * res.ritz_values ** (2 * m_eff)).sum())
    check_close("qᵀA^{2m}q − Σ ω θ^{2m} = (β_1⋯β_m)² (one degree past exactness)",
                f"N={lam.size}, m={m_eff}, seed={seed}", np.prod(betas**2),
                exact - quadrature,
                Tolerance(reason="rounding of both moments at p = 2m: 2·5·p·(N+m)·eps",
                          atol=2 * float(_tol(np.array([2 * m_eff]), lam.size, m_eff)[0])))
