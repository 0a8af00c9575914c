"""Oracle cases of kinds ``hessian-spectrum`` and ``sharpness-dimension``: planted-spectrum
torch models (:mod:`sharpdim.testing.oracles.planted`) whose every minibatch Hessian is
``Q diag(α) Qᵀ`` with ``α`` chosen here.

``hessian-spectrum`` quantities (``options["quantity"]``):

* ``top_eigenvalues`` — the ``k`` largest eigenvalues (algebraically: ``λ_max``, the number
  compared with ``2/η`` at the edge of stability), descending. Spectra are built to separate
  common failures: a dominant *negative* eigenvalue (power iteration finds ``|λ|_max``), a
  1 % gap (an early stopping rule stops short), a clustered bulk under three outliers (Lanczos
  without re-orthogonalization returns "ghost" copies of the top eigenvalue).
* ``trace`` — ``tr H``. On a coordinate-aligned ``H`` a Rademacher probe gives ``vᵀHv = tr H``
  exactly; on a rotated ``H`` the tolerance is 5 standard errors of the probes the estimator
  reports (per-probe variance ``2(‖H‖_F² − Σ H_ii²)``).
* ``density`` — the normalized spectral measure ``(1/N) Σ δ_{α_i}``. With few distinct
  eigenvalues and a coordinate-aligned ``H``, stochastic Lanczos quadrature with a Rademacher
  probe is exact (Gauss quadrature on a Krylov space that the spectrum exhausts, exact weights
  ``N_j/N``), so only rounding separates a correct answer from the oracle.

``sharpness-dimension``: the SD of ``λ_i = ln|1 − ηα_i|`` (docs/theory.md §3). Every minibatch
Hessian is the same, so mean and sup over minibatches agree and the value is exact; the
tolerance propagates eigenvalue rounding through the Kaplan–Yorke formula.

Both kinds also have *deep linear network* cases (``…-deep-linear``): a real
``nn.Sequential`` of bias-free ``nn.Linear`` layers at a balanced global minimum
(:mod:`sharpdim.testing.oracles.linear_network`), whose Hessian has the closed-form
eigenvalues ``μ_ij`` over a neutral bulk of ``(L − 1)d²`` exact zeros — the rank-deficient
structure of trained networks. Their minibatch Hessians differ, so those cases pass the whole
data set as one batch (``batch_size = n``).
"""

from __future__ import annotations

import math

import numpy as np

from sharpdim.testing.checking import EPS, Tolerance
from sharpdim.testing.oracles._case import QUICK, THOROUGH, OracleCase
from sharpdim.testing.oracles.linear_network import deep_linear_network
from sharpdim.testing.oracles.planted import planted_problem, random_orthogonal

__all__ = ["hessian_spectrum_cases", "sharpness_dimension_cases", "QUANTITIES"]

QUANTITIES = ("top_eigenvalues", "trace", "density")

_TOP_RTOL = Tolerance(
    reason="requirement: 4 significant digits (λ_max is compared with 2/η); a converged "
           "Lanczos or power iteration reaches ~1e-10 on these spectra", rtol=1e-4)


def _problem(curvatures, seed: int, rotate: bool = True):
    def build():
        p = planted_problem(curvatures, seed=seed, rotate=rotate)
        return {"model": p.model, "loss_fn": p.loss_fn, "data": p.data}
    return build


def _bulk(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 1.0, size=n)


def _top(name: str, outliers, n: int, k: int, seed: int, derivation: str, profiles=QUICK):
    alpha = np.concatenate([np.asarray(outliers, dtype=np.float64), _bulk(n - len(outliers),
                                                                          seed + 1000)])
    expected = np.sort(alpha)[::-1][:k]
    return OracleCase(
        "hessian-spectrum", name, f"the {k} largest Hessian eigenvalue(s), descending",
        expected, derivation + f"; bulk: {n - len(outliers)} values uniform in [0, 1]; "
        f"H = Q diag(α) Qᵀ, Q Haar-random, N = {n}",
        _TOP_RTOL, _problem(alpha, seed), seed,
        options={"quantity": "top_eigenvalues", "k": k}, profiles=profiles)


