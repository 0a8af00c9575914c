"""The dysts map catalogue checked with sharpdim: ``reports/audits/dysts_maps.md`` (+ ``.json``).

    sharpdim study dysts_maps                     # rewrites reports/audits/dysts_maps.md
    python -m sharpdim.lab.studies.dysts_maps PATH   # the same, into PATH

Every wrapped ``dysts.maps`` class (:mod:`sharpdim.testing.adapters.dysts`) from dysts' own
parameters and initial condition, plus the logistic map at ``r = 4`` (the published form);
per map: the QR spectrum with batch-means standard errors, ``Σλ − mean ln|det J|`` (LU, same
orbit), the analytic ``ln|det J|`` where constant, closed forms and published values where
they exist, and the orbit's classification. The generated file keeps a hand-written reading
outside its ``<!-- table -->`` markers.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

from sharpdim._markdown import marked_block, replace_marked

__all__ = ["COMMAND", "N_STEPS", "TRANSIENT", "EXTRA", "rows", "table", "notes", "render",
           "write", "main"]

#: The command that regenerates the committed report, as the report names it.
COMMAND = "sharpdim study dysts_maps"

N_STEPS = 20000
TRANSIENT = 1000
#: Extra rows at published parameters that differ from dysts' defaults.
EXTRA = (("Logistic", {"r": 4.0}),)


def _fmt(values, stderr=None) -> str:
    if values is None:
        return "–"
    if stderr is None:
        return ", ".join(f"{v:.5f}" for v in values)
    return ", ".join(f"{v:.5f} ± {s:.5f}" for v, s in zip(values, stderr, strict=True))


def _deviation(row) -> str:
    """Largest |λ − reference| (against literature, else closed form), absolute and in
    batch-means standard errors (meaningless where the Jacobian is constant and the standard
    error is rounding: then the absolute value is the finite-difference error)."""
    ref = row.literature if row.literature is not None else row.closed_form
    if ref is None or row.exponents is None:
        return "–"
    worst, worst_sigma = 0.0, 0.0
    for v, s, r in zip(row.exponents, row.stderr, ref, strict=True):
        worst = max(worst, abs(v - r))
        worst_sigma = max(worst_sigma, abs(v - r) / s if s > 0 else
                          (0.0 if v == r else float("inf")))
    return f"{worst:.1e} ({worst_sigma:.1f} σ)"


def rows():
    from sharpdim.testing.adapters import dysts

    out = [dysts.spectrum_row(name, n_steps=N_STEPS, transient=TRANSIENT)
           for name in dysts.map_names()]
    out += [dysts.spectrum_row(name, n_steps=N_STEPS, transient=TRANSIENT, parameters=p)
            for name, p in EXTRA]
    return out


def table(results) -> str:
    lines = ["| map | parameters | orbit from dysts' initial condition | exponents (QR) ± "
             "stderr | Σλ − mean ln\\|det J\\| | analytic ln\\|det J\\| | closed form | "
             "literature | deviation | one-sided FD columns |",
             "|---|---|---|---|---:|---:|---|---|---:|---:|"]
    for r in results:
        params = ", ".join(f"{k} = {v:g}" for k, v in r.parameters.items()) or "–"
        if r.error:
            lines.append(f"| {r.name} | {params} | {r.orbit} | **no spectrum**: "
                         f"{r.error.replace('|', '/')} | – | – | {_fmt(r.closed_form)} | "
                         f"{_fmt(r.literature)} | – | {r.kinks} |")
            continue
        identity = sum(r.exponents) - r.log_det_mean
        analytic = "–" if r.analytic_log_det is None else f"{r.analytic_log_det:.5f}"
        lines.append(f"| {r.name} | {params} | {r.orbit} | {_fmt(r.exponents, r.stderr)} | "
                     f"{identity:.1e} | {analytic} | {_fmt(r.closed_form)} | "
                     f"{_fmt(r.literature)} | {_deviation(r)} | {r.kinks} |")
    return "\n".join(lines)


def notes(results) -> str:
    from sharpdim.testing.adapters import dysts

    lines = ["Sources and derivations:", ""]
    for r in results:
        parts = [t for t in (r.literature_text and f"literature: {r.literature_text}",
                             r.closed_form_text and f"closed form: {r.closed_form_text}",
                             r.analytic_log_det_text and f"ln|det J|: "
                             f"{r.analytic_log_det_text}") if t]
        if r.analytic_log_det is not None and r.log_det_mean is not None:
            parts.append(f"mean ln|det J| along the orbit (finite differences) − analytic = "
                         f"{r.log_det_mean - r.analytic_log_det:.1e}")
        if parts:
            lines.append(f"* **{r.name}** ({r.parameters}): " + "; ".join(parts).replace(
                "|", "\\|") + ".")
    for name, why in dysts.EXCLUDED.items():
        lines.append(f"* **{name}** is not wrapped: {why}.")
    return "\n".join(lines)


def render(results, provenance: dict) -> str:
    """The generated block, between its ``table`` markers."""
    return marked_block("table", _body(results, provenance))


def _body(results, provenance: dict) -> str:
    from sharpdim.testing.adapters import dysts

    prov = "; ".join(f"{k} {v}" for k, v in provenance.items())
    return "\n".join([
        f"Generated by `{COMMAND}` ({len(results)} rows; "
        f"{N_STEPS} averaged steps after {TRANSIENT} transient steps, QR seed 0). "
        f"Provenance: {prov}.",
        "",
        *(f"Shim: {s}" for s in dysts.SHIMS),
        "",
        table(results), "", notes(results), ""])


def write(path: Path) -> None:
    from sharpdim.lab.reports.provenance import git_commit, package_versions

    results = rows()
    provenance = {"commit": git_commit(), **package_versions(("numpy", "scipy", "dysts"))}
    block = render(results, provenance)
    if path.exists():
        text = path.read_text()
        text = replace_marked(text, "table", _body(results, provenance), append=False)
    else:
        text = ("# dysts' discrete maps, checked with sharpdim\n\n"
                f"Regenerate: `{COMMAND}` (module `sharpdim.lab.studies.dysts_maps`); the "
                "text outside the table markers is hand-written.\n\n" + block + "\n")
    path.write_text(text)
    data = {"generated_by": COMMAND, "provenance": provenance,
            "n_steps": N_STEPS, "transient": TRANSIENT,
            "rows": [asdict(r) for r in results]}
    path.with_suffix(".json").write_text(json.dumps(data, indent=2, default=str) + "\n")


def main(argv: list[str] | None = None) -> int:
    """``python -m sharpdim.lab.studies.dysts_maps [PATH]``: :func:`write` to ``PATH``
    (default ``reports/audits/dysts_maps.md``)."""
    argv = sys.argv[1:] if argv is None else argv
    write(Path(argv[0] if argv else "reports/audits/dysts_maps.md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
