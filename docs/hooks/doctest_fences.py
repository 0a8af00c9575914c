"""Griffe extension for the API reference: docstring doctests (``>>>`` lines and the output
below them) become fenced ``pycon`` blocks, so Markdown shows them as code instead of nested
block quotes. The docstrings themselves stay plain text for ``help()`` and ``pytest
--doctest-modules``."""

from __future__ import annotations

import re

import griffe

_PROMPT = re.compile(r"^(?P<indent>[ \t]*)>>>( |$)")
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")


def fence_doctests(text: str) -> str:
    r"""Wrap each run of doctest lines (from a ``>>>`` line to the next blank line) in a
    ```` ```pycon ```` fence at its indentation; text inside existing fences is left alone.
    A paragraph line that starts with ``>`` (``… lambda_b\n> 0``) is joined to the line above,
    which it continues, instead of opening a block quote.

    >>> fence_doctests("Sum:\n>>> 1 + 1\n2\n\nDone.").splitlines()
    ['Sum:', '', '```pycon', '>>> 1 + 1', '2', '```', '', 'Done.']
    >>> fence_doctests("x, y\n> 0 both.")
    'x, y > 0 both.'
    """
    lines, out, i, fence = text.splitlines(), [], 0, None
    while i < len(lines):
        line = lines[i]
        m = _FENCE.match(line)
        if m and fence is None:
            fence = m[1]
        elif m and fence is not None and line.strip().startswith(fence):
            fence = None
        prompt = _PROMPT.match(line) if fence is None else None
        if fence is None and not prompt and line.lstrip().startswith(">") and out \
                and out[-1].strip() and not _PROMPT.match(out[-1]) and not _FENCE.match(out[-1]):
            out[-1] = f"{out[-1].rstrip()} {line.strip()}"
            i += 1
            continue
        if not prompt:
            out.append(line)
            i += 1
            continue
        indent = prompt["indent"]
        if out and out[-1].strip():
            out.append("")                     # a fence must not continue a paragraph
        out.append(f"{indent}```pycon")
        while i < len(lines) and lines[i].strip():
            out.append(lines[i])
            i += 1
        out.append(f"{indent}```")
    return "\n".join(out)


class DoctestFences(griffe.Extension):
    """Apply :func:`fence_doctests` to every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = fence_doctests(obj.docstring.value)
