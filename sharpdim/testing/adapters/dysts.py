"""dysts' discrete maps (``dysts.maps``, written by others) wrapped as sharpdim maps, and their
Lyapunov spectra checked against the literature and against ``mean ln|det J|``.

**Wrapping.** :class:`DystsMap` follows the map protocol of :mod:`sharpdim.dynamics.maps`:
``step(x)`` is dysts' own right-hand side (``DynMap.rhs``) at the parameters and initial
condition dysts ships in its metadata, and ``jacobian(x)`` is computed from that same code by
**finite differences** (dysts writes its maps with numpy and numba, so automatic
differentiation cannot see through them). For coordinate ``j`` the central difference
``(f(x + h e_j) − f(x − h e_j)) / 2h`` has error ``h²/6·|f'''| + eps·|f|/h``; with
``|f| ≈ max(1, |x_j|)`` (several dysts maps let a phase grow without reduction mod 2π) and
``|f'''| = O(1)`` the step ``h_j = eps^{1/3}·max(1, |x_j|)^{1/3}`` balances the two terms, for
an error ``≈ eps^{2/3}·max(1, |x_j|)^{2/3}`` (``4e-11`` near the unit box). Several dysts maps
are not smooth (``|x|``, ``floor``, ``mod``, ``sign``): where the forward and backward one-sided
differences disagree by more than ``KINK_RTOL`` relative (a kink or jump within ``h`` of
``x``), the one-sided difference of the side that did not cross it is used instead — the side
whose difference is unchanged when the step is halved — with error ``h·|f''| ≈ 6e-6``
relative, and the event is counted (``kinks``); so is a step
that leaves the map's domain (a non-finite value on one side, e.g. ``arccos`` beyond ±1), where
the other side's one-sided difference is used.

**Checks** (:func:`spectrum_row`): the QR spectrum (:func:`sharpdim.lyapunov_spectrum`) from
dysts' initial condition, its sum against ``mean ln|det J|`` over the same orbit (computed by
LU, independently of the QR recursion — a metamorphic identity that holds for every map), the
analytic ``ln|det J|`` where it is constant, closed-form exponents where they exist at dysts'
parameters (derived here), and published values (:data:`LITERATURE`) only where the published
number is known exactly and the map's form and parameters are the published ones. The orbit
is also classified: ``periodic`` (it returns to within ``1e-9`` of a point of the last
``PERIOD_WINDOW`` steps), ``diverged`` (non-finite) or ``aperiodic``.

The import needs a shim: dysts 0.96 imports ``gluonts.dataset.arrow.ArrowWriter`` at package
import (to write Arrow data files, which the maps never do); without gluonts installed, a stub
module provides an ``ArrowWriter`` that raises when used.
"""

from __future__ import annotations

import importlib
import math
import sys
import types
from dataclasses import dataclass
from importlib import metadata

import numpy as np

__all__ = ["DystsMap", "MapRow", "LITERATURE", "CLOSED_FORMS", "CONSTANT_LOG_DET",
           "EXCLUDED", "SHIMS", "map_names", "dysts_map", "spectrum_row", "KINK_RTOL"]

EPS = float(np.finfo(np.float64).eps)
KINK_RTOL = 0.1
PERIOD_WINDOW = 1000


def _import_dysts_maps():
    shims: tuple[str, ...] = ()
    try:
        return importlib.import_module("dysts.maps"), shims
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("dysts"):
            raise ImportError("the dysts adapter needs dysts: see the Makefile's --no-deps "
                              "audit install (pyproject extra 'audit-nodeps')") from exc
        if not (exc.name and exc.name.startswith("gluonts")):
            raise
    for name in [m for m in sys.modules if m == "dysts" or m.startswith("dysts.")]:
        del sys.modules[name]
    stubs = {n: types.ModuleType(n) for n in ("gluonts", "gluonts.dataset",
                                              "gluonts.dataset.arrow")}

    class ArrowWriter:  # noqa: D401 - a stub
        """Stub: gluonts is not installed; dysts' Arrow export is unavailable."""

        def __init__(self, *args, **kwargs) -> None:
            raise ImportError("gluonts is not installed (stubbed by sharpdim's dysts adapter)")

    stubs["gluonts.dataset.arrow"].ArrowWriter = ArrowWriter
    for name, module in stubs.items():
        sys.modules.setdefault(name, module)
    module = importlib.import_module("dysts.maps")
    shims = ("dysts imports gluonts.dataset.arrow.ArrowWriter at package import (Arrow data "
             "export only); gluonts is not installed, so a stub module provides an "
             "ArrowWriter that raises when used",)
    return module, shims


