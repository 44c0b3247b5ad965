"""Metrics and post-processing on constructed masks with hand-counted answers."""

from __future__ import annotations

import numpy as np
import pytest
from epilepsy_suite.fcd.metrics import false_positive_clusters, subject_metrics, summarise
from epilepsy_suite.fcd.postprocess import PostprocessSettings, label_clusters, postprocess_mask, remove_small_clusters


def _box(shape, start, size) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[tuple(slice(s, s + n) for s, n in zip(start, size, strict=True))] = True
    return mask


def test_voxel_metrics_and_false_positive_clusters() -> None:
    shape = (30, 30, 30)
    lesion = _box(shape, (5, 5, 5), (4, 4, 4))  # 64 voxels
    hit = _box(shape, (7, 5, 5), (4, 4, 4))  # overlaps the lesion on 2 x 4 x 4 = 32 voxels
    fp1 = _box(shape, (20, 20, 20), (2, 2, 2))  # 8 voxels, far away
    fp2 = _box(shape, (20, 5, 20), (1, 1, 3))  # 3 voxels
    prediction = hit | fp1 | fp2  # 64 + 8 + 3 = 75 voxels
    metrics = subject_metrics(prediction, lesion)
    assert metrics.sensitivity == pytest.approx(32 / 64)
    assert metrics.precision == pytest.approx(32 / 75)
    assert metrics.dice == pytest.approx(2 * 32 / (75 + 64))
    assert metrics.detected is True
    assert metrics.false_positive_clusters == 2 and metrics.predicted_clusters == 3


def test_missed_subject_and_summary() -> None:
    shape = (20, 20, 20)
    lesion = _box(shape, (2, 2, 2), (3, 3, 3))
    missed = subject_metrics(_box(shape, (12, 12, 12), (2, 2, 2)), lesion)
    assert missed.detected is False and missed.dice == 0.0 and missed.false_positive_clusters == 1
    found = subject_metrics(lesion.copy(), lesion)
    assert found.dice == 1.0 and found.false_positive_clusters == 0
    summary = summarise([missed, found])
    assert summary["subject_sensitivity"] == 0.5
    assert summary["dice_mean"] == 0.5 and summary["nfpc_mean"] == 0.5


def test_diagonal_neighbours_are_separate_clusters_with_6_connectivity() -> None:
    mask = np.zeros((5, 5, 5), dtype=bool)
    mask[1, 1, 1] = mask[2, 2, 2] = True
    assert label_clusters(mask, 6)[1] == 2
    assert label_clusters(mask, 26)[1] == 1
    assert false_positive_clusters(mask, np.zeros_like(mask), 6) == 2


def test_postprocess_removes_40_voxel_island_keeps_60_voxel_one() -> None:
    shape = (40, 40, 40)
    small = _box(shape, (5, 5, 5), (2, 4, 5))  # 40 voxels
    large = _box(shape, (20, 20, 20), (3, 4, 5))  # 60 voxels
    mask = small | large
    assert small.sum() == 40 and large.sum() == 60
    kept = postprocess_mask(mask, PostprocessSettings(opening=False))
    assert not kept[small].any()
    assert kept[large].all()
    assert remove_small_clusters(mask, 50).sum() == 60


def test_postprocess_fills_holes_and_opening_removes_spurs() -> None:
    shape = (30, 30, 30)
    cube = _box(shape, (5, 5, 5), (8, 8, 8))
    holed = cube.copy()
    holed[8:10, 8:10, 8:10] = False  # an enclosed 2^3 cavity
    holed[9, 1:5, 9] = True  # a one-voxel-thin spur sticking out
    result = postprocess_mask(holed, PostprocessSettings(min_cluster_voxels=10))
    assert result[8:10, 8:10, 8:10].all()
    assert not result[9, 1:4, 9].any()
    with pytest.raises(ValueError):
        PostprocessSettings(connectivity=18)
