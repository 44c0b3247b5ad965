"""Preprocessing of T1 + FLAIR pairs: checks, co-registration, MNI registration, skull stripping,
intensity normalisation (each as a preset says, :mod:`epilepsy_suite.fcd.presets`), the array the
network sees (:func:`network_input`), and a disk cache of preprocessed subjects."""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..data import mni_template
from ..data.templates import fsl_mni152_template
from ..errors import InputError
from ..geometry import copy_geometry, to_ras_array
from ..io import check_same_grid, read_image, read_label_map, write_image
from ..io.images import check_varying
from ..registration import register_affine, register_rigid
from .presets import DEFAULT_PRESET, Preset, get_preset

LOG = logging.getLogger(__name__)


@dataclass
class PreparedSubject:
    """T1, FLAIR (and lesion) on one grid, intensities normalised to [0, 1] as the preset says.

    ``to_native`` maps points of the prepared grid back to the T1's native space when the
    subject was registered (``None`` otherwise).
    """

    t1: sitk.Image
    flair: sitk.Image
    lesion: sitk.Image | None
    native_t1: sitk.Image
    to_native: sitk.Transform | None = None


def normalise_intensities(
    image: sitk.Image,
    mask: np.ndarray | None = None,
    low: float = 0.5,
    high: float = 99.5,
    whole_volume: bool = False,
) -> sitk.Image:
    """Map the [low, high] percentiles of the voxels to [0, 1], clipping outside.

    The percentiles are those of the ``mask`` voxels (a (z, y, x) boolean array; the result is
    zeroed outside it), else of the non-zero voxels; with ``whole_volume`` (and no mask) of
    every voxel, background included, as the MS-DSA-Net authors do.
    """
    array = sitk.GetArrayFromImage(image).astype(np.float32)
    if mask is not None and mask.any():
        values = array[mask]
    elif whole_volume or not (array != 0).any():
        values = array
    else:
        values = array[array != 0]
    lower, upper = np.percentile(values, [low, high])
    scaled = np.clip((array - lower) / max(upper - lower, 1e-6), 0.0, 1.0)
    if mask is not None:
        scaled = scaled * mask
    return copy_geometry(scaled.astype(np.float32), image)


def network_input(t1: sitk.Image, flair: sitk.Image) -> tuple[np.ndarray, sitk.Image]:
    """The (2, X, Y, Z) float32 array the network sees for a T1 + FLAIR on one grid, and the
    reoriented grid that :func:`~epilepsy_suite.geometry.from_ras_array` needs to map a result back.

    Both training and inference go through here: (x, y, z) in RAS+, whatever the storage.

    Raises:
        InputError: the FLAIR not on the T1's grid.
    """
    check_same_grid(t1, flair, "T1", "FLAIR")
    t1_xyz, oriented = to_ras_array(t1)
    flair_xyz, _ = to_ras_array(flair)
    return np.stack([t1_xyz, flair_xyz]).astype(np.float32), oriented


def match_flair_to_t1(
    t1: sitk.Image,
    flair: sitk.Image,
    flair_name: str = "FLAIR",
    register: bool = False,
    transform: sitk.Transform | None = None,
) -> sitk.Image:
    """FLAIR on the T1 grid: resampled in world space (logged), through ``transform`` (T1 space
    -> FLAIR space) when given, else through a rigid registration when ``register``.

    Raises:
        InputError: naming the FLAIR when it covers none of the T1 (its position in space was
            lost, or it belongs to another scan); a partial cover is logged as a warning.
    """
    if transform is None and register:
        transform = register_rigid(t1, flair)
    if transform is None:
        if _same_grid(t1, flair, flair_name):
            return flair
        transform = sitk.Transform()
    check_overlap(t1, flair, transform, flair_name)
    return sitk.Resample(flair, t1, transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32)


def check_overlap(t1: sitk.Image, flair: sitk.Image, transform: sitk.Transform, flair_name: str = "FLAIR") -> None:
    """Refuse a FLAIR that covers none of the T1 through ``transform`` (T1 space -> FLAIR space):
    its position in space was lost, or it belongs to another scan. A partial cover is a warning.

    Raises:
        InputError: naming the FLAIR and both origins.
    """
    inside = sitk.Image(flair.GetSize(), sitk.sitkUInt8) + 1
    inside.CopyInformation(flair)
    on_t1 = sitk.Resample(inside, t1, transform, sitk.sitkNearestNeighbor)  # kept: the view below needs it
    covered = float(sitk.GetArrayViewFromImage(on_t1).mean())
    if covered == 0.0:
        raise InputError(flair_name, "the FLAIR does not overlap the T1 anywhere in space: check both headers "
                         f"(FLAIR origin {_fmt(flair.GetOrigin())}, T1 origin {_fmt(t1.GetOrigin())})")  # fmt: skip
    if covered < 0.5:
        LOG.warning("%s covers only %.0f %% of the T1: check that both are of the same patient and session",
                    flair_name, 100 * covered)  # fmt: skip


def _fmt(values: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{value:.1f}" for value in values) + ")"


