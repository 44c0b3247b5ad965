"""Seizure video panel: a recording -> P(generalising) over time, the verdict, the segments.

The recording plays in the browser (a WebM copy made in a background job, see :mod:`..media`);
GESTURES runs in another background job (:meth:`SeizureVideoLogic.job`) and
its result goes through :meth:`SeizureVideoLogic.show`, which builds the chart, segment and
result tables in the scene. The curve under the player is drawn from those tables, and the
player's clock moves the Logic's time marker, as the sequence browser does in Slicer.
"""

from __future__ import annotations

import secrets
from html import escape
from pathlib import Path

from epilepsy_suite.errors import InputError
from epilepsy_suite.jobs import BackgroundJob
from epilepsy_suite.video.extractors import EXTRACTORS
from SeizureVideoLib.logic import SeizureVideoLogic
from trame.widgets import html
from trame.widgets import vuetify3 as v3

from EpilepsySuiteMRML.tables import records_from_table_node

from ..media import browser_copy
from .base import Panel, Table
from .fcd import DEVICES

SEGMENT_COLUMNS = [("segment", "#"), ("start_s", "Start (s)"), ("end_s", "End (s)"), ("probability", "P")]
RESULT_COLUMNS = [("item", "Result"), ("value", "Value"), ("unit", "Unit")]
CORNERS = ["none", "top-left", "top-right", "bottom-left", "bottom-right"]
CHART_WIDTH, CHART_HEIGHT = 1000, 200


def curve_svg(times: list[float], probability: list[float], threshold: float, segments: list[dict]) -> str:
    """The probability curve as SVG markup in a ``CHART_WIDTH`` x ``CHART_HEIGHT`` box (t0..t1 across)."""
    if not times:
        return ""
    t0, t1 = min(0.0, times[0]), max(times[-1], 1e-6)

    def x(t: float) -> float:
        return CHART_WIDTH * (t - t0) / (t1 - t0)

    def y(p: float) -> float:
        return CHART_HEIGHT * (1.0 - p)

    parts = [f'<rect x="0" y="0" width="{CHART_WIDTH}" height="{CHART_HEIGHT}" fill="#fafafa" stroke="#ccc"/>']
    for segment in segments:
        start, end = float(segment["start_s"]), float(segment["end_s"])
        parts.append(
            f'<rect x="{x(start):.1f}" y="0" width="{max(x(end) - x(start), 1):.1f}" height="{CHART_HEIGHT}" '
            'fill="#ef5350" fill-opacity="0.15"/>'
        )
    parts.append(
        f'<line x1="0" x2="{CHART_WIDTH}" y1="{y(threshold):.1f}" y2="{y(threshold):.1f}" stroke="#888" '
        'stroke-dasharray="8 6"/>'
    )
    points = " ".join(f"{x(t):.1f},{y(p):.1f}" for t, p in zip(times, probability, strict=True))
    parts.append(f'<polyline points="{points}" fill="none" stroke="#1e88e5" stroke-width="3"/>')
    parts.append(f'<text x="6" y="16" font-size="14" fill="#555">P(generalising) {escape("1.0")}</text>')
    parts.append(f'<text x="6" y="{CHART_HEIGHT - 6}" font-size="14" fill="#555">0 s</text>')
    parts.append(
        f'<text x="{CHART_WIDTH - 6}" y="{CHART_HEIGHT - 6}" font-size="14" fill="#555" text-anchor="end">'
        f"{t1:.1f} s</text>"
    )
    return "".join(parts)


