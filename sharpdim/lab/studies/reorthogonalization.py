"""The re-orthogonalization study: the SD error of each Lanczos re-orthogonalization mode
(``"full"``, ``"partial"``, ``"none"``), the data behind
:data:`~sharpdim.curvature.slq.DEFAULT_REORTHOGONALIZATION`.

Its table is the ``### Re-orthogonalization`` subsection of the curvature section of
``reports/benchmarks.md``, regenerated with that section by ``sharpdim bench curvature`` (which
runs :func:`reorthogonalization_study` through ``bench_curvature(reorth_study=...)`` and renders
it with :func:`render_reorthogonalization_markdown`); ``sharpdim study reorthogonalization``
runs the study alone and prints the table (written only where ``--output DIR`` says).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from sharpdim.curvature.slq import DEFAULT_REORTHOGONALIZATION
from sharpdim.dimension import sharpness_dimension
from sharpdim.estimators.density import DEFAULT_EPSILON
from sharpdim.estimators.estimate import estimate_sharpness
from sharpdim.estimators.options import EstimateOptions
from sharpdim.lab.bench.curvature import SMALL_WIDTHS, _clock, mlp, synthetic_classification
from sharpdim.lab.bench.markdown import table_row
from sharpdim.lab.studies.estimator_convergence import (
    _exact_profiles,
    default_cases,
    slq_estimate,
)
from sharpdim.vocabulary import REORTHOGONALIZATIONS

__all__ = ["reorthogonalization_study", "render_reorthogonalization_markdown"]


def reorthogonalization_study(*, n_runs: int = 32, n_seeds: int = 8, base_seed: int = 2026,
                              network_seeds: int = 4, network_runs: int = 16,
                              network_steps: int = 100, x=None, y=None) -> list[dict]:
    """SD error of each re-orthogonalization mode, the data behind
    :data:`~sharpdim.curvature.slq.DEFAULT_REORTHOGONALIZATION`.

    On the convergence-table spectra
    (:func:`sharpdim.lab.studies.estimator_convergence.default_cases`, every Lanczos length
    ``m`` of each case, ``R = n_runs`` runs, seeds ``base_seed + k``): the RMSE of SD-SLQ
    against the exact pooled SD of the same minibatches, for ``"full"``, ``"partial"`` and
    ``"none"``, and the paired RMS difference of each mode's SD from ``"full"`` (same
    minibatches and probes). On the 13k MLP at initialization (``m ≪ N``, float32 and float64,
    ``network_runs`` runs, ``η = 0.1``), where no exact SD is at hand, the paired differences of
    SD and ``λ_1`` from ``"full"``. The statistical error each difference is judged against is
    the standard deviation of the ``"full"`` estimate over
    the seeds; ``within`` says whether every mode's paired difference is below it."""
    modes = REORTHOGONALIZATIONS
    clock = _clock(torch.device("cpu"))
    out = []
    seeds = [base_seed + k for k in range(n_seeds)]
    for case in default_cases():
        model = case.make_model()
        for m in case.steps:
            est = {mode: [] for mode in modes}
            secs = dict.fromkeys(modes, 0.0)
            refs = []
            for s in seeds:
                z = _exact_profiles(case, model, s, n_runs, DEFAULT_EPSILON, "clamp")
                refs.append(sharpness_dimension(z.ravel(), np.full(z.size, 1 / n_runs)))
                for mode in modes:
                    t0 = clock()
                    e = slq_estimate(case, model, seed=s, n_batches=n_runs, n_steps=m,
                                     reorthogonalization=mode, progress=False)
                    secs[mode] += clock() - t0
                    est[mode].append(e.dimension)
            out.append(_study_row(case.name, m, "float64", n_runs, est, np.array(refs), None,
                                  secs))
    if x is None:
        x, y = synthetic_classification(4000, seed=0)
    model = mlp(SMALL_WIDTHS, seed=0)
    for dtype in (torch.float32, torch.float64):
        est = {mode: [] for mode in modes}
        lam = {mode: [] for mode in modes}
        secs = dict.fromkeys(modes, 0.0)
        for s in range(base_seed, base_seed + network_seeds):
            for mode in modes:
                t0 = clock()
                e = estimate_sharpness(model, F.cross_entropy, (x, y), lr=0.1, batch_size=128,
                                       method="slq", n_batches=network_runs, seed=s,
                                       options=EstimateOptions(
                                           n_steps=network_steps, dtype=dtype,
                                           reorthogonalization=mode, progress=False))
                secs[mode] += clock() - t0
                est[mode].append(e.dimension)
                lam[mode].append(e.lambda_1)
        out.append(_study_row("13k MLP (init)", network_steps, str(dtype).removeprefix("torch."),
                              network_runs, est, None, lam, secs))
    return out


