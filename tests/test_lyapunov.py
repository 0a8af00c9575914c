"""QR Lyapunov spectra against exact cases, metamorphic identities and bad input.

Oracles: closed forms (ln|diagonal|, ln|eigenvalues|, ln 2, Newman's formula for Gaussian
products, the entropy of the skew tent map), the same noise regenerated from the recorded
seed (sample means of ln|d_i| for diagonal cocycles), the identity Σ Λ_i = mean ln|det J|
(computed by LU), and the chi-square law of batch-means variances.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.special import digamma
from scipy.stats import chi2, t

from sharpdim.dynamics.lyapunov import (
    DivergenceError,
    LyapunovSpectrum,
    lyapunov_spectrum,
    noise_generator,
)
from sharpdim.dynamics.maps import as_map

EPS = np.finfo(np.float64).eps
# A mean of ln|R_ii| whose every term is exact to a few ulps of its magnitude (here ≤ ~3).
ROUNDOFF = 1e3 * EPS


def linear_map(a: np.ndarray):
    a = np.asarray(a, dtype=np.float64)
    return as_map(lambda x: a @ x, lambda x: a, a.shape[0], name="linear")


class DiagonalCocycle:
    """``J = diag(s_i exp(μ_i + τ_i Z_i))`` with random signs; the state is left unchanged."""

    def __init__(self, mu, tau):
        self.mu = np.asarray(mu, dtype=np.float64)
        self.tau = np.asarray(tau, dtype=np.float64)
        self.dim = self.mu.size

    def sample_noise(self, rng):
        z = rng.standard_normal(self.dim)
        signs = rng.choice([-1.0, 1.0], size=self.dim)
        return z, signs

    def diagonal(self, noise):
        z, signs = noise
        return signs * np.exp(self.mu + self.tau * z)

    def step(self, x, noise):
        return x

    def jacobian(self, x, noise):
        return np.diag(self.diagonal(noise))


class GaussianCocycle:
    """iid N(0, 1/d) matrices; exponents by Newman's formula ½[ln(2/d) + ψ((d−i+1)/2)]."""

    def __init__(self, dim):
        self.dim = dim

    def sample_noise(self, rng):
        return rng.standard_normal((self.dim, self.dim)) / np.sqrt(self.dim)

    def step(self, x, noise):
        return x

    def jacobian(self, x, noise):
        return noise

    def exact(self):
        i = np.arange(1, self.dim + 1)
        return 0.5 * (np.log(2.0 / self.dim) + digamma((self.dim - i + 1) / 2.0))


class Henon:
    dim = 2

    def sample_noise(self, rng):
        return None

    def step(self, x, noise):
        return np.array([1.0 - 1.4 * x[0] ** 2 + x[1], 0.3 * x[0]])

    def jacobian(self, x, noise):
        return np.array([[-2.8 * x[0], 1.0], [0.3, 0.0]])

    def step_batch(self, xs, noise):
        return np.stack([1.0 - 1.4 * xs[:, 0] ** 2 + xs[:, 1], 0.3 * xs[:, 0]], axis=1)

    def jacobian_batch(self, xs, noise):
        jac = np.zeros((xs.shape[0], 2, 2))
        jac[:, 0, 0] = -2.8 * xs[:, 0]
        jac[:, 0, 1] = 1.0
        jac[:, 1, 0] = 0.3
        return jac


def henon_start(n, seed=1):
    return np.random.default_rng(seed).uniform(-0.1, 0.1, size=(n, 2))


def test_diagonal_map_exponents_are_log_abs_diagonal_sorted():
    spec = lyapunov_spectrum(linear_map(np.diag([0.2, 3.0, -0.5])), np.ones(3), 200,
                             transient=60, rng=0)
    np.testing.assert_allclose(spec.exponents, np.log([3.0, 0.5, 0.2]), rtol=0, atol=ROUNDOFF)
    np.testing.assert_allclose(spec.stderr, 0.0, atol=ROUNDOFF)
    assert spec.exponents.dtype == np.float64


