"""Old path of the trajectory Lyapunov study, kept working for ``import`` (every name,
through ``__getattr__``) and ``python -m``: the code lives in
:mod:`sharpdim.lab.studies.trajectory_lyapunov`."""

import sys

import sharpdim.lab.studies.trajectory_lyapunov as _new
from sharpdim._alias import forwarding

__all__, __getattr__ = forwarding(_new)


if __name__ == "__main__":  # pragma: no cover - the old report entry point
    sys.exit(_new.main())