_MAPS, SHIMS = _import_dysts_maps()
VERSION = metadata.version("dysts")

#: Maps left out, with the reason.
EXCLUDED = {
    "BlinkingVortexMap": "not a map of its state: each call of its right-hand side flips the "
                         "parameter b (self._param_update) and solves a root problem with "
                         "fsolve, so repeated evaluations at one point (finite differences) "
                         "see different maps",
}

#: Published exponents (natural log, per iteration): (values, source, parameters they hold for).
LITERATURE = {
    "Henon": ((0.41922, -1.62319), "J. C. Sprott, Chaos and Time-Series Analysis (Oxford, "
              "2003), table of Lyapunov exponents of common maps", "a = 1.4, b = 0.3"),
    "Ikeda": ((0.50760, -0.71832), "J. C. Sprott, Chaos and Time-Series Analysis (Oxford, "
              "2003), table of Lyapunov exponents of common maps (their sum −0.21072 = "
              "ln 0.81 = ln|det J| to 5 digits)", "u = 0.9, t = 0.4 − 6/(1 + x² + y²)"),
}

#: Exponents derived here in closed form: (values from the parameters, or None where the
#: form does not apply; derivation).
CLOSED_FORMS = {
    "Logistic": (lambda p: (math.log(2.0),) if p["r"] == 4.0 else None,
                 "at r = 4 only: conjugate to the tent map of slope 2, λ = ln 2"),
    "Tent": (lambda p: (math.log(2 * p["mu"]),),
             "dysts' tent is μ(1 − 2|x − ½|): |T'| = 2μ everywhere off x = ½, so λ = ln 2μ"),
    "Chebyshev": (lambda p: (math.log(p["a"]),),
                  "cos(a·arccos x) is conjugate by x = cos θ to θ ↦ aθ (mod 2π) for integer "
                  "a: λ = ln a for Lebesgue-a.e. θ"),
    "Baker": (lambda p: (math.log(2.0 - 1e-10), math.log(p["a"] / 2)),
              "J = diag(2 − 1e-10, a/2) off the jumps (dysts uses 2 − 1e-10 to keep floats "
              "from collapsing): exponents ln(2 − 1e-10), ln(a/2)"),
    "KaplanYorke": (lambda p: (math.log(2.0), math.log(p["alpha"])),
                    "J = [[2, 0], [−4π sin 4πx, α]] is triangular with constant diagonal: "
                    "exponents ln 2, ln α"),
}

#: Maps whose ln|det J| is the same at every point: (value from the parameters, or None
#: where it is not constant at those parameters; derivation).
CONSTANT_LOG_DET = {
    "Henon": (lambda p: math.log(p["b"]), "det J = −b"),
    "Ikeda": (lambda p: math.log(p["u"] ** 2), "det J = u² (a rotation scaled by u)"),
    "Duffing": (lambda p: math.log(p["b"]), "x' = y, y' = −bx + ay − y³: det J = b"),
    "Baker": (lambda p: math.log((2.0 - 1e-10) * p["a"] / 2), "det J = (2 − 1e-10)·a/2"),
    "KaplanYorke": (lambda p: math.log(2 * p["alpha"]), "det J = 2α"),
    "Chirikov": (lambda p: 0.0, "area-preserving (standard map): det J = 1"),
    "Gingerbreadman": (lambda p: 0.0, "x' = 1 − y + |x|, y' = x: det J = 1"),
    "Bogdanov": (lambda p: 0.0 if p["eps"] == 0 and p["mu"] == 0 else None,
                 "det J = 1 + ε + μx: area-preserving at ε = μ = 0"),
    "Hopalong": (lambda p: 0.0, "x' = y − 1 − √|bx − 1 − c|·sign(x − 1), y' = a − x − 1: "
                               "det J = 1"),
}


