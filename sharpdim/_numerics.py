"""Careful numerics and argument checks shared by every layer (layer 0: imports nothing from
``sharpdim``).

* :func:`log_abs_one_minus` — the one ``ln|1 − p|`` of the package, sign-exact for every float
  ``p`` (the GD Jacobian ``I − ηH`` has singular values ``|1 − ηα|``, docs/theory.md §2);
* :func:`gd_log_singular_value` — ``ln|1 − η(α + κ)|`` (weight decay ``κ``) with the ``ε``
  floor in its two labelled forms (:data:`EPSILON_FORMS`);
* :func:`heavy_ball_log_modulus` — ``ln|z±|`` of the roots of ``z² − (1 + β − η(α + κ)) z + β``
  (the heavy-ball step's modes along a Hessian eigenvalue ``α``), sign-exact likewise;
* :func:`log_singular_value`, :func:`gram_log_singular_value` — ``ln σ`` from a singular value
  or from an eigenvalue ``s = σ²`` of ``JᵀJ``, with the same ``ε`` forms;
* :func:`positive_int`, :func:`resolve_seed` — the package's argument checks for counts and
  seeds;
* :data:`EPS`, :func:`symmetry_tolerance` — float64 rounding and the tolerance under which a
  computed Hessian counts as symmetric, with its origin.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sharpdim import _validate
from sharpdim.vocabulary import EPSILON_FORMS, EpsilonForm

__all__ = [
    "EPS",
    "EPSILON_FORMS",
    "log_abs_one_minus",
    "gd_log_singular_value",
    "heavy_ball_log_modulus",
    "gram_log_singular_value",
    "log_singular_value",
    "positive_int",
    "resolve_seed",
    "symmetry_tolerance",
]

EPS = float(np.finfo(np.float64).eps)

# the ε-floor's two forms: the one word list, in sharpdim.vocabulary (re-exported here)
"""How ``ε`` enters a log singular value ``ln σ``:

* ``"clamp"`` (default): ``ln max(σ, ε)`` — leaves every ``σ ≥ ε`` untouched, so the neutral
  bulk ``σ ≈ 1`` of a network's spectrum keeps its exact sign and the partial sums of the SD
  do not drift;
