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
from sharpdim.curvature.lanczos import lanczos_lockstep
from sharpdim.curvature.slq import slq_spectral_measure

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


def _round_robin(fns: dict[str, Callable[[], object]], repeats: int,
                 device: torch.device) -> dict[str, float]:
    """Least seconds of each function over ``repeats`` turns (A, B, C, A, B, C, …): the
    turns spread a change of load on a shared machine over every function alike, and the
    minimum is the least-disturbed run (the convention of ``timeit``)."""
    for fn in fns.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            _sync(device)
            t0 = time.perf_counter()
            fn()
            _sync(device)
            times[k].append(time.perf_counter() - t0)
    return {k: float(np.min(v)) for k, v in times.items()}


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
            # a fresh minibatch per run (a new object), as PAPER_NOTES §5
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
    py = _pyhessian_run(model, _batches(x, y, 1, batch_size, rng)[0], n_steps, device)
    fns = {"lockstep": ours(n_runs), "sequential": ours(1)}
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
                 "×", "goal ≥ 3×"),
        BenchRow("slq", name, "speed-up over PyHessian, one run at a time",
                 t["pyhessian"] / t_seq, "×", ""),
    ]
    return rows


def _exact_rows(sizes, eigh_sizes, x, y, *, batch_size, seed, device) -> list[BenchRow]:
    rows = []
    rng = np.random.default_rng(seed)
    warm = flat_loss(mlp((N_FEATURES, 2, N_CLASSES), seed=seed).to(device), F.cross_entropy)
    torch.linalg.eigvalsh(exact_hessian(warm, warm.theta0, x[:4], y[:4]))  # lazy init
    for label in sizes:
        model = mlp(EXACT_WIDTHS[label], seed=seed).to(device)
        f = flat_loss(model, F.cross_entropy)
        xb, yb = _batches(x, y, 1, batch_size, rng)[0]
        N = f.n_params
        with _peak_memory(device) as mem_build:
            t0 = time.perf_counter()
            H = exact_hessian(f, f.theta0, xb, yb, dtype=torch.float64)
            _sync(device)
            t_build = time.perf_counter() - t0
        mem_eigh: dict = {"bytes": None}
        t_eigh = None
        if label in eigh_sizes:
            with _peak_memory(device) as mem_eigh:
                t0 = time.perf_counter()
                torch.linalg.eigvalsh(H)
                _sync(device)
                t_eigh = time.perf_counter() - t0
        del H
        note = f"{N:,} parameters, float64, H alone {N * N * 8 / 2**20:,.0f} MiB"
        rows.append(BenchRow("exact", label, "Hessian build", t_build, "s", note))
        rows.append(BenchRow("exact", label, "eigvalsh", t_eigh, "s",
                             "" if t_eigh is not None else "not run in this benchmark "
                             "(eigh_sizes); Θ(N³) — see the smaller sizes"))
        for what, mem in (("build", mem_build), ("eigvalsh", mem_eigh)):
            mib = None if mem["bytes"] is None else mem["bytes"] / 2**20
            rows.append(BenchRow("exact", label, f"peak memory, {what}", mib, "MiB",
                                 "growth of the resident set (pages freed by earlier steps "
                                 "are reused, so small sizes can read 0)"))
    return rows


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
) -> CurvatureBenchmark:
    """Measure every ratio of the curvature benchmark in one run (see module docstring).

    ``exact_sizes`` are the exact-path models to build (``"1k"``, ``"5k"``, ``"13k"``) and
    ``eigh_sizes`` those whose ``eigvalsh`` is timed too (a 13k float64 ``eigvalsh`` takes
    minutes on two CPU cores). ``slq_runs`` maps model name to the number of SLQ runs in
    one lockstep group (default 16 for 13k, 8 for 280k). The SLQ figures time, in turns,
    one lockstep group, one run on its own and one PyHessian run, ``slq_repeats`` times
    after a warm-up (least times).
    """
    device = torch.device(device)
    slq_runs = {"13k": 16, "280k": 8, **(slq_runs or {})}
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
    rows += _exact_rows(exact_sizes, eigh_sizes, x, y, batch_size=batch_size, seed=seed,
                        device=device)
    config = dict(seed=seed, device=str(device), batch_size=batch_size, n_examples=n_examples,
                  repeats=repeats, lanczos_steps=lanczos_steps, slq_steps=slq_steps,
                  slq_runs=slq_runs, slq_repeats=slq_repeats, exact_sizes=exact_sizes,
                  eigh_sizes=eigh_sizes,
                  models=models, seconds=time.perf_counter() - t_start)
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
        device_name=(torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"),
        pyhessian=pyh,
    )


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit in ("× gradient", "ratio", "×"):
        return f"{value:.2f}"
    if unit == "MiB":
        return f"{value:,.0f}"
    return f"{value:.3g}"


_TITLES = {
    "hvp": "Hessian-vector product ÷ gradient (goal ≤ 1.5 per probe for batched probes)",
    "lanczos": "Lanczos step ÷ HVP (full re-orthogonalization)",
    "slq": "SLQ wall time per run vs PyHessian `density` at equal steps (goal ≥ 3× faster)",
    "exact": "Exact path: Hessian build, `eigvalsh`, peak memory",
}


def render_curvature_markdown(result: CurvatureBenchmark) -> str:
    """The ``## Curvature`` section of ``reports/benchmarks.md`` (generated)."""
    c, p = result.config, result.provenance
    lines = [
        "## Curvature (`sharpdim bench curvature`)",
        "",
        "_Generated by `sharpdim.bench.curvature.bench_curvature`; every ratio is from one "
        f"run: least time of {c.get('repeats')} turns (SLQ: {c.get('slq_repeats')}) after a "
        "warm-up, the compared functions timed in alternation._",
        "",
        f"Device {p.get('device_name')} ({p.get('device')}), torch {p.get('torch')}, "
        f"{p.get('threads')} threads, Python {p.get('python')}; seed {c.get('seed')}; "
        f"batch {c.get('batch_size')} of {c.get('n_examples')} synthetic MNIST-1D-like "
        f"examples; models: 13k = 40→92→92→10, 280k = 40→297→297→297→297→10 (ReLU, no bias), "
        f"float32; exact path in float64. Total {c.get('seconds', 0):.0f} s.",
    ]
    for section in ("hvp", "lanczos", "slq", "exact"):
        rows = [r for r in result.rows if r.section == section]
        if not rows:
            continue
        lines += ["", f"### {_TITLES[section]}", "", "| model | quantity | value | unit | note |",
                  "| --- | --- | ---: | --- | --- |"]
        lines += [f"| {r.model} | {r.quantity} | {_fmt(r.value, r.unit)} | {r.unit} | {r.note} |"
                  for r in rows]
    lines += [
        "",
        f"PyHessian: {p.get('pyhessian')} (benchmark-only optional extra). Its `density` calls "
        "`torch.eig`, removed from PyTorch; for the duration of the call the benchmark "
        "substitutes `torch.linalg.eigh` on the symmetric tridiagonal matrix it passes "
        "(`sharpdim.bench.curvature._patched_torch_eig`), which returns the same eigenvalues "
        "and eigenvectors. Each PyHessian run gets a fresh minibatch (a new `hessian` object), "
        "as in PAPER_NOTES §5.",
        "",
    ]
    return "\n".join(lines)
