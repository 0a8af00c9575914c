"""``sharpdim bench curvature``: cost ratios of the curvature engine, each from one run.

On two MLPs with MNIST-1D-like inputs (40 features, 10 classes; synthetic, seeded) — ~13k
parameters (40→92→92→10) and ~280k (40→297→297→297→297→10), ReLU, no bias — it measures

* Hessian-vector product time ÷ gradient time, per strategy (fresh ``jvp(grad)``, reused
  double-backward graph, ``linearize``; single probes, blocks of 16 probes, and 16
  minibatches in lockstep);
* Lanczos step ÷ HVP with full re-orthogonalization (product and re-orthogonalization
  timed separately);
* SLQ wall time per run (fresh minibatch + ``m`` steps): lockstep, sequential, and
  PyHessian's ``density`` at equal steps (optional; its removed ``torch.eig`` call is patched
  for the call, see :func:`_patched_torch_eig`);
* the exact path: Hessian build and ``eigvalsh`` times and peak memory at 1k, 5k, 13k
  parameters (float64).

Every figure is a ratio of times measured in the same process: the compared functions run
in turns, ``repeats`` times after a warm-up, and each keeps its least time.
:func:`render_curvature_markdown` renders the section for ``reports/benchmarks.md``.
"""

from __future__ import annotations

import contextlib
import copy
import math
import platform
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sharpdim.curvature.functional import flat_loss
from sharpdim.curvature.hessian import exact_hessian
from sharpdim.curvature.hvp import hessian_operator, hessian_stack
from sharpdim.curvature.lanczos import lanczos_lockstep, timing_clock
from sharpdim.curvature.slq import lockstep_quadratures, slq_spectral_measure
from sharpdim.lab.bench.timing import within_turn_ratio

__all__ = [
    "BenchRow",
    "CurvatureBenchmark",
    "bench_curvature",
    "mlp",
    "render_curvature_markdown",
    "synthetic_classification",
]

N_FEATURES, N_CLASSES = 40, 10
SMALL_WIDTHS = (N_FEATURES, 92, 92, N_CLASSES)              # 13,064 parameters
LARGE_WIDTHS = (N_FEATURES, 297, 297, 297, 297, N_CLASSES)  # 279,477 parameters
EXACT_WIDTHS = {"1k": (N_FEATURES, 16, 16, N_CLASSES),      # 1,056
                "5k": (N_FEATURES, 50, 50, N_CLASSES),      # 5,000
                "13k": SMALL_WIDTHS}


@dataclass(frozen=True)
class BenchRow:
    """One measured figure: ``value`` in ``unit`` for ``quantity`` of ``model``."""

    section: str
    model: str
    quantity: str
    value: float | None
    unit: str
    note: str = ""
    goal: str = ""             # e.g. "≤ 1.15"; empty when the figure has no goal
    met: bool | None = None    # whether ``value`` meets ``goal`` (None: no goal)


def _goal(value: float | None, op: str, target: float) -> tuple[str, bool | None]:
    """``("≤ 1.15", value ≤ 1.15)`` and the like; ``met`` is None when nothing was measured."""
    if value is None:
        return f"{op} {target:g}", None
    return f"{op} {target:g}", bool(value <= target if op == "≤" else value >= target)


@dataclass(frozen=True)
class CurvatureBenchmark:
    """All rows of one benchmark run, its configuration and provenance."""

    rows: tuple[BenchRow, ...]
    config: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)