def test_non_normal_matrix_gives_log_eigenvalues_not_log_singular_values():
    rot = np.linalg.qr(np.random.default_rng(3).standard_normal((3, 3)))[0]
    upper = np.array([[2.0, 3.0, -1.0], [0.0, -1.2, 4.0], [0.0, 0.0, 0.5]])
    a = rot @ upper @ rot.T
    expected = np.log([2.0, 1.2, 0.5])
    # The oracle distinguishes: singular values of this matrix are far from its eigenvalues.
    assert np.abs(np.log(np.linalg.svd(a, compute_uv=False)) - expected).max() > 0.5
    # Frame alignment error decays like (1.2/2)^t and (0.5/1.2)^t; 120 steps put it < 1e-26.
    spec = lyapunov_spectrum(linear_map(a), np.ones(3), 300, transient=120, rng=1)
    np.testing.assert_allclose(spec.exponents, expected, rtol=0, atol=ROUNDOFF)


def test_random_diagonal_cocycle_exponents_are_sample_means_of_log_abs_diagonal():
    system = DiagonalCocycle(mu=[-1.0, 0.3, -0.2], tau=[0.3, 0.5, 0.8])
    n, transient, seed = 2000, 200, 11
    spec = lyapunov_spectrum(system, np.zeros(3), n, transient=transient, rng=seed)
    # Regenerate the same noise: one sample_noise per step from noise_generator(seed).
    rng = noise_generator(seed)
    logs = np.array([np.log(np.abs(system.diagonal(system.sample_noise(rng))))
                     for _ in range(transient + n)])[transient:]
    order = np.argsort(-system.mu)  # the frame aligns with the axes by mean growth rate
    np.testing.assert_allclose(spec.exponents, logs.mean(axis=0)[order], rtol=0, atol=ROUNDOFF)
    # And the exact exponents E ln|d_i| = μ_i, within the batch-means standard error
    # (t quantile with n_batches − 1 degrees of freedom, two-sided 1e-3).
    bound = t.ppf(1 - 5e-4, spec.n_batches - 1) * spec.stderr
    assert np.all(np.abs(spec.exponents - system.mu[order]) <= bound)


def test_batch_means_stderr_matches_tau_over_sqrt_n_and_shrinks_like_one_over_sqrt_n():
    system = DiagonalCocycle(mu=[0.5, -0.5, -1.5], tau=[0.4, 1.0, 0.7])
    order = np.argsort(-system.mu)
    # Per-step ln|d_i| are iid N(μ_i, τ_i²), so (B−1)·stderr²·n/τ² ~ χ²_{B−1} exactly.
    lo, hi = (np.sqrt(chi2.ppf(q, 19) / 19) for q in (5e-4, 1 - 5e-4))
    ratios = []
    for n in (400, 6400):
        spec = lyapunov_spectrum(system, np.zeros(3), n, transient=100, rng=n, n_batches=20)
        assert spec.n_batches == 20
        ratio = spec.stderr / (system.tau[order] / np.sqrt(n))
        assert np.all((lo <= ratio) & (ratio <= hi)), (n, ratio, lo, hi)
        ratios.append(spec.stderr)
    shrink = ratios[0] / ratios[1]  # ≈ sqrt(6400/400) = 4
    assert np.all((4 * lo / hi <= shrink) & (shrink <= 4 * hi / lo))


def test_gaussian_matrix_products_match_newman_formula_and_log_det_identity():
    system = GaussianCocycle(4)
    spec = lyapunov_spectrum(system, np.zeros(4), 4000, rng=5)
    bound = t.ppf(1 - 5e-4, spec.n_batches - 1) * spec.stderr
    assert np.all(np.abs(spec.exponents - system.exact()) <= bound)
    # Σ Λ = mean ln|det J| over the same steps: LU (slogdet) against the QR recursion.
    assert spec.log_det_mean == pytest.approx(spec.exponents.sum(), abs=1e-12)


def test_doubling_and_tent_maps_have_exponent_ln2_even_when_the_float_orbit_collapses():
    doubling = as_map(lambda x: (2.0 * x) % 1.0, lambda x: np.array([[2.0]]), 1)
    tent = as_map(lambda x: 1.0 - np.abs(1.0 - 2.0 * x),
                  lambda x: np.array([[2.0 if x[0] < 0.5 else -2.0]]), 1)
    for system in (doubling, tent):
        # After ~53 doublings the float orbit is 0 (or 1); |J| = 2 regardless.
        spec = lyapunov_spectrum(system, np.array([0.1234]), 300, rng=0)
        assert spec.exponents[0] == pytest.approx(np.log(2.0), abs=ROUNDOFF)
        assert spec.nonfinite_state_step is None


