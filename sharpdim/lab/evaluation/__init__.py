"""How the field judges a generalization measure (laboratory layer 7, numpy): the statistics
referees apply to a set of trained runs, and the protocol that turns them into verdicts.

* :mod:`~sharpdim.lab.evaluation.records` — the run table: validated columns as float arrays.
* :mod:`~sharpdim.lab.evaluation.cmi` — Jiang et al.'s conditional mutual information, in the
  PGDL competition's form and in the paper's weighted ``|S| ≤ 2`` form.
* :mod:`~sharpdim.lab.evaluation.sign_error` — Dziugaite et al.'s coupled-pair sign error.
* :mod:`~sharpdim.lab.evaluation.partial` — partial Spearman given the hyperparameters (Tan et al.).
* :mod:`~sharpdim.lab.evaluation.rule` — the paired τ rule against a fixed comparison set, with
  intervals over configurations (seeds nested) and over seeds.
* :mod:`~sharpdim.lab.evaluation.controls` — positive (held-out oracle, power curve) and null
  (permutation) controls of the rule.
* :mod:`~sharpdim.lab.evaluation.protocol` — primary runs at a common train loss, comparison sets
  fixed in advance, and the machine-readable verdicts (``protocol.json``).
"""

from sharpdim.lab.evaluation.cmi import cmi_pgdl, cmi_weighted
from sharpdim.lab.evaluation.partial import partial_spearman
from sharpdim.lab.evaluation.sign_error import SignError, coupled_pair_sign_error

__all__ = ["cmi_pgdl", "cmi_weighted", "partial_spearman", "SignError",
           "coupled_pair_sign_error"]
