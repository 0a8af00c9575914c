"""Lyapunov spectra of random matrix products against their exact values.

Oracles (sharpdim.systems.linear_cocycle):

* iid Gaussian ``N(0, s²)`` matrices — Newman (1986): ``Λ_i = ln s + ½[ln 2 + ψ((d−i+1)/2)]``.
  Its sum is checked independently against ``E ln|det M| = d ln s + Σ_k ½ E ln χ²_k`` (Bartlett:
  ``|det G| = Π_k χ_k`` in law), with ``E ln χ²_k`` integrated numerically from the chi-square
  density (no digamma), and that closed form against a Monte Carlo mean of ``ln|det M|``.
* upper-triangular products: ``Λ = sort(E ln|M_ii|)``; commuting products ``Q diag(D_s) Qᵀ``:
  ``Λ = sort(Σ_s p_s ln|D_s|)``; every product: ``Σ Λ_i = E ln|det M|``.

Tolerances for estimates from ``lyapunov_spectrum`` (``N_STEPS`` averaged QR steps, 20 batch
means): ``K·stderr + B/N_STEPS``. ``K`` is the two-sided Student-t (19 dof) quantile at a
family-wise false-alarm rate of 1e-3, Bonferroni-split over every comparison the three product
tests make (examples × exponents; the sum has its own family). ``B/N_STEPS`` bounds the QR method's
finite-time bias, which the batch means do not see: the cumulative ``Σ_t ln|R_ii|`` differs from
``n Λ_i`` by at most ``|ln|minor of the initial frame||`` in the Oseledets basis, below
``B = 10`` unless a Gaussian frame is within ``e^-10`` of degenerate (probability ~1e-4).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from sharpdim.dynamics.lyapunov import lyapunov_spectrum
from sharpdim.systems.linear_cocycle import (
    commuting_matrix_product,
    gaussian_matrix_product,
    newman_exponents,
    triangular_matrix_product,
)
from sharpdim.testing.checking import EPS, Tolerance, check_close
from sharpdim.testing.strategies import random_linear_rds

N_STEPS = 2000
TRANSIENT = 100
N_BATCHES = 20
FAMILY_ALPHA = 1e-3
BIAS = 10.0 / N_STEPS
MAX_DIM = 3
EXAMPLES = settings().max_examples  # the active profile (root conftest loads it first)
# Each QR run costs ~0.2 s on one core: the product checks draw a third of the profile's
# examples (8 in ``ci``, 83 in ``thorough``).
RUN_EXAMPLES = max(4, EXAMPLES // 3)
SEEDS = st.integers(0, 2**32 - 1)
EULER_GAMMA = 0.5772156649015329


def _t_multiplier(n_comparisons: int, dof: int = N_BATCHES - 1) -> float:
    """Two-sided Student-t quantile for a Bonferroni family of ``n_comparisons``."""
    return float(stats.t.ppf(1.0 - FAMILY_ALPHA / (2.0 * n_comparisons), dof))


K_EXPONENTS = _t_multiplier(RUN_EXAMPLES * MAX_DIM * 3)  # 3 tests share the family
K_SUM = _t_multiplier(RUN_EXAMPLES * 3)


def _estimate(system, seed: int):
    return lyapunov_spectrum(system, system.initial_point, N_STEPS, transient=TRANSIENT,
                             rng=seed, n_batches=N_BATCHES)


def _check_spectrum(claim: str, case: str, system, spec) -> None:
    """Each exponent against ``exact_lyapunov_exponents`` and the sum against ``E ln|det M|``."""
    case = f"{case}, seed={spec.seed}"
    expected = system.exact_lyapunov_exponents()
    for i, (e, m, se) in enumerate(zip(expected, spec.exponents, spec.stderr, strict=True)):
        tol = Tolerance(
            reason=f"{K_EXPONENTS:.2f} batch-means stderr (t_19, family-wise α=1e-3 over "
            f"{RUN_EXAMPLES}×{MAX_DIM}×3) + QR bias 10/n",
            atol=K_EXPONENTS * float(se) + BIAS,
        )
        check_close(claim, f"{case}, i={i + 1}", e, m, tol)
    # sd(Σ X_i) ≤ Σ sd(X_i) for any dependence, so Σ stderr bounds the sum's stderr.
    se_sum = float(np.sum(spec.stderr))
    check_close("Σ Λ_i = E ln|det M|", f"{system.name}: {case}", system.exact_log_det_mean(),
                float(spec.exponents.sum()),
                Tolerance(f"{K_SUM:.2f}·Σ stderr (t_19, family-wise α=1e-3 over "
                          f"{RUN_EXAMPLES}×3; sd of a sum ≤ sum of sds) + d·10/n QR bias",
                          atol=K_SUM * se_sum + system.dim * BIAS))


# ----------------------------------------------------------------------------- Newman's formula


@functools.cache
def _mean_log_chi_square(k: int) -> tuple[float, float]:
    """``E ln χ²_k`` by quadrature of the chi-square density, with QUADPACK's error estimate."""
    log_norm = 0.5 * k * math.log(2.0) + math.lgamma(0.5 * k)

    def integrand(x: float) -> float:
        return math.log(x) * math.exp((0.5 * k - 1.0) * math.log(x) - 0.5 * x - log_norm)

    lo, err_lo = integrate.quad(integrand, 0.0, 1.0, limit=200)
    hi, err_hi = integrate.quad(integrand, 1.0, np.inf, limit=200)
    return lo + hi, err_lo + err_hi


