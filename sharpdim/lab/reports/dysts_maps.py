"""Old path of the dysts map catalogue study, kept working for ``import`` (every name, through
``__getattr__``) and ``python -m``: the code lives in :mod:`sharpdim.lab.studies.dysts_maps`."""

import sys

import sharpdim.lab.studies.dysts_maps as _new
from sharpdim._alias import forwarding

__all__, __getattr__ = forwarding(_new)


if __name__ == "__main__":  # pragma: no cover - the old report entry point
    sys.exit(_new.main())
