"""The edge-of-stability criterion (Cohen et al. 2021) on checkpoint series whose answer is
known by construction: oracle = the series' own late median, computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from sharpdim.lab.evaluation.regime import EOS_BAND, MIN_LATE, eos_regime


def test_a_run_hovering_at_two_over_eta_late_is_at_the_edge_of_stability():
    # progressive sharpening to r = 1, then oscillation about it (r = η·λ_max / 2)
    epochs = np.arange(0, 1100, 100)
    r = np.array([0.2, 0.4, 0.6, 0.8, 1.0, 1.1, 0.95, 1.05, 0.98, 1.2, 1.02])
    out = eos_regime(epochs, r)
    late = r[epochs >= 500]  # the late half by epoch: 500 … 1000
    assert out.n_late == late.size == 6
    assert out.late_median == pytest.approx(float(np.median(late)))
    assert out.late_share_above == pytest.approx(4 / 6)
    assert out.at_eos is True


def test_still_sharpening_or_far_past_the_threshold_is_not_at_the_edge():
    epochs = np.arange(0, 1000, 100)
    assert eos_regime(epochs, np.linspace(0.1, 0.6, 10)).at_eos is False
    assert eos_regime(epochs, np.full(10, 2.0)).at_eos is False  # η·λ_max = 4: past the band


def test_the_band_edges_are_inclusive_and_a_short_series_is_not_measured():
    epochs = np.arange(0, 600, 100)
    for edge in EOS_BAND:
        assert eos_regime(epochs, np.full(6, edge)).at_eos is True
    short = eos_regime([0, 100, 200], [0.5, 1.0, 1.0])  # one late checkpoint (epoch ≥ 100)
    assert short.n_late == 2 < MIN_LATE and short.at_eos is None
    nan = eos_regime([0, 1, 2, 3], [np.nan] * 4)
    assert nan.at_eos is None and nan.n_late == 0


def test_mismatched_series_are_refused_naming_both_shapes():
    with pytest.raises(ValueError, match=r"epochs and ratio must be 1-D of one length, got \(3,\)"):
        eos_regime([0, 1, 2], [1.0, 1.0])
