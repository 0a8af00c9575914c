"""Deep linear networks ``W_L ⋯ W_1`` at a balanced global minimum of ``mean ½‖Wx − y‖²``:
the closed-form Hessian spectrum, the flattest minimum and GD's stability threshold.

Oracles: the closed form ``μ_ij = Σ_k s_i^{2(k−1)/L} s_j^{2(L−k)/L}`` plus ``(L − 1)d²``
zeros (derivation in :mod:`sharpdim.testing.oracles.linear_network`) against the dense
autograd Hessian of the torch model (:func:`sharpdim.curvature.exact_hessian`); a sympy
derivation of the Hessian for the smallest cases; the gauge symmetry ``(W_{k+1}G⁻¹, G W_k)``
(product unchanged) for "the balanced minimum is the flattest" (Mulayoff & Michaeli 2020,
"Unique properties of flat minima in deep networks"); GD's linearization ``I − ηH`` for the
stability threshold ``λ_max = 2/η``.

Rounding tolerance for eigenvalues of the computed Hessian: by Weyl ``|Δα| ≤ ‖ΔH‖₂ ≤
N·max|ΔH_ij|``; each entry is a sum over ``n`` examples of products of up to ``2L`` factors
whose size is bounded by ``λ_max`` (the same products make up ``μ_11``), so
``max|ΔH_ij| ≤ (n + 2L)·eps·max(λ_max, 1)``: ``atol = N·(n + 2L)·eps·max(λ_max, 1)``.
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from sharpdim.curvature import exact_hessian, flat_loss
from sharpdim.testing.checking import EPS, Tolerance, check_close, check_that
from sharpdim.testing.oracles import deep_linear_hessian_eigenvalues, deep_linear_network
from sharpdim.testing.strategies import DeepLinearNetworkParameters, deep_linear_networks


def _hessian(model, loss_fn, data) -> np.ndarray:
    f = flat_loss(model, loss_fn)
    return exact_hessian(f, f.theta0, *data).numpy()


def _descending_eigenvalues(h: np.ndarray) -> np.ndarray:
    return np.sort(np.linalg.eigvalsh(0.5 * (h + h.T)))[::-1]


def _rounding(net) -> Tolerance:
    n = net.data[0].shape[0]
    atol = net.n_params * (n + 2 * net.depth) * EPS * max(net.top_eigenvalue, 1.0)
    return Tolerance("Weyl: N·(n + 2L)·eps·max(λ_max, 1) (module docstring)", atol=atol)


def _case(p: DeepLinearNetworkParameters) -> str:
    return f"L={p.depth} d={p.width} s={np.round(p.singular_values, 4).tolist()} seed={p.seed}"


def _pinned(values, depth, seed=0) -> DeepLinearNetworkParameters:
    return DeepLinearNetworkParameters(np.sort(np.asarray(values, float))[::-1].copy(), depth,
                                       seed)


@given(deep_linear_networks(max_depth=4, max_width=3))
@example(_pinned([3.0, 1.5, 0.5], 3))
@example(_pinned([1.0, 1.0], 2))  # ties: μ_12 = μ_11
def test_deep_linear_hessian_spectrum_is_the_closed_form_mu_ij_plus_zeros(p):
    net = p.build()
    tol = _rounding(net)
    h = _hessian(net.model, net.loss_fn, net.data)
    check_close("deep linear net: Hessian eigenvalues = μ_ij ∪ (L − 1)d² zeros (descending)",
                _case(p), net.hessian_eigenvalues, _descending_eigenvalues(h), tol)
    check_close("deep linear net: autograd Hessian = Gauss–Newton JᵀJ built from the factors",
                _case(p), net.hessian, h, tol)
    check_close("deep linear net: λ_max = L·s_1^{2(L−1)/L}", _case(p),
                p.depth * p.singular_values[0] ** (2 * (p.depth - 1) / p.depth),
                net.top_eigenvalue, Tolerance("fsum of L powers: 4L eps relative",
                                              rtol=4 * p.depth * EPS))
    product = np.linalg.multi_dot([np.eye(p.width), *net.factors[::-1]])
    check_close("deep linear net: W_L ⋯ W_1 = W* = U S Vᵀ", _case(p), net.target, product,
                Tolerance("L products of d-term sums: 4(L + d)·eps·s_1",
                          atol=4 * (p.depth + p.width) * EPS * p.singular_values[0]))


def _symbolic_hessian_eigenvalues(depth: int, width: int):
    """Eigenvalues (with multiplicity) of the sympy Hessian of ``½‖W_L⋯W_1 − S‖_F²`` (the
    loss when ``XᵀX/n = I``) at ``W_k = S^{1/L}``, ``S = diag(r_i^L)``, and the closed form."""
    r = sp.symbols(f"r1:{width + 1}", positive=True)
    s = [ri**depth for ri in r]
    weights = [sp.Matrix(width, width, sp.symbols(f"w{k}_0:{width * width}"))
               for k in range(depth)]
    product = sp.eye(width)
    for w in weights:
        product = w * product
    residual = product - sp.diag(*s)
    loss = sp.Rational(1, 2) * sum(e**2 for e in residual)
    flat = [x for w in weights for x in w]
    point = {x: 0 for x in flat}
    for w in weights:
        for i in range(width):
            point[w[i, i]] = r[i]
    hessian = sp.hessian(loss, flat).subs(point)
    found = sp.Matrix(hessian).eigenvals()
    closed: dict = {}
    for i in range(width):
        for j in range(width):
            mu = sp.simplify(sum(s[i] ** sp.Rational(2 * (k - 1), depth)
                                 * s[j] ** sp.Rational(2 * (depth - k), depth)
                                 for k in range(1, depth + 1)))
            closed[mu] = closed.get(mu, 0) + 1
    closed[sp.Integer(0)] = closed.get(sp.Integer(0), 0) + (depth - 1) * width**2
    return {sp.simplify(k): v for k, v in found.items()}, closed


def test_deep_linear_hessian_closed_form_symbolically():
    for depth, width in ((2, 1), (3, 1), (2, 2)):
        found, closed = _symbolic_hessian_eigenvalues(depth, width)
        check_that("sympy: Hessian eigenvalues at W_k = S^{1/L} are μ_ij (Σ_k s_i^{2(k−1)/L} "
                   "s_j^{2(L−k)/L}) and (L − 1)d² zeros, with multiplicity",
                   f"symbolic L={depth} d={width}",
                   all(sp.simplify(a - b) == 0 for a, b in
                       zip(sorted(found, key=sp.default_sort_key),
                           sorted(closed, key=sp.default_sort_key), strict=True))
                   and sorted(found.values()) == sorted(closed.values()),
                   str(closed), str(found))


def _matrix(seed: int, d: int, spread: float) -> np.ndarray:
    """``Q_1 diag(g) Q_2`` with Haar ``Q``'s and ``g ∈ [1/spread, spread]`` (invertible)."""
    rng = np.random.default_rng(seed)
    q1, _ = np.linalg.qr(rng.standard_normal((d, d)))
    q2, _ = np.linalg.qr(rng.standard_normal((d, d)))
    g = np.exp(rng.uniform(-math.log(spread), math.log(spread), size=d))
    return (q1 * g) @ q2


