"""Old path of the persistent-homology dimension (now in the library's dynamics layer, where the
testing layer can audit it): the code lives in :mod:`sharpdim.dynamics.topology`. This alias
keeps ``import sharpdim.lab.sweeps.topology`` working (every name, private ones included,
through ``__getattr__``)."""

import sharpdim.dynamics.topology as _new
from sharpdim._alias import forwarding

__all__, __getattr__ = forwarding(_new)
