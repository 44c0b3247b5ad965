"""Voxels and geometry survive MRML node -> SimpleITK -> TorchIO -> MRML exactly."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from epilepsy_suite.data import mni_template
from epilepsy_suite.geometry import affine_from_sitk, sitk_to_torchio, torchio_to_sitk
from scipy.spatial.transform import Rotation

from EpilepsySuiteMRML.volumes import ras_of_voxel, sitk_from_volume_node, volume_node_from_sitk


def _oblique_template() -> sitk.Image:
    image = mni_template()
    rotation = Rotation.from_euler("xyz", [12.0, -7.0, 25.0], degrees=True).as_matrix()
    flip = np.diag([-1.0, 1.0, 1.0])  # a left-handed direction too
    image.SetDirection((rotation @ flip).flatten().tolist())
    image.SetOrigin((-31.25, 17.5, 42.125))
    image.SetSpacing((0.9, 1.1, 1.3))
    return image


def _assert_same_geometry(a: sitk.Image, b: sitk.Image) -> None:
    assert a.GetSize() == b.GetSize()
    np.testing.assert_allclose(a.GetSpacing(), b.GetSpacing(), atol=1e-6)
    np.testing.assert_allclose(a.GetOrigin(), b.GetOrigin(), atol=1e-6)
    np.testing.assert_allclose(a.GetDirection(), b.GetDirection(), atol=1e-6)


def test_template_round_trip_through_mrml_sitk_torchio(mrml_scene) -> None:
    original = _oblique_template()
    node = volume_node_from_sitk(mrml_scene, original, "oblique template")
    from_node = sitk_from_volume_node(node)
    _assert_same_geometry(original, from_node)

    torchio_image = sitk_to_torchio(from_node)
    assert torchio_image.shape == (1, *original.GetSize())
    np.testing.assert_allclose(torchio_image.affine, affine_from_sitk(original), atol=1e-6)

    back = torchio_to_sitk(torchio_image)
    node_back = volume_node_from_sitk(mrml_scene, back, "round trip")
    final = sitk_from_volume_node(node_back)
    _assert_same_geometry(original, final)
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(final), sitk.GetArrayViewFromImage(original))


def test_world_coordinates_agree_between_mrml_and_sitk(mrml_scene) -> None:
    import vtk

    image = _oblique_template()
    node = volume_node_from_sitk(mrml_scene, image, "oblique")
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    index = (10.0, 20.0, 30.0)
    ras_mrml = matrix.MultiplyPoint((*index, 1.0))[:3]
    np.testing.assert_allclose(ras_mrml, ras_of_voxel(image, index), atol=1e-6)
    # The TorchIO affine maps the same voxel to the same RAS point.
    affine = sitk_to_torchio(image).affine
    np.testing.assert_allclose(affine @ np.array([*index, 1.0]), [*ras_mrml, 1.0], atol=1e-6)


def test_label_map_round_trip_keeps_integer_labels(mrml_scene) -> None:
    labels = sitk.Image(8, 9, 10, sitk.sitkInt16)
    labels[2, 3, 4] = 183
    labels.SetOrigin((1.0, 2.0, 3.0))
    node = volume_node_from_sitk(mrml_scene, labels, "labels", labelmap=True)
    assert node.IsA("vtkMRMLLabelMapVolumeNode")
    back = torchio_to_sitk(sitk_to_torchio(sitk_from_volume_node(node), label=True))
    assert back[2, 3, 4] == 183
    assert int(sitk.GetArrayViewFromImage(back).sum()) == 183


def test_bare_tensor_needs_an_affine() -> None:
    import torch

    with pytest.raises(ValueError, match="affine"):
        torchio_to_sitk(torch.zeros(1, 2, 2, 2))
