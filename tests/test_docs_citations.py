"""Docstrings, comments and report strings cite the paper and files in the repository only: every
Markdown path a source file names exists, and every ``§N`` it cites in one of them is a heading
there. A section citation that names no file (an upper-case word before the section sign) is
refused as well."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("sharpdim", "tests", "theory_checks")

_MD = re.compile(r"(?<![\w/.-])([\w/.-]+\.md)\b(?:\s*§\s*(\d+))?")
_BARE_SECTION = re.compile(r"\b([A-Z][A-Z0-9_]{2,})\s+§\s*\d")  # a word, not a file
# Bare upper-case names (README.md) are cited files; lower-case bare names (report.md) are the
# names of files a function writes, so they are not citations. Bare cited names are looked up
# where the project keeps its pages.
_BARE_HOMES = ("", "docs", "reports")


def _top_level_dirs(root: Path) -> set[str]:
    return {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}


def _sections(path: Path) -> set[str]:
    return set(re.findall(r"^#+\s*§\s*(\d+)", path.read_text(encoding="utf-8"), re.M))


def unresolved_citations(text: str, root: Path = ROOT) -> list[str]:
    """The citations in ``text`` that do not resolve to a file (and section) under ``root``."""
    bad, tops = [], _top_level_dirs(root)
    for m in _MD.finditer(text):
        name, section = m[1].lstrip("./"), m[2]
        parts = name.split("/")
        if len(parts) == 1:
            if not name[0].isupper():
                continue                                       # an output file's name
            found = [root / d / name for d in _BARE_HOMES if (root / d / name).is_file()]
        elif parts[0] in tops:
            found = [root / name] if (root / name).is_file() else []
        else:
            continue                                           # relative to an output folder
        if not found:
            bad.append(name)
        elif section and section not in _sections(found[0]):
            bad.append(f"{name} §{section}")
    bad += [f"{m[1]} §" for m in _BARE_SECTION.finditer(text)]
    return bad


def scan(directory: Path, root: Path = ROOT) -> dict[str, list[str]]:
    """``{file: unresolved citations}`` over the ``.py`` files under ``directory``."""
    out = {}
    for path in sorted(directory.rglob("*.py")):
        bad = unresolved_citations(path.read_text(encoding="utf-8"), root)
        if bad:
            out[str(path.relative_to(directory))] = bad
    return out


@pytest.mark.parametrize("folder", SCANNED)
def test_sources_cite_only_files_in_the_repository(folder):
    assert scan(ROOT / folder) == {}


def test_the_scan_finds_a_planted_bad_citation(tmp_path):
    # The names are assembled so that this file itself cites nothing missing.
    (tmp_path / "good.py").write_text(
        '"""See docs/theory.md §3, docs/design.md and README.md; writes report.md,\n'
        'a_sweep/README.md and out/' + 'DESIGN' + '.md (outputs, not citations)."""\n')
    (tmp_path / "bad.py").write_text(
        "# the layers of " + "DESIGN" + ".md; " + "PAPER_NOTES" + " §2; docs/theory" + ".md §9;\n"
        "# docs/nowhere" + ".md\n")
    assert scan(tmp_path) == {"bad.py": ["DESIGN" + ".md", "docs/theory" + ".md §9",
                                         "docs/nowhere" + ".md", "PAPER_NOTES" + " §"]}
