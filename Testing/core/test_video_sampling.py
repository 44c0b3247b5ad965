"""Temporal segment sampling: Beta(gamma, gamma) within non-overlapping segments."""

from __future__ import annotations

import math

import numpy as np
import pytest
from epilepsy_suite.errors import InputError
from epilepsy_suite.video.sampling import SegmentSampler
from scipy import stats


def _in_segment_positions(gamma: float, draws: int = 4000, positions: int = 1600) -> np.ndarray:
    """Relative position (0..1) of each drawn index within its segment, over many draws."""
    sampler = SegmentSampler(16, gamma, seed=123)
    edges = sampler.boundaries(positions)
    indices = np.array([sampler(positions) for _ in range(draws // 16)])
    return ((indices - edges[:-1]) / np.diff(edges) + 0.5 / np.diff(edges)).ravel()


def test_gamma_one_is_uniform_within_segments() -> None:
    relative = _in_segment_positions(1.0)
    assert stats.kstest(relative, "uniform").pvalue > 0.01
    # Each tenth of a segment gets about a tenth of the draws.
    counts = np.histogram(relative, bins=10, range=(0, 1))[0]
    assert stats.chisquare(counts).pvalue > 0.01


def test_large_gamma_concentrates_at_the_centre() -> None:
    uniform, peaked = _in_segment_positions(1.0), _in_segment_positions(50.0)
    assert stats.kstest(peaked, "uniform").pvalue < 1e-6
    expected_std = math.sqrt(1 / (4 * (2 * 50 + 1)))
    assert np.std(peaked) == pytest.approx(expected_std, rel=0.15)
    assert np.std(peaked) < np.std(uniform) / 4
    assert abs(np.mean(peaked) - 0.5) < 0.01
    assert np.array_equal(SegmentSampler(4, math.inf)(100), [12, 37, 62, 87])


@pytest.mark.parametrize("positions", [16, 17, 100, 1001])
def test_segments_never_overlap(positions: int) -> None:
    sampler = SegmentSampler(16, 1.0, seed=0)
    edges = sampler.boundaries(positions)
    assert edges[0] == 0 and edges[-1] == positions and np.all(np.diff(edges) >= 1)
    for _ in range(200):
        chosen = sampler(positions)
        assert np.all(chosen >= edges[:-1]) and np.all(chosen < edges[1:])
        assert np.all(np.diff(chosen) > 0)


def test_seeded_draws_repeat_and_bad_arguments_are_refused() -> None:
    assert np.array_equal(SegmentSampler(8, 2.0, seed=5)(200), SegmentSampler(8, 2.0, seed=5)(200))
    with pytest.raises(InputError, match="number of segments"):
        SegmentSampler(0)
    with pytest.raises(InputError, match="gamma must be positive"):
        SegmentSampler(4, 0.0)
    with pytest.raises(InputError, match="no snippet"):
        SegmentSampler(4)(0)
