"""Oracle cases of kinds ``dimension`` (exponents → Kaplan–Yorke dimension) and ``kendall``
(two rankings → Jiang et al.'s τ-a): numbers worked out by hand.

Each ``dimension`` case is a spectrum whose ``j*`` and fraction are written out in its
derivation; the cases are chosen to separate the conventions that implementations get wrong:
unsorted input, ``≥`` versus ``>`` for ``j*`` (a flat direction), the ``|·|`` in the
denominator, ``−inf`` exponents, the ``0`` and ``d`` ends. Each ``kendall`` case is a small
table whose concordant/discordant/tied pairs are counted in the derivation; ties separate
τ-a (ties count 0, all pairs in the denominator) from scipy's τ-b.
"""

from __future__ import annotations

import math

import numpy as np

from sharpdim.testing.checking import EPS, Tolerance
from sharpdim.testing.oracles._case import QUICK, THOROUGH, OracleCase

__all__ = ["dimension_cases", "kendall_cases"]

_GAMMA = 0.5772156649015329  # Euler–Mascheroni


def _ky_tolerance(exponents) -> Tolerance:
    lam = np.asarray(exponents, dtype=np.float64)
    finite = lam[np.isfinite(lam)]
    scale = float(np.abs(finite).sum()) + 1.0
    smallest = float(np.abs(finite[finite < 0]).min()) if (finite < 0).any() else 1.0
    atol = 10 * lam.size * EPS * scale * (1.0 + 1.0 / smallest)
    return Tolerance(reason="rounding: ≤ 10·d·eps·(1 + Σ|λ|)(1 + 1/min|λ_neg|) for a partial "
                            "sum and one division", atol=atol)


def _dimension(name: str, exponents, expected: float, derivation: str, profiles=QUICK):
    values = np.array(exponents, dtype=np.float64)

    def build():
        return {"exponents": values.copy()}

    return OracleCase("dimension", name, "Kaplan–Yorke dimension of the spectrum", [expected],
                      derivation, _ky_tolerance(values), build, 0, profiles=profiles)


def dimension_cases() -> list[OracleCase]:
    """All ``dimension`` cases."""
    ln2, ln3, ln4 = math.log(2.0), math.log(3.0), math.log(4.0)
    newman = [0.5 * (ln2 - _GAMMA), -0.5 * (ln2 + _GAMMA)]  # ψ(1) = −γ, ψ(½) = −γ − 2 ln 2
    alpha, beta, la, lb = 1 / 3, 2 / 3, 0.2, 0.4
    baker = [-alpha * math.log(alpha) - beta * math.log(beta),
             alpha * math.log(la) + beta * math.log(lb)]
    return [
        _dimension("two-exponents", [ln2, -ln4], 1.5,
                   "S_1 = ln 2 ≥ 0, S_2 = −ln 2 < 0: j* = 1, D = 1 + ln 2/ln 4 = 1.5"),
        _dimension("unsorted-input", [-ln4, ln2], 1.5,
                   "the same spectrum given ascending; sorted it is (ln 2, −ln 4): D = 1.5"),
        _dimension("flat-direction", [0.0, -ln2], 1.0,
                   "S_1 = 0 ≥ 0 counts (j* is the largest index with S_j ≥ 0): j* = 1, "
                   "D = 1 + 0/ln 2 = 1; a '>' convention gives 0"),
        _dimension("absolute-value", [1.0, -0.5, -2.0], 2.25,
                   "S = 1, 0.5, −1.5: j* = 2, D = 2 + 0.5/|−2| = 2.25 (without |·|: 1.75)"),
        _dimension("all-contracting", [-0.1, -1.0], 0.0,
                   "λ_1 < 0: D = 0"),
        _dimension("volume-expanding", [1.0, 0.5, -0.2], 3.0,
                   "every partial sum ≥ 0 (S_3 = 1.3): D = d = 3"),
        _dimension("zero-singular-value", [ln3, -math.inf], 1.0,
                   "S_1 = ln 3 ≥ 0, S_2 = −∞: j* = 1, D = 1 + ln 3/∞ = 1"),
        _dimension("five-unsorted", [0.3, -1.1, 0.7, -0.2, -2.5], 3.0 + 0.8 / 1.1,
                   "sorted (0.7, 0.3, −0.2, −1.1, −2.5), S = 0.7, 1.0, 0.8, −0.3: j* = 3, "
                   "D = 3 + 0.8/1.1"),
        _dimension("newman-2d", newman, 1.0 + (ln2 - _GAMMA) / (ln2 + _GAMMA),
                   "Newman's exponents for 2×2 Gaussian products, ½[ln 2 + ψ(1)] and "
                   "½[ln 2 + ψ(½)] = ½(ln 2 − γ), −½(ln 2 + γ): D = 1 + (ln 2 − γ)/(ln 2 + γ)",
                   THOROUGH),
        _dimension("baker", baker, 1.0 + baker[0] / abs(baker[1]),
                   "generalized baker (α = ⅓, λ_a = 0.2, λ_b = 0.4): D = 1 + Λ_1/|Λ_2| with "
                   "Λ_1 = −α ln α − β ln β, Λ_2 = α ln λ_a + β ln λ_b", THOROUGH),
    ]


_TAU_TOL = Tolerance(reason="τ-a is a ratio of integers below 2^53: one rounding", atol=4 * EPS)


def _kendall(name: str, x, y, expected: float, derivation: str, profiles=QUICK):
    xs, ys = np.array(x, dtype=np.float64), np.array(y, dtype=np.float64)

    def build():
        return {"x": xs.copy(), "y": ys.copy()}

    return OracleCase("kendall", name, "Kendall τ-a (Jiang et al.'s sign definition)",
                      [expected], derivation, _TAU_TOL, build, 0, profiles=profiles)


def kendall_cases() -> list[OracleCase]:
    """All ``kendall`` cases."""
    groups, size = 6, 10
    n = groups * size
    tied = np.repeat(np.arange(groups), size)
    tied_tau = 1.0 - groups * (size * (size - 1) // 2) / (n * (n - 1) // 2)
    return [
        _kendall("no-ties", [1, 2, 3, 4], [1, 3, 2, 4], 4 / 6,
                 "pairs 12 +, 13 +, 14 +, 23 −, 24 +, 34 +: (5 − 1)/6 (τ-b agrees)"),
        _kendall("ties-in-x", [1, 1, 2, 2], [1, 2, 3, 4], 4 / 6,
                 "pairs 12 tie, 13 +, 14 +, 23 +, 24 +, 34 tie: 4/6 (τ-b: 4/√(4·6) ≈ 0.816)"),
        _kendall("ties-in-both", [0, 0, 1, 1, 2, 2], [0, 0, 1, 1, 2, 2], 12 / 15,
                 "15 pairs, 3 tied in both, 12 concordant: 12/15 = 0.8 (τ-b: 1)"),
        _kendall("constant-measure", [5, 5, 5, 5], [1, 2, 3, 4], 0.0,
                 "every pair tied in x: 0/6 = 0 (τ-b: undefined, NaN)"),
        _kendall("reversed", list(range(8)), list(range(8))[::-1], -1.0,
                 "all 28 pairs discordant: −1"),
        _kendall("tied-groups-60", tied, tied, tied_tau,
                 f"x = y, {groups} tied groups of {size}: 1 − {groups}·C({size},2)/C({n},2) "
                 f"= {tied_tau:.6f} (τ-b: 1)", THOROUGH),
    ]