def mlp(widths: tuple[int, ...], *, seed: int, bias: bool = False) -> nn.Sequential:
    """ReLU MLP with layer widths ``widths`` (inputs first), initialized from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        lin = nn.Linear(a, b, bias=bias)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(b, a, generator=gen) * np.sqrt(2.0 / a))
            if bias:
                lin.bias.zero_()
        layers.append(lin)
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def synthetic_classification(
    n: int, *, seed: int, n_features: int = N_FEATURES, n_classes: int = N_CLASSES
) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST-1D-like data: each class a smooth random template of ``n_features`` samples,
    each example its class template shifted by up to 3 positions plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, n_features)
    freqs = rng.uniform(1, 4, size=(n_classes, 3))
    phases = rng.uniform(0, 2 * np.pi, size=(n_classes, 3))
    templates = np.sin(2 * np.pi * freqs[:, :, None] * t + phases[:, :, None]).sum(1)
    y = rng.integers(0, n_classes, size=n)
    shifts = rng.integers(-3, 4, size=n)
    x = np.stack([np.roll(templates[c], s) for c, s in zip(y, shifts, strict=True)])
    x = x + 0.25 * rng.standard_normal(x.shape)
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.int64)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rss_kib(field_name: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field_name):
                return int(line.split()[1])
    raise RuntimeError(f"{field_name} not in /proc/self/status")


@contextlib.contextmanager
def _peak_memory(device: torch.device) -> Iterator[dict]:
    """Peak memory above the starting level inside the block: CUDA allocator peak on a GPU,
    resident-set high-water mark (``VmHWM``, reset through ``/proc/self/clear_refs``) on
    Linux CPUs; ``None`` where neither is available."""
    out: dict = {"bytes": None}
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        yield out
        out["bytes"] = torch.cuda.max_memory_allocated(device) - base
        return
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        base = _rss_kib("VmRSS")
    except OSError:
        yield out
        return
    yield out
    out["bytes"] = (_rss_kib("VmHWM") - base) * 1024


def _eig_shim(A: torch.Tensor, eigenvectors: bool = False):
    # torch.eig returned (n, 2) real/imaginary eigenvalue pairs; PyHessian passes the
    # symmetric tridiagonal T, whose spectrum eigh gives exactly (imaginary parts zero).
    w, V = torch.linalg.eigh(A)
    pairs = torch.stack([w, torch.zeros_like(w)], dim=1)
    return pairs, (V if eigenvectors else torch.empty(0, dtype=A.dtype, device=A.device))


@contextlib.contextmanager
def _patched_torch_eig() -> Iterator[None]:
    """Replace the removed ``torch.eig`` by :func:`_eig_shim` for the block only."""
    saved = torch.eig if hasattr(torch, "eig") else None
    torch.eig = _eig_shim
    try:
        yield
    finally:
        if saved is None:
            del torch.eig
        else:
            torch.eig = saved


def _batches(x, y, n_batches: int, batch_size: int, rng: np.random.Generator):
    out = []
    for _ in range(n_batches):
        idx = torch.as_tensor(rng.choice(x.shape[0], batch_size, replace=False),
                              device=x.device)
        out.append((x[idx], y[idx]))
    return out


def _clock(device: torch.device) -> Callable[[], float]:
    """The clock of every timed figure: this thread's CPU time on a CPU with one torch
    thread (all the work then runs in this thread, and time spent descheduled while other
    processes use the cores is not counted: ratios measured on a shared machine stay
    those of a quiet one, up to the cache those processes disturb), else wall time."""
    if device.type == "cpu" and torch.get_num_threads() == 1:
        return time.thread_time
    return time.perf_counter


def _turns(fns: dict[str, Callable[[], object]], repeats: int,
           device: torch.device) -> dict[str, list[float]]:
    """Seconds of each function in each of ``repeats`` turns (A, B, C, A, B, C, …) after a
    warm-up: the turns spread a change of load on a shared machine over every function
    alike."""
    for fn in fns.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    clock = _clock(device)
    for _ in range(repeats):
        for k, fn in fns.items():
            _sync(device)
            t0 = clock()
            fn()
            _sync(device)
            times[k].append(clock() - t0)
    return times


def _round_robin(fns: dict[str, Callable[[], object]], repeats: int,
                 device: torch.device) -> dict[str, float]:
    """Least seconds of each function over the :func:`_turns`: the least-disturbed run (the
    convention of ``timeit``)."""
    return {k: float(np.min(v)) for k, v in _turns(fns, repeats, device).items()}


def _paired_ratio(times: dict[str, list[float]], num: str, den: str
                  ) -> tuple[float, float, float]:
    """:func:`~sharpdim.lab.bench.timing.within_turn_ratio` of two of the :func:`_turns`."""
    return within_turn_ratio(times[num], times[den])


def _hvp_rows(name, f, theta, x, y, *, batch_size, repeats, rng, device) -> list[BenchRow]:
    N = f.n_params
    xb, yb = _batches(x, y, 1, batch_size, rng)[0]
    v = torch.as_tensor(rng.standard_normal(N), dtype=theta.dtype, device=device)
    V16 = torch.as_tensor(rng.standard_normal((N, 16)), dtype=theta.dtype, device=device)
    R16 = torch.as_tensor(rng.standard_normal((16, N)), dtype=theta.dtype, device=device)
    ops = {m: hessian_operator(f, theta, xb, yb, method=m) for m in ("graph", "jvp", "linearize")}
    stack = hessian_stack(f, theta, _batches(x, y, 16, batch_size, rng))
    fns = {
        "grad": lambda: f.gradient(theta, xb, yb),
        "jvp": lambda: ops["jvp"].matvec(v),
        "graph": lambda: ops["graph"].matvec(v),
        "build": lambda: hessian_operator(f, theta, xb, yb, method="graph"),
        "linearize": lambda: ops["linearize"].matvec(v),
        "graph16": lambda: ops["graph"].matmat(V16),
        "graph16x": lambda: [ops["graph"].matvec(V16[:, j]) for j in range(16)],
        "build_lin": lambda: hessian_operator(f, theta, xb, yb, method="linearize"),
        "jvp16": lambda: ops["jvp"].matmat(V16),
        "linearize16": lambda: ops["linearize"].matmat(V16),
        "stack16": lambda: stack.apply(R16),
    }
    t = _round_robin(fns, repeats, device)
    # the public call against torch's private engine entry, 16 products a turn each and in
    # their own turns: one product timed after a different function reads its data from
    # colder caches than one timed after its twin (measured 0.66 against 0.9 in steady state)
    g, t_r = ops["graph"]._g, ops["graph"]._theta_r
    pair = {"raw": lambda: [torch.autograd.grad(g, t_r, v, retain_graph=True)
                            for _ in range(16)]}
    engine_call = getattr(torch.autograd.graph, "_engine_run_backward", None)
    if engine_call is not None:  # private: present in torch 2.3 and later
        pair["engine"] = lambda: [engine_call((g,), (v,), True, False, (t_r,), False, False)
                                  for _ in range(16)]
    t.update({k + "16": sec for k, sec in _round_robin(pair, repeats, device).items()})
    per = {k: t[k] / 16 if "16" in k else t[k] for k in t}
    rows = [BenchRow("hvp", name, "gradient (forward + backward)", t["grad"] * 1e3, "ms",
                     f"batch {batch_size}, {N:,} parameters")]
    labels = {
        "jvp": ("HVP, fresh jvp(grad) via functional_call", "rebuilt every product"),
        "graph": ("HVP, reused double-backward graph (method='graph', the default)",
                  "per product once the gradient graph exists"),
        "build": ("building that graph (gradient with create_graph=True)", "once per minibatch"),
        "linearize": ("HVP, linearize(grad)", "per product once linearized"),
        "graph16": ("HVP per probe, block of 16, graph + is_grads_batched", "one call"),
        "graph16x": ("HVP per probe, block of 16, graph, one product at a time",
                     "16 calls on the same graph"),
        "build_lin": ("building linearize(grad) (tracing)", "once per minibatch"),
        "jvp16": ("HVP per probe, block of 16, vmap(jvp(grad))", "one call"),
        "linearize16": ("HVP per probe, block of 16, vmap(linearize)", "one call"),
        "stack16": ("HVP per run, 16 minibatches in lockstep (stacked graph)",
                    f"strategy {stack.strategy}: 16 different Hessians, one double backward"),
    }
    labels["raw16"] = ("HVP, reused graph, a bare torch.autograd.grad call",
                       "the product of the goal rows' floor; 16 in a row")
    if "engine16" in t:
        labels["engine16"] = (
            "HVP, reused graph, torch's autograd engine called directly",
            f"private torch.autograd.graph._engine_run_backward, not used by sharpdim: "
            f"{t['engine16'] / t['raw16']:.2f} of the bare torch.autograd.grad call, whose "
            "argument handling is the rest; 16 in a row, in turns with the row above")
    for key, (quantity, note) in labels.items():
        rows.append(BenchRow("hvp", name, quantity, per[key] / t["grad"], "× gradient", note))
    return rows


def _lanczos_rows(name, f, theta, x, y, *, batch_size, n_steps, n_lockstep, rng,
                  device) -> list[BenchRow]:
    N = f.n_params
    rows = []
    for R in (1, n_lockstep):
        stack = hessian_stack(f, theta, _batches(x, y, R, batch_size, rng))
        V0 = torch.as_tensor(rng.standard_normal((R, N)), dtype=theta.dtype, device=device)
        res = lanczos_lockstep(stack.apply, V0, n_steps)[0]
        hvp = res.hvp_seconds / n_steps
        reorth = res.reorth_seconds / n_steps
        label = "one run" if R == 1 else f"{R} runs in lockstep"
        rows.append(BenchRow("lanczos", name, f"Lanczos step ÷ HVP ({label})",
                             (hvp + reorth) / hvp, "ratio",
                             f"m = {n_steps}, full re-orthogonalization; per step: product "
                             f"{hvp * 1e3:.2f} ms, re-orthogonalization {reorth * 1e3:.2f} ms"))
        rows.append(BenchRow("lanczos", name, f"re-orthogonalization ÷ HVP ({label})",
                             reorth / hvp, "ratio",
                             "averaged over the m steps (cost grows linearly with the step)"))
    return rows


def _pyhessian_run(model, batch, n_steps: int, device) -> Callable[[], None] | None:
    try:
        from pyhessian import hessian as PyHessian
    except ImportError:
        return None

    def run() -> None:
        with _patched_torch_eig(), warnings.catch_warnings():
            # PyHessian's own backward(create_graph=True) warns about a reference cycle
            warnings.filterwarnings("ignore", message="Using backward")
            # a fresh minibatch per run (a new object), as docs/theory.md §5
            comp = PyHessian(copy.deepcopy(model), F.cross_entropy, data=batch,
                             cuda=device.type == "cuda")
            comp.density(iter=n_steps, n_v=1)

    return run


def _slq_rows(name, model, f, theta, x, y, *, batch_size, n_steps, n_runs, repeats,
              seed, device) -> list[BenchRow]:
    data = (x, y)
    kw = dict(n_steps=n_steps, batch_size=batch_size)
    counter = iter(range(10**6))
    strategy = {}

    def ours(group: int) -> Callable[[], None]:
        def run() -> None:
            mu = slq_spectral_measure(f, theta, data, n_runs=group, lockstep=group,
                                      seed=seed + next(counter), **kw)
            strategy[group] = mu.diagnostics["strategy"]
        return run

    rng = np.random.default_rng(seed)
    target = {"13k": 3.0, "280k": 2.0}.get(name, 3.0)  # the goals of the two sizes
    py = _pyhessian_run(model, _batches(x, y, 1, batch_size, rng)[0], n_steps, device)
    fns = {"lockstep": ours(n_runs), "sequential": ours(1)}  # default re-orthogonalization
    if py is not None:
        fns["pyhessian"] = py
    t = _round_robin(fns, repeats, device)
    t_lock, t_seq = t["lockstep"] / n_runs, t["sequential"]
    rows = [
        BenchRow("slq", name, f"SLQ seconds per run, {n_runs} runs in lockstep", t_lock, "s",
                 f"m = {n_steps}, batch {batch_size}, strategy {strategy[n_runs]}"),
        BenchRow("slq", name, "SLQ seconds per run, one run at a time", t_seq, "s", ""),
    ]
    if py is None:
        rows.append(BenchRow("slq", name, "PyHessian density seconds per run", None, "s",
                             "not installed (pip install pyhessian)"))
        return rows
    rows += [
        BenchRow("slq", name, "PyHessian density seconds per run", t["pyhessian"], "s",
                 f"iter = {n_steps}, a fresh minibatch (new hessian object) per run; "
                 "torch.eig patched (see note)"),
        BenchRow("slq", name, "speed-up over PyHessian, lockstep", t["pyhessian"] / t_lock,
                 "×", "", *_goal(t["pyhessian"] / t_lock, "≥", target)),
        BenchRow("slq", name, "speed-up over PyHessian, one run at a time",
                 t["pyhessian"] / t_seq, "×", "", *_goal(t["pyhessian"] / t_seq, "≥", target)),
    ]
    return rows


def _lanczos_passes(w: torch.Tensor, q: torch.Tensor, q_prev: torch.Tensor) -> None:
    """The four passes over ``N``-vectors any Lanczos step makes and no PyTorch op fuses:
    ``α = qᵀw``, ``w −= α q``, ``w −= β q'`` (β = ½ stands in), ``‖w‖``."""
    w.add_(q, alpha=-float(torch.dot(q, w)))
    w.add_(q_prev, alpha=-0.5)
    float(torch.linalg.vector_norm(w))


