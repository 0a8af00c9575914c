"""Independent reference implementation of four evaluation statistics, for tests.

This module was written from the textual definitions of the statistics alone
(it does not read or import anything from ``sharpdim.lab.evaluation``).  It is
meant to be used as a test oracle: the code favours plain, obviously-correct
loops over speed, and uses only the standard library plus numpy for a single
least-squares step.

Statistics:

* ``cmi_pgdl``               -- PGDL competition conditional mutual information
* ``cmi_weighted``           -- Jiang et al. (2019) conditional mutual information
* ``coupled_pair_sign_error``-- sign error over coupled pairs of runs
* ``partial_spearman``       -- Tan et al. (2024) partial Spearman correlation

Input convention: ``records`` is a list of dicts (one per run) whose values
may be floats, ints or numeric strings.  Records whose measure / target (and
target_se, and for partial Spearman the hyperparameters) are missing, empty
or non-finite are dropped first.  Hyperparameter values are compared after
float conversion (non-numeric values are compared as given).
"""

import itertools
import math
from collections import defaultdict

import numpy as np

# ---------------------------------------------------------------------------
# Value handling
# ---------------------------------------------------------------------------


def _to_finite_float(value):
    """Return ``value`` as a finite float, or None if missing/empty/non-finite."""
    if value is None:
        return None
    if isinstance(value, str):
        if value.strip() == "":
            return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(x):
        return None
    return x


def _hp_value(value):
    """Comparable hyperparameter value: float if convertible, else as given.

    Missing / empty / NaN values are all mapped to None so that they compare
    equal to each other in a deterministic way.
    """
    if value is None:
        return None
    if isinstance(value, str) and value.strip() == "":
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return value
    if math.isnan(x):
        return None
    return x


def _clean(records, required_keys, hyperparameters, extra_keys=()):
    """Keep records where every ``required_keys`` value is a finite float.

    Returns a list of dicts: required keys -> float, hyperparameters and
    ``extra_keys`` -> comparable value (see ``_hp_value``).
    """
    out = []
    for rec in records:
        row = {}
        ok = True
        for key in required_keys:
            x = _to_finite_float(rec.get(key))
            if x is None:
                ok = False
                break
            row[key] = x
        if not ok:
            continue
        for key in list(hyperparameters) + list(extra_keys):
            if key in required_keys:
                continue
            row[key] = _hp_value(rec.get(key))
        out.append(row)
    return out


# ---------------------------------------------------------------------------
# Information-theoretic helpers (bits)
# ---------------------------------------------------------------------------


def _entropy_bits(counts):
    """Entropy in bits of the empirical distribution given by ``counts``."""
    total = sum(counts)
    h = 0.0
    for c in counts:
        if c > 0:
            p = c / total
            h -= p * math.log2(p)
    return h


def _mi_and_entropy(table):
    """Mutual information I(V_g; V_m) and entropy H(V_g) in bits.

    ``table[(vg, vm)]`` holds the count of pairs with those indicator values,
    vg, vm in {0, 1}.
    """
    total = 0
    for vg in (0, 1):
        for vm in (0, 1):
            total += table[(vg, vm)]
    if total == 0:
        return 0.0, 0.0
    p_g = {}
    p_m = {}
    for v in (0, 1):
        p_g[v] = (table[(v, 0)] + table[(v, 1)]) / total
        p_m[v] = (table[(0, v)] + table[(1, v)]) / total
    mi = 0.0
    for vg in (0, 1):
        for vm in (0, 1):
            c = table[(vg, vm)]
            if c > 0:
                p = c / total
                mi += p * math.log2(p / (p_g[vg] * p_m[vm]))
    h_g = _entropy_bits([table[(0, 0)] + table[(0, 1)],
                         table[(1, 0)] + table[(1, 1)]])
    return mi, h_g


def _cell_tables(rows, measure, target, subset, include_diagonal):
    """Map cell key -> 2x2 count table of (V_g, V_m) over ordered pairs."""
    cells = {}
    n = len(rows)
    for i in range(n):
        for j in range(n):
            if i == j and not include_diagonal:
                continue
            a = rows[i]
            b = rows[j]
            vg = 1 if a[target] > b[target] else 0
            vm = 1 if a[measure] > b[measure] else 0
            key = tuple((a[h], b[h]) for h in subset)
            if key not in cells:
                cells[key] = {(0, 0): 0, (0, 1): 0, (1, 0): 0, (1, 1): 0}
            cells[key][(vg, vm)] += 1
    return cells


# ---------------------------------------------------------------------------
# 1. PGDL conditional mutual information
# ---------------------------------------------------------------------------


def cmi_pgdl(records, measure, target, hyperparameters):
    """PGDL-style CMI: min over pairs S of mean_cells I / mean_cells H.

    Ordered pairs include i == j; cells are weighted uniformly.
    """
    hps = list(hyperparameters)
    rows = _clean(records, [measure, target], hps)
    if not rows:
        return None
    if len(hps) >= 2:
        subsets = list(itertools.combinations(hps, 2))
    elif len(hps) == 1:
        subsets = [(hps[0],)]
    else:
        subsets = [()]  # no hyperparameters: unconditional (single cell)
    best = None
    for subset in subsets:
        cells = _cell_tables(rows, measure, target, subset,
                             include_diagonal=True)
        if not cells:
            continue
        mis = []
        hs = []
        for key in cells:
            mi, h = _mi_and_entropy(cells[key])
            mis.append(mi)
            hs.append(h)
        mean_i = sum(mis) / len(mis)
        mean_h = sum(hs) / len(hs)
        if mean_h == 0:
            continue
        score = mean_i / mean_h
        if best is None or score < best:
            best = score
    return best


