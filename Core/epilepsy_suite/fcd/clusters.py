"""Candidate clusters of a predicted FCD mask, described for the radiologist's review table."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..data import LabelTable, neuromorphometrics_labels, neuromorphometrics_parcellation, resample_labels_like
from .postprocess import label_clusters


def nearest_structure_lookup(
    reference: sitk.Image, parcellation: sitk.Image | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """For every voxel of ``reference``'s grid, the label of the nearest labelled parcellation voxel.

    The parcellation (default: the embedded Neuromorphometrics atlas, so the image is assumed
    to be in MNI space) is resampled onto the grid; returns (labels, nearest labels).
    """
    parcellation = parcellation if parcellation is not None else neuromorphometrics_parcellation()
    labels = sitk.GetArrayFromImage(resample_labels_like(parcellation, reference))
    _, indices = ndimage.distance_transform_edt(labels == 0, return_indices=True)
    return labels, labels[tuple(indices)]


def describe_clusters(
    probability: sitk.Image,
    mask: sitk.Image,
    table: LabelTable | None = None,
    parcellation: sitk.Image | None = None,
    connectivity: int = 26,
) -> tuple[np.ndarray, list[dict[str, object]]]:
    """Number the clusters of ``mask`` by decreasing peak probability and describe each.

    Returns the cluster label array (z, y, x), 1 = most probable, and one record per cluster:
    index, voxels, volume_ml, peak_probability, mean_probability, structure (nearest label
    name), centroid_r/a/s (mm, RAS).
    """
    table = table or neuromorphometrics_labels()
    probabilities = sitk.GetArrayFromImage(probability)
    labels, count = label_clusters(sitk.GetArrayFromImage(mask) > 0, connectivity)
    if count == 0:
        return labels, []
    indices = np.arange(1, count + 1)
    peaks = ndimage.maximum(probabilities, labels, indices)
    order = np.argsort(-np.asarray(peaks))
    renumbered = np.zeros(count + 1, dtype=np.int32)
    renumbered[indices[order]] = np.arange(1, count + 1)
    labels = renumbered[labels]
    _, nearest = nearest_structure_lookup(probability, parcellation)
    voxel_ml = float(np.prod(probability.GetSpacing())) / 1000.0
    records = []
    for index in range(1, count + 1):
        voxels = np.argwhere(labels == index)
        values = probabilities[labels == index]
        centre = voxels.mean(axis=0)
        point = probability.TransformContinuousIndexToPhysicalPoint([float(c) for c in centre[::-1]])
        nearest_label = int(np.bincount(nearest[labels == index]).argmax())
        records.append(
            {
                "index": index,
                "voxels": int(len(voxels)),
                "volume_ml": round(len(voxels) * voxel_ml, 4),
                "peak_probability": round(float(values.max()), 4),
                "mean_probability": round(float(values.mean()), 4),
                "structure": table[nearest_label].display_name if nearest_label in table else f"label {nearest_label}",
                "centroid_r": round(-point[0], 2),
                "centroid_a": round(-point[1], 2),
                "centroid_s": round(point[2], 2),
            }
        )
    return labels, records
