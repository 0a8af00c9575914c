"""Old path of the dysts map catalogue study: the code lives in
:mod:`sharpdim.lab.studies.dysts_maps`. This alias keeps ``import
sharpdim.lab.reports.dysts_maps`` working (every name, private ones included, through
``__getattr__``) and ``python -m sharpdim.lab.reports.dysts_maps``."""

import sys

import sharpdim.lab.studies.dysts_maps as _new
from sharpdim.lab.studies.dysts_maps import *  # noqa: F403

__all__ = list(_new.__all__)


def __getattr__(name: str):
    return getattr(_new, name)


if __name__ == "__main__":  # pragma: no cover - the old report entry point
    sys.exit(_new.main())
