"""One vocabulary for the names users pass and results record (layer 0: imports nothing from
``sharpdim``).

Every accepted spelling is a typed ``Literal`` with its tuple of values, so the API, the sweep
configs and the diagnostics agree on one set of words:

* :data:`Optimizer` — ``"sgd"``, ``"momentum"`` (heavy ball: PyTorch's ``SGD(momentum=β)``
  without dampening or Nesterov), ``"adam"``, ``"adamw"``. ``"sgd"`` with ``momentum > 0`` *is*
  ``"momentum"``: :func:`canonical_optimizer` maps both to ``"momentum"``.
* :data:`Method` — ``"exact"``, ``"slq"``, ``"kde"``, ``"ps"``.
* :data:`Aggregate` — ``"mean"``, ``"sup"``.
* :data:`JacobianKind` — ``"gd"``, ``"update"``.
* :data:`EpsilonForm` — ``"clamp"``, ``"additive"``.
* :data:`Smoothing` — ``"curvature"`` (kernel density of ``α``, pushed through ``ln|1 − ηα|``:
  the paper's), ``"log"`` (kernel density of the log singular values).
* :data:`Reorthogonalization` — ``"full"`` (every Lanczos step against the whole basis),
  ``"partial"`` (Simon's: only when the estimated loss of orthogonality passes ``√eps``),
  ``"none"`` (the plain three-term recurrence).
* :data:`LossReduction` — how a user's ``loss_fn`` reduces a batch: ``"mean"`` (the
  contract: its Hessian is the minibatch Hessian) or ``"sum"`` (divided by the batch size).
* :data:`AuditKind` — the kinds of estimator ``sharpdim audit`` checks, each with the call
  signature it expects in :data:`AUDIT_SIGNATURES`.
* :data:`RunStatus` / :data:`MeasureStatus` — sweep run and measure outcomes.
* :data:`OnDivergence` — what an iteration does when it leaves the finite range: ``"raise"``
  (a ``DivergenceError`` with the completed part attached) or ``"record"`` (return the
  completed part, flagged).
* :data:`DistanceMetric` — the norm of a point cloud's pair distances: ``"euclidean"``,
  ``"chebyshev"`` (the max-norm).
* :data:`ProbeDistribution` — the entries of a stochastic trace probe: ``"rademacher"``
  (``±1``), ``"gaussian"``.
* :data:`Extremes` — which end of a spectrum Lanczos resolves: ``"both"``, ``"largest"``,
  ``"smallest"``.
* :data:`HvpMethod` — how a Hessian-vector product is formed: ``"auto"`` (= ``"graph"``),
  ``"graph"`` (double backward through a reused gradient graph), ``"jvp"`` (forward over
  reverse), ``"linearize"`` (``torch.func.linearize`` of the gradient).
* :data:`AuditProfile` — how much of an audit runs: ``"quick"`` or ``"thorough"`` (every
  quick case too); :data:`Isolation` — where an audited estimator runs: ``"auto"``,
  ``"process"``, ``"thread"``, ``"inline"``.
* :data:`HypothesisProfile` — the registered Hypothesis settings: ``"ci"``, ``"quick"``,
  ``"thorough"``.
"""

from __future__ import annotations

import math
import numbers
from typing import Literal, get_args

from sharpdim._validate import choice  # noqa: F401 (the one word-list check, re-exported)

__all__ = [
    "Optimizer", "OPTIMIZERS", "ADAPTIVE_OPTIMIZERS",
    "Method", "METHODS", "DENSITY_METHODS",
    "Aggregate", "AGGREGATES",
    "JacobianKind", "JACOBIANS",
    "EpsilonForm", "EPSILON_FORMS",
    "Smoothing", "SMOOTHINGS",
    "Reorthogonalization", "REORTHOGONALIZATIONS",
    "LossReduction", "LOSS_REDUCTIONS",
    "AuditKind", "AUDIT_KINDS", "AUDIT_SIGNATURES",
    "RunStatus", "RUN_STATUSES",
    "MeasureStatus", "MEASURE_STATUSES",
    "OnDivergence", "ON_DIVERGENCES",
    "DistanceMetric", "DISTANCE_METRICS",
    "ProbeDistribution", "PROBE_DISTRIBUTIONS",
    "Extremes", "EXTREMES",
    "HvpMethod", "HVP_METHODS",
    "AuditProfile", "AUDIT_PROFILES", "Isolation", "ISOLATIONS", "TORCH_AUDIT_KINDS",
    "HypothesisProfile", "HYPOTHESIS_PROFILES",
    "choice",
    "canonical_optimizer",
]

Optimizer = Literal["sgd", "momentum", "adam", "adamw"]
Method = Literal["exact", "slq", "kde", "ps"]
Aggregate = Literal["mean", "sup"]
JacobianKind = Literal["gd", "update"]
EpsilonForm = Literal["clamp", "additive"]
Smoothing = Literal["curvature", "log"]
Reorthogonalization = Literal["full", "partial", "none"]
LossReduction = Literal["mean", "sum"]
AuditKind = Literal["lyapunov-map", "lyapunov-series", "correlation-dimension", "dimension",
                    "hessian-spectrum", "sharpness-dimension", "kendall", "persistence-h0"]
