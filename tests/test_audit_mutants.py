"""The audit rejects deliberately wrong estimators and passes correct ones (DESIGN rule 9).

Each mutant is a correct estimator written here with one classic mistake switched on: a sign
error, ascending sort, log2 for ln, a missing |·|, '>' for '≥', an unsorted Kaplan–Yorke,
QR without re-orthonormalization, scipy's τ-b for τ-a, Lanczos without re-orthogonalization
on a clustered spectrum. The correct version of the same code passes the same cases, so each
test shows that the case separates exactly that mistake. sharpdim's own estimators pass the
whole quick profile (dogfooding).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from sharpdim.testing.adapters import reference
from sharpdim.testing.auditing import audit


def _verdicts(report) -> dict[str, str]:
    return {r.case: r.verdict for r in report.rows}


# ---------------------------------------------------------------- lyapunov-map


def qr_spectrum(system, x0, n_steps, seed, *, log=np.log, reorthonormalize=True,
                absolute=True, ascending=False, sign=1.0):
    """Benettin's QR method from a random frame (no transient), with switchable mistakes."""
    rng = np.random.default_rng(seed)
    d = system.dim
    q = np.linalg.qr(rng.standard_normal((d, d)))[0]
    x = np.array(x0, dtype=np.float64)
    sums = np.zeros(d)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for _ in range(n_steps):
            noise = system.sample_noise(rng)
            m = np.asarray(system.jacobian(x, noise)) @ q
            if reorthonormalize:
                q, r = np.linalg.qr(m)
                growth = np.diag(r)
            else:  # columns only rescaled: they all collapse onto the top direction
                growth = np.linalg.norm(m, axis=0)
                q = m / growth
            sums += log(np.abs(growth) if absolute else growth)
            x = system.step(x, noise)
    lam = np.sort(sums / n_steps)
    return sign * (lam if ascending else lam[::-1])


def test_a_correct_qr_method_passes_every_quick_lyapunov_map_case():
    report = audit(qr_spectrum, "lyapunov-map", isolation="inline")
    assert report.passed, report.to_terminal()


@pytest.mark.parametrize(
    ("mistake", "case", "verdict"),
    [
        ({"sign": -1.0}, "tent-1.5-n2000", "FAIL"),
        ({"log": np.log2}, "tent-1.5-n2000", "FAIL"),
        ({"absolute": False}, "tent-1.5-n2000", "NaN"),
        ({"ascending": True}, "cat-map-n2000", "FAIL"),
        ({"reorthonormalize": False}, "cat-map-n2000", "FAIL"),
    ],
    ids=["sign-error", "log2", "missing-abs", "ascending-sort", "qr-without-reorthonormalization"],
)
def test_lyapunov_map_mutants_are_rejected(mistake, case, verdict):
    mutant = functools.partial(qr_spectrum, **mistake)
    correct = audit(qr_spectrum, "lyapunov-map", isolation="inline", only=[case])
    wrong = audit(mutant, "lyapunov-map", isolation="inline", only=[case])
    assert _verdicts(correct) == {case: "pass"}
    assert _verdicts(wrong) == {case: verdict} and not wrong.passed


# ---------------------------------------------------------------- dimension


def kaplan_yorke(exponents, *, sort="descending", strict=False, absolute=True):
    """Kaplan–Yorke dimension with switchable mistakes."""
    lam = np.asarray(exponents, dtype=np.float64)
    if sort == "descending":
        lam = np.sort(lam)[::-1]
    elif sort == "ascending":
        lam = np.sort(lam)
    partial = np.cumsum(lam)
    keep = partial > 0 if strict else partial >= 0
    if lam[0] < 0 or not keep.any():
        return 0.0
    j = int(np.flatnonzero(keep)[-1]) + 1
    if j == lam.size:
        return float(j)
    denominator = abs(lam[j]) if absolute else lam[j]
    return float(j + partial[j - 1] / denominator)


