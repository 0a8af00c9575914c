"""Lanczos code paths: breakdown, lockstep batching, orthogonality and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sharpdim.curvature import (
    MatrixOperator,
    extreme_eigenvalues,
    lanczos,
    lanczos_lockstep,
    lanczos_plain,
)
from sharpdim.testing.checking import EPS

D = torch.float64


def _planted(lam, seed: int) -> torch.Tensor:
    lam = np.asarray(lam, dtype=np.float64)
    Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((lam.size, lam.size)))
    A = (Q * lam) @ Q.T
    return torch.tensor((A + A.T) / 2)


@pytest.mark.parametrize("mode", ["full", "partial", "none"])
def test_three_distinct_eigenvalues_break_down_after_three_steps_with_exact_quadrature(mode):
    lam = np.array([-1.0] * 4 + [0.5] * 3 + [2.0] * 5)
    A = _planted(lam, 0)
    q = torch.ones(lam.size, dtype=D)
    res = lanczos(MatrixOperator(A), q, 10, reorthogonalize=mode)
    assert res.breakdown and res.n_steps == 3 and res.n_hvp == 3
    # the Krylov space is invariant: Ritz values are the 3 eigenvalues, weights the squared
    # norms of q's projections onto the eigenspaces (the probe's spectral measure)
    w, V = np.linalg.eigh(A.numpy())
    proj = (V.T @ (q.numpy() / np.sqrt(lam.size))) ** 2
    expected_w = [proj[np.isclose(w, x)].sum() for x in (-1.0, 0.5, 2.0)]
    bound = 10 * lam.size * EPS * 2.0  # Paige: ≲ N·eps·‖A‖ rounding of the recurrence
    assert np.allclose(res.ritz_values, [-1.0, 0.5, 2.0], rtol=0, atol=bound)
    assert np.allclose(res.ritz_weights, expected_w, rtol=0, atol=bound)
    assert res.residual_norms.max() <= bound


def test_ritz_weights_sum_to_one_and_v0_norm_is_recorded():
    A = _planted(np.linspace(-2, 3, 20), 1)
    v0 = torch.full((20,), 3.0, dtype=D)
    res = lanczos(MatrixOperator(A), v0, 6)
    assert abs(res.ritz_weights.sum() - 1.0) <= 6 * EPS * 6  # eigenvectors of T orthonormal
    assert res.v0_norm == pytest.approx(3.0 * np.sqrt(20), rel=4 * EPS)
    assert res.alphas.shape == (6,) and res.betas.shape == (5,)
    assert np.all(np.diff(res.ritz_values) >= 0)  # ascending
    assert res.seconds >= res.hvp_seconds >= 0 and res.reorth_seconds >= 0


def test_runs_in_lockstep_equal_the_same_runs_one_at_a_time():
    mats = [_planted(np.linspace(-1, 1, 15) * (i + 1), i) for i in range(3)]
    ops = [MatrixOperator(A) for A in mats]
    V0 = torch.tensor(np.random.default_rng(5).standard_normal((3, 15)))

    def apply(Q):
        return torch.stack([op.matvec(q) for op, q in zip(ops, Q, strict=True)])

    together = lanczos_lockstep(apply, V0, 8)
    for i in range(3):
        alone = lanczos(ops[i], V0[i], 8)
        # identical arithmetic except batching: equal to a few ulps of ‖A‖ = i + 1
        assert np.allclose(together[i].ritz_values, alone.ritz_values, rtol=0,
                           atol=64 * EPS * (i + 1))
        assert np.allclose(together[i].ritz_weights, alone.ritz_weights, rtol=0, atol=64 * EPS)


def test_a_run_that_breaks_down_stops_while_its_lockstep_partner_continues():
    easy = MatrixOperator(_planted([1.0] * 5 + [2.0] * 5, 0))  # 2 distinct eigenvalues
    hard = MatrixOperator(_planted(np.linspace(0, 1, 10), 1))
    V0 = torch.ones(2, 10, dtype=D)
    res = lanczos_lockstep(lambda Q: torch.stack([easy.matvec(Q[0]), hard.matvec(Q[1])]),
                           V0, 6)
    assert res[0].breakdown and res[0].n_steps == 2
    assert not res[1].breakdown and res[1].n_steps == 6


def test_full_reorthogonalization_prevents_ghost_copies_of_the_top_eigenvalue():
    # a well-separated top eigenvalue converges early; plain Lanczos then loses
    # orthogonality and repeats it, full re-orthogonalization does not
    lam = np.concatenate([np.linspace(0, 1, 199), [10.0]])
    A = _planted(lam, 2)
    v0 = torch.tensor(np.random.default_rng(0).standard_normal(200))
    full = lanczos(MatrixOperator(A), v0, 80)
    plain = lanczos(MatrixOperator(A), v0, 80, reorthogonalize=False)
    near_top = 1e-6 * 10.0
    assert int((np.abs(full.ritz_values - 10.0) < near_top).sum()) == 1
    assert int((np.abs(plain.ritz_values - 10.0) < near_top).sum()) >= 2


def test_extreme_eigenvalues_restart_after_breakdown_and_reach_the_whole_spectrum():
    lam = np.array([-3.0] * 3 + [1.0] * 3 + [4.0])
    res = extreme_eigenvalues(MatrixOperator(_planted(lam, 3)), k=3, which="both", seed=1,
                              n_steps=lam.size)
    assert np.allclose(res.top, [4.0, 1.0, 1.0], atol=1e-12)
    assert np.allclose(res.bottom, [-3.0, -3.0, -3.0], atol=1e-12)


def test_extreme_eigenvalues_records_its_seed_and_is_reproducible():
    op = MatrixOperator(_planted(np.linspace(-1, 2, 30), 4))
    a = extreme_eigenvalues(op, seed=11)
    b = extreme_eigenvalues(op, seed=11)
    assert a.seed == 11 and np.array_equal(a.top, b.top) and a.n_hvp == a.n_steps
    drawn = extreme_eigenvalues(op, seed=None)
    assert isinstance(drawn.seed, int)
    again = extreme_eigenvalues(op, seed=drawn.seed)
    assert np.array_equal(again.top, drawn.top)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(which="top"), "which must be one of"),
        (dict(k=0), r"k must be in \[1, 30\], got 0"),
        (dict(n_steps=31), r"n_steps must be in \[1, 30\], got 31"),
        (dict(tol=-1.0), "tol must be > 0"),
    ],
)
def test_extreme_eigenvalues_rejects_bad_arguments(kwargs, match):
    op = MatrixOperator(_planted(np.linspace(-1, 2, 30), 4))
    with pytest.raises(ValueError, match=match):
        extreme_eigenvalues(op, seed=0, **kwargs)


def test_lanczos_rejects_a_zero_start_vector_and_too_many_steps():
    op = MatrixOperator(torch.eye(4, dtype=D))
    with pytest.raises(ValueError, match="v0 must be finite and nonzero"):
        lanczos(op, torch.zeros(4, dtype=D), 2)
    with pytest.raises(ValueError, match=r"n_steps must be in \[1, 4\], got 5"):
        lanczos(op, torch.ones(4, dtype=D), 5)
    with pytest.raises(ValueError, match=r"v0 must have shape \(4,\)"):
        lanczos(op, torch.ones(3, dtype=D), 2)


@pytest.mark.parametrize("c", [1e-150, 1e-15, 1.0, 1e15, 1e150])
def test_plain_lanczos_quadrature_matches_the_spectral_moments_at_any_scale(c):
    """The recurrence without re-orthogonalization keeps its vectors unnormalized and
    rescales them by powers of two; at any operator scale its Gauss rule must still
    reproduce ``q₁ᵀ(cA)ᵖq₁ = Σᵢ (vᵢᵀq₁)² (cλᵢ)ᵖ`` for ``p ≤ 2m − 1`` (numpy's eigendecomposition
    as the oracle), and its Ritz values must be ``c`` times those at scale 1."""
    lam = np.linspace(-1.0, 4.0, 40) ** 3            # a spread spectrum, β ~ ‖A‖
    A = _planted(lam, 3)
    q = torch.as_tensor(np.random.default_rng(4).standard_normal(40))
    m = 6
    res = lanczos(MatrixOperator(c * A), q, m, reorthogonalize="none")
    ref = lanczos(MatrixOperator(A), q, m, reorthogonalize="full")
    w, V = np.linalg.eigh(A.numpy())
    proj = (V.T @ (q.numpy() / np.linalg.norm(q.numpy()))) ** 2
    for p in range(2 * m):
        exact = float(np.sum(proj * w ** p))                       # at scale 1
        got = float(np.sum(res.ritz_weights * (res.ritz_values / c) ** p))
        # m = 6 steps on 40 well-separated values lose no orthogonality to speak of, so the
        # rule is exact up to rounding of a few m·eps (measured ≤ 5e-15 at every scale);
        # 1e-12 leaves 200× for other BLAS orderings
        assert got == pytest.approx(exact, rel=1e-12, abs=1e-12 * np.max(np.abs(w)) ** p)
    # against the re-orthogonalized path (measured ≤ 6e-16 relative to ‖A‖)
    np.testing.assert_allclose(res.ritz_values / c, ref.ritz_values, rtol=0,
                               atol=1e-13 * np.abs(lam).max())
    np.testing.assert_allclose(res.alphas / c, ref.alphas, rtol=0,
                               atol=1e-13 * np.abs(lam).max())
    np.testing.assert_allclose(res.betas / c, ref.betas, rtol=1e-13)


def test_plain_run_on_vectors_is_the_same_run_as_one_lockstep_row():
    """``lanczos_plain(matvec, v)`` drops only the views of the ``(1, N)`` form: the same
    arithmetic in the same order, so the same numbers bit for bit."""
    A = _planted(np.linspace(-1.0, 3.0, 25), 6)
    v = torch.as_tensor(np.random.default_rng(7).standard_normal(25))
    plain = lanczos_plain(lambda u: A @ u, v, 9)
    (row,) = lanczos_lockstep(lambda Q: (A @ Q[0])[None], v[None], 9, reorthogonalize="none")
    np.testing.assert_array_equal(plain.alphas, row.alphas)
    np.testing.assert_array_equal(plain.betas, row.betas)
    assert plain.beta_last == row.beta_last and plain.v0_norm == row.v0_norm
    assert plain.reorthogonalization == "none" and plain.n_steps == plain.n_hvp == 9


def test_plain_run_calls_check_with_the_vectors_of_a_non_finite_product_then_raises():
    A = _planted(np.linspace(-1.0, 3.0, 6), 8)
    calls, seen = [], []

    def matvec(u):  # the third product overflows in one entry
        calls.append(1)
        out = A @ u
        if len(calls) == 3:
            out[2] = float("inf")
        return out

    with pytest.raises(FloatingPointError, match="Lanczos step 3: a product is not finite"):
        lanczos_plain(matvec, torch.arange(1.0, 7.0, dtype=D), 5,
                      check=lambda u, w: seen.append((tuple(u.shape), bool(torch.isinf(w[2])))))
    assert seen == [((6,), True)]  # 1-D vectors, the product that overflowed


def test_plain_run_rejects_a_start_that_is_not_one_vector():
    with pytest.raises(ValueError, match=r"v0 must be a 1-D tensor, got torch.Size\(\[1, 3\]\)"):
        lanczos_plain(lambda u: u, torch.ones((1, 3), dtype=D), 2)
    with pytest.raises(ValueError, match="v0 must be finite and nonzero"):
        lanczos_plain(lambda u: u, torch.zeros(3, dtype=D), 2)


def test_timing_clock_replaces_wall_time_within_its_block_only():
    from itertools import count

    from sharpdim.curvature.lanczos import timing_clock

    A = _planted(np.linspace(1.0, 2.0, 10), 5)
    ticks = count()
    with timing_clock(lambda: float(next(ticks))):
        res = lanczos(MatrixOperator(A), torch.ones(10, dtype=D), 4, reorthogonalize="none")
    # every time is a whole number of ticks: differences of the counter, not wall seconds
    for v in (res.seconds, res.hvp_seconds, res.reorth_seconds):
        assert v == int(v) and v >= 1
    with pytest.raises(RuntimeError), timing_clock(lambda: 0.0):
        raise RuntimeError("leaves the block")
    res = lanczos(MatrixOperator(A), torch.ones(10, dtype=D), 4, reorthogonalize="none")
    assert 0 < res.seconds < 60 and res.seconds != int(res.seconds)  # wall time again


def test_clock_is_a_parameter_with_the_timing_clock_as_default():
    from itertools import count

    A = _planted(np.linspace(1.0, 2.0, 10), 5)
    ticks = count()
    res = lanczos(MatrixOperator(A), torch.ones(10, dtype=D), 4, reorthogonalize="full",
                  clock=lambda: float(next(ticks)))
    for v in (res.seconds, res.hvp_seconds, res.reorth_seconds):
        assert v == int(v) and v >= 1
    wall = lanczos(MatrixOperator(A), torch.ones(10, dtype=D), 4, reorthogonalize="full")
    assert np.array_equal(res.alphas, wall.alphas) and np.array_equal(res.betas, wall.betas)
    assert 0 < wall.seconds < 60 and wall.seconds != int(wall.seconds)
