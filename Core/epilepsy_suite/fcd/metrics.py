"""Voxel- and subject-level metrics of the FCD paper.

Masks are boolean (D, H, W) arrays. nFPC counts predicted clusters that share no voxel with
the lesion (6-connected components, as in the authors' evaluation, unless told otherwise).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .postprocess import label_clusters


@dataclass(frozen=True)
class SubjectMetrics:
    sensitivity: float  # TP / (TP + FN), voxels
    precision: float  # TP / (TP + FP), voxels
    dice: float
    detected: bool  # any predicted voxel in the lesion
    false_positive_clusters: int
    predicted_clusters: int

    def as_dict(self) -> dict[str, float | int | bool]:
        return asdict(self)


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator else 0.0


def false_positive_clusters(prediction: np.ndarray, lesion: np.ndarray, connectivity: int = 6) -> int:
    """Number of predicted clusters that touch no lesion voxel."""
    labels, count = label_clusters(prediction, connectivity)
    if count == 0:
        return 0
    touching = np.unique(labels[np.asarray(lesion, dtype=bool) & (labels > 0)])
    return count - len(touching)


def subject_metrics(prediction: np.ndarray, lesion: np.ndarray, connectivity: int = 6) -> SubjectMetrics:
    """All metrics for one subject."""
    prediction = np.asarray(prediction, dtype=bool)
    lesion = np.asarray(lesion, dtype=bool)
    if prediction.shape != lesion.shape:
        raise ValueError(f"prediction {prediction.shape} and lesion {lesion.shape} differ in shape")
    true_positive = int((prediction & lesion).sum())
    predicted = int(prediction.sum())
    actual = int(lesion.sum())
    _, clusters = label_clusters(prediction, connectivity)
    return SubjectMetrics(
        sensitivity=_ratio(true_positive, actual),
        precision=_ratio(true_positive, predicted),
        dice=_ratio(2 * true_positive, predicted + actual),
        detected=true_positive > 0,
        false_positive_clusters=false_positive_clusters(prediction, lesion, connectivity),
        predicted_clusters=clusters,
    )


def summarise(metrics: list[SubjectMetrics]) -> dict[str, float]:
    """Mean (and std) over subjects; subject sensitivity = fraction detected; nFPC = mean FP clusters."""
    if not metrics:
        raise ValueError("no subjects to summarise")
    table = {
        "dice": [m.dice for m in metrics],
        "sensitivity": [m.sensitivity for m in metrics],
        "precision": [m.precision for m in metrics],
        "nfpc": [m.false_positive_clusters for m in metrics],
    }
    summary = {}
    for name, values in table.items():
        summary[f"{name}_mean"] = float(np.mean(values))
        summary[f"{name}_std"] = float(np.std(values))
    summary["subject_sensitivity"] = float(np.mean([m.detected for m in metrics]))
    return summary
