"""The strongest measures of Jiang et al. (2019, *Fantastic generalization measures*), as pure
functions of a trained model (nothing is changed on it: perturbations go through
``torch.func.functional_call`` on copies of the parameters).

* :func:`path_norm` — for a bias-free ReLU MLP, ``Σ over input→output paths of Π w²``: the
  sum of the outputs of the network with every weight squared, fed an all-ones input.
* :func:`distance_from_init` — ``‖w − w₀‖₂`` over all trained parameters (Frobenius).
* :func:`inverse_margin` — ``1/γ²`` with ``γ`` the 10th percentile over training examples of
  the output margin (true-class output minus the largest other); ``inf`` when ``γ ≤ 0``.
* :func:`pacbayes_magnitude_flatness` — the largest ``σ′`` such that perturbing every weight
  by ``N(0, (σ′|w| + ε)²)`` lowers the mean training accuracy over ``draws`` draws by at most
  ``tolerance``; found by bisection on ``log σ′``; the measure is ``1/σ′²``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

__all__ = ["path_norm", "distance_from_init", "inverse_margin", "pacbayes_magnitude_flatness",
           "FLATNESS_SETTINGS"]

FLATNESS_SETTINGS = {"tolerance": 0.1, "draws": 8, "epsilon": 1e-3, "low": 1e-5, "high": 10.0,
                     "steps": 18}
"""Accuracy drop allowed (Jiang et al.'s 0.1), Monte-Carlo draws per σ′, the additive ε, the
bisection bracket of σ′ and its halvings (18 halvings of log(high/low) = 13.8: σ′ to a factor
e^(13.8/2^18) ≈ 1 + 5e-5)."""


def _is_bias_free_relu_mlp(model: nn.Module) -> bool:
    mods = [m for m in model.modules() if not list(m.children())]
    layers = [m for m in mods if isinstance(m, nn.Linear)]
    others = [m for m in mods if not isinstance(m, nn.Linear | nn.ReLU | nn.Flatten
                                                   | nn.Identity)]
    return bool(layers) and not others and all(m.bias is None for m in layers)


@torch.no_grad()
def path_norm(model: nn.Module, n_inputs: int) -> float:
    """``Σ_paths Π w²`` of a bias-free ReLU MLP (module docstring); ``ValueError`` otherwise."""
    if not _is_bias_free_relu_mlp(model):
        raise ValueError("path_norm needs a bias-free ReLU MLP (Linear/ReLU/Flatten only), got "
                         f"{type(model).__name__}")
    squared = {k: v.double() ** 2 for k, v in model.named_parameters()}
    ones = torch.ones(1, n_inputs, dtype=torch.float64)
    return float(functional_call(model, squared, (ones,)).sum())


@torch.no_grad()
def distance_from_init(model: nn.Module, initial: Mapping[str, torch.Tensor]) -> float:
    """``‖w − w₀‖₂`` over the trained parameters, in float64."""
    total = 0.0
    for k, v in model.named_parameters():
        if v.requires_grad:
            total += float((v.double() - initial[k].double()).pow(2).sum())
    return math.sqrt(total)


@torch.no_grad()
def _outputs(model: nn.Module, x: torch.Tensor, params=None) -> torch.Tensor:
    was = model.training
    model.eval()
    try:
        return model(x) if params is None else functional_call(model, params, (x,))
    finally:
        model.train(was)


def inverse_margin(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """``1/γ²`` with ``γ`` the 10th percentile of the training margins (module docstring)."""
    out = _outputs(model, x).double()
    true = out.gather(1, y[:, None]).squeeze(1)
    other = out.clone()
    other.scatter_(1, y[:, None], -math.inf)
    gamma = float(np.percentile((true - other.max(dim=1).values).numpy(), 10))
    return math.inf if gamma <= 0 else 1.0 / gamma**2


def _accuracy(model, x, y, params=None) -> float:
    return float((_outputs(model, x, params).argmax(dim=1) == y).double().mean())


def pacbayes_magnitude_flatness(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
                                seed: int, **settings) -> tuple[float, float]:
    """``(1/σ′², σ′)`` by bisection (module docstring; :data:`FLATNESS_SETTINGS`)."""
    s = {**FLATNESS_SETTINGS, **settings}
    base = _accuracy(model, x, y)
    params = {k: v.detach() for k, v in model.named_parameters()}
    gen = torch.Generator().manual_seed(int(seed))
    noises = [{k: torch.randn(v.shape, generator=gen, dtype=v.dtype) for k, v in params.items()}
              for _ in range(s["draws"])]   # common random numbers across σ′: a monotone search

    def drop(sigma: float) -> float:
        accs = [_accuracy(model, x, y, {k: v + (sigma * v.abs() + s["epsilon"]) * n[k]
                                        for k, v in params.items()}) for n in noises]
        return base - float(np.mean(accs))

    lo, hi = math.log(s["low"]), math.log(s["high"])
    if drop(math.exp(lo)) > s["tolerance"]:
        return 1.0 / s["low"] ** 2, s["low"]      # flat nowhere in the bracket: its floor
    if drop(math.exp(hi)) <= s["tolerance"]:
        return 1.0 / s["high"] ** 2, s["high"]
    for _ in range(s["steps"]):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if drop(math.exp(mid)) <= s["tolerance"] else (lo, mid)
    sigma = math.exp(lo)
    return 1.0 / sigma**2, sigma