def _trace_diagonal(seed: int) -> OracleCase:
    n = 100
    alpha = np.linspace(-2.0, 8.0, n)  # Σ α = n·(−2 + 8)/2 = 300
    atol = 10 * n * EPS * float(np.abs(alpha).sum())
    return OracleCase(
        "hessian-spectrum", "trace-diagonal", "tr H of a coordinate-aligned Hessian", 300.0,
        "α = linspace(−2, 8, 100): tr H = Σ α = 100·(−2 + 8)/2 = 300; H is diagonal in the "
        "parameter coordinates",
        Tolerance(reason="a Rademacher probe gives vᵀHv = Σ v_i² H_ii = tr H exactly; "
                         "rounding ≤ 10·N·eps·Σ|α| (Gaussian probes would need ≈ "
                         "2Σα²/ε² samples)", atol=atol),
        _problem(alpha, seed, rotate=False), seed, options={"quantity": "trace"})


def _trace_rotated(seed: int) -> OracleCase:
    n = 100
    alpha = np.linspace(-2.0, 8.0, n)
    q = random_orthogonal(n, seed)
    h = (q * alpha) @ q.T
    variance = 2.0 * (float((h**2).sum()) - float((np.diag(h) ** 2).sum()))
    return OracleCase(
        "hessian-spectrum", "trace-rotated", "tr H of a rotated Hessian (stochastic)", 300.0,
        "tr H = Σ α = 300 is invariant under the rotation Q",
        Tolerance(reason="5 standard errors of one Rademacher probe (per-probe variance "
                         "2(‖H‖_F² − Σ H_ii²)); divided by √M when the estimator reports M "
                         "probes", atol=5.0 * math.sqrt(variance)),
        _problem(alpha, seed), seed, options={"quantity": "trace"},
        per_probe_variance=variance)


def _density(seed: int) -> OracleCase:
    nodes = np.array([-1.0, 0.5, 2.0, 8.0])
    counts = np.array([20, 60, 100, 20])
    n = int(counts.sum())
    alpha = np.repeat(nodes, counts)
    span = float(nodes.max() - nodes.min())
    return OracleCase(
        "hessian-spectrum", "density-clusters", "the normalized spectral measure of H",
        (nodes, counts / n),
        "α takes 4 values with multiplicities 20, 60, 100, 20 (N = 200), H diagonal in the "
        "parameter coordinates: μ = 0.1 δ(−1) + 0.3 δ(0.5) + 0.5 δ(2) + 0.1 δ(8)",
        Tolerance(reason="SLQ is exact here (Rademacher weights N_j/N, 4 distinct "
                         "eigenvalues ≤ Lanczos steps); allow float32 rounding of the "
                         "tridiagonal problem: W1 + span·|mass − 1| ≤ 1e-5·span",
                  atol=1e-5 * span),
        _problem(alpha, seed, rotate=False), seed, comparison="measure",
        options={"quantity": "density"})


_DEEP_LINEAR = ([3.0, 1.5, 0.5], 3, 16)  # singular values, depth, examples: N = 27, 18 zeros


def _deep_linear(seed: int):
    s, depth, n = _DEEP_LINEAR

    def build():
        net = deep_linear_network(s, depth, n_examples=n, seed=seed)
        return {"model": net.model, "loss_fn": net.loss_fn, "data": net.data}
    return deep_linear_network(s, depth, n_examples=n, seed=seed), build


def _deep_linear_derivation(net) -> str:
    return (f"deep linear net, L = {net.depth}, s = {net.singular_values.tolist()}, balanced "
            f"minimum, XᵀX/n = I, loss mean ½‖Wx − y‖²: eigenvalues μ_ij = Σ_k "
            f"s_i^(2(k−1)/L) s_j^(2(L−k)/L) and {(net.depth - 1) * net.width**2} zeros "
            f"(N = {net.n_params}); λ_max = L·s_1^(2(L−1)/L)")


