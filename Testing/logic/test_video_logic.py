"""SeizureVideo Logic on a real MRML scene (slicer-core) and real mp4 files (scikit-video)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("slicer")
skvideo = pytest.importorskip("skvideo")

import vtk  # noqa: E402
from epilepsy_suite.errors import CancelledError, InputError  # noqa: E402
from epilepsy_suite.progress import CancelToken  # noqa: E402
from epilepsy_suite.video.dataset import feature_metadata  # noqa: E402
from epilepsy_suite.video.decoding import read_frames  # noqa: E402
from epilepsy_suite.video.extractors import load_extractor  # noqa: E402
from epilepsy_suite.video.models import GesturesModel, save_gestures_model  # noqa: E402
from epilepsy_suite.video.preprocessing import DEFAULT_SETTINGS  # noqa: E402
from epilepsy_suite.video.synthetic import render_seizure_video  # noqa: E402
from SeizureVideoLib.logic import SeizureVideoLogic  # noqa: E402
from vtk.util import numpy_support  # noqa: E402

from EpilepsySuiteMRML.scene import create_scene  # noqa: E402
from EpilepsySuiteMRML.scene_io import load_scene_bundle, save_scene_bundle  # noqa: E402
from EpilepsySuiteMRML.tables import records_from_table_node  # noqa: E402

VIDEOS = Path(skvideo.__file__).parent / "datasets" / "data"
CARPHONE = VIDEOS / "carphone_pristine.mp4"  # 120 frames, 29.97 fps, 176x144, 4.0 s


def _pixels(volume_node) -> np.ndarray:
    image = volume_node.GetImageData()
    width, height, depth = image.GetDimensions()
    components = image.GetNumberOfScalarComponents()
    array = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars())
    return array.reshape(depth, height, width, components)


def _column(table_node, name: str) -> np.ndarray:
    return numpy_support.vtk_to_numpy(table_node.GetTable().GetColumnByName(name))


@pytest.fixture(scope="module")
def small_extractor():
    # Random weights and 32-pixel snippets: the features mean nothing, but the pipeline is the real one.
    return load_extractor("r2plus1d_18", None, "cpu", side=32)


def _constant_model(path: Path, snippet_logit: float, seizure_logit: float, **extra: object) -> Path:
    """A GESTURES checkpoint whose snippet and seizure outputs are the given logits everywhere."""
    model = GesturesModel()
    with torch.no_grad():
        model.snippet.fc.weight.zero_()
        model.snippet.fc.bias.fill_(snippet_logit)
        model.seizure.fc.weight.zero_()
        model.seizure.fc.bias.fill_(seizure_logit)
    return save_gestures_model(path, model, **extra)


def test_loading_an_mp4_creates_a_sequence_a_browser_and_a_colour_proxy(mrml_scene) -> None:
    logic = SeizureVideoLogic(mrml_scene)
    fractions: list[float] = []
    video = logic.load_video(CARPHONE, progress=lambda fraction, message: fractions.append(fraction))

    sequence = video.sequence_node
    assert sequence.GetNumberOfDataNodes() == 120
    assert video.frame_count == 120
    assert (sequence.GetIndexName(), sequence.GetIndexUnit()) == ("time", "s")
    assert sequence.GetIndexType() == sequence.NumericIndex
    assert float(sequence.GetNthIndexValue(0)) == pytest.approx(0.0, abs=1e-3)
    assert float(sequence.GetNthIndexValue(119)) == pytest.approx(119 / 29.97, abs=2e-3)
    assert video.frame_rate == pytest.approx(29.97, abs=0.01)
    assert fractions and fractions[-1] == 1.0 and fractions == sorted(fractions)

    browser = video.browser_node
    assert browser.GetMasterSequenceNode() is sequence
    assert browser.GetPlaybackRateFps() == pytest.approx(29.97, abs=0.01)
    proxy = video.proxy_node
    assert proxy.IsA("vtkMRMLVectorVolumeNode") and proxy.GetName() == "carphone_pristine"
    assert proxy.GetDisplayNode() is not None
    assert mrml_scene.GetNodesByClass("vtkMRMLSequenceBrowserNode").GetNumberOfItems() == 1
    assert logic.video_path(browser) == CARPHONE.resolve()

    decoded = {frame.index: frame.pixels for frame in read_frames(CARPHONE) if frame.index in (0, 57)}
    assert _pixels(proxy).shape == (1, 144, 176, 3) and _pixels(proxy).dtype == np.uint8
    np.testing.assert_array_equal(_pixels(proxy)[0], decoded[0])
    browser.SetSelectedItemNumber(57)
    np.testing.assert_array_equal(_pixels(proxy)[0], decoded[57])
    assert logic.current_time(browser) == pytest.approx(57 / 29.97, abs=2e-3)
    # Upright in an axial view: columns towards the viewer's right (RAS -x), rows downwards (RAS -y).
    matrix = vtk.vtkMatrix4x4()
    proxy.GetIJKToRASMatrix(matrix)
    assert [matrix.GetElement(axis, axis) for axis in range(3)] == [-1.0, -1.0, 1.0]


def test_long_recordings_are_sampled_and_scaled(mrml_scene) -> None:
    logic = SeizureVideoLogic(mrml_scene)
    bikes = logic.load_video(VIDEOS / "bikes.mp4", fps=5)  # 10 s at 25 fps
    assert bikes.frame_count == 50
    assert bikes.browser_node.GetPlaybackRateFps() == pytest.approx(5.0)
    times = [float(bikes.sequence_node.GetNthIndexValue(item)) for item in range(3)]
    assert times == pytest.approx([0.0, 0.2, 0.4])
    assert _pixels(bikes.proxy_node).shape == (1, 272, 640, 3)

    bunny = logic.load_video(VIDEOS / "bigbuckbunny.mp4", name="bunny", max_frames=20, max_width=320)
    assert bunny.frame_count == 20
    assert _pixels(bunny.proxy_node).shape == (1, 180, 320, 3)
    assert bunny.frame_rate == pytest.approx(20 / bunny.info.duration)
    assert bunny.proxy_node.GetName() == "bunny" and bunny.sequence_node.GetName() == "bunny frames"


def test_cancelled_loading_leaves_nothing_behind(mrml_scene) -> None:
    logic = SeizureVideoLogic(mrml_scene)
    token = CancelToken()

    def cancel_after_a_while(fraction: float, message: str) -> None:
        if fraction > 0.2:
            token.cancel()

    with pytest.raises(CancelledError):
        logic.load_video(CARPHONE, progress=cancel_after_a_while, cancel=token)
    assert mrml_scene.GetNodesByClass("vtkMRMLSequenceNode").GetNumberOfItems() == 0
    assert mrml_scene.GetNodesByClass("vtkMRMLSequenceBrowserNode").GetNumberOfItems() == 0


def test_bad_inputs_are_clear_errors(mrml_scene, tmp_path, small_extractor) -> None:
    logic = SeizureVideoLogic(mrml_scene)
    with pytest.raises(InputError, match="choose a video file"):
        logic.load_video("")
    with pytest.raises(InputError, match="does not exist"):
        logic.load_video(tmp_path / "missing.mp4")
    not_a_video = tmp_path / "notes.mp4"
    not_a_video.write_text("not a video")
    with pytest.raises(InputError, match="notes.mp4"):
        logic.load_video(not_a_video)
    with pytest.raises(InputError, match="frame rate"):
        logic.load_video(CARPHONE, fps=-1)
    with pytest.raises(InputError, match="choose a model file"):
        logic.predict(CARPHONE, "", small_extractor, device="cpu")
    with pytest.raises(InputError, match="load one first"):
        logic.predict(None, tmp_path / "model.pt", small_extractor, device="cpu")
    with pytest.raises(InputError, match="does not exist"):
        logic.predict(CARPHONE, tmp_path / "missing.pt", small_extractor, device="cpu")
    with pytest.raises(InputError, match="unknown extractor"):
        logic.predict(CARPHONE, save_gestures_model(tmp_path / "plain.pt", GesturesModel()), "resnet50", device="cpu")
    model = save_gestures_model(tmp_path / "other.pt", GesturesModel(), metadata={"extractor": "r2plus1d_34_8"})
    with pytest.raises(InputError, match="trained on features of r2plus1d_34_8"):
        logic.predict(CARPHONE, model, small_extractor, device="cpu")
    assert mrml_scene.GetNodesByClass("vtkMRMLPlotChartNode").GetNumberOfItems() == 0
    assert logic.cpu_warning(CARPHONE, "cpu") is None
    long_recording = render_seizure_video(tmp_path / "long.mp4", 36.0, None, seed=0, fps=5, size=(64, 36))
    assert "minute" in logic.cpu_warning(long_recording, "cpu")
    assert (
        logic.cpu_warning(CARPHONE, "cpu", second_view=long_recording, layout=logic.montage_layout("top-left")) is None
    )
    assert logic.montage_layout("none") is None
    assert logic.montage_layout("top-right").left == pytest.approx(1 - 800 / 1920)


def test_prediction_creates_the_chart_its_series_and_tables(mrml_scene, tmp_path, small_extractor) -> None:
    logic = SeizureVideoLogic(mrml_scene)
    video = logic.load_video(CARPHONE)
    model = _constant_model(tmp_path / "tcs.pt", snippet_logit=3.0, seizure_logit=2.0)
    fractions: list[float] = []
    result = logic.predict(
        None, model, small_extractor, device="cpu", browser_node=video.browser_node,
        progress=lambda fraction, message: fractions.append(fraction), output_name="carphone",
    )  # fmt: skip

    prediction = result.prediction
    assert len(prediction.times) == 6  # 4 s at 15 fps = 60 frames; 16-frame snippets every 8 frames
    assert prediction.verdict == "TCS"
    assert prediction.seizure_probability == pytest.approx(1 / (1 + np.exp(-2.0)), abs=1e-5)
    assert prediction.generalisation_time == pytest.approx(prediction.times[0])
    assert "TCS" in result.summary and fractions and max(fractions) <= 1.0

    chart = result.chart_node
    assert chart.IsA("vtkMRMLPlotChartNode") and chart.GetName() == "carphone chart"
    assert chart.GetNumberOfPlotSeriesNodes() == 3
    series = [chart.GetNthPlotSeriesNode(index) for index in range(3)]
    assert series == [result.curve_series_node, result.threshold_series_node, result.marker_series_node]
    assert not chart.GetYAxisRangeAuto()
    assert list(chart.GetYAxisRange()) == [0.0, 1.0]
    assert result.curve_series_node.GetTableNode() is result.curve_table_node
    assert result.curve_series_node.GetXColumnName() == "time"
    assert result.curve_series_node.GetYColumnName() == "probability"
    np.testing.assert_allclose(_column(result.curve_table_node, "time"), prediction.times)
    np.testing.assert_allclose(_column(result.curve_table_node, "probability"), 1 / (1 + np.exp(-3.0)), rtol=1e-5)
    np.testing.assert_allclose(_column(result.threshold_series_node.GetTableNode(), "value"), [0.5, 0.5])
    assert result.marker_series_node.GetTableNode() is result.marker_table_node

    segments = records_from_table_node(result.segments_node)
    assert len(segments) == 16
    assert list(segments[0]) == ["segment", "start_s", "end_s", "snippet_s", "probability"]
    rows = {row["item"]: row["value"] for row in records_from_table_node(result.results_node)}
    assert rows["P(TCS), views averaged"] == pytest.approx(prediction.seizure_probability)
    assert rows["estimated generalisation time"] == pytest.approx(prediction.generalisation_time)
    assert rows["snippets"] == 6

    # The marker follows the browser's current frame, and stops when unlinked.
    assert list(_column(result.marker_table_node, "value")) == [0.0, 1.0]
    np.testing.assert_allclose(_column(result.marker_table_node, "time"), [0.0, 0.0], atol=1e-3)
    video.browser_node.SetSelectedItemNumber(90)
    np.testing.assert_allclose(_column(result.marker_table_node, "time"), [90 / 29.97] * 2, atol=2e-3)
    logic.unlink_time_marker(result)
    video.browser_node.SetSelectedItemNumber(10)
    np.testing.assert_allclose(_column(result.marker_table_node, "time"), [90 / 29.97] * 2, atol=2e-3)
    logic.update_time_marker(result, 1.5)
    np.testing.assert_allclose(_column(result.marker_table_node, "time"), [1.5, 1.5])

    # The scene bundle keeps the recording and the chart .
    bundle = save_scene_bundle(mrml_scene, tmp_path / "video.mrb")
    reloaded = create_scene()
    load_scene_bundle(bundle, reloaded)
    sequence = reloaded.GetFirstNodeByName("carphone_pristine frames")
    assert sequence.GetNumberOfDataNodes() == 120
    assert sequence.GetNthDataNode(0).GetImageData().GetNumberOfScalarComponents() == 3
    assert reloaded.GetFirstNodeByName("carphone chart").GetNumberOfPlotSeriesNodes() == 3
    reloaded.Clear(True)


def test_two_views_and_a_focal_seizure(mrml_scene, tmp_path, small_extractor) -> None:
    logic = SeizureVideoLogic(mrml_scene)
    # The checkpoint records its extractor (R(2+1)D-18, 16 frames, 32 px): it wins over the name given.
    metadata = feature_metadata(small_extractor, DEFAULT_SETTINGS, 8)
    model = _constant_model(tmp_path / "fos.pt", snippet_logit=-3.0, seizure_logit=-2.0, metadata=metadata)
    assert logic.recorded_extractor(model) == ("r2plus1d_18", 32)
    other_video = logic.load_video(VIDEOS / "bikes.mp4", fps=2)
    result = logic.predict(
        CARPHONE, model, "r2plus1d_34_8", second_view=CARPHONE, device="cpu", browser_node=other_video.browser_node
    )
    prediction = result.prediction
    assert len(prediction.times) == 6  # 16-frame snippets; the 8-frame extractor would give 7
    assert prediction.verdict == "FOS" and prediction.generalisation_time is None
    assert "FOS" in result.summary
    assert result.browser_node is None  # the loaded video is another file: the marker does not follow it
    # Averaged curve, one dotted series per view, the threshold and the time marker.
    assert result.chart_node.GetNumberOfPlotSeriesNodes() == 5
    np.testing.assert_allclose(_column(result.curve_table_node, "view 2"), prediction.view_probabilities[1])
    rows = {row["item"]: row["value"] for row in records_from_table_node(result.results_node)}
    assert "estimated generalisation time" not in rows
    assert rows["P(TCS), view 2"] == pytest.approx(1 / (1 + np.exp(2.0)), abs=1e-5)


def test_quick_demo_step_adds_the_curve_to_the_summary_page(mrml_scene, tmp_path) -> None:
    from SeizureVideoLib import demo

    from EpilepsySuiteMRML.demo import DemoContext
    from EpilepsySuiteMRML.report import SummaryPage

    page = SummaryPage("demo")
    context = DemoContext(mrml_scene, tmp_path, "cpu", None, None, None, None, page, quick=True)
    demo.run(context)

    section = page.sections[-1]
    assert section.title == "Seizure Video"
    assert [image.name for image in section.images] == ["seizure_video_frames.png", "seizure_video_curve.png"]
    assert all(image.is_file() and image.stat().st_size > 5000 for image in section.images)
    assert "untrained" in section.text and "P(TCS)" in section.text
    assert section.records and len(section.records) == 16
    sequence = mrml_scene.GetFirstNodeByName("Seizure video demo frames")
    assert sequence.GetNumberOfDataNodes() == 180  # 12 s at 15 fps
    chart = mrml_scene.GetFirstNodeByName("Seizure video demo chart")
    assert chart.GetNumberOfPlotSeriesNodes() == 3
    marker = _column(mrml_scene.GetFirstNodeByName("Seizure video demo current time"), "time")
    np.testing.assert_allclose(marker, [9.0, 9.0], atol=0.07)  # the browser was left 2 s after generalisation
    assert "seizure_video_curve.png" in page.write(tmp_path / "index.html").read_text()


def test_panel_choices_match_the_logic() -> None:
    # The panel lists them itself so that it builds before torch and av are installed.
    import ast

    from SeizureVideoLib.logic import EXTRACTOR_NAMES, INSET_CORNERS

    tree = ast.parse((Path(__file__).resolve().parents[2] / "SeizureVideo" / "SeizureVideo.py").read_text())
    constants = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.List)
    }
    assert constants["EXTRACTOR_NAMES"] == list(EXTRACTOR_NAMES)
    assert constants["INSET_CORNERS"] == list(INSET_CORNERS)


def test_the_gestures_authors_lightning_checkpoint_runs_in_the_logic(mrml_scene, tmp_path) -> None:
    # Their classifier: BLSTM(512, 64) -> Linear(128, 2), saved by Lightning under `model.`.
    lstm, fc = torch.nn.LSTM(512, 64, batch_first=True, bidirectional=True), torch.nn.Linear(128, 2)
    state = {f"model.lstm.{key}": value for key, value in lstm.state_dict().items()}
    state.update({f"model.fc.{key}": value for key, value in fc.state_dict().items()})
    checkpoint = tmp_path / "epoch=12.ckpt"
    torch.save({"epoch": 12, "state_dict": state, "pytorch-lightning_version": "0.8.5"}, checkpoint)
    extractor = load_extractor("r2plus1d_34_8", None, "cpu", side=32)  # the extractor their features came from
    logic = SeizureVideoLogic(mrml_scene)
    result = logic.predict(CARPHONE, checkpoint, extractor, device="cpu", output_name="lightning")
    assert 0 <= result.prediction.seizure_probability <= 1
    assert np.isnan(_column(result.curve_table_node, "probability")).all()  # their file has no snippet classifier
    rows = {row["item"]: row["value"] for row in records_from_table_node(result.results_node)}
    assert rows["P(TCS), views averaged"] == pytest.approx(result.prediction.seizure_probability)
