"""The computable part of the generalization bound of Theorem 4.5 (docs/theory.md §4).

With the loss in ``[0, B]``, ``L``-Lipschitz in ``w``, ``n`` training examples and the
sharpness dimension ``SD``, the theorem bounds the worst-case gap over the attractor by

    G ≤ 2Lδ + 2B·√(4·SD·ln(1/δ)/n)  +  (I_∞ + ln(1/ζ))/√n  +  C·B²/√n

for all small enough δ > 0. The last two terms (the total mutual information ``I_∞`` and the
unspecified constant ``C``) are not computable and are **left out**: what is evaluated here,
``f(δ) = 2Lδ + c·√(ln(1/δ))`` with ``c = 2B·√(4·SD/n) = 4B·√(SD/n)``, minimised over δ, is
a lower bound of the theorem's right-hand side, so a value above the measured gap already
makes the bound vacuous by at least that factor.

Minimisation (closed form): ``f'(δ) = 2L − c / (2δ√(ln 1/δ))``. On ``(0, e^{-1/2}]`` the
function ``g(δ) = δ√(ln 1/δ)`` increases, so ``f`` is unimodal there with its minimum where
``g(δ) = c/(4L) =: t``, i.e. ``δ² ln(1/δ) = t²``; with ``u = ln(1/δ)``, ``−2u·e^{−2u} =
−2t²``, so ``δ* = exp(W₋₁(−2t²)/2)`` (Lambert W, lower branch), which exists when
``2t² ≤ 1/e``; otherwise the minimum over the range is at ``δ = e^{-1/2}``. The range stops
at ``e^{-1/2}`` ("small enough δ"): beyond it ``f`` turns down again towards ``f(1) = 2L``,
where the SD term vanishes, a limit the theorem does not cover.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sharpdim import _validate

__all__ = ["DELTA_MAX", "BoundValue", "theorem_4_5_bound", "bound_terms"]

DELTA_MAX = math.exp(-0.5)  # the largest δ on which f is unimodal (see the module docstring)


@dataclass(frozen=True)
class BoundValue:
    """``value = min over δ ∈ (0, DELTA_MAX] of 2Lδ + 2B·√(4·SD·ln(1/δ)/n)`` at ``delta``;
    ``lipschitz_term`` = 2Lδ and ``sd_term`` = the square-root term at that δ; ``left_out``
    names the terms not evaluated."""

    value: float
    delta: float
    lipschitz_term: float
    sd_term: float
    sd: float
    L: float
    B: float
    n: int
    left_out: tuple[str, ...] = ("(I_∞ + ln(1/ζ))/√n", "C·B²/√n")


def bound_terms(delta: float, *, sd: float, L: float, B: float, n: int) -> tuple[float, float]:
    """``(2Lδ, 2B·√(4·SD·ln(1/δ)/n))`` for one δ in (0, 1]."""
    _validate.real("delta", delta, minimum=0, maximum=1, open_min=True)
    return 2 * L * delta, 2 * B * math.sqrt(4 * sd * math.log(1 / delta) / n)


def theorem_4_5_bound(sd: float, L: float, B: float, n: int) -> BoundValue:
    """The computable part of Theorem 4.5, minimised over δ in closed form (module
    docstring).

    >>> b = theorem_4_5_bound(sd=0.0, L=1.0, B=1.0, n=100)  # no SD term: δ → 0, value → 0
    >>> b.value, b.delta
    (0.0, 0.0)
    >>> b = theorem_4_5_bound(sd=10.0, L=2.0, B=1.0, n=1000)
    >>> round(b.value, 6) == round(sum(bound_terms(b.delta, sd=10.0, L=2.0, B=1.0, n=1000)), 6)
    True
    """
    for name, v in (("sd", sd), ("L", L), ("B", B)):
        _validate.non_negative(name, v)
    n = _validate.integer("n", n, minimum=1)
    c = 4 * B * math.sqrt(sd / n)
    if c == 0:  # no SD term: f = 2Lδ, infimum 0 as δ → 0 (not attained; δ reported as 0)
        return BoundValue(value=0.0, delta=0.0, lipschitz_term=0.0, sd_term=0.0,
                          sd=float(sd), L=float(L), B=float(B), n=n)
    if L == 0:  # no Lipschitz term: f decreases on the whole range
        delta = DELTA_MAX
    else:
        t = c / (4 * L)
        if 2 * t * t <= math.exp(-1):
            from scipy.special import lambertw

            delta = math.exp(float(lambertw(-2 * t * t, k=-1).real) / 2)
            delta = min(delta, DELTA_MAX)
        else:
            delta = DELTA_MAX
    lip, sd_term = bound_terms(delta, sd=sd, L=L, B=B, n=n)
    return BoundValue(value=lip + sd_term, delta=delta, lipschitz_term=lip, sd_term=sd_term,
                      sd=float(sd), L=float(L), B=float(B), n=n)
