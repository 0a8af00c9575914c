"""The curvature benchmark's building blocks (sizes, the torch.eig patch, the report)."""

from __future__ import annotations

import numpy as np
import torch

from sharpdim.lab.bench.curvature import (
    EXACT_WIDTHS,
    LARGE_WIDTHS,
    SMALL_WIDTHS,
    _eig_shim,
    _patched_torch_eig,
    bench_curvature,
    mlp,
    render_curvature_markdown,
    reorthogonalization_study,
    synthetic_classification,
)


def _count(widths) -> int:
    return sum(a * b for a, b in zip(widths[:-1], widths[1:], strict=True))  # no bias


def test_benchmark_models_have_the_advertised_sizes():
    assert _count(SMALL_WIDTHS) == 13_064 and _count(LARGE_WIDTHS) == 279_477
    assert {k: _count(w) for k, w in EXACT_WIDTHS.items()} == {"1k": 1_056, "5k": 5_000,
                                                              "13k": 13_064}
    model = mlp(SMALL_WIDTHS, seed=0)
    assert sum(p.numel() for p in model.parameters()) == 13_064


def test_synthetic_data_is_seeded_and_shaped_like_mnist1d():
    x1, y1 = synthetic_classification(50, seed=3)
    x2, y2 = synthetic_classification(50, seed=3)
    assert x1.shape == (50, 40) and set(y1.tolist()) <= set(range(10))
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not torch.equal(x1, synthetic_classification(50, seed=4)[0])


def test_eig_shim_returns_torch_eig_layout_with_the_symmetric_spectrum():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(6), rng.standard_normal(5)
    T = np.diag(a) + np.diag(b, 1) + np.diag(b, -1)
    pairs, vecs = _eig_shim(torch.tensor(T), eigenvectors=True)
    w, V = np.linalg.eigh(T)
    assert pairs.shape == (6, 2) and torch.all(pairs[:, 1] == 0)
    assert np.allclose(pairs[:, 0].numpy(), w, atol=1e-12)
    assert np.allclose(np.abs(vecs.numpy()[0]), np.abs(V[0]), atol=1e-12)  # PyHessian's weights


def test_patched_torch_eig_is_restored_after_the_block():
    before = getattr(torch, "eig", None)
    with _patched_torch_eig():
        assert torch.eig is _eig_shim
    assert getattr(torch, "eig", None) is before


def test_a_tiny_benchmark_run_renders_every_section():
    result = bench_curvature(models=(), exact_sizes=("1k",), repeats=1, reorth_study=False)
    text = render_curvature_markdown(result)
    assert "### Exact path" in text and "| 1k | Hessian build |" in text
    assert "torch.eig" in text  # the PyHessian patch is always disclosed
    build = next(r for r in result.rows if r.quantity == "Hessian build")
    assert build.value > 0 and result.provenance["torch"] == torch.__version__


def test_exact_rows_state_build_over_hvps_and_the_float32_sd_error():
    result = bench_curvature(models=(), exact_sizes=("1k",), eigh_sizes=("1k",), repeats=1,
                             reorth_study=False)
    q = {r.quantity: r for r in result.rows}
    assert q["Hessian build ÷ N single HVPs (float64)"].value > 0
    assert q["exact SD of one minibatch ÷ eigvalsh alone"].value >= 1  # it includes eigvalsh
    # float32 eigenvalues of a 1k Hessian: error ≲ N·eps32 relative (backward-stable eigh)
    assert q["float32 option: max|Δα| ÷ max|α|"].value <= 1_056 * np.finfo(np.float32).eps


def test_reorthogonalization_study_compares_every_mode_with_full_on_the_same_probes():
    study = reorthogonalization_study(
        n_runs=2, n_seeds=2, network_seeds=2, network_runs=1, network_steps=3)
    assert {r["case"] for r in study} >= {"planted-dense-24", "13k MLP (init)"}
    for r in study:
        assert r["paired_full"] == 0.0  # full against itself, same minibatches and probes
        # identity (Minkowski): RMS errors against the exact SD differ by at most the RMS
        # of the paired differences, |rmse_mode − rmse_full| ≤ paired_mode
        for mode in ("partial", "none"):
            if r["rmse_full"] is not None:
                assert abs(r[f"rmse_{mode}"] - r["rmse_full"]) <= r[f"paired_{mode}"] + 1e-12

