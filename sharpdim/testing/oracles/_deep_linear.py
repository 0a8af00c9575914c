"""The sizes of a deep linear network ``x ↦ W_L ⋯ W_1 x`` of ``d × d`` layers (numpy-free,
torch-free): one home for the network oracle and the strategy that describes it."""

from __future__ import annotations

__all__ = ["DeepLinearShape"]


class DeepLinearShape:
    """Mixin for a record with ``singular_values`` (the ``d`` target singular values) and
    ``depth`` (``L``): the layer width ``d`` and the parameter count ``L·d²``."""

    __slots__ = ()

    @property
    def width(self) -> int:
        return int(self.singular_values.size)

    @property
    def n_params(self) -> int:
        return self.depth * self.width**2
