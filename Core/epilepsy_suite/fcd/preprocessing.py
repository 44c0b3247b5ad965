"""Preprocessing of T1 + FLAIR pairs: checks, co-registration, MNI registration, skull stripping,
intensity normalisation, and a disk cache of preprocessed subjects."""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..data import mni_template
from ..errors import InputError
from ..geometry import copy_geometry
from ..io import check_same_grid, read_image, read_label_map, write_image
from ..registration import register_affine, register_rigid

LOG = logging.getLogger(__name__)


@dataclass
class PreparedSubject:
    """T1, FLAIR (and lesion) on one grid, normalised to [0, 1] inside the brain.

    ``to_native`` maps points of the prepared grid back to the T1's native space when the
    subject was registered (``None`` otherwise).
    """

    t1: sitk.Image
    flair: sitk.Image
    lesion: sitk.Image | None
    native_t1: sitk.Image
    to_native: sitk.Transform | None = None


def normalise_intensities(
    image: sitk.Image, mask: np.ndarray | None = None, low: float = 0.5, high: float = 99.5
) -> sitk.Image:
    """Map the [low, high] percentiles of the (masked) voxels to [0, 1], clipping outside."""
    array = sitk.GetArrayFromImage(image).astype(np.float32)
    values = array[mask] if mask is not None and mask.any() else array[array != 0] if (array != 0).any() else array
    lower, upper = np.percentile(values, [low, high])
    scaled = np.clip((array - lower) / max(upper - lower, 1e-6), 0.0, 1.0)
    if mask is not None:
        scaled = scaled * mask
    return copy_geometry(scaled.astype(np.float32), image)


def match_flair_to_t1(
    t1: sitk.Image, flair: sitk.Image, flair_name: str = "FLAIR", register: bool = False
) -> sitk.Image:
    """FLAIR on the T1 grid: resampled in world space (logged) and optionally rigidly registered."""
    transform: sitk.Transform = sitk.Transform()
    if register:
        transform = register_rigid(t1, flair)
    try:
        check_same_grid(t1, flair, "T1", flair_name)
        if not register:
            return flair
    except InputError as error:
        LOG.info("%s; resampling the FLAIR onto the T1 grid", error)
    return sitk.Resample(flair, t1, transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32)


def prepare_subject(
    t1_path: str | os.PathLike[str],
    flair_path: str | os.PathLike[str] | None,
    lesion_path: str | os.PathLike[str] | None = None,
    register_to_mni: bool = False,
    coregister: bool = False,
) -> PreparedSubject:
    """Read, check and prepare one subject from files (see :func:`prepare_images`)."""
    if flair_path is None:
        raise InputError(t1_path, "the FLAIR image is missing: FCD segmentation needs both T1 and FLAIR")
    t1 = read_image(t1_path, pixel_type=sitk.sitkFloat32, what="T1")
    flair = read_image(flair_path, pixel_type=sitk.sitkFloat32, what="FLAIR")
    lesion = read_label_map(lesion_path, what="lesion mask") if lesion_path else None
    if lesion is not None and not sitk.GetArrayViewFromImage(lesion).any():
        raise InputError(lesion_path, "lesion mask is empty")
    return prepare_images(t1, flair, lesion, register_to_mni, coregister, str(flair_path))


def prepare_images(
    t1: sitk.Image,
    flair: sitk.Image,
    lesion: sitk.Image | None = None,
    register_to_mni: bool = False,
    coregister: bool = False,
    flair_name: str = "FLAIR",
) -> PreparedSubject:
    """Prepare in-memory images: FLAIR (and lesion) onto the T1 grid, optional registration, normalisation.

    Without ``register_to_mni`` the images stay on the T1 grid (for data already in MNI
    space); with it the T1 is affinely registered to the MNI template, everything is resampled
    to the template grid and skull-stripped by its brain mask.
    """
    t1 = sitk.Cast(t1, sitk.sitkFloat32)
    flair = match_flair_to_t1(t1, sitk.Cast(flair, sitk.sitkFloat32), flair_name, register=coregister)
    if lesion is not None:
        lesion = sitk.Resample(lesion, t1, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    native_t1 = t1
    to_native = None
    if register_to_mni:
        template = mni_template()
        to_native = register_affine(template, t1)
        t1, flair = (sitk.Resample(image, template, to_native, sitk.sitkLinear, 0.0) for image in (t1, flair))
        if lesion is not None:
            lesion = sitk.Resample(lesion, template, to_native, sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
        brain = sitk.GetArrayFromImage(template) > 0
    else:
        brain = sitk.GetArrayFromImage(t1) > 0
    return PreparedSubject(
        normalise_intensities(t1, brain), normalise_intensities(flair, brain), lesion, native_t1, to_native
    )


def cached_prepared_subject(
    cache_dir: str | os.PathLike[str], *paths: str | os.PathLike[str] | None, **options: bool
) -> PreparedSubject:
    """:func:`prepare_subject` with the results stored under ``cache_dir`` (key: file contents + options)."""
    digest = hashlib.sha256(repr(sorted(options.items())).encode())
    for path in paths:
        if path is not None:
            digest.update(Path(path).read_bytes())
    folder = Path(cache_dir) / digest.hexdigest()[:20]
    names = ("t1.nii.gz", "flair.nii.gz", "lesion.nii.gz")
    if (folder / names[0]).is_file() and (folder / names[1]).is_file():
        images = [sitk.ReadImage(str(folder / name)) if (folder / name).is_file() else None for name in names]
        return PreparedSubject(images[0], images[1], images[2], images[0])
    subject = prepare_subject(*paths, **options)  # type: ignore[arg-type]
    for name, image in zip(names, (subject.t1, subject.flair, subject.lesion), strict=True):
        if image is not None:
            write_image(image, folder / name)
    return subject
