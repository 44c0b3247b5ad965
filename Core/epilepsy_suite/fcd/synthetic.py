"""Synthetic FCD subjects on the embedded MNI template, for tests, the demo and CPU experiments.

A lesion is a smooth blob centred in cortical grey matter near the grey/white junction. Inside
it the T1 junction is blurred (grey and white matter intensities mixed) and the FLAIR signal is
raised, the two radiological signs of FCD type II. The FLAIR is synthesised from the tissue
probability maps (grey matter brighter than white matter, CSF dark).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..data import mni_template, tissue_probability
from ..geometry import copy_geometry


@dataclass(frozen=True)
class SyntheticSubject:
    t1: sitk.Image
    flair: sitk.Image
    lesion: sitk.Image  # uint8 {0, 1}
    centre_index: tuple[int, int, int]  # (x, y, z) voxel index of the lesion centre


def _template_tissues(spacing: float) -> tuple[sitk.Image, np.ndarray, np.ndarray, np.ndarray]:
    template = mni_template()
    grey, white = tissue_probability("gm"), tissue_probability("wm")
    if spacing != 1.0:
        reference = sitk.Image([int(round(size / spacing)) for size in template.GetSize()], sitk.sitkFloat32)
        reference.SetSpacing([spacing] * 3)
        reference.SetOrigin(template.GetOrigin())
        reference.SetDirection(template.GetDirection())
        template, grey, white = (
            sitk.Resample(image, reference, sitk.Transform(), sitk.sitkLinear, 0.0) for image in (template, grey, white)
        )
    return template, sitk.GetArrayFromImage(template), sitk.GetArrayFromImage(grey), sitk.GetArrayFromImage(white)


def make_synthetic_subject(
    seed: int,
    spacing: float = 1.0,
    radius_mm: tuple[float, float] = (6.0, 10.0),
    noise: float = 0.03,
    flair_increase: float = 0.35,
) -> SyntheticSubject:
    """One synthetic subject (T1, FLAIR, lesion mask) on the template grid at ``spacing`` mm.

    Args:
        seed: random seed (same seed, same subject).
        radius_mm: range of the lesion radius.
        noise: Gaussian noise std, relative to the intensity range [0, 1].
        flair_increase: relative FLAIR hyperintensity inside the lesion.
    """
    rng = np.random.default_rng(seed)
    reference, t1, grey, white = _template_tissues(spacing)
    brain = t1 > 0
    t1 = t1 / np.percentile(t1[brain], 99.5)
    junction = (grey > 0.4) & (ndimage.uniform_filter(white, 3) > 0.3) & brain
    candidates = np.argwhere(junction)
    centre = candidates[rng.integers(len(candidates))]
    radius = rng.uniform(*radius_mm) / spacing
    grid = np.indices(t1.shape, dtype=np.float32)
    distance = np.sqrt(sum((grid[axis] - centre[axis]) ** 2 for axis in range(3)))
    wobble = ndimage.gaussian_filter(rng.normal(size=t1.shape).astype(np.float32), 3.0 / spacing)
    wobble /= np.abs(wobble).max() + 1e-6
    lesion = (distance < radius * (1.0 + 0.35 * wobble)) & ((grey + white) > 0.5)
    lesion = ndimage.binary_opening(lesion, iterations=1)
    if lesion.sum() == 0:  # tiny radius at coarse spacing: keep at least the centre's neighbourhood
        lesion = (distance < max(radius, 1.5)) & brain
    weight = ndimage.gaussian_filter(lesion.astype(np.float32), 1.5 / spacing)

    blurred_t1 = ndimage.gaussian_filter(t1, 2.0 / spacing)
    t1_lesion = (1 - weight) * t1 + weight * blurred_t1
    flair = (0.75 * grey + 0.5 * white + 0.08 * brain) * brain
    flair = flair * (1 + flair_increase * weight)
    t1_lesion = (t1_lesion + rng.normal(0, noise, t1.shape)) * brain
    flair = (flair + rng.normal(0, noise, t1.shape)) * brain
    return SyntheticSubject(
        copy_geometry(t1_lesion.astype(np.float32), reference),
        copy_geometry(flair.astype(np.float32), reference),
        copy_geometry(lesion.astype(np.uint8), reference),
        (int(centre[2]), int(centre[1]), int(centre[0])),
    )
