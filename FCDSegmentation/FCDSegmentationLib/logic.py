"""Logic of the FCD Segmentation module: MRML nodes in, MRML nodes out, no Qt.

The caller gives the scene: ``slicer.mrmlScene`` in Slicer, a slicer-core scene headless.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from epilepsy_suite.data import LabelTable, make_label
from epilepsy_suite.device import resolve_device
from epilepsy_suite.errors import InputError
from epilepsy_suite.fcd.checkpoint import load_fcd_model
from epilepsy_suite.fcd.clusters import describe_clusters
from epilepsy_suite.fcd.inference import Prediction, predict_images
from epilepsy_suite.fcd.presets import DEFAULT_PRESET, get_preset
from epilepsy_suite.geometry import copy_geometry
from epilepsy_suite.jobs import BackgroundJob
from epilepsy_suite.progress import CancelToken

from EpilepsySuiteMRML.colors import color_table_from_matplotlib
from EpilepsySuiteMRML.scene import center_slice_views
from EpilepsySuiteMRML.segmentations import segmentation_from_labelmap
from EpilepsySuiteMRML.tables import table_node_from_records
from EpilepsySuiteMRML.volumes import sitk_from_volume_node, volume_node_from_sitk

from .presets import preset_choices

LOG = logging.getLogger(__name__)
CLUSTER_COLUMNS = (
    "index",
    "structure",
    "volume_ml",
    "peak_probability",
    "mean_probability",
    "voxels",
    "centroid_r",
    "centroid_a",
    "centroid_s",
)


@dataclass
class FCDResult:
    probability_node: object
    segmentation_node: object | None
    table_node: object
    clusters: list[dict[str, object]] = field(default_factory=list)


class FCDSegmentationLogic:
    def __init__(self, scene) -> None:
        self.scene = scene
        self._models: dict[tuple[str, str], object] = {}

    def model(self, path: str, device: str = "auto"):
        """(MS-DSA-Net, checkpoint payload) of ``path`` on ``device``, kept loaded between runs."""
        torch_device = resolve_device(device)
        key = (str(path), str(torch_device))
        if key not in self._models:
            self._models[key] = load_fcd_model(path, torch_device)
        return self._models[key]

    preset_choices = staticmethod(preset_choices)

    def predict(
        self,
        t1_node,
        flair_node,
        model_path: str,
        device: str = "auto",
        threshold: float | None = None,
        postprocess: bool | None = None,
        min_cluster_voxels: int = 50,
        register_to_mni: bool | None = None,
        colormap: str = "inferno",
        progress: Callable[[float, str], None] | None = None,
        cancel: CancelToken | None = None,
        output_name: str = "FCD",
        preprocessing: str = DEFAULT_PRESET,
        coregister_flair: bool | None = None,
    ) -> FCDResult:
        """Run the model on the T1 and FLAIR volume nodes and add the review nodes to the scene.

        ``preprocessing`` names the preset (``suite`` or ``published``, the MS-DSA-Net authors'
        pipeline); ``threshold``, ``postprocess``, ``register_to_mni`` and ``coregister_flair``
        (rigid FLAIR-to-T1 registration) left at None take the preset's choice. The network
        sees the images in its own (x, y, z) RAS+ convention whatever their storage order, and
        every output lies on the T1's grid.

        Creates ``<name> probability`` (scalar volume with a colour map), ``<name> clusters``
        (segmentation, one segment per candidate cluster, most probable first) and
        ``<name> cluster table``; the slice views are centred on the first cluster.
        """
        images, settings = self._work(
            t1_node, flair_node, device=device, threshold=threshold, postprocess=postprocess,
            min_cluster_voxels=min_cluster_voxels, register_to_mni=register_to_mni, preprocessing=preprocessing,
            coregister_flair=coregister_flair,
        )  # fmt: skip
        model = self.model(model_path, device)[0]
        prediction = predict_images(*images, model, **settings, progress=progress, cancel=cancel)
        return self.show(prediction, t1_node, output_name, colormap)

    @staticmethod
    def _work(t1_node, flair_node, **settings) -> tuple[tuple[sitk.Image, sitk.Image], dict[str, object]]:
        """The checked inputs of :func:`predict_images`: (T1, FLAIR) images and keyword settings."""
        if t1_node is None:
            raise InputError("T1", "select the T1 volume")
        if flair_node is None:
            raise InputError(t1_node.GetName(), "the FLAIR volume is missing: FCD segmentation needs both T1 and FLAIR")
        get_preset(settings["preprocessing"])
        images = (sitk_from_volume_node(t1_node), sitk_from_volume_node(flair_node))
        return images, {**settings, "device": str(settings["device"]), "flair_name": flair_node.GetName()}

    def job(
        self,
        t1_node,
        flair_node,
        model_path: str,
        device: str = "auto",
        threshold: float | None = None,
        postprocess: bool | None = None,
        min_cluster_voxels: int = 50,
        register_to_mni: bool | None = None,
        preprocessing: str = DEFAULT_PRESET,
        coregister_flair: bool | None = None,
    ) -> BackgroundJob:
        """The work of :meth:`predict` as a background job (not started): its result goes to :meth:`show`.

        The inputs are checked here, before any process starts; whether the model file holds the right
        network shows when the job loads it (its error comes back as the job's one line).
        """
        images, settings = self._work(
            t1_node, flair_node, device=device, threshold=threshold, postprocess=postprocess,
            min_cluster_voxels=min_cluster_voxels, register_to_mni=register_to_mni, preprocessing=preprocessing,
            coregister_flair=coregister_flair,
        )  # fmt: skip
        if not model_path or not Path(model_path).is_file():
            raise InputError(model_path or "MS-DSA-Net model", "choose an existing model file")
        return BackgroundJob(predict_images, *images, str(model_path), name="FCD segmentation", **settings)

    def show(self, prediction: Prediction, t1_node, output_name: str = "FCD", colormap: str = "inferno") -> FCDResult:
        """Add the review nodes of a :func:`~epilepsy_suite.fcd.inference.predict_images` result to the scene
        (see :meth:`predict`)."""
        probability_node = volume_node_from_sitk(self.scene, prediction.probability, f"{output_name} probability")
        colors = color_table_from_matplotlib(self.scene, colormap, f"{output_name} {colormap}")
        display = probability_node.GetDisplayNode()
        display.SetAndObserveColorNodeID(colors.GetID())
        display.AutoWindowLevelOff()
        display.SetWindowLevelMinMax(0.0, 1.0)
        display.SetApplyThreshold(True)
        display.SetLowerThreshold(0.05)
        display.SetUpperThreshold(1.0)
        cluster_labels, clusters = describe_clusters(prediction.probability, prediction.mask)
        segmentation = None
        if clusters:
            table = LabelTable(
                (
                    make_label(
                        record["index"],
                        f"Cluster {record['index']} ({record['structure']})",
                        (255, 40 + (37 * i) % 180, 40),
                    )
                    for i, record in enumerate(clusters)
                ),  # type: ignore[arg-type]
                "FCD clusters",
            )
            segmentation = segmentation_from_labelmap(
                self.scene,
                copy_geometry(cluster_labels.astype(np.int16), prediction.probability),
                table,
                f"{output_name} clusters",
                reference_volume=t1_node,
            )
            first = clusters[0]
            center_slice_views(self.scene, (first["centroid_r"], first["centroid_a"], first["centroid_s"]))  # type: ignore[arg-type]
        table_node = table_node_from_records(self.scene, f"{output_name} cluster table", clusters, CLUSTER_COLUMNS)
        LOG.info("FCD: %d candidate cluster(s)", len(clusters))
        return FCDResult(probability_node, segmentation, table_node, clusters)

    def center_on_cluster(self, result: FCDResult, row: int) -> tuple[float, float, float]:
        """Centre the slice views on the cluster in table row ``row`` (0-based); returns its RAS."""
        if not 0 <= row < len(result.clusters):
            raise InputError("cluster table", f"row {row} does not exist ({len(result.clusters)} clusters)")
        record = result.clusters[row]
        ras = (float(record["centroid_r"]), float(record["centroid_a"]), float(record["centroid_s"]))  # type: ignore[arg-type]
        center_slice_views(self.scene, ras)
        return ras
