"""How the field judges a generalization measure (layer 1, numpy): the statistics referees
apply to a set of trained runs, and the protocol that turns them into verdicts.

* :mod:`~sharpdim.evaluation.records` — the run table: validated columns as float arrays.
* :mod:`~sharpdim.evaluation.cmi` — Jiang et al.'s conditional mutual information, in the
  PGDL competition's form and in the paper's weighted ``|S| ≤ 2`` form.
* :mod:`~sharpdim.evaluation.sign_error` — Dziugaite et al.'s coupled-pair sign error.
* :mod:`~sharpdim.evaluation.partial` — partial Spearman given the hyperparameters (Tan et al.).
* :mod:`~sharpdim.evaluation.rule` — the paired τ rule against a fixed comparison set, with
  intervals over configurations (seeds nested) and over seeds.
* :mod:`~sharpdim.evaluation.controls` — positive (held-out oracle, power curve) and null
  (permutation) controls of the rule.
* :mod:`~sharpdim.evaluation.protocol` — primary runs at a common train loss, comparison sets
  fixed in advance, and the machine-readable verdicts (``protocol.json``).
"""

from sharpdim.evaluation.cmi import cmi_pgdl, cmi_weighted
from sharpdim.evaluation.partial import partial_spearman
from sharpdim.evaluation.sign_error import SignError, coupled_pair_sign_error

__all__ = ["cmi_pgdl", "cmi_weighted", "partial_spearman", "SignError",
           "coupled_pair_sign_error"]
