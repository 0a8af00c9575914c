"""MkDocs hook: run every page's ``pycon`` examples with :mod:`doctest` and fail the build when
an example's printed output differs from the page.

A page's ```` ```pycon ```` blocks run in order in one namespace (a later block sees the names
an earlier one defined), with ``ELLIPSIS`` and ``NORMALIZE_WHITESPACE``. The same function,
:func:`check_markdown`, is what ``tests/test_docs_examples.py`` runs over ``docs/**/*.md``, so
the build and the test suite check one thing.
"""

from __future__ import annotations

import contextlib
import doctest
import os
import re

# Examples time CPU work; one BLAS thread keeps them fast on a shared machine and the printed
# numbers independent of the thread count (set before torch is first imported).
os.environ.setdefault("OMP_NUM_THREADS", "1")

OPTIONFLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n]*)$")


def pycon_blocks(markdown: str) -> list[tuple[int, str]]:
    """``(line, text)`` of each fenced ``pycon`` block of ``markdown`` (``line``: 0-based index
    of the block's first line; ``text`` dedented by the fence's indentation).

    >>> pycon_blocks("x\\n```pycon\\n>>> 1 + 1\\n2\\n```\\n```python\\n>>> 3\\n```\\n")
    [(2, '>>> 1 + 1\\n2\\n')]
    """
    lines = markdown.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence = m["indent"], m["fence"]
        lang = m["info"].strip().split(" ")[0].lstrip(".{").rstrip("}") if m["info"] else ""
        j = i + 1
        while j < len(lines) and not (lines[j].strip().startswith(fence)
                                      and lines[j].strip().strip(fence[0]) == ""):
            j += 1
        if lang == "pycon":
            body = [line[len(indent):] if line.startswith(indent) else line.lstrip()
                    for line in lines[i + 1:j]]
            blocks.append((i + 1, "\n".join(body) + "\n"))
        i = j + 1
    return blocks


def check_markdown(markdown: str, name: str) -> tuple[int, str]:
    """Run the ``pycon`` examples of one page; ``(attempted, report)`` with ``report`` empty
    when every example printed what the page says, else doctest's account of each failure.

    >>> check_markdown("```pycon\\n>>> x = 2\\n>>> print(x * 3)\\n6\\n```\\n", "ok.md")
    (2, '')
    >>> n, report = check_markdown("```pycon\\n>>> print(1)\\n2\\n```\\n", "bad.md")
    >>> n, "Expected:" in report
    (1, True)
    """
    parser = doctest.DocTestParser()
    examples = []
    for line, text in pycon_blocks(markdown):
        for ex in parser.get_examples(text, name):
            ex.lineno += line
            examples.append(ex)
    if not examples:
        return 0, ""
    test = doctest.DocTest(examples, {"__name__": "__docs__"}, name, name, 0, markdown)
    out: list[str] = []
    runner = doctest.DocTestRunner(optionflags=OPTIONFLAGS, verbose=False)
    with _own_torch_rng():
        runner.run(test, out=out.append, clear_globs=True)
    return runner.tries, "".join(out)


@contextlib.contextmanager
def _own_torch_rng():
    """Give the examples their own torch RNG state (an example may call ``torch.manual_seed``),
    so that running them inside the test suite leaves the global generator as it was."""
    try:
        import torch
    except ImportError:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        yield


def on_page_markdown(markdown, page, config, files, **kwargs):
    """MkDocs event: check the page's examples before it is rendered."""
    _, report = check_markdown(markdown, page.file.src_uri)
    if report:
        from mkdocs.exceptions import PluginError
        raise PluginError(f"examples on {page.file.src_uri} do not print what the page "
                          f"says:\n{report}")
    return markdown
