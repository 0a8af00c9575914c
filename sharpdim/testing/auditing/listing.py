"""What can be audited, and what the committed audits last found: ``sharpdim audit --list``.

Each adapter module of :data:`ADAPTER_MODULES` lists ``(function, kind, quantity)`` in its
``AUDITS``; its committed report is ``reports/audits/<module>.json`` (written by ``sharpdim
audit MODULE --report reports/audits/<module>.md``), whose entries record the library version,
profile and verdict of the last run. A module whose library is not installed is listed from its
committed report alone (its entries say ``not installed``). The dysts map catalogue is not an
audit kind; its report's provenance gives the version it was last run with.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

__all__ = ["ADAPTER_MODULES", "ListedAdapter", "list_adapters", "format_listing"]

#: Adapter module (under ``sharpdim.testing.adapters``) → the library's distribution name.
ADAPTER_MODULES = {
    "reference": "sharpdim",
    "nolds": "nolds",
    "pyhessian": "pyhessian",
    "curvlinops": "curvlinops-for-pytorch",
    "hessian_eigenthings": "hessian-eigenthings",
    "neurokit2": "neurokit2",
    "skdim": "scikit-dimension",
    "ripser": "ripser",
    "gudhi": "gudhi",
}


@dataclass(frozen=True)
class ListedAdapter:
    """One auditable function: ``target`` (``MODULE:FUNCTION``), ``kind``, ``quantity``,
    ``library``, ``installed`` (version here, or ``not installed``), ``last_version`` /
    ``last_result`` / ``report`` from the committed report (``None`` when never committed)."""

    target: str
    kind: str
    quantity: str | None
    library: str
    installed: str
    last_version: str | None
    last_result: str | None
    report: str | None


def _installed(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _committed(path: Path) -> dict[tuple[str, str, str | None], dict]:
    if not path.exists():
        return {}
    audits = json.loads(path.read_text()).get("audits", {})
    return {(a["estimator"], a["kind"], a.get("quantity")): a for a in audits.values()}


def _default_reports() -> Path:
    """``reports/audits`` of the current directory, else of the checkout holding sharpdim."""
    here = Path("reports/audits")
    return here if here.is_dir() else Path(__file__).resolve().parents[3] / "reports" / "audits"


def list_adapters(reports: Path | None = None) -> list[ListedAdapter]:
    """Every adapter entry, with the committed report's last version and result (reports from
    ``reports``, default :func:`_default_reports`)."""
    reports = _default_reports() if reports is None else Path(reports)
    out = []
    for module, distribution in ADAPTER_MODULES.items():
        name = f"sharpdim.testing.adapters.{module}"
        path = reports / f"{module}.json"
        committed = _committed(path)
        try:
            entries = [(f"{name}:{fn}", kind, q)
                       for fn, kind, q in importlib.import_module(name).AUDITS]
        except ImportError:
            entries = sorted(committed)
        for target, kind, quantity in entries:
            last = committed.get((target, kind, quantity))
            out.append(ListedAdapter(
                target=target, kind=kind, quantity=quantity, library=distribution,
                installed=_installed(distribution),
                last_version=None if last is None else (last.get("adapter") or {}).get(
                    "version"),
                last_result=None if last is None else
                f"{last['n_passed']}/{last['n_cases']} passed ({last['profile']})",
                report=None if last is None else str(path.with_suffix(".md"))))
    catalogue = reports / "dysts_maps.json"
    version = None
    if catalogue.exists():
        version = json.loads(catalogue.read_text()).get("provenance", {}).get("dysts")
    out.append(ListedAdapter(
        target="python -m sharpdim.lab.reports.dysts_maps", kind="map catalogue (not a kind)",
        quantity=None, library="dysts", installed=_installed("dysts"), last_version=version,
        last_result=None if version is None else "table of spectra",
        report=str(catalogue.with_suffix(".md")) if version else None))
    return out


def format_listing(rows: list[ListedAdapter]) -> str:
    """A plain-text table of :func:`list_adapters` (full targets), then the command that
    audits each adapter, ready to copy."""
    header = ("adapter", "kind", "library", "installed", "last run with", "last result")
    cells = [(r.target,
              r.kind + (f" ({r.quantity})" if r.quantity else ""), r.library, r.installed,
              r.last_version or "–", r.last_result or "never committed") for r in rows]
    widths = [max(len(str(c[i])) for c in [header, *cells]) for i in range(len(header))]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True))
              for row in cells]
    lines += ["", "commands:"]
    lines += [f"  {audit_command(r)}" for r in rows]
    return "\n".join(lines)


def audit_command(row: ListedAdapter) -> str:
    """The shell command that audits ``row`` (its own command for non-kind entries)."""
    if row.target.startswith("python "):
        return row.target
    return (f"sharpdim audit {row.target} --kind {row.kind}"
            + (f" --quantity {row.quantity}" if row.quantity else ""))
