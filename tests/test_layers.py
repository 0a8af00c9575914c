"""The layers of DESIGN.md: a module never imports from a layer above its own, not even inside
a function (checked on the source of every module, so a lazy import counts too)."""

from __future__ import annotations

import ast
from pathlib import Path

import sharpdim

LAYER = {
    "_numerics": 0, "vocabulary": 0,          # careful numerics, argument checks, names
    "dimension": 1, "stats": 1,               # numpy on spectra and rankings
    "dynamics": 2, "systems": 3, "curvature": 4, "estimators": 5, "testing": 6,
    "experiments": 7, "report": 7, "cli": 7, "bench": 7, "__main__": 7, "__init__": 7,
}


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names)


def test_no_module_imports_from_a_layer_above_its_own():
    root = Path(sharpdim.__file__).parent
    upward, unknown = [], []
    for path in sorted(root.rglob("*.py")):
        top = path.relative_to(root).with_suffix("").parts[0]
        if top not in LAYER:
            unknown.append(str(path.relative_to(root)))
            continue
        for module in _imports(path):
            parts = module.split(".")
            if parts[0] == "sharpdim" and len(parts) > 1 and LAYER.get(parts[1], -1) > LAYER[top]:
                upward.append(f"{path.relative_to(root)} imports {module}")
    assert not unknown, f"modules without a layer: {unknown}"
    assert not upward, "\n".join(upward)
