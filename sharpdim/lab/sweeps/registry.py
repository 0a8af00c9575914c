"""What each recorded measure is: its label, its role in the analysis and its scale.

The report reads this registry instead of naming measures itself, so a new measure group
only has to add its outputs here to appear in every Kendall table, figure and CSV column.

Roles:

* ``target`` — what is predicted: the accuracy gap and the loss gap (docs/theory.md §6);
* ``sd`` — sharpness-dimension variants (the measures under test);
* ``baseline`` — what SD must beat: η, 1/b, η/b, train accuracy, train loss, steps, the top
  Hessian eigenvalue, the trace and the parameter norm;
* ``measure`` — other complexity measures in the Kendall tables (λ₁, PH dimensions, E_α);
* ``diagnostic`` — read beside the analysis, never ranked (EoS diagnostics, standard errors,
  bound inputs, test accuracy, convergence).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MeasureInfo", "MEASURES", "TARGETS", "STANDARD_ERROR_OF", "SLQ_VALIDATION",
           "RESULTS_COLUMNS", "LAMBDA_1_SOURCE", "BOUND_INPUTS", "STATE_SIZE_DEPENDENT",
           "UPDATE_SD",
           "EOS_RATIO", "FULL_SPECTRUM", "SD_PROFILE", "SLQ_MEASURE", "names_with_role",
           "names_in_family", "label", "info"]


@dataclass(frozen=True)
class MeasureInfo:
    """``role`` (see the module docstring); ``log_scale``: plot on log axes (values span
    decades)."""

    name: str
    label: str
    role: str
    log_scale: bool = False
    family: str = ""


_ROLES = ("target", "sd", "baseline", "measure", "diagnostic")


# the measures whose values span decades: plotted on log axes
_LOG_SCALE = frozenset({
    "lr", "inv_batch_size", "lr_over_batch_size", "train_loss", "steps", "top_eigenvalue",
    "trace", "e_alpha_euclidean", "e_alpha_loss", "test_loss", "path_norm", "inverse_margin",
    "pacbayes_mag_flatness", "eta_lambda_max", "eta_lambda_max_minibatch", "bound_L",
    "bound_B", "bound_B_test",
})


def _m(name: str, label: str, role: str) -> MeasureInfo:
    assert role in _ROLES, role
    family = next((f for f in ("sd", "lambda_1", "ph_dim", "e_alpha") if name == f
                   or name.startswith(f + "_")), "")
    family = "lambda" if family == "lambda_1" else family
    if name in ("top_eigenvalue", "trace"):
        family = "hessian"
    if role == "diagnostic":
        family = ""
    return MeasureInfo(name, label, role, name in _LOG_SCALE, family)


MEASURES: dict[str, MeasureInfo] = {m.name: m for m in (
    _m("gen_gap", "generalization gap |acc_tr − acc_te|", "target"),
    _m("loss_gap", "loss gap |L_tr − L_te|", "target"),
    # the measures under test
    _m("sd_exact", "SD (exact)", "sd"),
    _m("sd_fixed_batch", "SD (fixed Hessian batch)", "sd"),
    _m("sd_sup", "SD (exact, sup over iterates)", "sd"),
    _m("sd_slq", "SD-SLQ", "sd"),
    _m("sd_kde", "SD-KDE", "sd"),
    _m("sd_ps", "SD-PS", "sd"),
    _m("sd_update", "SD (update Jacobian)", "sd"),
    _m("sd_modal", "SD (heavy-ball modes, coordinate-free)", "sd"),
    # baselines SD must beat
    _m("lr", "η", "baseline"),
    _m("inv_batch_size", "1/b", "baseline"),
    _m("lr_over_batch_size", "η/b", "baseline"),
    _m("train_acc", "train accuracy", "baseline"),
    _m("train_loss", "train loss", "baseline"),
    _m("steps", "steps", "baseline"),
    _m("top_eigenvalue", "top Hessian eigenvalue", "baseline"),
    _m("trace", "Hessian trace", "baseline"),
    _m("weight_norm", "parameter norm ‖w‖", "baseline"),
    # other measures of the paper
    _m("lambda_1", "λ₁ (exact)", "measure"),
    _m("lambda_1_fixed_batch", "λ₁ (fixed Hessian batch)", "measure"),
    _m("lambda_1_sup", "λ₁ (sup)", "measure"),
    _m("lambda_1_slq", "λ₁ (SLQ)", "measure"),
    _m("lambda_1_update", "λ₁ (update)", "measure"),
    _m("lambda_1_modal", "λ₁ (heavy-ball modes)", "measure"),
    _m("ph_dim_euclidean", "PH dim (Euclidean)", "measure"),
    _m("ph_dim_loss", "PH dim (loss)", "measure"),
    _m("e_alpha_euclidean", "E_α (Euclidean)", "measure"),
    _m("e_alpha_loss", "E_α (loss)", "measure"),
    # diagnostics
    _m("test_acc", "test accuracy", "diagnostic"),
    _m("test_loss", "test loss", "diagnostic"),
    _m("gen_gap_se", "s.e. of the generalization gap", "diagnostic"),
    _m("heldout_acc", "held-out accuracy", "diagnostic"),
    _m("heldout_loss", "held-out loss", "diagnostic"),
    _m("heldout_gen_gap", "held-out gap |acc_tr − acc_ho| (positive control)", "diagnostic"),
    _m("heldout_signed_gen_gap", "held-out signed gap acc_tr − acc_ho", "diagnostic"),
    _m("heldout_loss_gap", "held-out loss gap |L_tr − L_ho|", "diagnostic"),
    _m("heldout_signed_loss_gap", "held-out signed loss gap L_ho − L_tr", "diagnostic"),
    _m("heldout_gen_gap_se", "s.e. of the held-out gap", "diagnostic"),
    _m("path_norm", "path norm (Σ over paths Π w²)", "measure"),
    _m("dist_from_init", "‖w − w₀‖₂ (distance from initialization)", "measure"),
    _m("inverse_margin", "1/γ² (γ: 10th-percentile margin)", "measure"),
    _m("pacbayes_mag_flatness", "1/σ′² (magnitude-aware PAC-Bayes flatness)", "measure"),
    _m("loss_gap_se", "s.e. of the loss gap", "diagnostic"),
    _m("epochs", "epochs", "diagnostic"),
    _m("converged", "converged (1/0)", "diagnostic"),
    _m("eta_lambda_max", "η·λ_max (full batch)", "diagnostic"),
    _m("eta_lambda_max_minibatch", "η·λ_max (minibatch mean)", "diagnostic"),
    _m("eos_threshold", "EoS threshold 2(1+β)", "diagnostic"),
    _m("sd_modal_per_state", "SD (heavy-ball modes) / state size 2N", "diagnostic"),
    _m("sd_update_per_state", "SD (update Jacobian) / state size", "sd"),
    _m("negative_fraction", "share of negative Hessian eigenvalues", "diagnostic"),
    _m("lambda_1_top_share", "λ₁ > 0 from the top eigenvalue (share)", "diagnostic"),
    _m("lambda_1_negative_share", "λ₁ > 0 from negative curvature (share)", "diagnostic"),
    _m("lambda_1_eos", "mean max ln|1 − ηα| (Lanczos)", "diagnostic"),
    _m("bound_L", "L (max per-example gradient norm)", "diagnostic"),
    _m("bound_B", "B (max per-example loss)", "diagnostic"),
    _m("bound_B_test", "max per-example test loss", "diagnostic"),
    _m("worst_loss_gap", "worst loss gap over last iterates", "diagnostic"),
    _m("n_train", "training examples", "diagnostic"),
    # hyperparameters (not measures) that figures label
    _m("batch_size", "batch size b", "diagnostic"),
    _m("label_noise", "label-noise fraction", "diagnostic"),
    _m("train_size", "training-set size", "diagnostic"),
)}

TARGETS = tuple(n for n, m in MEASURES.items() if m.role == "target")
STANDARD_ERROR_OF = {"gen_gap": "gen_gap_se", "loss_gap": "loss_gap_se"}
# The columns every results.csv starts with (blank where a sweep did not measure one).
RESULTS_COLUMNS = ("lr", "batch_size", "seed", "status", "converged", "steps", "train_acc",
                   "test_acc", "train_loss", "test_loss", "gen_gap", "gen_gap_se", "loss_gap",
                   "loss_gap_se", "sd_exact", "sd_slq", "sd_fixed_batch", "lambda_1",
                   "eta_lambda_max", "eta_lambda_max_minibatch", "eos_threshold")
# within one optimizer only: they live on state spaces of size N, 2N or 3N
STATE_SIZE_DEPENDENT = ("sd_update", "lambda_1_update")
UPDATE_SD = ("sd_update", "sd_update_per_state")   # (raw, divided by the state size)
SLQ_VALIDATION = ("sd_exact", "sd_slq")  # (reference, estimate) of the SLQ-vs-exact check
LAMBDA_1_SOURCE = ("lambda_1_top_share", "lambda_1_negative_share")  # (top, negative)
BOUND_INPUTS = ("bound_L", "bound_B", "n_train", "worst_loss_gap")   # (L, B, n, measured gap)
BOUND_B_TEST = "bound_B_test"  # the test examples' maximum loss: B is the larger of the two
EOS_RATIO = ("eta_lambda_max", "eta_lambda_max_minibatch", "eos_threshold")
# spectra stored as arrays by the measure groups
FULL_SPECTRUM = "hessian_eigenvalues"     # exact training-loss Hessian eigenvalues
SD_PROFILE = "rds_sharpness"              # exact λ_k profile behind sd_exact
SLQ_MEASURE = ("slq_nodes", "slq_weights")


def names_in_family(family: str) -> tuple[str, ...]:
    """Registered names of a family (``"sd"``, ``"lambda"`` (λ₁ variants), ``"ph_dim"``,
    ``"e_alpha"``, ``"hessian"``), in registry order."""
    return tuple(n for n, m in MEASURES.items() if m.family == family)


def names_with_role(*roles: str) -> tuple[str, ...]:
    """Registered measure names with one of ``roles``, in registry order."""
    bad = [r for r in roles if r not in _ROLES]
    if bad:
        raise ValueError(f"roles must be among {_ROLES}, got {bad}")
    return tuple(n for n, m in MEASURES.items() if m.role in roles)


def info(name: str) -> MeasureInfo:
    """The registry entry of ``name``; an unregistered name is a ``diagnostic`` labelled by
    itself (so a new output is shown, never dropped)."""
    return MEASURES.get(name, MeasureInfo(name, name, "diagnostic"))


def label(name: str) -> str:
    return info(name).label