def _bare_products(f, theta, batches, probe: torch.Tensor, n_steps: int) -> Callable[[], None]:
    """The floor an SLQ run is measured against: for each minibatch, the gradient graph
    (``create_graph=True``) and ``n_steps`` double backwards through it — raw
    ``torch.autograd.grad`` calls, the cheapest CPU Hessian-vector product through torch's
    public API (``HVP ÷ gradient`` rows), with nothing else."""
    def run() -> None:
        for xb, yb in batches:
            t = theta.detach().clone().requires_grad_(True)
            (g,) = torch.autograd.grad(f(t, xb, yb), t, create_graph=True)
            for _ in range(n_steps):
                torch.autograd.grad(g, t, probe, retain_graph=True)
    return run


def _bare_lanczos(f, theta, batches, probe: torch.Tensor, n_steps: int) -> Callable[[], None]:
    """The floor of a Lanczos run: :func:`_bare_products` whose products are chained as in a
    run (each product's input is the previous step's vector), each followed by the four
    passes of :func:`_lanczos_passes` with the run's own coefficients — ``α = uᵀw``,
    ``w −= αu``, ``w −= c u'``, ``‖w‖``, the normalization folded into the scalars — and
    nothing else: no checks, no bookkeeping, no Ritz values (a separate minimal recurrence,
    so that the engine's own overhead is not in its floor). A pass costs several times more
    between two products than alone (each evicts the other's data from cache), which
    ``graph + m HVPs`` does not count."""
    def run() -> None:
        for xb, yb in batches:
            t = theta.detach().clone().requires_grad_(True)
            (g,) = torch.autograd.grad(f(t, xb, yb), t, create_graph=True)
            u = u_prev = probe / torch.linalg.vector_norm(probe)
            s, s_prev, b_prev = 1.0, 1.0, 0.0
            for j in range(n_steps):
                (w,) = torch.autograd.grad(g, t, u, retain_graph=True)
                a = float(torch.dot(u, w)) / (s * s)
                w.add_(u, alpha=-a)
                if j:
                    w.add_(u_prev, alpha=-b_prev * s / s_prev)
                norm = float(torch.linalg.vector_norm(w))
                e = math.frexp(norm)[1]  # keep float32 far from overflow, as the engine does
                if not -24 <= e <= 24:
                    w.mul_(math.ldexp(1.0, -e))
                    norm = math.ldexp(norm, -e)
                u_prev, u, s_prev, s, b_prev = u, w, s, norm, norm / s
    return run


