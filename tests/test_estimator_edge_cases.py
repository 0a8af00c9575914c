"""The edge cases of real-network spectra, through the public API ``sharpdim.estimate_sharpness``:
a huge neutral bulk, one-atom spectra, weight decay, the sup over one point, the optimizer
vocabulary, the ε form; and the grid-free SD of a Gaussian mixture against quadrature."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import integrate
from scipy.stats import norm

import sharpdim
from sharpdim import EstimateOptions, _numerics, estimate_sharpness, make_update_map
from sharpdim.dimension import gaussian_mixture_dimension, sharpness_dimension
from sharpdim.testing.checking import EPS
from sharpdim.testing.oracles.planted_regression import planted_regression

LR = 0.05


def _planted_bulk(seed: int = 0):
    """800 parameters: 700 eigenvalues in [1e-7, 1e-5] (the neutral bulk), 25 above 2/η = 40,
    75 in [1, 30] (contracting): the shape of a trained network's Hessian."""
    rng = np.random.default_rng(seed)
    alpha = np.r_[rng.uniform(1e-7, 1e-5, 700), rng.uniform(41, 60, 25), rng.uniform(1, 30, 75)]
    return alpha, planted_regression(alpha, seed=seed + 1)


@pytest.fixture(scope="module")
def bulk():
    alpha, p = _planted_bulk()
    slq = estimate_sharpness(p.model(), p.loss_fn, p.data, lr=LR, batch_size=p.n,
                             method="slq", n_batches=4, seed=0)
    return alpha, p, slq


def test_planted_bulk_exact_sd_is_the_closed_form(bulk):
    alpha, p, _ = bulk
    est = estimate_sharpness(p.model(), p.loss_fn, p.data, lr=LR, batch_size=p.n, n_batches=1,
                             seed=0)
    lam = np.sort(np.log(np.abs(1.0 - LR * alpha)))[::-1]
    # the crossing is at a contracting value |z_next| ≥ ln(1/0.95) > 0.05, far from the bulk;
    # the values round to η·8(n + d)·eps·max α / |1 − ηα| (Weyl), each moving SD by ≤ 1/0.05
    delta = LR * 8 * (p.n + p.d) * EPS * alpha.max() / np.abs(1 - LR * alpha).min()
    assert abs(est.dimension - sharpness_dimension(lam)) <= 800 * delta / 0.05 + 1e-9
    assert 700 < est.dimension < 800 and not est.diagnostics.conditioning.ill_conditioned


@pytest.mark.parametrize("smoothing", ["log", "curvature"])
def test_sd_kde_on_a_planted_bulk_is_close_to_sd_slq_never_zero(bulk, smoothing):
    _, p, slq = bulk
    kde = estimate_sharpness(p.model(), p.loss_fn, p.data, lr=LR, batch_size=p.n, method="kde",
                             n_batches=4, seed=0, options=EstimateOptions(smoothing=smoothing))
    assert kde.diagnostics.smoothing == smoothing and kde.diagnostics.bandwidth > 0
    # the lemma |ΔSD| ≤ W₁/min|z_next|, W₁ from coupling each atom x with x + hY:
    # log smoothing moves each value by h|Y|, so W₁ ≤ W h √(2/π); curvature smoothing moves it
    # by ≤ L h|Y| with L = η / (min|1 − ηα| − 12ηh) the Lipschitz constant of g within 12h of
    # the atoms, the mass beyond (2Φ(−12) ≈ 4e-33, moved by ≤ |ln ε| + max g) negligible
    mu = slq.curvature_measure
    W, h = mu.total_mass, kde.diagnostics.bandwidth
    if smoothing == "log":
        w1 = W * h * np.sqrt(2 / np.pi)
    else:
        lip = LR / (np.abs(1 - LR * mu.nodes).min() - 12 * LR * h)
        w1 = lip * W * h * np.sqrt(2 / np.pi) + W * 4e-33 * 20
    slope = min(abs(slq.diagnostics.conditioning.z_next), abs(kde.diagnostics.conditioning.z_next))
    assert kde.dimension > 700
    assert abs(kde.dimension - slq.dimension) <= w1 / slope


def test_single_atom_spectra_give_the_exact_sd_of_the_atom_for_every_method():
    for a, expected in ((3.0, 10.0), (0.5, 0.0)):          # ln|1 − 3| = ln 2, ln 0.5
        p = planted_regression(np.full(10, a), seed=1)
        for method in ("exact", "slq", "kde", "ps"):
            est = estimate_sharpness(p.model(), p.loss_fn, p.data, lr=1.0, batch_size=p.n,
                                     method=method, n_batches=2, seed=0,
                                     options=EstimateOptions(n_steps=3))
            assert est.dimension == pytest.approx(expected, abs=1e-9), (a, method)


