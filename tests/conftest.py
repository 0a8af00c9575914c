"""Shared fixtures: the one small sweep configuration the storage and engine tests run."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

# Two runs of the 4-unit MNIST-1D MLP, one epoch each, exact SD on two minibatches: the
# smallest sweep that trains, measures and stores (about a second inline).
TINY_SWEEP = """
name = "{name}"
task = "mnist1d_mlp"
seeds = [0]
output = "{output}"
[task_options]
n_samples = 200
width = 4
[train]
epochs = 1
[grid]
lr = [0.05, 0.1]
batch_size = [32]
[measures]
final = ["sd_exact"]
[measures.exact]
n_batches = 2
"""


class SweepConfigs:
    """The tiny sweep as TOML text (to write a config file) or as a parsed config, with its
    ``[grid]`` entries replaced by keyword."""

    def toml(self, output: str | Path, *, name: str = "tiny") -> str:
        return TINY_SWEEP.format(name=name, output=output)

    def config(self, output: str | Path, *, name: str = "tiny", **grid):
        from sharpdim.lab.sweeps.config import parse_config

        raw = tomllib.loads(self.toml(output, name=name))
        raw["grid"].update(grid)
        return parse_config(raw, source="test")


@pytest.fixture(scope="session")
def sweep_configs() -> SweepConfigs:
    return SweepConfigs()
