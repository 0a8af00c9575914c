"""The networks of the experiments, initialized from an explicit seed.

PyTorch's modules initialize from the global generator; here every parameter is redrawn
from a ``torch.Generator`` seeded by the caller, with PyTorch's default law for linear
layers (``U(−1/√fan_in, 1/√fan_in)``, what ``kaiming_uniform_(a=√5)`` gives) and
``N(0, 1/d)`` for embeddings, so a model is a pure function of its hyperparameters and
seed. Attention is written with plain matrix products so that double backward (Hessian-
vector products) and ``torch.func`` work through it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from sharpdim import _validate

__all__ = ["mlp", "lenet", "ModularTransformer", "count_parameters"]

_ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}


def count_parameters(model: nn.Module) -> int:
    """Number of trainable scalars."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(_validate.integer("seed", seed, minimum=0))


@torch.no_grad()
def _init_default(layer: nn.Linear | nn.Conv2d, gen: torch.Generator) -> None:
    """PyTorch's default law for a linear or convolutional layer, drawn from ``gen``:
    ``U(−1/√fan_in, 1/√fan_in)``, ``fan_in`` = the entries of one output unit's weights
    (``in_features``, or ``in_channels·k²`` for a convolution)."""
    bound = 1.0 / math.sqrt(layer.weight[0].numel())
    layer.weight.uniform_(-bound, bound, generator=gen)
    if layer.bias is not None:
        layer.bias.uniform_(-bound, bound, generator=gen)