def _top_deep_linear(seed: int, k: int) -> OracleCase:
    net, build = _deep_linear(seed)
    return OracleCase(
        "hessian-spectrum", f"top{k}-deep-linear",
        f"the {k} largest Hessian eigenvalue(s) of a deep linear network, descending",
        net.hessian_eigenvalues[:k], _deep_linear_derivation(net), _TOP_RTOL, build, seed,
        options={"quantity": "top_eigenvalues", "k": k})


def _trace_deep_linear(seed: int) -> OracleCase:
    net, build = _deep_linear(seed)
    h = net.hessian
    variance = 2.0 * (float((h**2).sum()) - float((np.diag(h) ** 2).sum()))
    return OracleCase(
        "hessian-spectrum", "trace-deep-linear", "tr H of a deep linear network (stochastic)",
        float(math.fsum(net.hessian_eigenvalues)),
        _deep_linear_derivation(net) + "; tr H = Σ μ_ij",
        Tolerance(reason="5 standard errors of one Rademacher probe (per-probe variance "
                         "2(‖H‖_F² − Σ H_ii²) of the closed-form Gauss–Newton H); divided by "
                         "√M when the estimator reports M probes", atol=5.0 * math.sqrt(variance)),
        build, seed, options={"quantity": "trace"}, per_probe_variance=variance)


def hessian_spectrum_cases() -> list[OracleCase]:
    """All ``hessian-spectrum`` cases (every quantity)."""
    return [
        _top("top1-gap", [10.0, 5.0], 100, 1, 31,
             "planted α_max = 10 with the next eigenvalue 5"),
        _top("top1-negative-dominant", [-20.0, 10.0], 100, 1, 32,
             "planted α = −20 and 10: λ_max = 10 although |−20| is the largest modulus"),
        _top("top1-small-gap", [10.0, 9.9], 200, 1, 33,
             "planted α_max = 10 with the next eigenvalue 9.9 (a 1 % gap)"),
        _top("top3-clustered", [50.0, 40.0, 30.0], 400, 3, 34,
             "three planted outliers 50, 40, 30 over a clustered bulk"),
        _trace_diagonal(35),
        _trace_rotated(36),
        _density(37),
        _top("top1-gap-N1000", [10.0, 5.0], 1000, 1, 38,
             "planted α_max = 10 with the next eigenvalue 5", THOROUGH),
        _top("top5-clustered-N1000", [50.0, 40.0, 30.0, 20.0, 15.0], 1000, 5, 39,
             "five planted outliers over a clustered bulk", THOROUGH),
        _top_deep_linear(46, 1),
        _top_deep_linear(46, 2),
        _trace_deep_linear(46),
    ]


def _sd_tolerance(alpha: np.ndarray, lr: float) -> Tolerance:
    """Propagate eigenvalue rounding ``δα ≤ 10·N·eps·max|α|`` through ``λ = ln|1 − ηα|`` and
    the Kaplan–Yorke formula (``∂SD/∂λ_i = 1/|λ_{j+1}|`` for ``i ≤ j``, ``S_j/λ_{j+1}²`` for
    ``i = j + 1``; zero on the flat ends ``SD = 0`` and ``SD = d``)."""
    n = alpha.size
    d_alpha = 10 * n * EPS * float(np.abs(alpha).max())
    lam = np.log(np.abs(1.0 - lr * alpha))
    d_lam = lr * d_alpha / np.abs(1.0 - lr * alpha)
    order = np.argsort(-lam)
    lam, d_lam = lam[order], d_lam[order]
    partial = np.cumsum(lam)
    bound = float(d_lam.max())
    if lam[0] >= 0 and partial[-1] < 0:
        j = int(np.flatnonzero(partial >= 0)[-1]) + 1
        nxt = abs(lam[j])
        bound += float(d_lam[:j].sum()) / nxt + float(partial[j - 1]) * float(d_lam[j]) / nxt**2
    return Tolerance(reason="eigenvalue rounding δα ≤ 10·N·eps·max|α| propagated through "
                            "ln|1 − ηα| and the Kaplan–Yorke formula", atol=bound)


