"""Root pytest configuration: deterministic Hypothesis profile (``ci`` unless told) and the
check-recording plugin (rows reach ``sharpdim check`` even from xdist workers)."""

from sharpdim.testing.profiles import load_profile

pytest_plugins = ["sharpdim.testing.pytest_plugin"]

load_profile()
