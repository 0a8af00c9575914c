"""Horizon-k sharpness ``(1/k)·ln σ_i(J_k⋯J_1)`` against closed forms (docs/theory.md §2, §7).

The estimator under test is :func:`sharpdim.estimators.horizon.trajectory_exponents` (exact
Jacobians by autodiff through the torch update maps, product QR iteration). Oracles, none of
which is that code:

* **Heavy ball** on ``½wᵀHw``, ``H = Q diag(α) Qᵀ``: per direction the constant block
  ``B = [[1 − ηα, −ηβ], [α, β]] = V Λ V⁻¹`` whose eigenvalues are the roots of
  ``z² − (1 + β − ηα) z + β`` (``np.roots``, LAPACK companion matrix). Since
  ``ρ(B)^k ≤ σ_1(B^k) ≤ κ(V) ρ(B)^k`` and ``σ_1σ_2 = β^k``,

      |(1/k) ln σ_i(J^k) − ln|z_i|| ≤ ln κ(V) / k                      (rate O(1/k)),

  and for real roots with ``|z_1| > |z_2|`` the rate is exactly ``1/k``: ``B^k = z_1^k v_1w_1ᵀ
  + z_2^k v_2w_2ᵀ`` (``‖v_i‖ = 1``, ``w_iᵀv_i = 1``) gives ``k·(λ̂_1 − ln|z_1|) → ln‖w_1‖``
  with ``|k·(λ̂_1 − ln|z_1|) − ln‖w_1‖| ≤ −ln(1 − r^k‖w_2‖/‖w_1‖)``, ``r = |z_2/z_1|``.
  A flat direction ``α = 0`` has roots 1 and ``β`` (exponents 0 and ``ln β``).
* **Coordinates**: the same heavy ball on ``(w, c·v)`` has Jacobians ``C J C⁻¹``, so its
  exponents are within ``ln κ(C)/k`` of those on ``(w, v)`` — and measurably different at
  ``k = 1``.
* **GD**: ``J = I − ηH`` is normal, ``J^k`` has singular values ``|1 − ηα|^k``: horizon ``k``
  equals horizon 1 for every ``k`` (to rounding).
* **Adam at the minimum of a quadratic** (our derivation; a special case, not full Adam): at
  ``w = 0``, ``m = 0`` the gradient is 0, so along the trajectory ``w`` and ``m`` stay 0 and
  ``v_t = β₂^t v₀``; with ``v₀`` uniform the step Jacobian is exactly
  ``[[I − p_t(1−β₁)H, −p_tβ₁I, 0], [(1−β₁)H, β₁I, 0], [0, 0, β₂I]]``,
  ``p_t = (η/c₁)/(√(v_t/c₂) + ε)``: per direction the 2×2 block ``B(p_t)`` (determinant
  ``β₁``), and ``β₂`` on ``v``. The finite-``k`` oracle is the product ``∏ B(p_t)`` in
  60-digit mpmath arithmetic and the 2×2 formula ``σ±² = (F ± √(F² − 4β₁^{2k}))/2``
  (``F = ‖∏B‖_F²``). When ``√v₀ ≪ ε·eps`` (the second moment below the ε floor), ``p_t = η/ε``
  is constant and Adam *is* a heavy ball with step ``η(1−β₁)/ε`` and momentum ``β₁`` (rescale
  ``m`` by ``1/(1−β₁)``): exponents → ``ln|roots of z² − (1 + β₁ − (η/ε)(1−β₁)α) z + β₁|``
  and ``ln β₂``, at the rate ``ln κ(V)/k``.
* A mutant heavy ball that ignores the velocity (eigenvalues ``1 − ηα`` and ``β``) must be
  rejected by the heavy-ball check.

Rounding allowance on the exponent scale: the product QR iteration's certified bound (reported
by the code, checked to be small) plus, per factor, a relative perturbation ``≤ 64·S·eps·κ(J)``
of each QR step (``S`` the state size, ``κ(J)`` the factor's condition number).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from sharpdim.curvature.update_maps import AdamUpdate, HeavyBallUpdate, SGDUpdate
from sharpdim.estimators.horizon import trajectory_exponents
from sharpdim.testing.checking import EPS, Tolerance, check_close, check_that
from sharpdim.testing.strategies import (
    HeavyBallParameters,
    heavy_ball_parameters,
    quadratic_losses,
)

HORIZONS = (1, 4, 16, 64, 256)


def _pinned(eigenvalues, lr, momentum, regime) -> HeavyBallParameters:
    alpha = np.sort(np.asarray(eigenvalues, dtype=np.float64))[::-1].copy()
    return HeavyBallParameters(np.diag(alpha), alpha, np.eye(alpha.size), float(lr),
                               float(momentum), regime)


TYPICAL = _pinned([2.0, 0.1], 0.1, 0.9, "stable")             # complex roots for α = 2
FLAT = _pinned([2.0, 0.0], 0.1, 0.9, "stable")                # α = 0: exponents 0 and ln β
MIXED = _pinned([4.5, 1.0, 0.05], 1.0, 0.5, "edge_of_stability")
REAL_ROOTS = _pinned([0.5], 0.1, 0.5, "stable")               # z = (1.45 ± √0.1025)/2


def _case(q: HeavyBallParameters, k: int | None = None) -> str:
    tail = "" if k is None else f" k={k}"
    return (f"d={q.dim} lr={q.lr:.3g} β={q.momentum:.3g} "
            f"ηα={np.round(q.lr * q.eigenvalues, 3).tolist()}{tail}")


def _quadratic_grad(H: np.ndarray):
    H_t = torch.from_numpy(np.ascontiguousarray(H))
    return lambda w: H_t @ w


def _blocks(alpha, lr, beta) -> list[np.ndarray]:
    return [np.array([[1.0 - lr * a, -lr * beta], [a, beta]]) for a in np.atleast_1d(alpha)]


def _root_log_moduli(blocks: list[np.ndarray]) -> np.ndarray:
    """``ln|z|`` of the roots of each block's characteristic polynomial (``np.roots``)."""
    logs = []
    for B in blocks:
        roots = np.roots([1.0, -np.trace(B), np.linalg.det(B)])
        with np.errstate(divide="ignore"):
            logs.append(np.log(np.abs(roots)))
    return np.sort(np.concatenate(logs))[::-1]