def mlp(
    in_features: int,
    width: int,
    depth: int,
    out_features: int,
    *,
    bias: bool = False,
    activation: str = "relu",
    seed: int,
) -> nn.Sequential:
    """A fully connected network with ``depth`` linear layers (``depth − 1`` hidden layers of
    ``width`` units, ``activation`` between them).

    Parameters without bias: ``in·w + (depth − 2)·w² + w·out``.

    >>> net = mlp(40, 16, 3, 10, seed=0)       # the paper's width-16 MLP on 40 inputs
    >>> count_parameters(net) == 40 * 16 + 16 * 16 + 16 * 10
    True
    """
    for name, v in (("in_features", in_features), ("width", width),
                    ("out_features", out_features), ("depth", depth)):   # depth: linear layers
        _validate.integer(name, v, minimum=1)
    _validate.choice("activation", activation, sorted(_ACTIVATIONS))
    gen = _generator(seed)
    sizes = [in_features] + [width] * (depth - 1) + [out_features]
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        lin = nn.Linear(a, b, bias=bias)
        _init_default(lin, gen)
        layers.append(lin)
        if i < depth - 1:
            layers.append(_ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def lenet(
    side: int,
    out_features: int,
    *,
    channels: tuple[int, int] = (6, 12),
    hidden: int = 16,
    kernel: int = 5,
    seed: int,
) -> nn.Sequential:
    """A LeNet-style CNN without bias or batch norm on flattened ``side × side`` one-channel
    images: ``conv(1 → c₁, k) → ReLU → maxpool 2 → conv(c₁ → c₂, k) → ReLU → maxpool 2 →
    linear(c₂·s² → hidden) → ReLU → linear(hidden → out)``, ``s = ((side − k + 1)/2 − k + 1)/2``.

    Parameters: ``c₁k² + c₁c₂k² + c₂s²·hidden + hidden·out``.

    >>> net = lenet(28, 10, seed=0)            # Fashion-MNIST: s = 4
    >>> count_parameters(net) == 6 * 25 + 6 * 12 * 25 + 12 * 16 * 16 + 16 * 10
    True
    """
    for name, v in (("side", side), ("out_features", out_features), ("hidden", hidden),
                    ("kernel", kernel)):
        _validate.integer(name, v, minimum=1)
    if (len(channels) != 2 or any(isinstance(c, bool) or not isinstance(c, int) or c < 1
                                  for c in channels)):
        raise ValueError(f"channels must be two positive integers, got {channels!r}")
    s = ((side - kernel + 1) // 2 - kernel + 1) // 2
    if s < 1:
        raise ValueError(f"side must leave a feature map after two conv-pool stages with "
                         f"kernel {kernel}, got {side}")
    gen = _generator(seed)
    c1, c2 = channels
    convs = [nn.Conv2d(1, c1, kernel, bias=False), nn.Conv2d(c1, c2, kernel, bias=False)]
    fcs = [nn.Linear(c2 * s * s, hidden, bias=False), nn.Linear(hidden, out_features, bias=False)]
    for layer in (*convs, *fcs):
        _init_default(layer, gen)
    return nn.Sequential(nn.Unflatten(1, (1, side, side)),
                         convs[0], nn.ReLU(), nn.MaxPool2d(2),
                         convs[1], nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), fcs[0], nn.ReLU(), fcs[1])


class _Block(nn.Module):
    """One pre-residual block: ``x + Attn(x)``, then ``x + MLP(x)`` (no layer norm, no
    dropout: the loss stays a deterministic per-example function of the parameters)."""

    def __init__(self, d_model: int, n_heads: int, d_mlp: int, gen: torch.Generator) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model must be divisible by n_heads, got {d_model} and {n_heads}")
        self.n_heads = n_heads
        self.q = nn.Linear(d_model, d_model, bias=False)
        self.k = nn.Linear(d_model, d_model, bias=False)
        self.v = nn.Linear(d_model, d_model, bias=False)
        self.o = nn.Linear(d_model, d_model, bias=False)
        self.up = nn.Linear(d_model, d_mlp)
        self.down = nn.Linear(d_mlp, d_model)
        for lin in (self.q, self.k, self.v, self.o, self.up, self.down):
            _init_default(lin, gen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        h = self.n_heads

        def heads(z: torch.Tensor) -> torch.Tensor:
            return z.view(n, t, h, d // h).transpose(1, 2)

        q, k, v = heads(self.q(x)), heads(self.k(x)), heads(self.v(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d // h)
        causal = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)
        attn = torch.softmax(scores.masked_fill(causal, float("-inf")), dim=-1)
        x = x + self.o((attn @ v).transpose(1, 2).reshape(n, t, d))
        return x + self.down(torch.relu(self.up(x)))


class ModularTransformer(nn.Module):
    """A small causal transformer reading ``(a, b, =)`` and predicting ``(a + b) mod p`` from
    the last position: token and learned position embeddings, ``n_layers`` blocks, a linear
    read-out without bias.

    >>> net = ModularTransformer(vocab=6, n_classes=5, seed=0)
    >>> tuple(net(torch.tensor([[1, 2, 5]])).shape)
    (1, 5)
    """

    def __init__(
        self,
        vocab: int,
        n_classes: int,
        *,
        seq_len: int = 3,
        d_model: int = 32,
        n_heads: int = 2,
        d_mlp: int = 64,
        n_layers: int = 1,
        seed: int,
    ) -> None:
        super().__init__()
        for name, v in (("vocab", vocab), ("n_classes", n_classes), ("seq_len", seq_len),
                        ("d_model", d_model), ("n_heads", n_heads), ("d_mlp", d_mlp),
                        ("n_layers", n_layers)):
            _validate.integer(name, v, minimum=1)
        gen = _generator(seed)
        self.embed = nn.Embedding(vocab, d_model)
        self.pos = nn.Parameter(torch.empty(seq_len, d_model))
        with torch.no_grad():
            self.embed.weight.normal_(0.0, 1.0 / math.sqrt(d_model), generator=gen)
            self.pos.normal_(0.0, 1.0 / math.sqrt(d_model), generator=gen)
        self.blocks = nn.ModuleList(_Block(d_model, n_heads, d_mlp, gen) for _ in range(n_layers))
        self.readout = nn.Linear(d_model, n_classes, bias=False)
        _init_default(self.readout, gen)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens) + self.pos[: tokens.shape[1]]
        for block in self.blocks:
            x = block(x)
        return self.readout(x[:, -1])