def test_a_correct_kaplan_yorke_passes_and_each_convention_mistake_fails():
    assert audit(kaplan_yorke, "dimension", isolation="inline").passed
    expected_failures = {
        "sort": ("none", {"unsorted-input", "five-unsorted"}),
        "ascending": ("ascending", {"two-exponents", "unsorted-input", "flat-direction",
                                    "absolute-value", "volume-expanding",
                                    "zero-singular-value", "five-unsorted"}),
    }
    for label, (sort, cases) in expected_failures.items():
        report = audit(functools.partial(kaplan_yorke, sort=sort), "dimension",
                       isolation="inline")
        failed = {r.case for r in report.rows if not r.passed}
        assert failed == cases, label
    strict = audit(functools.partial(kaplan_yorke, strict=True), "dimension",
                   isolation="inline")
    assert {r.case for r in strict.rows if not r.passed} == {"flat-direction"}
    no_abs = audit(functools.partial(kaplan_yorke, absolute=False), "dimension",
                   isolation="inline")
    assert "absolute-value" in {r.case for r in no_abs.rows if not r.passed}


# ---------------------------------------------------------------- kendall


def test_tau_b_where_tau_a_is_defined_is_rejected_on_ties():
    from scipy.stats import kendalltau

    from sharpdim.lab.stats import kendall_tau

    assert audit(kendall_tau, "kendall", isolation="inline").passed
    tau_b = audit(lambda x, y: kendalltau(x, y).statistic, "kendall", isolation="inline")
    assert _verdicts(tau_b) == {"no-ties": "pass", "ties-in-x": "FAIL",
                                "ties-in-both": "FAIL", "constant-measure": "NaN",
                                "reversed": "pass"}


# ---------------------------------------------------------------- lyapunov-series


def one_step_divergence(series, *, log=np.log, sign=1.0):
    """λ_1 of a 1-D map's series: neighbours in x (sorted order) and the log-ratio of their
    images' distance to theirs, averaged (= mean ln|f'| for close neighbours)."""
    x = np.asarray(series, dtype=np.float64)
    order = np.argsort(x[:-1])
    before = np.diff(x[:-1][order])
    after = np.abs(np.diff(x[1:][order]))
    ok = (before > 0) & (after > 0)
    return sign * float(np.mean(log(after[ok] / before[ok])))


def test_series_estimator_passes_and_its_sign_and_log2_mutants_fail():
    assert audit(one_step_divergence, "lyapunov-series", isolation="inline").passed
    for mistake in ({"sign": -1.0}, {"log": np.log2}):
        report = audit(functools.partial(one_step_divergence, **mistake), "lyapunov-series",
                       isolation="inline")
        assert report.rows and not any(r.passed for r in report.rows), mistake


# ---------------------------------------------------------------- hessian-spectrum


def _hvp(model, loss_fn, data):
    params = [p for p in model.parameters() if p.requires_grad]
    loss = loss_fn(model(data[0]), data[1])
    grad = torch.cat([g.reshape(-1) for g in
                      torch.autograd.grad(loss, params, create_graph=True)])

    def apply(v: torch.Tensor) -> torch.Tensor:
        out = torch.autograd.grad(grad, params, grad_outputs=v, retain_graph=True)
        return torch.cat([o.reshape(-1) for o in out]).detach()

    return apply, grad.numel(), grad.dtype


def lanczos_top(model, loss_fn, data, k=1, seed=0, *, reorthogonalize=True, steps=100):
    """The k largest Ritz values of ``steps`` Lanczos steps on Hessian-vector products."""
    apply, n, dtype = _hvp(model, loss_fn, data)
    m = min(steps, n)
    v = torch.as_tensor(np.random.default_rng(seed).standard_normal(n), dtype=dtype)
    basis = [v / v.norm()]
    alphas, betas = [], []
    for j in range(m):
        w = apply(basis[j])
        alphas.append(float(w @ basis[j]))
        w = w - alphas[j] * basis[j] - (betas[j - 1] * basis[j - 1] if j else 0.0)
        if reorthogonalize:
            for _ in range(2):
                Q = torch.stack(basis)
                w = w - Q.T @ (Q @ w)
        beta = float(w.norm())
        if j == m - 1 or beta < 1e-12:
            break
        betas.append(beta)
        basis.append(w / beta)
    off = betas[: len(alphas) - 1]
    T = np.diag(alphas) + np.diag(off, 1) + np.diag(off, -1)
    return np.sort(np.linalg.eigvalsh(T))[::-1][:k]


