"""Reading and writing medical images through SimpleITK, with errors that name file and problem."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..errors import InputError
from .atomic import atomic_output
from .integrity import check_complete

PathLike = str | os.PathLike[str]


def read_image(
    path: PathLike,
    dimension: int = 3,
    pixel_type: int | None = None,
    allow_nan: bool = False,
    what: str = "image",
    varying: bool = False,
) -> sitk.Image:
    """Read a NIfTI/NRRD/... image and check it is usable.

    Args:
        path: file to read.
        dimension: required number of spatial dimensions (a trailing singleton 4th axis is dropped).
        pixel_type: optional SimpleITK pixel type to cast to (e.g. ``sitk.sitkFloat32``).
        allow_nan: accept NaN or infinite voxels.
        what: how the image is called in error messages ("T1", "FLAIR", "parcellation"...).
        varying: refuse an image whose voxels all have one value (a blank or all-zero scan, which
            intensity normalisation would turn into noise a network reads as findings).

    Raises:
        InputError: missing, unreadable or truncated file, wrong dimension, multi-component
            data, empty image, non-finite voxels or (``varying``) one value everywhere.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, f"{what} file not found")
    if path.is_dir():
        raise InputError(path, f"{what} path is a folder, not an image file")
    check_complete(path)  # ITK reads a truncated .nii(.gz) with the missing voxels set to 0
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else "unknown reason"
        raise InputError(path, f"cannot read {what} as an image ({reason})") from None
    if image.GetDimension() == dimension + 1 and image.GetSize()[-1] == 1:
        size = list(image.GetSize())
        size[-1] = 0
        image = sitk.Extract(image, size, [0] * image.GetDimension())
    if image.GetDimension() != dimension:
        raise InputError(
            path,
            f"{what} must be a {dimension}D image but has {image.GetDimension()} dimensions "
            f"(size {'x'.join(map(str, image.GetSize()))})",
        )
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(path, f"{what} must have one value per voxel, found {image.GetNumberOfComponentsPerPixel()}")
    if min(image.GetSize()) < 2:
        raise InputError(path, f"{what} is degenerate (size {'x'.join(map(str, image.GetSize()))})")
    if not allow_nan and image.GetPixelID() in (sitk.sitkFloat32, sitk.sitkFloat64):
        non_finite = _non_finite_voxels(path, image)
        if non_finite:
            raise InputError(path, f"{what} contains {non_finite} NaN or infinite voxels")
    if varying:
        check_varying(image, path, what)
    if pixel_type is not None:
        image = sitk.Cast(image, pixel_type)
    return image


def check_varying(image: sitk.Image, source: PathLike, what: str = "") -> None:
    """Refuse an image whose voxels all have one value (a blank scan), naming ``source``."""
    statistics = sitk.MinimumMaximumImageFilter()
    statistics.Execute(image)
    if statistics.GetMinimum() == statistics.GetMaximum():
        named = f"{what} " if what else ""
        raise InputError(
            source, f"{named}has the same value ({statistics.GetMinimum():g}) in every voxel: a blank scan"
        )


def _non_finite_voxels(path: Path, image: sitk.Image) -> int:
    """NaN and infinite voxels of a float image, counted in the file: ITK's NIfTI reader turns
    them into 0, so a NIfTI's own data is read again (through nibabel) to count them."""
    if path.name.lower().endswith((".nii", ".nii.gz")):
        import nibabel

        data = np.asarray(nibabel.load(str(path)).dataobj)
        return int(data.size - np.count_nonzero(np.isfinite(data)))
    return int((~np.isfinite(sitk.GetArrayViewFromImage(image))).sum())


def read_label_map(path: PathLike, reference: sitk.Image | None = None, what: str = "label map") -> sitk.Image:
    """Read an integer label map; when ``reference`` is given its grid must match."""
    image = read_image(path, what=what)
    array = sitk.GetArrayViewFromImage(image)
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.mod(array, 1) == 0):
            raise InputError(path, f"{what} must hold integer labels but has fractional values")
        image = sitk.Cast(image, sitk.sitkInt32)
    if reference is not None:
        check_same_grid(reference, image, "image", str(path))
    return image


def check_same_grid(
    reference: sitk.Image,
    other: sitk.Image,
    reference_name: str = "reference",
    other_name: str = "image",
    tolerance: float = 1e-4,
) -> None:
    """Raise :class:`InputError` unless both images share size, spacing, origin and direction."""
    problems = []
    if reference.GetSize() != other.GetSize():
        problems.append(f"size {_fmt(other.GetSize())} vs {_fmt(reference.GetSize())}")
    for name, getter in (("spacing", "GetSpacing"), ("origin", "GetOrigin"), ("direction", "GetDirection")):
        a = np.asarray(getattr(reference, getter)())
        b = np.asarray(getattr(other, getter)())
        if a.shape != b.shape or not np.allclose(a, b, atol=tolerance):
            problems.append(f"{name} {_fmt(b)} vs {_fmt(a)}")
    if problems:
        raise InputError(other_name, f"grid does not match the {reference_name}: " + "; ".join(problems))


def write_image(image: sitk.Image, path: PathLike, compress: bool = True) -> Path:
    """Write ``image`` atomically (temporary file, then rename) and return the path."""
    path = Path(path)
    with atomic_output(path) as temporary:
        sitk.WriteImage(image, str(temporary), compress)
    return path


def _fmt(values: object) -> str:
    return "(" + ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in np.asarray(values).tolist()) + ")"
