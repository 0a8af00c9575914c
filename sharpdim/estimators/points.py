"""Attractor points and optimizer states: what the one-step Jacobians are evaluated at.

``points`` (docs/theory.md §2: the definition takes a sup over the attractor) is ``None`` (the
model's current parameters), or a sequence of flat parameter vectors (``θ`` order of
:class:`~sharpdim.curvature.functional.FlatLoss`: trainable parameters in
``named_parameters`` order) and/or ``state_dict``-like mappings ``{name: tensor}`` (e.g.
late checkpoints; buffers and frozen parameters in them are ignored).

``optimizer_state`` (only for ``jacobian="update"``) gives the optimizer part of the state:

* plain SGD: nothing;
* heavy ball: the velocity ``v``. Default ``v = 0``: the Jacobian
  ``[[I − η(H + κI), −ηβI], [H + κI, βI]]`` does not depend on ``v``, so this is exact;
* Adam/AdamW: the moments ``m``, ``v`` and the number of completed steps ``s`` (the map takes
  step ``t = s + 1``). **Required**: the Jacobian depends on all three.

Either a ``torch.optim`` optimizer over the model's parameters (its per-parameter state is
matched by identity: ``momentum_buffer``; ``exp_avg``, ``exp_avg_sq``, ``step``) or a mapping
of flat tensors ``{"velocity": v}`` / ``{"exp_avg": m, "exp_avg_sq": v, "step": s}``; with
several points, a sequence of them aligned with ``points``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import torch

from sharpdim.curvature.functional import FlatLoss
from sharpdim.curvature.update_maps import (
    AdamUpdate,
    HeavyBallUpdate,
    UpdateMap,
    initial_state,
)

__all__ = ["resolve_points", "resolve_states"]


def _flat_point(f: FlatLoss, p, k: int) -> torch.Tensor:
    if isinstance(p, Mapping):
        missing = [n for n in f.names if n not in p]
        if missing:
            raise ValueError(
                f"points[{k}] must contain every trainable parameter of the model, missing "
                f"{missing[:3]}{' …' if len(missing) > 3 else ''}"
            )
        for name, shape in zip(f.names, f.shapes, strict=True):
            t = p[name]
            if not isinstance(t, torch.Tensor) or t.shape != shape:
                got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
                raise ValueError(f"points[{k}][{name!r}] must have shape {tuple(shape)}, got {got}")
        theta = f.flatten({n: p[n].detach() for n in f.names})
    elif isinstance(p, torch.Tensor):
        if p.shape != (f.n_params,):
            raise ValueError(
                f"points[{k}] must be a flat vector of shape ({f.n_params},) or a state_dict, "
                f"got shape {tuple(p.shape)}"
            )
        theta = p.detach()
    else:
        raise TypeError(
            f"points[{k}] must be a flat tensor or a state_dict mapping, got {type(p).__name__}"
        )
    theta = theta.to(device=f.device, dtype=f.dtype)
    if not bool(torch.isfinite(theta).all()):
        bad = int((~torch.isfinite(theta)).nonzero()[0, 0])
        raise ValueError(f"points[{k}] must be finite, got a non-finite entry at parameter "
                         f"{f.parameter_of(bad)}")
    return theta.clone()


def resolve_points(f: FlatLoss, points) -> tuple[torch.Tensor, ...]:
    """Flat parameter vectors of the attractor points (``None``: the model's parameters)."""
    if points is None:
        return (f.theta0,)
    if isinstance(points, Mapping):
        points = [points]
    elif isinstance(points, torch.Tensor):
        points = [points] if points.ndim == 1 else list(points)
    if not isinstance(points, Sequence) or isinstance(points, str):
        raise TypeError(f"points must be a sequence of flat tensors or state_dicts, got "
                        f"{type(points).__name__}")
    if len(points) == 0:
        raise ValueError("points must contain at least one point, got an empty sequence")
    return tuple(_flat_point(f, p, k) for k, p in enumerate(points))


def _from_optimizer(f: FlatLoss, opt: torch.optim.Optimizer, keys: tuple[str, ...],
                    k: int) -> dict[str, torch.Tensor | int | None]:
    params = dict(f.model.named_parameters())
    out: dict[str, list] = {key: [] for key in keys}
    steps = set()
    for name in f.names:
        st = opt.state.get(params[name], {})
        for key in keys:
            value = st.get(key)
            if value is None:
                out[key].append(None)
            else:
                out[key].append(value.detach().reshape(-1))
        if "step" in st:
            steps.add(int(float(st["step"])))
    flat: dict[str, torch.Tensor | int | None] = {}
    for key, blocks in out.items():
        if all(b is None for b in blocks):
            flat[key] = None
        elif any(b is None for b in blocks):
            missing = [n for n, b in zip(f.names, blocks, strict=True) if b is None]
            raise ValueError(f"optimizer_state[{k}] has no {key!r} for parameters {missing[:3]}")
        else:
            flat[key] = torch.cat(blocks)
    if len(steps) > 1:
        raise ValueError(f"optimizer_state[{k}] has parameters at different step counts {steps}")
    flat["step"] = steps.pop() if steps else None
    return flat


def _as_mapping(f: FlatLoss, item, keys: tuple[str, ...], k: int) -> dict:
    if isinstance(item, torch.optim.Optimizer):
        return _from_optimizer(f, item, keys, k)
    if isinstance(item, Mapping):
        unknown = set(item) - {*keys, "step"}
        if unknown:
            raise ValueError(f"optimizer_state[{k}] has unknown keys {sorted(unknown)}; "
                             f"expected {sorted({*keys, 'step'})}")
        return dict(item)
    raise TypeError(f"optimizer_state[{k}] must be a torch.optim.Optimizer or a mapping of flat "
                    f"tensors, got {type(item).__name__}")


def _flat_states(f: FlatLoss, update: UpdateMap, thetas, items) -> tuple[torch.Tensor, ...]:
    """A user's own update map with ``n_blocks > 1``: its state at each point is given whole,
    as a flat tensor ``(θ, …)`` of length ``n_blocks · N`` whose first block is the point."""
    size, out = update.n_blocks * f.n_params, []
    for k, (theta, item) in enumerate(zip(thetas, items, strict=True)):
        if not isinstance(item, torch.Tensor) or tuple(item.shape) != (size,):
            shape = tuple(item.shape) if isinstance(item, torch.Tensor) else type(item).__name__
            raise ValueError(f"optimizer_state must be the flat state of {type(update).__name__} "
                             f"({update.n_blocks} blocks of {f.n_params}: shape ({size},)) at "
                             f"each point, got {shape} at point {k}")
        state = item.detach().to(dtype=theta.dtype, device=theta.device)
        if not torch.equal(state[:f.n_params], theta):
            raise ValueError(f"optimizer_state at point {k} must start with the point's "
                             "parameters (its first block is θ)")
        out.append(state)
    return tuple(out)


def resolve_states(
    f: FlatLoss, update: UpdateMap, thetas: tuple[torch.Tensor, ...], optimizer_state
) -> tuple[tuple[UpdateMap, ...], tuple[torch.Tensor, ...], tuple[str, ...]]:
    """Per point: the update map (Adam's step index ``t`` may differ) and its flat state, plus
    notes on the defaults used."""
    P = len(thetas)
    if update.n_blocks == 1:
        if optimizer_state is not None and not isinstance(optimizer_state, torch.optim.Optimizer):
            raise ValueError("optimizer_state must be None for plain SGD (it has no state)")
        return (update,) * P, thetas, ()
    if optimizer_state is None:
        items = [None] * P
    elif isinstance(optimizer_state, torch.optim.Optimizer | Mapping | torch.Tensor):
        items = [optimizer_state] * P
    elif isinstance(optimizer_state, Sequence) and len(optimizer_state) == P:
        items = list(optimizer_state)
    else:
        raise ValueError(
            f"optimizer_state must be one optimizer/mapping or a sequence of {P} (one per point), "
            f"got {type(optimizer_state).__name__}"
        )
    if not isinstance(update, HeavyBallUpdate | AdamUpdate):
        return (update,) * P, _flat_states(f, update, thetas, items), ()
    if isinstance(update, HeavyBallUpdate):
        states, zero = [], False
        for k, (theta, item) in enumerate(zip(thetas, items, strict=True)):
            v = None if item is None else _as_mapping(f, item, ("momentum_buffer", "velocity"), k)
            vel = None if v is None else (v.get("velocity") if v.get("velocity") is not None
                                          else v.get("momentum_buffer"))
            zero |= vel is None
            states.append(initial_state(update, theta, velocity=vel))
        notes = ("heavy-ball velocity v = 0 (default); the Jacobian does not depend on v",) \
            if zero else ()
        return (update,) * P, tuple(states), notes
    if optimizer_state is not None and P > 1 and not isinstance(optimizer_state, Sequence):
        raise ValueError(
            f"optimizer_state must be a sequence of {P} Adam states (one per point): the "
            "moments belong to a point, got a single state"
        )
    maps, states = [], []
    for k, (theta, item) in enumerate(zip(thetas, items, strict=True)):
        if item is None:
            raise ValueError(
                "optimizer_state must be given for Adam/AdamW with jacobian='update' (the "
                "step's Jacobian depends on the moments; no default is assumed): pass the "
                "torch.optim optimizer or {'exp_avg': m, 'exp_avg_sq': v, 'step': s}, got None"
            )
        st = _as_mapping(f, item, ("exp_avg", "exp_avg_sq"), k)
        step = st.get("step")
        if step is None:
            raise ValueError(f"optimizer_state[{k}] must give 'step' (completed Adam steps)")
        step = int(float(step))
        if step < 0:
            raise ValueError(f"optimizer_state[{k}]['step'] must be >= 0, got {step}")
        maps.append(replace(update, t=step + 1))
        states.append(initial_state(update, theta, exp_avg=st.get("exp_avg"),
                                    exp_avg_sq=st.get("exp_avg_sq")))
    return tuple(maps), tuple(states), ()