def _regauged(net, gauges: list[np.ndarray]):
    """Copy of ``net.model`` with ``W_k ← G_k W_k G_{k−1}⁻¹`` (``G_0 = G_L = I``)."""
    import copy

    model = copy.deepcopy(net.model)
    d = net.width
    full = [np.eye(d), *gauges, np.eye(d)]
    with torch.no_grad():
        for k, layer in enumerate(model):
            w = full[k + 1] @ net.factors[k] @ np.linalg.inv(full[k])
            layer.weight.copy_(torch.as_tensor(w, dtype=layer.weight.dtype))
    return model, full


@given(deep_linear_networks(min_depth=2, max_depth=3, max_width=3),
       st.integers(0, 2**32 - 1), st.floats(1.0, 3.0))
@example(_pinned([2.0, 1.0], 2), 0, 1.5)
def test_deep_linear_balanced_minimum_is_the_flattest_under_any_gauge(p, seed, spread):
    net = p.build()
    gauges = [_matrix(seed + k, p.width, spread) for k in range(p.depth - 1)]
    model, full = _regauged(net, gauges)
    weights = [layer.weight.detach().numpy() for layer in model]
    case = _case(p) + f" gauge seed={seed} spread={spread:.3g}"
    cond = max(np.linalg.cond(g) for g in full)
    check_close("deep linear net: the gauge (W_{k+1}G⁻¹, G W_k) keeps W_L ⋯ W_1", case,
                net.target, np.linalg.multi_dot([np.eye(p.width), *weights[::-1]]),
                Tolerance("products and one inverse per layer: 8(L + d)·eps·s_1·cond(G)²",
                          atol=8 * (p.depth + p.width) * EPS * p.singular_values[0] * cond**2))
    top = float(_descending_eigenvalues(_hessian(model, net.loss_fn, net.data))[0])
    slack = _rounding(net).atol * cond ** (2 * p.depth)  # rounding grows with the factor norms
    check_that("deep linear net: no gauge lowers λ_max below the balanced L·s_1^{2(L−1)/L}",
               case, top >= net.top_eigenvalue - slack,
               f">= {net.top_eigenvalue:.10g} (− {slack:.2g} rounding)", f"{top:.10g}")