* ``"additive"`` (the paper's ``ln(σ + ε)``): shifts a neutral value ``ln 1 = 0`` up to
  ``ln(1 + ε) ≈ ε``, so partial sums drift by ``≈ N·ε`` (docs/theory.md §7).
"""


def log_abs_one_minus(p: Any) -> np.ndarray:
    """``ln|1 − p|`` elementwise, accurate to a few ulps for every float ``p``.

    ``log1p(−p)`` for ``p < 1``; ``log1p(p − 2)`` on ``[1, 4]`` (where ``p − 2`` is exact by
    Sterbenz's lemma); ``ln(p − 1)`` beyond. So the sign of the result is exactly the sign of
    ``|1 − p| − 1`` for the float ``p``: ``> 0`` iff ``p < 0`` or ``p > 2``; ``−inf`` at
    ``p = 1``.

    >>> log_abs_one_minus([3.0, 1.0, 1e-20]).tolist()  # ln 2, -inf, and -1e-20 (not 0)
    [0.6931471805599453, -inf, -1e-20]
    """
    p = np.asarray(p, dtype=np.float64)
    out = np.empty_like(p)
    low, high = p < 1.0, p > 4.0
    mid = ~(low | high)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[low] = np.log1p(-p[low])
        out[mid] = np.log1p(p[mid] - 2.0)
        out[high] = np.log(p[high] - 1.0)
    return out


def _log_abs_one_minus_plus(p: np.ndarray, eps: float) -> np.ndarray:
    """``ln(|1 − p| + ε)`` with the same case split as :func:`log_abs_one_minus`."""
    out = np.empty_like(p)
    low, high = p < 1.0, p > 4.0
    mid = ~(low | high)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[low] = np.log1p(eps - p[low])
        out[mid] = np.log1p((p[mid] - 2.0) + eps)
        out[high] = np.log((p[high] - 1.0) + eps)
    return out


def _check_eps(eps: float, form: str) -> float:
    _validate.choice("epsilon_form", form, EPSILON_FORMS)
    return _validate.non_negative("eps", eps)


def _floored(z: np.ndarray, log_sigma_plus: np.ndarray | None, eps: float,
             form: str) -> np.ndarray:
    if eps == 0:
        return z
    if form == "clamp":
        return np.maximum(z, math.log(eps))
    return log_sigma_plus


def _scaled_curvature(alpha, lr, weight_decay) -> np.ndarray:
    """``p = fl(η·(α + κ))`` after checking ``lr > 0`` and ``weight_decay >= 0``."""
    lr = _validate.positive("lr", lr)
    weight_decay = _validate.non_negative("weight_decay", weight_decay)
    a = np.asarray(alpha, dtype=np.float64)
    p = float(lr) * (a + float(weight_decay)) if weight_decay else float(lr) * a
    return np.asarray(p, dtype=np.float64)


def gd_log_singular_value(alpha, *, lr: float, weight_decay: float = 0.0, eps: float = 0.0,
                          epsilon_form: EpsilonForm = "clamp") -> np.ndarray:
    """Log singular value of the GD Jacobian ``I − η(H + κI)`` along a Hessian eigenvalue
    ``α``: ``ln|1 − η(α + κ)|`` (``κ`` = ``weight_decay``; docs/theory.md §2, §7), evaluated by
    :func:`log_abs_one_minus` at ``p = fl(η·(α + κ))`` so its sign is exact.

    ``eps > 0`` floors it (:data:`EPSILON_FORMS`): ``ln max(|1 − η(α + κ)|, ε)`` (``"clamp"``,
    default) or ``ln(|1 − η(α + κ)| + ε)`` (``"additive"``, the paper's). ``eps = 0`` (exact
    methods) gives the plain value, ``−inf`` at ``α + κ = 1/η``.

    >>> float(gd_log_singular_value(3.0, lr=1.0))   # |1 − 3| = 2
    0.6931471805599453
    >>> gd_log_singular_value([0.0, 1e-17], lr=1.0, eps=1e-6).tolist() == [0.0, -1e-17]  # clamp
    True
    >>> float(gd_log_singular_value(0.0, lr=1.0, eps=1e-6, epsilon_form="additive"))  # ln(1 + ε)
    9.999995000003334e-07
    """
    eps = _check_eps(eps, epsilon_form)
    p = _scaled_curvature(alpha, lr, weight_decay)
    z = log_abs_one_minus(p)
    plus = _log_abs_one_minus_plus(p, eps) if eps and epsilon_form == "additive" else None
    return _floored(z, plus, eps, epsilon_form)


def heavy_ball_log_modulus(alpha, *, lr: float, momentum: float, weight_decay: float = 0.0,
                           eps: float = 0.0, epsilon_form: EpsilonForm = "clamp") -> np.ndarray:
    """``ln|z₊|, ln|z₋|`` (``(n, 2)``, larger first) of the roots of ``z² − (1 + β − p) z + β``,
    ``p = η(α + κ)``: the two eigenvalues of the heavy-ball step's Jacobian ``[[I − η(H + κI),
    −ηβI], [H + κI, βI]]`` along a Hessian eigenvalue ``α`` (PyTorch's ``SGD(momentum=β,
    weight_decay=κ)``; :mod:`sharpdim.systems.heavy_ball`). They are coordinate-free — a change
    of basis of the state ``(w, v)`` moves singular values, not eigenvalues — and they are the
    Lyapunov exponents of the step linearised with the Hessian frozen.

    Sign-exact like :func:`log_abs_one_minus`: complex roots have ``|z| = √β``; for real ones
    ``(z₊ − 1)(z₋ − 1) = p`` and ``(z₊ + 1)(z₋ + 1) = 2(1 + β) − p`` (Vieta), so ``ln|z₊|`` is
    ``log1p`` of a quotient whose sign is that of ``−p`` (``p < 1 + β``) or of
    ``p − 2(1 + β)`` (``p > 1 + β``) — a mode expands exactly when ``p < 0`` or
    ``p > 2(1 + β)``. ``β = 0`` is GD: ``ln|1 − p|`` and ``−inf``. ``eps`` floors both as in
    :func:`gd_log_singular_value`.

    >>> heavy_ball_log_modulus([0.0, 1e-20], lr=1.0, momentum=0.5).tolist()   # ln 1, ln β; −2e-20
    [[0.0, -0.6931471805599453], [-2e-20, -0.6931471805599453]]
    >>> float(heavy_ball_log_modulus(1.0, lr=1.0, momentum=0.25)[0, 0])     # complex: ln √β
    -0.6931471805599453
    """
    eps = _check_eps(eps, epsilon_form)
    if isinstance(momentum, bool) or not isinstance(momentum, int | float | np.floating
                                                    | np.integer) \
            or not 0.0 <= float(momentum) < 1.0:
        raise ValueError(f"momentum must lie in [0, 1), got {momentum!r}")
    p = np.atleast_1d(_scaled_curvature(alpha, lr, weight_decay)).astype(np.float64)
    beta = float(momentum)
    out = np.empty((p.size, 2), dtype=np.float64)
    if beta == 0.0:
        out[:, 0], out[:, 1] = log_abs_one_minus(p), -np.inf
    else:
        t = 1.0 + beta - p
        disc = (1.0 - beta) ** 2 - p * (2.0 * (1.0 + beta) - p)   # t² − 4β, no cancellation at p≈0
        real = disc >= 0.0
        sq = np.sqrt(np.where(real, disc, 0.0))
        big = 0.5 * (t + np.where(t >= 0.0, sq, -sq))                 # larger modulus
        with np.errstate(divide="ignore", invalid="ignore"):
            small = beta / big
            # t > 0: z₊ − 1 = p·z₊/(β − z₊); t < 0: −z₊ − 1 = −(2(1 + β) − p)/(z₋ + 1)
            shift = np.where(t >= 0.0, p * big / (beta - big),
                             -(2.0 * (1.0 + beta) - p) / (small + 1.0)) + 0.0  # no −0.0
            log_big = np.log1p(shift)
            log_small = math.log(beta) - log_big
        half = 0.5 * math.log(beta)
        out[:, 0] = np.where(real, log_big, half)
        out[:, 1] = np.where(real, log_small, half)
    if eps:
        if epsilon_form == "clamp":
            out = np.maximum(out, math.log(eps))
        else:
            out = np.logaddexp(out, math.log(eps))
    return out


def log_singular_value(sigma, *, eps: float = 0.0,
                       epsilon_form: EpsilonForm = "clamp") -> np.ndarray:
    """``ln σ`` of singular values ``σ ≥ 0`` (``−inf`` at 0), floored by ``ε`` as in
    :func:`gd_log_singular_value`.

    >>> log_singular_value([2.0, 0.0], eps=1e-3).tolist() == [np.log(2.0), np.log(1e-3)]
    True
    """
    eps = _check_eps(eps, epsilon_form)
    sigma = np.asarray(sigma, dtype=np.float64)
    with np.errstate(divide="ignore"):
        z = np.log(sigma)
        plus = np.log(sigma + eps) if eps and epsilon_form == "additive" else None
    return _floored(z, plus, eps, epsilon_form)


def gram_log_singular_value(s, *, eps: float = 0.0,
                            epsilon_form: EpsilonForm = "clamp") -> np.ndarray:
    """``ln σ`` from an eigenvalue ``s = σ²`` of ``JᵀJ`` (rounding can make ``s`` slightly
    negative: ``σ = √max(s, 0)``), floored by ``ε`` as in :func:`gd_log_singular_value`.

    >>> gram_log_singular_value([4.0, 0.0], eps=1e-3).tolist() == [np.log(2.0), np.log(1e-3)]
    True
    """
    sigma = np.sqrt(np.maximum(np.asarray(s, dtype=np.float64), 0.0))
    return log_singular_value(sigma, eps=eps, epsilon_form=epsilon_form)


def positive_int(name: str, value: Any, *, minimum: int = 1) -> int:
    """``value`` as an int ``>= minimum`` (:func:`sharpdim._validate.integer`).

    >>> positive_int("n_batches", 3)
    3
    """
    return _validate.integer(name, value, minimum=minimum)


def resolve_seed(seed: Any, name: str = "seed") -> int:
    """The integer seed a result records: :func:`sharpdim._validate.seed`, the one resolver."""
    return _validate.seed(seed, name)


def symmetry_tolerance(n: int, scale: float, *, eps: float = EPS) -> float:
    """Largest ``max|A − Aᵀ|`` of a computed symmetric ``n × n`` matrix with ``max|A| = scale``
    that is rounding, in a format with unit roundoff ``eps``: an entry formed as a length-``n``
    sum of products (``Q diag(α) Qᵀ``, a Hessian-vector product) is off by ``≤ n·eps·scale``
    (Higham, *Accuracy and Stability*, §3.1), and ``A_ij``, ``A_ji`` are formed independently,
    so ``2·n·eps·scale``; a factor 8 covers the reduction order of the products. The one
    symmetry tolerance of the package (symmetric-matrix arguments, matrix operators).

    >>> symmetry_tolerance(10, 1.0) == 160 * EPS
    True
    """
    return 16.0 * int(n) * float(eps) * float(scale)