class VideoPanel(Panel):
    key = "vid"
    title = "Video"
    icon = "mdi-video"

    def __init__(self, app) -> None:
        super().__init__(app)
        self.logic = SeizureVideoLogic(self.scene)
        self.result = None
        self.media = self.files.private_folder("media")
        self.route = f"media-{secrets.token_urlsafe(12)}"
        self.server.serve[self.route] = str(self.media)
        self.state.update(
            {
                "vid_video": "",
                "vid_second": "",
                "vid_corner": "none",
                "vid_model": "",
                "vid_extractor": "r2plus1d_34_8",
                "vid_extractor_weights": "",
                "vid_extractors": list(EXTRACTORS),
                "vid_src": "",
                "vid_time": 0.0,
                "vid_seek": 0.0,
                "vid_t0": 0.0,
                "vid_t1": 1.0,
                "vid_svg": "",
                "vid_verdict": "",
                "vid_segments": Table.of([], SEGMENT_COLUMNS),
                "vid_results": Table.of([], RESULT_COLUMNS),
            }
        )
        self.state.change("vid_video")(self._on_video_choice)
        self.state.change("vid_time")(self._on_time)

    # ---------------------------------------------------------------------------- actions

    def _on_video_choice(self, **_) -> None:
        self.state.vid_src = ""

    def open_recording(self) -> None:
        """Make the browser's copy of the chosen recording (a background job), then show the player."""
        vid_video = self.state.vid_video
        self.state.vid_src = ""
        try:
            if self.jobs.busy:
                raise InputError(vid_video or "video", "another job is running: wait for it or cancel it")
            source = self.files.resolve(vid_video, "recording")
        except InputError as error:
            self.fail(error)
            return
        name = f"{secrets.token_hex(4)}-{Path(source).name.split('.')[0]}.webm"
        target = self.media / name
        job = BackgroundJob(browser_copy, source, target, name="Preparing the recording for the browser")
        self.status("Preparing the recording for the browser...")

        def ready(info: dict) -> None:
            self.state.vid_src = f"/{self.route}/{name}"
            self.status(f"{vid_video}: {info['duration']:.1f} s at {info['frame_rate']:.1f} fps.")

        self.jobs.start(job, ready, self.key)

    def run(self) -> None:
        state = self.state
        try:
            if self.jobs.busy:
                raise InputError("video", "another job is running: wait for it or cancel it")
            video = self.files.resolve(state.vid_video, "recording")
            model = self.files.resolve(state.vid_model, "GESTURES model")
            second = self.files.resolve(state.vid_second, "second view") if state.vid_second else None
            weights = (
                self.files.resolve(state.vid_extractor_weights, "extractor weights")
                if state.vid_extractor_weights
                else None
            )
            layout = self.logic.montage_layout(state.vid_corner)
            if second is not None and layout is not None:
                raise InputError("second view", "choose a second recording or a montage corner, not both")
            job, video = self.logic.job(video, model, state.vid_extractor, weights, second, layout, str(state.device))
        except InputError as error:
            self.fail(error)
            return
        self.clear_result()
        warning = self.logic.cpu_warning(video, str(state.device), second, layout)
        self.status(warning or "Classifying the seizure...")
        self.jobs.start(job, lambda prediction: self._show(prediction, video), self.key)

    def clear_result(self) -> None:
        """Forget the last run's result (a new run starts: what is shown must be its answer or nothing)."""
        if self.result is not None:
            old = self.result
            self.remove_nodes(
                old.chart_node, old.curve_table_node, old.curve_series_node, old.threshold_series_node,
                old.marker_table_node, old.marker_series_node, old.segments_node, old.results_node,
            )  # fmt: skip
        self.result = None
        self.state.update({"vid_svg": "", "vid_verdict": "", "vid_segments": Table.of([], SEGMENT_COLUMNS),
                           "vid_results": Table.of([], RESULT_COLUMNS)})  # fmt: skip

    def _show(self, prediction, video: Path) -> None:
        self.result = self.logic.show(prediction, video, "Seizure")
        curve = records_from_table_node(self.result.curve_table_node)
        segments = records_from_table_node(self.result.segments_node)
        times = [float(row["time"]) for row in curve]
        values = [float(row["probability"]) for row in curve]
        self.state.vid_t0 = min(0.0, times[0]) if times else 0.0
        self.state.vid_t1 = max(times[-1], 1e-6) if times else 1.0
        self.state.vid_svg = curve_svg(times, values, prediction.threshold, segments)
        self.state.vid_segments = Table.of(segments, SEGMENT_COLUMNS)
        self.state.vid_results = Table.of(records_from_table_node(self.result.results_node), RESULT_COLUMNS)
        self.state.vid_verdict = self.result.summary
        self.status(self.result.summary)

    def _on_time(self, vid_time: float = 0.0, **_) -> None:
        if self.result is not None:
            self.logic.update_time_marker(self.result, float(vid_time or 0.0))

    # ---------------------------------------------------------------------------- UI

    def build_controls(self) -> None:
        self.app.file_select("vid_video", "data_videos", "Recording (under --data, or uploaded)", "vid-video")
        v3.VBtn(
            "Open recording", variant="tonal", block=True, classes="my-1", click=self.open_recording,
            disabled=("job_active || !vid_video",), raw_attrs=['data-testid="vid-open"'],
        )  # fmt: skip
        self.app.file_select("vid_second", "data_videos", "Second view (optional)", "vid-second")
        v3.VSelect(v_model=("vid_corner",), items=(CORNERS,), label="Montage: inset corner", density="compact",
                   hide_details=True, classes="my-1")  # fmt: skip
        self.app.file_select("vid_model", "data_models", "GESTURES model file", "vid-model")
        with html.Div(classes="d-flex"):
            v3.VSelect(v_model=("vid_extractor",), items=("vid_extractors",), label="Feature extractor",
                       density="compact", hide_details=True, classes="mr-1")  # fmt: skip
            v3.VSelect(v_model=("device",), items=(DEVICES,), label="Device", density="compact", hide_details=True)
        self.app.file_select("vid_extractor_weights", "data_models", "Extractor weights (optional)", "vid-weights")
        v3.VBtn(
            "Classify seizure", color="primary", block=True, classes="my-2", click=self.run,
            disabled=("job_active || !vid_video",), raw_attrs=['data-testid="vid-run"'],
        )  # fmt: skip
        html.Div("{{ vid_verdict }}", v_if="vid_verdict", classes="text-subtitle-2 my-1",
                 raw_attrs=['data-testid="vid-verdict"'])  # fmt: skip
        self.app.results_table("vid_results", None, "vid-results")
        # A segment row seeks the player, in the page (the player is the page's own).
        self.app.results_table(
            "vid_segments", "vid_seek = parseFloat(row.start_s) + 1e-6 * Math.random()", "vid-segments"
        )

    def build_content(self) -> None:
        with html.Div(classes="pa-2", raw_attrs=['data-testid="vid-content"']):
            html.Video(
                v_if="vid_src",
                src=("vid_src",),
                controls=True,
                style="height: 50vh; max-width: 100%; display: block; margin: auto; background: black",
                raw_attrs=[
                    'data-testid="vid-player"',
                    '@timeupdate="vid_time = $event.target.currentTime"',
                    ':currentTime.prop="vid_seek"',  # a segment row click seeks (Vue sets the DOM property)
                ],
            )
            with html.Div(
                v_if="vid_svg", style="position: relative; width: 100%; height: 220px;",
                raw_attrs=['data-testid="vid-chart"'],
            ):  # fmt: skip
                html.Svg(
                    v_html=("vid_svg",),
                    raw_attrs=[f'viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}"', 'preserveAspectRatio="none"'],
                    style="width: 100%; height: 100%",
                )
                html.Div(
                    raw_attrs=[
                        'data-testid="vid-marker"',
                        ":style=\"{position: 'absolute', top: 0, bottom: 0, width: '2px', background: 'black', "
                        "left: (100 * Math.min(Math.max((vid_time - vid_t0) / (vid_t1 - vid_t0), 0), 1)) + '%'}\"",
                    ]
                )
