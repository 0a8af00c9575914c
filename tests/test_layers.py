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
    # the library wing
    "_numerics": 0, "vocabulary": 0, "_validate": 0,   # careful numerics, names, checks
    "_serialize": 0, "_markdown": 0, "_alias": 0,      # JSON, Markdown sections, old paths
    "__version__": 0,                # the version constant __init__ defines before any import
    "dimension": 1,
    "dynamics": 2,
    "systems": 3,
    "curvature": 4,
    "estimators": 5,
    "testing": 6, "plot": 6, "monitor": 6, "integrations": 6,
    # the laboratory wing (sharpdim/lab/): imports the library, never the reverse
    "lab": 7, "lab.provenance": 7,                     # lab/__init__ is a docstring only
    "lab.stats": 7, "lab.bounds": 7, "lab.evaluation": 7,
    "lab.sweeps": 8, "lab.bench": 8,                  # bench: timing only
    "lab.reports": 9,
    "lab.studies": 9,                # whole studies: import sweeps, bench and reports' provenance
    "lab.cli": 10, "__main__": 10, "__init__": 10,
    "stats": 8,                      # the old name of lab.stats, an alias module above it
}
ROOT = Path(sharpdim.__file__).resolve().parent

# The old paths of moved code: the one upward import each may make (to the new home), so that
# the old import path keeps working. Nothing else below lab.cli imports lab.studies.
OLD_PATHS = {
    "lab/bench/convergence.py": {"sharpdim.lab.studies.estimator_convergence"},
    "lab/sweeps/estimator_validation.py": {"sharpdim.lab.studies.estimator_convergence"},
    "lab/sweeps/trajectory_lyapunov.py": {"sharpdim.lab.studies.trajectory_lyapunov"},
    "lab/reports/dysts_maps.py": {"sharpdim.lab.studies.dysts_maps"},
    "lab/bench/curvature.py": {"sharpdim.lab.studies.reorthogonalization"},  # __getattr__
}


def _package_name(name: str) -> str:
    """``from sharpdim import X`` imports ``X`` from the package itself: resolve it to the
    module it lives in — a submodule, a lazily re-exported name (``sharpdim._LAZY``) or an
    eager one (its ``__module__``). A name that resolves nowhere is reported, not passed."""
    if name in sharpdim._SUBMODULES or (ROOT / name).is_dir() or (ROOT / f"{name}.py").is_file():
        return f"sharpdim.{name}"
    if name in sharpdim._LAZY:
        return sharpdim._LAZY[name]
    if name == "__version__":
        return "sharpdim.__version__"
    module = getattr(getattr(sharpdim, name, None), "__module__", None)
    if module and module.startswith("sharpdim."):
        return module
    return f"sharpdim.<unresolved {name}>"


