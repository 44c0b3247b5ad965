"""Logic of the Seizure Video module: MRML nodes in, MRML nodes out, no Qt.

The caller gives the scene: ``slicer.mrmlScene`` in Slicer, a slicer-core scene headless.

A recording becomes a sequence of single-slice RGB vector volumes (index "time", in seconds)
with a sequence browser, so it plays in a slice view. A prediction becomes a table of the
probability curve shown in a plot chart, with the 0.5 threshold and a vertical line at the
browser's current time, a table of the model's segments and a results table.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import slicer
import vtk
from epilepsy_suite.device import resolve_device
from epilepsy_suite.errors import InputError
from epilepsy_suite.jobs import BackgroundJob
from epilepsy_suite.progress import CancelToken
from epilepsy_suite.video.decoding import VideoInfo, probe_video, read_frames
from epilepsy_suite.video.extractors import EXTRACTORS, FeatureExtractor, load_extractor
from epilepsy_suite.video.inference import SeizurePrediction, predict_recording, predict_seizure
from epilepsy_suite.video.models import load_gestures_model
from epilepsy_suite.video.preprocessing import MontageLayout, even_pixels, view_sources
from vtk.util import numpy_support

from EpilepsySuiteMRML.scene import sequences_logic
from EpilepsySuiteMRML.tables import table_node_from_records

LOG = logging.getLogger(__name__)
PATH_ATTRIBUTE = "SeizureVideo.Path"
SUMMARY_ATTRIBUTE = "SeizureVideo.Summary"
DEFAULT_MAX_FRAMES = 3000
DEFAULT_MAX_WIDTH = 640
EXTRACTOR_NAMES = tuple(EXTRACTORS)
INSET_CORNERS = ("none", "top-left", "top-right", "bottom-left", "bottom-right")
# The thesis' montage: an 800x450 inset in a 1920x1080 frame.
INSET_WIDTH, INSET_HEIGHT = 800 / 1920, 450 / 1080
SEGMENT_COLUMNS = ("segment", "start_s", "end_s", "snippet_s", "probability")
RESULT_COLUMNS = ("item", "value", "unit")
CURVE_COLOUR = (0.84, 0.15, 0.16)
VIEW_COLOURS = ((0.95, 0.6, 0.3), (0.55, 0.35, 0.75), (0.3, 0.6, 0.85))
# Snippets (15 fps, one every 8 frames, all views) above which a CPU run is announced as slow.
SLOW_CPU_SNIPPETS = 60


@dataclass
class VideoSequence:
    """A recording loaded into the scene; ``frame_rate`` is that of the sequence (frames/s)."""

    path: Path
    info: VideoInfo
    sequence_node: object
    browser_node: object
    proxy_node: object
    frame_rate: float

    @property
    def frame_count(self) -> int:
        return self.sequence_node.GetNumberOfDataNodes()


@dataclass
class SeizureVideoResult:
    prediction: SeizurePrediction
    chart_node: object
    curve_table_node: object
    curve_series_node: object
    threshold_series_node: object
    marker_table_node: object
    marker_series_node: object
    segments_node: object
    results_node: object
    browser_node: object | None = None

    @property
    def summary(self) -> str:
        return self.prediction.summary


def _frame_image(pixels: np.ndarray) -> vtk.vtkImageData:
    height, width, components = pixels.shape
    image = vtk.vtkImageData()
    image.SetDimensions(width, height, 1)
    scalars = numpy_support.numpy_to_vtk(np.ascontiguousarray(pixels).reshape(-1, components), deep=True)
    scalars.SetNumberOfComponents(components)
    image.GetPointData().SetScalars(scalars)
    return image


def _frame_geometry(node, width: int, height: int) -> None:
    # Columns run to the viewer's right (RAS -x) and rows downwards (RAS -y): the frame shows
    # upright in an axial slice view, centred on the origin, one pixel per millimetre.
    matrix = vtk.vtkMatrix4x4()
    matrix.SetElement(0, 0, -1.0)
    matrix.SetElement(1, 1, -1.0)
    matrix.SetElement(0, 3, (width - 1) / 2)
    matrix.SetElement(1, 3, (height - 1) / 2)
    node.SetIJKToRASMatrix(matrix)


def _set_two_points(table_node, xs: tuple[float, float], ys: tuple[float, float]) -> None:
    table = table_node.GetTable()
    for row in range(2):
        table.GetColumn(0).SetValue(row, xs[row])
        table.GetColumn(1).SetValue(row, ys[row])
    table.GetColumn(0).Modified()
    table.GetColumn(1).Modified()
    table.Modified()


class SeizureVideoLogic:
    def __init__(self, scene) -> None:
        self.scene = scene
        self._extractors: dict[tuple[str, str, str, int | None], FeatureExtractor] = {}
        self._links: dict[str, tuple[object, int]] = {}

    # Loading ------------------------------------------------------------------------------

    def load_video(
        self,
        path: str | os.PathLike[str],
        name: str | None = None,
        fps: float | None = None,
        max_frames: int = DEFAULT_MAX_FRAMES,
        max_width: int | None = DEFAULT_MAX_WIDTH,
        progress: Callable[[float, str], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> VideoSequence:
        """Load a video file as a sequence of RGB frames with a browser that plays it.

        Args:
            fps: frame rate of the sequence; ``None`` or 0 keeps every frame of the file.
            max_frames: upper bound on the frames kept: a longer recording is sampled at a
                lower frame rate so that the whole of it fits.
            max_width: frames wider than this are scaled down (aspect ratio kept).

        Creates ``<name> frames`` (sequence), ``<name> browser`` and the proxy volume ``<name>``.
        """
        if not path:
            raise InputError("video", "choose a video file")
        path = Path(path)
        if fps is not None and fps < 0:
            raise InputError(path, f"the frame rate must be positive (or 0 for the video's own), not {fps}")
        if max_frames < 1:
            raise InputError(path, f"the maximum number of frames must be at least 1, not {max_frames}")
        info = probe_video(path)
        rate = min(fps or info.frame_rate, info.frame_rate)
        if info.duration > 0 and info.duration * rate > max_frames:
            rate = max_frames / info.duration
        sampled = rate < info.frame_rate - 1e-6
        size = None
        width, height = info.width, info.height
        if max_width is not None and width > max_width:
            width, height = even_pixels(max_width), even_pixels(info.height * max_width / info.width)
            size = (width, height)
        name = name or path.stem
        expected = max(1, min(max_frames, round(info.duration * rate) or info.frame_count))
        sequence = self.scene.AddNewNodeByClass("vtkMRMLSequenceNode", f"{name} frames")
        sequence.SetIndexName("time")
        sequence.SetIndexUnit("s")
        sequence.SetIndexType(sequence.NumericIndex)
        sequence.SetAttribute(PATH_ATTRIBUTE, str(path.resolve()))
        frame_node = slicer.vtkMRMLVectorVolumeNode()
        _frame_geometry(frame_node, width, height)
        count, last_value = 0, None
        try:
            for frame in read_frames(path, fps=rate if sampled else None, size=size):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                value = f"{frame.time:.3f}"
                if value == last_value:  # two frames stamped with the same time: keep the first
                    continue
                frame_node.SetAndObserveImageData(_frame_image(frame.pixels))
                sequence.SetDataNodeAtValue(frame_node, value)
                last_value, count = value, count + 1
                if progress is not None and count % 10 == 0:
                    progress(min(count / expected, 1.0), f"{path.name}: {count} frames")
                if count >= max_frames:
                    break
        except BaseException:
            self.scene.RemoveNode(sequence)
            raise
        logic = sequences_logic(self.scene)
        browser = self.scene.AddNewNodeByClass("vtkMRMLSequenceBrowserNode", f"{name} browser")
        browser.SetAndObserveMasterSequenceNodeID(sequence.GetID())
        browser.SetPlaybackRateFps(rate)
        browser.SetPlaybackItemSkippingEnabled(True)
        browser.SetPlaybackLooped(True)
        browser.SetIndexDisplayFormat("%.2f")
        logic.UpdateProxyNodesFromSequences(browser)
        proxy = browser.GetProxyNode(sequence)
        browser.SetSaveChanges(sequence, False)
        browser.SetOverwriteProxyName(sequence, False)
        proxy.SetName(name)
        proxy.SetAttribute(PATH_ATTRIBUTE, str(path.resolve()))
        if proxy.GetDisplayNode() is None:
            proxy.CreateDefaultDisplayNodes()
        if progress is not None:
            progress(1.0, f"{path.name}: {count} frames loaded")
        LOG.info("%s: %d frames at %.2f fps (%dx%d)", path, count, rate, width, height)
        return VideoSequence(path, info, sequence, browser, proxy, rate)

    @staticmethod
    def video_path(node) -> Path | None:
        """The file a loaded recording came from (its sequence, browser or proxy node)."""
        if node is None:
            return None
        if node.IsA("vtkMRMLSequenceBrowserNode"):
            node = node.GetMasterSequenceNode()
        value = node.GetAttribute(PATH_ATTRIBUTE) if node is not None else None
        return Path(value) if value else None

    # Prediction ---------------------------------------------------------------------------

    def extractor(
        self, name: str, weights: str | os.PathLike[str] | None = None, device: str = "auto", side: int | None = None
    ) -> FeatureExtractor:
        """The feature extractor ``name`` with ``weights`` (None: random, for tests), kept loaded."""
        torch_device = resolve_device(device)
        key = (name, str(weights or ""), str(torch_device), side)
        if key not in self._extractors:
            self._extractors[key] = load_extractor(name, weights or None, torch_device, side=side)
        return self._extractors[key]

    @staticmethod
    def recorded_extractor(model_path: str | os.PathLike[str]) -> tuple[str | None, int | None]:
        """Name and input side of the extractor a checkpoint of ``video train`` was trained on."""
        _, payload = load_gestures_model(model_path, "cpu")
        metadata = payload.get("metadata", {})
        return metadata.get("extractor"), metadata.get("side")

    @staticmethod
    def montage_layout(corner: str) -> MontageLayout | None:
        """The inset of a montage in ``corner`` (thesis proportions), None for ``"none"``."""
        if not corner or corner == "none":
            return None
        return MontageLayout.corner(corner, INSET_WIDTH, INSET_HEIGHT)

    def cpu_warning(
        self,
        video_path: str | os.PathLike[str] | None,
        device: str,
        second_view: str | os.PathLike[str] | None = None,
        layout: MontageLayout | None = None,
        browser_node=None,
    ) -> str | None:
        """A sentence for the user when the run will be slow on this machine (None when it will not)."""
        video_path = video_path or self.video_path(browser_node)
        if not video_path or str(resolve_device(device)) != "cpu":
            return None
        try:
            info = probe_video(video_path)
        except InputError:
            return None  # the run itself reports the bad file
        views = len(view_sources(video_path, second_view, layout))
        snippets = views * info.duration * 15 / 8
        if snippets < SLOW_CPU_SNIPPETS:
            return None
        return (
            f"Running on the CPU: about {snippets:.0f} snippets of {info.duration:.0f} s of video at roughly "
            f"a second each may take {snippets / 60:.0f} minute(s) or more. A CUDA GPU is much faster."
        )

    def predict(
        self,
        video_path: str | os.PathLike[str] | None,
        model_path: str | os.PathLike[str],
        extractor: str | FeatureExtractor = "r2plus1d_34_8",
        extractor_weights: str | os.PathLike[str] | None = None,
        second_view: str | os.PathLike[str] | None = None,
        layout: MontageLayout | None = None,
        device: str = "auto",
        browser_node=None,
        cache_folder: str | os.PathLike[str] | None = None,
        progress: Callable[[float, str], None] | None = None,
        cancel: CancelToken | None = None,
        output_name: str | None = None,
    ) -> SeizureVideoResult:
        """Classify the seizure in the recording and add the review nodes to the scene.

        Args:
            video_path: the recording; empty to use the file ``browser_node`` was loaded from.
            extractor: a loaded extractor, or the name (:data:`EXTRACTOR_NAMES`) of the one to load
                with ``extractor_weights`` when the checkpoint does not record its own (it wins).
            layout: the montage's inset, predicted as a second view and averaged.
            browser_node: the loaded recording's browser: the chart's time marker follows it
                (when it was loaded from ``video_path``).

        Creates ``<name> curve`` (time, probability), ``<name> chart`` with its series,
        ``<name> current time``, ``<name> segments`` and ``<name> results``.
        """
        video_path = self._recording(video_path, model_path, browser_node)
        if isinstance(extractor, str):
            recorded, side = self.recorded_extractor(model_path)
            if recorded and recorded != extractor:
                LOG.info("%s was trained on %s features: using %s, not %s", model_path, recorded, recorded, extractor)
            name = recorded or extractor
            if name not in EXTRACTOR_NAMES:
                raise InputError(
                    "feature extractor", f"unknown extractor {name!r}; choose one of {', '.join(EXTRACTOR_NAMES)}"
                )
            extractor = self.extractor(name, extractor_weights, device, side)
        if extractor.weights_id.startswith("random"):
            LOG.warning("%s: randomly initialised extractor: the features only serve tests", extractor.name)
        prediction = predict_seizure(
            video_path, Path(model_path), extractor, Path(second_view) if second_view else None, layout,
            resolve_device(device), cache_folder, progress=progress, cancel=cancel, show_bar=False,
        )  # fmt: skip
        return self.show(prediction, video_path, output_name, browser_node)

    def show(
        self,
        prediction: SeizurePrediction,
        video_path: str | os.PathLike[str],
        output_name: str | None = None,
        browser_node=None,
    ) -> SeizureVideoResult:
        """Add the review nodes of a :func:`~epilepsy_suite.video.inference.predict_recording` result to the scene
        (see :meth:`predict`)."""
        video_path = Path(video_path)
        name = output_name or video_path.stem
        result = self._add_prediction_nodes(prediction, name)
        loaded = self.video_path(browser_node)
        if loaded is not None and loaded != video_path.resolve():
            LOG.warning("%s: the chart's time marker does not follow %s, loaded from %s",
                        video_path, browser_node.GetName(), loaded)  # fmt: skip
        elif browser_node is not None:
            self.link_time_marker(result, browser_node)
        LOG.info("%s: %s", video_path, prediction.summary)
        return result

    def _recording(self, video_path, model_path, browser_node) -> Path:
        """The recording to classify (given, or the one ``browser_node`` plays); both must be chosen."""
        if not video_path:
            video_path = self.video_path(browser_node)
        if not video_path:
            raise InputError("video", "choose a video file (or load one first)")
        if not model_path:
            raise InputError("GESTURES model", "choose a model file (trained with `video train`)")
        return Path(video_path)

    def job(
        self,
        video_path: str | os.PathLike[str] | None,
        model_path: str | os.PathLike[str],
        extractor: str = "r2plus1d_34_8",
        extractor_weights: str | os.PathLike[str] | None = None,
        second_view: str | os.PathLike[str] | None = None,
        layout: MontageLayout | None = None,
        device: str = "auto",
        browser_node=None,
        cache_folder: str | os.PathLike[str] | None = None,
    ) -> tuple[BackgroundJob, Path]:
        """The work of :meth:`predict` as a background job (not started), and the recording its
        result belongs to (for :meth:`show`). The inputs are checked here, before any process starts (the
        network in the model file, when the job loads it)."""
        video_path = self._recording(video_path, model_path, browser_node)
        probe_video(video_path)
        if not Path(model_path).is_file():
            raise InputError(model_path, "the GESTURES model file does not exist")
        job = BackgroundJob(
            predict_recording, str(video_path), str(model_path), name="Seizure classification", extractor=extractor,
            extractor_weights=str(extractor_weights) if extractor_weights else None,
            second_view=str(second_view) if second_view else None, layout=layout, device=str(device),
            cache_folder=str(cache_folder) if cache_folder else None,
        )  # fmt: skip
        return job, Path(video_path)

    def _add_prediction_nodes(self, prediction: SeizurePrediction, name: str) -> SeizureVideoResult:
        times = np.asarray(prediction.times, dtype=float)
        records: list[dict[str, object]] = [
            {"time": float(t), "probability": float(p)} for t, p in zip(times, prediction.probability, strict=True)
        ]
        several = len(prediction.view_probabilities) > 1
        if several:
            for view, curve in enumerate(prediction.view_probabilities, start=1):
                for row, value in zip(records, curve[: len(records)], strict=False):
                    row[f"view {view}"] = float(value)
        curve_table = table_node_from_records(self.scene, f"{name} curve", records)
        chart = self.scene.AddNewNodeByClass("vtkMRMLPlotChartNode", f"{name} chart")
        chart.SetTitle(prediction.summary)
        chart.SetXAxisTitle("time (s)")
        chart.SetYAxisTitle("P(generalising)")
        chart.SetYAxisRangeAuto(False)
        chart.SetYAxisRange(0.0, 1.0)
        chart.SetLegendVisibility(True)
        chart.SetAttribute(SUMMARY_ATTRIBUTE, prediction.summary)
        curve_series = self._series(f"{name} P(generalising)", curve_table, "time", "probability", CURVE_COLOUR, 2.0)
        chart.AddAndObservePlotSeriesNodeID(curve_series.GetID())
        if several:
            for view in range(1, len(prediction.view_probabilities) + 1):
                colour = VIEW_COLOURS[(view - 1) % len(VIEW_COLOURS)]
                label = prediction.views[view - 1] if view - 1 < len(prediction.views) else f"view {view}"
                series = self._series(f"{name} {label}", curve_table, "time", f"view {view}", colour, 1.0)
                series.SetLineStyle(series.LineStyleDot)
                chart.AddAndObservePlotSeriesNodeID(series.GetID())
        start = min(0.0, float(times[0])) if len(times) else 0.0
        end = float(times[-1]) if len(times) else 1.0
        threshold_table = table_node_from_records(
            self.scene, f"{name} threshold",
            [{"time": start, "value": prediction.threshold}, {"time": end, "value": prediction.threshold}],
        )  # fmt: skip
        threshold_series = self._series(f"{name} threshold", threshold_table, "time", "value", (0.5, 0.5, 0.5), 1.0)
        threshold_series.SetLineStyle(threshold_series.LineStyleDash)
        chart.AddAndObservePlotSeriesNodeID(threshold_series.GetID())
        marker_table = table_node_from_records(
            self.scene, f"{name} current time", [{"time": start, "value": 0.0}, {"time": start, "value": 1.0}]
        )
        marker_series = self._series(f"{name} current time", marker_table, "time", "value", (0.0, 0.0, 0.0), 2.0)
        chart.AddAndObservePlotSeriesNodeID(marker_series.GetID())
        segments = table_node_from_records(self.scene, f"{name} segments", prediction.segments, SEGMENT_COLUMNS)
        rows: list[dict[str, object]] = [
            {"item": "P(TCS), views averaged", "value": prediction.seizure_probability, "unit": ""},
            {"item": "threshold", "value": prediction.threshold, "unit": ""},
        ]
        if prediction.generalisation_time is not None:
            rows.append({"item": "estimated generalisation time", "value": prediction.generalisation_time, "unit": "s"})
        for view, probability in enumerate(prediction.view_seizure_probabilities, start=1):
            rows.append({"item": f"P(TCS), view {view}", "value": float(probability), "unit": ""})
        rows.append({"item": "snippets", "value": float(len(times)), "unit": ""})
        results = table_node_from_records(self.scene, f"{name} results", rows, RESULT_COLUMNS)
        results.SetAttribute(SUMMARY_ATTRIBUTE, prediction.summary)
        return SeizureVideoResult(
            prediction, chart, curve_table, curve_series, threshold_series, marker_table, marker_series,
            segments, results,
        )  # fmt: skip

    def _series(self, name: str, table_node, x: str, y: str, colour: tuple[float, float, float], width: float):
        series = self.scene.AddNewNodeByClass("vtkMRMLPlotSeriesNode", name)
        series.SetAndObserveTableNodeID(table_node.GetID())
        series.SetXColumnName(x)
        series.SetYColumnName(y)
        series.SetPlotType(series.PlotTypeScatter)
        series.SetMarkerStyle(series.MarkerStyleNone)
        series.SetLineStyle(series.LineStyleSolid)
        series.SetLineWidth(width)
        series.SetColor(*colour)
        return series

    # Time marker --------------------------------------------------------------------------

    @staticmethod
    def current_time(browser_node) -> float | None:
        """Index value (s) of the browser's current item; None for an empty browser."""
        sequence = browser_node.GetMasterSequenceNode() if browser_node is not None else None
        if sequence is None or sequence.GetNumberOfDataNodes() == 0:
            return None
        item = max(0, browser_node.GetSelectedItemNumber())
        try:
            return float(sequence.GetNthIndexValue(item))
        except ValueError:
            return None

    @staticmethod
    def update_time_marker(result: SeizureVideoResult, time: float) -> None:
        """Move the chart's vertical "current time" line to ``time`` seconds."""
        table = result.marker_table_node.GetTable()
        if table.GetColumn(0).GetValue(0) == time and table.GetColumn(0).GetValue(1) == time:
            return
        _set_two_points(result.marker_table_node, (time, time), (0.0, 1.0))

    def link_time_marker(self, result: SeizureVideoResult, browser_node) -> None:
        """Keep the chart's time marker on the browser's current frame (while both exist)."""
        self.unlink_time_marker(result)

        def follow(caller=None, event=None) -> None:
            time = self.current_time(browser_node)
            if time is not None:
                self.update_time_marker(result, time)

        tag = browser_node.AddObserver(vtk.vtkCommand.ModifiedEvent, follow)
        self._links[result.chart_node.GetID()] = (browser_node, tag)
        result.browser_node = browser_node
        follow()

    def unlink_time_marker(self, result: SeizureVideoResult) -> None:
        link = self._links.pop(result.chart_node.GetID(), None)
        if link is not None:
            browser_node, tag = link
            browser_node.RemoveObserver(tag)
        result.browser_node = None
