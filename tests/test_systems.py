"""Unit tests of the analytic catalogue's code paths: protocol, Jacobians, batching, bad input.

Theory claims about these systems (exponents, cycles, thresholds) are in theory_checks/.
"""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest

from sharpdim.dynamics.maps import validate_map
from sharpdim.systems import (
    CatalogueEntry,
    cat_map,
    catalogue,
    commuting_least_squares_sgd,
    cubic_loss_gd,
    doubling_map,
    generalized_baker,
    heavy_ball_quadratic,
    henon,
    least_squares_sgd,
    logistic,
    logistic_regime,
    quadratic_gd,
    scalar_linear_network,
    tent,
    toral_automorphism,
)
from sharpdim.systems._common import EPS, log_abs_one_minus
from sharpdim.systems.least_squares import MAX_ENUMERATED_BATCHES

SYSTEMS = [entry.factory() for entry in catalogue()]
IDS = [entry.name for entry in catalogue()]

# Maps whose step is a polynomial of degree <= 3 in the state (central differences are exact
# up to h²·|f'''|/6 plus rounding); the piecewise-linear maps are handled separately.
SMOOTH = [s for s in SYSTEMS if s.name not in
          ("tent map", "cat map", "doubling map", "generalized baker's map")]


def _points(system, rng: np.random.Generator, n: int = 5) -> np.ndarray:
    """Points near the system's initial point, away from the kinks of piecewise maps."""
    base = np.asarray(system.initial_point, dtype=np.float64)
    return base + 0.05 * rng.uniform(-1.0, 1.0, size=(n, base.size))


# ---------------------------------------------------------------------------- catalogue


def test_catalogue_names_are_unique_and_entries_are_pairs():
    entries = catalogue()
    assert all(isinstance(e, CatalogueEntry) and len(e) == 2 for e in entries)
    assert len({e.name for e in entries}) == len(entries)


@pytest.mark.parametrize("system", SYSTEMS, ids=IDS)
def test_catalogue_systems_follow_the_map_protocol(system):
    dim = validate_map(system)
    rng = np.random.default_rng(0)
    noise = system.sample_noise(rng)
    x = np.asarray(system.initial_point, dtype=np.float64)
    assert x.shape == (dim,)
    assert system.step(x, noise).shape == (dim,)
    assert system.jacobian(x, noise).shape == (dim, dim)
    assert isinstance(system.name, str) and system.name


@pytest.mark.parametrize("system", SYSTEMS, ids=IDS)
def test_oracles_are_descending_and_sum_to_the_log_det_mean(system):
    exps = system.exact_lyapunov_exponents()
    total = system.exact_log_det_mean()
    assert total is not None
    if exps is not None:
        assert exps.shape == (system.dim,)
        assert np.all(np.diff(exps) <= 0)
        # Sums of at most 6 logs of moderate size: rounding is a few eps per term.
        assert math.isclose(float(np.sum(exps)), total, rel_tol=0, abs_tol=64 * EPS)
    lam = system.exact_sharpness()
    if lam is not None:
        assert lam.shape == (system.dim,) and np.all(np.diff(lam) <= 0)
    with pytest.raises(ValueError, match="aggregate must be one of"):
        system.exact_sharpness("median")


@pytest.mark.parametrize("system", SYSTEMS, ids=IDS)
def test_batched_step_and_jacobian_match_the_single_point_versions(system):
    rng = np.random.default_rng(1)
    xs = _points(system, rng)
    noise = system.sample_noise(rng)
    single_steps = np.stack([system.step(x, noise) for x in xs])
    single_jacs = np.stack([system.jacobian(x, noise) for x in xs])
    # Same formulas, possibly another summation order (x A vs A x): a few ulps of the terms.
    scale = 1.0 + np.abs(single_steps).max()
    np.testing.assert_allclose(system.step_batch(xs, noise), single_steps, rtol=0,
                               atol=16 * system.dim * EPS * scale)
    np.testing.assert_array_equal(system.jacobian_batch(xs, noise), single_jacs)


