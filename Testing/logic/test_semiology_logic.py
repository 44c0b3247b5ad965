"""SemiologyViz Logic on a real MRML scene (slicer-core) with the real database."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

pytest.importorskip("slicer")

from epilepsy_suite.data import gif_to_nmm  # noqa: E402
from epilepsy_suite.errors import InputError  # noqa: E402
from epilepsy_suite.semiology import SemiologyQuery, Side  # noqa: E402
from epilepsy_suite.semiology.maps import display_properties, scores_by_atlas_label  # noqa: E402
from SemiologyVizLib.logic import DisplaySettings, SemiologyVizLogic  # noqa: E402

from EpilepsySuiteMRML.colors import colormap_rgba  # noqa: E402
from EpilepsySuiteMRML.scene import slice_nodes  # noqa: E402
from EpilepsySuiteMRML.tables import records_from_table_node  # noqa: E402
from EpilepsySuiteMRML.volumes import volume_node_from_sitk  # noqa: E402


@pytest.fixture(scope="module")
def database_cache(tmp_path_factory):
    """One database cache for the module: the workbook is parsed once, as in a Slicer session."""
    return tmp_path_factory.mktemp("semiology-cache")


@pytest.fixture
def logic(mrml_scene, semio2brain_folder, database_cache):
    return SemiologyVizLogic(mrml_scene, semio2brain_folder, cache_dir=database_cache)


def slice_centre(scene) -> np.ndarray:
    node = slice_nodes(scene)[0]
    matrix = node.GetSliceToRAS()
    return np.array([matrix.GetElement(row, 3) for row in range(3)])


def test_query_colours_segments_as_the_score_dictates(logic, mrml_scene):
    parcellation = logic.set_parcellation(surfaces=False)  # display settings need no meshes
    assert not parcellation.segmentation_node.GetSegmentation().ContainsRepresentation("Closed surface")
    assert parcellation.atlas == "nmm"
    segments = parcellation.segment_ids
    # White matter (NMM 44/45) and ventricles (NMM 4/51/52) are stripped, cortex stays.
    assert not {44, 45, 4, 51, 52} & set(segments)
    assert len(segments) > 100

    result = logic.update(["Head Version:right"], dominant="left", display=DisplaySettings(min_opacity=0.25))
    node = parcellation.segmentation_node
    display = node.GetDisplayNode()
    inner = node.GetSegmentation()
    properties = display_properties(scores_by_atlas_label(result.scores, "nmm"), 256, 0.25)
    colours = colormap_rgba("viridis", 256)
    hidden = shown = 0
    for label, segment_id in segments.items():
        expected = properties[label]
        if expected.has_data:
            np.testing.assert_allclose(inner.GetSegment(segment_id).GetColor(), colours[expected.index][:3], atol=1e-6)
            assert display.GetSegmentOpacity2DFill(segment_id) == pytest.approx(expected.opacity_2d)
            assert display.GetSegmentVisibility2DFill(segment_id)
            shown += 1
        else:
            assert not display.GetSegmentVisibility2DFill(segment_id)
            assert display.GetSegmentOpacity2DFill(segment_id) == 0
            np.testing.assert_allclose(inner.GetSegment(segment_id).GetColor(), (0.75, 0.75, 0.75))
            hidden += 1
        assert display.GetSegmentOpacity3D(segment_id) == 1
    assert shown > 20 and hidden > 0

    # The colour table node, the table sorted by score, the views on the top structure.
    assert result.color_node.GetNumberOfColors() == 256
    assert result.color_node.IsA("vtkMRMLColorTableNode")
    rows = records_from_table_node(result.table_node)
    assert [row["score"] for row in rows] == sorted((row["score"] for row in rows), reverse=True)
    top = max((label for label in segments), key=lambda label: properties[label].score)
    assert result.top_label == top == rows[0]["label"]
    assert rows[0]["hemisphere"] == "left"
    np.testing.assert_allclose(slice_centre(mrml_scene), parcellation.centroids_ras[top], atol=1e-3)
    scores_display = result.scores_node.GetDisplayNode()
    assert scores_display.GetColorNodeID() == result.color_node.GetID()
    assert scores_display.GetWindowLevelMax() == pytest.approx(result.scores.scores.max(), rel=1e-6)


def test_display_settings_hemispheres_colour_blind_and_centering(logic, mrml_scene):
    logic.set_parcellation(surfaces=False)
    result = logic.update(
        [SemiologyQuery("Tonic", Side.RIGHT)],
        display=DisplaySettings(colour_blind=True, show_left=False),
    )
    parcellation = logic.parcellation
    display = parcellation.segmentation_node.GetDisplayNode()
    inner = parcellation.segmentation_node.GetSegmentation()
    assert result.color_node.GetName() == "Semiology cividis"
    for label, segment_id in parcellation.segment_ids.items():
        side = parcellation.hemispheres[label]
        assert display.GetSegmentOpacity3D(segment_id) == (0.0 if side == "left" else 1.0)
        if not display.GetSegmentVisibility2DFill(segment_id):
            assert inner.GetSegment(segment_id).GetColor() == (0.0, 0.0, 0.0)
    row = result.records[3]
    ras = logic.center_on_structure(int(row["label"]))
    np.testing.assert_allclose(slice_centre(mrml_scene), ras, atol=1e-3)
    # A second update reuses the table and score volume nodes.
    again = logic.update(["Epigastric"])
    assert again.table_node is result.table_node and again.scores_node is result.scores_node


def test_patient_gif_parcellation(logic, mrml_scene, semio2brain_folder):
    gif = sitk.ReadImage(str(semio2brain_folder / "MNI_152_gif.nii.gz"))[::3, ::3, ::3]
    node = volume_node_from_sitk(mrml_scene, gif, "patient GIF", labelmap=True)
    parcellation = logic.set_parcellation(node)
    assert parcellation.atlas == "gif"
    assert parcellation.segmentation_node.GetSegmentation().ContainsRepresentation("Closed surface")  # 3D meshes
    result = logic.update(["Head Version:right"], dominant="left")
    assert result.records[0]["label"] in parcellation.segment_ids
    assert result.records[0]["label"] == max((row for row in result.records), key=lambda row: row["score"])["label"]
    # GIF numbering on display equals NMM + 1 for the same structure.
    assert gif_to_nmm(int(result.records[0]["label"])) is not None


def test_errors_are_clear(logic):
    logic.set_parcellation(surfaces=False)
    with pytest.raises(InputError, match="not allowed"):
        logic.update(["Epigastric:left"])
    with pytest.raises(InputError, match="no data"):
        logic.update(["qqqzzz never reported"])
    with pytest.raises(InputError, match="not on display"):
        logic.center_on_structure(99999)


def test_missing_database_says_where_to_get_it(mrml_scene, tmp_path):
    logic = SemiologyVizLogic(mrml_scene, tmp_path / "nowhere", cache_dir=tmp_path)
    with pytest.raises(InputError, match="Semiology-Visualisation-Tool"):
        logic.set_parcellation(surfaces=False)
