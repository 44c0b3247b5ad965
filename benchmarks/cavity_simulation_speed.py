#!/usr/bin/env python3
"""Resection simulation speed on the embedded MNI template (193x229x193, 1 mm), one CPU thread.

Times our ``RandomResection`` (TorchIO transform) and, in the same run and on the same input,
the ``resector`` package (the thesis's own implementation, PyPI) as the peer, both with their
per-subject masks prepared beforehand and the same volume range (500-50000 mm^3), and prints
the median time per resection and the ratio.

    python benchmarks/cavity_simulation_speed.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torchio as tio  # noqa: E402
from epilepsy_suite.cavity.masks import resection_masks  # noqa: E402
from epilepsy_suite.cavity.simulation import RandomResection  # noqa: E402
from epilepsy_suite.data import mni_template, neuromorphometrics_parcellation  # noqa: E402
from epilepsy_suite.geometry import sitk_to_torchio  # noqa: E402


def _time(function, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    arguments = parser.parse_args(argv)
    torch.set_num_threads(1)
    template, parcellation = mni_template(), neuromorphometrics_parcellation(on_template_grid=True)
    subject = tio.Subject(image=sitk_to_torchio(template), parcellation=sitk_to_torchio(parcellation, label=True))
    start = time.perf_counter()
    masks = resection_masks(template, parcellation)
    print(f"per-subject masks (once, then cached): {time.perf_counter() - start:.2f} s")

    ours = RandomResection(volumes=(500, 50000), seed=0)
    ours(subject)  # warm-up: icosphere and face lookup tables
    our_times = _time(lambda: ours(subject), arguments.repeats)
    print(
        f"EpilepsySuite RandomResection: median {statistics.median(our_times):.3f} s, min {min(our_times):.3f} s over {arguments.repeats}"
    )

    try:
        from resector import RandomResection as PeerResection
    except ImportError:
        print("resector is not installed: no peer figure (pip install resector)")
        return 0
    affine = subject["image"].affine

    def label(array: np.ndarray) -> tio.LabelMap:
        return tio.LabelMap(tensor=torch.from_numpy(array.astype(np.uint8))[None], affine=affine)

    noise = (
        np.random.default_rng(0).normal(masks.csf_mean, masks.csf_std, subject["image"].shape[1:]).astype(np.float32)
    )
    peer_subject = tio.Subject(
        image=subject["image"],
        resection_resectable_left=label(masks.resectable["left"]),
        resection_resectable_right=label(masks.resectable["right"]),
        resection_gray_matter_left=label(masks.grey_matter["left"]),
        resection_gray_matter_right=label(masks.grey_matter["right"]),
        resection_noise=tio.ScalarImage(tensor=torch.from_numpy(noise)[None], affine=affine),
    )
    peer = PeerResection(volumes_range=(500, 50000), delete_resection_keys=False)
    peer(peer_subject)
    peer_times = _time(lambda: peer(peer_subject), arguments.repeats)
    print(
        f"resector RandomResection:      median {statistics.median(peer_times):.3f} s, min {min(peer_times):.3f} s over {arguments.repeats}"
    )
    print(f"speed-up (median): {statistics.median(peer_times) / statistics.median(our_times):.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