@pytest.mark.parametrize("system", SMOOTH, ids=[s.name for s in SMOOTH])
def test_jacobian_matches_central_differences_of_step(system):
    rng = np.random.default_rng(2)
    noise = system.sample_noise(rng)
    h = 2.0**-17
    for x in _points(system, rng, 3):
        jac = system.jacobian(x, noise)
        fd = np.empty_like(jac)
        for j in range(system.dim):
            e = np.zeros(system.dim)
            e[j] = h
            fd[:, j] = (system.step(x + e, noise) - system.step(x - e, noise)) / (2 * h)
        # Each map is a polynomial of degree <= 3 whose third derivative along one coordinate
        # vanishes, so central differences are exact but for rounding: ~eps·|f| per evaluation
        # and ~eps·|x| in x ± h, both divided by h (8 eps covers the few operations).
        size = 1.0 + np.abs(system.step(x, noise)).max() + np.abs(jac).max() * np.abs(x).max()
        bound = 8 * EPS * size / h
        np.testing.assert_allclose(jac, fd, rtol=0, atol=bound)


def test_piecewise_linear_jacobians_are_the_branch_slopes():
    t = tent(1.5)
    assert t.jacobian(np.array([0.2]))[0, 0] == 1.5
    assert t.jacobian(np.array([0.5]))[0, 0] == -1.5  # kink: right derivative (convention)
    assert doubling_map().jacobian(np.array([0.9]))[0, 0] == 2.0
    b = generalized_baker(1 / 3, 0.2, 0.4)
    np.testing.assert_array_equal(b.jacobian(np.array([0.1, 0.2])), np.diag([0.2, 3.0]))
    np.testing.assert_array_equal(b.jacobian(np.array([0.1, 0.5])),
                                  np.diag([0.4, 1.0 / (1.0 - 1 / 3)]))
    np.testing.assert_array_equal(cat_map().jacobian(np.zeros(2)), [[2.0, 1.0], [1.0, 1.0]])


def test_heavy_ball_jacobian_blocks_follow_the_w_then_v_state_order():
    a = np.array([[2.0, 0.5], [0.5, 1.0]])
    hb = heavy_ball_quadratic(a, lr=0.1, momentum=0.9)
    jac = hb.jacobian(np.zeros(4))
    np.testing.assert_array_equal(jac[:2, :2], np.eye(2) - 0.1 * a)
    np.testing.assert_array_equal(jac[:2, 2:], -0.1 * 0.9 * np.eye(2))
    np.testing.assert_array_equal(jac[2:, :2], a)
    np.testing.assert_array_equal(jac[2:, 2:], 0.9 * np.eye(2))
    x = np.array([1.0, -1.0, 0.5, 0.25])
    v_new = 0.9 * x[2:] + a @ x[:2]
    np.testing.assert_array_equal(hb.step(x), np.concatenate([x[:2] - 0.1 * v_new, v_new]))


# ---------------------------------------------------------------------------- noise


def test_deterministic_maps_draw_no_noise():
    rng = np.random.default_rng(0)
    for system in SYSTEMS:
        if not hasattr(system, "batch_size"):
            assert system.sample_noise(rng) is None


def test_least_squares_minibatches_are_distinct_sorted_and_reproducible():
    x = np.arange(12.0).reshape(6, 2)
    sgd = least_squares_sgd(x, np.zeros(6), lr=0.01, batch_size=4)
    draws = [sgd.sample_noise(np.random.default_rng(5)) for _ in range(2)]
    np.testing.assert_array_equal(draws[0], draws[1])
    rng = np.random.default_rng(6)
    for _ in range(50):
        batch = sgd.sample_noise(rng)
        assert batch.shape == (4,) and np.unique(batch).size == 4
        assert np.all(np.diff(batch) > 0) and batch.min() >= 0 and batch.max() < 6


def test_least_squares_step_uses_the_minibatch_mean_gradient():
    x = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]])
    y = np.array([1.0, 0.0, 2.0])
    sgd = least_squares_sgd(x, y, lr=0.1, batch_size=2)
    w = np.array([0.3, -0.2])
    batch = np.array([0, 2])
    grad = (x[0] * (x[0] @ w - y[0]) + x[2] * (x[2] @ w - y[2])) / 2
    np.testing.assert_allclose(sgd.step(w, batch), w - 0.1 * grad, rtol=0, atol=8 * EPS)
    np.testing.assert_allclose(sgd.minibatch_hessian(batch),
                               (np.outer(x[0], x[0]) + np.outer(x[2], x[2])) / 2, rtol=0, atol=0)
    with pytest.raises(ValueError, match="distinct indices"):
        sgd.step(w, np.array([0, 0]))
    with pytest.raises(ValueError, match="1-D integer array of 2 indices"):
        sgd.step(w, np.array([0.0, 1.0]))