class SkewTent:
    """Skew tent map with peak at p: slopes 1/p and −1/(1 − p); Lebesgue measure invariant."""

    dim = 1

    def __init__(self, p):
        self.p = p

    def sample_noise(self, rng):
        return None

    def step_batch(self, xs, noise):
        return np.where(xs < self.p, xs / self.p, (1.0 - xs) / (1.0 - self.p))

    def jacobian_batch(self, xs, noise):
        return np.where(xs < self.p, 1.0 / self.p, -1.0 / (1.0 - self.p))[:, :, None]

    def step(self, x, noise):
        return self.step_batch(x[None], noise)[0]

    def jacobian(self, x, noise):
        return self.jacobian_batch(x[None], noise)[0]


def test_skew_tent_exponent_is_the_entropy_of_its_partition():
    p = 0.3
    # Lebesgue measure is invariant, so Λ = p ln(1/p) + (1 − p) ln(1/(1 − p)).
    exact = -p * np.log(p) - (1 - p) * np.log(1 - p)
    x0 = np.random.default_rng(2).uniform(size=(64, 1))
    spec = lyapunov_spectrum(SkewTent(p), x0, 2000, transient=20, rng=0)
    bound = t.ppf(1 - 5e-4, spec.n_batches - 1) * spec.stderr[0]
    assert abs(spec.exponents[0] - exact) <= bound


def test_gd_past_edge_of_stability_keeps_exact_exponents_after_the_state_overflows():
    rot = np.linalg.qr(np.random.default_rng(4).standard_normal((3, 3)))[0]
    alphas, lr = np.array([5.0, 1.0, 0.1]), 0.5  # 5 > 2/lr: |1 − lr·5| = 1.5
    hess = rot @ np.diag(alphas) @ rot.T
    jac = np.eye(3) - lr * hess
    gd = as_map(lambda x: x - lr * (hess @ x), lambda x: jac, 3, name="gd")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # overflowing states must not leak numpy warnings
        spec = lyapunov_spectrum(gd, np.ones(3), 2500, transient=100, rng=0)
    expected = np.sort(np.log(np.abs(1 - lr * alphas)))[::-1]
    np.testing.assert_allclose(spec.exponents, expected, rtol=0, atol=ROUNDOFF)
    # The top component grows like 1.5^t from O(1): float64 overflows near t = 709.8/ln 1.5.
    assert spec.nonfinite_state_step is not None
    assert abs(spec.nonfinite_state_step - 709.8 / np.log(1.5)) < 15
    assert not spec.diverged and spec.steps_completed == 2500


def squaring_map():
    """x ↦ x² from x0 = 3: x_t = 3^(2^t) overflows at t = 10; then J = 2x is inf."""
    return as_map(lambda x: x * x, lambda x: np.array([[2.0 * x[0]]]), 1, name="square")


def test_non_finite_jacobian_raises_divergence_error_with_the_completed_steps():
    with pytest.raises(DivergenceError, match="non-finite at step 11") as info:
        lyapunov_spectrum(squaring_map(), np.array([3.0]), 50, rng=0)
    partial = info.value.partial
    assert isinstance(info.value, ArithmeticError)
    assert isinstance(partial, LyapunovSpectrum) and partial.diverged
    assert partial.steps_completed == 10 and partial.nonfinite_state_step == 10
    # Oracle: ln|J_t| = ln(2 · 3^(2^t)) = ln 2 + 2^t ln 3 for t = 0..9.
    expected = np.mean([np.log(2.0) + 2.0**t * np.log(3.0) for t in range(10)])
    assert partial.exponents[0] == pytest.approx(expected, rel=1e-13)
    assert np.isfinite(partial.stderr).all()


def test_on_divergence_record_returns_the_partial_spectrum_without_nan():
    spec = lyapunov_spectrum(squaring_map(), np.array([3.0]), 50, rng=0, on_divergence="record")
    assert spec.diverged and spec.steps_completed == 10 and spec.n_steps == 50
    assert not np.isnan(spec.exponents).any() and not np.isnan(spec.stderr).any()


