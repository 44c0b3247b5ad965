#!/usr/bin/env python3
"""Accuracy of resseg's published cavity network through our default prediction path.

Simulates seeded resections (``RandomResection``, volumes drawn uniformly from 10-50 mL by
default) on the embedded MNI template, writes each simulated postoperative T1 to NIfTI, segments
it with ``python -m epilepsy_suite cavity predict --model <resseg's file>`` exactly as a user would
(default settings), and prints Dice, true and predicted volumes per case, then the median.

    python benchmarks/cavity_published_accuracy.py [--model FILE] [--cases 8] [--seed 0]

The model file defaults to ``../shared/data/resseg/self_semi_37-b571f7ba.pth`` beside the project.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torchio as tio
from epilepsy_suite.cavity.evaluation import dice
from epilepsy_suite.cavity.simulation import RandomResection
from epilepsy_suite.cli import main as cli_main
from epilepsy_suite.data import mni_template, neuromorphometrics_parcellation
from epilepsy_suite.geometry import sitk_to_torchio, torchio_to_sitk

DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "shared" / "data" / "resseg" / "self_semi_37-b571f7ba.pth"


def simulated_case(seed: int, volumes: tuple[float, float]) -> tuple[sitk.Image, np.ndarray]:
    """A resection simulated on the template: (postoperative image, (z, y, x) cavity label)."""
    template = mni_template()
    parcellation = neuromorphometrics_parcellation(on_template_grid=True)
    subject = tio.Subject(image=sitk_to_torchio(template), parcellation=sitk_to_torchio(parcellation, label=True))
    resected = RandomResection(volumes=volumes, seed=seed)(subject)
    label = sitk.GetArrayFromImage(torchio_to_sitk(resected["label"])) > 0
    return torchio_to_sitk(resected["image"]), label


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="resseg's self_semi_37-b571f7ba.pth")
    parser.add_argument("--cases", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0, help="seed of the first case (then +1 per case)")
    parser.add_argument("--volumes", type=float, nargs=2, default=(10000, 50000), metavar=("MIN", "MAX"))
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more `cavity predict` options")
    arguments = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for case in range(arguments.cases):
            seed = arguments.seed + case
            image, label = simulated_case(seed, tuple(arguments.volumes))
            image_path, mask_path = Path(folder) / f"case{seed}.nii.gz", Path(folder) / f"case{seed}_mask.nii.gz"
            sitk.WriteImage(image, str(image_path))
            started = time.perf_counter()
            command = ["cavity", "predict", str(image_path), "--model", str(arguments.model), "--out", str(mask_path)]
            if cli_main([*command, "--quiet", *arguments.extra]) != 0:
                return 1
            seconds = time.perf_counter() - started
            mask = sitk.GetArrayFromImage(sitk.ReadImage(str(mask_path))) > 0
            voxel_ml = float(np.prod(image.GetSpacing())) / 1000
            row = (seed, label.sum() * voxel_ml, mask.sum() * voxel_ml, dice(mask, label), seconds)
            rows.append(row)
            print(f"case seed {row[0]:3d}: true {row[1]:6.1f} mL, predicted {row[2]:6.1f} mL, "
                  f"Dice {row[3]:.3f} ({row[4]:.0f} s)", flush=True)  # fmt: skip
    scores = [row[3] for row in rows]
    print(f"median Dice {statistics.median(scores):.3f}, minimum {min(scores):.3f}, over {len(rows)} cases")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
