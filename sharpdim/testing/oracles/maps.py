"""Oracle cases of kind ``lyapunov-map``: maps from the catalogue with exact exponents.

The estimator receives ``(system, x0, n_steps, seed)`` and returns the full spectrum,
descending. Tolerances assume at least ``n_avg = n_steps // 2`` averaged steps (an estimator
may spend up to half of ``n_steps`` on a transient) and come from one of three sources:

* **rounding** — maps whose ``|det J|`` or ``|J|`` is constant (tent, the det identity): the
  finite-time value is exact up to float64 rounding of ``n`` logarithms;
* **frame alignment** — a constant or triangular Jacobian: the QR estimate after ``n`` steps
  is off by ``ln(1/|cos θ|)/n`` plus ``ln κ(V)/n`` (``θ``: angle between the start frame and
  the slow Oseledets subspace, ``κ(V)``: condition number of the eigenvector basis). We allow
  ``|cos θ| ≥ e^{-10}`` (a random frame fails that with probability ``≈ e^{-10}``);
* **CLT** — random maps with i.i.d. log-increments: ``5`` standard deviations of the mean of
  ``n_avg`` increments, the per-step variance derived in closed form for each case.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import digamma, polygamma

from sharpdim.systems import (
    cat_map,
    generalized_baker,
    heavy_ball_quadratic,
    henon,
    logistic,
    tent,
)
from sharpdim.systems.linear_cocycle import commuting_matrix_product, gaussian_matrix_product
from sharpdim.testing.checking import EPS, Tolerance
from sharpdim.testing.oracles._case import QUICK, THOROUGH, OracleCase

__all__ = ["lyapunov_map_cases"]

KIND = "lyapunov-map"
_ALIGN = 10.0  # ln(1/|cos θ|) allowed for the start frame (see the module docstring)
_Z = 5.0  # standard deviations allowed for CLT-limited cases


def _inputs(system, x0, n_steps: int, seed: int):
    def build():
        return {"system": system, "x0": np.array(x0, dtype=np.float64), "n_steps": n_steps,
                "seed": seed}
    return build


def _alignment(n_steps: int, log_condition: float = 0.0) -> Tolerance:
    n_avg = n_steps // 2
    atol = (_ALIGN + log_condition) / n_avg
    return Tolerance(
        reason=f"frame alignment O(1/n): (ln(1/|cos θ|) ≤ {_ALIGN:g} + ln κ(V) = "
               f"{log_condition:.3g}) / n_avg, n_avg = n_steps/2 = {n_avg}",
        atol=atol)


def _cat_map(n_steps: int, seed: int, profiles) -> OracleCase:
    golden = (3.0 + math.sqrt(5.0)) / 2.0
    expected = [math.log(golden), -math.log(golden)]
    system = cat_map()
    return OracleCase(
        KIND, f"cat-map-n{n_steps}", "exponents of Arnold's cat map", expected,
        "J = [[2, 1], [1, 1]] everywhere, so Λ = ln|eigenvalues| = ±ln((3 + √5)/2); J is "
        "symmetric (κ(V) = 1)",
        _alignment(n_steps), _inputs(system, system.initial_point, n_steps, seed), seed,
        profiles=profiles)


def _tent(n_steps: int, seed: int, profiles) -> OracleCase:
    mu = 1.5
    system = tent(mu)
    return OracleCase(
        KIND, f"tent-1.5-n{n_steps}", "exponent of the tent map μ = 1.5", [math.log(mu)],
        "|T'(x)| = μ at every x, so every finite-time exponent equals ln μ = ln 1.5 exactly",
        Tolerance(reason="rounding only: the mean of n_steps copies of ln 1.5 "
                         "(≤ n·eps·ln 1.5 ≈ 1e-12)", atol=max(1e-12, 4 * n_steps * EPS)),
        _inputs(system, system.initial_point, n_steps, seed), seed, profiles=profiles)


def _logistic(n_steps: int, seed: int, profiles) -> OracleCase:
    system = logistic(4.0)
    n_avg = n_steps // 2
    # Conjugacy x = sin²(πθ/2) to the tent map: Σ_{t<n} ln|f'(x_t)| = n ln 2 + g(x_n) − g(x_0),
    # g(x) = ½ ln(x(1 − x)) + const. Float64 orbits keep x(1 − x) ≥ 4.4e-16, so |Δg| ≤ 17.
    span = 0.5 * math.log(0.25) - 0.5 * math.log(4.0 * 1.1e-16)
    return OracleCase(
        KIND, f"logistic-r4-n{n_steps}", "exponent of the logistic map at r = 4",
        [math.log(2.0)],
        "conjugate to the tent map μ = 2 by x = sin²(πθ/2): Λ = ln 2",
        Tolerance(reason=f"coboundary of the conjugacy: |g(x_end) − g(x_start)|/n_avg with "
                         f"g = ½ ln(x(1−x)), ≤ {span:.1f} on float64 orbits; n_avg = {n_avg}",
                  atol=span / n_avg),
        _inputs(system, system.initial_point, n_steps, seed), seed, profiles=profiles)


def _heavy_ball(n_steps: int, seed: int, profiles) -> OracleCase:
    curvatures, lr, beta = np.array([4.0, 1.0, 0.25]), 1.0, 0.5
    system = heavy_ball_quadratic(np.diag(curvatures), lr, beta)
    roots = np.concatenate([np.roots([1.0, -(1.0 + beta - lr * a), beta]) for a in curvatures])
    expected = np.sort(np.log(np.abs(roots)))[::-1]
    vecs = np.linalg.eig(system.jacobian(np.zeros(system.dim), None))[1]
    log_kappa = float(np.log(np.linalg.cond(vecs)))
    return OracleCase(
        KIND, f"heavy-ball-n{n_steps}",
        "exponents of heavy-ball momentum on a quadratic (non-normal 6×6 Jacobian)", expected,
        "per curvature α the 2×2 block [[1 − ηα, −ηβ], [α, β]] has characteristic polynomial "
        "z² − (1 + β − ηα) z + β; Λ = ln|z| of the six roots (α = 4, 1, ¼; η = 1, β = ½: "
        "one real pair, two complex pairs of modulus √β)",
        _alignment(n_steps, 2.0 * log_kappa),
        _inputs(system, system.initial_point, n_steps, seed), seed, profiles=profiles)


def _gaussian_product(dim: int, n_steps: int, seed: int, profiles) -> OracleCase:
    system = gaussian_matrix_product(dim)
    i = np.arange(1, dim + 1)
    expected = 0.5 * (math.log(2.0) + digamma((dim - i + 1) / 2.0))
    # With Q independent of the fresh Gaussian G, G Q is again iid Gaussian, so R's diagonal
    # has R_ii² ~ χ²_{d−i+1}, independent across steps: Var(ln|R_ii|) = ¼ ψ'((d − i + 1)/2).
    sd = 0.5 * np.sqrt(polygamma(1, (dim - i + 1) / 2.0))
    n_avg = n_steps // 2
    atol = float(_Z * sd.max() / math.sqrt(n_avg))
    return OracleCase(
        KIND, f"gaussian-product-{dim}d-n{n_steps}",
        f"exponents of products of {dim}×{dim} iid N(0, 1) matrices", expected,
        "Newman (1986): Λ_i = ½[ln 2 + ψ((d − i + 1)/2)]",
        Tolerance(reason=f"CLT: {_Z:g} s.d. of a mean of n_avg = {n_avg} iid ln|R_ii| "
                         f"(R_ii² ~ χ²_(d−i+1), Var = ¼ψ'((d−i+1)/2), worst i)", atol=atol),
        _inputs(system, np.zeros(dim), n_steps, seed), seed, profiles=profiles)


def _commuting(n_steps: int, seed: int, profiles) -> OracleCase:
    diagonals = np.array([[3.0, 0.5, -0.2], [-0.5, 1.5, 0.4]])
    basis = np.linalg.qr(np.random.default_rng(seed).standard_normal((3, 3)))[0]
    system = commuting_matrix_product(diagonals, [0.5, 0.5], basis)
    logs = np.log(np.abs(diagonals))
    expected = np.sort(logs.mean(axis=0))[::-1]
    sd = np.abs(logs[0] - logs[1]) / 2.0  # a fair coin between two values
    n_avg = n_steps // 2
    atol = float(_Z * sd.max() / math.sqrt(n_avg) + _ALIGN / n_avg)
    return OracleCase(
        KIND, f"commuting-rotated-n{n_steps}",
        "exponents of random commuting matrices Q diag(D_s) Qᵀ with sign changes", expected,
        "all matrices share the eigenbasis Q, so along each eigen-direction the product "
        "multiplies scalars: Λ = sort(½ ln|D_0| + ½ ln|D_1|)",
        Tolerance(reason=f"CLT ({_Z:g} s.d. of n_avg = {n_avg} fair-coin log-increments, "
                         f"s.d. |ln|D_0| − ln|D_1||/2) + frame alignment {_ALIGN:g}/n_avg",
                  atol=atol),
        _inputs(system, np.zeros(3), n_steps, seed), seed, profiles=profiles)


def _baker(n_steps: int, seed: int, profiles) -> OracleCase:
    alpha, la, lb = 1.0 / 3.0, 0.2, 0.4
    system = generalized_baker(alpha, la, lb)
    beta = 1.0 - alpha
    expected = [-alpha * math.log(alpha) - beta * math.log(beta),
                alpha * math.log(la) + beta * math.log(lb)]
    # The y-dynamics is a Bernoulli(α) shift: the fraction f of lower-strip visits has
    # Var f = αβ/n, and Λ̂_1 = ln(1/β) + f ln(β/α), Λ̂_2 = ln λ_b + f ln(λ_a/λ_b).
    n_avg = n_steps // 2
    sd = math.sqrt(alpha * beta) * max(abs(math.log(beta / alpha)), abs(math.log(la / lb)))
    atol = _Z * sd / math.sqrt(n_avg) + _ALIGN / n_avg
    return OracleCase(
        KIND, f"baker-n{n_steps}", "exponents of the generalized baker's map", expected,
        "Farmer–Ott–Yorke (1983): Λ_1 = −α ln α − β ln β, Λ_2 = α ln λ_a + β ln λ_b "
        "(α = ⅓, λ_a = 0.2, λ_b = 0.4)",
        Tolerance(reason=f"CLT of the strip-visit frequency ({_Z:g} s.d., Var f = αβ/n_avg, "
                         f"n_avg = {n_avg}) + frame alignment {_ALIGN:g}/n_avg", atol=atol),
        _inputs(system, system.initial_point, n_steps, seed), seed, profiles=profiles)


def _henon_det(n_steps: int, seed: int, profiles) -> OracleCase:
    b = 0.3
    system = henon(1.4, b)
    return OracleCase(
        KIND, f"henon-det-n{n_steps}", "sum of the Hénon map's exponents", math.log(b),
        "det J = −b at every point, so Λ_1 + Λ_2 = ln b = ln 0.3 (QR: Σ ln|R_ii| = "
        "ln|det J| at every step)",
        Tolerance(reason="the identity holds step by step; allow float32-level rounding "
                         "(1e-6 relative)", rtol=1e-6),
        _inputs(system, system.initial_point, n_steps, seed), seed, comparison="sum",
        profiles=profiles)


def lyapunov_map_cases() -> list[OracleCase]:
    """All ``lyapunov-map`` cases (quick and thorough)."""
    return [
        _tent(2000, 1, QUICK),
        _cat_map(2000, 2, QUICK),
        _logistic(4000, 3, QUICK),
        _heavy_ball(4000, 4, QUICK),
        _gaussian_product(3, 4000, 5, QUICK),
        _henon_det(2000, 6, QUICK),
        _commuting(8000, 7, THOROUGH),
        _baker(8000, 8, THOROUGH),
        _gaussian_product(5, 20000, 9, THOROUGH),
        _logistic(40000, 10, THOROUGH),
    ]
