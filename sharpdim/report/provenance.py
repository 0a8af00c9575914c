"""Provenance lines for generated reports: what produced the numbers.

The digest covers the library and check sources (not the git commit), so a committed report
regenerates byte for byte from the same code, and changes whenever the code does.
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
from importlib import metadata
from pathlib import Path

__all__ = [
    "source_digest",
    "package_versions",
    "git_commit",
    "repository_root",
    "checkout_target",
]

_PACKAGES = ("numpy", "scipy", "sympy", "hypothesis", "torch", "matplotlib")


def repository_root() -> Path:
    """The checkout holding the ``sharpdim`` package (editable installs)."""
    return Path(__file__).resolve().parents[2]


def checkout_target(relative: str, *, cwd: Path | None = None) -> Path | None:
    """Default path of a committed report, ``<checkout>/<relative>``, or ``None``.

    A command writes its committed report by default only when it runs inside the source
    checkout that holds this package (the current directory, or ``cwd``, is the checkout or
    below it, and the checkout is a git work tree): a command run from another directory
    never writes into the checkout unless given an explicit path.
    """
    root = repository_root()
    here = Path.cwd() if cwd is None else Path(cwd)
    try:
        here.resolve().relative_to(root)
    except ValueError:
        return None
    if not (root / ".git").exists() or not (root / "pyproject.toml").is_file():
        return None
    return root / relative


def source_digest(*folders: str) -> str:
    """SHA-256 (first 16 hex digits) over the ``*.py`` files under ``folders``, by path."""
    root = repository_root()
    h = hashlib.sha256()
    for folder in folders or ("sharpdim",):
        for path in sorted((root / folder).rglob("*.py")):
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def package_versions(names: tuple[str, ...] = _PACKAGES) -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit() -> str:
    """The checkout's HEAD commit (with ``+dirty`` if uncommitted changes), or ``unknown``."""
    root = repository_root()
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root,
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty.strip() else "")
