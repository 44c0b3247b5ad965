"""Cavity metrics (Dice, volume difference, Hausdorff 95), scoring a model on labelled cases, and the
resected-structures table."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import SimpleITK as sitk
import torch
import torchio as tio
from scipy import ndimage

from ..data import LabelTable, neuromorphometrics_labels
from ..errors import InputError
from ..io import check_same_grid
from .dataset import subject_image
from .inference import CavityPrediction, NetworkGrid, predict_cavity, template_grid
from .model import CavityUNet


def dice(prediction: np.ndarray, truth: np.ndarray) -> float:
    """2|P & T| / (|P| + |T|); 1 when both are empty."""
    prediction, truth = prediction.astype(bool), truth.astype(bool)
    total = prediction.sum() + truth.sum()
    return 1.0 if total == 0 else float(2 * (prediction & truth).sum() / total)


def _surface_distances(source: np.ndarray, target: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    """Distances (mm) from the surface voxels of ``source`` to the surface of ``target``."""
    target_surface = target & ~ndimage.binary_erosion(target)
    source_surface = source & ~ndimage.binary_erosion(source)
    distance = ndimage.distance_transform_edt(~target_surface, sampling=spacing)
    return distance[source_surface]


def hausdorff95(prediction: np.ndarray, truth: np.ndarray, spacing_zyx: Sequence[float]) -> float:
    """95th percentile of the symmetric surface distances in mm (NaN if a mask is empty)."""
    prediction, truth = prediction.astype(bool), truth.astype(bool)
    if not prediction.any() or not truth.any():
        return float("nan")
    distances = np.concatenate(
        [_surface_distances(prediction, truth, spacing_zyx), _surface_distances(truth, prediction, spacing_zyx)]
    )
    return float(np.percentile(distances, 95))


def cavity_metrics(prediction: np.ndarray, truth: np.ndarray, spacing_xyz: Sequence[float]) -> dict[str, float]:
    """Dice, volumes (mL), volume difference (prediction - truth, mL) and HD95 (mm) of (z, y, x) masks."""
    if prediction.shape != truth.shape:
        raise InputError("cavity masks", f"shapes differ: prediction {prediction.shape}, truth {truth.shape}")
    voxel_ml = float(np.prod(spacing_xyz)) / 1000.0
    predicted_ml = float(prediction.astype(bool).sum()) * voxel_ml
    true_ml = float(truth.astype(bool).sum()) * voxel_ml
    return {
        "dice": dice(prediction, truth),
        "predicted_ml": predicted_ml,
        "true_ml": true_ml,
        "volume_difference_ml": predicted_ml - true_ml,
        "hd95_mm": hausdorff95(prediction, truth, tuple(reversed(spacing_xyz))),
    }


def median_iqr(values: Sequence[float]) -> str:
    """``median (q1, q3)`` of the finite values, as reported in the thesis' tables."""
    finite = np.asarray([value for value in values if np.isfinite(value)], dtype=np.float64)
    if finite.size == 0:
        return "n/a"
    q1, median, q3 = np.percentile(finite, [25, 50, 75])
    return f"{median:.3g} ({q1:.3g}, {q3:.3g})"


def summarise(records: Sequence[dict[str, float]]) -> dict[str, str]:
    """Median (IQR) of every metric over the records."""
    keys = ("dice", "volume_difference_ml", "hd95_mm", "predicted_ml", "true_ml")
    return {
        key: median_iqr([float(record[key]) for record in records]) for key in keys if records and key in records[0]
    }


def resected_structures(
    cavity: sitk.Image, parcellation: sitk.Image, table: LabelTable | None = None, min_voxels: int = 1
) -> list[dict[str, object]]:
    """Structures of a (preoperative, co-registered) parcellation inside the cavity.

    Returns records ``label, name, resected_ml, structure_ml, resected_percent`` sorted by resected
    volume; ``table`` names the labels (Neuromorphometrics by default).
    """
    check_same_grid(cavity, parcellation, "cavity", "parcellation")
    mask = sitk.GetArrayViewFromImage(cavity) > 0
    if not mask.any():
        return []
    labels = sitk.GetArrayViewFromImage(parcellation).astype(np.int64)
    table = table or neuromorphometrics_labels()
    voxel_ml = float(np.prod(cavity.GetSpacing())) / 1000.0
    totals = np.bincount(labels[labels > 0].ravel())
    inside = np.bincount(labels[mask & (labels > 0)].ravel(), minlength=len(totals))
    records = []
    for label in np.flatnonzero(inside >= min_voxels):
        records.append(
            {
                "label": int(label),
                "name": table[int(label)].name if int(label) in table else f"Label {int(label)}",
                "resected_ml": float(inside[label]) * voxel_ml,
                "structure_ml": float(totals[label]) * voxel_ml,
                "resected_percent": 100.0 * float(inside[label]) / float(totals[label]),
            }
        )
    return sorted(records, key=lambda record: -record["resected_ml"])


def score_cases(
    model: CavityUNet,
    landmarks: np.ndarray | None,
    cases: Iterable[tio.Subject],
    device: torch.device | str = "cpu",
    register: bool = False,
    **prediction_settings: object,
) -> Iterator[tuple[tio.Subject, CavityPrediction, dict[str, float]]]:
    """Segment each labelled case (a TorchIO subject with ``image`` and cavity ``label``) and score
    the mask against its label (:func:`cavity_metrics`).

    Args:
        register: predict on the MNI template grid after an affine registration of each image.
        prediction_settings: passed to :func:`~epilepsy_suite.cavity.inference.predict_cavity`.

    Raises:
        InputError: a case without a label.
    """
    for case in cases:
        if "label" not in case:
            raise InputError(f"subject {case.get('name', '?')}", "has no cavity label to score against")
        image = subject_image(case)
        grid = template_grid(image) if register else NetworkGrid()
        prediction = predict_cavity(model, image, landmarks, device, grid=grid, **prediction_settings)
        truth = sitk.GetArrayFromImage(subject_image(case, "label")) > 0
        yield case, prediction, cavity_metrics(sitk.GetArrayFromImage(prediction.mask) > 0, truth, image.GetSpacing())
