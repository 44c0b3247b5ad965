"""CavitySegmentation Logic on a real MRML scene (slicer-core)."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import torch

pytest.importorskip("slicer")

from CavitySegmentationLib.logic import CavitySegmentationLogic  # noqa: E402
from epilepsy_suite.cavity.checkpoint import save_checkpoint  # noqa: E402
from epilepsy_suite.cavity.model import CavityUNet  # noqa: E402
from epilepsy_suite.errors import InputError  # noqa: E402

from EpilepsySuiteMRML.segmentations import segment_ids_by_label  # noqa: E402
from EpilepsySuiteMRML.tables import records_from_table_node  # noqa: E402
from EpilepsySuiteMRML.volumes import sitk_from_volume_node, volume_node_from_sitk  # noqa: E402


@pytest.fixture
def everything_is_cavity(tmp_path):
    """A checkpoint whose output is 'cavity' everywhere: zero head weights, cavity bias +10."""
    model = CavityUNet(first_channels=4)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.copy_(torch.tensor([0.0, 10.0]))
    return save_checkpoint(tmp_path / "cavity.pt", model, landmarks=None)


@pytest.fixture
def postoperative(mrml_scene):
    rng = np.random.default_rng(0)
    # Sizes are multiples of 8: the prediction crops every axis to one (resseg's rule).
    image = sitk.GetImageFromArray(rng.normal(100, 10, (16, 24, 32)).astype(np.float32))
    image.SetSpacing((2.0, 2.0, 2.0))
    image.SetOrigin((-30.0, -20.0, 10.0))
    return volume_node_from_sitk(mrml_scene, image, "postop T1"), image


def test_predict_creates_segmentation_uncertainty_and_tables(mrml_scene, everything_is_cavity, postoperative):
    node, image = postoperative
    labels = np.zeros((16, 24, 32), np.int16)
    labels[:, :, :10] = 100  # 16 * 24 * 10 voxels of 8 uL
    labels[:, :, 10:14] = 101
    parcellation = sitk.GetImageFromArray(labels)
    parcellation.CopyInformation(image)
    parcellation_node = volume_node_from_sitk(mrml_scene, parcellation, "preop parcellation", labelmap=True)
    logic = CavitySegmentationLogic(mrml_scene)
    result = logic.predict(node, str(everything_is_cavity), parcellation_node, "cpu", tta_iterations=2)

    assert result.segmentation_node is not None
    assert list(segment_ids_by_label(result.segmentation_node)) == [1]
    assert result.segmentation_node.GetSegmentation().ContainsRepresentation("Closed surface")
    uncertainty = sitk_from_volume_node(result.uncertainty_node)
    assert uncertainty.GetSize() == image.GetSize()
    np.testing.assert_allclose(uncertainty.GetOrigin(), image.GetOrigin(), atol=1e-4)
    rows = {row["item"]: row["value"] for row in records_from_table_node(result.table_node)}
    expected_ml = 16 * 24 * 32 * 8 / 1000
    assert rows["cavity volume"] == pytest.approx(expected_ml)
    assert rows["image uncertainty (CQV)"] == pytest.approx(0.0)
    structures = records_from_table_node(result.structures_node)
    assert [row["label"] for row in structures] == [100, 101]
    assert structures[0]["resected_ml"] == pytest.approx(16 * 24 * 10 * 8 / 1000)
    assert structures[1]["resected_percent"] == pytest.approx(100.0)


def test_bad_inputs_are_clear_errors(mrml_scene, everything_is_cavity, postoperative, tmp_path):
    node, image = postoperative
    logic = CavitySegmentationLogic(mrml_scene)
    with pytest.raises(InputError, match="does not exist"):
        logic.predict(node, str(tmp_path / "missing.pt"), device="cpu")
    with pytest.raises(InputError, match="choose a model file"):
        logic.predict(node, "", device="cpu")
    other = sitk.Image(10, 10, 10, sitk.sitkInt16)
    other_node = volume_node_from_sitk(mrml_scene, other, "other grid", labelmap=True)
    with pytest.raises(InputError, match="other grid"):
        logic.predict(node, str(everything_is_cavity), other_node, device="cpu")
    assert logic.cpu_warning(node, "cpu", 50) is not None
    assert logic.cpu_warning(node, "cpu", 0) is None


def test_published_resseg_network_in_the_logic(mrml_scene, resseg_weights):
    """resseg's file, as downloaded, segments a simulated cavity in the Logic (a box of the template)."""
    import torchio as tio
    from epilepsy_suite.cavity.simulation import RandomResection
    from epilepsy_suite.data import mni_template, neuromorphometrics_parcellation
    from epilepsy_suite.geometry import sitk_to_torchio, torchio_to_sitk

    template, parcellation = mni_template(), neuromorphometrics_parcellation(on_template_grid=True)
    subject = tio.Subject(image=sitk_to_torchio(template), parcellation=sitk_to_torchio(parcellation, label=True))
    resected = RandomResection(volumes=(20000, 30000), seed=3)(subject)
    image, label = torchio_to_sitk(resected["image"]), torchio_to_sitk(resected["label"])
    centre = np.argwhere(sitk.GetArrayFromImage(label) > 0).mean(axis=0)[::-1].astype(int)
    start = [int(np.clip(c - 40, 0, s - 80)) for c, s in zip(centre, image.GetSize(), strict=True)]
    image, label = (sitk.RegionOfInterest(item, (80, 80, 80), start) for item in (image, label))
    node = volume_node_from_sitk(mrml_scene, image, "postop T1")
    result = CavitySegmentationLogic(mrml_scene).predict(node, str(resseg_weights), device="cpu")

    assert result.segmentation_node is not None
    assert list(segment_ids_by_label(result.segmentation_node)) == [1]
    truth = sitk.GetArrayFromImage(label) > 0
    mask = sitk.GetArrayFromImage(result.prediction.mask) > 0
    assert 2 * (mask & truth).sum() / (mask.sum() + truth.sum()) > 0.6
    rows = {row["item"]: (row["value"], row["unit"]) for row in records_from_table_node(result.table_node)}
    assert rows["cavity volume"] == (pytest.approx(mask.sum() / 1000), "mL")
    assert rows["cavity volume"][0] > 5


def test_a_t1_given_as_parcellation_is_refused_before_the_job(mrml_scene, everything_is_cavity, postoperative):
    node, image = postoperative
    other = volume_node_from_sitk(mrml_scene, image, "t1_as_parcellation.nii.gz")
    logic = CavitySegmentationLogic(mrml_scene)
    with pytest.raises(InputError, match="t1_as_parcellation.nii.gz"):
        logic.job(node, str(everything_is_cavity), other)
