"""Root pytest configuration: the check-recording plugin, which also loads the deterministic
Hypothesis profile (``$HYPOTHESIS_PROFILE``, ``ci`` unless told). Adapter modules of optional
libraries that are not installed are left out of doctest collection (their tests skip with a
reason instead)."""

import importlib.util

pytest_plugins = ["sharpdim.testing.pytest_plugin"]

_OPTIONAL_ADAPTERS = {
    "nolds": "nolds", "pyhessian": "pyhessian", "curvlinops": "curvlinops",
    "hessian_eigenthings": "hessian_eigenthings", "neurokit2": "neurokit2", "skdim": "skdim",
    "ripser": "ripser", "gudhi": "gudhi", "dysts": "dysts",
}
collect_ignore = [f"sharpdim/testing/adapters/{name}.py"
                  for name, module in _OPTIONAL_ADAPTERS.items()
                  if importlib.util.find_spec(module) is None]
