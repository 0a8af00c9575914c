"""A torch model's own training step as a random map (the map protocol of
:mod:`sharpdim.dynamics.maps`), so that :func:`sharpdim.lyapunov_spectrum` and
:func:`sharpdim.rds_sharpness` run along the network's trajectory.

The state is the flat parameter vector ``w`` (plain SGD, ``dim = N``) or ``(w, v)``
(heavy-ball momentum, PyTorch's ``SGD(momentum=β)``, ``dim = 2N``), float64 numpy. The noise
of one step is the minibatch: an index array of ``batch_size`` distinct examples drawn
uniformly and independently at each step (i.i.d. minibatches, the RDS of docs/theory.md §1), or
``None`` when ``batch_size = n`` (full-batch GD, a deterministic map). ``step`` is the
optimizer's update on that minibatch (:mod:`sharpdim.curvature.update_maps`) and
``jacobian`` its exact one-step Jacobian (:func:`sharpdim.curvature.update_jacobian`):
``I − ηH_B(w)`` for SGD, ``[[I − ηH_B, −ηβI], [H_B, βI]]`` for heavy ball, with ``H_B`` the
Hessian of the minibatch-mean loss. A step whose loss overflows returns a NaN state (the
map protocol allows orbits to leave the finite range; :func:`sharpdim.lyapunov_spectrum`
records it), and the Jacobian at a non-finite state, or where the step overflows, is NaN.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from sharpdim import _validate
from sharpdim.curvature.functional import FlatLoss, NonFiniteError, flat_loss
from sharpdim.curvature.update_jacobian import gradient_function, update_jacobian
from sharpdim.curvature.update_maps import HeavyBallUpdate, SGDUpdate, initial_state
from sharpdim.estimators.data import training_data

__all__ = ["TrainingMap", "training_map"]


@dataclass(frozen=True, eq=False)
class TrainingMap:
    """One SGD / heavy-ball step of a torch model as a random map (module docstring).

    ``flat`` is the model's :class:`~sharpdim.curvature.functional.FlatLoss`; ``update`` the
    update map; ``inputs``/``targets`` the training set (float64); ``initial_state`` the
    model's parameters (and a zero velocity for heavy ball) as a float64 numpy vector.
    """

    flat: FlatLoss
    update: SGDUpdate | HeavyBallUpdate
    inputs: torch.Tensor
    targets: torch.Tensor
    batch_size: int
    dim: int
    initial_state: np.ndarray = field(repr=False)

    @property
    def n_examples(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def n_params(self) -> int:
        return self.flat.n_params

    def sample_noise(self, rng: np.random.Generator) -> Any:
        """Minibatch indices (``None`` for full-batch GD)."""
        if self.batch_size == self.n_examples:
            return None
        return np.sort(rng.choice(self.n_examples, size=self.batch_size, replace=False))

    def _batch(self, noise):
        if noise is None:
            return self.inputs, self.targets
        idx = torch.as_tensor(np.asarray(noise), dtype=torch.long, device=self.inputs.device)
        return self.inputs[idx], self.targets[idx]

    def _state(self, x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(x, dtype=np.float64), dtype=torch.float64,
                               device=self.flat.device)

    def loss(self, x: np.ndarray, noise=None) -> float:
        """Minibatch-mean loss at the parameter block of state ``x`` (full batch by default)."""
        w = self._state(x)[: self.n_params]
        with torch.no_grad():
            return float(self.flat(w, *self._batch(noise)))

    def step(self, x: np.ndarray, noise) -> np.ndarray:
        xb, yb = self._batch(noise)
        state = self._state(x)
        if not torch.isfinite(state).all():
            return np.full(self.dim, np.nan)
        try:
            out = self.update.step(state, lambda w: self.flat.gradient(w, xb, yb))
        except NonFiniteError:  # the loss overflowed: the orbit has left the finite range
            return np.full(self.dim, np.nan)
        return out.detach().cpu().numpy()

    def jacobian(self, x: np.ndarray, noise) -> np.ndarray:
        xb, yb = self._batch(noise)
        state = self._state(x)
        if not torch.isfinite(state).all():
            return np.full((self.dim, self.dim), np.nan)
        try:
            jac = update_jacobian(self.update, state, gradient_function(self.flat, xb, yb))
        except NonFiniteError:  # the step overflows here: no finite Jacobian to report
            return np.full((self.dim, self.dim), np.nan)
        return jac.cpu().numpy()


def training_map(model: torch.nn.Module, loss_fn, data, *, lr: float, batch_size: int,
                 momentum: float = 0.0) -> TrainingMap:
    """The training step of ``model`` on ``data = (inputs, targets)`` as a random map.

    ``loss_fn(outputs, targets)`` returns the minibatch mean loss; ``lr > 0``;
    ``1 ≤ batch_size ≤ n`` (``n``: full-batch GD, deterministic); ``momentum ∈ [0, 1)``
    (``> 0``: heavy ball on ``(w, v)``, the velocity starting at 0). Everything runs in
    float64 on a copy of ``model``, on the model's device (states and Jacobians are handed
    to the map protocol as numpy arrays).

    >>> lin = torch.nn.Linear(1, 1, bias=False)
    >>> with torch.no_grad():
    ...     _ = lin.weight.fill_(1.0)
    >>> x = torch.ones(4, 1)
    >>> m = training_map(lin, torch.nn.functional.mse_loss, (x, 0 * x), lr=0.75, batch_size=4)
    >>> m.jacobian(m.initial_state, None).tolist()   # H = 2: 1 − 0.75·2
    [[-0.5]]
    """
    _validate.positive("lr", lr)
    td = training_data(data)
    inputs, targets = td.inputs, td.targets
    if isinstance(inputs, tuple | list):
        raise ValueError("data must be a pair of tensors (inputs, targets) for a training map")
    n = int(inputs.shape[0])
    _validate.integer("batch_size", batch_size, minimum=1, maximum=n)
    model = copy.deepcopy(model).double()  # the caller's model is left as it is
    f = flat_loss(model, loss_fn)
    inputs = inputs.double() if inputs.is_floating_point() else inputs
    targets = targets.double() if targets.is_floating_point() else targets
    if momentum:
        update = HeavyBallUpdate(lr=float(lr), momentum=float(momentum))
    else:
        update = SGDUpdate(lr=float(lr))
    x0 = initial_state(update, f.theta0.double()) if momentum else f.theta0.double()
    inputs, targets = inputs.to(f.device), targets.to(f.device)
    dim = update.n_blocks * f.n_params
    return TrainingMap(f, update, inputs, targets, int(batch_size), dim,
                       x0.detach().cpu().numpy().copy())