def test_lanczos_without_reorthogonalization_is_caught_by_ghosts_on_a_clustered_spectrum():
    correct = audit(lanczos_top, "hessian-spectrum", quantity="top_eigenvalues",
                    isolation="inline")
    assert correct.passed, correct.to_terminal()
    plain = audit(functools.partial(lanczos_top, reorthogonalize=False), "hessian-spectrum",
                  quantity="top_eigenvalues", isolation="inline", only=["top3-clustered"])
    (row,) = plain.rows
    assert row.verdict == "FAIL" and row.returned.startswith("[50, 50")  # a ghost copy of 50


def power_iteration(model, loss_fn, data, k=1, seed=0):
    """Largest-*magnitude* eigenvalue: what a plain power iteration converges to."""
    apply, n, dtype = _hvp(model, loss_fn, data)
    v = torch.as_tensor(np.random.default_rng(seed).standard_normal(n), dtype=dtype)
    for _ in range(500):
        v = apply(v)
        v = v / v.norm()
    return np.array([float(v @ apply(v))])


def test_power_iteration_reports_the_largest_magnitude_not_lambda_max():
    report = audit(power_iteration, "hessian-spectrum", quantity="top_eigenvalues",
                   isolation="inline", only=["top1-gap", "top1-negative-dominant"])
    assert _verdicts(report) == {"top1-gap": "pass", "top1-negative-dominant": "FAIL"}


# ---------------------------------------------------------------- sharpness-dimension


def exact_sd(model, loss_fn, data, *, lr, batch_size, seed, absolute=True):
    """SD of ln|1 − ηα| from the dense Hessian of the first minibatch (every minibatch Hessian
    of the planted models is the same)."""
    from torch.autograd.functional import hessian

    from sharpdim import sharpness_dimension

    params = [p.detach() for p in model.parameters()]
    shapes = [p.shape for p in params]
    names = [name for name, _ in model.named_parameters()]
    flat = torch.cat([p.reshape(-1) for p in params])
    inputs, targets = data[0][:batch_size], data[1][:batch_size]

    def loss(theta):
        blocks, start = {}, 0
        for name, shape in zip(names, shapes, strict=True):
            size = int(np.prod(shape))
            blocks[name] = theta[start:start + size].reshape(shape)
            start += size
        return loss_fn(torch.func.functional_call(model, blocks, (inputs,)), targets)

    alpha = np.linalg.eigvalsh(hessian(loss, flat).numpy())
    with np.errstate(invalid="ignore"):
        lam = np.log(np.abs(1 - lr * alpha) if absolute else 1 - lr * alpha)
    if np.isnan(lam).any():
        return float("nan")
    return sharpness_dimension(lam)


def test_exact_sd_passes_and_a_missing_absolute_value_fails():
    assert audit(exact_sd, "sharpness-dimension", isolation="inline").passed
    wrong = audit(functools.partial(exact_sd, absolute=False), "sharpness-dimension",
                  isolation="inline")
    assert _verdicts(wrong)["sd-eos-fractional"] == "NaN" and not wrong.passed


# ---------------------------------------------------------------- dogfooding


@pytest.mark.parametrize(("name", "kind", "quantity"), reference.AUDITS,
                         ids=[a[0] for a in reference.AUDITS])
def test_sharpdim_own_estimators_pass_their_quick_audit(name, kind, quantity):
    report = audit(getattr(reference, name), kind, quantity=quantity, isolation="inline")
    assert report.passed, report.to_terminal()
    assert report.adapter["library"] == "sharpdim"
