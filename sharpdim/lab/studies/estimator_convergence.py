"""The estimator convergence table: SD-SLQ / SD-KDE / SD-PS against the exact SD.

For each case (a model, a loss, data, ``lr``, ``batch_size``) and seed, one
:func:`~sharpdim.estimators.estimate.estimate_sharpness` call with ``method="slq"``,
``R_max`` runs and ``m`` Lanczos steps gives the pooled SLQ measure; its first ``R`` runs
(re-weighted) give the estimate with ``R`` runs, and the three views (slq, kde, ps; default
``ε``, Silverman's robust bandwidth, ``M = min(1000, N)``) are read off it exactly as
``estimate_sharpness`` does. The reference is the **exact** SD of the spectra of the same
``R`` minibatches pooled into one measure (what the density methods estimate; it equals the
order-by-order mean when every minibatch has the same spectrum, e.g. full batch), computed
with the same ``ε`` and ``ε`` form (``ln max(σ, ε)``, the default clamp, or the paper's
additive ``ln(σ + ε)``; every row is labelled with its form) so that both sides map every
eigenvalue through the same function. Errors are summarized over seeds (RMSE, bias, the
1-Wasserstein distance between the method's measure and the exact one) and the rate is the
least-squares slope of ``ln RMSE`` on ``ln R`` at the largest ``m``, with its standard error
from ``SE(ln RMSE) ≈ 1/√(2K)`` (``K`` seeds; nested runs make it approximate).

``render_markdown`` writes the committed report; regenerate it with
``sharpdim study estimator_convergence`` (both sections; slow: tens of minutes).

A second section, **real networks in the sweeps' regime** (:func:`network_table`,
:func:`render_network_section`), runs every public density view — ``method`` × ``ε`` form ×
``smoothing`` — through :func:`~sharpdim.estimators.estimate.estimate_sharpness` on trained
networks with ``m ≪ N``, against the exact pooled SD of the same minibatches (the same seed
draws the same minibatches and probes in every call, so one Lanczos protocol serves every
row). Its cases are trained networks of the task catalogue, one layer up.
:func:`write_network_section` regenerates that section alone and keeps the first (each section
carries its own provenance); :func:`write_synthetic_section` (this module's ``python -m``
entry point) regenerates the first section and keeps the second.

The study (``sharpdim study estimator_convergence``) runs both, the first then the second
(the old module paths, ``python -m sharpdim.lab.bench.convergence`` and ``python -m
sharpdim.lab.sweeps.estimator_validation``, are aliases of this module that still run one
section each). The networks of the second section (:data:`NETWORK_SPECS`) are
trained with the sweeps' own :func:`~sharpdim.lab.sweeps.training.train` (plain SGD, no
momentum or weight decay, cross-entropy, a fixed short schedule stated in the case) and
measured as the sweeps do: Hessian minibatches at a batch size the sweeps use, ``m`` Lanczos
steps with ``m/N`` as small as in the sweep configs (``configs/mnist1d_5x5.toml``: ``m = 40``
at ``N = 1,056``; ``configs/fashion_mnist_5x5.toml``: ``m = 100`` at ``N = 12,960``). ``R``
(minibatches per estimate) and the number of seeds are set by the cost of the exact reference
(``N`` Hessian-vector products and an ``N × N`` eigendecomposition per minibatch: seconds at
``N ≈ 1k``, about 20 s at 5k, minutes at 13k on one CPU core).
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from sharpdim.curvature.spectral_measure import SpectralMeasure
from sharpdim.dimension import sharpness_dimension
from sharpdim.estimators.data import minibatch, training_data
from sharpdim.estimators.density import (
    DEFAULT_EPSILON,
    DENSITY_METHODS,
    density_dimension,
    log_singular_value_map,
)
from sharpdim.estimators.estimate import estimate_sharpness
from sharpdim.estimators.exact import exact_spectrum
from sharpdim.estimators.options import EstimateOptions
from sharpdim.estimators.perturbation import wasserstein_1
from sharpdim.lab.sweeps.tasks import get_task
from sharpdim.lab.sweeps.training import TrainSettings, train
from sharpdim.testing.oracles.planted_regression import (
    planted_regression,
    planted_sparse_regression,
)
from sharpdim.vocabulary import AGGREGATES, EPSILON_FORMS

__all__ = [
    "NETWORK_SECTION",
    "slq_estimate",
    "READING_SECTION",
    "NetworkCase",
    "NetworkRow",
    "NetworkSup",
    "NetworkTable",
    "network_table",
    "render_network_section",
    "splice_section",
    "ConvergenceCase",
    "ConvergenceRow",
    "ConvergenceRate",
    "ConvergenceTable",
    "default_cases",
    "convergence_table",
    "render_markdown",
    "NetworkSpec",
    "NETWORK_SPECS",
    "network_case",
    "network_cases",
    "write_synthetic_section",
    "write_network_section",
]


@dataclass(frozen=True)
class ConvergenceCase:
    """A model at a point with its loss, data and optimizer setting, and the Lanczos step
    counts ``steps`` to try (the last one is used for the rate)."""

    name: str
    description: str
    make_model: Callable[[], torch.nn.Module]
    loss_fn: Callable
    data: tuple[torch.Tensor, torch.Tensor]
    lr: float
    batch_size: int
    steps: tuple[int, ...]


@dataclass(frozen=True)
class ConvergenceRow:
    """One (case, method, runs ``R``, steps ``m``) cell, summarized over ``seeds``."""

    case: str
    method: str
    n_runs: int
    n_steps: int
    epsilon_form: str
    reference: float
    mean_estimate: float
    bias: float
    rmse: float
    max_abs_error: float
    wasserstein: float
    hvp_per_estimate: int
    seeds: tuple[int, ...]


@dataclass(frozen=True)
class ConvergenceRate:
    """Slope of ``ln RMSE`` on ``ln R`` (at ``n_steps``) with its standard error."""

    case: str
    method: str
    n_steps: int
    epsilon_form: str
    slope: float
    stderr: float


@dataclass(frozen=True)
class ConvergenceTable:
    rows: tuple[ConvergenceRow, ...]
    rates: tuple[ConvergenceRate, ...]
    references: tuple[dict, ...]
    runs: tuple[int, ...]
    seeds: tuple[int, ...]
    seconds: float
    cases: tuple[dict, ...] = field(default_factory=tuple)


def _train_gd(model: torch.nn.Module, loss_fn, x, y, *, lr: float, steps: int) -> None:
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()


def _mlp_case(batch_size: int, name: str) -> ConvergenceCase:
    gen = torch.Generator().manual_seed(7)
    n, d_in, n_classes = 128, 6, 3
    centers = torch.randn(n_classes, d_in, generator=gen, dtype=torch.float64) * 1.5
    y = torch.randint(0, n_classes, (n,), generator=gen)
    x = centers[y] + torch.randn(n, d_in, generator=gen, dtype=torch.float64)
    lr = 0.5

    def make() -> torch.nn.Module:
        torch_gen = torch.Generator().manual_seed(3)
        model = torch.nn.Sequential(torch.nn.Linear(d_in, 8), torch.nn.Tanh(),
                                    torch.nn.Linear(8, n_classes)).double()
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.randn(p.shape, generator=torch_gen, dtype=torch.float64) * 0.5)
        _train_gd(model, torch.nn.functional.cross_entropy, x, y, lr=lr, steps=300)
        return model

    n_params = d_in * 8 + 8 + 8 * n_classes + n_classes
    return ConvergenceCase(
        name, f"tanh MLP {d_in}-8-{n_classes} ({n_params} parameters), cross-entropy on a "
        f"3-class Gaussian mixture (n = {n}) after 300 GD steps at lr {lr}; batch size "
        f"{batch_size}", make, torch.nn.functional.cross_entropy, (x, y), lr, batch_size,
        (n_params // 8, n_params // 3, n_params),
    )


def default_cases() -> tuple[ConvergenceCase, ...]:
    """Planted dense spectrum (full batch), planted sparse design (minibatch spectra vary),
    and a small trained MLP (full batch and minibatch)."""
    alpha = np.linspace(0.1, 3.0, 24)
    dense = planted_regression(alpha, seed=11)
    rng = np.random.default_rng(5)
    axes = np.repeat(np.arange(12), 4)
    sparse = planted_sparse_regression(axes, rng.uniform(0.3, 1.6, axes.size), seed=12)
    return (
        ConvergenceCase("planted-dense-24", "least squares with 2XᵀX/n planted at "
                        "linspace(0.1, 3, 24), lr 1, full batch (n = 48)", dense.model,
                        dense.loss_fn, dense.data, 1.0, dense.n, (6, 12, 24)),
        ConvergenceCase("planted-sparse-12", "least squares with examples on 12 rotated "
                        "axes (4 each, scales U(0.3, 1.6)), lr 1, batch 8 of 48: minibatch "
                        "spectra differ", sparse.model, sparse.loss_fn, sparse.data, 1.0, 8,
                        (3, 6, 12)),
        _mlp_case(128, "mlp-83-full"),
        _mlp_case(16, "mlp-83-batch16"),
    )


def _prefix(measure: SpectralMeasure, n_runs: int, total: int) -> SpectralMeasure:
    keep = measure.run_ids < n_runs
    return SpectralMeasure(measure.nodes[keep], measure.weights[keep] * (total / n_runs),
                           measure.run_ids[keep])


def slq_estimate(case: ConvergenceCase, model, *, seed: int, n_batches: int, **options):
    """``estimate_sharpness(method="slq")`` of ``case`` at ``model`` with ``n_batches`` runs
    from ``seed`` and the given :class:`EstimateOptions` fields: the call every study of the
    SLQ estimator makes."""
    return estimate_sharpness(model, case.loss_fn, case.data, lr=case.lr,
                              batch_size=case.batch_size, method="slq", n_batches=n_batches,
                              seed=seed, options=EstimateOptions(**options))


def _exact_profiles(case: ConvergenceCase, model, seed: int, n_batches: int,
                    eps: float, epsilon_form: str) -> np.ndarray:
    """Exact log singular values ``(n_batches, N)`` of the minibatches a call with ``seed``
    draws (the same protocol as ``estimate_sharpness``), with the density methods' ``ε`` and
    ``epsilon_form`` so that both sides map every eigenvalue through the same ``g``."""
    from sharpdim.curvature.functional import flat_loss
    from sharpdim.curvature.slq import slq_run_seeds

    f = flat_loss(model, case.loss_fn)
    data = training_data(case.data, device=f.device)
    full = case.batch_size == data.n
    rows = []
    for i, s in enumerate(slq_run_seeds(seed, n_batches)):
        if full and rows:
            rows.append(rows[0])
            continue
        mb = minibatch(i, s, data.n, case.batch_size)
        x, y = data.take(mb.indices)
        rows.append(exact_spectrum(f, x, y, theta=f.theta0, lr=case.lr, jacobian="gd",
                                   eps=eps, epsilon_form=epsilon_form).log_singular_values)
    return np.stack(rows)


def _rate(runs: Sequence[int], rmse: Sequence[float], n_seeds: int) -> tuple[float, float]:
    x = np.log(np.asarray(runs, dtype=np.float64))
    y = np.log(np.maximum(np.asarray(rmse, dtype=np.float64), 1e-300))
    xc = x - x.mean()
    slope = float((xc * (y - y.mean())).sum() / (xc**2).sum())
    stderr = float((1.0 / math.sqrt(2 * n_seeds)) / math.sqrt((xc**2).sum()))
    return slope, stderr


def convergence_table(
    cases: Sequence[ConvergenceCase] | None = None,
    *,
    runs: Sequence[int] = (8, 32, 128, 512),
    n_seeds: int = 8,
    base_seed: int = 2026,
    epsilon_forms: Sequence[str] = EPSILON_FORMS,
    progress: bool | None = None,
) -> ConvergenceTable:
    """Errors of SD-SLQ/KDE/PS against the exact pooled SD as runs ``R`` and steps ``m`` grow,
    for each ``ε`` form (``"clamp"``: ``ln max(σ, ε)``; ``"additive"``: the paper's
    ``ln(σ + ε)``), each row labelled with its form.

    Seeds are ``base_seed, base_seed + 1, …``; every estimate records its seed.
    """
    t0 = time.perf_counter()
    cases = default_cases() if cases is None else tuple(cases)
    runs = tuple(sorted(int(r) for r in runs))
    R_max = runs[-1]
    seeds = tuple(base_seed + k for k in range(n_seeds))
    rows: list[ConvergenceRow] = []
    rates: list[ConvergenceRate] = []
    references: list[dict] = []
    for case in cases:
        model = case.make_model()
        N = sum(p.numel() for p in model.parameters() if p.requires_grad)
        for form in epsilon_forms:
            g = log_singular_value_map("gd", lr=case.lr, eps=DEFAULT_EPSILON, epsilon_form=form)
            exact = {s: _exact_profiles(case, model, s, R_max, DEFAULT_EPSILON, form)
                     for s in seeds}
            z0 = exact[seeds[0]]
            references.append({
                "case": case.name, "n_params": N, "epsilon_form": form,
                "exact_mean_sd": sharpness_dimension(z0.mean(axis=0)),
                "exact_pooled_sd": sharpness_dimension(z0.ravel(), np.full(z0.size, 1 / R_max)),
                "lambda_1": float(z0[:, 0].mean()), "n_batches": R_max, "seed": seeds[0],
            })
            cells: dict[tuple[str, int, int], list[tuple[float, float, float]]] = {}
            for m in case.steps:
                for s in seeds:
                    est = slq_estimate(case, model, seed=s, n_batches=R_max, n_steps=m,
                                       epsilon_form=form, progress=progress)
                    for R in runs:
                        sub = _prefix(est.curvature_measure, R, R_max)
                        z = exact[s][:R]
                        ref = sharpness_dimension(z.ravel(), np.full(z.size, 1 / R))
                        for method in DENSITY_METHODS:
                            view = density_dimension(method, sub, g, aggregate="mean",
                                                     n_quantiles=min(1000, N))
                            w1 = wasserstein_1(z.ravel(), None, view.measure.nodes,
                                               view.measure.weights, mass=float(N)) \
                                if np.isfinite(z).all() else float("nan")
                            cells.setdefault((method, m, R), []).append((view.dimension, ref,
                                                                         w1))
            for (method, m, R), vals in sorted(cells.items()):
                est_v, ref_v, w1_v = (np.array(v) for v in zip(*vals, strict=True))
                err = est_v - ref_v
                rows.append(ConvergenceRow(
                    case.name, method, R, m, form, float(ref_v.mean()), float(est_v.mean()),
                    float(err.mean()), float(np.sqrt((err**2).mean())),
                    float(np.abs(err).max()), float(w1_v.mean()), R * m, seeds,
                ))
            for method in DENSITY_METHODS:
                m = case.steps[-1]
                rmse = [r.rmse for r in rows if r.case == case.name and r.method == method
                        and r.n_steps == m and r.epsilon_form == form]
                slope, se = _rate(runs, rmse, n_seeds)
                rates.append(ConvergenceRate(case.name, method, m, form, slope, se))
    info = tuple({"name": c.name, "description": c.description, "lr": c.lr,
                  "batch_size": c.batch_size, "steps": c.steps} for c in cases)
    return ConvergenceTable(tuple(rows), tuple(rates), tuple(references), runs, seeds,
                            time.perf_counter() - t0, info)


def render_markdown(table: ConvergenceTable, *, provenance: Mapping[str, str]) -> str:
    """The report: provenance, cases, references, the error table and the fitted rates."""
    out = [
        "# Estimator convergence: SD-SLQ, SD-KDE, SD-PS against the exact SD",
        "",
        "_Generated by `sharpdim.lab.studies.estimator_convergence.convergence_table` — do "
        "not edit by hand; regenerate with `sharpdim study estimator_convergence` (both "
        "sections; `write_synthetic_section` rewrites this one alone)._",
        "",
    ]
    out += [f"* {k}: `{v}`" for k, v in provenance.items()]
    out += [
        f"* seeds: {', '.join(map(str, table.seeds))} (one estimate per seed; minibatch `i` of "
        "seed `s` is drawn from `SeedSequence(s).spawn(R)[i]`)",
        f"* runs R: {', '.join(map(str, table.runs))} (the first R runs of one call with "
        f"R = {table.runs[-1]}); ε = 1e-6 in the form of each row's `ε form` column "
        "(clamp: ln max(σ, ε), the default; additive: the paper's ln(σ + ε), which shifts "
        "every neutral value by +ε), Silverman's robust bandwidth, default smoothing "
        "(curvature, the paper's, for kde and ps; both without a grid), M = min(1000, N)",
        f"* wall time: {table.seconds:.0f} s",
        "",
        "Reference: the exact SD of the same R minibatch spectra pooled into one measure "
        "(mass N), which is what the density methods estimate, with the same ε and ε form "
        "(so that both sides map every eigenvalue through the same function). The exact "
        "order-by-order mean "
        "(the paper's practice) is listed beside it: the two differ when minibatch spectra "
        "differ. Error = estimate − reference; W₁ = 1-Wasserstein distance between the "
        "method's measure on ln σ (for kde with log smoothing: its kernel centers) and the "
        "exact one (|ΔSD| ≤ W₁ / |z_next|, "
        "`sharpdim.estimators.perturbation`).",
        "",
        "## Cases",
        "",
    ]
    for c in table.cases:
        out.append(f"* **{c['name']}** — {c['description']}; Lanczos steps m ∈ {c['steps']}")
    out += ["", "## Exact references (first seed, all runs)", "",
            "| case | N | ε form | exact SD, order-by-order mean | exact SD, pooled | λ₁ |",
            "|---|---:|---|---:|---:|---:|"]
    for r in table.references:
        out.append(f"| {r['case']} | {r['n_params']} | {r['epsilon_form']} | "
                   f"{r['exact_mean_sd']:.4f} | "
                   f"{r['exact_pooled_sd']:.4f} | {r['lambda_1']:.4f} |")
    out += ["", "## Fitted rates (ln RMSE on ln R at the largest m)", "",
            "| case | method | ε form | m | slope | ± SE |", "|---|---|---|---:|---:|---:|"]
    for r in table.rates:
        out.append(f"| {r.case} | {r.method} | {r.epsilon_form} | {r.n_steps} | "
                   f"{r.slope:+.3f} | {r.stderr:.3f} |")
    out += ["", "## Errors", "",
            "| case | method | ε form | m | R | reference | mean estimate | bias | RMSE | "
            "max abs err | mean W₁ | HVPs |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in table.rows:
        out.append(f"| {r.case} | {r.method} | {r.epsilon_form} | {r.n_steps} | {r.n_runs} | "
                   f"{r.reference:.4f} | "
                   f"{r.mean_estimate:.4f} | {r.bias:+.4f} | {r.rmse:.4f} | "
                   f"{r.max_abs_error:.4f} | {r.wasserstein:.4f} | {r.hvp_per_estimate} |")
    return "\n".join(out) + "\n"


# --- real networks in the sweeps' regime -------------------------------------------------

NETWORK_SECTION = "## Real networks in the sweeps' regime"
READING_SECTION = "## Reading (written by hand against the numbers above)"

# (method, smoothing) of every density row: slq, and kde/ps with the paper's smoothing in α
# (the default) and the log-space smoothing (a mean-preserving spread, biased upward)
NETWORK_VIEWS: tuple[tuple[str, str | None], ...] = (
    ("slq", None), ("kde", "curvature"), ("kde", "log"), ("ps", "curvature"), ("ps", "log"))


@dataclass(frozen=True)
class NetworkCase:
    """A trained network and the sweeps' measurement setting: ``n_batches`` ``R`` minibatches
    of ``batch_size`` examples, ``n_steps`` ``m`` Lanczos steps, one estimate per seed of
    ``seeds``; ``points`` (late iterates, flat vectors) and ``sup_batches`` for the exact
    order-by-order mean against the sup over points (skipped when ``points`` is empty)."""

    name: str
    description: str
    model: torch.nn.Module
    loss_fn: Callable
    data: tuple[torch.Tensor, torch.Tensor]
    lr: float
    batch_size: int
    n_steps: int
    n_batches: int
    seeds: tuple[int, ...]
    points: tuple[torch.Tensor, ...] = ()
    sup_batches: int = 0


@dataclass(frozen=True)
class NetworkRow:
    """One (case, method, ``ε`` form, smoothing) row, summarized over ``seeds``.

    ``reference``: mean over seeds of the exact pooled SD of the seed's ``n_runs``
    minibatches (same ``ε``, same form); ``exact_mean_sd``: the exact order-by-order mean;
    ``bias`` and ``rmse`` of ``estimate − reference``; ``bias_stderr``: the standard error of
    the bias over seeds (``None`` with one seed); ``wasserstein``: mean W₁ between the
    method's measure and the exact one on ``ln σ``; ``n_ill``: seeds flagged
    ``diagnostics.conditioning.ill_conditioned``; ``n_covered``: seeds whose reference lies in
    ``diagnostics.conditioning.interval``; ``tolerance`` / ``z_next`` / ``sensitivity`` /
    ``interval_width``: means of those diagnostics (the width is ``high − low``); ``hvp`` /
    ``seconds``: per estimate."""

    case: str
    method: str
    epsilon_form: str
    smoothing: str | None
    n_params: int
    n_runs: int
    n_steps: int
    reference: float
    exact_mean_sd: float
    mean_estimate: float
    bias: float
    bias_stderr: float | None
    rmse: float
    wasserstein: float
    n_ill: int
    n_covered: int
    tolerance: float
    z_next: float | None
    sensitivity: float
    interval_width: float
    hvp: float
    seconds: float
    seeds: tuple[int, ...]


@dataclass(frozen=True)
class NetworkSup:
    """Exact SD over ``n_points`` late iterates: order-by-order ``mean`` and ``sup`` over the
    points (then the mean over ``n_batches`` minibatches), ``ε = 0``, seed ``seed``."""

    case: str
    n_points: int
    n_batches: int
    seed: int
    mean_sd: float
    sup_sd: float
    seconds: float


@dataclass(frozen=True)
class NetworkTable:
    rows: tuple[NetworkRow, ...]
    sups: tuple[NetworkSup, ...]
    references: tuple[dict, ...]
    cases: tuple[dict, ...]
    seconds: float


def _exact_alphas(model, loss_fn, data, *, lr: float, batch_size: int, seed: int,
                  n_batches: int) -> tuple[np.ndarray, tuple[str, ...], float]:
    """Exact Hessian eigenvalues ``(n_batches, N)`` (float64) of the minibatches a call of
    ``estimate_sharpness`` with ``seed`` draws, their index hashes and the seconds taken."""
    from sharpdim.curvature.functional import flat_loss
    from sharpdim.curvature.slq import slq_run_seeds

    t0 = time.perf_counter()
    f = flat_loss(model, loss_fn)
    td = training_data(data, device=f.device)
    rows, hashes = [], []
    for i, s in enumerate(slq_run_seeds(seed, n_batches)):
        mb = minibatch(i, s, td.n, batch_size)
        x, y = td.take(mb.indices)
        rows.append(exact_spectrum(f, x, y, theta=f.theta0, lr=lr, jacobian="gd",
                                   dtype=torch.float64).hessian_eigenvalues)
        hashes.append(mb.index_hash)
    return np.stack(rows), tuple(hashes), time.perf_counter() - t0


def network_table(cases: Sequence[NetworkCase], *,
                  epsilon_forms: Sequence[str] = EPSILON_FORMS,
                  views: Sequence[tuple[str, str | None]] = NETWORK_VIEWS,
                  progress: bool | None = False) -> NetworkTable:
    """Every density view of ``estimate_sharpness`` (``views``: method and smoothing) in each
    ``ε`` form (``ε = DEFAULT_EPSILON``) on each case, against the exact SD of the same
    minibatches pooled with the same ``ε`` and form.

    The exact Hessian eigenvalues of a seed's minibatches are computed once and mapped through
    each form's ``g``; every estimate is a public ``estimate_sharpness`` call with the case's
    seed, so all rows of a seed share its minibatches (checked by their index hashes) and
    Lanczos probes. Rows summarize over the case's seeds."""
    t0 = time.perf_counter()
    rows: list[NetworkRow] = []
    sups: list[NetworkSup] = []
    references: list[dict] = []
    for case in cases:
        N = sum(p.numel() for p in case.model.parameters() if p.requires_grad)
        R, m = case.n_batches, case.n_steps
        exact = {s: _exact_alphas(case.model, case.loss_fn, case.data, lr=case.lr,
                                  batch_size=case.batch_size, seed=s, n_batches=R)
                 for s in case.seeds}
        for form in epsilon_forms:
            g = log_singular_value_map("gd", lr=case.lr, eps=DEFAULT_EPSILON, epsilon_form=form)
            z = {s: -np.sort(-g(a), axis=1) for s, (a, _, _) in exact.items()}  # rows descending
            pooled = {s: sharpness_dimension(v.ravel(), np.full(v.size, 1 / R))
                      for s, v in z.items()}
            mean_sd = {s: sharpness_dimension(v.mean(axis=0)) for s, v in z.items()}
            for s in case.seeds:
                alpha = exact[s][0]
                references.append({
                    "case": case.name, "n_params": N, "epsilon_form": form, "seed": s,
                    "n_batches": R, "exact_pooled_sd": pooled[s], "exact_mean_sd": mean_sd[s],
                    "alpha_max": float(alpha[:, -1].mean()), "alpha_min": float(alpha[:, 0].mean()),
                    "n_small": float((np.abs(case.lr * alpha) < 1e-5).sum(axis=1).mean()),
                    "seconds": exact[s][2],
                })
            for method, smoothing in views:
                vals = []
                for s in case.seeds:
                    est = estimate_sharpness(case.model, case.loss_fn, case.data, lr=case.lr,
                                             batch_size=case.batch_size, method=method,
                                             n_batches=R, seed=s,
                                             options=EstimateOptions(
                                                 n_steps=m, epsilon_form=form,
                                                 smoothing=smoothing, progress=progress))
                    dg = est.diagnostics
                    if dg.batch_index_hashes != exact[s][1]:
                        raise RuntimeError(f"{case.name}, seed {s}: the estimate's minibatches "
                                           "differ from the exact reference's")
                    c = dg.conditioning
                    w1 = wasserstein_1(z[s].ravel(), None, est.measure.nodes,
                                       est.measure.weights, mass=float(N))
                    covered = c.interval[0] <= pooled[s] <= c.interval[1]
                    vals.append((est.dimension, pooled[s], mean_sd[s], w1, c.ill_conditioned,
                                 covered, c.tolerance, c.z_next, c.sensitivity, dg.n_hvp,
                                 dg.seconds, c.interval[1] - c.interval[0]))
                est_v, ref_v, mean_v, w1_v = (np.array([v[k] for v in vals]) for k in range(4))
                err = est_v - ref_v
                K = len(vals)
                zn = [v[7] for v in vals if v[7] is not None]
                rows.append(NetworkRow(
                    case.name, method, form, smoothing, N, R, m, float(ref_v.mean()),
                    float(mean_v.mean()), float(est_v.mean()), float(err.mean()),
                    float(err.std(ddof=1) / math.sqrt(K)) if K > 1 else None,
                    float(np.sqrt((err**2).mean())), float(w1_v.mean()),
                    int(sum(v[4] for v in vals)), int(sum(v[5] for v in vals)),
                    float(np.mean([v[6] for v in vals])), float(np.mean(zn)) if zn else None,
                    float(np.mean([v[8] for v in vals])), float(np.mean([v[11] for v in vals])),
                    float(np.mean([v[9] for v in vals])),
                    float(np.mean([v[10] for v in vals])), tuple(case.seeds)))
        if case.points and case.sup_batches:
            out = {}
            for agg in AGGREGATES:
                est = estimate_sharpness(case.model, case.loss_fn, case.data, lr=case.lr,
                                         batch_size=case.batch_size, method="exact",
                                         aggregate=agg, points=list(case.points),
                                         n_batches=case.sup_batches, seed=case.seeds[0],
                                         options=EstimateOptions(progress=progress))
                out[agg] = est
            sups.append(NetworkSup(case.name, len(case.points), case.sup_batches, case.seeds[0],
                                   out["mean"].dimension, out["sup"].dimension,
                                   out["mean"].diagnostics.seconds
                                   + out["sup"].diagnostics.seconds))
    info = tuple({"name": c.name, "description": c.description, "lr": c.lr,
                  "batch_size": c.batch_size, "n_steps": c.n_steps, "n_batches": c.n_batches,
                  "seeds": c.seeds,
                  "n_params": sum(p.numel() for p in c.model.parameters() if p.requires_grad)}
                 for c in cases)
    return NetworkTable(tuple(rows), tuple(sups), tuple(references), info,
                        time.perf_counter() - t0)


