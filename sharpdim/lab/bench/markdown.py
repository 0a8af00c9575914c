"""The Markdown table row of the generated pages: the benchmark sections written here and the
sweep reports of :mod:`sharpdim.lab.reports` (a layer above, so both use this one writer).

>>> table_row("1k", 3, "yes")
'| 1k | 3 | yes |'
"""

from __future__ import annotations

from typing import Any

__all__ = ["table_row"]


def table_row(*cells: Any) -> str:
    """One row of a Markdown table: each cell as ``str(cell)``, between ``|`` separators."""
    return "| " + " | ".join(str(c) for c in cells) + " |"
