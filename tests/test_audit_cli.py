"""``sharpdim audit``: a user's own function, an adapter module's AUDITS list, reports, exit
statuses."""

from __future__ import annotations

import argparse
import json
import textwrap

from sharpdim.lab.cli import audit as audit_cli


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sharpdim")
    audit_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["audit", *argv])
    return args.run(args)


def test_audit_of_a_users_function_in_the_current_directory(tmp_path, monkeypatch, capsys):
    (tmp_path / "my_estimators.py").write_text(textwrap.dedent("""
        import numpy as np

        def unsorted_ky(exponents):  # forgets to sort
            lam = np.asarray(exponents, dtype=float)
            s = np.cumsum(lam)
            if lam[0] < 0:
                return 0.0
            j = int(np.flatnonzero(s >= 0)[-1]) + 1
            return float(j) if j == lam.size else j + s[j - 1] / abs(lam[j])
    """))
    monkeypatch.chdir(tmp_path)
    status = _run(["my_estimators:unsorted_ky", "--kind", "dimension", "--json",
                   "--isolation", "thread"])
    data = json.loads(capsys.readouterr().out)
    assert status == 1 and data["passed"] is False
    failed = {r["case"] for r in data["rows"] if not r["passed"]}
    assert failed == {"unsorted-input", "five-unsorted"}


def test_module_form_runs_its_audits_and_writes_markdown_and_json(tmp_path, capsys):
    report = tmp_path / "audits" / "reference.md"
    status = _run(["sharpdim.testing.adapters.reference", "--kind", "dimension",
                   "--isolation", "inline", "--report", str(report)])
    assert status == 0
    text = report.read_text()
    assert "sharpdim.kaplan_yorke_dimension" in text and "| flat-direction |" in text
    assert "**PASS** — 8 of 8 cases passed" in text and "* provenance: commit " in text
    audits = json.loads(report.with_suffix(".json").read_text())["audits"]
    (entry,) = audits.values()
    assert entry["passed"] and entry["kind"] == "dimension"
    assert set(entry["provenance"]) >= {"commit", "python", "numpy", "sharpdim"}
    assert "8 of 8 cases passed: PASS" in capsys.readouterr().out


def test_usage_errors_exit_with_status_2(capsys):
    assert _run(["sharpdim.testing.adapters.reference:kaplan_yorke"]) == 2
    assert "--kind is required" in capsys.readouterr().err
    assert _run(["no_such_module_xyz:f", "--kind", "dimension"]) == 2
    assert _run(["sharpdim.testing.adapters.reference", "--kind", "lyapunov-series"]) == 2


def test_the_subcommand_is_wired_into_the_sharpdim_command(capsys):
    from sharpdim.lab.cli import main

    status = main(["audit", "sharpdim.lab.stats:kendall_tau", "--kind", "kendall",
                   "--isolation", "inline", "--case", "ties-in-x"])
    assert status == 0 and "1 of 1 cases passed: PASS" in capsys.readouterr().out
