"""The oracle case: one input with an exactly known answer, its derivation and a tolerance."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sharpdim.testing.checking import Tolerance
from sharpdim.vocabulary import AUDIT_PROFILES, choice

__all__ = ["OracleCase", "COMPARISONS", "PROFILES", "QUICK", "THOROUGH", "format_values"]

PROFILES = AUDIT_PROFILES  # the vocabulary's word list, under the name the oracles use
QUICK = ("quick", "thorough")  # a quick case also runs in the thorough profile
THOROUGH = ("thorough",)

#: How the returned value meets the oracle:
#: ``values`` — elementwise, in the returned order (a spectrum must come back descending);
#: ``sum`` — the sum of the returned values (a metamorphic identity such as Σ Λ = ln|det J|);
#: ``measure`` — Wasserstein-1 distance between returned and exact probability measures.
COMPARISONS = ("values", "sum", "measure")


@dataclass(frozen=True)
class OracleCase:
    """One audit case.

    ``kind``/``name`` identify it; ``claim`` says in words what a correct estimator returns;
    ``expected`` is the exact value (float64 array; for ``comparison="measure"`` the pair
    ``(nodes, weights)``); ``derivation`` says where it comes from (a closed form, never our
    own estimator); ``tolerance`` bounds the error with its reason. ``build()`` makes the
    estimator's inputs (deterministic: everything random in them is drawn from ``seed``);
    ``options`` are extra keywords the kind's runner uses (``quantity``, ``k``);
    ``per_probe_variance`` (stochastic traces only) is the variance of one Rademacher
    Hutchinson sample, from which the runner scales the tolerance to the probes the estimator
    reports; ``profiles`` lists the profiles that run the case.
    """

    kind: str
    name: str
    claim: str
    expected: Any
    derivation: str
    tolerance: Tolerance
    build: Callable[[], Mapping[str, Any]] = field(repr=False)
    seed: int = 0
    comparison: str = "values"
    options: Mapping[str, Any] = field(default_factory=dict)
    per_probe_variance: float | None = None
    profiles: tuple[str, ...] = QUICK

    def __post_init__(self) -> None:
        choice("comparison", self.comparison, COMPARISONS)
        bad = [p for p in self.profiles if p not in PROFILES]
        if bad or not self.profiles:
            raise ValueError(
                f"profiles must be a non-empty subset of {PROFILES}, got {self.profiles}")
        if self.comparison == "measure":
            nodes, weights = (np.asarray(a, dtype=np.float64) for a in self.expected)
            if nodes.shape != weights.shape or abs(weights.sum() - 1.0) > 1e-12:
                raise ValueError(f"case {self.name}: expected measure must be a probability")
            object.__setattr__(self, "expected", (nodes, weights))
        else:
            expected = np.atleast_1d(np.asarray(self.expected, dtype=np.float64))
            if expected.ndim != 1:
                raise ValueError(f"case {self.name}: expected must be a scalar or 1-D array")
            object.__setattr__(self, "expected", expected)

    def expected_text(self) -> str:
        """The oracle, formatted for a report row."""
        if self.comparison == "measure":
            nodes, weights = self.expected
            atoms = ", ".join(f"{w:.3g}·δ({x:.6g})" for x, w in zip(nodes, weights, strict=True))
            return atoms
        prefix = "Σ = " if self.comparison == "sum" else ""
        return prefix + format_values(self.expected)


def format_values(values: Any) -> str:
    """Compact text for a scalar or a short array (10 significant digits)."""
    a = np.asarray(values, dtype=np.float64)
    if a.ndim == 0 or a.size == 1:
        return f"{float(a.reshape(-1)[0]):.10g}"
    if a.size <= 8:
        return "[" + ", ".join(f"{float(v):.8g}" for v in a.ravel()) + "]"
    return f"[{float(a.ravel()[0]):.8g}, …, {float(a.ravel()[-1]):.8g}] ({a.size})"
