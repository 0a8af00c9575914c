"""Adapters for curvlinops, hessian-eigenthings, neurokit2, scikit-dimension, ripser, GUDHI
and dysts (optional extras 'audit' and 'audit-nodeps'): each runs through the audit and shows
the finding its committed report records; each test is skipped when its library is absent."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest

from sharpdim.testing.auditing import audit


def _needs(module: str, extra: str = "audit"):
    return pytest.mark.skipif(importlib.util.find_spec(module) is None,
                              reason=f"{module} is not installed (optional extra '{extra}')")


@_needs("curvlinops", "audit-nodeps")
def test_curvlinops_eigsh_largest_algebraic_finds_lambda_max_and_largest_magnitude_does_not():
    from sharpdim.testing.adapters import curvlinops as adapter

    la = audit(adapter.eigsh_la, "hessian-spectrum", isolation="inline",
               only=["top1-negative-dominant"])
    lm = audit(adapter.eigsh_lm, "hessian-spectrum", isolation="inline",
               only=["top1-negative-dominant"])
    assert la.passed and la.adapter["library"] == "curvlinops-for-pytorch"
    (row,) = lm.rows
    assert row.verdict == "FAIL" and float(row.returned) == pytest.approx(-20.0, rel=1e-10)


@_needs("hessian_eigenthings")
def test_hessian_eigenthings_lanczos_default_two_steps_return_an_unconverged_lambda_max():
    from sharpdim.testing.adapters import hessian_eigenthings as adapter

    report = audit(adapter.lanczos_defaults, "hessian-spectrum", isolation="inline",
                   only=["top1-gap"])
    (row,) = report.rows
    # default max_iter = min(2k, n − 1) = 2 Lanczos steps for k = 1: far below λ_max = 10
    assert row.verdict == "FAIL" and float(row.returned) < 9.0
    quadrature = audit(adapter.density_quadrature, "hessian-spectrum", isolation="inline")
    assert quadrature.passed  # its raw SLQ quadrature is exact on the planted clusters


@_needs("neurokit2")
def test_neurokit2_makowski_is_within_ten_percent_and_eckmann_defaults_raise():
    from sharpdim.testing.adapters import neurokit2 as adapter

    good = audit(adapter.makowski_defaults, "lyapunov-series", isolation="inline",
                 only=["logistic-r4-N3000"])
    assert good.passed
    bad = audit(adapter.eckmann_defaults, "lyapunov-series", isolation="inline",
                only=["tent-1.5-N3000"])
    (row,) = bad.rows
    assert row.verdict == "raised" and "slice step cannot be zero" in row.detail


@_needs("skdim")
def test_scikit_dimension_corrint_returns_nan_on_a_periodic_orbit():
    from sharpdim.testing.adapters import skdim as adapter

    report = audit(adapter.corrint_defaults, "correlation-dimension", "thorough",
                   isolation="inline", only=["period-5-N3000", "cantor-N3000"])
    verdicts = {r.case: r.verdict for r in report.rows}
    assert verdicts == {"period-5-N3000": "NaN", "cantor-N3000": "pass"}


@_needs("gudhi")
def test_gudhi_h0_deaths_pass_every_exact_case():
    from sharpdim.testing.adapters import gudhi as adapter

    report = audit(adapter.rips_h0_defaults, "persistence-h0", "thorough", isolation="inline")
    assert report.passed, report.to_terminal()


@_needs("ripser")
def test_ripser_h0_deaths_are_exact_only_to_single_precision():
    from sharpdim.testing.adapters import ripser as adapter
    from sharpdim.testing.oracles import get_case

    report = audit(adapter.h0_defaults, "persistence-h0", isolation="inline",
                   only=["grid-3x4", "regular-12-gon"])
    verdicts = {r.case: r.verdict for r in report.rows}
    assert verdicts == {"grid-3x4": "pass", "regular-12-gon": "FAIL"}  # 1.0 is exact in float32
    case = get_case("persistence-h0", "regular-12-gon")
    deaths = adapter.h0_defaults(case.build()["points"])
    np.testing.assert_allclose(deaths, case.expected, rtol=2.0**-23, atol=0)  # float32 ulp


@_needs("dysts", "audit-nodeps")
def test_dysts_henon_spectrum_meets_sprott_and_its_sum_meets_ln_b():
    from sharpdim.testing.adapters import dysts

    row = dysts.spectrum_row("Henon", n_steps=4000, transient=200)
    assert row.error is None and row.orbit == "aperiodic"
    # Sprott's values within 4 batch-means standard errors
    for value, err, published in zip(row.exponents, row.stderr, row.literature, strict=True):
        assert abs(value - published) <= 4 * err
    # Σλ = mean ln|det J| (QR against LU on the same orbit: rounding only), = ln b analytically
    # up to the finite-difference Jacobian error (≈ eps^{2/3} per entry, times 4000 steps' mean)
    assert abs(sum(row.exponents) - row.log_det_mean) <= 1e-10
    assert abs(row.log_det_mean - math.log(0.3)) <= 1e-8


@_needs("dysts", "audit-nodeps")
def test_dysts_gingerbreadman_initial_condition_lies_on_a_period_six_island():
    from sharpdim.testing.adapters import dysts

    row = dysts.spectrum_row("Gingerbreadman", n_steps=3000, transient=100)
    assert row.orbit == "periodic (period 6)"
    assert max(abs(v) for v in row.exponents) < 0.01  # no chaos on the island
    with pytest.raises(ValueError, match="BlinkingVortexMap"):
        dysts.dysts_map("BlinkingVortexMap")


def test_audit_list_shows_every_adapter_module_and_the_map_catalogue():
    from sharpdim.testing.auditing.listing import ADAPTER_MODULES, format_listing, list_adapters

    rows = list_adapters()
    modules = {r.target.split(":")[0].rsplit(".", 1)[-1] for r in rows if ":" in r.target}
    assert modules == set(ADAPTER_MODULES)
    assert any(r.library == "dysts" for r in rows)
    nolds = [r for r in rows if r.library == "nolds"]
    assert nolds and all(r.last_version == "0.6.3" for r in nolds)  # from the committed report
    text = format_listing(rows)
    assert "last run with" in text and "persistence-h0" in text


def test_audit_help_gives_each_kinds_expected_signature(capsys):
    from sharpdim.lab.cli import main
    from sharpdim.vocabulary import AUDIT_KINDS, AUDIT_SIGNATURES

    with pytest.raises(SystemExit):
        main(["audit", "--help"])
    out = capsys.readouterr().out
    for kind in AUDIT_KINDS:
        assert AUDIT_SIGNATURES[kind] in out


def test_audit_list_is_a_command_line_option_and_a_target_is_otherwise_required(capsys):
    import argparse

    from sharpdim.lab.cli import audit as audit_cli

    parser = argparse.ArgumentParser(prog="sharpdim")
    audit_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["audit", "--list"])
    assert args.run(args) == 0
    out = capsys.readouterr().out
    assert "sharpdim.testing.adapters.gudhi:rips_h0_defaults" in out
    assert "python -m sharpdim.lab.reports" in out
    # copy-pasteable: every printed command parses, and names a function of the stated kind
    commands = [line.split()[1:] for line in out.splitlines()
                if line.startswith("  sharpdim audit ")]
    assert len(commands) >= 20
    for argv in commands:
        cmd = parser.parse_args(argv)
        [(fn, kind, _)] = audit_cli._resolve(cmd.target, cmd.kind, cmd.quantity)
        assert callable(fn) and kind == cmd.kind
    args = parser.parse_args(["audit"])
    assert args.run(args) == 2
    assert "give MODULE[:FUNCTION] (or --list)" in capsys.readouterr().err
