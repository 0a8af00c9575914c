"""Provenance lines for generated reports: re-exported from :mod:`sharpdim.lab.provenance`
(the one home of git, version, digest and device provenance)."""

from __future__ import annotations

from sharpdim.lab.provenance import (
    GitState,
    checkout_target,
    device_of,
    git_commit,
    git_state,
    package_versions,
    repository_root,
    source_digest,
)

__all__ = ["source_digest", "package_versions", "git_commit", "git_state", "GitState",
           "repository_root", "checkout_target", "device_of"]
