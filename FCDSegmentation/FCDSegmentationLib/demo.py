"""FCD Segmentation demo step: a briefly trained reduced model on synthetic lesions."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from epilepsy_suite.fcd.dataset import TrainingSubject
from epilepsy_suite.fcd.synthetic import make_synthetic_subject
from epilepsy_suite.fcd.training import FCDTrainingConfig, train_fcd

from EpilepsySuiteMRML.volumes import volume_node_from_sitk

from .logic import FCDSegmentationLogic


def run(context) -> None:
    start = time.perf_counter()
    spacing = 2.0
    subjects = [make_synthetic_subject(seed, spacing=spacing) for seed in range(5)]
    training = [TrainingSubject.from_images(f"s{i}", s.t1, s.flair, s.lesion) for i, s in enumerate(subjects[:4])]
    epochs = 1 if context.quick else 4
    config = FCDTrainingConfig(
        patch_size=64, feature_size=8, max_epochs=epochs, warmup_epochs=1, learning_rate=2e-3, patches_per_subject=2
    )
    with tempfile.TemporaryDirectory() as folder:
        result = train_fcd(
            training,
            training[:1],
            Path(folder),
            config,
            context.device if context.device != "auto" else "cpu",
            show_bar=False,
        )
        patient = subjects[4]
        t1_node = volume_node_from_sitk(context.scene, patient.t1, "FCD demo T1")
        flair_node = volume_node_from_sitk(context.scene, patient.flair, "FCD demo FLAIR")
        lesion_node = volume_node_from_sitk(context.scene, patient.lesion, "FCD demo true lesion", labelmap=True)
        fcd = FCDSegmentationLogic(context.scene).predict(
            t1_node, flair_node, str(result.best_checkpoint), "cpu", threshold=0.5, min_cluster_voxels=5
        )
    x, y, z = patient.centre_index
    centre = patient.t1.TransformIndexToPhysicalPoint((x, y, z))
    ras = (-centre[0], -centre[1], centre[2])
    images = [
        context.screenshot_slice(
            "fcd_probability",
            flair_node,
            overlay_node=fcd.probability_node,
            ras=ras,
            overlay_colormap="inferno",
            overlay_threshold=0.05,
        )
    ]
    if fcd.segmentation_node is not None:
        images.append(
            context.screenshot_slice("fcd_clusters", flair_node, segmentation_node=fcd.segmentation_node, ras=ras)
        )
    del lesion_node
    context.add_section(
        "FCD Segmentation",
        f"A reduced MS-DSA-Net (patch 64, feature size 8) trained for {epochs} epoch(s) on 4 synthetic FCD subjects "
        f"({spacing:g} mm, Dice + 0.1 TV), then run on a fifth: probability overlay and candidate clusters. "
        f"A model trained this briefly is a pipeline demonstration, not a detector: load a model trained with "
        f"`fcd train` for real use. {len(fcd.clusters)} candidate cluster(s); {time.perf_counter() - start:.0f} s.",
        images,
        fcd.clusters[:8],
    )