def _log_condition(blocks: list[np.ndarray]) -> float:
    """``max ln κ(V)`` over blocks (unit eigenvector columns; ``inf`` for a Jordan block)."""
    worst = 0.0
    for B in blocks:
        _, V = np.linalg.eig(B)
        worst = max(worst, math.log(float(np.linalg.cond(V))))
    return worst


def _rounding(J: np.ndarray) -> float:
    """Per-factor relative perturbation of a QR step, 64·S·eps·κ(J), on the exponent scale."""
    sv = np.linalg.svd(J, compute_uv=False)
    kappa = float(sv[0] / sv[-1]) if sv[-1] > 0 else math.inf
    return 64 * J.shape[0] * EPS * kappa


def _heavy_ball_jacobian(q: HeavyBallParameters) -> np.ndarray:
    d = q.dim
    I = np.eye(d)
    return np.block([[I - q.lr * q.hessian, -q.lr * q.momentum * I],
                     [q.hessian, q.momentum * I]])


def _run(update, state: np.ndarray, H: np.ndarray, k: int):
    return trajectory_exponents(update, torch.from_numpy(state), [_quadratic_grad(H)] * k)


def _check_heavy_ball_limit(update, q: HeavyBallParameters) -> None:
    blocks = _blocks(q.eigenvalues, q.lr, q.momentum)
    expected = _root_log_moduli(blocks)
    log_kappa = _log_condition(blocks)
    rounding = _rounding(_heavy_ball_jacobian(q))
    state = np.concatenate([np.random.default_rng(0).normal(size=q.dim), np.zeros(q.dim)])
    for k in HORIZONS:
        res = _run(update, state, q.hessian, k)
        check_close(
            "heavy ball: (1/k) ln σ_i(J^k) → ln|roots of z² − (1 + β − ηα) z + β|",
            _case(q, k), expected, res.exponents,
            Tolerance("ρ^k ≤ σ_1(B^k) ≤ κ(V)ρ^k, σ_1σ_2 = β^k: ln κ(V)/k; + certified bound "
                      "+ 64·S·eps·κ(J) rounding",
                      atol=log_kappa / k + res.error_bound + rounding))


@settings(max_examples=15)
@given(heavy_ball_parameters(min_momentum=0.05, max_dim=3))
@example(TYPICAL)
@example(FLAT)
@example(MIXED)
@example(REAL_ROOTS)
def test_horizon_heavy_ball_exponents_tend_to_log_root_moduli_within_log_condition_over_k(q):
    _check_heavy_ball_limit(HeavyBallUpdate(lr=q.lr, momentum=q.momentum), q)