# ---------------------------------------------------------------------------
# 2. Jiang et al. (2019) conditional mutual information
# ---------------------------------------------------------------------------


def cmi_weighted(records, measure, target, hyperparameters):
    """Jiang et al. CMI: min over |S| <= 2 (empty set included) of I / H.

    Ordered pairs exclude i == j; cells are weighted by their share of pairs.
    """
    hps = list(hyperparameters)
    rows = _clean(records, [measure, target], hps)
    subsets = [()]
    subsets += [(h,) for h in hps]
    subsets += list(itertools.combinations(hps, 2))
    best = None
    for subset in subsets:
        cells = _cell_tables(rows, measure, target, subset,
                             include_diagonal=False)
        total = 0
        for key in cells:
            total += sum(cells[key].values())
        if total == 0:
            continue
        cond_i = 0.0
        cond_h = 0.0
        for key in cells:
            share = sum(cells[key].values()) / total
            mi, h = _mi_and_entropy(cells[key])
            cond_i += share * mi
            cond_h += share * h
        if cond_h == 0:
            continue
        score = cond_i / cond_h
        if best is None or score < best:
            best = score
    return best


# ---------------------------------------------------------------------------
# 3. Coupled-pair sign error
# ---------------------------------------------------------------------------


def _sign(x):
    if x > 0:
        return 1
    if x < 0:
        return -1
    return 0


def coupled_pair_sign_error(records, measure, target, target_se,
                            hyperparameters, seed_key="seed"):
    """Per-hyperparameter sign error over coupled pairs of runs.

    Returns {h: {"mean": float|None, "max": float|None, "n_pairs": int}}.
    """
    hps = list(hyperparameters)
    rows = _clean(records, [measure, target, target_se], hps,
                  extra_keys=[seed_key])
    result = {}
    n = len(rows)
    for h in hps:
        others = [k for k in hps if k != h]
        env_errors = defaultdict(list)
        n_pairs = 0
        for i in range(n):
            for j in range(i + 1, n):
                a = rows[i]
                b = rows[j]
                if a[h] == b[h]:
                    continue
                if any(a[k] != b[k] for k in others):
                    continue
                if a[seed_key] != b[seed_key]:
                    continue
                dg = a[target] - b[target]
                threshold = 2.0 * math.sqrt(a[target_se] ** 2
                                            + b[target_se] ** 2)
                if abs(dg) <= threshold:
                    continue
                dm = a[measure] - b[measure]
                if dm == 0:
                    err = 0.5
                elif _sign(dm) != _sign(dg):
                    err = 1.0
                else:
                    err = 0.0
                env = tuple(a[k] for k in others) + (a[seed_key],)
                env_errors[env].append(err)
                n_pairs += 1
        if env_errors:
            env_means = [sum(v) / len(v) for v in env_errors.values()]
            mean = sum(env_means) / len(env_means)
            mx = max(env_means)
        else:
            mean = None
            mx = None
        result[h] = {"mean": mean, "max": mx, "n_pairs": n_pairs}
    return result


# ---------------------------------------------------------------------------
# 4. Partial Spearman correlation
# ---------------------------------------------------------------------------


def average_ranks(values):
    """1-based ranks; tied values get the mean of their positions."""
    n = len(values)
    order = sorted(range(n), key=lambda k: values[k])
    ranks = [0.0] * n
    pos = 0
    while pos < n:
        end = pos
        while end + 1 < n and values[order[end + 1]] == values[order[pos]]:
            end += 1
        # positions pos..end (0-based) -> ranks pos+1..end+1
        avg = (pos + 1 + end + 1) / 2.0
        for k in range(pos, end + 1):
            ranks[order[k]] = avg
        pos = end + 1
    return ranks


def _pearson(x, y):
    n = len(x)
    if n == 0:
        return None
    mx = sum(x) / n
    my = sum(y) / n
    sxy = 0.0
    sxx = 0.0
    syy = 0.0
    for a, b in zip(x, y, strict=True):
        sxy += (a - mx) * (b - my)
        sxx += (a - mx) ** 2
        syy += (b - my) ** 2
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def partial_spearman(records, measure, target, hyperparameters):
    """Spearman correlation of rank(m) and rank(g) after regressing out
    the ranks of the hyperparameters (plus an intercept)."""
    hps = list(hyperparameters)
    required = [measure, target] + [h for h in hps
                                    if h not in (measure, target)]
    rows = _clean(records, required, [])
    n = len(rows)
    if n == 0:
        return None
    rank_m = average_ranks([r[measure] for r in rows])
    rank_g = average_ranks([r[target] for r in rows])
    design = [[1.0] for _ in range(n)]
    for h in hps:
        rank_h = average_ranks([r[h] for r in rows])
        for k in range(n):
            design[k].append(rank_h[k])
    X = np.array(design, dtype=float)

    def residuals(y):
        y_arr = np.array(y, dtype=float)
        coef = np.linalg.lstsq(X, y_arr, rcond=None)[0]
        return [float(v) for v in (y_arr - X @ coef)]

    res_m = residuals(rank_m)
    res_g = residuals(rank_g)
    tol = 1e-10 * n
    if max(abs(v) for v in res_m) <= tol or max(abs(v) for v in res_g) <= tol:
        return None
    return _pearson(average_ranks(res_m), average_ranks(res_g))