class DystsMap:
    """A ``dysts.maps`` class as a deterministic sharpdim map (Jacobian by finite differences,
    see the module docstring). ``kinks`` counts Jacobian columns taken one-sided."""

    def __init__(self, name: str, parameters: dict | None = None) -> None:
        cls = getattr(_MAPS, name, None)
        if cls is None or name in EXCLUDED or name == "DynMap":
            raise ValueError(f"name must be a wrapped dysts map ({', '.join(map_names())}), "
                             f"got {name!r}")
        self.name = name
        self.model = cls() if parameters is None else cls(parameters=parameters)
        self.params = dict(self.model.params)
        self.initial_point = np.atleast_1d(np.asarray(self.model.ic, dtype=np.float64))
        self.dim = int(self.initial_point.size)
        self.kinks = 0

    def sample_noise(self, rng) -> None:
        return None

    def step(self, x: np.ndarray, noise=None) -> np.ndarray:
        # DynMap.rhs(X) is self._rhs(*X.T, *self.param_list) stacked; called directly here
        out = self.model._rhs(*np.asarray(x, dtype=np.float64).reshape(self.dim),
                              *self.model.param_list)
        return np.asarray(out, dtype=np.float64).reshape(self.dim)

    def jacobian(self, x: np.ndarray, noise=None) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64).reshape(self.dim)
        f0 = self.step(x)
        J = np.empty((self.dim, self.dim))
        for j in range(self.dim):
            h = EPS ** (1.0 / 3.0) * max(1.0, abs(x[j])) ** (1.0 / 3.0)
            e = np.zeros(self.dim)
            e[j] = h
            fp, fm = self.step(x + e), self.step(x - e)
            forward, backward = (fp - f0) / h, (f0 - fm) / h
            if not (np.isfinite(forward).all() and np.isfinite(backward).all()):
                # x ± h left the map's domain (e.g. arccos beyond ±1): the other side
                self.kinks += 1
                J[:, j] = forward if np.isfinite(forward).all() else backward
                continue
            scale = max(1.0, float(np.abs(forward).max()), float(np.abs(backward).max()))
            if float(np.abs(forward - backward).max()) > KINK_RTOL * scale:
                # a kink or jump within h: keep the side that is linear on [x, x ± h], i.e.
                # whose difference does not change when the step is halved
                self.kinks += 1
                forward2 = (self.step(x + e / 2) - f0) / (h / 2)
                backward2 = (f0 - self.step(x - e / 2)) / (h / 2)
                J[:, j] = forward if np.abs(forward - forward2).max() <= \
                    np.abs(backward - backward2).max() else backward
            else:
                J[:, j] = (fp - fm) / (2 * h)
        return J


def map_names() -> list[str]:
    """The wrapped ``dysts.maps`` classes (every ``DynMap`` subclass but :data:`EXCLUDED`)."""
    base = _MAPS.DynMap
    return sorted(n for n, c in vars(_MAPS).items()
                  if isinstance(c, type) and issubclass(c, base) and c is not base
                  and n not in EXCLUDED)


def dysts_map(name: str, parameters: dict | None = None) -> DystsMap:
    """``dysts.maps.<name>`` (dysts' metadata parameters unless ``parameters``) wrapped."""
    return DystsMap(name, parameters)