def test_horizon_heavy_ball_flat_direction_gives_zero_and_log_momentum():
    q = _pinned([0.0], 0.1, 0.9, "stable")
    update = HeavyBallUpdate(lr=q.lr, momentum=q.momentum)
    blocks = _blocks(q.eigenvalues, q.lr, q.momentum)      # [[1, −ηβ], [0, β]]
    rounding = _rounding(blocks[0])
    one = _run(update, np.zeros(2), q.hessian, 1)
    F = float((blocks[0] ** 2).sum())                            # σ±² = (F ± √(F² − 4β²))/2
    closed = 0.5 * math.log((F + math.sqrt(F * F - 4 * q.momentum**2)) / 2)
    check_close("heavy ball, flat direction: one-step λ_1 = ½ ln((F + √(F² − 4β²))/2) > 0, "
                "F = 1 + (ηβ)² + β² (expanding in the (w, v) norm; the exponent is 0)",
                _case(q), closed, one.exponents[0],
                Tolerance("certified bound + rounding", atol=one.error_bound + rounding))
    check_that("heavy ball, flat direction: the one-step λ_1 is > 0 though nothing expands",
               _case(q), one.exponents[0] > 0.01, "λ_1 > 0.01", f"{one.exponents[0]:.4g}")
    res = _run(update, np.zeros(2), q.hessian, 256)
    check_close("heavy ball, flat direction α = 0: horizon exponents → (0, ln β)",
                _case(q, 256), [0.0, math.log(q.momentum)], res.exponents,
                Tolerance("ln κ(V)/k + certified bound + rounding",
                          atol=_log_condition(blocks) / 256 + res.error_bound + rounding))


@pytest.mark.parametrize("q", [REAL_ROOTS, _pinned([4.5], 1.0, 0.5, "edge_of_stability"),
                               _pinned([0.0], 0.1, 0.9, "stable")],
                         ids=["stable", "edge_of_stability", "flat"])
def test_horizon_heavy_ball_error_decays_exactly_like_one_over_k_for_real_roots(q):
    (B,) = _blocks(q.eigenvalues, q.lr, q.momentum)
    z, V = np.linalg.eig(B)
    order = np.argsort(-np.abs(z))
    z, V = z[order].real, V[:, order].real
    W = np.linalg.inv(V)                      # rows w_iᵀ with w_iᵀ v_j = δ_ij, ‖v_i‖ = 1
    w1, w2 = np.linalg.norm(W[0]), np.linalg.norm(W[1])
    r = abs(z[1] / z[0])
    rounding = _rounding(B)
    scaled, predicted = [], []
    for k in (32, 64, 128, 256):
        res = _run(HeavyBallUpdate(lr=q.lr, momentum=q.momentum), np.zeros(2), q.hessian, k)
        err = k * (res.exponents[0] - math.log(abs(z[0])))
        scaled.append(err)
        predicted.append(math.log(w1))
        check_close("heavy ball, real roots: k·(λ̂_1(k) − ln|z_1|) → ln‖w_1‖ (the rate is "
                    "exactly 1/k, with this constant)", _case(q, k), math.log(w1), err,
                    Tolerance("|k·err − ln‖w_1‖| ≤ −ln(1 − r^k‖w_2‖/‖w_1‖) + k·(certified "
                              "bound + rounding)",
                              atol=-math.log1p(-(r**k) * w2 / w1)
                              + k * (res.error_bound + rounding)))
    check_that("heavy ball, real roots: the O(1/k) constant ln‖w_1‖ is not 0 (non-normal "
               "block: the one-step value is biased)", _case(q), math.log(w1) > 1e-3,
               "ln‖w_1‖ > 1e-3", f"{math.log(w1):.4g}")


class _ScaledVelocityHeavyBall(HeavyBallUpdate):
    """Heavy ball on ``(w, u = c·v)``: the same optimizer in rescaled coordinates."""

    scale: float = 10.0

    def step(self, state, grad_fn):
        w, u = state.chunk(2)
        out = super().step(torch.cat([w, u / self.scale]), grad_fn)
        w_new, v_new = out.chunk(2)
        return torch.cat([w_new, self.scale * v_new])


