"""The one Markdown writer of generated sections (layer 0): a generated block lives between
``<!-- KEY -->`` and ``<!-- /KEY -->`` markers, and rewriting it keeps every line outside
them — the hand-written reading — as it was.

>>> text = replace_marked("# Title\\n\\nreading\\n", "table", "| a |")
>>> print(text)
# Title
<BLANKLINE>
reading
<BLANKLINE>
<!-- table -->
| a |
<!-- /table -->
<BLANKLINE>
>>> replace_marked(text, "table", "| b |") == text.replace("| a |", "| b |")
True
"""

from __future__ import annotations

import re

__all__ = ["marked_block", "marked_section", "replace_marked"]


def marked_block(key: str, body: str) -> str:
    """``body`` between the markers of ``key``."""
    return f"<!-- {key} -->\n{body}\n<!-- /{key} -->"


def _pattern(key: str) -> re.Pattern:
    return re.compile(re.escape(f"<!-- {key} -->") + r".*?" + re.escape(f"<!-- /{key} -->"),
                      re.S)


def marked_section(text: str, key: str) -> str | None:
    """The first block of ``key`` in ``text``, markers included (``None`` when absent)."""
    found = _pattern(key).search(text)
    return None if found is None else found.group(0)


def replace_marked(text: str, key: str, body: str, *, append: bool = True) -> str:
    """``text`` with the block of ``key`` rewritten to hold ``body``; an absent block is
    appended after a blank line (``append=False``: ``text`` is returned unchanged)."""
    block = marked_block(key, body)
    pattern = _pattern(key)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text)
    return text.rstrip() + "\n\n" + block + "\n" if append else text
