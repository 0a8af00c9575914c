"""Old path of the estimator convergence study's real-network cases: the code lives in
:mod:`sharpdim.lab.studies.estimator_convergence`. This alias keeps ``import
sharpdim.lab.sweeps.estimator_validation`` working (every name, private ones included,
through ``__getattr__``) and ``python -m sharpdim.lab.sweeps.estimator_validation``."""

import sys

import sharpdim.lab.studies.estimator_convergence as _new
from sharpdim._alias import forwarding

__all__, __getattr__ = forwarding(_new)


if __name__ == "__main__":  # pragma: no cover - the old report entry point
    sys.exit(_new.write_network_section(*sys.argv[1:2]))
