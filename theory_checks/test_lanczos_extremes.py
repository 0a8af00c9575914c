"""Lanczos extreme eigenvalues equal ``eigvalsh`` on planted spectra, at both ends.

Planted operators ``A = Q diag(λ) Qᵀ`` (``Q`` orthogonal from the QR of a seeded Gaussian
matrix, ``λ`` distinct on a 0.01 grid) make the oracle the planted ``λ`` themselves, with
``torch.linalg.eigvalsh`` as a second, independent algorithm.

Tolerance (derived, not tuned): a Ritz value ``θ`` with residual ``r = ‖A y − θ y‖`` has an
eigenvalue within ``r`` (Krylov–Bogoliubov); with Cauchy interlacing (``θ_j ≤ λ_j`` from
the top) that eigenvalue is the ``j``-th one unless Lanczos missed an eigenvalue, which is
the failure this check exists to catch. Floating point adds Paige's backward error of the
recurrence, ``≲ N · eps · ‖A‖`` (length-``N`` inner products); we allow ``10 N eps ‖A‖``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from sharpdim.curvature import LanczosNotConverged, MatrixOperator, extreme_eigenvalues
from sharpdim.testing.checking import EPS, Tolerance, check_close, check_that


@st.composite
def planted_spectra(draw, *, min_dim: int = 3, max_dim: int = 40):
    n = draw(st.integers(min_dim, max_dim))
    grid = draw(st.lists(st.integers(-1000, 1000), min_size=n, max_size=n, unique=True))
    seed = draw(st.integers(0, 2**32 - 1))
    return np.sort(np.array(grid, dtype=np.float64) / 100.0), seed


def _planted(lam: np.ndarray, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((lam.size, lam.size)))
    A = (Q * lam) @ Q.T
    return torch.tensor((A + A.T) / 2)


def _tolerance(residuals: np.ndarray, n: int, norm: float) -> Tolerance:
    return Tolerance(
        reason="Krylov–Bogoliubov: an eigenvalue within the Ritz residual; plus 10·N·eps·‖A‖ "
               "(Paige's rounding bound for the recurrence)",
        atol=float(residuals.max()) + 10 * n * EPS * norm,
    )


@given(planted_spectra(), st.integers(1, 3))
@example((np.array([-2.0, 0.5, 1.0, 3.0]), 0), 2)
def test_lanczos_top_and_bottom_eigenvalues_equal_the_planted_spectrum(case, k):
    lam, seed = case
    k = min(k, lam.size // 2)
    A = _planted(lam, seed)
    res = extreme_eigenvalues(MatrixOperator(A), k=k, which="both", seed=seed)
    norm = float(np.abs(lam).max())
    ref = torch.linalg.eigvalsh(A).numpy()
    name = f"N={lam.size}, k={k}, seed={seed}"
    check_close("Lanczos top-k equals the planted top-k eigenvalues", name, lam[::-1][:k],
                res.top, _tolerance(res.top_residuals, lam.size, norm))
    check_close("Lanczos bottom-k equals the planted bottom-k eigenvalues", name, lam[:k],
                res.bottom, _tolerance(res.bottom_residuals, lam.size, norm))
    check_close("Lanczos extremes agree with eigvalsh (second algorithm)", name,
                np.concatenate([ref[::-1][:k], ref[:k]]),
                np.concatenate([res.top, res.bottom]),
                Tolerance(reason="two float64 eigensolvers on the same A: 10·N·eps·‖A‖ plus "
                                 "the Ritz residuals", atol=float(
                                     max(res.top_residuals.max(), res.bottom_residuals.max()))
                          + 10 * lam.size * EPS * norm))
    check_that("a converged result reports converged", name, res.converged, "True",
               str(res.converged))


@given(planted_spectra(min_dim=5, max_dim=30))
def test_lanczos_top_eigenvalue_with_a_repeated_top_eigenvalue(case):
    lam, seed = case
    lam = lam.copy()
    lam[-2] = lam[-1]  # multiplicity two at the top: k = 1 is still well defined
    A = _planted(lam, seed)
    res = extreme_eigenvalues(MatrixOperator(A), k=1, which="largest", seed=seed)
    check_close("Lanczos top eigenvalue with multiplicity 2", f"N={lam.size}", lam[-1:],
                res.top, _tolerance(res.top_residuals, lam.size, float(np.abs(lam).max())))
    assert res.bottom is None and res.bottom_residuals is None


def test_too_few_steps_raise_with_the_partial_result_attached():
    lam = np.linspace(-1.0, 1.0, 200)  # evenly spread: Lanczos needs many steps
    A = _planted(lam, 3)
    with pytest.raises(LanczosNotConverged, match="not converged after n_steps=4") as err:
        extreme_eigenvalues(MatrixOperator(A), k=1, n_steps=4, seed=0)
    partial = err.value.partial
    assert not partial.converged and partial.n_steps == 4
    # interlacing holds even before convergence: Ritz values lie inside the spectrum
    assert -1.0 - 1e-12 <= partial.bottom[0] and partial.top[0] <= 1.0 + 1e-12


@given(planted_spectra(min_dim=6), st.integers(2, 5))
def test_every_ritz_value_has_an_eigenvalue_within_its_residual(case, m):
    from sharpdim.curvature import lanczos

    lam, seed = case
    A = _planted(lam, seed)
    v0 = torch.tensor(np.random.default_rng(seed).standard_normal(lam.size))
    res = lanczos(MatrixOperator(A), v0, min(m, lam.size - 1))
    nearest = np.abs(res.ritz_values[:, None] - lam[None, :]).min(axis=1)
    slack = res.residual_norms + 10 * lam.size * EPS * float(np.abs(lam).max())
    check_that("Krylov–Bogoliubov: an eigenvalue within each Ritz residual β_m|S_mℓ|",
               f"N={lam.size}, m={res.n_steps}", bool(np.all(nearest <= slack)),
               "distance ≤ residual", f"max distance/residual {np.max(nearest / slack):.3g}")
