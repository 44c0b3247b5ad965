"""Cavity Segmentation demo step: a resection simulated on the template, a briefly trained model on it."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from epilepsy_suite.cavity.dataset import make_subject
from epilepsy_suite.cavity.simulation import RandomResection
from epilepsy_suite.cavity.training import CavityTrainingConfig, train_cavity
from epilepsy_suite.geometry import coarsened, torchio_to_sitk

from EpilepsySuiteMRML.volumes import volume_node_from_sitk

from .logic import CavitySegmentationLogic

SPACING_FACTOR = 2  # the demo works at 2 mm to stay within a few minutes on a CPU


def run(context) -> None:
    start = time.perf_counter()
    template = coarsened(context.template, SPACING_FACTOR, sitk.sitkLinear)
    parcellation = coarsened(context.parcellation, SPACING_FACTOR, sitk.sitkNearestNeighbor)
    subject = make_subject("template", template, parcellation)
    simulated = RandomResection(volumes=(20000, 40000), seed=3)(subject)
    postop = torchio_to_sitk(simulated["image"])
    truth = torchio_to_sitk(simulated["label"])
    model_path = getattr(context, "cavity_model", None)
    epochs = 1 if context.quick else 3
    with tempfile.TemporaryDirectory() as folder:
        if model_path is None:
            config = CavityTrainingConfig(
                max_epochs=epochs, batch_size=2, iterations_per_epoch=4, crop_shape=(64, 80, 64),
                volumes=(10000, 40000), learning_rate=5e-3,
            )  # fmt: skip
            model_path = train_cavity([subject], [], Path(folder), config, "cpu", show_bar=False).best_checkpoint
        postop_node = volume_node_from_sitk(context.scene, postop, "Cavity demo simulated postop T1")
        parcellation_node = volume_node_from_sitk(
            context.scene, parcellation, "Cavity demo preop parcellation", labelmap=True
        )
        result = CavitySegmentationLogic(context.scene).predict(
            postop_node, str(model_path), parcellation_node, "cpu", tta_iterations=3, output_name="Cavity demo"
        )
    truth_array = sitk.GetArrayFromImage(truth) > 0
    centre = np.argwhere(truth_array).mean(axis=0)[::-1]
    point = postop.TransformContinuousIndexToPhysicalPoint(centre.tolist())
    ras = (-point[0], -point[1], point[2])
    truth_ml = float(truth_array.sum()) * float(np.prod(postop.GetSpacing())) / 1000
    images = [context.screenshot_slice("cavity_simulated", postop_node, ras=ras, title="Simulated resection (2 mm)")]
    if result.segmentation_node is not None:
        images.append(
            context.screenshot_slice(
                "cavity_prediction",
                postop_node,
                segmentation_node=result.segmentation_node,
                ras=ras,
                title="Predicted cavity",
            )  # fmt: skip
        )
    if result.uncertainty_node is not None:
        images.append(
            context.screenshot_slice(
                "cavity_uncertainty",
                postop_node,
                overlay_node=result.uncertainty_node,
                ras=ras,
                overlay_colormap="magma",
                overlay_range=(0.0, 0.5),
                overlay_threshold=0.01,
                title="TTA uncertainty",
            )  # fmt: skip
        )
    prediction = result.prediction
    context.add_section(
        "Cavity Segmentation",
        f"A resection of {truth_ml:.1f} mL simulated on the MNI template (2 mm) from its Neuromorphometrics "
        f"parcellation, then the cavity U-Net ({'trained for ' + str(epochs) + ' epoch(s) on simulated resections' if getattr(context, 'cavity_model', None) is None else 'the given model'}) "  # noqa: E501
        f"with 3 test-time augmentations: {prediction.volume_ml:.1f} mL predicted, image uncertainty (CQV) "
        f"{prediction.uncertainty:.3f}. A model trained this briefly shows the pipeline, not the method's accuracy: "
        f"train one with `cavity train` for real use. {time.perf_counter() - start:.0f} s.",
        images,
        result.structures[:8],
    )
