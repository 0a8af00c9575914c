"""Testing kit (layer 6): Hypothesis strategies, recorded checks, oracles and the audit harness."""
