"""`sharpdim report --claims`: every claim of the paper with each report's verdict. Oracles:
report folders written by hand, every verdict and number on the page chosen in them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from sharpdim.lab.reports.claims_page import (
    CLAIMS,
    bound_verdict,
    claims_table_rows,
    dky_verdict,
    protocol_verdict,
    render_claims,
    sweep_facts,
)

_SEED_CLAIM = "SD/λ₁ jump with test accuracy, trace/top eigenvalue decay smoothly"
README = "\n".join([
    "# {name}: a sweep", "", "## Regime", "",
    "* **at the edge of stability** by the full-batch criterion: 3 of 4 runs.", "",
    "## The paper's claims (docs/theory.md §6) beside ours", "",
    "| claim | paper | rule | our numbers | verdict |", "|---|---|---|---|---|",
    "| SD has the strongest Kendall correlation with the generalization gap | p | τ \\| rule "
    "| τ(sd_exact) = +0.10 | **did not hold** |",
    "| λ₁ alone is weakly negatively correlated with the generalization gap | p | r "
    "| τ(lambda_1) = -0.10 | held |",
    f"| {_SEED_CLAIM} (seed 0) | p | r | e0 | held |",
    f"| {_SEED_CLAIM} (seed 1) | p | r | e1 | did not hold |", "", "## Figures", ""])

PROTOCOL = {"primary_runs": ["a", "b", "c"], "excluded_runs": [{"run_id": "d"}],
            "sd_clusters": [["sd_exact"], ["sd_slq"]],
            "controls_by_target": {"signed_gen_gap": {
                "heldout_oracle": {"verdict": "held"}, "null_false_held_rate": 0.005,
                "can_decide": True}},
            "measures": {
                "sd_exact": {"signed_gen_gap": {"verdict": "did not hold", "rule": {
                    "difference": -0.5, "interval": [-0.9, -0.1]}}},
                "sd_slq": {"signed_gen_gap": {"verdict": "tie", "rule": {
                    "difference": -0.1, "interval": [-0.3, +0.2]}}}}}


def _report(root: Path, name: str, rows: list[dict], protocol: dict | None = None) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "README.md").write_text(README.format(name=name), encoding="utf-8")
    if protocol is not None:
        (folder / "protocol.json").write_text(json.dumps(protocol), encoding="utf-8")
    with open(folder / "results.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=sorted({k for r in rows for k in r}))
        w.writeheader()
        w.writerows(rows)
    return folder / "README.md"


RUNS = [  # 4 finished runs: 2 at the EoS at the end, 3 converged; bound/gap ≥ 1 except one
    {"status": "finished", "eta_lambda_max": 2.1, "eos_threshold": 2.0, "converged": 1,
     "bound_vacuous_factor": 5.0, "bound_value": 3.0, "bound_B": 1.0},
    {"status": "finished", "eta_lambda_max": 2.0, "eos_threshold": 2.0, "converged": 1,
     "bound_vacuous_factor": 2.0, "bound_value": 0.5, "bound_B": 1.0},
    {"status": "finished", "eta_lambda_max": 1.5, "eos_threshold": 2.0, "converged": 1,
     "bound_vacuous_factor": 0.5, "bound_value": 0.2, "bound_B": 1.0},
    {"status": "finished", "eta_lambda_max": 0.5, "eos_threshold": 2.0, "converged": 0,
     "bound_vacuous_factor": 7.0, "bound_value": 2.0, "bound_B": 1.0},
    {"status": "failed", "eta_lambda_max": 9.0, "eos_threshold": 2.0, "converged": 1},
]


def test_the_claims_table_is_read_row_by_row_with_escaped_pipes_and_bold_removed():
    rows = claims_table_rows(README.format(name="x"))
    assert rows[0] == ("SD has the strongest Kendall correlation with the generalization gap",
                       "τ(sd_exact) = +0.10", "did not hold")
    assert [r[2] for r in rows] == ["did not hold", "held", "held", "did not hold"]
    assert claims_table_rows("# x\n\n## Setup\n") == []


def test_sweep_facts_count_the_regime_from_results_csv(tmp_path):
    f = sweep_facts(_report(tmp_path, "s", RUNS, PROTOCOL), tmp_path / "CLAIMS.md")
    # by hand: finished runs 4; η·λ_max ≥ threshold: 2.1 and 2.0; converged: three 1s
    assert (f.n_runs, f.at_eos_end, f.converged, f.n_primary) == (4, 2, 3, 3)
    assert (f.regime, f.heldout, f.null_rate, f.decides) == (
        "at the edge of stability", "held", 0.005, True)
    assert f.link == "s/README.md"


def test_the_protocol_row_takes_the_most_favourable_sd_variant_and_lists_each(tmp_path):
    f = sweep_facts(_report(tmp_path, "s", RUNS, PROTOCOL), tmp_path / "CLAIMS.md")
    verdict, evidence = protocol_verdict(f)
    assert verdict == "tie"   # tie beats did not hold
    assert evidence == ("`sd_exact` did not hold d = -0.50 [-0.90, -0.10]; "
                        "`sd_slq` tie d = -0.10 [-0.30, +0.20]")
    bare = sweep_facts(_report(tmp_path, "t", RUNS), tmp_path / "CLAIMS.md")
    assert protocol_verdict(bare) == ("not tested", "no protocol")


def test_a_bound_below_the_gap_is_no_counterexample_and_says_cannot_decide(tmp_path):
    f = sweep_facts(_report(tmp_path, "s", RUNS, PROTOCOL), tmp_path / "CLAIMS.md")
    verdict, evidence = bound_verdict(f)
    # factors 5, 2, 0.5, 7: one below 1; median (2 + 5)/2 = 3.5; bound ≥ B in 2 runs (3.0, 2.0)
    assert verdict == "cannot decide"
    assert evidence.startswith("bound / gap 0.5–7 (median 3.5) over 4 runs; "
                               "at or above B (vacuous) in 2; below the gap in 1")
    fine = [dict(r, bound_vacuous_factor=3.0) for r in RUNS[:4]]
    assert bound_verdict(sweep_facts(_report(tmp_path, "u", fine), tmp_path / "CLAIMS.md"))[0] == \
        "held"


def test_dky_rule_is_the_trajectory_reports_two_standard_error_rule(tmp_path):
    rows = [  # se = max(1e-6, 2·hypot(se_dky, se_sd))
        {"d_ky": 1.0, "sd_sup": 1.5, "d_ky_stderr": 0.1, "sd_sup_stderr": 0.0},   # 0.5 > 0.2
        {"d_ky": 1.0, "sd_sup": 1.1, "d_ky_stderr": 0.1, "sd_sup_stderr": 0.0},   # tight
        {"d_ky": 2.0, "sd_sup": 1.0, "d_ky_stderr": 0.0, "sd_sup_stderr": 0.0},   # below
        {"d_ky": 9.0, "sd_sup": 0.0, "d_ky_stderr": 0.0, "sd_sup_stderr": 0.0,
         "diverged": "True"},                                                     # left out
    ]
    f = sweep_facts(_report(tmp_path, "lyap", rows), tmp_path / "CLAIMS.md")
    assert dky_verdict(f) == ("partly held", "strict 1, tight 1, below 1 of 3 runs (sup form)")
    held = sweep_facts(_report(tmp_path, "l2", rows[:2]), tmp_path / "CLAIMS.md")
    assert dky_verdict(held)[0] == "held"


def test_the_page_gives_every_claim_a_verdict_for_every_sweep(tmp_path):
    a = _report(tmp_path, "a_sweep", RUNS, PROTOCOL)
    b = _report(tmp_path, "b_sweep", RUNS[:2])
    page = render_claims([a, b], tmp_path / "CLAIMS.md", commit="abc123")
    verdict_rows = [line for line in page.splitlines()
                    if line.startswith(("| Fig.", "| Thm", "| App."))]
    assert len(verdict_rows) == len(CLAIMS)
    assert all(line.count("|") == 5 for line in verdict_rows)   # figure, claim, 2 sweeps
    assert "| Fig. 2 | SD has the strongest plain Kendall τ of all measures | " \
           "**did not hold** | **did not hold** |" in page
    # grokking-style rows per seed: held once and did not hold once → partly held
    assert "| Fig. 4 | SD and λ₁ jump with test accuracy; trace and top eigenvalue decay " \
           "smoothly | partly held | partly held |" in page
    assert "Code at commit `abc123`." in page
    assert "[a_sweep](a_sweep/README.md) | at the edge of stability; η·λ_max ≥ 2(1+β) at " \
           "the end: 2/4; converged 3/4 | 4 / 3 | held | 0.005 | yes |" in page


def test_cli_pages_only_rewrites_the_pages_from_existing_reports(tmp_path, capsys):
    from sharpdim.lab.cli import main

    readme = _report(tmp_path, "a_sweep", RUNS, PROTOCOL)
    extra = _report(tmp_path, "lyap", RUNS[:1])
    (readme.parent / "sweep.sqlite").write_bytes(b"")   # never opened with --pages-only
    out = tmp_path / "CLAIMS.md"
    # --extra before the sweep files, as the Makefile writes it: it takes one folder
    assert main(["report", "--pages-only", "--claims", str(out), "--extra", str(extra.parent),
                 str(readme.parent / "sweep.sqlite")]) == 0
    page = out.read_text(encoding="utf-8")
    assert "[a_sweep](a_sweep/README.md)" in page and "[lyap](lyap/README.md)" in page
    assert main(["report", "--pages-only", str(readme.parent / "sweep.sqlite")]) == 2
    assert "--pages-only needs --overview or --claims" in capsys.readouterr().err


@pytest.mark.parametrize("missing", ["report", "extra"])
def test_cli_pages_only_names_a_missing_report(tmp_path, missing, capsys):
    from sharpdim.lab.cli import main

    readme = _report(tmp_path, "a_sweep", RUNS, PROTOCOL)
    argv = ["report", "--pages-only", "--claims", str(tmp_path / "CLAIMS.md")]
    if missing == "report":
        argv.append(str(tmp_path / "nowhere" / "sweep.sqlite"))
        want = "--pages-only needs the report"
    else:
        argv += [str(readme.parent / "sweep.sqlite"), "--extra", str(tmp_path / "nowhere")]
        want = "--extra"
    assert main(argv) == 2
    assert want in capsys.readouterr().err
