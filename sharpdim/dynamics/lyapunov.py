"""Lyapunov spectra of (random) maps by the QR (Benettin) method.

Push an orthonormal frame ``Q_0`` (``dim × k``) through the one-step Jacobians,
``J_t Q_{t-1} = Q_t R_t``, and average ``ln|diag R_t|``: the ``i``-th average converges to the
``i``-th Lyapunov exponent ``Λ_i`` (Oseledets), ordered descending. The first ``transient``
steps move the state onto its attractor and align the frame; they are not averaged.

Conventions:

* Noise: one ``system.sample_noise(rng)`` per step, passed to both ``jacobian`` and ``step``.
  An ensemble ``x0`` of shape ``(n_orbits, dim)`` shares that noise (pullback style: all
  orbits see the same ω), so orbits are *not* independent samples; standard errors therefore
  come from batch means over time of the ensemble-averaged growth rates, which is valid for
  correlated orbits and correlated steps alike.
* Nothing assumes ``jacobian`` is the derivative of ``step`` or that the state stays finite:
  a state that *overflows* (``±inf`` from a finite state, e.g. gradient descent past the edge
  of stability) is recorded (``nonfinite_state_step``) and the run goes on while the
  Jacobians stay finite. A non-finite Jacobian (or Jacobian-frame product) stops the run, and
  so does a ``step`` that returns NaN from a finite state (the map's code produced an
  undefined value, so the Jacobians that follow are evaluated at garbage): either raises
  ``DivergenceError`` with the completed steps attached or, with ``on_divergence="record"``,
  returns the spectrum of the completed steps with ``diverged=True``. Exponents are never
  NaN; a zero singular value gives ``-inf``.
* Randomness: ``rng`` (``None``, an int seed or a ``np.random.Generator``) is turned into one
  integer ``seed`` (see :func:`resolve_seed`) recorded in the result; the noise comes from
  ``np.random.default_rng(seed)`` and the initial frame from an independent child stream, so
  ``rng=result.seed`` reproduces a run bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.linalg import get_lapack_funcs

from sharpdim import _validate
from sharpdim.dimension import as_float_array
from sharpdim.dynamics.maps import as_real_array, validate_map
from sharpdim.vocabulary import ON_DIVERGENCES, OnDivergence

__all__ = [
    "DivergenceError",
    "LyapunovSpectrum",
    "lyapunov_spectrum",
    "resolve_seed",
    "noise_generator",
]

class DivergenceError(ArithmeticError):
    """An iteration left the finite range; ``partial`` holds what was completed (or None)."""

    def __init__(self, message: str, partial: Any = None) -> None:
        super().__init__(message)
        self.partial = partial


@dataclass(frozen=True)
class LyapunovSpectrum:
    """Result of :func:`lyapunov_spectrum`.

    ``exponents`` (``k``, descending, float64) and ``stderr`` (batch-means standard errors;
    ``inf`` when fewer than two batches were completed, ``0`` for an exponent of ``-inf``).
    ``log_det_mean`` is the mean of ``ln|det J_t|`` over the same steps and orbits (``None``
    when not computed); with ``k == dim`` it equals ``exponents.sum()`` up to rounding, an
    oracle computed by LU, independently of the QR recursion. ``steps_completed`` counts the
    averaged (post-transient) steps; it is ``< n_steps`` only when ``diverged``.
    ``nonfinite_state_step`` is the 1-based index (transient included) of the first step
    whose output state had a non-finite entry in some orbit, ``None`` if it stayed finite.
    """

    exponents: np.ndarray
    stderr: np.ndarray
    log_det_mean: float | None
    n_steps: int
    steps_completed: int
    transient: int
    n_orbits: int
    dim: int
    n_batches: int
    seed: int
    diverged: bool
    nonfinite_state_step: int | None

    @property
    def k(self) -> int:
        """Number of exponents computed."""
        return int(self.exponents.size)


def resolve_seed(rng: None | int | np.integer | np.random.Generator) -> int:
    """Turn ``rng`` into the integer seed a result records (the package's one resolver,
    :func:`sharpdim._validate.seed`): ``None`` draws fresh OS entropy; an int is used
    as is (must be ``>= 0``); a Generator yields one draw ``rng.integers(2**63)`` (so it
    advances by one call).

    >>> resolve_seed(7), resolve_seed(np.random.default_rng(0)) == resolve_seed(
    ...     np.random.default_rng(0))
    (7, True)
    """
    return _validate.seed(rng, "rng")


def noise_generator(seed: int) -> np.random.Generator:
    """The generator that draws a run's noise: ``np.random.default_rng(seed)``.

    Every dynamics routine that records ``seed`` draws its per-step noise from this stream,
    so the same seed means the same noise realization ω across routines.
    """
    return np.random.default_rng(seed)


def _auxiliary_generator(seed: int) -> np.random.Generator:
    """A stream independent of the noise (initial frames), derived from the same seed."""
    return np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])


def validated_points(x0: Any, dim: int, name: str = "x0") -> tuple[np.ndarray, bool]:
    """Validate a point ``(dim,)`` or ensemble ``(n, dim)``; return ``(ensemble, single)``."""
    xs = as_float_array(name, x0).copy()
    single = xs.ndim == 1
    if single:
        xs = xs[None, :]
    if xs.ndim != 2 or xs.shape[1] != dim or xs.shape[0] < 1:
        raise ValueError(
            f"{name} must have shape ({dim},) or (n_orbits, {dim}) with n_orbits >= 1 "
            f"for a map of dim {dim}, got shape {np.shape(x0)}"
        )
    if not np.isfinite(xs).all():
        row = int(np.flatnonzero(~np.isfinite(xs).all(axis=1))[0])
        raise ValueError(f"{name} must be finite, got a non-finite entry in row {row}: {xs[row]}")
    return xs, single


def _jacobians(system: Any, xs: np.ndarray, noise: Any, single: bool, dim: int) -> np.ndarray:
    """``(dim, dim)`` for a single orbit (2-D LAPACK calls are cheaper), else ``(n, dim, dim)``."""
    if single:
        return as_real_array(system.jacobian(xs[0], noise), (dim, dim), "system.jacobian")
    if hasattr(system, "jacobian_batch"):
        return as_real_array(system.jacobian_batch(xs, noise), (xs.shape[0], dim, dim),
                             "system.jacobian_batch")
    return np.stack([as_real_array(system.jacobian(x, noise), (dim, dim), "system.jacobian")
                     for x in xs])


def _advance(system: Any, xs: np.ndarray, noise: Any, single: bool) -> np.ndarray:
    dim = xs.shape[1]
    if single:
        return as_real_array(system.step(xs[0], noise), (dim,), "system.step").reshape(1, -1)
    if hasattr(system, "step_batch"):
        return as_real_array(system.step_batch(xs, noise), xs.shape, "system.step_batch")
    return np.stack([as_real_array(system.step(x, noise), (dim,), "system.step") for x in xs])


def log_abs_det(jac: np.ndarray) -> np.ndarray:
    """``ln|det J|`` of stacked square matrices (closed form for 1×1 and 2×2, else LU)."""
    d = jac.shape[-1]
    with np.errstate(divide="ignore"):
        if d == 1:
            return np.log(np.abs(jac[..., 0, 0]))
        if d == 2:
            det = jac[..., 0, 0] * jac[..., 1, 1] - jac[..., 0, 1] * jac[..., 1, 0]
            return np.log(np.abs(det))
        return np.linalg.slogdet(jac)[1]


def _batch_statistics(
    block_sums: np.ndarray, block_steps: np.ndarray, n_orbits: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Means and batch-means standard errors from per-block sums of ``ln|R_ii|``.

    Block ``b`` of ``L_b`` steps has mean ``m_b``; with ``c = Σ L_b`` steps and ``B`` blocks the
    long-run variance estimate is ``Σ_b L_b (m_b − m)² / (B − 1)``, so
    ``stderr = sqrt(Σ_b L_b (m_b − m)² / ((B − 1) c))``, which is ``std(m_b)/sqrt(B)`` for equal
    blocks.
    """
    used = block_steps > 0
    sums, steps = block_sums[used], block_steps[used].astype(np.float64)
    n_blocks = int(used.sum())
    completed = float(steps.sum())
    mean = sums.sum(axis=0) / (completed * n_orbits)
    finite = np.isfinite(mean)
    stderr = np.zeros_like(mean)  # -inf exponents are exact: a zero singular value occurred
    if n_blocks < 2:
        stderr[finite] = np.inf
        return mean, stderr, n_blocks
    block_means = sums[:, finite] / (steps[:, None] * n_orbits)
    spread = (steps[:, None] * (block_means - mean[finite]) ** 2).sum(axis=0)
    stderr[finite] = np.sqrt(spread / ((n_blocks - 1) * completed))
    return mean, stderr, n_blocks


