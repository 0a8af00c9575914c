"""The true Lyapunov spectrum of GD / SGD / heavy ball on a small torch network, beside the
sharpness dimension over the same attractor (docs/theory.md §2–§3, appendix B: ``D_KY ≤ SD``).

One run (:func:`run_setting`):

1. the network's training step as a random map (:func:`sharpdim.estimators.training_map`:
   noise = the minibatch, Jacobian = the exact step Jacobian ``I − ηH_B(w)`` or the
   heavy-ball ``[[I − ηH_B, −ηβI], [H_B, βI]]``);
2. ``warmup`` plain training steps from the seeded start (noise stream ``seed``), so the
   state is on its attractor;
3. the full Lyapunov spectrum ``Λ_1 ≥ … ≥ Λ_S`` by the QR method along the network's own
   trajectory (:func:`sharpdim.lyapunov_spectrum`, ``transient`` frame-alignment steps, then
   ``steps`` averaged steps, batch-means standard errors), and ``D_KY`` of it;
4. the same trajectory replayed from the same noise seed, ``n_points`` evenly spaced iterates
   kept as attractor points; one-step sharpness values at those points for ``n_noise``
   minibatches (:func:`sharpdim.dynamics.sharpness.rds_sharpness_samples`, the same Jacobians):
   ``sd_sup`` (sup over the points order by order, then the mean over minibatches — the
   definition) and ``sd_mean`` (mean over points and minibatches — the paper's practice), with
   ``λ_1`` of the sup form.

Standard errors: ``Λ`` from the QR batch means; ``D_KY`` by first-order propagation of the
``Λ`` standard errors (independent errors assumed); SD and ``λ_1`` by a bootstrap over the
minibatch draws (over the points for full-batch GD, where there is one "minibatch").

CLI: ``sharpdim study trajectory_lyapunov [--output OUTDIR] [--quick]`` (default OUTDIR: the
checkout's ``reports/trajectory_lyapunov``) writes ``results.csv``, ``results.json``
(provenance), ``dky_vs_sd.png`` and ``README.md``; this module's own entry point,
``python -m sharpdim.lab.studies.trajectory_lyapunov OUTDIR [--tiny] [--seeds ...]``, does the
same (``--tiny`` is the study's ``--quick``), and its ``--render-only`` rewrites them from
``OUTDIR/results.json`` without running anything.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from sharpdim import _validate
from sharpdim._markdown import marked_block, marked_section
from sharpdim.dimension import kaplan_yorke_dimension, sharpness_dimension
from sharpdim.dynamics.lyapunov import lyapunov_spectrum, noise_generator
from sharpdim.dynamics.sharpness import rds_sharpness_samples
from sharpdim.estimators.training_map import TrainingMap, training_map
from sharpdim.lab.stats import bootstrap_standard_error
from sharpdim.testing.oracles.linear_network import deep_linear_network, half_squared_error

__all__ = ["Setting", "RunRecord", "SETTINGS", "TINY_SETTINGS", "build_map", "run_setting",
           "write_outputs", "main", "COLUMNS"]

MODELS = ("deep_linear", "mlp_tanh")
DLN_SINGULAR_VALUES = (2.0, 1.5, 1.0, 0.5)  # depth 3, width 4: N = 48, λ_max = 3·2^{4/3}
DLN_DEPTH = 3
DLN_EXAMPLES = 32
MLP_EXAMPLES = 60  # digits 0, 1, 2; 8×8 images pooled to 4×4 = 16 inputs
MLP_WIDTH = 4      # 16·4 + 4 + 4·3 + 3 = 83 parameters


@dataclass(frozen=True)
class Setting:
    """One run: ``model`` in :data:`MODELS`, ``optimizer`` (``"gd"``: full batch, ``"sgd"``,
    ``"momentum"``: heavy ball, ``momentum`` β), ``lr``, ``batch_size`` (``n`` for GD),
    ``seed`` (initial point and every noise stream), ``warmup``/``transient``/``steps``,
    ``n_points`` attractor points and ``n_noise`` minibatches for the sharpness values."""

    model: str
    optimizer: str
    lr: float
    batch_size: int
    seed: int
    momentum: float = 0.0
    warmup: int = 3000
    transient: int = 100
    steps: int = 800
    n_points: int = 20
    n_noise: int = 6

    @property
    def run_id(self) -> str:
        return (f"{self.model}-{self.optimizer}-lr{self.lr:.4g}-b{self.batch_size}"
                f"-s{self.seed}")


COLUMNS = ("run_id", "model", "optimizer", "lr", "batch_size", "n_params", "steps",
           "Lambda_1", "d_ky", "lambda_1", "sd_mean", "sd_sup",
           "Lambda_1_stderr", "d_ky_stderr", "lambda_1_stderr", "sd_mean_stderr",
           "sd_sup_stderr", "momentum", "seed", "state_dim", "lr_times_lambda_max_balanced",
           "Lambda_sum", "log_det_mean", "d_ky_neutral", "sd_sup_neutral", "sd_mean_neutral",
           "n_neutral_Lambda", "final_loss", "diverged", "seconds")


@dataclass(frozen=True)
class RunRecord:
    """The numbers of one run (see :data:`COLUMNS`) and the full spectra: ``exponents``
    (Λ, sorted descending) with ``exponents_stderr``, ``sharpness_sup``/``sharpness_mean``
    (one-step λ_k of the two forms)."""

    run_id: str
    model: str
    optimizer: str
    lr: float
    batch_size: int
    n_params: int
    steps: int
    Lambda_1: float
    d_ky: float
    lambda_1: float
    sd_mean: float
    sd_sup: float
    Lambda_1_stderr: float
    d_ky_stderr: float
    lambda_1_stderr: float
    sd_mean_stderr: float
    sd_sup_stderr: float
    momentum: float
    seed: int
    state_dim: int
    lr_times_lambda_max_balanced: float | None
    Lambda_sum: float
    log_det_mean: float | None
    d_ky_neutral: float
    sd_sup_neutral: float
    sd_mean_neutral: float
    n_neutral_Lambda: int
    final_loss: float
    diverged: bool
    seconds: float
    exponents: tuple[float, ...]
    exponents_stderr: tuple[float, ...]
    sharpness_sup: tuple[float, ...]
    sharpness_mean: tuple[float, ...]


def _digits(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    keep = np.flatnonzero(y < 3)
    pick = np.sort(np.random.default_rng(seed).choice(keep, size=n, replace=False))
    pooled = (x[pick] / 16.0).reshape(n, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(n, 16)
    pooled = pooled - pooled.mean(axis=0)  # centred inputs
    onehot = np.eye(3)[y[pick]]
    return torch.as_tensor(pooled), torch.as_tensor(onehot)


def build_map(setting: Setting) -> tuple[TrainingMap, np.ndarray, float | None]:
    """The training map, the seeded initial state and (deep linear only) ``η·λ_max`` of the
    balanced minimum (``> 2``: no global minimum is GD-stable)."""
    _validate.choice("model", setting.model, MODELS)
    if setting.optimizer not in ("gd", "sgd", "momentum"):
        raise ValueError(f"optimizer must be 'gd', 'sgd' or 'momentum', got {setting.optimizer!r}")
    momentum = setting.momentum if setting.optimizer == "momentum" else 0.0
    rng = np.random.default_rng(setting.seed)
    ratio = None
    if setting.model == "deep_linear":
        net = deep_linear_network(list(DLN_SINGULAR_VALUES), DLN_DEPTH,
                                  n_examples=DLN_EXAMPLES, seed=setting.seed)
        model, loss_fn, data = net.model, net.loss_fn, net.data
        ratio = setting.lr * net.top_eigenvalue
        start_scale = 1e-2  # a perturbed balanced minimum
    else:
        from sharpdim.lab.sweeps.models import mlp

        data = _digits(MLP_EXAMPLES, setting.seed)
        model = mlp(16, MLP_WIDTH, 2, 3, bias=True, activation="tanh", seed=setting.seed)
        loss_fn = half_squared_error
        start_scale = 0.0
    batch = setting.batch_size
    if setting.optimizer == "gd" and batch != int(data[0].shape[0]):
        raise ValueError(f"batch_size must be n = {int(data[0].shape[0])} for GD, got {batch}")
    m = training_map(model, loss_fn, data, lr=setting.lr, batch_size=batch, momentum=momentum)
    x0 = m.initial_state.copy()
    x0[: m.n_params] += start_scale * rng.standard_normal(m.n_params)
    return m, x0, ratio


NEUTRAL_SE = 3.0
NEUTRAL_ONE_STEP = 1e-10


def _snap(values: np.ndarray) -> np.ndarray:
    """One-step values at rounding level (``|λ| ≤ 1e-10``: ``ln|1 − ηα|`` of a Hessian
    eigenvalue ``α`` that is 0 up to rounding, ~1e-14) read as exactly neutral."""
    return np.where(np.abs(values) <= NEUTRAL_ONE_STEP, 0.0, values)


def _seeds(seed: int) -> tuple[int, int, int]:
    """Independent noise streams for warm-up, the Lyapunov run and the sharpness draws."""
    children = np.random.SeedSequence(seed).spawn(3)
    return tuple(int(c.generate_state(1)[0]) for c in children)


def _ky_stderr(exponents: np.ndarray, stderr: np.ndarray) -> float:
    """First-order propagation of independent exponent errors through the KY formula."""
    finite = np.isfinite(exponents) & np.isfinite(stderr)
    if not finite.all():
        return float("nan")
    base = kaplan_yorke_dimension(exponents)
    total = 0.0
    for i in range(exponents.size):
        h = max(1e-7, 1e-3 * float(stderr[i]))
        up = exponents.copy()
        up[i] += h
        total += ((kaplan_yorke_dimension(up) - base) / h * float(stderr[i])) ** 2
    return math.sqrt(total)


def run_setting(setting: Setting) -> RunRecord:
    """Run one setting (module docstring); a run whose trajectory diverges is recorded with
    ``diverged=True`` and NaN measures."""
    start = time.perf_counter()
    m, x, ratio = build_map(setting)
    warm_seed, lyap_seed, sharp_seed = _seeds(setting.seed)
    rng = noise_generator(warm_seed)
    diverged = False
    for _ in range(setting.warmup):
        x = m.step(x, m.sample_noise(rng))
        if not np.all(np.isfinite(x)) or np.abs(x).max() > 1e6:
            diverged = True
            break
    nan = float("nan")
    if not diverged:
        spec = lyapunov_spectrum(m, x, setting.steps, transient=setting.transient,
                                 rng=lyap_seed, on_divergence="record")
        diverged = spec.diverged or spec.nonfinite_state_step is not None
    if diverged:
        return RunRecord(setting.run_id, setting.model, setting.optimizer, setting.lr,
                         setting.batch_size, m.n_params, setting.steps, nan, nan, nan, nan,
                         nan, nan, nan, nan, nan, nan, setting.momentum, setting.seed, m.dim,
                         ratio, nan, None, nan, nan, nan, 0, nan, True,
                         time.perf_counter() - start, (), (), (), ())
    # QR returns the exponents in frame order; nearly equal ones can come out of order in a
    # finite run, so sort them (with their standard errors) descending
    order = np.argsort(-spec.exponents, kind="stable")
    exps, exps_se = spec.exponents[order], spec.stderr[order]
    # exponents statistically indistinguishable from 0 (|Λ| ≤ 3 se) read as exactly neutral
    neutral_exps = np.where(np.abs(exps) <= NEUTRAL_SE * exps_se, 0.0, exps)
    # replay the same trajectory (same noise stream, one draw per step) and keep points
    replay = noise_generator(lyap_seed)
    total = setting.transient + setting.steps
    keep = set(setting.transient + np.linspace(0, setting.steps - 1, setting.n_points)
               .round().astype(int))
    points, y = [], x
    for t in range(total):
        y = m.step(y, m.sample_noise(replay))
        if t in keep:
            points.append(y)
    points = np.array(points)
    n_noise = 1 if setting.optimizer == "gd" else setting.n_noise
    samples = rds_sharpness_samples(m, points, n_noise=n_noise, rng=sharp_seed).log_singular_values
    # samples: (n_noise, n_points, dim) log singular values, each row descending
    ordered = -np.sort(-samples, axis=-1)
    sup = ordered.max(axis=1).mean(axis=0)
    mean = ordered.mean(axis=(0, 1))
    boot_rng = np.random.default_rng(sharp_seed)
    axis = 1 if n_noise == 1 else 0

    def sd_sup(s):
        return sharpness_dimension(s.max(axis=1).mean(axis=0))

    def sd_mean(s):
        return sharpness_dimension(s.mean(axis=(0, 1)))

    def lam_sup(s):
        return float(s.max(axis=1).mean(axis=0)[0])

    return RunRecord(
        setting.run_id, setting.model, setting.optimizer, setting.lr, setting.batch_size,
        m.n_params, setting.steps, float(exps[0]), kaplan_yorke_dimension(exps),
        float(sup[0]), sharpness_dimension(mean), sharpness_dimension(sup),
        float(exps_se[0]), _ky_stderr(exps, exps_se),
        bootstrap_standard_error(ordered, lam_sup, axis=axis, rng=boot_rng),
        bootstrap_standard_error(ordered, sd_mean, axis=axis, rng=boot_rng),
        bootstrap_standard_error(ordered, sd_sup, axis=axis, rng=boot_rng),
        setting.momentum, setting.seed, m.dim, ratio, float(exps.sum()), spec.log_det_mean,
        kaplan_yorke_dimension(neutral_exps), sharpness_dimension(_snap(sup)),
        sharpness_dimension(_snap(mean)), int((neutral_exps == 0).sum()),
        m.loss(y), False, time.perf_counter() - start,
        tuple(float(v) for v in exps), tuple(float(v) for v in exps_se),
        tuple(float(v) for v in sup), tuple(float(v) for v in mean))


# ----------------------------------------------------------------------------- settings

_DLN_LAMBDA_MAX = DLN_DEPTH * DLN_SINGULAR_VALUES[0] ** (2 * (DLN_DEPTH - 1) / DLN_DEPTH)


def _dln_lr(ratio: float) -> float:
    """The step with ``η·λ_max(balanced) = 2·ratio``."""
    return round(2.0 * ratio / _DLN_LAMBDA_MAX, 6)


def _grid(seeds: Sequence[int]) -> list[Setting]:
    out = []
    for seed in seeds:
        # η·λ_max(balanced)/2 = 0.9 (stable minimum), 1.1 and 1.2 (no stable minimum:
        # 2-cycles), 1.23–1.27 (chaos in a pilot, or divergence: the window is narrow and
        # depends on the start); 1.3 and above diverged in the pilot
        for ratio in (0.9, 1.1, 1.2, 1.23, 1.25, 1.27):
            out.append(Setting("deep_linear", "gd", _dln_lr(ratio), DLN_EXAMPLES, seed))
        for ratio in (0.6, 0.9):
            out.append(Setting("deep_linear", "sgd", _dln_lr(ratio), 16, seed))
        out.append(Setting("deep_linear", "momentum", _dln_lr(0.3), 16, seed, momentum=0.8))
        # MLP: λ_max ≈ 1.9 at the start, ≈ 4 after training; GD at η ≥ 1.45 diverged
        for lr in (0.4, 0.9, 1.3, 1.4):
            out.append(Setting("mlp_tanh", "gd", lr, MLP_EXAMPLES, seed))
        for lr in (0.5, 1.0):
            out.append(Setting("mlp_tanh", "sgd", lr, 15, seed))
        out.append(Setting("mlp_tanh", "momentum", 0.25, 15, seed, momentum=0.8))
    return out


SETTINGS = _grid((0, 1, 2))
TINY_SETTINGS = [
    Setting("deep_linear", "gd", _dln_lr(1.25), DLN_EXAMPLES, 0, warmup=50, transient=5,
            steps=20, n_points=4),
    Setting("mlp_tanh", "momentum", 1.0, 15, 0, momentum=0.8, warmup=20, transient=5,
            steps=10, n_points=3, n_noise=2),
]


# ----------------------------------------------------------------------------- outputs


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.6g}"
    return str(v)


ROUNDING_FLOOR = 1e-6
"""Smallest dimension gap read as real: exponents are exact to ~1e-9 (QR) and ~1e-15 (one
step), and Kaplan–Yorke divides them by a next exponent ≥ 1e-3 here, so a gap below 1e-6 is
rounding, even where both standard errors are 0 (a fixed point: every step is the same)."""


def _is_chaotic(r: RunRecord) -> bool:
    """``Λ₁ > max(2 se, 1e-6)`` (at a fixed point the batch-means se is 0 and Λ₁ ~ 1e-16)."""
    return (not r.diverged) and r.Lambda_1 > max(2 * r.Lambda_1_stderr, 1e-6)


def _verdict(r: RunRecord, se_factor: float = 2.0, neutral: bool = False
             ) -> tuple[str, str]:
    """(sup form vs D_KY, mean form vs D_KY) by the README's decision rule (``neutral``: on
    the values with statistically-zero exponents read as 0)."""
    if r.diverged:
        return "diverged", "diverged"
    out = []
    d_ky = r.d_ky_neutral if neutral else r.d_ky
    pairs = ((r.sd_sup_neutral, r.sd_sup_stderr), (r.sd_mean_neutral, r.sd_mean_stderr)) \
        if neutral else ((r.sd_sup, r.sd_sup_stderr), (r.sd_mean, r.sd_mean_stderr))
    for sd, se in pairs:
        band = max(ROUNDING_FLOOR, se_factor * math.sqrt(np.nan_to_num(r.d_ky_stderr) ** 2
                                                         + np.nan_to_num(se) ** 2))
        gap = sd - d_ky
        out.append("strict" if gap > band else "tight" if gap >= -band else "below")
    return out[0], out[1]


def write_outputs(records: Sequence[RunRecord], out: Path, provenance: dict) -> None:
    """``results.csv``, ``results.json``, ``dky_vs_sd.png`` and the generated part of
    ``README.md`` (a hand-written reading between ``<!-- reading -->`` markers is kept)."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for r in records:
            w.writerow([_fmt(getattr(r, c)) for c in COLUMNS])
    payload = {"provenance": provenance,
               "runs": [{**asdict(r), "verdict_sup": _verdict(r)[0],
                         "verdict_mean": _verdict(r)[1],
                         "verdict_sup_neutral": _verdict(r, neutral=True)[0],
                         "verdict_mean_neutral": _verdict(r, neutral=True)[1]}
                        for r in records]}
    (out / "results.json").write_text(json.dumps(payload, indent=1, default=_fmt) + "\n")
    _figure(records, out / "dky_vs_sd.png")
    rerun = out / RERUN
    other = rerun_section(records, provenance, *load_records(rerun)) \
        if (rerun / "results.json").is_file() else ""
    _readme(records, out / "README.md", provenance, other)


