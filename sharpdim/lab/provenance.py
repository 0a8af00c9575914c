"""Provenance of generated numbers (laboratory layer 7: imports nothing from ``sharpdim``).

One home for what every report records about where its numbers came from: the git commit
of the checkout and whether its tree is clean (:func:`git_commit`, :func:`git_state`), the
package versions (:func:`package_versions`), a digest of the source (:func:`source_digest`)
and the device and dtype read from the actual model or tensors (:func:`device_of`), never
assumed. The digest covers the sources (not the git commit), so a committed report
regenerates byte for byte from the same code, and changes whenever the code does.
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["GitState", "git_state", "git_commit", "package_versions", "source_digest",
           "repository_root", "checkout_target", "device_of", "machine"]

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
    """``{"python": ..., name: version}``; ``"not installed"`` for a missing package."""
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def machine() -> dict[str, str]:
    """The processor the numbers came from: ``cpu``, its model name (``/proc/cpuinfo``, else
    ``platform.processor()``, else ``"unknown"``), and ``cpu_capability``, the vector
    instruction set torch's kernels dispatch to (``torch.backends.cpu.get_cpu_capability``).
    The pair sets the rounding of every torch product: a computation that amplifies rounding
    (a chaotic trajectory) reproduces bit for bit only where both are the same."""
    name = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch  # the laboratory's numbers are torch's; imported only when asked

    return {"cpu": name, "cpu_capability": torch.backends.cpu.get_cpu_capability()}


@dataclass(frozen=True)
class GitState:
    """The checkout's ``HEAD`` (12 hex digits, ``None`` outside git) and whether tracked
    files differ from it (``dirty``; ``None`` when unknown)."""

    commit: str | None
    dirty: bool | None

    @property
    def clean(self) -> bool:
        return self.commit is not None and self.dirty is False

    def describe(self) -> str:
        """``abc123def456`` (clean), ``abc123def456+dirty`` or ``unknown``."""
        if self.commit is None:
            return "unknown"
        return self.commit + ("+dirty" if self.dirty else "")


def git_state(root: str | Path | None = None, *, exclude: tuple[str, ...] = ()) -> GitState:
    """HEAD and cleanliness of the checkout at ``root`` (default: this package's); paths
    under the folders ``exclude`` (e.g. ``("reports",)``, which a report writer changes) do
    not count as changes."""
    cwd = Path(root) if root is not None else repository_root()
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=cwd,
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return GitState(None, None)
    try:
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no",
                                 "--", ".", *(f":(exclude){e}" for e in exclude)],
                                cwd=cwd, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return GitState(head, None)
    return GitState(head, bool(status.strip()))


def git_commit(root: str | Path | None = None) -> str:
    """The checkout's HEAD commit (with ``+dirty`` if tracked files changed), or
    ``unknown``."""
    return git_state(root).describe()


def device_of(obj: Any) -> dict[str, str | None]:
    """``{"device": ..., "dtype": ...}`` read from a model's parameters (anything with
    ``.parameters()``), a tensor, or an iterable of tensors; ``None`` values when there is
    nothing to read (no parameters), never a guess. Mixed devices or dtypes are listed,
    joined by ``", "``.
    """
    if hasattr(obj, "parameters") and callable(obj.parameters):
        tensors: Iterable[Any] = list(obj.parameters())
    elif hasattr(obj, "device") and hasattr(obj, "dtype"):
        tensors = [obj]
    else:
        tensors = list(obj or ())
    devices = sorted({str(t.device) for t in tensors})
    dtypes = sorted({str(t.dtype).removeprefix("torch.") for t in tensors})
    return {"device": ", ".join(devices) or None, "dtype": ", ".join(dtypes) or None}