def _fmt(v: float | None, spec: str) -> str:
    return "—" if v is None else format(v, spec)


def render_network_section(table: NetworkTable, *, provenance: Mapping[str, str]) -> str:
    """The markdown of the real-network section (starts with :data:`NETWORK_SECTION`)."""
    out = [NETWORK_SECTION, "",
           "_Generated by `sharpdim.lab.studies.estimator_convergence.network_table` (cases "
           "built by `sharpdim.lab.studies.estimator_convergence.network_cases`) — do not edit "
           "by hand; regenerate with `sharpdim study estimator_convergence` (both sections; "
           "`write_network_section` rewrites this one alone)._", ""]
    out += [f"* {k}: `{v}`" for k, v in provenance.items()]
    out += [
        f"* wall time: {table.seconds:.0f} s (one core)",
        "* every estimate is one public `estimate_sharpness` call (method, `epsilon_form`, "
        "`smoothing` as in its row; ε = 1e-6; Silverman's robust bandwidth; M = min(1000, N)) "
        "with the case's seed, so all rows of a seed use the same minibatches (checked by "
        "their index hashes) and the same Lanczos probes",
        "* reference: the exact SD of the same R minibatch Hessians pooled into one measure "
        "(mass N), mapped through the row's ε and ε form; `exact mean` is the paper's "
        "order-by-order mean of the same spectra",
        "* `aggregate=\"sup\"` with several points is refused for slq/kde/ps (`ValueError`: a "
        "pooled spectral density has no per-order values at a point, and the order-by-order "
        "max of noisy per-run quantile functions is biased upward with no proven rate); with "
        "one point it is the mean by definition. So the density rows are the mean; the exact "
        "mean against the exact sup over late iterates is listed below where it was computed",
        "* flags (ours, not the paper's): `ill` = seeds with `diagnostics.conditioning."
        "ill_conditioned`; `in I` = seeds whose exact reference lies in "
        "`diagnostics.conditioning.interval` = [SD(z − τ), SD(z + τ)] for the estimate's own "
        "per-value error τ (`|I|`: its width, mean over seeds), and N·τ/|z_next| is "
        "`diagnostics.conditioning.sensitivity`, the first-order bound on |ΔSD|; "
        "`bias ± SE` = mean over seeds of estimate − reference with its "
        "standard error (— with one seed)",
        "", "### Cases", ""]
    for c in table.cases:
        out.append(f"* **{c['name']}** (N = {c['n_params']}) — {c['description']}; lr "
                   f"{c['lr']}, Hessian batch size {c['batch_size']}, R = {c['n_batches']} "
                   f"minibatches, m = {c['n_steps']} Lanczos steps (m/N = "
                   f"{100 * c['n_steps'] / c['n_params']:.1f} %), seeds "
                   f"{', '.join(map(str, c['seeds']))}")
    out += ["", "### Exact references", "",
            "| case | N | ε form | seed | R | exact SD, pooled | exact SD, order-by-order mean "
            "| mean α_max | mean α_min | mean #{\\|ηα\\| < 1e-5} | seconds |",
            "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in table.references:
        out.append(f"| {r['case']} | {r['n_params']} | {r['epsilon_form']} | {r['seed']} | "
                   f"{r['n_batches']} | {r['exact_pooled_sd']:.3f} | {r['exact_mean_sd']:.3f} | "
                   f"{r['alpha_max']:.4g} | {r['alpha_min']:.4g} | {r['n_small']:.1f} | "
                   f"{r['seconds']:.0f} |")
    out += ["", "### Errors", "",
            "| case | method | ε form | smoothing | m | R | reference | exact mean | estimate | "
            "bias ± SE | RMSE | W₁ | τ | z_next | N·τ/\\|z_next\\| | \\|I\\| | ill | in I | "
            "HVPs | s |",
            "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
            "---:|---:|"]
    for r in table.rows:
        K = len(r.seeds)
        bias = f"{r.bias:+.3f}" + ("" if r.bias_stderr is None else f" ± {r.bias_stderr:.3f}")
        out.append(f"| {r.case} | {r.method} | {r.epsilon_form} | {r.smoothing or '—'} | "
                   f"{r.n_steps} | {r.n_runs} | {r.reference:.3f} | {r.exact_mean_sd:.3f} | "
                   f"{r.mean_estimate:.3f} | {bias} | {r.rmse:.3f} | {r.wasserstein:.4g} | "
                   f"{r.tolerance:.2g} | {_fmt(r.z_next, '.3g')} | {r.sensitivity:.3g} | "
                   f"{r.interval_width:.3g} | {r.n_ill}/{K} | "
                   f"{r.n_covered}/{K} | {r.hvp:.0f} | {r.seconds:.1f} |")
    if table.sups:
        out += ["", "### Exact SD: order-by-order mean against sup over late iterates", "",
                "| case | points | R | seed | mean | sup | seconds |",
                "|---|---:|---:|---:|---:|---:|---:|"]
        for s in table.sups:
            out.append(f"| {s.case} | {s.n_points} | {s.n_batches} | {s.seed} | "
                       f"{s.mean_sd:.3f} | {s.sup_sd:.3f} | {s.seconds:.0f} |")
    return "\n".join(out) + "\n"


def splice_section(text: str, section: str, *, network: bool) -> str:
    """Replace one generated section of the report ``text`` by ``section``, keeping the other
    and the hand-written reading (from :data:`READING_SECTION` to the end, if present).

    The report is: the first section (up to :data:`NETWORK_SECTION`), the real-network section
    (up to :data:`READING_SECTION`), the reading. ``network`` says which section ``section``
    replaces.

    >>> t = "# A\\n" + NETWORK_SECTION + "\\nold\\n" + READING_SECTION + "\\nwords\\n"
    >>> splice_section(t, NETWORK_SECTION + "\\nnew\\n", network=True).split("\\n")[2:4]
    ["## Real networks in the sweeps' regime", 'new']
    >>> splice_section(t, "# B\\n", network=False).split("\\n")[0]
    '# B'
    """
    rest, sep_r, reading = text.partition(READING_SECTION)
    reading = sep_r + reading if sep_r else ""
    head, sep_n, net = rest.partition(NETWORK_SECTION)
    net = sep_n + net if sep_n else ""
    parts = [head, section] if network else [section, net]
    parts.append(reading)
    return "\n\n".join(p.strip("\n") for p in parts if p.strip()) + "\n"


def _provenance() -> dict[str, str]:
    from sharpdim.lab.provenance import device_of, git_commit, package_versions

    info = {"git commit": git_commit(), **package_versions(("numpy", "scipy", "torch"))}
    seen = [device_of(case.make_model()) for case in default_cases()]  # read from the models
    info.update({k: ", ".join(sorted({str(d[k]) for d in seen})) for k in ("device", "dtype")})
    return info


def write_synthetic_section(path: str | os.PathLike = "reports/estimator_convergence.md") -> None:
    """Regenerate the first section (:func:`convergence_table`) into ``path``, keeping the
    real-network section, if any (slow: minutes)."""
    table = convergence_table(progress=False)
    text = render_markdown(table, provenance=_provenance())
    if os.path.exists(path):   # keep the real-network section, if any
        with open(path, encoding="utf-8") as fh:
            text = splice_section(fh.read(), text, network=False)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    print(f"wrote {path} in {table.seconds:.0f} s")


@dataclass(frozen=True)
class NetworkSpec:
    """A catalogue task (``task`` with ``options`` overrides), its training schedule (plain
    SGD at ``lr``, ``train_batch`` examples per step, ``epochs`` epochs, initialization from
    ``init_seed``, minibatch order from ``order_seed``) and its measurement (``batch_size``,
    ``n_steps`` ``m``, ``n_batches`` ``R``, ``seeds``; ``n_points`` late iterates, the last
    ``n_points`` of every ``point_stride`` steps, with ``sup_batches`` minibatches for the exact
    mean against sup; ``n_points = 0`` skips it)."""

    name: str
    task: str
    options: Mapping[str, Any]
    lr: float
    train_batch: int
    epochs: int
    batch_size: int
    n_steps: int
    n_batches: int
    seeds: tuple[int, ...]
    init_seed: int = 0
    order_seed: int = 0
    n_points: int = 0
    point_stride: int = 50
    sup_batches: int = 0


NETWORK_SPECS: tuple[NetworkSpec, ...] = (
    NetworkSpec("mnist1d-1056", "mnist1d_mlp", {}, lr=0.1, train_batch=32, epochs=20,
                batch_size=32, n_steps=40, n_batches=30, seeds=(2026, 2027, 2028),
                n_points=3, point_stride=50, sup_batches=5),
    NetworkSpec("mnist1d-w50-5000", "mnist1d_mlp", {"width": 50}, lr=0.1, train_batch=64,
                epochs=20, batch_size=64, n_steps=40, n_batches=6, seeds=(2026, 2027, 2028)),
    NetworkSpec("fashion-12960", "fashion_mnist_mlp", {}, lr=0.05, train_batch=64, epochs=3,
                batch_size=64, n_steps=100, n_batches=4, seeds=(2026,)),
)


def network_case(spec: NetworkSpec) -> NetworkCase:
    """Train ``spec``'s network (float32, as the sweeps do; the curvature products run in
    float64) and return it as a :class:`NetworkCase` on its
    training split."""
    task = get_task(spec.task)
    options = task.options(dict(spec.options))
    data = task.dataset(options)
    model = task.model(options, spec.init_seed)
    loss_fn = task.loss_for(options)
    keep = spec.point_stride * max(spec.n_points - 1, 0) + 1 if spec.n_points else 0
    result = train(model, data, TrainSettings(lr=spec.lr, batch_size=spec.train_batch,
                                              epochs=spec.epochs, trajectory=keep),
                   loss_fn, seed=spec.order_seed)
    if result.diverged:
        raise RuntimeError(f"{spec.name}: training diverged: {result.divergence}")
    points: tuple[torch.Tensor, ...] = ()
    if spec.n_points:
        traj = result.trajectory
        points = tuple(torch.as_tensor(traj[-1 - k * spec.point_stride]).clone()
                       for k in reversed(range(spec.n_points)))
    n = sum(p.numel() for p in model.parameters())
    description = (
        f"`{spec.task}` {dict(spec.options) or 'defaults'} ({n:,} parameters; "
        f"{data.n_train:,} training examples), trained from init seed {spec.init_seed} with "
        f"plain SGD, lr {spec.lr}, batch {spec.train_batch}, {spec.epochs} epochs "
        f"({result.steps:,} steps, order seed {spec.order_seed}; final train loss "
        f"{result.final_train_loss:.3f}, accuracy {result.final_train_acc:.3f})"
        + (f"; late iterates for the sup: the last {spec.n_points} of every "
           f"{spec.point_stride} steps" if spec.n_points else ""))
    return NetworkCase(spec.name, description, model, loss_fn, (data.x_train, data.y_train),
                       spec.lr, spec.batch_size, spec.n_steps, spec.n_batches, spec.seeds,
                       points, spec.sup_batches)


def network_cases(specs: Sequence[NetworkSpec] = NETWORK_SPECS) -> tuple[NetworkCase, ...]:
    return tuple(network_case(s) for s in specs)


def _network_provenance(cases: Sequence[NetworkCase]) -> dict[str, str]:
    from sharpdim.lab.provenance import device_of, git_commit, package_versions

    info = {"git commit": git_commit(), **package_versions(("numpy", "scipy", "torch"))}
    seen = [device_of(c.model) for c in cases]
    info.update({f"model {k}": ", ".join(sorted({str(d[k]) for d in seen}))
                 for k in ("device", "dtype")})
    info["curvature dtype"] = "float64"
    return info


def write_network_section(path: str | os.PathLike = "reports/estimator_convergence.md") -> None:
    """Regenerate the real-network section (:func:`network_cases`, :func:`network_table`) into
    ``path``, keeping the rest of the report."""
    cases = network_cases()
    table = network_table(cases)
    section = render_network_section(table, provenance=_network_provenance(cases))
    text = ""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(splice_section(text, section, network=True))
    print(f"wrote {path} in {table.seconds:.0f} s")


if __name__ == "__main__":  # pragma: no cover - report generation entry point
    write_synthetic_section(*sys.argv[1:2])
