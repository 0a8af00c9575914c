"""Optimizer step Jacobians against closed forms, sympy and finite differences (docs/theory.md §2).

Oracles, none of which is the code under test:

* SGD on least squares: ``J = I − η(2XᵀX/n + κI)`` from the design matrix (numpy).
* Heavy ball on a quadratic ``H = Q diag(α) Qᵀ``: the block form ``[[I − ηH, −ηβI], [H, βI]]``;
  per eigen-direction the 2×2 block ``B(α) = [[1 − ηα, −ηβ], [α, β]]`` gives the eigenvalues
  (roots of ``μ² − (1 + β − ηα) μ + β``), the singular values
  (``σ±² = (t ± √(t² − 4β²))/2``, ``t = ‖B‖_F²``, ``σ₊σ₋ = β``) and ``det J = β^d`` — the
  last one for any loss, checked on a nonlinear network too.
* Adam/AdamW on a separable quadratic: the 3×3 per-coordinate Jacobian differentiated
  symbolically by sympy from the scalar update rule.
* Any map on a tanh network: central finite differences of the step.

Tolerances: ``γ_K = K·eps`` bounds for accumulations of ``K`` rounded terms (Higham §3.1);
Weyl's inequality ``|σ_i(A) − σ_i(B)| ≤ ‖A − B‖₂`` for singular values; for an eigenvalue, the
backward error ``σ_min(J − rI) ≤ ‖J − J_exact‖₂ + |r − r_exact|``; for finite differences the
Richardson estimate ``|D(h) − D(2h)|`` (three times the ``O(h²)`` truncation error of ``D(h)``)
plus the rounding of the difference quotient.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sharpdim.curvature.functional import flat_loss
from sharpdim.curvature.update_jacobian import (
    UpdateJacobianOperator,
    extreme_singular_values,
    gradient_function,
    update_jacobian,
)
from sharpdim.curvature.update_maps import (
    AdamUpdate,
    HeavyBallUpdate,
    SGDUpdate,
    initial_state,
)
from sharpdim.testing.checking import EPS, Tolerance, check_close, check_that
from sharpdim.testing.strategies import heavy_ball_parameters


def _quadratic_grad(H: np.ndarray):
    H_t = torch.from_numpy(H)
    return lambda w: H_t @ w


# ----------------------------------------------------------------------------- SGD


@given(n=st.integers(2, 8), d=st.integers(1, 5), lr=st.floats(0.01, 2.0),
       wd=st.sampled_from([0.0, 0.01, 0.3]), seed=st.integers(0, 2**16))
def test_sgd_step_jacobian_is_identity_minus_lr_times_least_squares_hessian(n, d, lr, wd, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    model = torch.nn.Linear(d, 1, bias=False).double()
    f = flat_loss(model, torch.nn.functional.mse_loss)
    x, y = torch.from_numpy(X), torch.from_numpy(rng.standard_normal((n, 1)))
    J = update_jacobian(SGDUpdate(lr=lr, weight_decay=wd), f.theta0, gradient_function(f, x, y))
    H = 2.0 * X.T @ X / n
    expected = np.eye(d) - lr * (H + wd * np.eye(d))
    k = n + d + 4  # terms accumulated per entry of H e_j (X e_j, then Xᵀ(·)), plus the update
    tol = Tolerance(
        reason=f"γ_K|X|ᵀ|X| bound of the Hessian-vector product, K = n + d + 4 = {k}",
        atol=lr * k * EPS * float((2.0 * np.abs(X).T @ np.abs(X) / n).max()) + 4 * EPS)
    check_close("SGD step Jacobian = I − η(2XᵀX/n + κI)", f"n={n}, d={d}, lr={lr:.3g}, κ={wd}",
                expected, J.numpy(), tol)


# ----------------------------------------------------------------------------- heavy ball


def _block(alpha: float, lr: float, beta: float) -> np.ndarray:
    return np.array([[1.0 - lr * alpha, -lr * beta], [alpha, beta]])


def _closed_form_singular_values(alpha: np.ndarray, lr: float, beta: float) -> np.ndarray:
    t = (1 - lr * alpha) ** 2 + (lr * beta) ** 2 + alpha**2 + beta**2  # ‖B‖_F²
    big = (t + np.sqrt(np.maximum(t * t - 4 * beta**2, 0.0))) / 2
    small = np.divide(beta**2, big, out=np.zeros_like(big), where=big > 0)  # σ₊²σ₋² = det² = β²
    return np.sort(np.sqrt(np.concatenate([big, small])))[::-1]


def _hb_jacobian(p) -> tuple[np.ndarray, HeavyBallUpdate]:
    update = HeavyBallUpdate(lr=p.lr, momentum=p.momentum)
    d = p.eigenvalues.size
    state = torch.zeros(2 * d, dtype=torch.float64)
    return update_jacobian(update, state, _quadratic_grad(p.hessian)).numpy(), update


def _hb_perturbation(p) -> float:
    """‖J − J_exact‖₂ bound: the computed H is within 4d·eps·max|α| of Q diag(α) Qᵀ (strategy
    contract), entering J as [[−η δH, 0], [δH, 0]], plus a few roundings per entry of J."""
    d = p.eigenvalues.size
    dH = 4 * d * EPS * float(np.abs(p.eigenvalues).max())
    scale = 1 + p.lr * float(np.abs(p.eigenvalues).max()) + p.lr * p.momentum
    return np.sqrt(1 + p.lr**2) * dH + 4 * EPS * scale * 2 * d


@given(heavy_ball_parameters(max_dim=4, max_momentum=0.95))
def test_heavy_ball_jacobian_has_the_closed_block_form(p):
    J, _ = _hb_jacobian(p)
    d = p.eigenvalues.size
    I = np.eye(d)
    expected = np.block([[I - p.lr * p.hessian, -p.lr * p.momentum * I],
                         [p.hessian, p.momentum * I]])
    tol = Tolerance(reason="≤ 2 roundings per entry (η·(H e_j), then 1 − ·)",
                    atol=4 * EPS * (1 + p.lr * float(np.abs(p.hessian).max())))
    check_close("heavy-ball Jacobian = [[I − ηH, −ηβI], [H, βI]]",
                f"d={d}, lr={p.lr:.3g}, β={p.momentum:.3g}, {p.regime}", expected, J, tol)


@given(heavy_ball_parameters(max_dim=4, max_momentum=0.95))
def test_heavy_ball_singular_values_are_the_closed_form_of_the_two_by_two_blocks(p):
    J, _ = _hb_jacobian(p)
    sv = np.linalg.svd(J, compute_uv=False)
    expected = _closed_form_singular_values(p.eigenvalues, p.lr, p.momentum)
    S = J.shape[0]
    norm = float(sv[0])
    tol = Tolerance(
        reason="Weyl: ‖J − J_exact‖₂ (perturbed H) + SVD backward error S·eps·‖J‖₂ + rounding "
               "of the closed form (8 eps relative)",
        atol=_hb_perturbation(p) + S * EPS * norm, rtol=8 * EPS)
    check_close("heavy-ball singular values = ∪_α σ±(B(α)), σ₊σ₋ = β",
                f"d={S // 2}, lr={p.lr:.3g}, β={p.momentum:.3g}", expected, sv, tol)


def _root_error(b: float, beta: float) -> float:
    """Rounding bound of (b ± √(b² − 4β))/2 in float64 (b = 1 + β − ηα)."""
    disc = b * b - 4 * beta
    d_disc = 8 * EPS * (b * b + 4 * beta)
    d_sqrt = min(d_disc / np.sqrt(abs(disc)) if disc != 0 else np.inf, np.sqrt(d_disc))
    return 4 * EPS * (abs(b) + 1) + d_sqrt / 2


@given(heavy_ball_parameters(max_dim=4, max_momentum=0.95))
def test_heavy_ball_eigenvalues_are_the_roots_of_the_per_direction_quadratic(p):
    J, _ = _hb_jacobian(p)
    S = J.shape[0]
    ratios = []
    for alpha in p.eigenvalues:
        b = 1 + p.momentum - p.lr * alpha
        for r in np.roots([1.0, -b, p.momentum]).astype(complex):
            # r is an eigenvalue of J iff J − rI is singular: its smallest singular value is
            # the distance of J to a matrix with eigenvalue r
            smin = float(np.linalg.svd(J - r * np.eye(S), compute_uv=False)[-1])
            bound = _hb_perturbation(p) + _root_error(b, p.momentum) + S * EPS * (
                np.linalg.norm(J, 2) + abs(r))
            ratios.append(smin / bound)
    check_close("every root of μ² − (1 + β − ηα)μ + β is an eigenvalue of the heavy-ball "
                "Jacobian", f"d={S // 2}, lr={p.lr:.3g}, β={p.momentum:.3g}",
                np.zeros(len(ratios)), np.array(ratios),
                Tolerance(reason="σ_min(J − rI) ≤ ‖J − J_exact‖₂ + |δr| + SVD backward error; "
                                 "ratio to that bound", atol=1.0))


@given(heavy_ball_parameters(max_dim=4, min_momentum=0.05, max_momentum=0.95))
def test_heavy_ball_log_determinant_is_dimension_times_log_momentum(p):
    J, _ = _hb_jacobian(p)
    sv = np.linalg.svd(J, compute_uv=False)
    d = p.eigenvalues.size
    gamma = _hb_perturbation(p) + 2 * d * EPS * float(sv[0])
    check_close("Σ ln σ_i(J) = ln|det J| = d ln β (heavy ball, quadratic loss)",
                f"d={d}, β={p.momentum:.3g}", d * np.log(p.momentum), float(np.log(sv).sum()),
                Tolerance(reason="Σ|δσ_i|/σ_i with |δσ_i| ≤ ‖δJ‖₂ + S·eps·‖J‖₂ (Weyl)",
                          atol=gamma * float((1.0 / sv).sum())))


@functools.cache
def _mlp_problem(seed: int):
    gen = torch.Generator().manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(),
                                torch.nn.Linear(4, 2)).double()
    with torch.no_grad():
        for prm in model.parameters():
            prm.copy_(torch.randn(prm.shape, generator=gen, dtype=torch.float64))
    x = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 2, (6,), generator=gen)
    f = flat_loss(model, torch.nn.functional.cross_entropy)
    return f, x, y


def _check_log_det_is_d_log_beta(update: HeavyBallUpdate, seed: int) -> None:
    f, x, y = _mlp_problem(seed)
    state = initial_state(update, f.theta0)
    J = update_jacobian(update, state, gradient_function(f, x, y)).numpy()
    sv = np.linalg.svd(J, compute_uv=False)
    d, S = f.n_params, J.shape[0]
    k = S + x.shape[0] * 6  # terms per Jacobian entry: parameters + batch × units
    gamma = (k * EPS * np.linalg.norm(J) + S * EPS * sv[0])
    check_close("Σ ln σ_i(J) = d ln β for heavy ball on any loss (det [[I−ηH, −ηβI], [H, βI]] "
                "= β^d)", f"tanh MLP d={d}, lr={update.lr:.3g}, β={update.momentum:.3g}, "
                f"κ={update.weight_decay}", d * np.log(update.momentum), float(np.log(sv).sum()),
                Tolerance(reason="Σ|δσ_i|/σ_i, |δσ_i| ≤ γ_K‖J‖_F (autodiff, K = S + 6n) + "
                                 "S·eps·‖J‖₂ (SVD)",
                          atol=gamma * float((1.0 / sv).sum())))


@settings(max_examples=10)
@given(lr=st.floats(0.01, 3.0), beta=st.floats(0.05, 0.95), wd=st.sampled_from([0.0, 0.1]),
       seed=st.integers(0, 3))
def test_heavy_ball_determinant_is_momentum_to_the_dimension_on_a_network(lr, beta, wd, seed):
    _check_log_det_is_d_log_beta(HeavyBallUpdate(lr=lr, momentum=beta, weight_decay=wd), seed)


class _VelocityIgnoringHeavyBall(HeavyBallUpdate):
    """A deliberately wrong heavy ball: steps along the gradient, not the new velocity."""

    def step(self, state, grad_fn):
        w, v = state.chunk(2)
        g = grad_fn(w)
        return torch.cat([w - self.lr * g, self.momentum * v + g])


def test_the_determinant_check_rejects_a_heavy_ball_step_that_ignores_the_velocity():
    # its Jacobian [[I − ηH, 0], [H, βI]] has det β^d·det(I − ηH) ≠ β^d
    with pytest.raises(AssertionError, match="d ln β"):
        _check_log_det_is_d_log_beta(_VelocityIgnoringHeavyBall(lr=0.5, momentum=0.9), 0)


@given(p=heavy_ball_parameters(min_dim=2, max_dim=4, max_momentum=0.9), seed=st.integers(0, 99))
def test_lanczos_on_gram_operator_finds_the_extreme_closed_form_singular_values(p, seed):
    update = HeavyBallUpdate(lr=p.lr, momentum=p.momentum)
    d = p.eigenvalues.size
    assume(p.momentum > 0.01)  # σ₋ = β/σ₊ > 0 keeps JᵀJ positive definite
    op = UpdateJacobianOperator(update, torch.zeros(2 * d, dtype=torch.float64),
                                _quadratic_grad(p.hessian))
    # JᵀJ has condition (σ₊/σ₋)² ~ 1e8 here, so a Ritz value can meet the relative stopping
    # rule (residual ≤ tol·θ_max) while a smaller eigenvalue is still unseen: a small residual
    # certifies *an* eigenvalue, not the extreme one. tol = eps forces the run to exhaust the
    # 2d-dimensional Krylov space, where T is similar to JᵀJ and the extremes are certain.
    res = extreme_singular_values(op, k=1, which="both", seed=seed, n_steps=2 * d, tol=EPS)
    expected = _closed_form_singular_values(p.eigenvalues, p.lr, p.momentum)
    top, bottom = float(res.top[0]), float(res.bottom[0])
    # Ritz value θ of JᵀJ within its residual r of an eigenvalue σ², so |√θ − σ| ≤ r/√θ;
    # plus the Gram products' rounding 4S·eps·‖J‖₂² (in σ² units) and the perturbed H
    g2 = 4 * 2 * d * EPS * expected[0] ** 2
    for name, got, want, r in (("largest", top, expected[0], res.top_residuals[0]),
                               ("smallest", bottom, expected[-1], res.bottom_residuals[0])):
        check_close(f"Lanczos on JᵀJ gives the {name} heavy-ball singular value",
                    f"d={d}, lr={p.lr:.3g}, β={p.momentum:.3g}", want, got,
                    Tolerance(reason="Ritz residual bound (r + Gram rounding)/σ̃ + Weyl "
                                     "perturbation of H",
                              atol=(r + g2) / got + _hb_perturbation(p)))


# ----------------------------------------------------------------------------- Adam


@functools.cache
def _adam_symbolic(decoupled: bool):
    w, m, v, a, lr, b1, b2, eps, wd, t = sp.symbols("w m v a lr b1 b2 eps wd t", real=True)
    g = a * w if decoupled else a * w + wd * w
    m1 = b1 * m + (1 - b1) * g
    v1 = b2 * v + (1 - b2) * g**2
    c1, c2 = 1 - b1**t, 1 - b2**t
    w0 = w * (1 - lr * wd) if decoupled else w
    w1 = w0 - (lr / c1) * m1 / (sp.sqrt(v1) / sp.sqrt(c2) + eps)
    jac = sp.Matrix([w1, m1, v1]).jacobian(sp.Matrix([w, m, v]))
    return sp.lambdify((w, m, v, a, lr, b1, b2, eps, wd, t), jac, "numpy")


@given(d=st.integers(1, 4), lr=st.floats(1e-3, 0.5), b1=st.floats(0.0, 0.99),
       b2=st.floats(0.5, 0.9999), wd=st.sampled_from([0.0, 0.05]), t=st.integers(1, 1000),
       decoupled=st.booleans(), seed=st.integers(0, 2**16))
def test_adam_jacobian_matches_the_sympy_derivative_of_the_scalar_update(
        d, lr, b1, b2, wd, t, decoupled, seed):
    rng = np.random.default_rng(seed)
    a = rng.uniform(-2, 3, d)                       # separable quadratic: g_i = a_i w_i
    w, m = rng.standard_normal(d), 0.3 * rng.standard_normal(d)
    v = rng.uniform(1e-3, 1.0, d)
    update = AdamUpdate(lr=lr, betas=(b1, b2), eps=1e-8, weight_decay=wd,
                        decoupled=decoupled, t=t)
    state = torch.from_numpy(np.concatenate([w, m, v]))
    a_t = torch.from_numpy(a)
    J = update_jacobian(update, state, lambda th: a_t * th).numpy()
    sym = _adam_symbolic(decoupled)
    expected = np.zeros_like(J)
    for i in range(d):
        idx = [i, d + i, 2 * d + i]
        expected[np.ix_(idx, idx)] = np.array(
            sym(w[i], m[i], v[i], a[i], lr, b1, b2, 1e-8, wd, t), dtype=np.float64)
    case = f"{'AdamW' if decoupled else 'Adam'} d={d}, t={t}, β=({b1:.3g}, {b2:.4g})"
    check_close("Adam/AdamW step Jacobian = sympy derivative of the scalar rule (separable "
                "loss: zero between coordinates)", case, expected, J,
                Tolerance(reason="≤ 32 roundings along the longest expression path, relative "
                                 "to the largest entry (absolute) and per entry",
                          atol=32 * EPS * float(np.abs(expected).max()), rtol=32 * EPS))


# ----------------------------------------------------------------------------- finite differences


def _maps():
    return {
        "sgd": (SGDUpdate(lr=0.7, weight_decay=0.05), {}),
        "heavy ball": (HeavyBallUpdate(lr=0.7, momentum=0.8, weight_decay=0.05), {}),
        "adam": (AdamUpdate(lr=0.05, weight_decay=0.05, t=5), "moments"),
        "adamw": (AdamUpdate(lr=0.05, weight_decay=0.05, decoupled=True, t=5), "moments"),
    }


@pytest.mark.parametrize("name, seed", [("sgd", 0), ("heavy ball", 1), ("adam", 2), ("adamw", 3)])
def test_update_jacobian_matches_central_finite_differences_of_the_step(name, seed):
    f, x, y = _mlp_problem(seed)
    update, extra = _maps()[name]
    gen = torch.Generator().manual_seed(seed + 10)
    if extra == "moments":
        g = f.gradient(f.theta0, x, y)
        m = g * 0.5 + 0.01 * torch.randn(f.n_params, generator=gen, dtype=torch.float64)
        v = g**2 + 0.01 + 0.01 * torch.rand(f.n_params, generator=gen, dtype=torch.float64)
        state = initial_state(update, f.theta0, exp_avg=m, exp_avg_sq=v)
    else:
        state = initial_state(update, f.theta0)
    grad_fn = gradient_function(f, x, y)
    J = update_jacobian(update, state, grad_fn).numpy()

    def step(s: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return update.step(torch.from_numpy(s), grad_fn).numpy()

    s0 = state.numpy()
    h = EPS ** (1 / 3) * np.maximum(1.0, np.abs(s0))  # balances h² truncation and eps/h rounding
    D1, D2, mag = np.empty_like(J), np.empty_like(J), np.zeros(J.shape[1])
    for j in range(s0.size):
        e = np.zeros_like(s0)
        for D, k in ((D1, 1.0), (D2, 2.0)):
            e[j] = k * h[j]
            plus, minus = step(s0 + e), step(s0 - e)
            D[:, j] = (plus - minus) / (2 * k * h[j])
            mag[j] = max(mag[j], float(np.abs(plus).max()), float(np.abs(minus).max()))
    rounding = 64 * EPS * mag[None, :] / h[None, :]  # ≤ 64 roundings of each evaluation of φ
    bound = np.abs(D1 - D2) + rounding
    check_close("update-map Jacobian = central finite differences of the step",
                f"{name}, tanh MLP d={f.n_params}, seed={seed}", np.zeros_like(J),
                np.abs(J - D1) / bound,
                Tolerance(reason="|J − D(h)| ≤ |D(h) − D(2h)| (Richardson: 3× the h² error) + "
                                 "rounding 64·eps·|φ|/h; ratio to that bound", atol=1.0))
    check_that("the finite-difference bound is informative (not vacuous)",
               f"{name}, seed={seed}", float(np.median(bound)) < 1e-4 * float(np.abs(J).max()),
               "median bound < 1e-4 · max|J|", f"{float(np.median(bound)):.2e}")