def _figure(records: Sequence[RunRecord], path: Path) -> None:
    """One panel per (model, optimizer): D_KY, its neutral reading and both SD forms
    against η; diverged runs are marked on the axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = [m for m in MODELS if any(r.model == m for r in records)]
    opts = [o for o in ("gd", "sgd", "momentum") if any(r.optimizer == o for r in records)]
    fig, axes = plt.subplots(len(models), len(opts), figsize=(4.6 * len(opts),
                                                              3.6 * len(models)),
                             squeeze=False)
    series = (("d_ky", "D_KY (true Λ)", "o", "C0", True),
              ("d_ky_neutral", "D_KY⁰ (neutral reading)", "o", "C0", False),
              ("sd_sup", "SD sup (definition)", "^", "C1", True),
              ("sd_mean", "SD mean (paper's practice)", "v", "C2", True))
    for i, model in enumerate(models):
        for j, opt in enumerate(opts):
            ax = axes[i][j]
            rs = sorted((r for r in records if r.model == model and r.optimizer == opt),
                        key=lambda r: r.lr)
            ok = [r for r in rs if not r.diverged]
            if not rs:
                ax.set_visible(False)
                continue
            lrs = np.array([r.lr for r in rs])
            width = lrs.max() - lrs.min() if lrs.size > 1 and lrs.max() > lrs.min() else \
                0.1 * lrs.max()
            for k, (key, label, marker, colour, filled) in enumerate(series):
                x = np.array([r.lr for r in ok]) + (k - 1.5) * 0.008 * width
                y = [getattr(r, key) for r in ok]
                err_key = {"d_ky_neutral": None}.get(key, key + "_stderr")
                yerr = [np.nan_to_num(getattr(r, err_key)) for r in ok] if err_key else None
                ax.errorbar(x, y, yerr=yerr, fmt=marker, ms=4.5, capsize=2, color=colour,
                            mfc=colour if filled else "none", label=label, alpha=0.85)
            for r in rs:
                if r.diverged:
                    ax.plot(r.lr, 0, "x", color="red", ms=7)
            chaotic = [r for r in ok if _is_chaotic(r)]
            if chaotic:
                ax.plot([r.lr for r in chaotic], [-0.04 * rs[0].state_dim] * len(chaotic), "*",
                        color="purple", ms=7, label="Λ₁ > 0 (chaos)")
            ax.axhline(rs[0].state_dim, color="grey", lw=0.6, ls=":")
            if model == "deep_linear" and opt != "momentum":
                ax.axvline(2.0 / _DLN_LAMBDA_MAX, color="grey", lw=0.6, ls="--",
                           label="2/λ_max (balanced minimum)")
            ax.set_title(f"{model}, {opt} (state dim {rs[0].state_dim}; × = diverged)",
                         fontsize=9)
            ax.set_xlabel("learning rate η")
            ax.set_ylabel("dimension")
            ax.set_xlim(lrs.min() - 0.08 * width, lrs.max() + 0.08 * width)
            if i == 0 and j == 0:
                ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


_RULE = """## Decision rule (fixed before the runs)