def _slq_cost_rows(name, model, f, theta, x, y, *, batch_size, n_steps, group, repeats,
                   seed, device) -> list[BenchRow]:
    """``estimate_sharpness(method="slq")`` ÷ (graph build + ``m`` HVPs) per run: one run
    (``n_batches=1``) and one lockstep group (``n_batches=group``), at the default
    re-orthogonalization and with ``"full"`` for comparison; float32 like the model."""
    from sharpdim.curvature.slq import DEFAULT_REORTHOGONALIZATION
    from sharpdim.estimators.estimate import estimate_sharpness
    from sharpdim.estimators.options import EstimateOptions

    rng = np.random.default_rng([seed, 11])
    probe = torch.as_tensor(rng.integers(0, 2, f.n_params) * 2.0 - 1, dtype=theta.dtype,
                            device=device)
    first = _batches(x, y, 1, batch_size, rng)
    one = _bare_products(f, theta, first, probe, n_steps)
    floor = _bare_lanczos(f, theta, first, probe, n_steps)
    many = _bare_products(f, theta, _batches(x, y, group, batch_size, rng), probe, n_steps)

    def est(R: int, mode: str) -> Callable[[], None]:
        def run() -> None:
            estimate_sharpness(model, F.cross_entropy, (x, y), lr=0.1, batch_size=batch_size,
                               method="slq", n_batches=R, seed=seed,
                               options=EstimateOptions(n_steps=n_steps, dtype=theta.dtype,
                                                       progress=False,
                                                       reorthogonalization=mode))
        return run

    (xb, yb), = _batches(x, y, 1, batch_size, rng)

    def graph() -> None:  # the build alone
        t_ = theta.detach().clone().requires_grad_(True)
        torch.autograd.grad(f(t_, xb, yb), t_, create_graph=True)

    unit = probe / torch.linalg.vector_norm(probe)
    unit_prev = unit.flip(0)

    def passes() -> None:  # the four passes of ``floor`` alone, without the products
        w = probe.clone()
        for _ in range(n_steps):
            _lanczos_passes(w, unit, unit_prev)

    def recurrence() -> None:  # the Lanczos recurrence alone: a one-pass stand-in product
        lanczos_lockstep(lambda Q: Q * 1.0, probe[None], n_steps,
                         reorthogonalize=DEFAULT_REORTHOGONALIZATION, inplace=True)

    engine_turns: list[tuple[float, float, float]] = []

    def engine() -> None:  # the SLQ engine alone on one minibatch: its own split of the time
        clock = _clock(device)
        t0 = clock()
        with timing_clock(clock):  # the engine's own split, in the same clock
            (res,), _, _ = lockstep_quadratures(f, theta, [(xb, yb)],
                                                probe[None].cpu().numpy(), n_steps,
                                                dtype=theta.dtype)
        engine_turns.append((clock() - t0, res.hvp_seconds, res.reorth_seconds))

    default = DEFAULT_REORTHOGONALIZATION
    fns = {"one": one, "floor": floor, "passes": passes, "est1": est(1, default),
           "est1_full": est(1, "full"), "many": many, "estG": est(group, default),
           "estG_full": est(group, "full"), "graph": graph,
           "recurrence": recurrence, "engine": engine}
    turns = _turns(fns, repeats, device)
    return _slq_cost_summary(name, turns, engine_turns, group=group, n_steps=n_steps,
                             batch_size=batch_size)


