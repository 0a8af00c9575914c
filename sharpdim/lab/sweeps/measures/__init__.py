"""The measures taken on a trained network, as a list of named groups.

Each :class:`MeasureGroup` names the values it produces (``outputs``), says when it does
not apply (``skip``: a reason, or ``None``) and computes them (``compute``). A group whose
backend is missing or raises is recorded as an ``error`` outcome for each of its outputs,
with the message; the sweep never stops because of a measure.

Groups (all randomness from the run's measure seed; the estimators draw the same
minibatches for every method given a seed):

* ``performance`` — train/test loss and accuracy, ``gen_gap = |acc_train − acc_test|``,
  ``loss_gap = |loss_train − loss_test|`` (docs/theory.md §6 targets). Always taken.
* ``sd_exact`` — exact SD and ``λ_1`` with ``ln|1 − ηα|`` of minibatch Hessians, mean over
  minibatches (the paper's practice); keeps the ``λ_k`` profile. Only up to
  ``exact_max_params`` parameters.
* ``sd_sup`` — the same with the definition's sup over the last iterates before the mean.
* ``sd_slq``, ``sd_kde``, ``sd_ps`` — the density estimators (any size).
* ``sd_update`` — SD with the optimizer's true step Jacobian (heavy ball ``2N``, Adam ``3N``,
  or SGD with weight decay); exact up to the threshold (on the state size), SLQ above.
* ``sd_modal`` — heavy ball only: the coordinate-free SD of the step's modes ``ln|z±|``
  (roots of ``z² − (1 + β − η(α + κ)) z + β``) over the SLQ measure of ``sd_slq`` (the same
  runs), mass ``2N``; also divided by the state size ``2N``
  (:mod:`sharpdim.estimators.modal`).
* ``hessian`` — classical sharpness of the training loss (all examples, or a fixed random
  subset of ``n_examples``): top Hessian eigenvalue and trace; exact eigendecomposition up
  to the threshold (spectrum kept), Lanczos and Hutchinson above (``method`` forces one;
  ``"slq"``, full-batch runs only: both from the Lanczos runs of ``sd_slq``, no extra
  products).
* ``topology`` — PH dimension and α-weighted lifetime sums of the last iterates, with the
  Euclidean metric and the data-dependent loss metric.

Protocol groups (the decisive-test protocol; option tables of the same names):

* ``norms`` — ``weight_norm``, the Euclidean norm of the parameters: the baseline a sceptic
  of grokking tries first (weight decay shrinks it while test accuracy rises).
* ``training`` — how training ended: ``steps``, ``epochs``, ``converged`` (1 / 0: train
  cross-entropy ``≤ target_loss`` or 100 % train accuracy at the end).
* ``baselines`` — the hyperparameter baselines ``lr`` (η), ``inv_batch_size`` (1/b) and
  ``lr_over_batch_size`` (η/b); the other baselines (train accuracy and loss, steps, top
  Hessian eigenvalue, trace) come from ``performance``, ``training`` and ``hessian``.
* ``standard_errors`` — test-set noise of the targets: ``gen_gap_se = √(p(1 − p)/n_test)``
  (p the test accuracy; the training accuracy of a given model is exact) and
  ``loss_gap_se = s/√n_test`` (s the sample standard deviation of per-example test losses).
* ``eos`` — edge-of-stability diagnostics: ``eta_lambda_max`` (η × top eigenvalue of the
  training-loss Hessian, all examples or ``[measures.hessian] n_examples``),
  ``eta_lambda_max_minibatch`` (η × mean top eigenvalue of minibatch Hessians at the training
  batch size), ``eos_threshold`` (2, or 2(1 + β) with heavy-ball momentum β: the linear
  stability limit of η·λ), ``negative_fraction`` (share of the training Hessian's eigenvalues
  below ``−N·eps·max|α|``: exact spectrum up to ``exact_max_params``, SLQ mass below 0
  above; ``[measures.eos] method = "exact" | "lanczos"`` forces one), and where λ₁ > 0 comes
  from: ``lambda_1_top_share`` / ``lambda_1_negative_share`` = share of minibatches whose
  largest ``ln|1 − ηα|`` is positive and attained at the top eigenvalue (``ηα_max > 2``) /
  at the bottom one (``α_min < 0``); ``lambda_1_eos`` is the mean of that largest value.
* ``sd_fixed_batch`` — SD with minibatch Hessians of one fixed size for every run
  (``[measures.fixed_batch] batch_size``), so the rank effect of b (rank ≤ b(C − 1)) can be
  told from the dynamics; exact up to ``exact_max_params``, SLQ above.
* ``bound`` — the measured inputs of Theorem 4.5 on the last iterates: ``bound_L`` (largest
  per-example gradient norm: the Lipschitz constant), ``bound_B`` (largest per-example
  training loss: the loss bound) and ``bound_B_test`` (largest per-example test loss: the
  theorem's B bounds every example, so the report uses the larger), ``worst_loss_gap``
  (largest test − train mean loss over those iterates: the measured worst-case gap),
  ``n_train``. The bound itself needs an SD and is
  evaluated by :func:`sharpdim.lab.bounds.theorem_4_5_bound`.

Where it lives, every name importable from this package:
:mod:`~sharpdim.lab.sweeps.measures.core` (the settings, context, values and outcome classes,
:func:`jsonable`, the estimate helper), this package itself (the
registry :data:`GROUPS`, :func:`group_names`, :func:`output_names`, :func:`compute_measures`)
and one module per family of groups: :mod:`~sharpdim.lab.sweeps.measures.performance`
(``performance``, ``heldout``, ``standard_errors``),
:mod:`~sharpdim.lab.sweeps.measures.baselines` (``jiang``, ``norms``, ``training``,
``baselines``), :mod:`~sharpdim.lab.sweeps.measures.sharpness` (the ``sd_*`` groups, the
optimizer state size), :mod:`~sharpdim.lab.sweeps.measures.hessian`,
:mod:`~sharpdim.lab.sweeps.measures.eos`, :mod:`~sharpdim.lab.sweeps.measures.topology` and
:mod:`~sharpdim.lab.sweeps.measures.generalization_bounds` (``bound``).
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

# every module-level name of the single module this package was, so every old import works
# (the group functions are also the registry's entries below)
from sharpdim.lab.sweeps.measures.baselines import (  # noqa: F401 (re-exported)
    _baselines,
    _jiang,
    _norms,
    _skip_training,
    _training,
    hyperparameter_baselines,
)
from sharpdim.lab.sweeps.measures.core import (  # noqa: F401 (re-exported)
    _CALL_KEYWORDS,
    GroupValues,
    MeasureContext,
    MeasureGroup,
    MeasureOutcome,
    MeasureSettings,
    _estimate,
    _estimator_optimizer,
    _per_example,
    _too_big,
    jsonable,
)
from sharpdim.lab.sweeps.measures.eos import (  # noqa: F401 (re-exported)
    _eos,
    _extremes,
    eos_threshold,
    negative_share,
)
from sharpdim.lab.sweeps.measures.generalization_bounds import (  # noqa: F401 (re-exported)
    _bound,
    _per_example_grad_norms_and_losses,
    _skip_bound,
)
from sharpdim.lab.sweeps.measures.hessian import (  # noqa: F401 (re-exported)
    _full_spectrum,
    _hessian,
    _hessian_from_slq,
    _hessian_rows,
)
from sharpdim.lab.sweeps.measures.performance import (  # noqa: F401 (re-exported)
    _heldout,
    _per_example_test_losses,
    _performance,
    _skip_heldout,
    _standard_errors,
)
from sharpdim.lab.sweeps.measures.sharpness import (  # noqa: F401 (re-exported)
    STATE_FACTOR,
    _density,
    _density_estimate,
    _sd_exact,
    _sd_fixed_batch,
    _sd_modal,
    _sd_sup,
    _sd_update,
    _skip_fixed_batch,
    _skip_modal,
    _skip_sup,
    _skip_update,
    _state_size,
    _sup_points,
    state_size,
)
from sharpdim.lab.sweeps.measures.topology import (  # noqa: F401 (re-exported)
    _per_example_losses,
    _skip_topology,
    _topology,
)

__all__ = [
    "MeasureSettings",
    "MeasureContext",
    "GroupValues",
    "MeasureGroup",
    "MeasureOutcome",
    "GROUPS",
    "group_names",
    "output_names",
    "compute_measures",
    "STATE_FACTOR",
    "state_size",
]


GROUPS: dict[str, MeasureGroup] = {g.name: g for g in (
    MeasureGroup("performance", ("train_loss", "train_acc", "test_loss", "test_acc", "gen_gap",
                                 "loss_gap"), _performance,
                 description="accuracy and loss on train and test, and their gaps"),
    MeasureGroup("heldout", ("heldout_acc", "heldout_loss", "heldout_gen_gap",
                             "heldout_signed_gen_gap", "heldout_loss_gap",
                             "heldout_signed_loss_gap", "heldout_gen_gap_se"),
                 _heldout, _skip_heldout,
                 "the gap on a held-out 20 % of the training distribution (the protocol's "
                 "positive control)"),
    MeasureGroup("jiang", ("path_norm", "dist_from_init", "inverse_margin",
                           "pacbayes_mag_flatness"), _jiang,
                 description="Jiang et al.'s strongest measures: path norm, distance from "
                 "initialization, inverse 10th-percentile margin, magnitude-aware PAC-Bayes "
                 "flatness"),
    MeasureGroup("sd_exact", ("sd_exact", "lambda_1"), _sd_exact, _too_big,
                 "exact SD and λ_1 (ln|1 − ηα| of minibatch Hessians, mean over minibatches)"),
    MeasureGroup("sd_sup", ("sd_sup", "lambda_1_sup"), _sd_sup, _skip_sup,
                 "exact SD with the sup over the last iterates before the mean (definition)"),
    MeasureGroup("sd_slq", ("sd_slq", "lambda_1_slq"), _density("slq"),
                 description="SD-SLQ (push-forward of the SLQ spectral measure)"),
    MeasureGroup("sd_kde", ("sd_kde",), _density("kde"),
                 description="SD-KDE (Gaussian-smoothed density of ln σ)"),
    MeasureGroup("sd_ps", ("sd_ps",), _density("ps"),
                 description="SD-PS (pseudo-spectrum of equal-mass quantiles)"),
    MeasureGroup("sd_update", ("sd_update", "lambda_1_update", "sd_update_per_state"),
                 _sd_update, _skip_update,
                 "SD with the optimizer's true one-step Jacobian"),
    MeasureGroup("sd_modal", ("sd_modal", "lambda_1_modal", "sd_modal_per_state"), _sd_modal,
                 _skip_modal, "coordinate-free heavy-ball SD: ln|z±| of the step's modes over "
                 "the SLQ measure of the Hessian (mass 2N)"),
    MeasureGroup("hessian", ("top_eigenvalue", "trace"), _hessian,
                 description="top eigenvalue and trace of the full training-set Hessian"),
    MeasureGroup("topology", ("ph_dim_euclidean", "ph_dim_loss", "e_alpha_euclidean",
                              "e_alpha_loss"), _topology, _skip_topology,
                 "PH dimension and α-weighted MST lifetime sums of the last iterates"),
    MeasureGroup("norms", ("weight_norm",), _norms,
                 description="Euclidean norm of the parameters (the weight-decay baseline of "
                 "grokking)"),
    MeasureGroup("training", ("steps", "epochs", "converged"), _training, _skip_training,
                 "optimizer steps, epochs and whether the stopping criterion holds at the end"),
    MeasureGroup("baselines", ("lr", "inv_batch_size", "lr_over_batch_size"), _baselines,
                 description="hyperparameter baselines η, 1/b and η/b"),
    MeasureGroup("standard_errors", ("gen_gap_se", "loss_gap_se"), _standard_errors,
                 description="test-set standard errors of the accuracy and loss gaps"),
    MeasureGroup("eos", ("eta_lambda_max", "eta_lambda_max_minibatch", "eos_threshold",
                         "negative_fraction", "lambda_1_top_share", "lambda_1_negative_share",
                         "lambda_1_eos"), _eos,
                 description="edge-of-stability diagnostics (η·λ_max against 2(1+β), negative "
                 "curvature, where λ₁ > 0 comes from)"),
    MeasureGroup("sd_fixed_batch", ("sd_fixed_batch", "lambda_1_fixed_batch"), _sd_fixed_batch,
                 _skip_fixed_batch, "SD from minibatch Hessians of one fixed size for all runs"),
    MeasureGroup("bound", ("bound_L", "bound_B", "bound_B_test", "worst_loss_gap", "n_train"),
                 _bound, _skip_bound, "measured inputs of Theorem 4.5 on the last iterates"),
)}


def group_names() -> list[str]:
    return list(GROUPS)


def output_names(groups: Sequence[str]) -> list[str]:
    """The measure names produced by ``groups`` (in order)."""
    return [o for g in groups for o in GROUPS[g].outputs]


def _outcomes(group: MeasureGroup, status: str, values: Mapping[str, Any], error: str | None,
              seconds: float, details: Mapping[str, Any],
              errors: Mapping[str, str] | None = None) -> list[MeasureOutcome]:
    out = []
    for name in group.outputs:
        v = values.get(name)
        v = None if v is None else float(v)
        st = status
        if st == "ok" and errors and name in errors:
            st, err = "error", errors[name]
        elif st == "ok" and (v is None or math.isnan(v)):
            st, err = "error", f"{group.name} returned no value for {name} ({v})"
        else:
            err = error
        out.append(MeasureOutcome(name, group.name, st, v if st == "ok" else None, err,
                                  seconds, details))
    return out


def compute_measures(
    ctx: MeasureContext, groups: Sequence[str]
) -> tuple[list[MeasureOutcome], dict[str, np.ndarray]]:
    """Run ``groups`` (``performance`` first, always) on ``ctx``; never raises for a failing
    group: its outputs become ``error`` outcomes carrying the exception's message."""
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        raise ValueError(f"unknown measure group(s) {unknown}; known: {group_names()}")
    order = ["performance"] + [g for g in groups if g != "performance"]
    outcomes: list[MeasureOutcome] = []
    arrays: dict[str, np.ndarray] = {}
    for name in order:
        group = GROUPS[name]
        t0 = time.perf_counter()
        try:
            reason = group.skip(ctx)
            if reason is not None:
                outcomes += _outcomes(group, "skipped", {}, reason, 0.0, {})
                continue
            result = group.compute(ctx)
        except Exception as exc:  # a failing backend is an outcome, not a crash
            message = f"{type(exc).__name__}: {exc}"
            tb = traceback.format_exc(limit=6)
            outcomes += _outcomes(group, "error", {}, message, time.perf_counter() - t0,
                                  {"traceback": tb})
            continue
        outcomes += _outcomes(group, "ok", result.values, None, time.perf_counter() - t0,
                              result.details, result.errors)
        arrays.update({k: np.asarray(v, dtype=np.float64) for k, v in result.arrays.items()})
    return outcomes, arrays
