"""FCD Segmentation Logic on a real MRML scene (slicer-core)."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from epilepsy_suite.errors import InputError
from epilepsy_suite.fcd.clusters import describe_clusters
from epilepsy_suite.fcd.model import MSDSANet
from epilepsy_suite.fcd.synthetic import make_synthetic_subject
from epilepsy_suite.geometry import copy_geometry
from FCDSegmentationLib.logic import FCDSegmentationLogic

from EpilepsySuiteMRML.scene import slice_nodes
from EpilepsySuiteMRML.segmentations import segment_ids_by_label
from EpilepsySuiteMRML.tables import records_from_table_node
from EpilepsySuiteMRML.volumes import sitk_from_volume_node, volume_node_from_sitk


@pytest.fixture(scope="module")
def subject():
    return make_synthetic_subject(3, spacing=2.0)


def test_predict_creates_probability_segmentation_and_table(mrml_scene, subject, fcd_checkpoint) -> None:
    t1 = volume_node_from_sitk(mrml_scene, subject.t1, "T1")
    flair = volume_node_from_sitk(mrml_scene, subject.flair, "FLAIR")
    logic = FCDSegmentationLogic(mrml_scene)
    result = logic.predict(t1, flair, str(fcd_checkpoint), device="cpu", threshold=0.3, min_cluster_voxels=1)

    probability = sitk_from_volume_node(result.probability_node)
    assert probability.GetSize() == subject.t1.GetSize()
    np.testing.assert_allclose(probability.GetOrigin(), subject.t1.GetOrigin(), atol=1e-6)
    values = sitk.GetArrayFromImage(probability)
    assert 0.0 <= values.min() and values.max() <= 1.0
    assert result.probability_node.GetDisplayNode().GetColorNode().GetName().endswith("inferno")

    records = records_from_table_node(result.table_node)
    assert len(records) == len(result.clusters)
    assert result.clusters, "the biased model should produce candidate clusters"
    assert result.segmentation_node.GetSegmentation().GetNumberOfSegments() == len(result.clusters)
    assert sorted(segment_ids_by_label(result.segmentation_node)) == list(range(1, len(result.clusters) + 1))
    peaks = [record["peak_probability"] for record in records]
    assert peaks == sorted(peaks, reverse=True)
    ras = logic.center_on_cluster(result, 0)
    red = next(node for node in slice_nodes(mrml_scene) if node.GetLayoutName() == "Red")
    assert red.GetSliceToRAS().GetElement(2, 3) == pytest.approx(ras[2])


def test_cluster_table_on_a_constructed_case(subject) -> None:
    probability = np.zeros(sitk.GetArrayFromImage(subject.t1).shape, np.float32)
    mask = np.zeros_like(probability, dtype=np.uint8)
    lesion = sitk.GetArrayFromImage(subject.lesion) > 0
    probability[lesion] = 0.9
    mask[lesion] = 1
    probability[10:13, 10:13, 10:13] = 0.6
    mask[10:13, 10:13, 10:13] = 1
    labels, records = describe_clusters(copy_geometry(probability, subject.t1), copy_geometry(mask, subject.t1))
    assert [record["index"] for record in records] == [1, 2]
    assert records[0]["peak_probability"] == pytest.approx(0.9) and records[1]["voxels"] == 27
    assert records[1]["volume_ml"] == pytest.approx(27 * 8 / 1000)
    assert (labels[lesion] == 1).all()
    assert records[0]["structure"] and "label" not in str(records[0]["structure"])


def test_missing_flair_and_wrong_model(mrml_scene, subject, tmp_path) -> None:
    t1 = volume_node_from_sitk(mrml_scene, subject.t1, "T1")
    logic = FCDSegmentationLogic(mrml_scene)
    with pytest.raises(InputError, match="FLAIR volume is missing"):
        logic.predict(t1, None, "model.pt")
    flair = volume_node_from_sitk(mrml_scene, subject.flair, "FLAIR")
    with pytest.raises(InputError, match="model file not found"):
        logic.predict(t1, flair, str(tmp_path / "missing.pt"), device="cpu")


@pytest.mark.slow  # several whole-volume predictions: `bootstrap.py test -m slow`
def test_published_preset_file_and_storage_order(mrml_scene, subject, tmp_path) -> None:
    """The authors' file layout through the Logic with the published preset: the map does not
    depend on the storage order of the volumes and lies on the T1 node's grid."""
    from epilepsy_suite.fcd.published import to_published_state_dict

    torch.manual_seed(1)
    model = MSDSANet(patch_size=64, feature_size=8)
    with torch.no_grad():  # few candidate clusters (no post-processing in this preset), a map that still varies
        model.head.conv.conv.bias.copy_(torch.tensor([0.0, -2.0]))
    torch.save(to_published_state_dict(model.state_dict()), tmp_path / "model.pth")
    logic = FCDSegmentationLogic(mrml_scene)
    choices = logic.preset_choices("published")
    assert choices == {"register_to_mni": True, "coregister_flair": True, "postprocess": False, "threshold": 0.5}
    with pytest.raises(InputError, match="unknown preset"):
        logic.preset_choices("fsl")
    x, y, z = subject.centre_index
    start = [int(np.clip(c - 32, 0, s - 64)) for c, s in zip((x, y, z), subject.t1.GetSize(), strict=True)]
    t1, flair = (sitk.RegionOfInterest(image, (64, 72, 64), start) for image in (subject.t1, subject.flair))
    maps = []
    for order in ("RAS", "PIR"):
        t1_node = volume_node_from_sitk(mrml_scene, sitk.DICOMOrient(t1, order), f"T1 {order}")
        flair_node = volume_node_from_sitk(mrml_scene, sitk.DICOMOrient(flair, order), f"FLAIR {order}")
        result = logic.predict(
            t1_node,
            flair_node,
            str(tmp_path / "model.pth"),
            device="cpu",
            preprocessing="published",
            register_to_mni=False,  # the crop is already in MNI space; registration is tested in Core
            coregister_flair=False,
            threshold=0.9,
            output_name=f"FCD {order}",
        )
        probability = sitk_from_volume_node(result.probability_node)
        stored = sitk_from_volume_node(t1_node)
        assert probability.GetSize() == stored.GetSize()
        np.testing.assert_allclose(probability.GetDirection(), stored.GetDirection(), atol=1e-6)
        np.testing.assert_allclose(probability.GetOrigin(), stored.GetOrigin(), atol=1e-4)
        maps.append(sitk.GetArrayFromImage(sitk.DICOMOrient(probability, "RAS")))
    assert np.abs(maps[0] - maps[1]).max() <= 1e-5


