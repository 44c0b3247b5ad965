"""FCD review panel: T1 + FLAIR -> MS-DSA-Net probability, candidate clusters, cluster table.

The network runs in a background job (:meth:`FCDSegmentationLogic.job`); the
result is shown by :meth:`FCDSegmentationLogic.show`, exactly as in Slicer.
"""

from __future__ import annotations

from epilepsy_suite.errors import InputError
from epilepsy_suite.fcd.presets import DEFAULT_PRESET
from FCDSegmentationLib.logic import FCDSegmentationLogic
from FCDSegmentationLib.presets import PRESET_NAMES, preset_choices
from trame.widgets import html
from trame.widgets import vuetify3 as v3

from .base import Panel, Table

CLUSTER_COLUMNS = [
    ("index", "#"),
    ("structure", "Structure"),
    ("volume_ml", "mL"),
    ("peak_probability", "Peak"),
    ("mean_probability", "Mean"),
    ("ras", "R, A, S (mm)"),
]
DEVICES = ["auto", "cpu", "cuda"]


class FCDPanel(Panel):
    key = "fcd"
    title = "FCD"
    icon = "mdi-magnify-scan"

    def __init__(self, app) -> None:
        super().__init__(app)
        self.logic = FCDSegmentationLogic(self.scene)
        self.result = None
        self.t1_node = None
        defaults = preset_choices(DEFAULT_PRESET)
        self.state.update(
            {
                "fcd_t1": "",
                "fcd_flair": "",
                "fcd_model": "",
                "fcd_presets": list(PRESET_NAMES),
                "fcd_preset": DEFAULT_PRESET,
                "fcd_threshold": defaults["threshold"],
                "fcd_postprocess": defaults["postprocess"],
                "fcd_min_cluster": 50,
                "fcd_window": [0.05, 1.0],
                "fcd_opacity": 0.6,
                "fcd_clusters": Table.of([], CLUSTER_COLUMNS),
            }
        )
        self.state.change("fcd_window", "fcd_opacity")(self._on_window)
        self.state.change("fcd_t1")(self._on_t1)
        self.state.change("fcd_preset")(self._on_preset)

    def activate(self) -> None:
        super().activate()
        self.views.show_background(self.t1_node, reset=False)
        self.views.show_foreground(self.result.probability_node if self.result else None, self.state.fcd_opacity)

    # ---------------------------------------------------------------------------- actions

    def _on_t1(self, fcd_t1: str = "", **_) -> None:
        if fcd_t1 and self.app.active_panel == self.key:
            self.t1_node = self.guarded(self.load_volume, "T1", fcd_t1, "T1")
            if self.t1_node is not None:
                self.views.show_background(self.t1_node)

    def _on_preset(self, fcd_preset: str = DEFAULT_PRESET, **_) -> None:
        choices = self.guarded(preset_choices, fcd_preset)
        if choices:
            self.state.fcd_threshold = choices["threshold"]
            self.state.fcd_postprocess = choices["postprocess"]

    def run(self) -> None:
        state = self.state
        try:
            if self.jobs.busy:
                raise InputError("FCD", "another job is running: wait for it or cancel it")
            if not state.fcd_t1:
                raise InputError("T1", "choose the T1 image")
            if not state.fcd_flair:
                raise InputError("FLAIR", "choose the FLAIR image: FCD segmentation needs both T1 and FLAIR")
            model_path = self.files.resolve(state.fcd_model, "MS-DSA-Net model")
            min_cluster = self.whole_number(state.fcd_min_cluster, "smallest cluster (voxels)", 1, 1_000_000)
            self.t1_node = self.load_volume("T1", state.fcd_t1, "T1")
            flair_node = self.load_volume("FLAIR", state.fcd_flair, "FLAIR")
            self._set_visible(flair_node, False)
            job = self.logic.job(
                self.t1_node,
                flair_node,
                str(model_path),
                device=str(state.device),
                threshold=float(state.fcd_threshold),
                postprocess=bool(state.fcd_postprocess),
                min_cluster_voxels=min_cluster,
                preprocessing=state.fcd_preset,
            )
        except InputError as error:
            self.fail(error)
            return
        self.views.show_background(self.t1_node)
        self.clear_result()
        self.status("Running MS-DSA-Net...")
        self.jobs.start(job, self._show, self.key)

    def clear_result(self) -> None:
        """Forget the last run's result (a new run starts: what is shown must be its answer or nothing)."""
        if self.result is not None:
            self.remove_nodes(self.result.probability_node, self.result.segmentation_node, self.result.table_node)
            self.views.show_foreground(None)
        self.result = None
        self.state.fcd_clusters = Table.of([], CLUSTER_COLUMNS)

    def _show(self, prediction) -> None:
        self.result = self.logic.show(prediction, self.t1_node, "FCD")
        self.own(self.result.probability_node, self.result.segmentation_node, self.result.table_node)
        self._on_window(self.state.fcd_window, self.state.fcd_opacity)
        self.views.show_foreground(self.result.probability_node, float(self.state.fcd_opacity))
        clusters = self.result.clusters
        rows = [
            {**record, "ras": ", ".join(f"{float(record[f'centroid_{axis}']):.0f}" for axis in "ras")}
            for record in clusters
        ]
        self.state.fcd_clusters = Table.of(rows, CLUSTER_COLUMNS)
        self.status(
            f"{len(clusters)} candidate cluster(s): click a row to centre the views on it."
            if clusters
            else "No candidate cluster above the threshold."
        )

    def _on_window(self, fcd_window=None, fcd_opacity=None, **_) -> None:
        if self.result is None:
            return
        low, high = (float(value) for value in (fcd_window or (0.05, 1.0)))
        display = self.result.probability_node.GetDisplayNode()
        display.SetWindowLevelMinMax(low, max(high, low + 1e-3))
        display.SetLowerThreshold(low)
        self.views.set_foreground_opacity(float(fcd_opacity if fcd_opacity is not None else 0.6))

    def centre_on_row(self, row: int) -> None:
        if self.result is not None:
            self.guarded(self.logic.center_on_cluster, self.result, int(row))

    # ---------------------------------------------------------------------------- UI

    def build_controls(self) -> None:
        self.app.file_select("fcd_t1", "data_images", "T1 (under --data, or uploaded)", "fcd-t1")
        self.app.file_select("fcd_flair", "data_images", "FLAIR", "fcd-flair")
        self.app.file_select("fcd_model", "data_models", "MS-DSA-Net model file", "fcd-model")
        with html.Div(classes="d-flex"):
            v3.VSelect(v_model=("device",), items=(DEVICES,), label="Device", density="compact", hide_details=True,
                       classes="mr-1")  # fmt: skip
            v3.VSelect(v_model=("fcd_preset",), items=("fcd_presets",), label="Preprocessing", density="compact",
                       hide_details=True)  # fmt: skip
        v3.VSlider(
            v_model=("fcd_threshold",), min=0.05, max=0.95, step=0.05, label="Threshold", thumb_label=True,
            density="compact", hide_details=True, classes="mt-2",
        )  # fmt: skip
        with html.Div(classes="d-flex align-center"):
            v3.VSwitch(v_model=("fcd_postprocess",), label="Post-processing", density="compact", hide_details=True)
            v3.VTextField(
                v_model_number=("fcd_min_cluster",), type="number", min=1, label="Smallest cluster (voxels)",
                density="compact", hide_details=True, disabled=("!fcd_postprocess",), classes="ml-2",
            )  # fmt: skip
        v3.VBtn(
            "Find FCD", color="primary", block=True, classes="my-2", click=self.run,
            disabled=("job_active",), raw_attrs=['data-testid="fcd-run"'],
        )  # fmt: skip
        with html.Div(v_if="fcd_clusters.rows.length || fcd_status.includes('cluster')"):
            v3.VRangeSlider(
                v_model=("fcd_window",), min=0, max=1, step=0.01, label="Probability window", thumb_label=True,
                density="compact", hide_details=True,
            )  # fmt: skip
            v3.VSlider(
                v_model=("fcd_opacity",), min=0, max=1, step=0.05, label="Overlay opacity", density="compact",
                hide_details=True,
            )  # fmt: skip
        self.app.results_table("fcd_clusters", self.centre_on_row, "fcd-clusters")
