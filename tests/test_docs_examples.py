"""The documentation's worked examples run and print what the pages say: the same check the
site build makes (``docs/hooks/run_examples.py``, called by MkDocs on every page), run here over
``docs/**/*.md`` so that ``make test`` catches an example an API change broke."""

from __future__ import annotations

import doctest
import importlib.util
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
HOOKS = DOCS / "hooks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"docs_hooks_{name}", HOOKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run_examples = _load("run_examples")
PAGES = sorted(p for p in DOCS.rglob("*.md") if HOOKS not in p.parents)


def test_there_are_pages_with_examples():
    assert any(run_examples.pycon_blocks(p.read_text(encoding="utf-8")) for p in PAGES)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_page_examples_print_what_the_page_says(page):
    name = str(page.relative_to(DOCS))
    _, report = run_examples.check_markdown(page.read_text(encoding="utf-8"), name)
    assert report == "", report


def test_the_check_rejects_a_wrong_output():
    page = "```pycon\n>>> print(2 + 2)\n5\n```\n"
    attempted, report = run_examples.check_markdown(page, "planted.md")
    assert attempted == 1 and "Expected:\n    5\nGot:\n    4" in report


@pytest.mark.parametrize("name", ["run_examples", "doctest_fences"])
def test_hook_doctests(name):
    if name == "doctest_fences":
        pytest.importorskip("griffe", reason="the docs extra (mkdocstrings) is not installed")
    result = doctest.testmod(_load(name), optionflags=run_examples.OPTIONFLAGS)
    assert result.failed == 0 and result.attempted > 0
