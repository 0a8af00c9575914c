"""Tiny float64 torch problems shared by the estimator tests (a module beside the tests, not a
test file): a 3-input tanh MLP with standard-normal weights, random inputs with binary
labels, and a cross-entropy loss that counts its calls."""

from __future__ import annotations

import torch

CE = torch.nn.functional.cross_entropy


def tiny_mlp(seed: int = 0, hidden: int = 3) -> torch.nn.Module:
    gen = torch.Generator().manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(3, hidden), torch.nn.Tanh(),
                                torch.nn.Linear(hidden, 2)).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
    return model


def tiny_data(n: int = 24, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 3, generator=gen, dtype=torch.float64),
            torch.randint(0, 2, (n,), generator=gen))


class CountingLoss:
    """A loss that counts its calls: validation must fail before any is made."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, outputs, targets):
        self.calls += 1
        return CE(outputs, targets)
