"""Logic of the Cavity Segmentation module: MRML nodes in, MRML nodes out, no Qt.

The caller gives the scene: ``slicer.mrmlScene`` in Slicer, a slicer-core scene headless.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from epilepsy_suite.cavity.checkpoint import load_cavity_model
from epilepsy_suite.cavity.evaluation import resected_structures
from epilepsy_suite.cavity.inference import CavityPrediction, predict_image
from epilepsy_suite.data import LabelTable, as_neuromorphometrics, make_label
from epilepsy_suite.device import resolve_device
from epilepsy_suite.errors import InputError
from epilepsy_suite.io import check_same_grid
from epilepsy_suite.jobs import BackgroundJob
from epilepsy_suite.progress import CancelToken

from EpilepsySuiteMRML.colors import color_table_from_matplotlib
from EpilepsySuiteMRML.scene import center_slice_views
from EpilepsySuiteMRML.segmentations import segmentation_from_labelmap
from EpilepsySuiteMRML.tables import table_node_from_records
from EpilepsySuiteMRML.volumes import ras_of_centroid, sitk_from_volume_node, volume_node_from_sitk

LOG = logging.getLogger(__name__)
RESULT_COLUMNS = ("item", "value", "unit")
STRUCTURE_COLUMNS = ("label", "name", "resected_ml", "structure_ml", "resected_percent")
CAVITY_COLOUR = (230, 80, 40)
# Seconds per TTA iteration on a CPU above which the user is warned before running (whole brain, 1 mm).
SLOW_CPU_VOXELS = 4_000_000


@dataclass
class CavityResult:
    prediction: CavityPrediction
    segmentation_node: object | None
    probability_node: object
    uncertainty_node: object | None
    table_node: object
    structures_node: object | None
    structures: list[dict[str, object]] = field(default_factory=list)


class CavitySegmentationLogic:
    def __init__(self, scene) -> None:
        self.scene = scene
        self._models: dict[tuple[str, str], tuple] = {}

    def model(self, path: str | os.PathLike[str], device: str = "auto"):
        """(model, checkpoint payload) of ``path`` on ``device``, kept loaded between runs."""
        torch_device = resolve_device(device)
        key = (str(path), str(torch_device))
        if key not in self._models:
            self._models[key] = load_cavity_model(path, torch_device)
        return self._models[key]

    @staticmethod
    def cpu_warning(volume_node, device: str, tta_iterations: int) -> str | None:
        """A sentence for the user when the run will be slow on this machine (None when it will not)."""
        if str(resolve_device(device)) != "cpu" or volume_node is None:
            return None
        voxels = int(np.prod(volume_node.GetImageData().GetDimensions()))
        if voxels < SLOW_CPU_VOXELS and tta_iterations <= 5:
            return None
        return (
            f"Running on the CPU: {voxels / 1e6:.1f} million voxels x {max(1, tta_iterations)} prediction(s) "
            f"may take minutes. A CUDA GPU is much faster; fewer TTA iterations are quicker."
        )

    def predict(
        self,
        postop_node,
        model_path: str,
        parcellation_node=None,
        device: str = "auto",
        tta_iterations: int = 0,
        keep_largest_component: bool = True,
        progress: Callable[[float, str], None] | None = None,
        cancel: CancelToken | None = None,
        output_name: str = "Cavity",
        tta_mode: str = "published",
        register: bool = False,
    ) -> CavityResult:
        """Segment the cavity and add the review nodes to the scene.

        Creates ``<name>`` (segmentation with a closed surface), ``<name> probability``, with TTA
        ``<name> uncertainty`` (voxel-wise standard deviation) and ``<name> results`` (volume, image
        uncertainty); with a preoperative parcellation on the same grid, ``<name> resected structures``.
        """
        image, parcellation = self._inputs(postop_node, model_path, parcellation_node)
        prediction = predict_image(
            image, self.model(model_path, device), device, tta_iterations, keep_largest_component,
            progress=progress, cancel=cancel, tta_mode=tta_mode, register=register,
        )  # fmt: skip
        return self.show(prediction, postop_node, parcellation, tta_iterations, output_name)

    @staticmethod
    def _inputs(postop_node, model_path, parcellation_node) -> tuple[sitk.Image, sitk.Image | None]:
        if postop_node is None:
            raise InputError("postoperative T1", "select the postoperative T1 volume")
        if not model_path:
            raise InputError(
                "cavity model", "choose a model file (trained with `cavity train`, or resseg's published file)"
            )
        image = sitk_from_volume_node(postop_node)
        parcellation = None
        if parcellation_node is not None:
            parcellation = sitk_from_volume_node(parcellation_node)
            check_same_grid(image, parcellation, postop_node.GetName(), parcellation_node.GetName())
            parcellation = as_neuromorphometrics(parcellation, parcellation_node.GetName())  # refuses a T1 too
        return image, parcellation

    def job(
        self,
        postop_node,
        model_path: str,
        parcellation_node=None,
        device: str = "auto",
        tta_iterations: int = 0,
        keep_largest_component: bool = True,
        tta_mode: str = "published",
        register: bool = False,
    ) -> tuple[BackgroundJob, sitk.Image | None]:
        """The work of :meth:`predict` as a background job (not started), and the parcellation
        :meth:`show` needs with its result. The inputs are checked here, before any process starts (the
        network in the model file, when the job loads it)."""
        image, parcellation = self._inputs(postop_node, model_path, parcellation_node)
        if not Path(model_path).is_file():
            raise InputError(model_path, "the cavity model file does not exist")
        if tta_iterations < 0:
            raise InputError("TTA iterations", f"must be 0 or more, not {tta_iterations}")
        job = BackgroundJob(
            predict_image, image, str(model_path), name="Cavity segmentation", device=str(device),
            tta_iterations=int(tta_iterations), keep_largest_component=keep_largest_component, tta_mode=tta_mode,
            register=register,
        )  # fmt: skip
        return job, parcellation

    def show(
        self,
        prediction: CavityPrediction,
        postop_node,
        parcellation: sitk.Image | None = None,
        tta_iterations: int = 0,
        output_name: str = "Cavity",
    ) -> CavityResult:
        """Add the review nodes of a :func:`~epilepsy_suite.cavity.inference.predict_image` result to the
        scene (see :meth:`predict`)."""
        probability_node = volume_node_from_sitk(self.scene, prediction.probability, f"{output_name} probability")
        segmentation = None
        if prediction.volume_ml > 0:
            table = LabelTable([make_label(1, output_name, CAVITY_COLOUR)], output_name)
            segmentation = segmentation_from_labelmap(
                self.scene, prediction.mask, table, output_name, reference_volume=postop_node
            )
            self.center_on_cavity(prediction)
        uncertainty_node = None
        if prediction.std is not None:
            uncertainty_node = volume_node_from_sitk(self.scene, prediction.std, f"{output_name} uncertainty")
            colours = color_table_from_matplotlib(self.scene, "magma", f"{output_name} magma")
            display = uncertainty_node.GetDisplayNode()
            display.SetAndObserveColorNodeID(colours.GetID())
            display.AutoWindowLevelOff()
            display.SetWindowLevelMinMax(0.0, 0.5)
        rows = [{"item": "cavity volume", "value": prediction.volume_ml, "unit": "mL"}]
        if prediction.uncertainty is not None:
            rows.append({"item": "image uncertainty (CQV)", "value": prediction.uncertainty, "unit": ""})
            rows.append({"item": "TTA iterations", "value": float(tta_iterations), "unit": ""})
        structures: list[dict[str, object]] = []
        structures_node = None
        if parcellation is not None:
            parcellation = as_neuromorphometrics(parcellation)  # GIF: named with the NMM table
            structures = resected_structures(prediction.mask, parcellation)
            structures_node = table_node_from_records(
                self.scene, f"{output_name} resected structures", structures, STRUCTURE_COLUMNS
            )
            rows.append({"item": "resected structures", "value": float(len(structures)), "unit": ""})
        table_node = table_node_from_records(self.scene, f"{output_name} results", rows, RESULT_COLUMNS)
        LOG.info("cavity: %.2f mL", prediction.volume_ml)
        return CavityResult(
            prediction, segmentation, probability_node, uncertainty_node, table_node, structures_node, structures
        )

    def center_on_cavity(self, prediction: CavityPrediction) -> tuple[float, float, float] | None:
        """Centre the slice views on the cavity; returns its RAS (None when nothing was segmented)."""
        ras = ras_of_centroid(prediction.mask, sitk.GetArrayViewFromImage(prediction.mask) > 0)
        if ras is not None:
            center_slice_views(self.scene, ras)
        return ras

    def center_on_structure(
        self, result: CavityResult, parcellation: sitk.Image, row: int
    ) -> tuple[float, float, float] | None:
        """Centre the slice views on the resected part of the structure in table row ``row`` (0-based)."""
        if not 0 <= row < len(result.structures):
            raise InputError("resected structures", f"row {row} does not exist ({len(result.structures)} rows)")
        label = int(result.structures[row]["label"])  # type: ignore[arg-type]
        resected = (sitk.GetArrayViewFromImage(parcellation) == label) & (
            sitk.GetArrayViewFromImage(result.prediction.mask) > 0
        )
        ras = ras_of_centroid(parcellation, resected)
        if ras is not None:
            center_slice_views(self.scene, ras)
        return ras