@pytest.mark.parametrize("q", [TYPICAL, FLAT, MIXED], ids=["typical", "flat", "mixed"])
def test_horizon_exponents_forget_the_scaling_of_the_velocity_as_k_grows(q):
    c = _ScaledVelocityHeavyBall.scale
    state = np.zeros(2 * q.dim)
    rounding = _rounding(_heavy_ball_jacobian(q))
    plain = HeavyBallUpdate(lr=q.lr, momentum=q.momentum)
    scaled = _ScaledVelocityHeavyBall(lr=q.lr, momentum=q.momentum)
    one = (_run(plain, state, q.hessian, 1).exponents, _run(scaled, state, q.hessian, 1).exponents)
    check_that("one-step singular values depend on the velocity's scale (v ↦ 10 v)", _case(q),
               float(np.abs(one[0] - one[1]).max()) > 0.1, "max |Δλ| > 0.1",
               f"{float(np.abs(one[0] - one[1]).max()):.4g}")
    for k in (16, 256):
        a, b = _run(plain, state, q.hessian, k), _run(scaled, state, q.hessian, k)
        check_close("horizon-k exponents on (w, v) and (w, 10 v) differ by ≤ ln κ(C)/k",
                    _case(q, k), a.exponents, b.exponents,
                    Tolerance("σ_i(C P C⁻¹) ∈ σ_i(P)·[1/κ(C), κ(C)], κ(C) = 10; + both "
                              "certified bounds + rounding (κ(CJC⁻¹) ≤ κ(C)²κ(J))",
                              atol=math.log(c) / k + a.error_bound + b.error_bound
                              + 2 * rounding * c**2))


@settings(max_examples=15)
@given(quadratic_losses(max_dim=4), st.sampled_from([2, 7, 50]))
def test_horizon_gd_exponents_equal_the_one_step_log_abs_one_minus_lr_alpha(q, k):
    x = q.lr * q.eigenvalues
    # the rounding bound below ∝ 1/|1 − ηα| is uninformative next to a singular J (ηα = 1)
    assume(float(np.abs(1.0 - x).min()) > 1e-3)
    expected = np.sort(np.log(np.abs(1.0 - x)))[::-1]
    state = np.random.default_rng(1).normal(size=q.dim)
    res = _run(SGDUpdate(lr=q.lr), state, q.hessian, k)
    one = _run(SGDUpdate(lr=q.lr), state, q.hessian, 1)
    # normal J: ln σ_i(J^k) = k ln|1 − ηα_i| exactly; rounding per value ∝ ‖J‖/σ_i(J)
    sv = np.sort(np.abs(1.0 - x))[::-1]
    atol = 64 * q.dim * EPS * float(sv[0] / sv[-1]) + 8 * q.dim * EPS * float(np.abs(x).max())
    check_close("GD: horizon-k exponents = ln|1 − ηα| (normal Jacobian, every k)",
                f"d={q.dim} lr={q.lr:.3g} ηα={np.round(x, 3).tolist()} k={k} {q.regime}",
                expected, res.exponents,
                Tolerance("64·S·eps·κ(J) per QR step + 8·S·eps·η|α|max (computed H) + "
                          "certified bound", atol=atol + res.error_bound))
    check_close("GD: horizon k = horizon 1", f"d={q.dim} k={k}", one.exponents, res.exponents,
                Tolerance("both within the rounding above of the same values",
                          atol=2 * atol + res.error_bound + one.error_bound))


# ----------------------------------------------------------------------------- Adam


def _adam_state(d: int, v0: float) -> np.ndarray:
    return np.concatenate([np.zeros(d), np.zeros(d), np.full(d, v0)])


def _adam_oracle(alpha, lr, b1, b2, eps, v0, t0, k) -> tuple[np.ndarray, list[float]]:
    """Exponents of the k-step product at the minimum, in 60-digit mpmath (see docstring),
    and the steps ``p_t``."""
    mp = mpmath.mp
    mp.dps = 60
    lr, b1, b2, eps, v0 = (mp.mpf(x) for x in (lr, b1, b2, eps, v0))
    out, steps = [], []
    for a in np.atleast_1d(alpha):
        a = mp.mpf(float(a))
        P = mp.eye(2)
        v = v0
        steps = []
        for j in range(k):
            t = t0 + j
            v = b2 * v                                   # g = 0 on the trajectory
            c1, c2 = 1 - b1**t, 1 - b2**t
            p = (lr / c1) / (mp.sqrt(v / c2) + eps)
            steps.append(float(p))
            B = mp.matrix([[1 - p * (1 - b1) * a, -p * b1], [(1 - b1) * a, b1]])
            P = B * P
        F = sum(P[i, j] ** 2 for i in range(2) for j in range(2))
        det2 = b1 ** (2 * k)
        big = (F + mp.sqrt(F * F - 4 * det2)) / 2
        out += [mp.log(big) / (2 * k), mp.log(det2 / big) / (2 * k)]
    out += [mp.log(b2)] * len(np.atleast_1d(alpha))
    return np.sort(np.array([float(x) for x in out]))[::-1], steps