def test_panel_offers_every_preset() -> None:
    """The parameter node's preset choices (declared where Slicer loads the module) are the Core's."""
    import re
    from pathlib import Path

    from FCDSegmentationLib.presets import PRESET_NAMES, preset_choices

    source = (Path(__file__).resolve().parents[2] / "FCDSegmentation" / "FCDSegmentation.py").read_text()
    declared = re.search(r"preprocessing: Annotated\[str, Choice\(\[([^\]]*)\]\)", source)
    assert declared and tuple(re.findall(r'"(\w+)"', declared[1])) == PRESET_NAMES
    assert preset_choices("suite")["postprocess"] is True


def test_panel_sees_what_training_saw(mrml_scene, fcd_checkpoint) -> None:
    """A model trained on synthetic subjects meets in the panel the intensities it was trained on:
    the Logic's probability map equals the prediction on the training subject's own array (issue 16:
    training on raw synthetic intensities and inferring on preset-normalised ones doubled the
    positive voxels of the demo's model and added false-positive clusters)."""
    from epilepsy_suite.fcd.checkpoint import load_fcd_model
    from epilepsy_suite.fcd.dataset import synthetic_training_subjects
    from epilepsy_suite.fcd.inference import predict_array
    from epilepsy_suite.geometry import to_ras_array

    seed = 5
    training = synthetic_training_subjects([seed], spacing=2.0)[0]
    synthetic = make_synthetic_subject(seed, spacing=2.0)
    t1 = volume_node_from_sitk(mrml_scene, synthetic.t1, "T1")
    flair = volume_node_from_sitk(mrml_scene, synthetic.flair, "FLAIR")
    result = FCDSegmentationLogic(mrml_scene).predict(t1, flair, str(fcd_checkpoint), device="cpu")
    panel, _ = to_ras_array(sitk_from_volume_node(result.probability_node))
    model, _ = load_fcd_model(fcd_checkpoint)
    trained_on = predict_array(model, training.image)
    np.testing.assert_allclose(panel, trained_on, atol=1e-4)