def test_least_squares_enumeration_counts_and_refuses_huge_sets():
    sgd = least_squares_sgd(np.ones((6, 1)), np.zeros(6), lr=0.1, batch_size=3)
    assert sgd.minibatches().shape == (math.comb(6, 3), 3)
    big = least_squares_sgd(np.ones((40, 1)), np.zeros(40), lr=0.1, batch_size=20)
    assert big.n_batches > MAX_ENUMERATED_BATCHES
    with pytest.raises(ValueError, match="MAX_ENUMERATED_BATCHES"):
        big.exact_sharpness()


def test_commuting_basis_is_found_only_for_parallel_or_orthogonal_rows():
    rows = np.array([[1.0, 1.0, 0.0], [2.0, 2.0, 0.0], [0.0, 0.0, 3.0], [1.0, -1.0, 0.0]])
    sgd = least_squares_sgd(rows, np.zeros(4), lr=0.1, batch_size=2)
    v = sgd.commuting_basis
    assert v is not None
    np.testing.assert_allclose(v.T @ v, np.eye(3), atol=8 * EPS)
    for h in sgd.minibatch_hessians():
        off = v.T @ h @ v
        np.testing.assert_allclose(off - np.diag(np.diag(off)), 0.0, atol=32 * EPS)
    generic = least_squares_sgd(np.array([[1.0, 0.2], [0.3, 1.0], [1.0, 1.0]]), np.zeros(3),
                                lr=0.1, batch_size=2)
    assert generic.commuting_basis is None and generic.exact_lyapunov_exponents() is None
    full = least_squares_sgd(np.array([[1.0, 0.2], [0.3, 1.0]]), np.zeros(2), lr=0.1,
                             batch_size=2)
    assert full.commuting_basis is not None  # one minibatch: plain GD


def test_commuting_constructor_places_each_example_on_one_basis_direction():
    q = np.linalg.qr(np.random.default_rng(3).standard_normal((3, 3)))[0]
    sgd = commuting_least_squares_sgd([2.0, 1.0, 3.0], [0, 2, 0], dim=3, lr=0.1,
                                      batch_size=2, basis=q)
    np.testing.assert_allclose(sgd.X, np.array([2.0 * q[:, 0], 1.0 * q[:, 2], 3.0 * q[:, 0]]),
                               atol=0)
    np.testing.assert_array_equal(sgd.y, np.zeros(3))


# ---------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    "p", [-1e-20, 1e-20, -0.5, 0.5, 1.0 - 2**-52, 1.0, 1.0 + 2**-52, 1.5, 2.0 - 2**-51, 2.0,
          2.0 + 2**-51, 3.9, 4.0, 4.0 + 2**-50, 7.5, 1e10])
def test_log_abs_one_minus_is_accurate_and_its_sign_is_exact(p):
    got = float(log_abs_one_minus(p))
    exact_gap = abs(1 - Fraction(p)) - 1  # sign of ln|1 - p|, exactly
    assert np.sign(got) == np.sign(float(exact_gap)) or (exact_gap == 0 and got == 0.0)
    if p == 1.0:
        assert got == -math.inf
        return
    with mpmath.workdps(50):
        ref = float(mpmath.log(abs(1 - mpmath.mpf(p))))
    # log1p / log are accurate to ~1 ulp; p − 2 is exact on [1, 4], p − 1 rounds once beyond.
    assert abs(got - ref) <= 4 * EPS * max(abs(ref), 1e-300) + 4 * EPS * (abs(p) > 4)


def test_logistic_regimes_include_their_upper_bifurcation():
    assert [logistic_regime(r) for r in (1.0, 3.0, 1 + math.sqrt(6), 3.5, 4.0)] == [
        "extinction", "fixed_point", "two_cycle", "no_closed_form", "chaotic"]
    assert logistic(3.5).exact_lyapunov_exponents() is None
    assert logistic(2.0).exact_lyapunov_exponents()[0] == -math.inf  # superstable x* = ½


def test_henon_fixed_points_handle_degenerate_parameters():
    assert henon(-1.0, 0.3).fixed_points().shape == (0, 2)  # (1 - b)² + 4a < 0
    np.testing.assert_allclose(henon(0.0, 0.5).fixed_points(), [[2.0, 1.0]])
    p = henon(1.4, 0.3).fixed_points()
    assert p.shape == (2, 2) and p[0, 0] > p[1, 0]


