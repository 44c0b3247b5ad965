"""Geometry-exact conversion between SimpleITK images and TorchIO images.

SimpleITK works in LPS world coordinates with (z, y, x) arrays; TorchIO in RAS with
(C, x, y, z) tensors and a 4x4 affine. These helpers convert both the voxels and the
geometry (spacing, origin, direction) without loss.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
import torch
import torchio as tio

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def affine_from_sitk(image: sitk.Image) -> np.ndarray:
    """4x4 voxel-index (i, j, k) -> RAS world affine of a 3D SimpleITK image."""
    direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(3, 3)
    affine = np.eye(4)
    affine[:3, :3] = direction * np.asarray(image.GetSpacing(), dtype=np.float64)
    affine[:3, 3] = image.GetOrigin()
    return LPS_TO_RAS @ affine


def set_sitk_geometry_from_affine(image: sitk.Image, affine: np.ndarray) -> sitk.Image:
    """Set spacing, origin and direction of ``image`` from a RAS voxel-to-world ``affine``."""
    lps = LPS_TO_RAS @ np.asarray(affine, dtype=np.float64)
    matrix = lps[:3, :3]
    spacing = np.linalg.norm(matrix, axis=0)
    image.SetSpacing(spacing.tolist())
    image.SetDirection((matrix / spacing).flatten().tolist())
    image.SetOrigin(lps[:3, 3].tolist())
    return image


def sitk_to_torchio(image: sitk.Image, label: bool = False) -> tio.Image:
    """A TorchIO ``ScalarImage`` (or ``LabelMap``) with the voxels and geometry of ``image``."""
    array = sitk.GetArrayFromImage(image)  # (z, y, x) or (z, y, x, c)
    if image.GetNumberOfComponentsPerPixel() == 1:
        array = array[np.newaxis]
    else:
        array = np.moveaxis(array, -1, 0)
    tensor = torch.from_numpy(np.ascontiguousarray(array.transpose(0, 3, 2, 1)))
    image_class = tio.LabelMap if label else tio.ScalarImage
    return image_class(tensor=tensor, affine=affine_from_sitk(image))


def torchio_to_sitk(image: tio.Image | torch.Tensor, affine: np.ndarray | None = None) -> sitk.Image:
    """A SimpleITK image from a TorchIO image (or a (C, x, y, z) tensor and RAS ``affine``)."""
    if isinstance(image, tio.Image):
        tensor, affine = image.data, image.affine
    else:
        tensor = image
        if affine is None:
            raise ValueError("an affine is required when converting a bare tensor")
    array = tensor.detach().cpu().numpy()
    if array.ndim != 4:
        raise ValueError(f"expected a (C, x, y, z) tensor, got shape {tuple(array.shape)}")
    zyx = array.transpose(0, 3, 2, 1)
    if zyx.shape[0] == 1:
        result = sitk.GetImageFromArray(np.ascontiguousarray(zyx[0]))
    else:
        result = sitk.GetImageFromArray(np.ascontiguousarray(np.moveaxis(zyx, 0, -1)), isVector=True)
    return set_sitk_geometry_from_affine(result, affine)


def copy_geometry(array_zyx: np.ndarray, reference: sitk.Image) -> sitk.Image:
    """Wrap a (z, y, x) numpy array as a SimpleITK image on ``reference``'s grid."""
    if tuple(array_zyx.shape) != tuple(reversed(reference.GetSize())):
        raise ValueError(
            f"array shape {array_zyx.shape} does not match the reference grid {tuple(reversed(reference.GetSize()))}"
        )
    image = sitk.GetImageFromArray(np.ascontiguousarray(array_zyx))
    image.CopyInformation(reference)
    return image


def coarsened(image: sitk.Image, factor: int, interpolator: int = sitk.sitkLinear) -> sitk.Image:
    """``image`` resampled onto a grid ``factor`` times coarser along every axis (same origin, direction)."""
    if factor < 1:
        raise ValueError(f"factor must be a positive integer, not {factor}")
    size = [size // factor for size in image.GetSize()]
    spacing = [spacing * factor for spacing in image.GetSpacing()]
    return sitk.Resample(
        image, size, sitk.Transform(), interpolator, image.GetOrigin(), spacing, image.GetDirection(), 0,
        image.GetPixelID(),
    )  # fmt: skip


NETWORK_ORIENTATION = "RAS"  # SimpleITK orientation code: axes point to the Right, Anterior, Superior


def to_ras_array(image: sitk.Image) -> tuple[np.ndarray, sitk.Image]:
    """The voxels of ``image`` as the array MONAI gives after ``Orientation("RAS")``.

    The image is reoriented (axes permuted and flipped, no interpolation) so that its axes
    point to the Right, Anterior and Superior, and its array is returned indexed (x, y, z)
    (with the components last for a vector image). The same anatomy therefore always gives
    the same array, whatever the storage order or direction of the file.

    Returns:
        (array_xyz, oriented): the array of shape (X, Y, Z[, C]) and the reoriented image,
        which :func:`from_ras_array` needs to put a result back.
    """
    oriented = sitk.DICOMOrient(image, NETWORK_ORIENTATION)
    array = sitk.GetArrayFromImage(oriented)  # (z, y, x[, c])
    return np.ascontiguousarray(np.swapaxes(array, 0, 2)), oriented


def from_ras_array(array_xyz: np.ndarray, oriented: sitk.Image, reference: sitk.Image) -> sitk.Image:
    """Put an (X, Y, Z) array computed on :func:`to_ras_array`'s array back onto ``reference``'s grid.

    Args:
        array_xyz: values indexed like the array :func:`to_ras_array` returned.
        oriented: the reoriented image :func:`to_ras_array` returned with it.
        reference: the image that was given to :func:`to_ras_array`; the result has its
            size, spacing, origin and direction exactly (the voxels are only permuted back).

    Raises:
        ValueError: an array of another shape, or ``oriented`` not a reorientation of ``reference``.
    """
    if tuple(array_xyz.shape[:3]) != tuple(oriented.GetSize()):
        raise ValueError(f"array shape {array_xyz.shape} does not match the reoriented grid {oriented.GetSize()}")
    image = sitk.GetImageFromArray(np.ascontiguousarray(np.swapaxes(array_xyz, 0, 2)), isVector=array_xyz.ndim == 4)
    image.CopyInformation(oriented)
    code = sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(reference.GetDirection())
    restored = sitk.DICOMOrient(image, code)
    corner = np.subtract(restored.GetOrigin(), reference.GetOrigin())
    if restored.GetSize() != reference.GetSize() or np.abs(corner).max() > 1e-3 * max(reference.GetSpacing()):
        raise ValueError("the reoriented image does not come from the reference image")
    restored.CopyInformation(reference)  # the same geometry to the last bit, not only up to rounding
    return restored