def _checked_counts(
    n_steps: Any, transient: Any, k: Any, n_batches: Any, dim: int
) -> tuple[int, int, int, int]:
    n_steps = _validate.integer("n_steps", n_steps, minimum=1)
    transient = _validate.integer("transient", transient, minimum=0)
    k = dim if k is None else _validate.integer("k", k, minimum=1)
    if k > dim:
        raise ValueError(f"k must be <= system.dim = {dim}, got {k}")
    return n_steps, transient, k, _validate.integer("n_batches", n_batches, minimum=2)


class _FrameQR:
    """``J Q_{t−1} = Q_t R_t`` for one orbit without per-step allocations: the product is
    written into one of two Fortran-ordered ``dim × k`` buffers (alternating, so the frame
    being multiplied is never overwritten), factored in place by LAPACK ``geqrf`` (whose
    diagonal is ``diag R``) and turned into ``Q`` in place by ``orgqr`` — the calls
    ``np.linalg.qr`` makes, without its copies, ``triu`` and wrappers. Workspace sizes are
    LAPACK's optimal ones, queried once."""

    def __init__(self, dim: int, k: int) -> None:
        self.bufs = (np.empty((dim, k), order="F"), np.empty((dim, k), order="F"))
        self.i = 0
        self.geqrf, self.orgqr = get_lapack_funcs(("geqrf", "orgqr"), (self.bufs[0],))
        probe = np.eye(dim, k, order="F")
        self.lw_qr = max(1, int(self.geqrf(probe.copy(order="F"), lwork=-1)[2][0]))
        qr, tau = self.geqrf(probe, lwork=self.lw_qr)[:2]
        self.lw_q = max(1, int(self.orgqr(qr, tau, lwork=-1)[1][0]))

    def product(self, jac: np.ndarray, q: np.ndarray) -> np.ndarray:
        self.i ^= 1
        return np.matmul(jac, q, out=self.bufs[self.i])

    def factor(self, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        qr, tau, _, info = self.geqrf(m, lwork=self.lw_qr, overwrite_a=True)
        if info != 0:
            raise np.linalg.LinAlgError(f"LAPACK geqrf failed with info = {info}")
        diag = qr.diagonal().copy()
        q, _, info = self.orgqr(qr, tau, lwork=self.lw_q, overwrite_a=True)
        if info != 0:
            raise np.linalg.LinAlgError(f"LAPACK orgqr failed with info = {info}")
        return q, diag


def _givens_qr2(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """QR of a stack of ``2 × k`` matrices (``k ≤ 2``) by one Givens rotation each, in
    closed form: ``r₁₁ = hypot(a, c)``, ``(cos, sin) = (a, c)/r₁₁`` (``(1, 0)`` when the
    column is zero), ``r₂₂ = cos·d − sin·b``; returns ``(Q, diag R)``. A handful of
    vectorized operations instead of one LAPACK call per orbit (``np.linalg.qr``'s loop);
    ``|diag R|`` is the same as any QR's (it is unique up to signs)."""
    a, c = m[:, 0, 0], m[:, 1, 0]
    r11 = np.hypot(a, c)
    zero = r11 == 0
    safe = np.where(zero, 1.0, r11)
    cos, sin = np.where(zero, 1.0, a / safe), np.where(zero, 0.0, c / safe)
    q = np.empty_like(m)
    q[:, 0, 0], q[:, 1, 0] = cos, sin
    if m.shape[2] == 1:
        return q, r11[:, None]
    q[:, 0, 1], q[:, 1, 1] = -sin, cos
    r22 = cos * m[:, 1, 1] - sin * m[:, 0, 1]
    return q, np.stack((r11, r22), axis=1)


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _initial_frame(seed: int, dim: int, k: int, n_orbits: int, single: bool) -> np.ndarray:
    """The starting frame: the first ``k`` columns of the Q factor of one ``dim × dim``
    Gaussian draw from the auxiliary stream (broadcast over the ensemble). A fixed frame such
    as the identity can sit inside a slow Oseledets subspace (``e1`` for upper-triangular
    maps), and sharing the draw across ``k`` makes the top-``k`` frame the prefix of the full
    one."""
    gauss = _auxiliary_generator(seed).standard_normal((dim, dim))[:, :k]
    frame = np.linalg.qr(gauss)[0]
    return frame if single else np.broadcast_to(frame, (n_orbits, dim, k))


def _frame_qr(qr_step: _FrameQR | None, m: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """``(Q, diag R)`` of the Jacobian-frame product ``m``: in place by LAPACK for one orbit
    (``qr_step``), by Givens rotations for an ensemble of 2-D maps, else batched."""
    if qr_step is not None:
        return qr_step.factor(m)
    if dim == 2:
        return _givens_qr2(m)
    q, r = np.linalg.qr(m)
    return q, np.diagonal(r, axis1=-2, axis2=-1)


def _progress(t: int, transient: int, completed: int, n_steps: int) -> str:
    return (f"at step {t + 1} (transient {transient}, {completed} of {n_steps} averaged steps "
            "completed)")


def _product_failure(jac: np.ndarray, t: int, transient: int, completed: int,
                     n_steps: int) -> str:
    """Why a run stopped whose Jacobian-frame product at step ``t`` was non-finite."""
    bad = "Jacobian" if not np.isfinite(jac).all() else "Jacobian-frame product"
    return f"the {bad} became non-finite {_progress(t, transient, completed, n_steps)}"


def _nan_failure(xs: np.ndarray, new: np.ndarray, t: int, transient: int, completed: int,
                 n_steps: int) -> str | None:
    """Why a run must stop whose step made a NaN from a finite state (``None`` when every
    non-finite entry of ``new`` is an overflow to ``±inf``, which is tolerated)."""
    made_nan = np.isnan(new) & np.isfinite(xs)
    if not made_nan.any():
        return None
    orbit = int(np.flatnonzero(made_nan.any(axis=1))[0])
    return (f"system.step returned NaN from the finite state {xs[orbit]} (orbit {orbit}) "
            f"{_progress(t, transient, completed, n_steps)}; an overflow to ±inf is "
            "tolerated, an undefined value is not")


def _spectrum(block_sums: np.ndarray, block_steps: np.ndarray, **fields: Any) -> LyapunovSpectrum:
    """The result of the completed steps: exponents descending with their standard errors."""
    exponents, stderr, used = _batch_statistics(block_sums, block_steps, fields["n_orbits"])
    # The QR frame orders the exponents only in the limit: two close exponents can come out
    # swapped after finitely many steps. The contract is descending; errors travel along.
    order = np.argsort(-exponents, kind="stable")
    return LyapunovSpectrum(exponents=_readonly(exponents[order]),
                            stderr=_readonly(stderr[order]), n_batches=used, **fields)


def _finished(partial: LyapunovSpectrum | None, failure: str | None, on_divergence: str,
              seed: int) -> LyapunovSpectrum:
    """``partial`` unless the run failed and ``on_divergence`` (or nothing to record) says
    raise."""
    if failure is None:
        return partial
    if on_divergence == "record" and partial is not None:
        return partial
    hint = "" if partial is not None else "; no averaged step completed, so nothing to record"
    raise DivergenceError(f"lyapunov_spectrum diverged: {failure}{hint} (seed {seed})", partial)


def lyapunov_spectrum(
    system: Any,
    x0: Any,
    n_steps: int,
    *,
    transient: int = 0,
    rng: None | int | np.random.Generator = None,
    k: int | None = None,
    n_batches: int = 20,
    on_divergence: OnDivergence = "raise",
    log_det: bool = True,
) -> LyapunovSpectrum:
    """Leading ``k`` Lyapunov exponents of ``system`` along the orbit(s) of ``x0``.

    ``Λ_i ≈ (1 / (n_steps·n_orbits)) Σ_t Σ_orbits ln|(R_t)_ii|`` with ``J_t Q_{t−1} = Q_t R_t``
    (batched QR over the ensemble), after ``transient`` unaveraged steps. ``x0`` is one point
    ``(dim,)`` or an ensemble ``(n_orbits, dim)`` that shares each step's noise. ``stderr`` is
    from ``n_batches`` contiguous batch means of the averaged steps. See the module docstring
    for the noise, seed and divergence conventions; ``log_det=False`` skips the LU oracle.

    >>> from sharpdim.dynamics.maps import as_map
    >>> A = np.array([[0.5, 3.0], [0.0, 2.0]])  # non-normal: exponents are ln|eigenvalues|
    >>> spec = lyapunov_spectrum(as_map(lambda x: A @ x, lambda x: A, 2), np.ones(2), 50,
    ...                          transient=60, rng=0)
    >>> bool(np.allclose(spec.exponents, np.log([2.0, 0.5]), atol=1e-12))
    True
    """
    dim = validate_map(system)
    xs, single = validated_points(x0, dim)
    n_steps, transient, k, n_batches = _checked_counts(n_steps, transient, k, n_batches, dim)
    _validate.choice("on_divergence", on_divergence, ON_DIVERGENCES)
    seed = resolve_seed(rng)
    noise_rng = noise_generator(seed)
    n_orbits = xs.shape[0]
    q = _initial_frame(seed, dim, k, n_orbits, single)

    n_blocks = min(n_batches, n_steps)
    block_sums = np.zeros((n_blocks, k))
    block_steps = np.zeros(n_blocks, dtype=np.int64)
    log_det_sum = 0.0
    nonfinite_state_step: int | None = None
    failure: str | None = None
    completed = 0
    # Warnings are off for the whole loop: states may legitimately overflow (they are only
    # recorded), and Jacobian products are checked for finiteness explicitly every step.
    qr_step = _FrameQR(dim, k) if single else None
    with np.errstate(all="ignore"):
        for t in range(transient + n_steps):
            noise = system.sample_noise(noise_rng)
            jac = _jacobians(system, xs, noise, single, dim)
            m = qr_step.product(jac, q) if single else jac @ q
            # one reduction instead of an element-wise mask; a sum that overflows with every
            # entry finite is re-checked exactly
            if not math.isfinite(float(m.sum())) and not np.isfinite(m).all():
                failure = _product_failure(jac, t, transient, completed, n_steps)
                break
            q, diag = _frame_qr(qr_step, m, dim)
            if t >= transient:
                logs = np.log(np.abs(diag))
                b = completed * n_blocks // n_steps
                block_sums[b] += logs if single else logs.sum(axis=0)
                block_steps[b] += 1
                if log_det:
                    log_det_sum += float(log_abs_det(jac).sum())
                completed += 1
            new = _advance(system, xs, noise, single)
            if nonfinite_state_step is None and not np.isfinite(new).all():
                nonfinite_state_step = t + 1
                failure = _nan_failure(xs, new, t, transient, completed, n_steps)
                if failure is not None:
                    break
            xs = new

    partial = None
    if completed:
        partial = _spectrum(
            block_sums, block_steps,
            log_det_mean=log_det_sum / (completed * n_orbits) if log_det else None,
            n_steps=n_steps, steps_completed=completed, transient=transient,
            n_orbits=n_orbits, dim=dim, seed=seed, diverged=failure is not None,
            nonfinite_state_step=nonfinite_state_step,
        )
    return _finished(partial, failure, on_divergence, seed)
