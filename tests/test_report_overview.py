"""`sharpdim report --overview`: one page with the Regime section of every report."""

from __future__ import annotations

from pathlib import Path

from sharpdim.lab.reports.overview import regime_lines, render_overview

README = """# demo: a demo sweep

> Generated ...

## Regime

* **below the edge of stability**: 0 of 4 finished runs have η·λ_max ...
* stopping criterion met at the end by 3 of 4 runs.

## Setup

* task `x`
"""


def test_regime_lines_are_exactly_the_bullets_under_the_regime_heading():
    assert regime_lines(README) == [
        "* **below the edge of stability**: 0 of 4 finished runs have η·λ_max ...",
        "* stopping criterion met at the end by 3 of 4 runs."]
    assert regime_lines("# t\n\n## Setup\n\n* a\n") == []


def test_overview_links_each_report_relative_to_the_page_and_keeps_the_order(tmp_path):
    reports = tmp_path / "reports"
    paths = []
    for name in ("b_sweep", "a_sweep"):
        (reports / name).mkdir(parents=True)
        p = reports / name / "README.md"
        p.write_text(README.replace("demo", name), encoding="utf-8")
        paths.append(p)
    (reports / "c").mkdir()
    (reports / "c" / "README.md").write_text("# c: no regime\n\n## Setup\n", encoding="utf-8")
    paths.append(reports / "c" / "README.md")
    page = render_overview(paths, reports / "REGIMES.md")
    assert page.index("## [b_sweep](b_sweep/README.md)") < page.index(
        "## [a_sweep](a_sweep/README.md)")
    assert page.count("0 of 4 finished runs") == 2
    assert "## [c](c/README.md)\n\nThe report has no Regime section." in page


def test_cli_writes_the_overview_beside_the_reports(tmp_path, capsys):
    """End to end on the smallest committed sweep file there is (read only)."""
    import shutil

    import pytest

    from sharpdim.lab.cli import main

    src = Path(__file__).resolve().parents[1] / "reports" / "grokking_relu" / "sweep.sqlite"
    if not src.is_file():
        pytest.skip(f"{src} is not committed")
    work = tmp_path / "grokking_relu"
    work.mkdir()
    shutil.copy(src, work / "sweep.sqlite")
    out = tmp_path / "REGIMES.md"
    assert main(["report", "--resamples", "20", "--overview", str(out),
                 str(work / "sweep.sqlite")]) == 0
    page = out.read_text(encoding="utf-8")
    assert "## [grokking_relu](grokking_relu/README.md)" in page
    assert "checkpoints" in page and "edge of stability" in page


def test_protocol_table_row_reads_the_verdicts_and_controls_of_protocol_json():
    """Oracle: a protocol.json written by hand, every printed number chosen in it."""
    from sharpdim.lab.reports.overview import protocol_row

    doc = {"primary_runs": ["a"] * 12, "excluded_runs": [{"run_id": "z"}] * 3,
           "sd_clusters": [["sd_exact", "sd_sup"], ["sd_slq"]],
           "controls_by_target": {"signed_gen_gap": {
               "heldout_oracle": {"verdict": "held"}, "resolving_power_k": 2.0,
               "null_false_held_rate": 0.01, "can_decide": True}},
           "measures": {"sd_exact": {"signed_gen_gap": {
               "verdict": "did not hold",
               "rule": {"difference": -0.25, "interval": [-0.4, -0.1]}}}}}
    row = protocol_row("demo", "demo/README.md", doc)
    assert row == ("| [demo](demo/README.md) | 12 / 15 | held | 2.0 | 0.010 | yes | "
                   "`sd_exact` did not hold -0.25 [-0.40, -0.10] |")
    undecided = dict(doc, controls_by_target={"signed_gen_gap": {"can_decide": False}})
    assert "| **no** |" in protocol_row("demo", "demo/README.md", undecided)
