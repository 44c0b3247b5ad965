#!/usr/bin/env python3
"""GESTURES aggregators on synthetic seizures: mean vs LSTM vs BLSTM (thesis section 2.3.2).

Renders a synthetic dataset (half TCS, generalising at r = 0.5-0.93 of the seizure), extracts
snippet features once with a frozen, randomly initialised R(2+1)D-34 (8 frames; smaller input
than 112 px so that a CPU finishes), then runs stratified k-fold cross-validation of the three
aggregators with the same folds, segments, gamma and seeds, repeated over several fold draws.
Prints pooled accuracy, F1 and PR-AUC for TCS and the per-fold accuracy, median (IQR).

    python benchmarks/gestures_aggregation_experiment.py --out /tmp/gestures [--videos 48]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from epilepsy_suite.video.annotations import read_annotations
from epilepsy_suite.video.dataset import dataset_features, feature_metadata
from epilepsy_suite.video.evaluation import binary_metrics, cross_validate
from epilepsy_suite.video.extractors import load_extractor
from epilepsy_suite.video.preprocessing import PreprocessingSettings
from epilepsy_suite.video.synthetic import make_synthetic_dataset
from epilepsy_suite.video.training import GesturesTrainingConfig


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder for videos, feature cache and folds")
    parser.add_argument("--videos", type=int, default=48)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="cross-validations with different fold draws")
    parser.add_argument("--extractor", default="r2plus1d_34_8")
    parser.add_argument("--side", type=int, default=64, help="extractor input side in pixels (112 in the thesis)")
    parser.add_argument("--segments", type=int, default=16)
    parser.add_argument("--gamma", type=float, default=2.0)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--batch-videos", type=int, default=8, help="sequences per mini-batch")
    parser.add_argument("--durations", type=float, nargs=2, default=(16.0, 40.0))
    arguments = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    videos = arguments.out / "videos"
    table = videos / "annotations.csv"
    start = time.perf_counter()
    if table.is_file():
        annotations = read_annotations(table)
    else:
        annotations = make_synthetic_dataset(videos, arguments.videos, seed=7, durations=tuple(arguments.durations),
                                             fps=15.0)  # fmt: skip
    print(f"{len(annotations)} videos ({sum(a.label for a in annotations)} TCS), "
          f"{sum(a.duration for a in annotations) / 60:.1f} min, ready in {time.perf_counter() - start:.0f} s")  # fmt: skip
    extractor = load_extractor(arguments.extractor, None, side=arguments.side)
    start = time.perf_counter()
    items = dataset_features(annotations, extractor, arguments.out / "features", stride=8)
    snippets = sum(len(item) for item in items)
    print(f"features: {snippets} snippets of {extractor.identifier} in {time.perf_counter() - start:.0f} s")
    metadata = feature_metadata(extractor, PreprocessingSettings(), 8)
    results: dict[str, list] = {}
    for aggregator in ("mean", "lstm", "blstm"):
        config = GesturesTrainingConfig(segments=arguments.segments, gamma=arguments.gamma, aggregator=aggregator,
                                        max_epochs=arguments.epochs, videos_per_batch=arguments.batch_videos)  # fmt: skip
        for repeat in range(arguments.repeats):
            setting = f"n{arguments.segments}_g{arguments.gamma:g}_e{arguments.epochs}_b{arguments.batch_videos}"
            folder = arguments.out / "cv" / setting / f"{aggregator}_{repeat}"
            result = cross_validate(items, arguments.folds, folder, config, seed=repeat, metadata=metadata,
                                    show_bar=False)  # fmt: skip
            results.setdefault(aggregator, []).append(result)
    print(f"\n{arguments.folds}-fold cross-validation x {arguments.repeats}, {arguments.segments} segments, "
          f"gamma {arguments.gamma} (training), centre snippets (evaluation)\n")  # fmt: skip
    print("| Aggregator | Accuracy | F1 (TCS) | PR-AUC (TCS) | fold accuracy, median (IQR) |")
    print("|---|---|---|---|---|")
    for aggregator, runs in results.items():
        rows = [row for run in runs for row in run.rows]
        pooled = binary_metrics([r["class"] == "TCS" for r in rows], [r["probability"] for r in rows])
        folds = [fold["accuracy"] for run in runs for fold in run.fold_metrics]
        q1, median, q3 = np.percentile(folds, [25, 50, 75])
        print(f"| {aggregator} | {pooled['accuracy']:.3f} | {pooled['f1']:.3f} | {pooled['pr_auc']:.3f} | "
              f"{median:.3f} ({q3 - q1:.3f}) |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