def test_divergence_before_any_averaged_step_raises_even_when_recording():
    with pytest.raises(DivergenceError, match="no averaged step completed") as info:
        lyapunov_spectrum(squaring_map(), np.array([3.0]), 5, transient=20, rng=0,
                          on_divergence="record")
    assert info.value.partial is None


def test_top_k_exponents_equal_the_leading_part_of_the_full_spectrum():
    system = GaussianCocycle(5)
    full = lyapunov_spectrum(system, np.zeros(5), 300, rng=8)
    for k in (1, 2, 4):
        top = lyapunov_spectrum(system, np.zeros(5), 300, rng=8, k=k)
        assert top.k == k and top.log_det_mean == pytest.approx(full.log_det_mean, abs=0)
        np.testing.assert_allclose(top.exponents, full.exponents[:k], rtol=0, atol=1e-12)
    henon = lyapunov_spectrum(Henon(), henon_start(1)[0], 2000, transient=100, rng=2)
    henon_top = lyapunov_spectrum(Henon(), henon_start(1)[0], 2000, transient=100, rng=2, k=1)
    assert henon_top.exponents[0] == pytest.approx(henon.exponents[0], abs=1e-12)


def test_henon_ensemble_agrees_with_single_orbit_within_standard_errors():
    ens = lyapunov_spectrum(Henon(), henon_start(200), 1000, transient=100, rng=0)
    one = lyapunov_spectrum(Henon(), henon_start(1)[0], 20000, transient=100, rng=0)
    assert ens.n_orbits == 200 and one.n_orbits == 1
    # Exact: det J = −0.3 at every point, so Λ1 + Λ2 = ln 0.3 for both.
    for spec in (ens, one):
        assert spec.exponents.sum() == pytest.approx(np.log(0.3), abs=1e-12)
        assert spec.log_det_mean == pytest.approx(np.log(0.3), abs=1e-12)
    combined = np.hypot(ens.stderr, one.stderr)
    assert np.all(np.abs(ens.exponents - one.exponents) <= 4 * combined)
    # Literature values (Sprott 2003, rounded to 5 decimals: ±5e-6 on top of the stderr).
    assert np.all(np.abs(ens.exponents - [0.41922, -1.62319]) <= 4 * ens.stderr + 5e-6)


def test_zero_singular_value_gives_minus_inf_exponent_not_nan():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # One transient step maps the whole plane onto the e1 axis: the frame is then exact.
        spec = lyapunov_spectrum(linear_map(np.diag([2.0, 0.0])), np.ones(2), 40,
                                 transient=1, rng=0)
    assert spec.exponents[0] == pytest.approx(np.log(2.0), abs=ROUNDOFF)
    assert spec.exponents[1] == -np.inf and spec.stderr[1] == 0.0
    assert spec.log_det_mean == -np.inf


def test_seed_is_recorded_and_reproduces_the_run():
    system = GaussianCocycle(3)
    for rng in (None, 123, np.random.default_rng(9)):
        spec = lyapunov_spectrum(system, np.zeros(3), 50, rng=rng)
        again = lyapunov_spectrum(system, np.zeros(3), 50, rng=spec.seed)
        assert isinstance(spec.seed, int) and spec.seed >= 0
        np.testing.assert_array_equal(spec.exponents, again.exponents)
    assert lyapunov_spectrum(system, np.zeros(3), 50, rng=123).seed == 123


def test_ensemble_without_batch_members_falls_back_to_per_point_calls():
    a = np.array([[0.9, 0.4], [-0.3, 0.5]])
    x0 = henon_start(5)

    class Batched:
        dim = 2
        sample_noise = staticmethod(lambda rng: None)
        step_batch = staticmethod(lambda xs, noise: np.tanh(xs @ a.T))
        jacobian_batch = staticmethod(
            lambda xs, noise: (1 - np.tanh(xs @ a.T) ** 2)[:, :, None] * a)

        def step(self, x, noise):
            raise AssertionError("per-point step called although step_batch exists")

        jacobian = step

    plain = as_map(lambda x: np.tanh(a @ x), lambda x: (1 - np.tanh(a @ x) ** 2)[:, None] * a, 2)
    slow = lyapunov_spectrum(plain, x0, 200, transient=50, rng=0)
    fast = lyapunov_spectrum(Batched(), x0, 200, transient=50, rng=0)
    # A contracting map: rounding differences between the two code paths do not grow.
    np.testing.assert_allclose(slow.exponents, fast.exponents, rtol=0, atol=1e-12)