def _sd(name: str, scaled, lr: float, expected: float, derivation: str, seed: int,
        profiles=QUICK) -> OracleCase:
    alpha = np.asarray(scaled, dtype=np.float64) / lr
    build_problem = _problem(alpha, seed)

    def build():
        inputs = dict(build_problem())
        inputs.update(lr=lr, batch_size=16, seed=seed)
        return inputs

    return OracleCase(
        "sharpness-dimension", name, "SD of ln|1 − ηα| (GD Jacobian, any minibatch)",
        [expected], f"ηα = {np.round(np.asarray(scaled), 6).tolist()} (η = {lr:g}): "
        + derivation, _sd_tolerance(alpha, lr), build, seed, profiles=profiles)


def _sd_deep_linear(name: str, lr: float, seed: int, profiles=QUICK) -> OracleCase:
    net, build_net = _deep_linear(seed)

    def build():
        inputs = dict(build_net())
        inputs.update(lr=lr, batch_size=int(inputs["data"][0].shape[0]), seed=seed)
        return inputs

    lam = net.sharpness(lr)
    return OracleCase(
        "sharpness-dimension", name,
        "SD of ln|1 − ηα| of a deep linear network (GD Jacobian, full batch)",
        [net.sharpness_dimension(lr)],
        _deep_linear_derivation(net) + f"; η = {lr:g}: λ = ln|1 − ημ_ij| (λ_1 = "
        f"{lam[0]:.6g}) and the zeros, KY formula (the partial sum stays > 0 across the "
        "neutral bulk, so rounding of the zeros cannot move j*)",
        _sd_tolerance(net.hessian_eigenvalues, lr), build, seed, profiles=profiles)


def sharpness_dimension_cases() -> list[OracleCase]:
    """All ``sharpness-dimension`` cases."""
    ln = math.log
    return [
        _sd("sd-eos-fractional", [3.0, 2.5, 0.5, 0.75, 0.9, 0.2], 1.0,
            4.0 + ln(1.2) / ln(4.0),
            "λ = ln(2, 1.5, 0.8, 0.5, 0.25, 0.1) sorted; S_4 = ln(2·1.5·0.8·0.5) = ln 1.2 ≥ 0, "
            "S_5 = ln 0.3 < 0: SD = 4 + ln 1.2/ln 4", 41),
        _sd("sd-negative-curvature", [-0.5, 0.5, 1.5, 0.2], 0.5, 2.0 + ln(1.2) / ln(2.0),
            "negative curvature expands: λ = ln(1.5, 0.8, 0.5, 0.5); S_2 = ln 1.2, "
            "S_3 = ln 0.6: SD = 2 + ln 1.2/ln 2", 42),
        _sd("sd-stable", [1.5, 0.8, 0.5, 0.1], 0.1, 0.0,
            "every |1 − ηα| < 1, so λ_1 = ln 0.9 < 0: SD = 0", 43),
        _sd("sd-all-expanding", [3.0, 2.5, 0.5], 1.0, 3.0,
            "λ = ln(2, 1.5, 0.5): S_3 = ln 1.5 ≥ 0, every partial sum ≥ 0: SD = d = 3", 44),
        _sd("sd-multiplicities-N40", [2.5] * 5 + [-0.5] * 5 + [0.5] * 15 + [1.5] * 15, 0.5,
            10.0 * (1.0 + math.log2(1.5)),
            "λ = ln 1.5 (×10), ln 0.5 (×30): S_{10+k} = 10 ln 1.5 − k ln 2 ≥ 0 iff k ≤ 5, "
            "so j* = 15 and SD = 15 + (10 ln 1.5 − 5 ln 2)/ln 2 = 10(1 + log₂ 1.5)", 45,
            THOROUGH),
        _sd_deep_linear("sd-eos-deep-linear", 0.2, 47),
        _sd_deep_linear("sd-far-eos-deep-linear", 0.3, 48, THOROUGH),
    ]
