"""The public Hypothesis strategies: eager validation, bounds, regimes, built objects, shrinking."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import find, given
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from sharpdim.systems import linear_cocycle as lc
from sharpdim.testing import strategies as S
from sharpdim.testing.checking import EPS

# ----------------------------------------------------------------------------- eager validation

BAD_ARGUMENTS = [
    (S.spectra, dict(min_dim=0), "min_dim must be >= 1, got 0"),
    (S.spectra, dict(min_dim=4, max_dim=2), "min_dim must be <= max_dim"),
    (S.spectra, dict(min_dim=1.5), "min_dim must be an int, got float 1.5"),
    (S.spectra, dict(min_value=2.0, max_value=1.0), "min_value must be <= max_value"),
    (S.spectra, dict(max_value=math.inf), "max_value must be finite"),
    (S.spectra, dict(min_value=math.nan), "min_value must be finite"),
    (S.spectra, dict(min_value=1.0, allow_zeros=True), "allow_zeros needs min_value <= 0"),
    (S.spectra, dict(order="sorted"), "order must be one of"),
    (S.spectra, dict(allow_ties=1), "allow_ties must be a bool, got int 1"),
    (S.spectra, dict(resolution=0.3), "resolution must be a power of two"),
    (S.spectra, dict(resolution=-0.5), "resolution must be > 0"),
    (S.spectra, dict(min_value=0.1, max_value=0.2, resolution=0.5), "leaves no multiple"),
    (S.spectra, dict(resolution=2.0**-60), "too fine for exact sums"),
    (S.weighted_spectra, dict(min_weight=0.0), "min_weight must be > 0"),
    (S.weighted_spectra, dict(min_weight=3.0, max_weight=2.0), "min_weight must be <= max_weight"),
    (S.weighted_spectra, dict(min_weight=0.2, max_weight=0.8, integer_weights=True),
     "integer_weights needs an integer"),
    (S.symmetric_matrices, dict(min_eigenvalue=1.0, max_eigenvalue=0.0),
     "min_eigenvalue must be <= max_eigenvalue"),
    (S.symmetric_matrices, dict(eigenvalues=[1.0, np.nan]), "eigenvalues must be a non-empty"),
    (S.symmetric_matrices, dict(eigenvalues=[]), "eigenvalues must be a non-empty"),
    (S.symmetric_matrices, dict(basis="random"), "basis must be one of"),
    (S.orthogonal_matrices, dict(max_dim=0), "max_dim must be >= 1"),
    (S.quadratic_losses, dict(min_lr=-0.1), "min_lr must be > 0, got -0.1"),
    (S.quadratic_losses, dict(regime="eos"), "regime must be one of"),
    (S.quadratic_losses, dict(margin=1.0), "margin must be < 1"),
    (S.quadratic_losses, dict(regime="edge_of_stability", max_scaled_curvature=2.01),
     "max_scaled_curvature must be >= 2 \\+ margin"),
    (S.quadratic_losses, dict(regime="negative_curvature", min_scaled_curvature=0.0),
     "min_scaled_curvature must be <= -margin"),
    (S.quadratic_losses, dict(regime="edge_of_stability", volume="contracting", min_dim=1),
     "needs min_dim >= 2"),
    (S.quadratic_losses, dict(volume="shrinking"), "volume must be one of"),
    (S.heavy_ball_parameters, dict(max_momentum=1.0), "max_momentum must be < 1"),
    (S.heavy_ball_parameters, dict(min_momentum=-0.1), "min_momentum must be >= 0"),
    (S.heavy_ball_parameters, dict(margin=0.5, max_excess=0.1), "max_excess must be >= margin"),
    (S.random_linear_rds, dict(kinds=()), "kinds must be a non-empty sequence"),
    (S.random_linear_rds, dict(kinds="gaussian"), "kinds must be a non-empty sequence"),
    (S.random_linear_rds, dict(kinds=("gaussian", "orthogonal")), "kinds entry must be one of"),
    (S.random_linear_rds, dict(max_states=0), "max_states must be >= 1"),
    (S.random_linear_rds, dict(max_log_std=-1.0), "max_log_std must be >= 0"),
    (S.logistic_parameters, dict(regime="periodic"), "regime must be one of"),
    (S.logistic_parameters, dict(margin=0.3), "margin must be < "),
    (S.scalar_network_parameters, dict(min_target=0.0), "min_target must be > 0"),
    (S.scalar_network_parameters, dict(regime="stable_minima", min_target=2.0, min_lr=1.0),
     "regime='stable_minima' is impossible"),
    (S.deep_linear_networks, dict(min_depth=0), "min_depth must be >= 1"),
    (S.deep_linear_networks, dict(min_width=3, max_width=2), "min_width must be <= max_width"),
    (S.deep_linear_networks, dict(min_singular_value=0.0), "min_singular_value must be > 0"),
]


@pytest.mark.parametrize(("strategy", "kwargs", "match"), BAD_ARGUMENTS)
def test_bad_arguments_fail_when_the_strategy_is_built(strategy, kwargs, match):
    with pytest.raises(S.InvalidStrategyArgument, match=match) as info:
        strategy(**kwargs)  # building alone raises: no draw needed
    assert isinstance(info.value, ValueError) and isinstance(info.value, InvalidArgument)


# ----------------------------------------------------------------------------- spectra


@given(S.spectra(min_dim=2, max_dim=5, min_value=-3.0, max_value=1.5, allow_neg_inf=True,
                 allow_ties=True, allow_zeros=True))
def test_spectra_respect_their_bounds(values):
    assert values.dtype == np.float64 and values.ndim == 1
    assert 2 <= values.size <= 5
    finite = values[np.isfinite(values)]
    assert finite.size >= 1 and not np.isnan(values).any() and not np.isposinf(values).any()
    assert np.all((finite >= -3.0) & (finite <= 1.5))


@given(S.spectra(max_dim=4))
def test_spectra_without_options_are_finite(values):
    assert np.isfinite(values).all()


@given(S.spectra(order="descending", allow_neg_inf=True),
       S.spectra(order="ascending", allow_neg_inf=True))
def test_spectra_orders(desc, asc):
    assert np.array_equal(desc, np.sort(desc)[::-1]) and np.array_equal(asc, np.sort(asc))


@given(S.spectra(resolution=2.0**-4, min_value=-1.0, max_value=1.0))
def test_spectra_on_a_resolution_grid_are_multiples_of_it(values):
    assert np.all(values * 16 == np.round(values * 16))


def test_spectra_options_actually_occur():
    # find() searches until the condition holds: each option must be reachable.
    assert np.isneginf(find(S.spectra(allow_neg_inf=True), lambda v: np.isneginf(v).any())).any()
    assert (find(S.spectra(min_value=1.0, max_value=2.0, allow_ties=True),
                 lambda v: np.unique(v).size < v.size)).size >= 2
    assert (find(S.spectra(min_value=-1.0, max_value=1.0, allow_zeros=True),
                 lambda v: (v == 0).any()) == 0).any()


def test_spectra_shrink_to_zeros_of_the_requested_length():
    smallest = find(S.spectra(allow_neg_inf=True, allow_ties=True), lambda v: v.size >= 3)
    assert smallest.tolist() == [0.0, 0.0, 0.0]


@given(S.weighted_spectra(min_weight=0.5, max_weight=3.0, allow_zero_weights=True))
def test_weighted_spectra_respect_weight_bounds(spec):
    w = spec.weights
    assert w.shape == spec.values.shape
    assert np.all((w == 0) | ((w >= 0.5) & (w <= 3.0))) and (w > 0).any()


@given(S.weighted_spectra(integer_weights=True, min_weight=1.0, max_weight=4.0))
def test_integer_weights_are_whole_numbers(spec):
    assert np.all(spec.weights == np.round(spec.weights)) and spec.weights.min() >= 1


# ----------------------------------------------------------------------------- matrices


def _spectrum_tolerance(sym: S.SymmetricMatrix) -> float:
    """Ulp-derived bound on |eigvalsh(matrix) − eigenvalues|.

    Product Q·diag(α)·Qᵀ: every entry within γ_{d+1}·max|α| (rows of Q are unit vectors), so
    ‖E‖₂ ≤ d·γ_{d+1}·max|α|; a basis with ‖QᵀQ − I‖₂ = δ moves eigenvalues by ≤ (2δ + δ²)max|α|;
    eigvalsh is backward stable with error ≤ d·eps·‖A‖₂ (LAPACK's p(n) taken as n); the exact
    symmetrization adds ≤ d·eps·max|α|. Doubled for the constant hidden in those p(n). In the
    subnormal range each operation errs by up to half the smallest subnormal instead: an
    absolute floor of (d + 1)² of those.
    """
    d = sym.eigenvalues.size
    delta = float(np.linalg.norm(sym.basis.T @ sym.basis - np.eye(d), 2))
    gamma = (d + 1) * EPS / (1 - (d + 1) * EPS)
    scale = float(np.abs(sym.eigenvalues).max())
    tiny = float(np.nextafter(0.0, 1.0))
    return 2.0 * ((2 * delta + delta**2) + d * gamma + 2 * d * EPS) * scale + (d + 1) ** 2 * tiny


@given(S.symmetric_matrices(max_dim=7, min_eigenvalue=-1e3, max_eigenvalue=1e3))
def test_symmetric_matrices_have_their_stated_spectrum(sym):
    d = sym.eigenvalues.size
    assert sym.matrix.shape == (d, d) and np.array_equal(sym.matrix, sym.matrix.T)
    assert np.all(np.diff(sym.eigenvalues) <= 0)
    computed = np.sort(np.linalg.eigvalsh(sym.matrix))[::-1]
    assert np.abs(computed - sym.eigenvalues).max() <= _spectrum_tolerance(sym)


@given(S.symmetric_matrices(eigenvalues=[3.0, -1.0, 0.5]))
def test_symmetric_matrices_take_a_fixed_spectrum(sym):
    assert sym.eigenvalues.tolist() == [3.0, 0.5, -1.0]
    assert np.abs(np.linalg.eigvalsh(sym.matrix)[::-1] - sym.eigenvalues).max() <= (
        _spectrum_tolerance(sym))


@given(S.symmetric_matrices(eigenvalues=S.spectra(min_dim=4, max_dim=4, min_value=1.0,
                                                      max_value=2.0)))
def test_symmetric_matrices_take_a_spectrum_strategy(sym):
    assert sym.eigenvalues.size == 4 and np.all(np.linalg.eigvalsh(sym.matrix) > 0)


@given(S.symmetric_matrices(basis="identity"))
def test_identity_basis_gives_diagonal_matrices(sym):
    assert np.array_equal(sym.matrix, np.diag(sym.eigenvalues))


@given(S.orthogonal_matrices(max_dim=6))
def test_orthogonal_matrices_are_orthogonal(q):
    d = q.shape[0]
    assert np.abs(q.T @ q - np.eye(d)).max() <= 10 * d * EPS


# ----------------------------------------------------------------------------- GD and heavy ball


@given(S.quadratic_losses(min_dim=2, max_dim=5, min_lr=0.05, max_lr=0.5, margin=0.1))
def test_quadratic_losses_respect_bounds_and_their_regime(q):
    assert 2 <= q.dim <= 5 and 0.05 <= q.lr <= 0.5
    x = q.lr * q.eigenvalues
    # x = lr·(x/lr) rounds by a few ulps; the 0.1 margin dwarfs that.
    stable = (x > 0.1 - 1e-12) & (x < 1.9 + 1e-12)
    expanding, negative = x > 2.1 - 1e-12, x < -0.1 + 1e-12
    assert np.all(stable | expanding | negative)
    assert {
        "stable": stable.all(),
        "edge_of_stability": expanding.any() and not negative.any(),
        "negative_curvature": negative.any() and not expanding.any(),
        "both": expanding.any() and negative.any(),
    }[q.regime]


@given(S.quadratic_losses(regime="edge_of_stability", volume="contracting", min_dim=2))
def test_contracting_volume_is_enforced(q):
    assert q.one_step_sharpness[0] > 0 and q.one_step_sharpness.sum() < 0


@given(S.quadratic_losses(max_dim=4))
def test_quadratic_losses_build_the_gd_system(q):
    system = q.system()
    assert system.dim == q.dim and system.lr == q.lr
    assert np.array_equal(system.A, q.hessian)


@given(S.heavy_ball_parameters(margin=0.05))
def test_heavy_ball_regime_follows_schur_cohn(hb):
    assert 0 <= hb.momentum <= 0.9
    x = hb.lr * hb.eigenvalues
    edge = 2 * (1 + hb.momentum)
    if hb.regime == "stable":
        assert np.all((x > 0) & (x < edge))
    else:
        assert np.any(x > edge)
    # independent check on the built system: the spectral radius of the state map
    radius = np.abs(np.linalg.eigvals(hb.system().jacobian(np.zeros(2 * hb.dim)))).max()
    assert (radius < 1) == (hb.regime == "stable")


# ----------------------------------------------------------------------------- linear RDS


@given(S.random_linear_rds(max_dim=3, min_log_scale=-0.5, max_log_scale=0.25))
def test_random_linear_rds_respects_kind_dimension_and_log_scale(system):
    assert 1 <= system.dim <= 3
    assert isinstance(system, lc.GaussianMatrixProduct | lc.TriangularMatrixProduct
                      | lc.CommutingMatrixProduct | lc.FixedMatrixMap)
    if isinstance(system, lc.GaussianMatrixProduct):
        assert math.exp(-0.5) <= system.scale * (1 + 2 * EPS) and system.scale <= math.exp(0.25) * (
            1 + 2 * EPS)
    if isinstance(system, lc.TriangularMatrixProduct | lc.CommutingMatrixProduct):
        exps = system.exact_lyapunov_exponents()
        assert np.all((exps >= -0.5 - 1e-12) & (exps <= 0.25 + 1e-12))
    if isinstance(system, lc.CommutingMatrixProduct):
        assert abs(system.probabilities.sum() - 1) <= 4 * EPS


@given(S.random_linear_rds(kinds=("fixed",), max_dim=3, max_off_diagonal=0.0, basis="identity"))
def test_fixed_kind_without_off_diagonal_is_diagonal(system):
    a = system.matrix
    assert np.array_equal(a, np.diag(np.diag(a)))


@given(st.data())
def test_each_linear_rds_kind_can_be_requested_alone(data):
    classes = {"gaussian": lc.GaussianMatrixProduct, "triangular": lc.TriangularMatrixProduct,
               "commuting": lc.CommutingMatrixProduct, "fixed": lc.FixedMatrixMap}
    assert set(classes) == set(S.LINEAR_RDS_KINDS)
    for kind, cls in classes.items():
        assert isinstance(data.draw(S.random_linear_rds(kinds=(kind,)), label=kind), cls)


# ----------------------------------------------------------------------------- scalar maps


@given(S.logistic_parameters(margin=1e-2))
def test_logistic_parameters_stay_inside_their_regime(p):
    from sharpdim.systems.logistic import logistic_regime

    lo, hi = {"extinction": (0.01, 0.99), "fixed_point": (1.01, 2.99),
              "two_cycle": (3.01, 1 + math.sqrt(6) - 0.01), "chaotic": (4.0, 4.0)}[p.regime]
    assert lo <= p.r <= hi
    assert logistic_regime(p.r) == p.regime  # the system's own classification agrees
    assert p.system().r == p.r


@given(S.scalar_network_parameters(min_target=0.5, max_target=2.0, min_lr=0.1, max_lr=1.5))
def test_scalar_network_parameters_respect_bounds_and_regime(p):
    assert 0.5 <= abs(p.y) <= 2.0 and 0.1 <= p.lr <= 1.5
    k = p.lr * abs(p.y)
    slack = 4 * EPS  # k is recomputed from the drawn y and lr: a few roundings
    if p.regime == "stable_minima":
        assert k <= 0.95 * (1 + slack)
    elif p.regime == "two_cycle":
        assert 1.05 * (1 - slack) <= k <= (math.sqrt(5) - 1 - 0.05) * (1 + slack)
    else:
        assert k >= 1.05 * (1 - slack)
    system = p.system()  # the system's own classification agrees
    assert system.regime == p.regime or (p.regime == "no_stable_minimum"
                                         and system.regime in ("two_cycle", "no_closed_form"))


@given(st.data())
def test_every_regime_of_every_strategy_can_be_drawn(data):
    for regime in ("stable", "edge_of_stability", "negative_curvature"):
        assert data.draw(S.quadratic_losses(regime=regime)).regime == regime
    for regime in ("extinction", "fixed_point", "two_cycle", "chaotic"):
        assert data.draw(S.logistic_parameters(regime=regime)).regime == regime
    for regime in ("stable", "edge_of_stability"):
        assert data.draw(S.heavy_ball_parameters(regime=regime)).regime == regime
    for regime in ("stable_minima", "two_cycle", "no_stable_minimum"):
        assert data.draw(S.scalar_network_parameters(regime=regime)).regime == regime


@given(S.deep_linear_networks(min_depth=2, max_depth=3, max_width=3, min_singular_value=0.5,
                              max_singular_value=2.0))
def test_deep_linear_networks_respect_bounds_and_build_the_stated_network(p):
    assert 2 <= p.depth <= 3 and 1 <= p.width <= 3
    assert np.all(p.singular_values >= 0.5) and np.all(p.singular_values <= 2.0)
    assert np.all(np.diff(p.singular_values) <= 0)  # descending
    net = p.build()
    assert net.depth == p.depth and len(net.model) == p.depth
    assert sum(q.numel() for q in net.model.parameters()) == p.n_params
    assert net.top_eigenvalue == pytest.approx(p.top_eigenvalue, rel=8 * EPS)