def imports_of(source: str, filename: str = "<source>") -> list[tuple[int, str]]:
    """Every ``sharpdim`` module that ``source`` imports, one entry per imported name, with
    ``from sharpdim import X`` resolved to the module that defines ``X``."""
    out = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "sharpdim":
                out += [(node.lineno, _package_name(a.name)) for a in node.names]
            else:
                out += [(node.lineno, node.module) for _ in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            raise AssertionError(f"{filename}:{node.lineno}: relative import; use absolute imports")
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
    return [(line, n) for line, n in out if n == "sharpdim" or n.startswith("sharpdim.")]


def _imports(path: Path) -> list[tuple[int, str]]:
    return imports_of(path.read_text(), str(path))


def upward_imports(source: str, layer: int, filename: str = "<source>") -> list[str]:
    """The imports of ``source`` from a layer above ``layer`` (or that resolve nowhere)."""
    bad = []
    for line, name in imports_of(source, filename):
        key = _key(name.split(".")[1:])
        if key is None:
            continue
        if key.startswith("<unresolved"):
            bad.append(f"line {line}: {name}")
        elif LAYERS.get(key, -1) > layer:
            bad.append(f"line {line}: {name} (layer {LAYERS[key]} > {layer})")
    return bad


def _key(parts: list[str]) -> str | None:
    """The LAYERS key of a module path below ``sharpdim`` (``["lab", "sweeps", "run"]`` →
    ``"lab.sweeps"``, ``["dimension"]`` → ``"dimension"``)."""
    if not parts:
        return None
    if parts[0] == "lab" and len(parts) > 1:
        return f"lab.{parts[1]}"
    return parts[0]


def _top(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return _key(parts)


SOURCES = sorted(ROOT.rglob("*.py"))


def test_every_top_level_module_has_a_layer():
    missing = sorted({_top(p) for p in SOURCES} - set(LAYERS))
    assert not missing, f"add {missing} to LAYERS (and docs/design.md)"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_a_layer_above_it_even_inside_functions(path):
    allowed = OLD_PATHS.get(path.relative_to(ROOT).as_posix(), set())
    bad = [b for b in upward_imports(path.read_text(), LAYERS[_top(path)], str(path))
           if b.split(": ", 1)[1].split(" ")[0] not in allowed]
    assert not bad, f"{path.relative_to(ROOT)} imports upward: {bad}"


def test_only_the_command_and_the_old_paths_import_the_studies():
    bad = [f"{p.relative_to(ROOT)}: {n}" for p in SOURCES for _, n in _imports(p)
           if n.startswith("sharpdim.lab.studies") and _top(p) not in ("lab.studies", "lab.cli")
           and n not in OLD_PATHS.get(p.relative_to(ROOT).as_posix(), set())]
    assert not bad, bad


def test_the_topology_dimension_lives_in_the_dynamics_layer():
    """The PH dimension moved to the library so the testing layer can audit it; its old path
    is an alias of it."""
    import sharpdim.dynamics.topology
    import sharpdim.lab.sweeps.topology

    new, old = sharpdim.dynamics.topology, sharpdim.lab.sweeps.topology
    assert all(getattr(old, n) is getattr(new, n) for n in (*new.__all__, "_points"))
    assert {n for _, n in _imports(ROOT / "dynamics" / "topology.py")} <= {"sharpdim._validate"}


@pytest.mark.parametrize("mutant", [
    "from sharpdim import estimate_sharpness",          # a lazy re-export (layer 5)
    "from sharpdim import estimators",                  # a submodule
    "from sharpdim.dimension import sharpness_dimension\nfrom sharpdim import load_run",
    "def f():\n    from sharpdim.curvature.functional import flat_loss, select_output",
])
def test_the_layer_check_catches_an_upward_import_however_it_is_spelled(mutant):
    """Mutants: each is an upward import from a layer-1 module (dimension.py)."""
    assert upward_imports(mutant, LAYERS["dimension"])


def test_a_package_level_import_that_resolves_nowhere_is_reported():
    assert upward_imports("from sharpdim import no_such_name", 9)


@pytest.mark.parametrize("name", ["lab/provenance", "_validate", "_serialize", "_markdown",
                                  "_alias"])
def test_layer_zero_modules_import_nothing_from_sharpdim(name):
    assert _imports(ROOT / f"{name}.py") == []


def test_the_vocabulary_imports_at_most_the_argument_checks():
    assert {n for _, n in _imports(ROOT / "vocabulary.py")} <= {"sharpdim._validate"}


def test_the_numerics_import_at_most_the_argument_checks_and_the_vocabulary():
    # its word list (EPSILON_FORMS) has one home, the vocabulary, which imports only the checks
    allowed = {"sharpdim._validate", "sharpdim.vocabulary"}
    assert {n for _, n in _imports(ROOT / "_numerics.py")} <= allowed


def test_sweeps_and_reports_do_not_import_each_other_in_a_cycle():
    exp = {n for p in (ROOT / "lab" / "sweeps").rglob("*.py") for _, n in _imports(p)}
    assert not any(n.startswith("sharpdim.lab.reports") for n in exp)


def test_the_library_wing_imports_nothing_from_the_laboratory():
    library = [p for p in SOURCES if p.relative_to(ROOT).parts[0] not in ("lab", "stats.py")
               and p.name != "__main__.py" and p.relative_to(ROOT) != Path("__init__.py")]
    bad = [f"{p.relative_to(ROOT)}: {n}" for p in library for _, n in _imports(p)
           if n.startswith("sharpdim.lab") or n == "sharpdim.stats"]
    assert not bad, bad


def test_every_measure_group_output_is_in_the_registry_the_report_reads():
    from sharpdim.lab.sweeps.measures import GROUPS
    from sharpdim.lab.sweeps.registry import MEASURES

    missing = sorted({o for g in GROUPS.values() for o in g.outputs} - set(MEASURES))
    assert not missing, f"add {missing} to sharpdim.lab.sweeps.registry.MEASURES"


def test_report_names_no_measure_itself():
    """The report reads measure names from the registry; claims.py is the exception: each
    claim is a statement of the paper about named measures (SD-KDE, SD-PS, SD-SLQ)."""
    from sharpdim.lab.sweeps.registry import MEASURES

    offenders = []
    for path in (ROOT / "lab" / "reports").rglob("*.py"):
        if path.name == "claims.py":
            continue
        text = path.read_text()
        offenders += [f"{path.name}: {n}" for n in MEASURES
                      if n.startswith(("sd_", "lambda_1", "ph_dim", "e_alpha"))
                      and (f'"{n}"' in text or f"'{n}'" in text)]
    assert not offenders, offenders


def test_the_public_names_work_from_both_wings():
    """The public contract (docs/design.md) after the move into two wings: the lazy names
    resolve, ``sharpdim.stats`` is still importable with the laboratory's objects, and the
    command's entry point is the laboratory's."""
    import importlib

    import sharpdim.lab.stats
    import sharpdim.stats

    assert set(sharpdim.stats.__all__) == set(sharpdim.lab.stats.__all__)
    assert all(getattr(sharpdim.stats, n) is getattr(sharpdim.lab.stats, n)
               for n in sharpdim.stats.__all__)
    for name, module in sharpdim._LAZY.items():
        assert getattr(sharpdim, name) is getattr(importlib.import_module(module), name)
    assert sharpdim.load_run.__module__ == "sharpdim.lab.sweeps.load"