def _run_gd(net, lr: float, steps: int, delta: float, seed: int):
    """GD from the balanced minimum plus a random perturbation of norm ``delta``: the loss at
    every step (float64, autograd gradients of the torch model) and whether it diverged."""
    f = flat_loss(net.model, net.loss_fn)
    x, y = net.data
    rng = np.random.default_rng(seed)
    direction = rng.standard_normal(f.n_params)
    theta = f.theta0 + torch.as_tensor(delta * direction / np.linalg.norm(direction))
    losses = []
    for _ in range(steps):
        theta_r = theta.detach().requires_grad_(True)
        loss = f(theta_r, x, y)
        if not torch.isfinite(loss.detach()) or float(loss.detach()) > 1e6:
            return np.array(losses), True
        (grad,) = torch.autograd.grad(loss, theta_r)
        losses.append(float(loss.detach()))
        theta = theta - lr * grad
    return np.array(losses), False


# Margins: η·λ_max = 2(1 ± 0.1). Above, the top mode grows by |1 − ηλ_max| = 1.2 per step, so
# the loss (≥ 1/N of it in that mode, N ≤ 27) passes 1e6 × its start within
# ln(27e6)/ln(1.44) ≈ 47 steps of the linearized dynamics; 300 steps leave room for a mode
# that starts small. Below, every mode has |1 − ημ| ≤ 1, so the linearized loss
# Σ μ c² (1 − ημ)^{2t} never increases; the nonlinear terms are O(δ) = 1e-6 relative and
# rounding of a loss of size δ² is ≲ 1e-8 relative, hence the 1e-5 allowance.
MARGIN, STEPS, DELTA = 0.1, 300, 1e-6


@given(deep_linear_networks(min_depth=2, max_depth=3, max_width=3, min_singular_value=0.5,
                            max_singular_value=2.0), st.booleans(), st.integers(0, 1000))
@example(_pinned([2.0, 1.0], 2), True, 0)
@example(_pinned([2.0, 1.0], 2), False, 0)
def test_deep_linear_gd_stays_at_the_minimum_iff_lambda_max_below_two_over_lr(p, above, seed):
    net = p.build()
    factor = (1 + MARGIN) if above else (1 - MARGIN)
    lr = 2.0 * factor / net.top_eigenvalue
    losses, diverged = _run_gd(net, lr, STEPS, DELTA, seed)
    case = _case(p) + f" ηλ_max={2 * factor:.3g} seed={seed}"
    if above:
        grew = diverged or float(losses.max()) >= 1e6 * losses[0]
        check_that("deep linear net GD: ηλ_max > 2 ⇒ GD leaves the balanced minimum", case,
                   grew, "max loss ≥ 1e6 × start (or divergence)",
                   f"max/start = {losses.max() / losses[0]:.3g}, diverged={diverged}")
    else:
        ratio = float(losses.max() / losses[0])
        check_that("deep linear net GD: ηλ_max < 2 ⇒ the loss never rises above its start",
                   case, not diverged and ratio <= 1 + 1e-5,
                   "max loss ≤ (1 + 1e-5) × start", f"max/start = {ratio:.8g}")
        check_that("deep linear net GD: ηλ_max < 2 ⇒ the loss has decreased after 300 steps",
                   case, losses[-1] <= losses[0], "final ≤ start",
                   f"final/start = {losses[-1] / losses[0]:.3g}")


@given(deep_linear_networks(max_depth=4, max_width=3))
def test_deep_linear_closed_form_counts_and_top_value(p):
    mu = deep_linear_hessian_eigenvalues(p.singular_values, p.depth)
    case = _case(p)
    check_that("deep linear net: L·d² eigenvalues, (L − 1)d² of them exactly 0", case,
               mu.size == p.n_params
               and int((mu == 0).sum()) >= (p.depth - 1) * p.width**2
               and bool(np.all(mu >= 0)), f"{p.n_params} values, ≥ {(p.depth - 1) * p.width**2}"
               " zeros", f"{mu.size} values, {int((mu == 0).sum())} zeros")
    check_close("deep linear net: Σ μ_ij = Σ_k (Σ_i s_i^{2(k−1)/L})(Σ_j s_j^{2(L−k)/L})", case,
                math.fsum(math.fsum(p.singular_values ** (2 * (k - 1) / p.depth))
                          * math.fsum(p.singular_values ** (2 * (p.depth - k) / p.depth))
                          for k in range(1, p.depth + 1)), math.fsum(mu),
                Tolerance("two fsums of N positive terms: 4N eps relative",
                          rtol=4 * p.n_params * EPS))
    net = deep_linear_network(p.singular_values, p.depth, seed=p.seed)
    x = net.data[0].numpy()
    check_close("deep linear net: inputs have XᵀX/n = I", case, np.eye(p.width),
                x.T @ x / x.shape[0], Tolerance("QR and n-term sums: 4n eps",
                                                atol=4 * x.shape[0] * EPS))