def _slq_cost_summary(name, turns, engine_turns, *, group, n_steps,
                      batch_size) -> list[BenchRow]:
    """The rows of :func:`_slq_cost_rows` from its timed turns: the goal ratios, the profile
    of one run and the floor of a Lanczos run."""
    from sharpdim.curvature.slq import DEFAULT_REORTHOGONALIZATION

    default = DEFAULT_REORTHOGONALIZATION
    t = {k: float(np.min(v)) for k, v in turns.items()}
    rows = []
    bare = t["one"]
    e_total, e_hvp, e_rec = min(engine_turns[1:] or engine_turns)  # the least-disturbed turn
    profile = (f"bare: graph build {t['graph'] / bare:.2f} + m HVPs "
               f"{(bare - t['graph']) / bare:.2f}; the SLQ engine on the same minibatch: "
               f"{e_total / bare:.2f}, of which products {e_hvp / bare:.2f}, recurrence "
               f"{e_rec / bare:.2f} (alone, with a one-pass stand-in product: "
               f"{t['recurrence'] / bare:.2f}), graph and setup "
               f"{(e_total - e_hvp - e_rec) / bare:.2f}; rest of estimate_sharpness (checks, "
               f"probes, SD, conditioning) {(t['est1'] - e_total) / bare:.2f}; all ÷ graph + "
               "m HVPs")
    floor_ratio, floor_lo, floor_hi = _paired_ratio(turns, "floor", "one")
    passes_ratio = _paired_ratio(turns, "passes", "one")[0]
    # the passes' cost between products, turn by turn: (floor − bare products) ÷ passes alone
    between = float(np.median((np.asarray(turns["floor"]) - np.asarray(turns["one"]))
                              / np.maximum(turns["passes"], 1e-12)))
    floor_note = (f"turns {floor_lo:.2f}–{floor_hi:.2f}; graph + m × (HVP + the 4 passes "
                  "α = uᵀw, w −= αu, w −= cu', ‖w‖ on the product, each product's input the "
                  f"previous step's vector); the same passes alone: {passes_ratio:.2f} (so "
                  f"between products they cost {between:.1f}× as much); one SLQ run ÷ this "
                  f"floor: {_paired_ratio(turns, 'est1', 'floor')[0]:.2f}; all medians of turns")
    for label, base, key, runs in (("one run", "one", "est1", 1),
                                   (f"{group} runs (default grouping)", "many", "estG", group)):
        for mode, k in ((default, key), ("full", key + "_full")):
            ratio, lo, hi = _paired_ratio(turns, k, base)
            goal, met = _goal(ratio, "≤", 1.15) if mode == default else ("", None)
            rows.append(BenchRow(
                "goals", name, f"SLQ through estimate_sharpness ÷ (graph + m HVPs), {label}, "
                f"reorthogonalization={mode!r}" + (" (default)" if mode == default else ""),
                ratio, "ratio",
                f"turns {lo:.2f}–{hi:.2f}; m = {n_steps}, batch {batch_size}, float32; least "
                f"times {t[k] / runs:.3g} s against {t[base] / runs:.3g} s per run", goal, met))
    rows.append(BenchRow("goals", name, "profile of one run (default re-orthogonalization)",
                         t["est1"] / t["one"], "ratio", "least times; " + profile))
    rows.append(BenchRow("goals", name, "floor of a Lanczos run ÷ (graph + m HVPs)",
                         floor_ratio, "ratio", floor_note))
    return rows


EXACT_LR = 0.1  # η of the exact SD rows: η·λ_max ≈ 2 for the 13k model at initialization


def _timed(fn, device):
    clock = _clock(device)
    _sync(device)
    t0 = clock()
    out = fn()
    _sync(device)
    return out, clock() - t0


_MEMORY_NOTE = ("growth of the resident set (pages freed by earlier steps are reused, so small "
                "sizes can read 0)")


def _exact_sd(alpha: np.ndarray) -> float:
    """The exact SD of the Hessian eigenvalues ``alpha`` at ``η = EXACT_LR``."""
    from sharpdim._numerics import gd_log_singular_value
    from sharpdim.dimension import sharpness_dimension

    return sharpness_dimension(np.sort(gd_log_singular_value(alpha, lr=EXACT_LR))[::-1])