For each run, with ``se = max(1e-6, 2·√(se(D_KY)² + se(SD)²))`` (two combined standard
errors, and a rounding floor of 1e-6 for fixed points, where every step is the same and both
standard errors are 0):

* **strict** — ``SD − D_KY > se``: the inequality holds with room;
* **tight** — ``|SD − D_KY| ≤ se``: equality cannot be excluded;
* **below** — ``D_KY − SD > se``: SD is *below* the Lyapunov dimension. For the sup form
  (the definition) this would contradict appendix B; for the mean form (the paper's practice)
  it is the finding the issue asks about.

``se(D_KY)`` propagates the QR batch-means errors of the exponents (first order, independent
errors); ``se(SD)`` is a bootstrap over the minibatch draws (over the attractor points for
full-batch GD). The sup over ``n_points`` sampled iterates under-estimates the sup over the
attractor, so a "below" verdict of the sup form must be read with that bias in mind.

**Neutral reading** (columns marked ⁰). A network with symmetries (the deep linear net's
gauge ``(W_{k+1}G⁻¹, G W_k)``) has exactly neutral directions: exponents that are 0 in exact
arithmetic come out as ±1e-9 (QR averages) or ±1e-16 (one-step values), and both the
Kaplan–Yorke formula and SD jump by the number of such directions with the sign of that
rounding (docs/theory.md §7). The ⁰ columns read exponents with ``|Λ_i| ≤ 3 se(Λ_i)`` and
one-step values with ``|λ_k| ≤ 1e-10`` as exactly 0, then apply the same rule. Both readings
are reported; a verdict that differs between them is decided by rounding, not by dynamics.
"""


RERUN = "rerun"
"""Subfolder of a report holding the same settings run again by the same code on another
processor (a whole report of its own, made with ``--output OUTDIR/rerun``); when present the
report compares the two run by run (:func:`rerun_section`)."""


def load_records(folder: Path) -> tuple[list[RunRecord], dict]:
    """The runs and the provenance stored in ``folder/results.json``."""
    stored = json.loads((folder / "results.json").read_text())
    fields = set(RunRecord.__dataclass_fields__)
    records = [RunRecord(**{k: _decoded(v) for k, v in run.items() if k in fields})
               for run in stored["runs"]]
    return records, stored["provenance"]


def _verdicts(r: RunRecord) -> str:
    """The four verdicts (sup, mean, sup⁰, mean⁰), or ``diverged``."""
    return "diverged" if r.diverged else "/".join((*_verdict(r), *_verdict(r, neutral=True)))


def _processor(provenance: dict) -> str:
    cpu = provenance.get("cpu")
    return f"{cpu}, torch kernels {provenance.get('cpu_capability')}" if cpu else \
        "the processor was not recorded"


def _largest_change(pairs, attribute: str) -> float:
    gaps = [abs(getattr(a, attribute) - getattr(b, attribute)) for a, b in pairs]
    return max(gaps, default=float("nan"))


def rerun_section(records: Sequence[RunRecord], provenance: dict,
                  rerun: Sequence[RunRecord], rerun_provenance: dict) -> str:
    """The same settings run again elsewhere: which runs keep all four verdicts, a row for
    each run whose verdicts or divergence changed, the largest changes of SD and D_KY⁰
    among the runs that neither diverged nor were chaotic on either machine (there every
    step contracts, so rounding should stay rounding), and those of Λ₁, D_KY and SD among
    the runs chaotic on both (against Λ₁'s own standard error)."""
    by_id = {r.run_id: r for r in rerun}
    pairs = [(r, by_id[r.run_id]) for r in records if r.run_id in by_id]
    changed = [(a, b) for a, b in pairs if _verdicts(a) != _verdicts(b)]
    calm = [(a, b) for a, b in pairs if not (a.diverged or b.diverged or _is_chaotic(a)
                                             or _is_chaotic(b))]
    rows = [f"| {a.run_id} | {_verdicts(a)} | {_verdicts(b)} | {_fmt_pair(a, b, 'Lambda_1', 4)}"
            f" | {_fmt_pair(a, b, 'd_ky', 3)} | {_fmt_pair(a, b, 'sd_sup', 3)} | "
            f"{_fmt_pair(a, b, 'sd_mean', 3)} |" for a, b in changed]
    table = ("| run | verdicts here | verdicts there | Λ₁ | D_KY | SD sup | SD mean |\n"
             "|---|---|---|---:|---:|---:|---:|\n" + "\n".join(rows)) if rows else \
        "No run changed a verdict."
    largest = {a: f"{_largest_change(calm, a):.2g}" for a in
               ("sd_sup", "sd_mean", "d_ky_neutral", "sd_sup_neutral", "sd_mean_neutral")}
    chaos = [(a, b) for a, b in pairs if _is_chaotic(a) and _is_chaotic(b)]
    spread = {a: f"{_largest_change(chaos, a):.2g}" for a in
              ("Lambda_1", "d_ky", "sd_sup", "sd_mean")}
    se = max((max(a.Lambda_1_stderr, b.Lambda_1_stderr) for a, b in chaos), default=math.nan)
    chaos_text = (f"Among the {len(chaos)} runs chaotic on both, they are {spread['Lambda_1']} "
                  f"in Λ₁ (whose batch-means se is at most {se:.2g} there), {spread['d_ky']} in "
                  f"D_KY, {spread['sd_sup']} in SD sup and {spread['sd_mean']} in SD mean."
                  if chaos else "No run was chaotic on both.")
    return f"""## The same runs on another processor

`{RERUN}/` holds the same {len(rerun)} settings run again by the same code (commit
{rerun_provenance.get("commit")}) on another processor. Here: {_processor(provenance)}.
There: {_processor(rerun_provenance)}. Torch's kernels round differently on the two, and
these maps amplify rounding where they are chaotic or hold a neutral bulk. A verdict that
differs between the two is therefore decided by rounding, not by the dynamics.

{len(pairs) - len(changed)} of {len(pairs)} runs keep all four verdicts (sup, mean, sup⁰,
mean⁰) and their divergence; {len(changed)} change (each cell: here → there):

{table}

Among the {len(calm)} runs that neither diverged nor were chaotic on either processor, the
largest changes are {largest["sd_sup"]} in SD sup and {largest["sd_mean"]} in SD mean; in the
neutral reading, {largest["d_ky_neutral"]} in D_KY⁰, {largest["sd_sup_neutral"]} in SD sup⁰
and {largest["sd_mean_neutral"]} in SD mean⁰. {chaos_text}

"""


def _fmt_pair(a: RunRecord, b: RunRecord, attribute: str, digits: int) -> str:
    if a.diverged or b.diverged:
        return "—"
    return f"{getattr(a, attribute):.{digits}f} → {getattr(b, attribute):.{digits}f}"


def _readme(records: Sequence[RunRecord], path: Path, provenance: dict,
            rerun: str = "") -> None:
    reading = marked_section(path.read_text(), "reading") if path.exists() else None
    if not reading:
        reading = marked_block("reading", "*(no reading written yet)*")
    head = ("| run | η | b | S | Λ₁ ± se | D_KY ± se | λ₁ (sup) | SD sup ± se | SD mean ± se "
            "| sup | mean | D_KY⁰ | SD sup⁰ | SD mean⁰ | sup⁰ | mean⁰ |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---|---|\n")
    rows = []
    for r in records:
        vs, vm = _verdict(r)
        ns, nm = _verdict(r, neutral=True)
        if r.diverged:
            rows.append(f"| {r.run_id} | {r.lr:.4g} | {r.batch_size} | {r.state_dim} | "
                        "diverged | | | | | | | | | | | |")
            continue
        rows.append(
            f"| {r.run_id} | {r.lr:.4g} | {r.batch_size} | {r.state_dim} | "
            f"{r.Lambda_1:.4f} ± {r.Lambda_1_stderr:.4f} | {r.d_ky:.3f} ± {r.d_ky_stderr:.3f} "
            f"| {r.lambda_1:.4f} | {r.sd_sup:.3f} ± {r.sd_sup_stderr:.3f} | "
            f"{r.sd_mean:.3f} ± {r.sd_mean_stderr:.3f} | {vs} | {vm} | {r.d_ky_neutral:.3f} | "
            f"{r.sd_sup_neutral:.3f} | {r.sd_mean_neutral:.3f} | {ns} | {nm} |")
    done = [r for r in records if not r.diverged]
    def count(i, neutral):
        return {v: sum(_verdict(r, neutral=neutral)[i] == v for r in done)
                for v in ("strict", "tight", "below")}
    chaotic = sum(_is_chaotic(r) for r in done)
    summary = (f"{len(records)} runs ({len(records) - len(done)} diverged), "
               f"{chaotic} with Λ₁ > max(2 se, 1e-6). Verdict counts — sup form: "
               f"{count(0, False)}, mean form: {count(1, False)}; neutral reading — sup form: "
               f"{count(0, True)}, mean form: {count(1, True)}.")
    prov = "; ".join(f"{k} {v}" for k, v in provenance.items() if k != "settings")
    text = f"""# D_KY ≤ SD along a network's own training trajectory

*Generated by `sharpdim study trajectory_lyapunov` (module
`sharpdim/lab/studies/trajectory_lyapunov.py`, which states the method); the reading
between the `reading` markers is hand-written and kept on regeneration.*

The true Lyapunov spectrum Λ of GD, SGD and heavy ball on two small torch networks — a deep
linear network (3 layers of 4 × 4, N = 48, at a perturbed balanced minimum of a target with
singular values {DLN_SINGULAR_VALUES}) and a tanh MLP (16–{MLP_WIDTH}–3 with biases, N = 83,
on {MLP_EXAMPLES} digits 0–2 pooled to 4 × 4, half squared error on one-hot targets) — by the
QR method with the exact step Jacobians along the network's own trajectory, beside the
sharpness dimension (one-step exponents) over the same attractor points. S is the state
dimension (N, or 2N for heavy ball, whose SD uses the same 2N × 2N Jacobians).

{_RULE}
## Results

{summary}

{head}{chr(10).join(rows)}

![D_KY and SD against the learning rate](dky_vs_sd.png)

Columns of `results.csv`: {", ".join(COLUMNS)}. `results.json` adds the full spectra and the
provenance.

{rerun}## Reading

{reading}

## Provenance

{prov}
"""
    path.write_text(text)


def _decoded(v):
    if v == "nan":
        return float("nan")
    if v in ("True", "False"):
        return v == "True"
    if isinstance(v, list):
        return tuple(v)
    return v


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sharpdim.lab.studies.trajectory_lyapunov",
        description="Lyapunov spectrum and SD along small networks' training trajectories")
    parser.add_argument("out", type=Path, help="output folder (e.g. reports/trajectory_lyapunov)")
    parser.add_argument("--tiny", action="store_true", help="two tiny runs (a smoke test)")
    parser.add_argument("--seeds", type=int, nargs="*", default=None,
                        help="seeds of the full grid (default 0 1 2)")
    parser.add_argument("--render-only", action="store_true",
                        help="rewrite results.csv, the figure and README.md from OUT/results.json "
                             "(no runs)")
    args = parser.parse_args(argv)
    if args.render_only:
        records, provenance = load_records(args.out)
        write_outputs(records, args.out, provenance)
        return 0
    torch.set_num_threads(1)
    settings = TINY_SETTINGS if args.tiny else (
        _grid(args.seeds) if args.seeds is not None else SETTINGS)
    from sharpdim.lab.provenance import git_commit, machine, package_versions

    start = time.perf_counter()
    records = []
    for s in settings:
        r = run_setting(s)
        records.append(r)
        print(f"{r.run_id}: Λ1={r.Lambda_1:.4g} D_KY={r.d_ky:.4g} SD sup={r.sd_sup:.4g} "
              f"mean={r.sd_mean:.4g} ({r.seconds:.1f} s)", flush=True)
    provenance = {"commit": git_commit(), **package_versions(), **machine(),
                  "seconds": round(time.perf_counter() - start, 1),
                  "threads": torch.get_num_threads(), "dtype": "float64", "device": "cpu",
                  "settings": [asdict(s) for s in settings]}
    write_outputs(records, args.out, provenance)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
