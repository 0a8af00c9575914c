"""Coordinate-free SD of a heavy-ball step from the Hessian's spectrum: the *modal* SD.

The one-step singular values of the heavy-ball Jacobian ``J = [[I − η(H + κI), −ηβI],
[H + κI, βI]]`` depend on how the state ``(w, v)`` is scaled (``J`` is not normal); its
eigenvalues do not. Along a Hessian eigenvalue ``α`` they are the roots ``z±`` of
``z² − (1 + β − η(α + κ)) z + β``, and with the Hessian frozen the Lyapunov exponents of
``J^k`` are ``ln|z±|`` — the ``k → ∞`` limit of the horizon-``k`` update-Jacobian values
``(1/k) ln σ_i(J^k)`` (:mod:`sharpdim.estimators.horizon`), which converge at rate
``ln κ(V)/k`` (``V`` the eigenvectors of ``J``).

The modal SD is the weighted Kaplan–Yorke dimension of the push-forward of a spectral measure
``μ`` of ``H`` (mass ``N``; exact eigenvalues with unit masses, or the pooled SLQ quadrature)
through both roots: ``Σ_j w_j (δ_{ln|z₊(α_j)|} + δ_{ln|z₋(α_j)|})``, mass ``2N`` — the size of
the heavy-ball state. It is ours, not the paper's (the paper uses the GD Jacobian
``ln|1 − η(α + κ)|`` for every optimizer); it is the "coordinate-free update-Jacobian SD" at a
point of a full-batch run, where the Hessian is the same at every step. With ``β = 0`` the
second root is ``0`` and the modal SD is the GD SD.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sharpdim._numerics import heavy_ball_log_modulus
from sharpdim.curvature.spectral_measure import SpectralMeasure
from sharpdim.dimension import kaplan_yorke_decomposition
from sharpdim.vocabulary import EpsilonForm

__all__ = ["ModalDimension", "modal_dimension"]


@dataclass(frozen=True)
class ModalDimension:
    """The modal SD (``dimension``, in ``[0, 2N]``), the largest modal exponent ``lambda_1``
    (the ``ln`` of the step's spectral radius), the value at the crossing ``crossing``
    (``None`` when every partial sum is ``≥ 0``), the mass of expanding modes
    ``expanding_mass`` (``ln|z| > 0``) and the push-forward ``measure`` on ``ln|z|``."""

    dimension: float
    lambda_1: float
    crossing: float | None
    expanding_mass: float
    measure: SpectralMeasure


def modal_dimension(curvature: SpectralMeasure, *, lr: float, momentum: float,
                    weight_decay: float = 0.0, eps: float = 0.0,
                    epsilon_form: EpsilonForm = "clamp") -> ModalDimension:
    """Modal SD of heavy ball (``lr`` η, ``momentum`` β, ``weight_decay`` κ) over the spectral
    measure ``curvature`` of the Hessian (module docstring). ``eps`` floors ``ln|z|`` as for
    the GD values (:func:`sharpdim._numerics.heavy_ball_log_modulus`).

    >>> mu = SpectralMeasure([5.0, 0.0], [1.0, 1.0])     # η = 1, β = ½: ηα = 5 > 2(1 + β)
    >>> d = modal_dimension(mu, lr=1.0, momentum=0.5)
    >>> round(d.lambda_1, 6)       # ln|z₊(5)|, z₊ = (−3.5 − √(3.5² − 2))/2
    1.209193
    >>> round(d.dimension, 6)      # modes 1.2092, 0, ln ½, ln ½ − 1.2092: 3 + 0.5161/1.9023
    3.271269
    """
    logs = heavy_ball_log_modulus(curvature.nodes, lr=lr, momentum=momentum,
                                  weight_decay=weight_decay, eps=eps, epsilon_form=epsilon_form)
    w = np.asarray(curvature.weights, dtype=np.float64)
    nodes = logs.reshape(-1)                       # (z₊(α₁), z₋(α₁), z₊(α₂), …)
    weights = np.repeat(w, 2)
    finite = np.isfinite(nodes)                    # β = 0 without a floor: z₋ = 0, ln = −inf
    run_ids = None if curvature.run_ids is None else np.repeat(curvature.run_ids, 2)
    measure = SpectralMeasure(
        nodes[finite], weights[finite], None if run_ids is None else run_ids[finite],
        {**curvature.diagnostics, "view": "heavy-ball modes ln|z±| of the curvature measure",
         "lr": lr, "momentum": momentum, "weight_decay": weight_decay, "eps": eps,
         "epsilon_form": epsilon_form, "dropped_minus_inf_mass": float(weights[~finite].sum())})
    d = kaplan_yorke_decomposition(nodes, weights)
    return ModalDimension(dimension=d.dimension, lambda_1=float(logs[:, 0].max()),
                          crossing=d.next_value,
                          expanding_mass=float(weights[nodes > 0].sum()), measure=measure)
