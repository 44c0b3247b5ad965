"""Logic of the FCD Segmentation module: MRML nodes in, MRML nodes out, no Qt.

The caller gives the scene: ``slicer.mrmlScene`` in Slicer, a slicer-core scene headless.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk
from epilepsy_suite.data import LabelTable, make_label
from epilepsy_suite.device import resolve_device
from epilepsy_suite.errors import InputError
from epilepsy_suite.fcd.checkpoint import load_fcd_model
from epilepsy_suite.fcd.clusters import describe_clusters
from epilepsy_suite.fcd.inference import Prediction, predict_subject
from epilepsy_suite.fcd.postprocess import PostprocessSettings
from epilepsy_suite.fcd.preprocessing import prepare_images
from epilepsy_suite.fcd.presets import DEFAULT_PRESET, get_preset
from epilepsy_suite.geometry import copy_geometry
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


def compute_fcd(
    t1: sitk.Image,
    flair: sitk.Image,
    model,
    device: str = "auto",
    threshold: float | None = None,
    postprocess: bool | None = None,
    min_cluster_voxels: int = 50,
    register_to_mni: bool | None = None,
    preprocessing: str = DEFAULT_PRESET,
    coregister_flair: bool | None = None,
    flair_name: str = "FLAIR",
    progress: Callable[[float, str], None] | None = None,
    cancel: CancelToken | None = None,
) -> Prediction:
    """The model's prediction on a T1 + FLAIR pair, on the T1's grid: no scene involved.

    ``model`` is a loaded MS-DSA-Net or the path of its file (loaded on ``device``). The other
    arguments are those of :meth:`FCDSegmentationLogic.predict`. Runs in a background process as
    well (everything it takes and returns pickles).
    """
    preset = get_preset(preprocessing)
    if isinstance(model, (str, os.PathLike)):
        model, _ = load_fcd_model(model, resolve_device(device))
    subject = prepare_images(
        t1, flair, register_to_mni=register_to_mni, coregister=coregister_flair, flair_name=flair_name, preset=preset
    )
    if postprocess is None:
        postprocess = preset.postprocess
    settings = PostprocessSettings(min_cluster_voxels=min_cluster_voxels) if postprocess else None
    return predict_subject(
        model,
        subject,
        preset.threshold if threshold is None else threshold,
        settings,
        resolve_device(device),
        preset.overlap,
        preset.blend,
        progress=progress,
        cancel=cancel,
    )


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
        if t1_node is None:
            raise InputError("T1", "select the T1 volume")
        if flair_node is None:
            raise InputError(t1_node.GetName(), "the FLAIR volume is missing: FCD segmentation needs both T1 and FLAIR")
        prediction = compute_fcd(
            sitk_from_volume_node(t1_node),
            sitk_from_volume_node(flair_node),
            self.model(model_path, device)[0],
            device=device,
            threshold=threshold,
            postprocess=postprocess,
            min_cluster_voxels=min_cluster_voxels,
            register_to_mni=register_to_mni,
            preprocessing=preprocessing,
            coregister_flair=coregister_flair,
            flair_name=flair_node.GetName(),
            progress=progress,
            cancel=cancel,
        )
        return self.show(prediction, t1_node, output_name, colormap)

    def show(self, prediction: Prediction, t1_node, output_name: str = "FCD", colormap: str = "inferno") -> FCDResult:
        """Add the review nodes of a :func:`compute_fcd` result to the scene (see :meth:`predict`)."""
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
