"""Integrations with training frameworks (optional extras, imported on demand).

* :mod:`sharpdim.integrations.lightning` — :class:`~sharpdim.integrations.lightning.
  SharpnessCallback`, a PyTorch Lightning ``Callback`` around
  :class:`~sharpdim.monitor.SharpnessMonitor` (needs ``pip install sharpdim[integrations]``).
"""