def _adam_jacobian(H, p, b1, b2) -> np.ndarray:
    d = H.shape[0]
    I, Z = np.eye(d), np.zeros((d, d))
    return np.block([[I - p * (1 - b1) * H, -p * b1 * I, Z], [(1 - b1) * H, b1 * I, Z],
                     [Z, Z, b2 * I]])


@settings(max_examples=10)
@given(q=heavy_ball_parameters(max_dim=2, max_lr=0.5), t0=st.sampled_from([1, 10, 1000]),
       k=st.sampled_from([1, 3, 12]))
def test_horizon_adam_at_the_minimum_matches_the_exact_product_of_its_two_by_two_blocks(q, t0, k):
    b1, b2, eps, v0 = 0.9, 0.99, 1e-3, 1e-4
    update = AdamUpdate(lr=q.lr * 1e-3, betas=(b1, b2), eps=eps, t=t0)
    res = _run(update, _adam_state(q.dim, v0), q.hessian, k)
    expected, steps = _adam_oracle(q.eigenvalues, update.lr, b1, b2, eps, v0, t0, k)
    p_max = max(steps)
    rounding = max(_rounding(_adam_jacobian(q.hessian, p, b1, b2)) for p in steps)
    check_close("Adam at w = m = 0: horizon exponents = ln σ±(∏ B(p_t))/k and ln β₂ "
                "(mpmath product, v_t = β₂^t v₀)",
                f"d={q.dim} η={update.lr:.3g} "
                f"max p_t·α={np.round(p_max * q.eigenvalues, 3).tolist()} t0={t0} k={k}",
                expected, res.exponents,
                Tolerance("certified bound + 64·S·eps·max_t κ(J_t) rounding",
                          atol=res.error_bound + rounding))


@pytest.mark.parametrize("alpha, lr", [([2.0, 0.1], 1e-4), ([400.0, 0.0], 1e-4)],
                         ids=["stable", "edge_of_stability_and_flat"])
def test_horizon_adam_below_the_epsilon_floor_tends_to_its_heavy_ball_roots(alpha, lr):
    b1, b2, eps = 0.9, 0.999, 1e-3
    v0 = 1e-60   # √v₀ = 1e-30 ≪ eps·ε: p_t = η/ε exactly in float64
    H = np.diag(np.asarray(alpha, dtype=np.float64))
    update = AdamUpdate(lr=lr, betas=(b1, b2), eps=eps, t=10**6)   # bias corrections = 1
    p = lr / eps
    blocks = [np.array([[1 - p * (1 - b1) * a, -p * b1], [(1 - b1) * a, b1]]) for a in alpha]
    expected = np.sort(np.concatenate([_root_log_moduli(blocks),
                                       np.full(len(alpha), math.log(b2))]))[::-1]
    log_kappa = _log_condition(blocks)
    rounding = _rounding(_adam_jacobian(H, p, b1, b2))
    for k in HORIZONS:
        res = _run(update, _adam_state(len(alpha), v0), H, k)
        check_close("Adam below the ε floor = heavy ball (step η(1−β₁)/ε, momentum β₁): "
                    "exponents → ln|roots of z² − (1 + β₁ − (η/ε)(1−β₁)α) z + β₁|, ln β₂",
                    f"ηα/ε={[round(p * a, 3) for a in alpha]} β=({b1}, {b2}) k={k}",
                    expected, res.exponents,
                    Tolerance("ln κ(V)/k (V: eigenvectors of the (w, m) blocks) + certified "
                              "bound + rounding", atol=log_kappa / k + res.error_bound
                              + rounding))


# ----------------------------------------------------------------------------- mutant


class _VelocityIgnoringHeavyBall(HeavyBallUpdate):
    """A deliberately wrong heavy ball: steps along the gradient, not the new velocity."""

    def step(self, state, grad_fn):
        w, v = state.chunk(2)
        g = grad_fn(w)
        return torch.cat([w - self.lr * g, self.momentum * v + g])


@pytest.mark.parametrize("q", [TYPICAL, FLAT, _pinned([4.5, 0.5], 1.0, 0.5, "edge_of_stability")],
                         ids=["typical", "flat", "edge_of_stability"])
def test_the_horizon_heavy_ball_check_rejects_a_step_that_ignores_the_velocity(q):
    # its Jacobian [[I − ηH, 0], [H, βI]] has eigenvalues 1 − ηα and β, not the roots
    with pytest.raises(AssertionError, match="roots of z"):
        _check_heavy_ball_limit(_VelocityIgnoringHeavyBall(lr=q.lr, momentum=q.momentum), q)
