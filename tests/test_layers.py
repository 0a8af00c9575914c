"""The layer rule of docs/design.md, checked on the source: a module never imports from a layer
above it — not at the top, not inside a function (``ast`` sees every import statement)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import sharpdim

# Layer of each top-level module or package of sharpdim/ (docs/design.md, "Layers"); a module
# may import its own layer or any lower one.
LAYERS = {
    "provenance": 0, "_numerics": 0, "vocabulary": 0,  # provenance, careful numerics, names
    "_serialize": 0,                                   # results as JSON data
    "dimension": 1, "stats": 1, "bounds": 1, "evaluation": 1,
    "dynamics": 2,
    "systems": 3,
    "curvature": 4,
    "estimators": 5,
    "testing": 6, "bench": 6, "plot": 6, "monitor": 6, "integrations": 6,
    "experiments": 7,
    "report": 8,
    "cli": 9, "__main__": 9, "__init__": 9,
}
ROOT = Path(sharpdim.__file__).resolve().parent


def _imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            if node.module == "sharpdim":  # `from sharpdim import report`
                names = [f"sharpdim.{a.name}" for a in node.names]
            out += [(node.lineno, n) for n in names[:1]]
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            raise AssertionError(f"{path}:{node.lineno}: relative import; use absolute imports")
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
    return [(line, n) for line, n in out if n == "sharpdim" or n.startswith("sharpdim.")]


def _top(path: Path) -> str:
    return path.relative_to(ROOT).parts[0].removesuffix(".py")


SOURCES = sorted(ROOT.rglob("*.py"))


def test_every_top_level_module_has_a_layer():
    missing = sorted({_top(p) for p in SOURCES} - set(LAYERS))
    assert not missing, f"add {missing} to LAYERS (and docs/design.md)"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_a_layer_above_it_even_inside_functions(path):
    here = LAYERS[_top(path)]
    bad = []
    for line, name in _imports(path):
        parts = name.split(".")
        if len(parts) < 2:
            continue
        if LAYERS.get(parts[1], -1) > here:
            bad.append(f"line {line}: {name} (layer {LAYERS[parts[1]]} > {here})")
    assert not bad, f"{path.relative_to(ROOT)} imports upward: {bad}"


@pytest.mark.parametrize("name", ["provenance", "_numerics", "vocabulary", "_serialize"])
def test_layer_zero_modules_import_nothing_from_sharpdim(name):
    assert _imports(ROOT / f"{name}.py") == []


def test_experiments_and_report_do_not_import_each_other_in_a_cycle():
    exp = {n for p in (ROOT / "experiments").rglob("*.py") for _, n in _imports(p)}
    assert not any(n.startswith("sharpdim.report") for n in exp)


def test_every_measure_group_output_is_in_the_registry_the_report_reads():
    from sharpdim.experiments.measures import GROUPS
    from sharpdim.experiments.registry import MEASURES

    missing = sorted({o for g in GROUPS.values() for o in g.outputs} - set(MEASURES))
    assert not missing, f"add {missing} to sharpdim.experiments.registry.MEASURES"


def test_report_names_no_measure_itself():
    """The report reads measure names from the registry; claims.py is the exception: each
    claim is a statement of the paper about named measures (SD-KDE, SD-PS, SD-SLQ)."""
    from sharpdim.experiments.registry import MEASURES

    offenders = []
    for path in (ROOT / "report").rglob("*.py"):
        if path.name == "claims.py":
            continue
        text = path.read_text()
        offenders += [f"{path.name}: {n}" for n in MEASURES
                      if n.startswith(("sd_", "lambda_1", "ph_dim", "e_alpha"))
                      and (f'"{n}"' in text or f"'{n}'" in text)]
    assert not offenders, offenders