def prepare_subject(
    t1_path: str | os.PathLike[str],
    flair_path: str | os.PathLike[str] | None,
    lesion_path: str | os.PathLike[str] | None = None,
    register_to_mni: bool | None = None,
    coregister: bool | None = None,
    preset: str | Preset = DEFAULT_PRESET,
) -> PreparedSubject:
    """Read, check and prepare one subject from files (see :func:`prepare_images`)."""
    if flair_path is None:
        raise InputError(t1_path, "the FLAIR image is missing: FCD segmentation needs both T1 and FLAIR")
    t1 = read_image(t1_path, pixel_type=sitk.sitkFloat32, what="T1", varying=True)
    flair = read_image(flair_path, pixel_type=sitk.sitkFloat32, what="FLAIR", varying=True)
    lesion = read_label_map(lesion_path, what="lesion mask") if lesion_path else None
    if lesion is not None and not sitk.GetArrayViewFromImage(lesion).any():
        raise InputError(lesion_path, "lesion mask is empty")
    return prepare_images(t1, flair, lesion, register_to_mni, coregister, str(flair_path), preset)


def registration_template(preset: Preset) -> sitk.Image:
    """The preset's MNI template: the grid the network works on when registering."""
    return fsl_mni152_template() if preset.template == "fsl_mni152" else mni_template()


def prepare_images(
    t1: sitk.Image,
    flair: sitk.Image,
    lesion: sitk.Image | None = None,
    register_to_mni: bool | None = None,
    coregister: bool | None = None,
    flair_name: str = "FLAIR",
    preset: str | Preset = DEFAULT_PRESET,
) -> PreparedSubject:
    """Prepare in-memory images as ``preset`` says (:mod:`epilepsy_suite.fcd.presets`).

    ``register_to_mni`` and ``coregister`` (FLAIR rigidly to the T1) default to the preset's
    choice. Without registration the images stay on the T1 grid (data already in MNI space).
    With it the T1 is affinely registered to the preset's template and T1, FLAIR (and lesion)
    are resampled once onto the template grid, the FLAIR through its rigid transform to the T1
    followed by the T1's. A lesion on the FLAIR's grid follows the FLAIR, otherwise the T1.
    Then the intensities are normalised per channel to [0, 1] (brain-masked or whole-volume).

    Raises:
        InputError: unknown preset, or a registration that cannot run.
    """
    preset = get_preset(preset)
    for image, name in ((t1, "T1"), (flair, flair_name)):
        check_varying(image, name)
    register_to_mni = preset.register_to_mni if register_to_mni is None else register_to_mni
    coregister = preset.coregister_flair if coregister is None else coregister
    t1 = sitk.Cast(t1, sitk.sitkFloat32)
    flair = sitk.Cast(flair, sitk.sitkFloat32)
    flair_to_t1: sitk.Transform = register_rigid(t1, flair) if coregister else sitk.Transform()
    lesion_transform = sitk.Transform()
    if lesion is not None and coregister and _same_grid(lesion, flair):
        lesion_transform = flair_to_t1
    native_t1, to_native, brain = t1, None, None
    if register_to_mni:
        check_overlap(t1, flair, flair_to_t1, flair_name)  # before the long registration to MNI
        grid = registration_template(preset)
        mask = sitk.BinaryDilate(grid > 0, [3, 3, 3]) if preset.register_within_brain else None
        to_native = register_affine(grid, t1, fixed_mask=mask)
        brain = sitk.GetArrayFromImage(grid) > 0 if preset.skull_strip else None
        t1 = sitk.Resample(t1, grid, to_native, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
        flair = sitk.Resample(flair, grid, _then(to_native, flair_to_t1), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    else:
        grid = t1
        flair = match_flair_to_t1(t1, flair, flair_name, transform=flair_to_t1 if coregister else None)
    if lesion is not None:
        to_lesion = _then(to_native, lesion_transform) if to_native is not None else lesion_transform
        lesion = sitk.Resample(lesion, grid, to_lesion, sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    if brain is None and preset.intensity_region == "brain":
        brain = sitk.GetArrayFromImage(t1) > 0
    low, high = preset.percentiles
    whole = preset.intensity_region == "whole"
    t1, flair = (normalise_intensities(image, brain, low, high, whole_volume=whole) for image in (t1, flair))
    return PreparedSubject(t1, flair, lesion, native_t1, to_native)


def _then(first: sitk.Transform, second: sitk.Transform) -> sitk.Transform:
    """The transform applying ``first`` to a point, then ``second`` (SimpleITK composites apply the
    last added transform first)."""
    return sitk.CompositeTransform([second, first])


def _same_grid(reference: sitk.Image, other: sitk.Image, flair_name: str = "") -> bool:
    """Whether both images share one grid (when not and ``flair_name`` is given, the log says so)."""
    try:
        check_same_grid(reference, other, "T1", flair_name or "image")
    except InputError as error:
        if flair_name:
            LOG.info("%s; resampling the FLAIR onto the T1 grid", error)
        return False
    return True


def cached_prepared_subject(
    cache_dir: str | os.PathLike[str], *paths: str | os.PathLike[str] | None, **options: object
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