def test_newman_formula_pinned_values():
    # d = 1: E ln|Z| = −(γ + ln 2)/2; d = 2: (ln 2 − γ)/2 and −(ln 2 + γ)/2.
    tol = Tolerance("closed forms vs digamma: a few ulps", atol=8 * EPS)
    check_close("Newman's formula, d = 1", "s = 1", -(EULER_GAMMA + math.log(2)) / 2,
                newman_exponents(1)[0], tol)
    check_close("Newman's formula, d = 2", "s = 1",
                [(math.log(2) - EULER_GAMMA) / 2, -(math.log(2) + EULER_GAMMA) / 2],
                newman_exponents(2), tol)
    check_close("Newman's formula scales by ln s", "d = 3, s = e", newman_exponents(3) + 1.0,
                newman_exponents(3, math.e), tol)


@given(st.integers(1, 8), st.floats(0.1, 10.0))
def test_newman_exponent_sum_equals_mean_log_abs_det_by_chi_square_quadrature(dim, scale):
    total, err = dim * math.log(scale), 0.0
    for k in range(1, dim + 1):
        mean, quad_err = _mean_log_chi_square(k)
        total += 0.5 * mean
        err += 0.5 * quad_err
    check_close("Σ Newman Λ_i = d ln s + ½ Σ_k E ln χ²_k (Bartlett)", f"d={dim}, s={scale:.4g}",
                total, newman_exponents(dim, scale).sum(),
                Tolerance("QUADPACK error estimates plus rounding of d terms",
                          atol=err + 4 * dim * EPS * (1 + abs(total))))


@given(st.integers(1, 5), st.floats(-1.0, 1.0), SEEDS)
def test_gaussian_mean_log_abs_det_matches_bartlett_closed_form(dim, log_scale, seed):
    n = 20_000
    system = gaussian_matrix_product(dim, math.exp(log_scale))
    rng = np.random.default_rng(seed)
    logdet = np.linalg.slogdet(system.scale * rng.standard_normal((n, dim, dim)))[1]
    se = float(logdet.std(ddof=1) / math.sqrt(n))
    k = float(stats.norm.ppf(1 - FAMILY_ALPHA / (2 * EXAMPLES)))
    check_close("E ln|det M| = d ln s + Σ_k ½[ln 2 + ψ(k/2)] (Monte Carlo)",
                f"d={dim}, s={system.scale:.4g}, seed={seed}", system.exact_log_det_mean(),
                float(logdet.mean()),
                Tolerance(f"{k:.2f} Monte Carlo stderr (normal, family-wise α=1e-3 over "
                          f"{EXAMPLES})", atol=k * se))


# ----------------------------------------------------------------------------- products


@settings(max_examples=RUN_EXAMPLES)
@given(random_linear_rds(kinds=("gaussian",), max_dim=MAX_DIM), SEEDS)
@example(gaussian_matrix_product(2), 0)
@example(gaussian_matrix_product(3, 0.5), 1)
def test_gaussian_product_lyapunov_spectrum_matches_newman_formula(system, seed):
    _check_spectrum("Lyapunov spectrum of Gaussian products = Newman's formula",
                    f"d={system.dim}, s={system.scale:.4g}", system, _estimate(system, seed))


@settings(max_examples=RUN_EXAMPLES)
@given(random_linear_rds(kinds=("triangular",), max_dim=MAX_DIM), SEEDS)
@example(triangular_matrix_product([0.5, -1.0, 0.0], 0.5, 2.0), 0)
def test_triangular_product_exponents_are_sorted_mean_log_diagonals(system, seed):
    _check_spectrum("Lyapunov spectrum of triangular products = sort(E ln|M_ii|)",
                    f"μ={np.round(system.log_diagonal_mean, 4).tolist()}", system,
                    _estimate(system, seed))


@settings(max_examples=RUN_EXAMPLES)
@given(random_linear_rds(kinds=("commuting",), max_dim=MAX_DIM), SEEDS)
@example(commuting_matrix_product([[2.0, 0.25], [0.25, 2.0]]), 0)
def test_commuting_product_exponents_are_per_direction_mean_log_eigenvalues(system, seed):
    _check_spectrum("Lyapunov spectrum of commuting products = sort(Σ_s p_s ln|D_s|)",
                    f"D={np.round(system.diagonals, 3).tolist()}, "
                    f"p={np.round(system.probabilities, 3).tolist()}", system,
                    _estimate(system, seed))


@given(random_linear_rds(max_dim=4), SEEDS)
def test_linear_rds_step_is_its_point_independent_jacobian_applied_to_the_state(system, seed):
    rng = np.random.default_rng(seed)
    noise = system.sample_noise(rng)
    xs = rng.standard_normal((3, system.dim))
    jac = system.jacobian(xs[0], noise)
    case = f"{system.name}, d={system.dim}, seed={seed}"
    check_close("the Jacobian of a linear RDS does not depend on the point", case,
                np.broadcast_to(jac, (3, system.dim, system.dim)),
                system.jacobian_batch(xs, noise), Tolerance("exact: the same matrix"))
    bound = system.dim * EPS * float(np.abs(jac).max() * np.abs(xs).max()) * 4
    check_close("step(x, ω) = M(ω) x, single and batched", case, xs @ jac.T,
                np.stack([system.step(x, noise) for x in xs]),
                Tolerance("matrix-vector rounding: 4·d·eps·max|M|·max|x|", atol=bound))
    check_close("step_batch = step row by row", case, np.stack([system.step(x, noise) for x in xs]),
                system.step_batch(xs, noise),
                Tolerance("matrix-vector rounding: 4·d·eps·max|M|·max|x|", atol=bound))
