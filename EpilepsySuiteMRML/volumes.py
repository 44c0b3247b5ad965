"""Geometry-exact bridges between MRML volume nodes and SimpleITK images.

MRML volumes store (z, y, x) voxels with an IJK -> RAS matrix; SimpleITK stores an LPS
origin/direction/spacing. Conversions flip the first two axes of world space and keep every
voxel, spacing, origin and (oblique) direction exactly.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
import vtk
from vtk.util import numpy_support

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def _ijk_to_ras(image: sitk.Image) -> np.ndarray:
    direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(3, 3)
    matrix = np.eye(4)
    matrix[:3, :3] = direction * np.asarray(image.GetSpacing(), dtype=np.float64)
    matrix[:3, 3] = image.GetOrigin()
    return LPS_TO_RAS @ matrix


def _vtk_matrix(array: np.ndarray) -> vtk.vtkMatrix4x4:
    matrix = vtk.vtkMatrix4x4()
    for row in range(4):
        for column in range(4):
            matrix.SetElement(row, column, float(array[row, column]))
    return matrix


def _numpy_matrix(matrix: vtk.vtkMatrix4x4) -> np.ndarray:
    return np.array([[matrix.GetElement(row, column) for column in range(4)] for row in range(4)])


def set_node_geometry(node, image: sitk.Image) -> None:
    """Give the MRML volume ``node`` the spacing, origin and direction of ``image``."""
    node.SetIJKToRASMatrix(_vtk_matrix(_ijk_to_ras(image)))


def volume_node_from_sitk(scene, image: sitk.Image, name: str, labelmap: bool = False, node=None):
    """Add (or update ``node``) a scalar or labelmap volume node holding ``image``.

    The voxels are copied; display nodes are created so the volume shows in the views.
    """
    if image.GetDimension() != 3:
        raise ValueError(f"{name}: a 3D image is required, got {image.GetDimension()}D")
    class_name = "vtkMRMLLabelMapVolumeNode" if labelmap else "vtkMRMLScalarVolumeNode"
    if node is None:
        node = scene.AddNewNodeByClass(class_name, name)
    array = sitk.GetArrayFromImage(image)
    image_data = vtk.vtkImageData()
    image_data.SetDimensions(image.GetSize())
    components = image.GetNumberOfComponentsPerPixel()
    flat = array.reshape(-1, components) if components > 1 else array.reshape(-1)
    vtk_array = numpy_support.numpy_to_vtk(np.ascontiguousarray(flat), deep=True)
    vtk_array.SetNumberOfComponents(components)
    image_data.GetPointData().SetScalars(vtk_array)
    node.SetAndObserveImageData(image_data)
    set_node_geometry(node, image)
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    return node


def sitk_from_volume_node(node) -> sitk.Image:
    """A SimpleITK image with the voxels and the geometry of an MRML volume node.

    A parent linear transform, if any, is not applied (the node's own IJK -> RAS is used).
    """
    image_data = node.GetImageData()
    if image_data is None:
        raise ValueError(f"volume node {node.GetName()!r} has no image data")
    dimensions = image_data.GetDimensions()
    components = image_data.GetNumberOfScalarComponents()
    array = numpy_support.vtk_to_numpy(image_data.GetPointData().GetScalars())
    shape = tuple(reversed(dimensions)) + ((components,) if components > 1 else ())
    image = sitk.GetImageFromArray(array.reshape(shape).copy(), isVector=components > 1)
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    lps = LPS_TO_RAS @ _numpy_matrix(matrix)
    spacing = np.linalg.norm(lps[:3, :3], axis=0)
    image.SetSpacing(spacing.tolist())
    image.SetDirection((lps[:3, :3] / spacing).flatten().tolist())
    image.SetOrigin(lps[:3, 3].tolist())
    return image


def ras_of_voxel(image: sitk.Image, index_xyz: tuple[float, float, float]) -> tuple[float, float, float]:
    """RAS world coordinates (mm) of a continuous voxel index (x, y, z) of ``image``."""
    point = image.TransformContinuousIndexToPhysicalPoint([float(v) for v in index_xyz])
    return (-point[0], -point[1], point[2])


def ras_of_centroid(image: sitk.Image, mask: np.ndarray) -> tuple[float, float, float] | None:
    """RAS (mm) of the centre of the voxels of ``mask`` (a boolean array on ``image``'s grid,
    (z, y, x) as SimpleITK gives it); None when the mask is empty."""
    voxels = np.argwhere(mask)
    if not len(voxels):
        return None
    return ras_of_voxel(image, tuple(voxels.mean(axis=0)[::-1]))
