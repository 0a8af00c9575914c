"""Coupled-pair sign error (Dziugaite et al. 2020, *In search of robust measures of
generalization*).

A **coupled pair** is two runs that differ in exactly one hyperparameter ``h`` and agree on all
the others, the seed index included. A pair whose gap difference is within Monte-Carlo noise,
``|g_i − g_j| ≤ 2·√(se_i² + se_j²)``, is dropped. A kept pair's error is
``1[sign(m_i − m_j) ≠ sign(g_i − g_j)]``, a measure tie counting ½. An **environment** is the
setting of the other hyperparameters (and the seed); its sign error is the mean over its kept
pairs. Per varied ``h`` the result gives the mean over environments, their distribution and
the maximum — the robust sign error. A coin flip scores 0.5.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sharpdim.lab.evaluation.records import complete_rows

__all__ = ["SignError", "coupled_pair_sign_error"]


@dataclass(frozen=True)
class SignError:
    """Sign error of one measure for one varied hyperparameter.

    ``mean``/``max``: over environments with a kept pair (``None`` when none has one);
    ``n_pairs``: kept coupled pairs; ``n_dropped``: pairs within noise; ``environments``: each
    environment's sign error, in the order of their first run."""

    hyperparameter: str
    mean: float | None
    max: float | None
    n_pairs: int
    n_dropped: int
    environments: tuple[float, ...] = field(default=())

    def to_dict(self) -> dict:
        return {"mean": self.mean, "max": self.max, "n_pairs": self.n_pairs,
                "n_dropped": self.n_dropped, "environments": list(self.environments)}


def _pair_error(dm: float, dg: float) -> float:
    if dm == 0:
        return 0.5
    return float(np.sign(dm) != np.sign(dg))


def coupled_pair_sign_error(records: Sequence[Mapping[str, Any]], measure: str, target: str,
                            target_se: str, hyperparameters: Sequence[str], *,
                            seed_key: str = "seed") -> dict[str, SignError]:
    """Sign error per varied hyperparameter (module docstring): ``{h: SignError}``.

    ``target_se`` names the column of each gap's standard error; ``seed_key`` the seed index
    that a coupled pair shares.

    >>> runs = [{"lr": lr, "b": b, "seed": 0, "m": lr, "g": -lr + b, "se": 0.01}
    ...         for lr in (1, 2) for b in (1, 5)]
    >>> e = coupled_pair_sign_error(runs, "m", "g", "se", ["lr", "b"])
    >>> e["lr"].mean, e["b"].mean, e["b"].n_pairs          # m ranks lr backwards; ties on b
    (1.0, 0.5, 2)
    """
    if isinstance(hyperparameters, str):
        raise TypeError(f"hyperparameters must be a sequence of column names, got the string "
                        f"{hyperparameters!r}")
    rows = complete_rows(records, [measure, target, target_se])
    for r in rows:
        if seed_key not in r or any(h not in r for h in hyperparameters):
            raise ValueError(f"every run must have {seed_key!r} and {list(hyperparameters)}, "
                             f"got a run with keys {sorted(r)}")
    return {h: _one_hyperparameter(rows, measure, target, target_se, hyperparameters, h,
                                   seed_key) for h in hyperparameters}


def _one_hyperparameter(rows, measure, target, target_se, hyperparameters, h, seed_key):
    others = [k for k in hyperparameters if k != h] + [seed_key]
    envs: dict[tuple, list[dict]] = {}
    for r in rows:
        envs.setdefault(tuple(r[k] for k in others), []).append(r)
    errors, kept, dropped = [], 0, 0
    for members in envs.values():
        pair_errors = []
        for a in range(len(members)):
            for b in range(a + 1, len(members)):
                ra, rb = members[a], members[b]
                if ra[h] == rb[h]:
                    continue
                dg = ra[target] - rb[target]
                if abs(dg) <= 2.0 * np.hypot(ra[target_se], rb[target_se]):
                    dropped += 1
                    continue
                pair_errors.append(_pair_error(ra[measure] - rb[measure], dg))
        if pair_errors:
            kept += len(pair_errors)
            errors.append(float(np.mean(pair_errors)))
    return SignError(h, float(np.mean(errors)) if errors else None,
                     float(np.max(errors)) if errors else None, kept, dropped, tuple(errors))
