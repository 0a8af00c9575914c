"""``sharpdim.stats``: the first name of :mod:`sharpdim.lab.stats`, kept importable. Every
public name is the same object under both names."""

from sharpdim.lab.stats import *  # noqa: F403
from sharpdim.lab.stats import __all__  # noqa: F401