def test_a_dead_network_has_a_zero_hessian_and_full_sd():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(),
                                torch.nn.Linear(4, 2)).double()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():            # deterministic whatever the global seed
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
        model[0].weight.zero_()
        model[0].bias.fill_(-1.0)               # every ReLU dead: the loss ignores layer 0
    x = torch.randn(8, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = torch.arange(8) % 2
    ce = torch.nn.functional.cross_entropy
    exact = estimate_sharpness(model, ce, (x, y), lr=0.1, batch_size=8, n_batches=1, seed=0)
    for method in ("slq", "kde", "ps"):
        est = estimate_sharpness(model, ce, (x, y), lr=0.1, batch_size=8, method=method,
                                 n_batches=2, seed=0, options=EstimateOptions(n_steps=4))
        assert np.isfinite(est.dimension) and 0 <= est.dimension <= 26
    assert exact.dimension == pytest.approx(sharpness_dimension(exact.sharpness))
    # a network whose every unit is dead: zero inputs, no bias — H = 0, every ln|1 − ηα| = 0,
    # every partial sum is 0 ≥ 0, so SD = N for every method (one atom at 0, no bandwidth)
    lin = torch.nn.Linear(3, 2, bias=False).double()
    zeros = (torch.zeros(8, 3, dtype=torch.float64), y)
    for method in ("exact", "slq", "kde", "ps"):
        est = estimate_sharpness(lin, ce, zeros, lr=0.1, batch_size=4, method=method, n_batches=2,
                                 seed=0, options=EstimateOptions(n_steps=3))
        assert est.dimension == 6.0, method


def test_zero_bandwidth_is_the_exact_sd_of_the_slq_atoms(bulk):
    _, p, slq = bulk
    est = estimate_sharpness(p.model(), p.loss_fn, p.data, lr=LR, batch_size=p.n, method="kde",
                             n_batches=4, seed=0,
                             options=EstimateOptions(smoothing="log", bandwidth=0.0))
    assert est.dimension == slq.dimension and est.diagnostics.bandwidth == 0.0


def test_weight_decay_enters_the_gd_jacobian():
    alpha = np.r_[np.zeros(8), [4.5, 1.0]]
    p = planted_regression(alpha, seed=2)
    est = estimate_sharpness(p.model(), p.loss_fn, p.data, batch_size=p.n, n_batches=1, seed=0,
                             optimizer=make_update_map("sgd", lr=0.5, weight_decay=0.5))
    lam = np.sort(np.log(np.abs(1 - 0.5 * (alpha + 0.5))))[::-1]
    np.testing.assert_allclose(est.sharpness, lam, atol=1e-12)
    assert not any("ignored" in n for n in est.diagnostics.notes)
    assert est.diagnostics.weight_decay == 0.5


def test_sup_over_one_point_is_the_mean_for_density_methods_and_refused_for_several():
    p = planted_regression(np.linspace(0.1, 3.0, 12), seed=4)
    base = dict(lr=1.0, batch_size=p.n, method="slq", n_batches=6,
                options=EstimateOptions(n_steps=6), seed=3)
    mean = estimate_sharpness(p.model(), p.loss_fn, p.data, **base)
    sup = estimate_sharpness(p.model(), p.loss_fn, p.data, aggregate="sup", **base)
    assert sup.dimension == mean.dimension and sup.diagnostics.aggregate == "sup"
    theta = torch.from_numpy(p.weights.copy())
    with pytest.raises(ValueError, match="aggregate='sup' with method='slq' and 2 points"):
        estimate_sharpness(p.model(), p.loss_fn, p.data, aggregate="sup",
                           points=[theta, theta + 1], **base)


def test_momentum_is_sgd_with_momentum_everywhere():
    p = planted_regression(np.linspace(0.1, 3.0, 6), seed=4)
    base = dict(batch_size=p.n, n_batches=1, seed=0, jacobian="update")
    a = estimate_sharpness(p.model(), p.loss_fn, p.data, **base,
                           optimizer=sharpdim.make_update_map("momentum", lr=0.5, momentum=0.9))
    b = estimate_sharpness(p.model(), p.loss_fn, p.data, **base,
                           optimizer=sharpdim.make_update_map("sgd", lr=0.5, momentum=0.9))
    np.testing.assert_array_equal(a.sharpness, b.sharpness)
    assert a.diagnostics.optimizer == b.diagnostics.optimizer == "momentum"
    with pytest.raises(ValueError, match="momentum must be in \\(0, 1\\) for optimizer='momentum'"):
        estimate_sharpness(p.model(), p.loss_fn, p.data, optimizer="momentum", lr=0.5, **base)


def test_epsilon_form_is_recorded_and_additive_drifts_a_neutral_bulk_upward():
    # 30 values ln(1 − 1e-9) ≈ −1e-9 and one contraction: every value < 0, SD = 0 exactly;
    # the additive form lifts the bulk to ln(1 + ε − 1e-9) > 0 and counts it
    alpha = np.r_[np.full(30, 1e-9), [1.5]]
    p = planted_regression(alpha, seed=6)
    base = dict(lr=1.0, batch_size=p.n, method="slq", n_batches=2, seed=0)
    clamp = estimate_sharpness(p.model(), p.loss_fn, p.data, **base,
                               options=EstimateOptions(n_steps=31))
    additive = estimate_sharpness(p.model(), p.loss_fn, p.data, **base,
                                  options=EstimateOptions(n_steps=31, epsilon_form="additive"))
    assert clamp.diagnostics.epsilon_form == "clamp"
    assert additive.diagnostics.epsilon_form == "additive"
    assert clamp.dimension == 0.0
    assert additive.dimension > 29


def test_one_log_abs_one_minus_in_every_layer():
    from sharpdim.curvature import gd_log_singular_value
    from sharpdim.systems import _common

    assert gd_log_singular_value is _numerics.gd_log_singular_value
    assert _common.log_abs_one_minus is _numerics.log_abs_one_minus
    z = gd_log_singular_value([1e-17, 1e-17, 0.5], lr=1.0)   # ηα = (1e-17, 1e-17, 0.5)
    assert z.tolist() == [-1e-17, -1e-17, np.log(0.5)]
    assert sharpdim.sharpness_dimension(z) == 0.0             # every value contracts


# --------------------------------------------------------------- SD of a Gaussian mixture


def _tail_by_quadrature(t, z, m, sigma):
    s = sum(w * integrate.quad(lambda x, c=c: x * norm.pdf(x, c, sigma), t, np.inf,
                               epsabs=1e-13, epsrel=1e-12)[0] for c, w in zip(z, m, strict=True))
    mass = sum(w * norm.sf(t, c, sigma) for c, w in zip(z, m, strict=True))
    return s, mass


@pytest.mark.parametrize("seed", range(4))
def test_gaussian_mixture_sd_agrees_with_quadrature_of_its_density(seed):
    rng = np.random.default_rng(seed)
    z = np.r_[rng.uniform(0.1, 1.0, 3), rng.uniform(-2.0, -0.1, 6)]
    m = rng.uniform(0.5, 2.0, z.size)
    sigma = float(rng.uniform(0.05, 0.4))
    d = gaussian_mixture_dimension(z, m, bandwidth=sigma)
    # at the root the independent quadrature of ∫_{t*}^∞ x p(x) dx is 0 and the mass above it
    # is the SD (quad's tolerance 1e-12 relative, times Σ m|z| / |t*| for the mass)
    s, mass = _tail_by_quadrature(d.crossing, z, m, sigma)
    assert abs(s) <= 1e-10 * float(m @ np.abs(z))
    assert d.dimension == pytest.approx(mass, abs=1e-9 * float(m @ np.abs(z)) / abs(d.crossing))
    # a fine trapezoid grid (spacing σ/40) of the density, its weighted SD: cells move mass
    # by at most their width, so |ΔSD| ≤ W·Δ/|t*| (perturbation lemma)
    grid = np.linspace(z.min() - 10 * sigma, z.max() + 10 * sigma,
                       int(40 * (np.ptp(z) + 20 * sigma) / sigma))
    dens = norm.pdf(grid[:, None], z[None, :], sigma) @ m
    w = dens * np.gradient(grid)
    sd_grid = sharpness_dimension(grid, w)
    assert abs(d.dimension - sd_grid) <= m.sum() * (grid[1] - grid[0]) / abs(d.crossing) * 2


def test_gaussian_mixture_conventions():
    # bandwidth 0 is the atoms' weighted SD
    z, m = np.array([0.7, -0.2, -1.5]), np.array([1.0, 2.0, 1.0])
    assert gaussian_mixture_dimension(z, m, bandwidth=0.0).dimension == \
        sharpness_dimension(z, m)
    # Σ m z ≥ 0: every partial sum ≥ 0, SD = total mass
    assert gaussian_mixture_dimension([1.0, -0.5], bandwidth=0.3).dimension == 2.0
    # every atom negative: the tail above 0 balances, SD > 0 small, → 0 as σ → 0
    small = [gaussian_mixture_dimension([-1.0, -2.0], bandwidth=s).dimension
             for s in (0.5, 0.2, 0.1)]
    assert small[0] > small[1] > small[2] > 0 and small[2] < 1e-6
    assert gaussian_mixture_dimension([-1.0, -2.0], bandwidth=0.01).dimension == 0.0
    with pytest.raises(ValueError, match="bandwidth must be >= 0, got -1.0"):
        gaussian_mixture_dimension([1.0], bandwidth=-1.0)


def test_kde_grid_refuses_a_bandwidth_too_small_for_its_range():
    mu = sharpdim.curvature.SpectralMeasure([0.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="too small for the range"):
        mu.gaussian_kde(bandwidth=1e-7)


def test_an_update_map_and_an_options_value_are_the_old_keywords_bit_for_bit():
    p = planted_regression(np.linspace(0.1, 3.0, 6), seed=4)
    hb = sharpdim.make_update_map("momentum", lr=0.5, momentum=0.9, weight_decay=0.01)
    opts = sharpdim.EstimateOptions(n_steps=5)
    a = estimate_sharpness(p.model(), p.loss_fn, p.data, batch_size=p.n, seed=0, n_batches=2,
                           method="slq", jacobian="update", optimizer=hb, options=opts)
    with pytest.warns(DeprecationWarning, match=r"make_update_map\('momentum'.*EstimateOptions"):
        b = estimate_sharpness(p.model(), p.loss_fn, p.data, lr=0.5, batch_size=p.n, seed=0,
                               method="slq", jacobian="update", optimizer="momentum",
                               momentum=0.9, weight_decay=0.01, n_batches=2, n_steps=5)
    np.testing.assert_array_equal(a.measure.nodes, b.measure.nodes)
    assert a.diagnostics == b.diagnostics.__class__(**{**b.diagnostics.__dict__,
                                                       "seconds": a.diagnostics.seconds})
    with pytest.raises(ValueError, match="lr is given twice with different values"):
        estimate_sharpness(p.model(), p.loss_fn, p.data, lr=0.1, batch_size=p.n, optimizer=hb)
    with pytest.raises(ValueError, match="lr must be given"):
        estimate_sharpness(p.model(), p.loss_fn, p.data, batch_size=p.n)


# ------------------------------------------ the paper's SD-KDE: curvature density pushed by g


@pytest.mark.parametrize("form", ["clamp", "additive"])
@pytest.mark.parametrize("h", [0.05, 2.0])
def test_curvature_kde_tails_agree_with_adaptive_quadrature(form, h):
    from sharpdim.estimators.pushforward import _Pushforward

    rng = np.random.default_rng(0)
    x = np.r_[rng.uniform(1e-7, 1e-5, 6), rng.uniform(41, 60, 2), rng.uniform(1, 30, 3), 19.9]
    w = rng.uniform(0.5, 2.0, x.size)
    eps, c = 1e-6, 1 / LR
    pf = _Pushforward(x, w, h, LR, 0.0, eps, form)

    def g(a):
        return float(_numerics.gd_log_singular_value(a, lr=LR, eps=eps, epsilon_form=form))

    for t in (-0.3, -1e-6, -5.0, 0.2):
        s, mass = pf.tails(t)
        r = (np.exp(t) if form == "clamp" else np.exp(t) - eps) / LR
        s_q = m_q = 0.0
        for xi, wi in zip(x, w, strict=True):
            for lo, hi in ((xi - 14 * h, min(c - r, xi + 14 * h)),
                           (max(c + r, xi - 14 * h), xi + 14 * h)):
                if hi > lo:
                    s_q += wi * integrate.quad(lambda a, xi=xi: g(a) * norm.pdf(a, xi, h), lo, hi,
                                               epsabs=0, epsrel=1e-12, limit=500)[0]
            m_q += wi * (norm.cdf((c - r - xi) / h) + norm.sf((c + r - xi) / h))
        # quad's requested relative tolerance 1e-12 on each piece, summed over Σ w|g|
        assert abs(s - s_q) <= 1e-11 * float(w.sum()) * 15, (t, s, s_q)
        assert abs(mass - m_q) <= 64 * EPS * float(w.sum())


def test_curvature_kde_tends_to_the_atoms_sd_as_the_bandwidth_shrinks():
    from sharpdim.estimators.pushforward import curvature_kde_dimension

    rng = np.random.default_rng(1)
    x = np.r_[rng.uniform(1e-7, 1e-5, 40), rng.uniform(41, 60, 3), rng.uniform(1, 30, 8)]
    w = np.ones(x.size)
    z = _numerics.gd_log_singular_value(x, lr=LR, eps=1e-6)
    exact = sharpness_dimension(z)
    z_next = abs(sharpdim.dimension.kaplan_yorke_decomposition(z).next_value)
    for h in (1e-2, 1e-4, 1e-6):
        d = curvature_kde_dimension(x, w, bandwidth=h, lr=LR, eps=1e-6)
        lip = LR / (np.abs(1 - LR * x).min() - 12 * LR * h)
        bound = lip * x.size * h * np.sqrt(2 / np.pi) / min(z_next, abs(d.crossing))
        rounding = 64 * EPS * float(np.abs(z).sum()) / abs(d.crossing)  # root's S(t) rounding
        assert abs(d.dimension - exact) <= bound + rounding, (h, d.dimension, exact)
