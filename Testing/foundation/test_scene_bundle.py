"""A saved .mrb bundle reloads into a new scene with the same nodes."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import SimpleITK as sitk
from epilepsy_suite.data import mni_template, neuromorphometrics_labels, neuromorphometrics_parcellation
from epilepsy_suite.errors import InputError

from EpilepsySuiteMRML.scene_io import load_scene_bundle, save_scene_bundle
from EpilepsySuiteMRML.segmentations import segment_ids_by_label, segmentation_from_labelmap
from EpilepsySuiteMRML.volumes import sitk_from_volume_node, volume_node_from_sitk


def _nodes(scene, class_name: str) -> list:
    collection = scene.GetNodesByClass(class_name)
    return [collection.GetItemAsObject(index) for index in range(collection.GetNumberOfItems())]


def test_bundle_reloads_with_volume_and_named_segments(mrml_scene, tmp_path) -> None:
    template = mni_template()
    parcellation = neuromorphometrics_parcellation()  # native 1.5 mm grid keeps the test fast
    labels = neuromorphometrics_labels()
    present = sorted(int(v) for v in np.unique(sitk.GetArrayViewFromImage(parcellation)) if v)
    volume_node_from_sitk(mrml_scene, template, "MNI template")
    segmentation_from_labelmap(mrml_scene, parcellation, labels, "Parcellation", closed_surface=False)

    path = save_scene_bundle(mrml_scene, tmp_path / "scene.mrb")
    assert zipfile.is_zipfile(path)
    assert not [p for p in tmp_path.iterdir() if p.name != "scene.mrb"], "temporary files left behind"

    reloaded = load_scene_bundle(path)
    volumes = [node for node in _nodes(reloaded, "vtkMRMLScalarVolumeNode") if node.GetName() == "MNI template"]
    assert len(volumes) == 1
    np.testing.assert_array_equal(
        sitk.GetArrayFromImage(sitk_from_volume_node(volumes[0])), sitk.GetArrayFromImage(template)
    )
    segmentations = _nodes(reloaded, "vtkMRMLSegmentationNode")
    assert [node.GetName() for node in segmentations] == ["Parcellation"]
    by_label = segment_ids_by_label(segmentations[0])
    assert sorted(by_label) == present
    inner = segmentations[0].GetSegmentation()
    for number, segment_id in by_label.items():
        assert inner.GetSegment(segment_id).GetName() == labels[number].name
    reloaded.Clear(True)


def test_bundle_needs_the_mrb_suffix(mrml_scene, tmp_path) -> None:
    with pytest.raises(InputError, match=r"scene\.zip: .*\.mrb"):
        save_scene_bundle(mrml_scene, tmp_path / "scene.zip")
    assert list(tmp_path.iterdir()) == []


def test_loading_a_file_that_is_not_a_bundle_says_so(tmp_path) -> None:
    fake = tmp_path / "broken.mrb"
    fake.write_text("not a zip")
    with pytest.raises(InputError, match="broken.mrb: not a Slicer scene bundle"):
        load_scene_bundle(fake)
    with pytest.raises(InputError, match="missing.mrb: scene bundle not found"):
        load_scene_bundle(tmp_path / "missing.mrb")