RunStatus = Literal["pending", "finished", "diverged", "failed"]
MeasureStatus = Literal["ok", "error", "skipped"]

OPTIMIZERS: tuple[str, ...] = get_args(Optimizer)
# per-coordinate step sizes: no constant linear-stability limit of η·λ
ADAPTIVE_OPTIMIZERS: tuple[str, ...] = ("adam", "adamw")
METHODS: tuple[str, ...] = get_args(Method)
DENSITY_METHODS: tuple[str, ...] = METHODS[1:]
AGGREGATES: tuple[str, ...] = get_args(Aggregate)
JACOBIANS: tuple[str, ...] = get_args(JacobianKind)
EPSILON_FORMS: tuple[str, ...] = get_args(EpsilonForm)
SMOOTHINGS: tuple[str, ...] = get_args(Smoothing)
REORTHOGONALIZATIONS: tuple[str, ...] = get_args(Reorthogonalization)
LOSS_REDUCTIONS: tuple[str, ...] = get_args(LossReduction)
AUDIT_KINDS: tuple[str, ...] = get_args(AuditKind)
# the audit kinds whose estimators take a torch model
TORCH_AUDIT_KINDS: tuple[str, ...] = ("hessian-spectrum", "sharpness-dimension")
# the call each audit kind makes of the estimator under audit
AUDIT_SIGNATURES: dict[str, str] = {
    "lyapunov-map": "f(system, x0, n_steps, seed) -> exponents (descending)",
    "lyapunov-series": "f(series) -> largest exponent per sample (natural log)",
    "correlation-dimension": "f(series) -> correlation dimension D_2",
    "dimension": "f(exponents) -> Kaplan-Yorke dimension",
    "hessian-spectrum": "f(model, loss_fn, data, [k=, seed=]) -> top eigenvalues | trace | "
                        "(nodes, weights)",
    "sharpness-dimension": "f(model, loss_fn, data, *, lr, batch_size, seed) -> SD",
    "kendall": "f(x, y) -> Kendall tau-a",
    "persistence-h0": "f(points) -> finite H0 death times, ascending",
}
RUN_STATUSES: tuple[str, ...] = get_args(RunStatus)
MEASURE_STATUSES: tuple[str, ...] = get_args(MeasureStatus)
OnDivergence = Literal["raise", "record"]
ON_DIVERGENCES: tuple[str, ...] = get_args(OnDivergence)
DistanceMetric = Literal["euclidean", "chebyshev"]
DISTANCE_METRICS: tuple[str, ...] = get_args(DistanceMetric)
ProbeDistribution = Literal["rademacher", "gaussian"]
PROBE_DISTRIBUTIONS: tuple[str, ...] = get_args(ProbeDistribution)
Extremes = Literal["both", "largest", "smallest"]
EXTREMES: tuple[str, ...] = get_args(Extremes)
HvpMethod = Literal["auto", "graph", "jvp", "linearize"]
HVP_METHODS: tuple[str, ...] = get_args(HvpMethod)
AuditProfile = Literal["quick", "thorough"]
AUDIT_PROFILES: tuple[str, ...] = get_args(AuditProfile)
Isolation = Literal["auto", "process", "thread", "inline"]
ISOLATIONS: tuple[str, ...] = get_args(Isolation)
HypothesisProfile = Literal["ci", "quick", "thorough"]
HYPOTHESIS_PROFILES: tuple[str, ...] = get_args(HypothesisProfile)


def canonical_optimizer(optimizer, momentum: float = 0.0) -> str:
    """The one name of an optimizer setting: ``"momentum"`` for heavy ball however it was
    spelled (``"momentum"``, or ``"sgd"`` with ``momentum > 0``), else the name itself.

    ``"momentum"`` needs ``0 < momentum < 1``; ``"adam"``/``"adamw"`` need ``momentum = 0``
    (their momentum is ``betas[0]``).

    >>> canonical_optimizer("sgd", 0.9), canonical_optimizer("momentum", 0.9)
    ('momentum', 'momentum')
    >>> canonical_optimizer("sgd", 0.0)
    'sgd'
    """
    optimizer = choice("optimizer", optimizer, OPTIMIZERS)
    if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real) \
            or not math.isfinite(float(momentum)) or not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
    if optimizer == "momentum":
        if momentum == 0:
            raise ValueError("momentum must be in (0, 1) for optimizer='momentum' (heavy ball), "
                             "got 0; pass momentum=β or optimizer='sgd'")
        return "momentum"
    if optimizer == "sgd":
        return "momentum" if momentum > 0 else "sgd"
    if momentum != 0:
        raise ValueError(f"momentum must be 0 for optimizer={optimizer!r} (its momentum is "
                         f"betas[0]), got {momentum!r}")
    return optimizer
