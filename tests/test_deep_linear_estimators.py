"""``estimate_sharpness`` on deep linear networks at a balanced minimum: a neutral bulk of
``(L − 1)d²`` exactly-zero Hessian eigenvalues under a closed-form top spectrum.

Oracle: :func:`sharpdim.testing.oracles.deep_linear_network` — the Hessian eigenvalues
``μ_ij = Σ_k s_i^{2(k−1)/L} s_j^{2(L−k)/L}`` and zeros, so the exact GD sharpness values
``ln|1 − ημ_ij|`` (and zeros) and their SD are known in closed form. Full batch
(``batch_size = n``): every minibatch Hessian is the full one.

Learning rates are chosen at the edge of stability with the partial sum *past* the neutral
bulk clearly positive: then the SD does not depend on how rounding splits the zeros into
``±1e-16`` (with ``λ_1 = 0`` exactly, i.e. below the edge, SD jumps between 0 and ``(L−1)d²``
under rounding — docs/theory.md §7 — and no estimator can be held to the closed form there).

Density methods (SLQ/KDE/PS) with a full batch differ between runs only through the
Rademacher probe ``v``: run ``i`` puts mass ``‖P_c v‖²`` on each distinct eigenvalue ``c``
(``P_c`` its eigenprojector; Lanczos exhausts the 7-or-fewer-dimensional Krylov space). The
masses have mean ``rank P_c`` and covariance ``2 Σ_{k≠l} (P_a)_kl (P_b)_kl`` (Rademacher), so
the standard error of an estimate over ``R`` runs follows by the delta method from the
gradient of the oracle with respect to the masses. Tolerances are 5 such standard errors
plus the method's deterministic allowance (ε shift for SLQ, grid cell mass for KDE).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, stats

from sharpdim import EstimateOptions, estimate_sharpness
from sharpdim.testing.checking import EPS, Tolerance, check_close
from sharpdim.testing.oracles import deep_linear_network

CASES = [  # (singular values, depth, lr): η λ_max = 2.60, 3.89, 2.4
    ((3.0, 1.5, 0.5), 3, 0.2),
    ((3.0, 1.5, 0.5), 3, 0.3),
    ((2.0, 1.0), 2, 0.6),
]
# The η = 0.3 case is the neutral-bulk regression: 18 of 27 values are 0, the robust bandwidth
# comes out ≈ 4e-16, and the old gridded SD-KDE lost the atoms (2.6e-5 against a
# smoothed-oracle SD of 25.25); the grid-free SD-KDE must match.
KDE_CASES = CASES
R = 60  # SLQ runs (full batch: one probe each)
N_SE = 5.0


def _net(case):
    s, depth, lr = case
    return deep_linear_network(list(s), depth, seed=3), lr


@pytest.mark.parametrize("case", CASES)
def test_exact_sd_of_a_deep_linear_network_is_the_closed_form(case):
    net, lr = _net(case)
    n = int(net.data[0].shape[0])
    est = estimate_sharpness(net.model, net.loss_fn, net.data, lr=lr, batch_size=n,
                             method="exact", n_batches=3, seed=0)
    exact = net.sharpness(lr)
    # eigenvalue rounding δα ≤ 10·N·eps·λ_max moves each λ by η δα/|1 − ηα| and SD by the
    # Kaplan–Yorke slopes (≤ (j + 1)/|λ_{j+1}| in total) — see oracles.hessian._sd_tolerance
    d_lam = lr * 10 * net.n_params * EPS * net.top_eigenvalue / np.min(
        np.abs(1 - lr * net.hessian_eigenvalues))
    nxt = np.min(np.abs(exact[exact < 0]))
    tol = Tolerance("eigenvalue rounding 10·N·eps·λ_max through ln|1 − ηα| and the KY slopes",
                    atol=d_lam * (net.n_params + 1) / nxt)
    check_close("exact SD of a deep linear net = KY of ln|1 − ημ_ij| ∪ (L − 1)d² zeros",
                f"s={case[0]} L={case[1]} η={lr}", net.sharpness_dimension(lr), est.dimension,
                tol)
    check_close("exact λ_1..λ_N of a deep linear net = sorted ln|1 − ημ_ij| and zeros",
                f"s={case[0]} L={case[1]} η={lr}", exact, est.sharpness,
                Tolerance("eigenvalue rounding 10·N·eps·λ_max through ln|1 − ηα|",
                          atol=d_lam))


# ----------------------------------------------------------------------------- density oracles


def _clusters(net):
    """Distinct eigenvalues ``c`` and their eigenprojectors, from the dense oracle Hessian."""
    values, vectors = np.linalg.eigh(net.hessian)
    distinct = np.unique(np.round(net.hessian_eigenvalues, 9))
    scale = 1e-8 * max(1.0, net.top_eigenvalue)
    projectors = []
    for c in distinct:
        v = vectors[:, np.abs(values - c) <= scale]
        projectors.append(v @ v.T)
    ranks = np.array([int(round(np.trace(p))) for p in projectors])
    assert ranks.sum() == net.n_params, "eigenvalue clusters must cover the spectrum"
    return distinct, projectors, ranks.astype(float)


def _mass_covariance(projectors) -> np.ndarray:
    """``Cov(‖P_a v‖², ‖P_b v‖²) = 2 Σ_{k≠l} (P_a)_kl (P_b)_kl`` for a Rademacher ``v``."""
    k = len(projectors)
    cov = np.empty((k, k))
    for a in range(k):
        for b in range(k):
            prod = projectors[a] * projectors[b]
            cov[a, b] = 2.0 * (prod.sum() - np.trace(prod))
    return cov


def _delta_method_se(oracle, masses: np.ndarray, cov: np.ndarray, runs: int) -> float:
    """Standard error of ``oracle(masses averaged over runs)`` (central differences)."""
    grad = np.empty(masses.size)
    for i in range(masses.size):
        h = 1e-4 * max(1.0, masses[i])
        up, down = masses.copy(), masses.copy()
        up[i] += h
        down[i] -= h
        grad[i] = (oracle(up) - oracle(down)) / (2 * h)
    return float(math.sqrt(max(grad @ cov @ grad, 0.0) / runs))


def _weighted_ky(values: np.ndarray, masses: np.ndarray) -> float:
    """docs/theory.md §3 weighted form on atoms ``values`` with masses (independent of
    :mod:`sharpdim.dimension`): last index with ``S_j ≥ 0``, plus ``S_j/|z_{j+1}|``."""
    order = np.argsort(-values)
    z, m = values[order], masses[order]
    if z[0] < 0:
        return 0.0
    total = 0.0
    for j in range(z.size):
        nxt = total + m[j] * z[j]
        if nxt < 0:
            mass = float(m[:j].sum())
            return min(mass + total / abs(z[j]), float(m.sum()))
        total = nxt
    return float(m.sum())


def _g(alpha, lr, eps):
    return np.log(np.abs(1.0 - lr * np.asarray(alpha)) + eps)


def _kde_oracle(centres: np.ndarray, bandwidth: float):
    """SD of the Gaussian mixture ``Σ m_c N(z; c, h²)`` (continuous weighted form): ``t*``
    solves ``∫_t^∞ z f(z) dz = 0`` and SD is the mass above ``t*`` (the fractional term
    vanishes in the continuum). ``∫_t^∞ z N(z; c, h²) dz = c Φ̄(u) + h φ(u)``, ``u = (t−c)/h``.
    """
    def sd(masses):
        def first_moment(t):
            u = (t - centres) / bandwidth
            return float(masses @ (centres * stats.norm.sf(u) + bandwidth * stats.norm.pdf(u)))
        # ∫_t^∞ z f rises while t decreases to 0 (z > 0 there) and falls below 0: the root
        # is in [min − 40h, 0], where the mixture's total first moment is reached
        lo = centres.min() - 40 * bandwidth
        if first_moment(lo) >= 0:
            return float(masses.sum())
        t = optimize.brentq(first_moment, lo, 0.0, xtol=1e-14, rtol=4 * EPS)
        return float(masses @ stats.norm.sf((t - centres) / bandwidth))
    return sd


def _ps_oracle(alphas: np.ndarray, bandwidth: float, n_quantiles: int, lr: float, eps: float):
    """Pseudo-spectrum SD: the ``M`` equal-mass quantiles ``F⁻¹((r + ½)/M)`` of the
    Gaussian-smoothed ``α`` measure mapped through ``g``, weight ``N/M`` each."""
    def sd(masses):
        w = masses / masses.sum()

        def cdf(a):
            return float(w @ stats.norm.cdf((a - alphas) / bandwidth))
        lo, hi = alphas.min() - 40 * bandwidth, alphas.max() + 40 * bandwidth
        q = np.array([optimize.brentq(lambda a, u=(r + 0.5) / n_quantiles: cdf(a) - u, lo, hi,
                                      xtol=1e-13) for r in range(n_quantiles)])
        return _weighted_ky(_g(q, lr, eps), np.full(n_quantiles, masses.sum() / n_quantiles))
    return sd


def _density_case(case, method, **options):
    net, lr = _net(case)
    n = int(net.data[0].shape[0])
    est = estimate_sharpness(net.model, net.loss_fn, net.data, lr=lr, batch_size=n, method=method,
                             n_batches=R, seed=11,
                             options=EstimateOptions(epsilon_form="additive", **options))
    centres, projectors, ranks = _clusters(net)
    cov = _mass_covariance(projectors)
    return net, lr, est, centres, ranks, cov


@pytest.mark.parametrize("case", CASES)
def test_sd_slq_of_a_deep_linear_network_is_within_its_probe_standard_error(case):
    net, lr, est, centres, ranks, cov = _density_case(case, "slq")
    eps = est.diagnostics.epsilon
    z = _g(centres, lr, eps)

    def oracle(masses):
        return _weighted_ky(z, masses)
    expected = oracle(ranks)
    se = _delta_method_se(oracle, ranks, cov, R)
    # ε shift: every value moves by ≤ ε/σ_min, the SD by ≤ (N + 1)·that/|z_{j+1}|
    sigma_min = float(np.min(np.abs(1 - lr * centres)))
    drift = (net.n_params + 1) * eps / sigma_min / float(np.min(np.abs(z[z < 0])))
    check_close("SD-SLQ of a deep linear net (full batch) = weighted KY of the exact atoms",
                f"s={case[0]} L={case[1]} η={lr} R={R}", expected, est.dimension,
                Tolerance(f"{N_SE:g} delta-method standard errors of the Rademacher masses "
                          f"(SE={se:.3g}) + ε drift", atol=N_SE * se + drift))


@pytest.mark.parametrize("case", KDE_CASES)
def test_log_smoothed_sd_kde_of_a_deep_linear_network_matches_the_smoothed_exact_measure(case):
    net, lr, est, centres, ranks, cov = _density_case(case, "kde", smoothing="log")
    eps = est.diagnostics.epsilon
    h = float(est.diagnostics.bandwidth)
    oracle = _kde_oracle(_g(centres, lr, eps), h)
    expected = oracle(ranks)
    se = _delta_method_se(oracle, ranks, cov, R)
    cell = float(np.max(est.measure.weights))  # the grid's fractional term: ≤ one cell's mass
    check_close("SD-KDE of a deep linear net = SD of the exact atoms smoothed by the same "
                "kernel", f"s={case[0]} L={case[1]} η={lr} R={R} h={h:.3g}", expected,
                est.dimension,
                Tolerance(f"{N_SE:g} delta-method SEs (SE={se:.3g}) + one grid cell's mass",
                          atol=N_SE * se + cell))


@pytest.mark.parametrize("case", CASES)
def test_sd_ps_of_a_deep_linear_network_matches_the_smoothed_exact_quantiles(case):
    net, lr, est, centres, ranks, cov = _density_case(case, "ps")
    eps = est.diagnostics.epsilon
    h = float(est.diagnostics.bandwidth)
    m = int(est.diagnostics.n_quantiles)
    oracle = _ps_oracle(centres, h, m, lr, eps)
    expected = oracle(ranks)
    se = _delta_method_se(oracle, ranks, cov, R)
    check_close("SD-PS of a deep linear net = SD of the smoothed exact measure's quantiles",
                f"s={case[0]} L={case[1]} η={lr} R={R} h={h:.3g} M={m}", expected,
                est.dimension,
                Tolerance(f"{N_SE:g} delta-method SEs (SE={se:.3g}) + quantile rootfinding "
                          "1e-9", atol=N_SE * se + 1e-9))


def _curvature_kde_oracle(centres: np.ndarray, bandwidth: float, lr: float, eps: float):
    """SD of the Gaussian-smoothed ``α`` measure ``Σ m_c N(α; c, h²)`` pushed through ``g``, by
    brute force (independent of :mod:`sharpdim`): the density on a uniform grid of 400,001
    points over ``[min c − 12h, max c + 12h]`` (the tails beyond hold < 1e-32 of the mass), each
    grid point an atom of mass ``p(α)Δα`` at ``g(α)``, then the weighted KY of those atoms."""
    grid = np.linspace(centres.min() - 12 * bandwidth, centres.max() + 12 * bandwidth, 400_001)
    step = grid[1] - grid[0]
    kernel = stats.norm.pdf((grid[:, None] - centres[None, :]) / bandwidth) * step / bandwidth
    z = _g(grid, lr, eps)

    def sd(masses):
        return _weighted_ky(z, kernel @ masses)
    return sd, float(step / bandwidth)


@pytest.mark.parametrize("case", CASES)
def test_sd_kde_of_a_deep_linear_network_matches_the_pushed_forward_smoothed_curvature(case):
    # the default smoothing (the paper's): the kernel density of α pushed through ln|1 − ηα|
    net, lr, est, centres, ranks, cov = _density_case(case, "kde")
    assert est.diagnostics.smoothing == "curvature"
    eps = est.diagnostics.epsilon
    h = float(est.diagnostics.bandwidth)
    oracle, cell = _curvature_kde_oracle(centres, h, lr, eps)
    expected = oracle(ranks)
    se = _delta_method_se(oracle, ranks, cov, R)
    # the quadrature: each grid atom holds at most N·Δα/(h√(2π)) of the mass, which bounds the
    # fractional-term error of the brute-force oracle
    grid_error = net.n_params * cell / math.sqrt(2 * math.pi)
    check_close("SD-KDE (curvature smoothing) of a deep linear net = SD of the smoothed exact "
                "α measure pushed through g", f"s={case[0]} L={case[1]} η={lr} R={R} h={h:.3g}",
                expected, est.dimension,
                Tolerance(f"{N_SE:g} delta-method SEs (SE={se:.3g}) + one quadrature atom",
                          atol=N_SE * se + grid_error))
