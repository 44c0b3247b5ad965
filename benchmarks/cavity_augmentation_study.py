#!/usr/bin/env python3
"""Which of the thesis' augmentation families stops the cavity network learning at coarse spacing?

Two parts, each over the conditions ``none``, every family alone and ``all``:

1. visibility (no training, seconds): the cavity's contrast-to-noise ratio against a 2-voxel shell
   around it, |mean(shell) - mean(cavity)| / std(shell), after each family, over seeded resections
   simulated on the embedded template, and the share of cases whose CNR falls under 1 (a cavity
   the eye can hardly find);
2. learning (``--train``, minutes per condition): the demo's recipe (whole images, a new resection
   per sample, foreground prior, batch 2, lr 2e-3) with that family switched on, then the median
   Dice and volume error on held-out resections (seeds 1000+) and the last training loss.

    python benchmarks/cavity_augmentation_study.py [--spacing 4] [--cases 12] [--train] [--steps 110]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

import numpy as np
import torch
from epilepsy_suite.cavity.augmentation import training_transform
from epilepsy_suite.cavity.checkpoint import load_cavity_model
from epilepsy_suite.cavity.config import AUGMENTATION_FAMILIES, CavityTrainingConfig
from epilepsy_suite.cavity.dataset import simulated_cases, template_subject
from epilepsy_suite.cavity.evaluation import score_cases
from epilepsy_suite.cavity.training import train_cavity
from scipy import ndimage

CONDITIONS = ("none", *AUGMENTATION_FAMILIES, "all")


def families(condition: str) -> tuple[str, ...]:
    return {"none": (), "all": AUGMENTATION_FAMILIES}.get(condition, (condition,))


def contrast_to_noise(image: np.ndarray, cavity: np.ndarray) -> float:
    """|mean(shell) - mean(cavity)| / std(shell) with a 2-voxel shell around ``cavity``."""
    shell = ndimage.binary_dilation(cavity, iterations=2) & ~cavity
    return float(abs(image[shell].mean() - image[cavity].mean()) / (image[shell].std() + 1e-6))


def visibility(spacing: int, count: int) -> None:
    cases = simulated_cases(count, spacing, seed=1000)
    print(f"visibility at {spacing} mm over {count} resections (CNR of the cavity against its shell)")
    for condition in CONDITIONS:
        transform = training_transform(None, simulate=False, crop_shape=None, augmentations=families(condition))
        ratios = []
        for index, case in enumerate(cases):
            torch.manual_seed(index)
            augmented = transform(case)
            cavity = augmented["label"].data[0].numpy() > 0
            if cavity.any():
                ratios.append(contrast_to_noise(augmented["image"].data[0].numpy(), cavity))
        ratios_array = np.asarray(ratios)
        print(
            f"  {condition:10s} CNR median {np.median(ratios_array):.2f}, minimum {ratios_array.min():.2f}, "
            f"under 1: {np.mean(ratios_array < 1):.0%}",
            flush=True,
        )


def learning(spacing: int, steps: int, held_out: int, conditions: list[str]) -> None:
    print(f"learning at {spacing} mm: {steps} steps of batch 2 per condition, {held_out} held-out resections")
    epochs = max(1, steps // 10)
    for condition in conditions:
        config = CavityTrainingConfig(
            max_epochs=epochs, batch_size=2, iterations_per_epoch=10, learning_rate=2e-3, step_epochs=1000,
            crop_shape=None, augmentations=families(condition), seed=0,
        )  # fmt: skip
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            result = train_cavity([template_subject(spacing)], [], folder, config, "cpu", show_bar=False)
            model, payload = load_cavity_model(result.last_checkpoint)
        seconds = time.perf_counter() - started
        records = [m for _, _, m in score_cases(model, payload["landmarks"], simulated_cases(held_out, spacing))]
        dice = np.median([record["dice"] for record in records])
        error = np.median([abs(record["volume_difference_ml"]) / record["true_ml"] for record in records])
        losses = [row["train_loss"] for row in result.history]
        print(
            f"  {condition:10s} held-out Dice median {dice:.3f}, |volume error| median {error:.0%}; training loss "
            f"{float(losses[0]):.3f} -> {float(losses[-1]):.3f} ({seconds:.0f} s)",
            flush=True,
        )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spacing", type=int, default=4, help="template spacing in mm (default 4)")
    parser.add_argument("--cases", type=int, default=12, help="resections for the visibility part (default 12)")
    parser.add_argument("--train", action="store_true", help="also train one model per condition")
    parser.add_argument("--steps", type=int, default=110, help="training steps per condition (default 110)")
    parser.add_argument("--held-out", type=int, default=5, help="held-out resections per condition (default 5)")
    parser.add_argument("--conditions", nargs="+", choices=CONDITIONS, default=list(CONDITIONS))
    parser.add_argument("--threads", type=int, default=2)
    arguments = parser.parse_args(argv)
    torch.set_num_threads(arguments.threads)
    visibility(arguments.spacing, arguments.cases)
    if arguments.train:
        learning(arguments.spacing, arguments.steps, arguments.held_out, arguments.conditions)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
