"""Per-subject masks for resection simulation, from a parcellation; computed once and cached."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..data import Hemisphere, Kind, LabelTable, neuromorphometrics_labels
from ..errors import InputError

_CACHE: dict[str, ResectionMasks] = {}
_CACHE_SIZE = 16


@dataclass(frozen=True)
class ResectionMasks:
    """Boolean masks per hemisphere, indexed (x, y, z) like TorchIO tensors, and the CSF
    intensity statistics.

    ``grey_matter[h]``: cortical grey matter of hemisphere h (cavity centres are drawn here).
    ``resectable[h]``: brain of hemisphere h without brain stem, cerebellum and background,
    smoothed by erosion, largest component, dilation and a median filter.
    """

    grey_matter: dict[str, np.ndarray]
    resectable: dict[str, np.ndarray]
    csf_mean: float
    csf_std: float


def _smooth(mask: np.ndarray, reference: sitk.Image, radius_mm: float = 3.0, median_radius: int = 4) -> np.ndarray:
    """Erosion, largest component, dilation, then a binary median (majority) filter."""
    found = np.argwhere(mask)
    if found.size == 0:
        return mask
    margin = int(np.ceil(radius_mm / min(reference.GetSpacing()))) + median_radius + 1
    low = np.maximum(found.min(axis=0) - margin, 0)
    high = found.max(axis=0) + margin + 1
    box = tuple(slice(int(a), int(b)) for a, b in zip(low, high, strict=True))
    image = sitk.GetImageFromArray(mask[box].astype(np.uint8))
    image.SetSpacing(reference.GetSpacing())
    radius = [max(int(round(radius_mm / spacing)), 1) for spacing in reference.GetSpacing()]
    image = sitk.BinaryErode(image, radius)
    components = sitk.RelabelComponent(sitk.ConnectedComponent(image), sortByObjectSize=True)
    image = sitk.BinaryDilate(sitk.Cast(components == 1, sitk.sitkUInt8), radius)
    # Majority vote in a (2 r + 1)^3 window: the binary median, computed by a box filter.
    window = 2 * median_radius + 1
    smoothed = ndimage.uniform_filter(sitk.GetArrayFromImage(image).astype(np.float32), window) > 0.5
    result = np.zeros_like(mask)
    result[box] = smoothed
    return result


def csf_intensity(values: np.ndarray, bins: int = 32) -> tuple[float, float]:
    """Mean and standard deviation of the CSF texture, from the intensities of the ventricle voxels.

    The mean is the mode of a ``bins``-bin histogram (the centre of its fullest bin) and the
    standard deviation that of the values below it, as ``resector`` does: the label's edge voxels
    are bright partial volume, so a plain mean and standard deviation (51 and 23 on the MNI
    template, against 23 and 2.9) would paint the cavity as bright-and-dark speckle.

    Raises:
        InputError: no ventricle intensities.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        raise InputError("parcellation", "no ventricle voxels: the CSF intensity cannot be estimated")
    counts, edges = np.histogram(values, bins)
    fullest = int(np.argmax(counts))
    mode = 0.5 * (edges[fullest] + edges[fullest + 1])
    below = values[values < mode]
    return float(mode), float(below.std()) if below.size else 0.0


def fingerprint(labels: np.ndarray, intensities: np.ndarray, extra: str = "") -> str:
    """A cheap content key of (x, y, z)-indexed volumes: a strided sample, the shapes and sums."""
    digest = hashlib.sha1(extra.encode())
    for array in (labels, intensities):
        digest.update(str(array.shape).encode())
        digest.update(np.ascontiguousarray(array[::3, ::3, ::3]).tobytes())
        digest.update(str(float(array.sum(dtype=np.float64))).encode())
    return digest.hexdigest()


def resection_masks(image: sitk.Image, parcellation: sitk.Image, table: LabelTable | None = None) -> ResectionMasks:
    """Masks of ``parcellation`` (on ``image``'s grid) with ``table`` (default Neuromorphometrics).

    Cached in memory by the content of both images, so repeated simulations on one subject
    reuse them.
    """
    table = table or neuromorphometrics_labels()
    labels = sitk.GetArrayFromImage(parcellation)
    intensities = sitk.GetArrayFromImage(image)
    if labels.shape != intensities.shape:
        raise InputError(
            "parcellation", f"grid {labels.shape[::-1]} does not match the image grid {intensities.shape[::-1]}"
        )
    key = fingerprint(labels.transpose(2, 1, 0), intensities.transpose(2, 1, 0), table.name)
    if key in _CACHE:
        return _CACHE[key]
    excluded = {Kind.BRAIN_STEM, Kind.CEREBELLUM, Kind.OTHER}
    grey_matter, resectable = {}, {}
    for hemisphere in (Hemisphere.LEFT, Hemisphere.RIGHT):
        grey = table.mask_of(labels, [Kind.CORTICAL_GM], hemisphere)
        if not grey.any():
            raise InputError("parcellation", f"no {hemisphere.value} cortical grey matter label found")
        kinds = [kind for kind in Kind if kind not in excluded]
        brain = table.mask_of(labels, kinds, hemisphere)
        grey_matter[hemisphere.value] = np.ascontiguousarray(grey.transpose(2, 1, 0))
        resectable[hemisphere.value] = np.ascontiguousarray(_smooth(brain, parcellation).transpose(2, 1, 0))
    ventricles = table.mask_of(labels, [Kind.VENTRICLE])
    if not ventricles.any():
        raise InputError("parcellation", "no ventricle label found: the CSF intensity cannot be estimated")
    masks = ResectionMasks(grey_matter, resectable, *csf_intensity(intensities[ventricles]))
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = masks
    return masks


def subject_masks(
    image_xyz: np.ndarray, labels_xyz: np.ndarray, to_images, table: LabelTable | None = None
) -> ResectionMasks:
    """Masks for (x, y, z)-indexed arrays, looked up in the cache before any conversion.

    ``to_images`` returns the (image, parcellation) SimpleITK pair, called only on a cache miss.
    """
    table = table or neuromorphometrics_labels()
    key = fingerprint(labels_xyz, image_xyz, table.name)
    if key in _CACHE:
        return _CACHE[key]
    return resection_masks(*to_images(), table)