@dataclass(frozen=True)
class MapRow:
    """One map's result: ``exponents``/``stderr`` (QR), ``log_det_mean`` (LU, same orbit),
    ``analytic_log_det`` (``None`` unless constant), ``closed_form`` / ``literature`` values
    (``None`` when none is known), ``orbit`` (``aperiodic``, ``periodic (p)``, ``diverged``),
    ``kinks`` (one-sided Jacobian columns), ``error`` (why no spectrum, else ``None``)."""

    name: str
    parameters: dict
    initial_point: tuple
    n_steps: int
    transient: int
    exponents: tuple | None
    stderr: tuple | None
    log_det_mean: float | None
    analytic_log_det: float | None
    analytic_log_det_text: str
    closed_form: tuple | None
    closed_form_text: str
    literature: tuple | None
    literature_text: str
    orbit: str
    kinks: int
    error: str | None


def _classify(system: DystsMap, x0: np.ndarray, n: int) -> str:
    """``diverged``, ``periodic (period p)`` when the last ``PERIOD_WINDOW`` points repeat
    with some period ``p ≤ PERIOD_WINDOW`` to within ``1e-9`` (relative), else ``aperiodic``."""
    x = np.array(x0, dtype=np.float64)
    tail = np.empty((2 * PERIOD_WINDOW, system.dim))
    for t in range(n):
        x = system.step(x)
        if not np.isfinite(x).all():
            return f"diverged (step {t + 1})"
        if t >= n - 2 * PERIOD_WINDOW:
            tail[t - (n - 2 * PERIOD_WINDOW)] = x
    if n < 2 * PERIOD_WINDOW:
        return "aperiodic (orbit too short to test)"
    last = tail[PERIOD_WINDOW:]
    scale = max(1.0, float(np.abs(last).max()))
    for p in range(1, PERIOD_WINDOW + 1):
        if float(np.abs(last - tail[PERIOD_WINDOW - p:2 * PERIOD_WINDOW - p]).max()) \
                <= 1e-9 * scale:
            return f"periodic (period {p})"
    return "aperiodic"


def spectrum_row(name: str, *, n_steps: int = 20000, transient: int = 1000,
                 parameters: dict | None = None) -> MapRow:
    """Spectrum and checks of one dysts map from its own initial condition (see module)."""
    from sharpdim.dynamics.lyapunov import lyapunov_spectrum

    system = dysts_map(name, parameters)
    p = system.params
    literature, lit_text = None, ""
    if name in LITERATURE and parameters is None:
        values, source, holds = LITERATURE[name]
        literature, lit_text = tuple(values), f"{source} ({holds})"
    closed, closed_text = None, ""
    if name in CLOSED_FORMS:
        fn, closed_text = CLOSED_FORMS[name]
        closed = fn(p)
        closed, closed_text = (None, "") if closed is None else (tuple(closed), closed_text)
    log_det, log_det_text = None, ""
    if name in CONSTANT_LOG_DET:
        fn, log_det_text = CONSTANT_LOG_DET[name]
        value = fn(p)
        log_det, log_det_text = (None, "") if value is None else (float(value), log_det_text)
    orbit = _classify(system, system.initial_point, transient + n_steps)
    common = dict(name=name, parameters=p, initial_point=tuple(system.initial_point.tolist()),
                  n_steps=n_steps, transient=transient, analytic_log_det=log_det,
                  analytic_log_det_text=log_det_text, closed_form=closed,
                  closed_form_text=closed_text, literature=literature,
                  literature_text=lit_text, orbit=orbit)
    try:
        spec = lyapunov_spectrum(system, system.initial_point, n_steps, transient=transient,
                                 rng=0)
    except Exception as exc:  # a map's failure is a row of the table, not the end of it
        return MapRow(exponents=None, stderr=None, log_det_mean=None, kinks=system.kinks,
                      error=f"{type(exc).__name__}: {str(exc)[:200]}", **common)
    return MapRow(exponents=tuple(spec.exponents.tolist()), stderr=tuple(spec.stderr.tolist()),
                  log_det_mean=spec.log_det_mean, kinks=system.kinks, error=None, **common)