def _single_hvp_seconds(f, xb, yb, rng: np.random.Generator, device) -> float:
    """Seconds of one float64 HVP: least of 3 turns of ``min(N, 200)`` products through the
    same graph (raw double backwards, the probe drawn from ``rng``)."""
    N = f.n_params
    t64 = f.theta0.detach().to(torch.float64).clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(t64, xb, yb), t64, create_graph=True)
    v = torch.as_tensor(rng.standard_normal(N), dtype=torch.float64, device=device)
    k = min(N, 200)

    def products() -> None:
        for _ in range(k):
            torch.autograd.grad(g, t64, v, retain_graph=True)

    return _round_robin({"hvp": products}, 3, device)["hvp"] / k


def _float64_hessian(f, xb, yb, device, *, twice: bool) -> tuple[torch.Tensor, float, dict]:
    """The float64 Hessian, its build time (``twice``: the lesser of two builds) and the peak
    memory of the first build."""
    def build() -> torch.Tensor:
        return exact_hessian(f, f.theta0, xb, yb, dtype=torch.float64)

    with _peak_memory(device) as mem_build:
        H, t_build = _timed(build, device)
    if twice:  # the goal's figure: the lesser of two builds, like every other time
        del H
        H, t_again = _timed(build, device)
        t_build = min(t_build, t_again)
    return H, t_build, mem_build


def _build_rows(label: str, N: int, t_build: float, t_hvp: float,
                mem_build: dict) -> list[BenchRow]:
    ratio = t_build / (N * t_hvp)
    goal, met = _goal(ratio, "≤", 1.5) if label == "13k" else ("", None)
    note = f"{N:,} parameters, float64, H alone {N * N * 8 / 2**20:,.0f} MiB"
    return [
        BenchRow("exact", label, "Hessian build", t_build, "s", note),
        BenchRow("exact", label, "Hessian build ÷ N single HVPs (float64)", ratio,
                 "ratio", f"one HVP {t_hvp * 1e3:.3g} ms; blocks of "
                 "64 probes, one batched double backward each", goal, met),
        BenchRow("exact", label, "peak memory, build (float64)",
                 _mib(mem_build), "MiB", _MEMORY_NOTE),
    ]


def _eigh_rows(label: str, t_build: float, t_eigh: float, t_sd: float, sd64: float,
               mem_eigh: dict) -> list[BenchRow]:
    total = t_build + t_eigh + t_sd
    return [
        BenchRow("exact", label, "eigvalsh (float64)", t_eigh, "s", ""),
        BenchRow("exact", label, "peak memory, eigvalsh (float64)", _mib(mem_eigh), "MiB",
                 _MEMORY_NOTE),
        BenchRow("exact", label, "exact SD of one minibatch (build + eigvalsh + SD)", total,
                 "s", f"SD = {sd64:.6g} at η = {EXACT_LR:g} (model at initialization)"),
        BenchRow("exact", label, "exact SD of one minibatch ÷ eigvalsh alone",
                 total / t_eigh, "ratio", "the rest is the build and the SD itself"),
    ]


def _float32_rows(label: str, f, xb, yb, alpha: np.ndarray, sd64: float, t64: float,
                  device) -> list[BenchRow]:
    """The float32 option against float64 (eigenvalues ``alpha``, SD ``sd64``, build +
    eigvalsh seconds ``t64``): its time, memory, SD error and eigenvalue error."""
    with _peak_memory(device) as mem32:
        H32, t_build32 = _timed(lambda: exact_hessian(
            f, f.theta0, xb, yb, dtype=torch.float32), device)
        alpha32, t_eigh32 = _timed(lambda H32=H32: torch.linalg.eigvalsh(H32), device)
    del H32
    alpha32 = alpha32.double().cpu().numpy()
    scale = float(np.abs(alpha).max()) or 1.0
    sd32 = _exact_sd(alpha32)
    return [
        BenchRow("exact", label, "float32 option: build + eigvalsh", t_build32 + t_eigh32,
                 "s", f"build {t_build32:.3g} s, eigvalsh {t_eigh32:.3g} s; "
                 f"{(t_build32 + t_eigh32) / t64:.2f}× the float64 time"),
        BenchRow("exact", label, "float32 option: peak memory, build + eigvalsh",
                 _mib(mem32), "MiB", _MEMORY_NOTE),
        BenchRow("exact", label, "float32 option: |SD − SD(float64)|", abs(sd32 - sd64),
                 "dimensions", f"SD(float32) = {sd32:.6g}, SD(float64) = {sd64:.6g}"),
        BenchRow("exact", label, "float32 option: max|Δα| ÷ max|α|",
                 float(np.abs(alpha32 - alpha).max()) / scale, "relative",
                 "eigenvalue error against float64 (sorted, paired)"),
    ]


def _exact_rows(sizes, eigh_sizes, x, y, *, batch_size, seed, device) -> list[BenchRow]:
    """Per size: float64 Hessian build (at 13k the lesser of two) ÷ ``N`` single float64 HVPs
    (least of 3 turns of ``min(N, 200)`` products through the same graph, raw double
    backwards), ``eigvalsh`` and
    the per-minibatch exact SD (build + ``eigvalsh`` + SD, at ``η = EXACT_LR``), peak memory;
    the float32 option's times and its SD and eigenvalue error against float64."""
    rows = []
    rng = np.random.default_rng(seed)
    warm = flat_loss(mlp((N_FEATURES, 2, N_CLASSES), seed=seed).to(device), F.cross_entropy)
    torch.linalg.eigvalsh(exact_hessian(warm, warm.theta0, x[:4], y[:4]))  # lazy init
    for label in sizes:
        f = flat_loss(mlp(EXACT_WIDTHS[label], seed=seed).to(device), F.cross_entropy)
        xb, yb = _batches(x, y, 1, batch_size, rng)[0]
        t_hvp = _single_hvp_seconds(f, xb, yb, rng, device)
        H, t_build, mem_build = _float64_hessian(f, xb, yb, device, twice=label == "13k")
        rows += _build_rows(label, f.n_params, t_build, t_hvp, mem_build)
        if label not in eigh_sizes:
            rows.append(BenchRow("exact", label, "eigvalsh (float64)", None, "s",
                                 "not run in this benchmark (eigh_sizes)"))
            del H
            continue
        with _peak_memory(device) as mem_eigh:
            alpha, t_eigh = _timed(lambda H=H: torch.linalg.eigvalsh(H), device)
        del H
        alpha = alpha.cpu().numpy()
        sd64, t_sd = _timed(lambda alpha=alpha: _exact_sd(alpha), device)
        rows += _eigh_rows(label, t_build, t_eigh, t_sd, sd64, mem_eigh)
        rows += _float32_rows(label, f, xb, yb, alpha, sd64, t_build + t_eigh, device)
    return rows


