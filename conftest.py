"""Root pytest configuration: the check-recording plugin, which also loads the deterministic
Hypothesis profile (``$HYPOTHESIS_PROFILE``, ``ci`` unless told)."""

pytest_plugins = ["sharpdim.testing.pytest_plugin"]