def _study_row(case, m, dtype, runs, est, refs, lam, secs) -> dict:
    full = np.array(est["full"])
    spread = float(full.std(ddof=1))
    row = dict(case=case, m=m, dtype=dtype, runs=runs, seeds=len(full), sd_spread=spread,
               seconds={k: float(v) for k, v in secs.items()})
    for mode, values in est.items():
        v = np.array(values)
        row[f"paired_{mode}"] = float(np.sqrt(((v - full) ** 2).mean()))
        row[f"rmse_{mode}"] = (None if refs is None
                               else float(np.sqrt(((v - refs) ** 2).mean())))
        if lam is not None:
            lf = np.array(lam["full"])
            row[f"lambda_paired_{mode}"] = float(np.sqrt(((np.array(lam[mode]) - lf) ** 2).mean()))
            row["lambda_spread"] = float(lf.std(ddof=1))
    row["within"] = all(row[f"paired_{m_}"] <= spread for m_ in est)
    return row


def render_reorthogonalization_markdown(study: list[dict]) -> list[str]:
    """The study's table (lines), the ``### Re-orthogonalization`` subsection of the curvature
    section of ``reports/benchmarks.md``."""
    def f(v):
        return "—" if v is None else f"{v:.3g}"

    lines = [
        "", "### Re-orthogonalization: SD error of each mode (the data behind the default)", "",
        f"Default: `{DEFAULT_REORTHOGONALIZATION}` (`sharpdim.curvature.slq."
        "DEFAULT_REORTHOGONALIZATION`). Rule: a mode may be the default when, on every row, "
        "its SD differs from the fully re-orthogonalized SD of the same minibatches and probes "
        "(paired RMS over the seeds) by less than the estimator's own statistical error, the "
        "standard deviation of the SD over seeds; among those, the cheapest. RMSE is against "
        "the exact pooled SD of the same minibatches (convergence-table spectra, float64); the "
        "13k rows (m ≪ N) have no exact SD and compare with `full` only (SD, and λ₁ in "
        "brackets). Seconds: all seeds of the row.",
        "", "| case | m | dtype | R | seeds | SD spread (sd over seeds) | RMSE full | RMSE "
        "partial | RMSE none | paired partial − full | paired none − full | within | "
        "seconds full / partial / none |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :-: | --- |",
    ]
    for r in study:
        pp, pn = f(r["paired_partial"]), f(r["paired_none"])
        spread = f(r["sd_spread"])
        if "lambda_spread" in r:
            pp += f" [{f(r['lambda_paired_partial'])}]"
            pn += f" [{f(r['lambda_paired_none'])}]"
            spread += f" [{f(r['lambda_spread'])}]"
        secs = " / ".join(f"{r['seconds'][m]:.1f}" for m in REORTHOGONALIZATIONS)
        lines.append(table_row(r["case"], r["m"], r["dtype"], r["runs"], r["seeds"], spread,
                               f(r["rmse_full"]), f(r["rmse_partial"]), f(r["rmse_none"]), pp,
                               pn, "yes" if r["within"] else "no", secs))
    return lines