def _mib(mem: dict) -> float | None:
    return None if mem["bytes"] is None else mem["bytes"] / 2**20


def bench_curvature(
    *,
    seed: int = 0,
    device: str | torch.device = "cpu",
    batch_size: int = 128,
    n_examples: int = 4000,
    repeats: int = 10,
    lanczos_steps: int = 100,
    slq_steps: int = 100,
    slq_runs: dict[str, int] | None = None,
    slq_repeats: int = 2,
    exact_sizes: tuple[str, ...] = ("1k", "5k", "13k"),
    eigh_sizes: tuple[str, ...] = ("1k", "5k", "13k"),
    models: tuple[str, ...] = ("13k", "280k"),
    cost_repeats: dict[str, int] | None = None,
    reorth_study: Callable[..., list[dict]] | None = None,
    reorth_options: dict | None = None,
) -> CurvatureBenchmark:
    """Measure every ratio of the curvature benchmark in one run (see module docstring).

    ``exact_sizes`` are the exact-path models to build (``"1k"``, ``"5k"``, ``"13k"``) and
    ``eigh_sizes`` those whose ``eigvalsh`` is timed too (a 13k float64 ``eigvalsh`` takes
    minutes on two CPU cores). ``slq_runs`` maps model name to the number of SLQ runs in
    one lockstep group (default 16 for 13k, 8 for 280k). The SLQ figures time, in turns,
    one lockstep group, one run on its own and one PyHessian run, ``slq_repeats`` times
    after a warm-up (least times). The goal rows time ``estimate_sharpness(method="slq")``
    against the bare graph + ``m`` HVPs in turns, ``cost_repeats[model]`` times (default 10
    at 13k, where one turn takes a tenth of a second and one disturbance of the shared machine
    shows, and 5 at 280k)
    (:func:`_slq_cost_rows`). ``reorth_study``, when given, is run after the timings with
    keywords ``reorth_options`` and its rows are kept in the config: ``sharpdim bench
    curvature`` passes the re-orthogonalization study
    (:func:`sharpdim.lab.studies.reorthogonalization.reorthogonalization_study`, the data behind
    the default re-orthogonalization), which lives with the studies, not the benchmarks.
    """
    if reorth_study is True:
        raise TypeError("reorth_study must be the study function (sharpdim.lab.studies."
                        "reorthogonalization.reorthogonalization_study) or None, got True")
    device = torch.device(device)
    slq_runs = {"13k": 16, "280k": 8, **(slq_runs or {})}
    cost_repeats = {"13k": 10, "280k": 5, **(cost_repeats or {})}
    x, y = synthetic_classification(n_examples, seed=seed)
    x, y = x.to(device), y.to(device)
    rows: list[BenchRow] = []
    t_start = time.perf_counter()
    for name in models:
        widths = {"13k": SMALL_WIDTHS, "280k": LARGE_WIDTHS}[name]
        model = mlp(widths, seed=seed).to(device)
        f = flat_loss(model, F.cross_entropy)
        theta = f.theta0
        rng = np.random.default_rng([seed, len(widths)])
        rows += _hvp_rows(name, f, theta, x, y, batch_size=batch_size, repeats=repeats,
                          rng=rng, device=device)
        rows += _lanczos_rows(name, f, theta, x, y, batch_size=batch_size,
                              n_steps=lanczos_steps, n_lockstep=slq_runs[name], rng=rng,
                              device=device)
        rows += _slq_rows(name, model, f, theta, x, y, batch_size=batch_size,
                          n_steps=slq_steps, n_runs=slq_runs[name], repeats=slq_repeats,
                          seed=seed, device=device)
        rows += _slq_cost_rows(name, model, f, theta, x, y, batch_size=batch_size,
                               n_steps=slq_steps, group=slq_runs[name],
                               repeats=cost_repeats[name],
                               seed=seed, device=device)
    rows += _exact_rows(exact_sizes, eigh_sizes, x, y, batch_size=batch_size, seed=seed,
                        device=device)
    study = reorth_study(**(reorth_options or {})) if reorth_study else []
    config = dict(seed=seed, device=str(device), batch_size=batch_size, n_examples=n_examples,
                  repeats=repeats, lanczos_steps=lanczos_steps, slq_steps=slq_steps,
                  slq_runs=slq_runs, slq_repeats=slq_repeats, exact_sizes=exact_sizes,
                  eigh_sizes=eigh_sizes,
                  models=models, cost_repeats=cost_repeats, reorth_study=study,
                  seconds=time.perf_counter() - t_start)
    return CurvatureBenchmark(tuple(rows), config, _provenance(device))


