#!/usr/bin/env python3
"""Cavity training throughput with the samples prepared in the training process or in workers.

Two figures, each with 0 and with N data-loader workers in the same run:

1. the sample pipeline alone (resection simulation + the thesis' augmentation of the embedded MNI
   template, 2 mm by default): samples per second that the loader hands to the network, which is
   what a GPU, whose own step is short, waits for;
2. the whole ``train_cavity`` epoch on this machine (network on the CPU too, one validation pass
   included), which on a small CPU shares its cores between the network and the workers.

The two training runs give identical weights (the samples are seeded per index, not per process).

    python benchmarks/cavity_training_speed.py [--workers 2] [--batches 12] [--spacing 2] [--pipeline-only]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import SimpleITK as sitk
import torch
from epilepsy_suite.cavity.augmentation import train_landmarks
from epilepsy_suite.cavity.dataset import make_subject, subject_image
from epilepsy_suite.cavity.simulation import masks_of
from epilepsy_suite.cavity.training import (
    CavityTrainingConfig,
    EpochSamples,
    collate_samples,
    sample_worker_setup,
    train_cavity,
)
from epilepsy_suite.data import mni_template, neuromorphometrics_parcellation
from epilepsy_suite.geometry import coarsened


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batches", type=int, default=12, help="batches of 2 in the timed epoch")
    parser.add_argument("--spacing", type=int, default=2, help="template voxel size in mm (1, 2, 3...)")
    parser.add_argument(
        "--crop",
        type=int,
        nargs=3,
        default=(64, 80, 64),
        metavar=("X", "Y", "Z"),
        help="training crop in voxels (the network's cost; the augmentation acts on whole images)",
    )
    parser.add_argument("--pipeline-only", action="store_true", help="measure the sample pipeline only")
    arguments = parser.parse_args(argv)
    template = coarsened(mni_template(), arguments.spacing, sitk.sitkLinear)
    parcellation = coarsened(
        neuromorphometrics_parcellation(on_template_grid=True), arguments.spacing, sitk.sitkNearestNeighbor
    )
    subjects = [make_subject("template", template, parcellation)]
    crop = tuple(arguments.crop)
    config = CavityTrainingConfig(
        max_epochs=1, batch_size=2, iterations_per_epoch=arguments.batches, crop_shape=crop, volumes=(10000, 50000)
    )
    samples = arguments.batches * config.batch_size
    print(f"{samples} samples of {crop} voxels at {arguments.spacing} mm, torch threads {torch.get_num_threads()}")
    landmarks = train_landmarks([subject_image(subjects[0])])
    for subject in subjects:  # as train_cavity does before its workers start
        masks_of(subject, "image", "parcellation", None)
    pipeline = {}
    for workers in (0, arguments.workers):
        epoch = EpochSamples(subjects, [], config, landmarks, 0, samples)
        loader = torch.utils.data.DataLoader(
            epoch,
            config.batch_size,
            num_workers=workers,
            collate_fn=collate_samples,
            worker_init_fn=sample_worker_setup,
        )
        started = time.perf_counter()
        count = sum(len(images) for images, _ in loader)
        pipeline[workers] = count / (time.perf_counter() - started)
        print(f"sample pipeline, workers {workers}: {pipeline[workers]:.2f} samples/s", flush=True)
    print(f"sample pipeline speed-up with {arguments.workers} workers: "
          f"{pipeline[arguments.workers] / pipeline[0]:.2f}x")  # fmt: skip
    if arguments.pipeline_only:
        return 0
    rates, weights = {}, {}
    for workers in (0, arguments.workers):
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            train_cavity(subjects, subjects, Path(folder), config, show_bar=False, workers=workers)
            seconds = time.perf_counter() - started
            weights[workers] = torch.load(Path(folder) / "last.pt", map_location="cpu", weights_only=False)
        rates[workers] = samples / seconds
        print(f"training, workers {workers}: {seconds:6.1f} s, {rates[workers]:.2f} samples/s", flush=True)
    same = all(
        torch.equal(weights[0]["state_dict"][key], weights[arguments.workers]["state_dict"][key])
        for key in weights[0]["state_dict"]
    )
    print(f"training speed-up with {arguments.workers} workers: {rates[arguments.workers] / rates[0]:.2f}x; "
          f"identical weights: {same}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
