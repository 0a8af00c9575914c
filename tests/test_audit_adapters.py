"""Adapters for nolds and PyHessian (optional extra ``audit``): their shims make the libraries
run here, are recorded in the report, and leave global state alone. One fast case each; the
full audits live in reports/audits/. Skipped when the library is not installed."""

from __future__ import annotations

import importlib.util
import math
import sys

import numpy as np
import pytest

from sharpdim.testing.auditing import audit

needs_nolds = pytest.mark.skipif(importlib.util.find_spec("nolds") is None,
                                 reason="nolds is not installed (optional extra 'audit')")
needs_pyhessian = pytest.mark.skipif(importlib.util.find_spec("pyhessian") is None,
                                     reason="PyHessian is not installed (optional extra 'audit')")


@needs_nolds
def test_nolds_adapter_imports_nolds_on_this_python_and_says_how():
    from sharpdim.testing.adapters import nolds as adapter

    if sys.version_info < (3, 12):
        (shim,) = adapter.SHIMS
        assert "nolds.datasets" in shim and "is not a package" in shim
    assert adapter.lyap_r_defaults.audit_info.shims == adapter.SHIMS
    import importlib.resources

    assert importlib.resources.files.__module__ != adapter.__name__  # global restored


@needs_nolds
def test_nolds_call_is_reproducible_and_restores_numpy_global_generator():
    from sharpdim.testing.adapters import nolds as adapter

    np.random.seed(123)  # noqa: NPY002 - the state the adapter must hand back
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    series = np.random.default_rng(0).uniform(size=600)
    first = adapter.corr_dim_defaults(series)
    assert np.array_equal(np.random.get_state()[1], before)  # noqa: NPY002
    assert adapter.corr_dim_defaults(series) == first


@needs_nolds
def test_a_nolds_case_yields_a_compared_row_with_its_provenance():
    from sharpdim.testing.adapters import nolds as adapter

    report = audit(adapter.corr_dim_documented, "correlation-dimension", isolation="inline",
                   only=["cantor-N3000"])
    (row,) = report.rows
    assert row.verdict in ("pass", "FAIL") and math.isfinite(row.error)
    assert report.adapter["function"] == "nolds.corr_dim"
    assert report.adapter["settings"] == {"emb_dim": 10, "fit": "poly"}
    assert report.provenance["nolds"] == report.adapter["version"]


@needs_pyhessian
def test_pyhessian_density_runs_through_the_eig_shim_and_is_exact_on_planted_clusters():
    import torch

    from sharpdim.testing.adapters import pyhessian as adapter

    report = audit(adapter.density_defaults, "hessian-spectrum", isolation="inline")
    assert report.quantity == "density" and report.passed, report.to_terminal()
    assert any("torch.eig" in s for s in report.adapter["shims"])
    with pytest.raises(RuntimeError):  # torch itself is not patched
        torch.eig(torch.eye(2), eigenvectors=True)


@needs_pyhessian
def test_pyhessian_power_iteration_returns_the_dominant_negative_eigenvalue():
    from sharpdim.testing.adapters import pyhessian as adapter

    report = audit(adapter.eigenvalues_defaults, "hessian-spectrum", isolation="inline",
                   only=["top1-negative-dominant"])
    (row,) = report.rows
    assert row.verdict == "FAIL" and float(row.returned) < 0  # ≈ −20, not λ_max = 10
