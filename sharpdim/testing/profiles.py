"""Hypothesis profiles shared by the test suite and ``sharpdim check``.

* ``ci`` (alias ``quick``): deterministic (``derandomize=True``, no example database), so a
  rerun sees the same examples and the committed report regenerates byte for byte.
* ``thorough``: ten times the examples, still derandomized, for a longer pre-release run.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

from sharpdim.vocabulary import HYPOTHESIS_PROFILES, choice

__all__ = ["register_profiles", "load_profile", "PROFILES"]

PROFILES = HYPOTHESIS_PROFILES  # the vocabulary's word list, under its old name

_COMMON = dict(
    deadline=None,
    database=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def register_profiles() -> None:
    settings.register_profile("ci", max_examples=25, **_COMMON)
    settings.register_profile("quick", max_examples=25, **_COMMON)
    settings.register_profile("thorough", max_examples=250, **_COMMON)


def load_profile(name: str | None = None) -> str:
    """Load ``name`` (default: ``$HYPOTHESIS_PROFILE`` or ``ci``) and return it."""
    register_profiles()
    name = name or os.environ.get("HYPOTHESIS_PROFILE", "ci")
    choice("profile", name, PROFILES)
    settings.load_profile(name)
    return name
