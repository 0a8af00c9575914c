"""SpectralMeasure views keep the total mass and put quantiles where closed forms say."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import ndtri

from sharpdim.curvature import SpectralMeasure, gd_log_singular_value, silverman_bandwidth
from sharpdim.testing.checking import EPS


def _measure(seed: int = 0, n: int = 300, total: float = 1234.0) -> SpectralMeasure:
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.1, 1.0, n)
    return SpectralMeasure(rng.standard_normal(n) * 2.0, w * total / w.sum())


def test_histogram_masses_sum_to_the_total_mass():
    mu = _measure()
    h = mu.histogram(bins=37)
    assert abs(h.total_mass - mu.total_mass) <= 300 * EPS * mu.total_mass
    assert h.outside_mass == 0.0 and h.masses.shape == (37,)
    assert np.allclose((h.density * h.widths).sum(), mu.total_mass, rtol=300 * EPS)


def test_histogram_with_a_narrow_range_reports_the_mass_left_outside():
    mu = SpectralMeasure([-1.0, 0.0, 5.0], [1.0, 2.0, 4.0])
    h = mu.histogram(bins=2, range=(-1.0, 1.0))
    assert h.total_mass == 3.0 and h.outside_mass == 4.0


def test_gaussian_kde_integrates_to_the_total_mass():
    mu = _measure()
    kde = mu.gaussian_kde(bandwidth=0.3)
    # grid spacing ≤ σ/4: trapezoid error ~2·exp(−2π²·16) (negligible); tails cut at 8σ lose
    # ≤ 2(1 − Φ(8)) ≈ 1.2e-15 of the mass; plus summation rounding over the grid
    assert abs(kde.mass() - mu.total_mass) <= (2e-15 + kde.grid.size * EPS) * mu.total_mass
    assert kde.bandwidth == 0.3


def test_kde_as_measure_keeps_the_trapezoid_mass():
    kde = _measure().gaussian_kde(bandwidth=0.5)
    assert np.isclose(kde.as_measure().total_mass, kde.mass(), rtol=kde.grid.size * EPS)


def test_default_bandwidth_is_the_normal_reference_rule():
    mu = _measure()
    x, w = mu.nodes, mu.weights
    sd = np.sqrt(np.cov(x, aweights=w, ddof=0))
    n_eff = w.sum() ** 2 / (w**2).sum()
    assert np.isclose(silverman_bandwidth(x, w), 1.06 * sd * n_eff ** -0.2, rtol=1e-12)
    assert mu.gaussian_kde().bandwidth == silverman_bandwidth(x, w)


def test_pseudo_spectrum_of_one_smoothed_atom_has_the_normal_quantiles():
    c, sigma, total, M = 1.5, 0.2, 500.0, 40
    ps = SpectralMeasure([c], [total]).pseudo_spectrum(M, bandwidth=sigma)
    expected = c + sigma * ndtri((np.arange(M) + 0.5) / M)  # F⁻¹ of N(c, σ²) · total
    assert ps.n_atoms == M and np.allclose(ps.weights, total / M, rtol=0, atol=EPS * total)
    # Newton stops at 4 ulps of the iterate; ndtri is accurate to a few ulps
    assert np.allclose(ps.nodes, expected, rtol=0, atol=64 * EPS * (abs(c) + 4 * sigma))


def test_pseudo_spectrum_of_two_separated_atoms_splits_the_quantiles_by_mass():
    # masses 1 : 3 at −10 and +10, σ = 0.1: the first quarter of the quantiles sit at −10
    mu = SpectralMeasure([-10.0, 10.0], [1.0, 3.0])
    ps = mu.pseudo_spectrum(8, bandwidth=0.1)
    below = ps.nodes < 0
    assert below.sum() == 2
    # the atoms' tails overlap by Φ(−200) = 0: exact normal quantiles within each atom
    r = np.arange(8) + 0.5
    expected = np.where(r / 8 < 0.25, -10 + 0.1 * ndtri(r / 8 / 0.25),
                        10 + 0.1 * ndtri((r / 8 - 0.25) / 0.75))
    assert np.allclose(ps.nodes, expected, rtol=0, atol=1e-12)


def test_pseudo_spectrum_without_smoothing_is_the_generalized_inverse_of_the_atoms():
    mu = SpectralMeasure([3.0, -1.0, 2.0], [2.0, 1.0, 1.0])  # sorted: −1 (1), 2 (1), 3 (2)
    ps = mu.pseudo_spectrum(4, bandwidth=0)
    assert ps.nodes.tolist() == [-1.0, 2.0, 3.0, 3.0]  # targets 0.5, 1.5, 2.5, 3.5
    assert ps.total_mass == 4.0


def test_push_forward_maps_nodes_and_keeps_weights():
    mu = SpectralMeasure([3.0, 0.5, 1.0], [1.0, 2.0, 3.0])
    nu = mu.push_forward(lambda a: gd_log_singular_value(a, lr=1.0, eps=1e-3,
                                                         epsilon_form="additive"))
    assert np.allclose(nu.nodes, np.log(np.abs(1 - np.array([3.0, 0.5, 1.0])) + 1e-3))
    clamped = mu.push_forward(lambda a: gd_log_singular_value(a, lr=1.0, eps=1e-3))
    assert np.allclose(clamped.nodes, np.log(np.maximum(np.abs(1 - np.array([3.0, 0.5, 1.0])),
                                                        1e-3)))
    assert np.array_equal(nu.weights, mu.weights)
    with pytest.raises(ValueError, match="use eps > 0"):
        mu.push_forward(lambda a: gd_log_singular_value(a, lr=1.0))  # ln 0 at α = 1/η


def test_moments_are_weighted_power_sums():
    mu = SpectralMeasure([1.0, -2.0], [3.0, 0.5])
    assert mu.moment(0) == 3.5 and mu.moment(1) == 2.0 and mu.moment(3) == 3.0 - 4.0


def test_measure_is_read_only():
    mu = SpectralMeasure([1.0], [1.0], diagnostics={"seed": 1})
    with pytest.raises(ValueError):
        mu.nodes[0] = 2.0
    with pytest.raises(TypeError):
        mu.diagnostics["seed"] = 2


@pytest.mark.parametrize(
    ("nodes", "weights", "match"),
    [
        ([], [], "non-empty"),
        ([1.0, np.nan], [1.0, 1.0], "nodes must be finite"),
        ([1.0], [-1.0], "weights must be finite and >= 0"),
        ([1.0, 2.0], [1.0], "weights must have the shape"),
        ([1.0], [0.0], "positive total mass"),
    ],
)
def test_bad_measures_are_rejected(nodes, weights, match):
    with pytest.raises(ValueError, match=match):
        SpectralMeasure(nodes, weights)


def test_bad_learning_rate_and_bandwidth_are_rejected():
    with pytest.raises(ValueError, match="lr must be > 0"):
        gd_log_singular_value(1.0, lr=0.0)
    with pytest.raises(ValueError, match="lr must be > 0"):
        gd_log_singular_value(1.0, lr=-0.1)
    with pytest.raises(ValueError, match="eps must be >= 0"):
        gd_log_singular_value(1.0, lr=0.1, eps=-1.0)
    with pytest.raises(ValueError, match="bandwidth must be > 0"):
        SpectralMeasure([1.0], [1.0]).gaussian_kde()  # one atom: the rule of thumb gives 0
    with pytest.raises(ValueError, match="n_atoms must be >= 1, got 0"):
        SpectralMeasure([1.0], [1.0]).pseudo_spectrum(0, bandwidth=1.0)
