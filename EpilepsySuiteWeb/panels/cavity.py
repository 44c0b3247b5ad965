"""Cavity panel: postoperative T1 -> resection cavity, TTA uncertainty, resected structures.

The network runs in a background job (:meth:`CavitySegmentationLogic.job`); the
result is shown by :meth:`CavitySegmentationLogic.show`, exactly as in Slicer.
"""

from __future__ import annotations

import SimpleITK as sitk
from CavitySegmentationLib.logic import CavitySegmentationLogic
from epilepsy_suite.errors import InputError
from trame.widgets import html
from trame.widgets import vuetify3 as v3

from EpilepsySuiteMRML.tables import records_from_table_node

from .base import Panel, Table
from .fcd import DEVICES

RESULT_COLUMNS = [("item", "Result"), ("value", "Value"), ("unit", "Unit")]
STRUCTURE_COLUMNS = [("name", "Structure"), ("resected_ml", "Resected mL"), ("resected_percent", "% resected")]
OVERLAYS = ["probability", "uncertainty", "none"]


class CavityPanel(Panel):
    key = "cav"
    title = "Cavity"
    icon = "mdi-circle-slice-5"

    def __init__(self, app) -> None:
        super().__init__(app)
        self.logic = CavitySegmentationLogic(self.scene)
        self.result = None
        self.postop_node = None
        self.parcellation: sitk.Image | None = None
        self.state.update(
            {
                "cav_postop": "",
                "cav_parcellation": "",
                "cav_model": "",
                "cav_tta": 0,
                "cav_overlay": "probability",
                "cav_results": Table.of([], RESULT_COLUMNS),
                "cav_structures": Table.of([], STRUCTURE_COLUMNS),
            }
        )
        self.state.change("cav_overlay")(self._on_overlay)
        self.state.change("cav_postop")(self._on_postop)

    def activate(self) -> None:
        super().activate()
        self.views.show_background(self.postop_node, reset=False)
        self._on_overlay(self.state.cav_overlay)

    def _on_postop(self, cav_postop: str = "", **_) -> None:
        if cav_postop and self.app.active_panel == self.key:
            self.postop_node = self.guarded(self.load_volume, "postoperative T1", cav_postop, "postoperative T1")
            if self.postop_node is not None:
                self.views.show_background(self.postop_node)

    def run(self) -> None:
        state = self.state
        try:
            if self.jobs.busy:
                raise InputError("cavity", "another job is running: wait for it or cancel it")
            if not state.cav_postop:
                raise InputError("postoperative T1", "choose the postoperative T1 image")
            model_path = self.files.resolve(state.cav_model, "cavity model")
            self.postop_node = self.load_volume("postoperative T1", state.cav_postop, "postoperative T1")
            parcellation_node = None
            if state.cav_parcellation:
                parcellation_node = self.load_volume("parcellation", state.cav_parcellation, "parcellation")
                self._set_visible(parcellation_node, False)
            tta = self.whole_number(state.cav_tta, "TTA iterations", 0, 100)
            job, self.parcellation = self.logic.job(
                self.postop_node, str(model_path), parcellation_node, str(state.device), tta
            )
        except InputError as error:
            self.fail(error)
            return
        self.views.show_background(self.postop_node)
        self.clear_result()
        warning = self.logic.cpu_warning(self.postop_node, str(state.device), tta)
        self.status(warning or "Segmenting the cavity...")
        self.jobs.start(job, lambda prediction: self._show(prediction, tta), self.key)

    def clear_result(self) -> None:
        """Forget the last run's result (a new run starts: what is shown must be its answer or nothing)."""
        if self.result is not None:
            old = self.result
            self.remove_nodes(
                old.segmentation_node, old.probability_node, old.uncertainty_node, old.table_node, old.structures_node
            )
            self.views.show_foreground(None)
        self.result = None
        self.state.cav_results = Table.of([], RESULT_COLUMNS)
        self.state.cav_structures = Table.of([], STRUCTURE_COLUMNS)

    def _show(self, prediction, tta: int) -> None:
        self.result = self.logic.show(prediction, self.postop_node, self.parcellation, tta, "Cavity")
        result = self.result
        self.own(result.segmentation_node, result.probability_node, result.uncertainty_node, result.table_node,
                 result.structures_node)  # fmt: skip
        self.state.cav_results = Table.of(records_from_table_node(result.table_node), RESULT_COLUMNS)
        self.state.cav_structures = Table.of(result.structures, STRUCTURE_COLUMNS)
        if result.uncertainty_node is None and self.state.cav_overlay == "uncertainty":
            self.state.cav_overlay = "probability"
        self._on_overlay(self.state.cav_overlay)
        self.status(f"Cavity: {prediction.volume_ml:.1f} mL." if prediction.volume_ml > 0 else "No cavity found.")

    def _on_overlay(self, cav_overlay: str = "probability", **_) -> None:
        if self.result is None or self.app.active_panel != self.key:
            return
        node = {"probability": self.result.probability_node, "uncertainty": self.result.uncertainty_node}.get(
            cav_overlay
        )
        self.views.show_foreground(node, 0.5)

    def centre_on_structure(self, row: int) -> None:
        if self.result is not None and self.parcellation is not None:
            self.guarded(self.logic.center_on_structure, self.result, self.parcellation, int(row))

    def centre_on_cavity(self, row: int = 0) -> None:
        if self.result is not None:
            self.logic.center_on_cavity(self.result.prediction)

    # ---------------------------------------------------------------------------- UI

    def build_controls(self) -> None:
        self.app.file_select("cav_postop", "data_images", "Postoperative T1 (under --data, or uploaded)", "cav-postop")
        self.app.file_select("cav_parcellation", "data_images", "Preoperative parcellation (optional)", "cav-parc")
        self.app.file_select("cav_model", "data_models", "Cavity model file", "cav-model")
        with html.Div(classes="d-flex"):
            v3.VSelect(v_model=("device",), items=(DEVICES,), label="Device", density="compact", hide_details=True,
                       classes="mr-1")  # fmt: skip
            v3.VTextField(
                v_model_number=("cav_tta",), type="number", min=0, max=100, label="TTA iterations",
                density="compact", hide_details=True,
            )  # fmt: skip
        v3.VBtn(
            "Segment cavity", color="primary", block=True, classes="my-2", click=self.run, disabled=("job_active",),
            raw_attrs=['data-testid="cav-run"'],
        )  # fmt: skip
        with v3.VBtnToggle(
            v_model=("cav_overlay",), v_if="cav_results.rows.length", density="compact", mandatory=True,
            divided=True, variant="outlined", classes="my-1", raw_attrs=['data-testid="cav-overlay"'],
        ):  # fmt: skip
            for name in OVERLAYS:
                v3.VBtn(name, value=name, size="small")
        self.app.results_table("cav_results", self.centre_on_cavity, "cav-results")
        self.app.results_table("cav_structures", self.centre_on_structure, "cav-structures")