def test_result_is_frozen_and_its_arrays_read_only():
    spec = lyapunov_spectrum(linear_map(np.eye(2)), np.ones(2), 10, rng=0)
    with pytest.raises(AttributeError):
        spec.seed = 1
    with pytest.raises(ValueError):
        spec.exponents[0] = 1.0


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"x0": np.array([1.0, np.nan])}, ValueError, "x0 must be finite"),
        ({"x0": np.ones(3)}, ValueError, r"x0 must have shape \(2,\)"),
        ({"x0": np.ones((2, 2, 2))}, ValueError, "x0 must have shape"),
        ({"n_steps": 0}, ValueError, "n_steps must be >= 1, got 0"),
        ({"n_steps": -5}, ValueError, "n_steps must be >= 1, got -5"),
        ({"n_steps": 10.0}, TypeError, "n_steps must be an int"),
        ({"transient": -1}, ValueError, "transient must be >= 0, got -1"),
        ({"k": 3}, ValueError, "k must be <= system.dim = 2, got 3"),
        ({"k": 0}, ValueError, "k must be >= 1, got 0"),
        ({"n_batches": 1}, ValueError, "n_batches must be >= 2, got 1"),
        ({"on_divergence": "ignore"}, ValueError,
         r"on_divergence must be one of \('raise', 'record'\), got 'ignore'"),
        ({"rng": -3}, ValueError, "rng seed must be >= 0, got -3"),
        ({"rng": 1.5}, TypeError, "rng must be None, a non-negative int seed or a numpy"),
    ],
)
def test_bad_input_fails_early_with_a_message_naming_the_argument(kwargs, error, message):
    args = {"system": linear_map(np.eye(2)), "x0": np.ones(2), "n_steps": 10, **kwargs}
    with pytest.raises(error, match=message):
        lyapunov_spectrum(args.pop("system"), args.pop("x0"), args.pop("n_steps"), **args)


def test_objects_outside_the_map_protocol_are_rejected():
    with pytest.raises(TypeError, match="lacks sample_noise"):
        lyapunov_spectrum(type("M", (), {"dim": 2, "step": None, "jacobian": None})(),
                          np.ones(2), 5)

    class WrongJacobian(Henon):
        def jacobian(self, x, noise):
            return np.eye(3)

        def jacobian_batch(self, xs, noise):
            return np.zeros((xs.shape[0], 3, 3))

    with pytest.raises(ValueError, match=r"system.jacobian must return a \(2, 2\) array"):
        lyapunov_spectrum(WrongJacobian(), np.ones(2), 5, rng=0)
    with pytest.raises(ValueError,
                       match=r"batch must return a \(3, 2, 2\) array, got shape \(3, 3, 3\)"):
        lyapunov_spectrum(WrongJacobian(), np.ones((3, 2)), 5, rng=0)


def test_ensemble_orbits_share_each_steps_noise():
    # Copies of one point driven by shared noise follow one orbit: the ensemble average then
    # equals the single-orbit spectrum of the same seed (independent noise would not).
    system = GaussianCocycle(3)
    single = lyapunov_spectrum(system, np.zeros(3), 200, rng=4)
    copies = lyapunov_spectrum(system, np.zeros((4, 3)), 200, rng=4)
    np.testing.assert_allclose(copies.exponents, single.exponents, rtol=0, atol=1e-12)


def test_exponents_come_out_descending_even_when_the_qr_frame_has_not_sorted_them():
    # diag(1, 1.001): the frame needs ~ln(1e16)/ln(1.001) ≈ 37,000 steps to align with the
    # faster axis, so after 50 steps most random frames still mix the two directions; the
    # result must be sorted all the same (DESIGN: exponents descending), errors permuted along.
    system = as_map(lambda x: x, lambda x: np.diag([1.0, 1.001]), 2)
    for seed in range(20):
        spec = lyapunov_spectrum(system, np.zeros(2), n_steps=50, rng=seed)
        assert spec.exponents[0] >= spec.exponents[1], (seed, spec.exponents)
        assert spec.exponents.sum() == pytest.approx(np.log(1.001), rel=1e-9)