def _provenance(device: torch.device) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    try:
        pyh = version("pyhessian")
    except PackageNotFoundError:
        pyh = "not installed"
    return dict(
        torch=torch.__version__, numpy=np.__version__, python=platform.python_version(),
        machine=platform.machine(), processor=platform.processor() or "unknown",
        threads=torch.get_num_threads(), device=str(device),
        clock=("this thread's CPU time (one torch thread: time descheduled is not counted)"
               if _clock(device) is time.thread_time else "wall time"),
        device_name=(torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"),
        pyhessian=pyh,
    )


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit in ("× gradient", "ratio", "×"):
        return f"{value:.2f}"
    if unit in ("relative", "dimensions"):
        return f"{value:.2g}"
    if unit == "MiB":
        return f"{value:,.0f}"
    return f"{value:.3g}"


_TITLES = {
    "goals": "Goals: SLQ through `estimate_sharpness` ÷ (graph build + m HVPs)",
    "hvp": "Hessian-vector product ÷ gradient (goal ≤ 1.5 per probe for batched probes)",
    "lanczos": "Lanczos step ÷ HVP (full re-orthogonalization, the cost it adds)",
    "slq": "SLQ wall time per run vs PyHessian `density` at equal steps (goal ≥ 3× faster at "
           "13k, ≥ 2× at 280k)",
    "exact": "Exact path: Hessian build, `eigvalsh`, exact SD, float32 option, peak memory",
}


_INTROS = {
    "goals": "Each ratio is per run. A call with the default settings makes 100 runs, grouped "
             "as in the *default grouping* rows. The *one run* rows are a call with "
             "`n_batches=1`: one run's m products also carry the call's fixed costs (argument "
             "checks, the loss-contract check, SD and conditioning: *rest of "
             "estimate_sharpness* in the profile row) and one graph's setup. The *floor* row is "
             "the cheapest Lanczos run: the graph, then m products chained as in a run, each "
             "followed by the four vector passes no PyTorch op fuses. Goal and floor rows give "
             "the median over the turns of the ratio within a turn (its range in the note), "
             "so that a change of the machine's speed between turns cancels; the profile "
             "splits the least times.",
}


def _met(met: bool | None) -> str:
    return "" if met is None else ("met" if met else "not met")


def render_curvature_markdown(
        result: CurvatureBenchmark, *,
        render_study: Callable[[list[dict]], list[str]] | None = None) -> str:
    """The ``## Curvature`` section of ``reports/benchmarks.md`` (generated); the rows of a
    study run along (``bench_curvature(reorth_study=...)``) are rendered by ``render_study``
    (:func:`sharpdim.lab.studies.reorthogonalization.render_reorthogonalization_markdown`)."""
    c, p = result.config, result.provenance
    lines = [
        "## Curvature (`sharpdim bench curvature`)",
        "",
        "_Generated by `sharpdim.lab.bench.curvature.bench_curvature`; every ratio is from one "
        f"run: least time of {c.get('repeats')} turns (SLQ: {c.get('slq_repeats')}; goal "
        "rows: the median of the ratios within "
        + ", ".join(f"{n} turns at {m}" for m, n in (c.get("cost_repeats") or {}).items()
                    if m in c.get("models", ()))
        + ") after a warm-up, the compared functions timed in alternation, in "
        f"{p.get('clock', 'wall time')}._",
        "",
        f"Device {p.get('device_name')} ({p.get('device')}), torch {p.get('torch')}, "
        f"{p.get('threads')} threads, Python {p.get('python')}; seed {c.get('seed')}; "
        f"batch {c.get('batch_size')} of {c.get('n_examples')} synthetic MNIST-1D-like "
        f"examples; models: 13k = 40→92→92→10, 280k = 40→297→297→297→297→10 (ReLU, no bias), "
        f"float32; exact path in float64. Total {c.get('seconds', 0):.0f} s.",
    ]
    for section in ("goals", "hvp", "lanczos", "slq", "exact"):
        rows = [r for r in result.rows if r.section == section]
        if not rows:
            continue
        lines += ["", f"### {_TITLES[section]}", ""]
        if section in _INTROS:
            lines += [_INTROS[section], ""]
        lines += ["| model | quantity | value | unit | goal | met | note |",
                  "| --- | --- | ---: | --- | --- | :-: | --- |"]
        lines += [f"| {r.model} | {r.quantity} | {_fmt(r.value, r.unit)} | {r.unit} | {r.goal} "
                  f"| {_met(r.met)} | {r.note} |" for r in rows]
    study = c.get("reorth_study") or []
    if study and render_study is not None:
        lines += render_study(study)
    lines += [
        "",
        f"PyHessian: {p.get('pyhessian')} (benchmark-only optional extra). Its `density` calls "
        "`torch.eig`, removed from PyTorch; for the duration of the call the benchmark "
        "substitutes `torch.linalg.eigh` on the symmetric tridiagonal matrix it passes "
        "(`sharpdim.lab.bench.curvature._patched_torch_eig`), which returns the same eigenvalues "
        "and eigenvectors. Each PyHessian run gets a fresh minibatch (a new `hessian` object), "
        "as in docs/theory.md §5.",
        "",
    ]
    return "\n".join(lines)


def __getattr__(name: str):
    """``reorthogonalization_study`` under its old path (it moved to the studies)."""
    if name == "reorthogonalization_study":
        from sharpdim.lab.studies.reorthogonalization import reorthogonalization_study

        return reorthogonalization_study
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
