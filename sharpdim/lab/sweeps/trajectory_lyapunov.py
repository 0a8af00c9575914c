"""Old path of the trajectory Lyapunov study: the code lives in
:mod:`sharpdim.lab.studies.trajectory_lyapunov`. This alias keeps ``import
sharpdim.lab.sweeps.trajectory_lyapunov`` working (every name, private ones included, through
``__getattr__``) and ``python -m sharpdim.lab.sweeps.trajectory_lyapunov``."""

import sys

import sharpdim.lab.studies.trajectory_lyapunov as _new
from sharpdim._alias import forwarding

__all__, __getattr__ = forwarding(_new)


if __name__ == "__main__":  # pragma: no cover - the old report entry point
    sys.exit(_new.main())