def test_scalar_network_cycle_is_absent_below_the_flattest_threshold():
    net = scalar_linear_network(2.0, lr=0.4)  # k = 0.8 < 1
    assert net.balanced_two_cycle() is None and net.balanced_two_cycle_exponents() is None
    assert net.regime == "stable_minima" and net.max_stable_lr == 0.5
    assert scalar_linear_network(2.0, lr=0.7).regime == "no_closed_form"  # k = 1.4 > √5 − 1
    assert scalar_linear_network(0.0, lr=1.0).exact_lyapunov_exponents().tolist() == [0.0, 0.0]


def test_cubic_loss_gd_has_no_interior_minimizer_for_r_at_most_one():
    gd = cubic_loss_gd(0.5, lr=0.1)
    assert gd.minimizer is None and gd.minimizer_sharpness is None
    assert gd.edge_of_stability is None


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: quadratic_gd(np.eye(2), -0.1), ValueError, r"lr must be > 0, got -0.1"),
        (lambda: quadratic_gd(np.eye(2), float("nan")), ValueError, r"lr must be finite"),
        (lambda: quadratic_gd(np.eye(2), True), TypeError, r"lr must be a real number"),
        (lambda: quadratic_gd([[1.0, 2.0], [0.0, 1.0]], 0.1), ValueError, r"A must be symmetric"),
        (lambda: quadratic_gd(np.ones((2, 3)), 0.1), ValueError, r"A must be square"),
        (lambda: quadratic_gd(np.eye(2), 0.1, center=[1.0]), ValueError, r"center must have"),
        (lambda: logistic(4.5), ValueError, r"r must be in \(0, 4\], got 4.5"),
        (lambda: logistic(0.0), ValueError, r"r must be in \(0, 4\], got 0.0"),
        (lambda: cubic_loss_gd(2.0, 0.0), ValueError, r"lr must be > 0"),
        (lambda: tent(2.5), ValueError, r"mu must be in \(0, 2\], got 2.5"),
        (lambda: henon(1.4, 0.0), ValueError, r"b must be nonzero"),
        (lambda: heavy_ball_quadratic(np.eye(2), 0.1, 1.0), ValueError,
         r"momentum must be in \[0, 1\), got 1.0"),
        (lambda: heavy_ball_quadratic(np.eye(2), 0.1, -0.1), ValueError, r"momentum must be in"),
        (lambda: scalar_linear_network(float("inf"), 0.1), ValueError, r"y must be finite"),
        (lambda: least_squares_sgd(np.ones((3, 2)), np.zeros(2), 0.1, 1), ValueError,
         r"y must have shape \(3,\)"),
        (lambda: least_squares_sgd(np.ones((3, 2)), np.zeros(3), 0.1, 4), ValueError,
         r"batch_size must be <= the number of examples 3, got 4"),
        (lambda: least_squares_sgd(np.ones((3, 2)), np.zeros(3), 0.1, 0), ValueError,
         r"batch_size must be >= 1"),
        (lambda: least_squares_sgd([[1.0, np.nan]], [0.0], 0.1, 1), ValueError,
         r"X must be finite"),
        (lambda: commuting_least_squares_sgd([1.0, 2.0], [0, 3], 2, 0.1, 1), ValueError,
         r"features must lie in \[0, dim\)"),
        (lambda: commuting_least_squares_sgd([1.0], [0], 2, 0.1, 1, basis=np.ones((2, 2))),
         ValueError, r"basis must be orthogonal"),
        (lambda: generalized_baker(0.5, 0.6, 0.5), ValueError,
         r"lambda_a \+ lambda_b must be <= 1"),
        (lambda: generalized_baker(1.0, 0.2, 0.2), ValueError, r"alpha must be in \(0, 1\)"),
        (lambda: toral_automorphism([[1.5, 1.0], [1.0, 1.0]]), ValueError, r"integer entries"),
        (lambda: toral_automorphism([[2.0, 1.0], [1.0, 2.0]]), ValueError, r"det ±1"),
        (lambda: toral_automorphism([[1.0, 1.0], [0.0, 1.0]]), ValueError, r"hyperbolic"),
        (lambda: scalar_linear_network(1.0, 0.1).minimum(0.0), ValueError, r"u must be nonzero"),
    ],
)
def test_bad_arguments_fail_early_naming_the_argument_and_value(build, error, message):
    with pytest.raises(error, match=message):
        build()


@pytest.mark.parametrize("system", SYSTEMS, ids=IDS)
def test_step_rejects_a_state_of_the_wrong_shape(system):
    noise = system.sample_noise(np.random.default_rng(0))
    with pytest.raises(ValueError, match=rf"x must have shape \({system.dim},\)"):
        system.step(np.zeros(system.dim + 1), noise)
