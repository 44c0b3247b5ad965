"""Seizure-level evaluation: stratified folds, views averaged, accuracy, F1 and PR-AUC for TCS."""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..io import atomic_output
from ..progress import CancelToken, ProgressCallback
from .annotations import SeizureAnnotation
from .curves import plot_probability_png, write_probability_csv
from .dataset import FeatureItem
from .models import GesturesModel, load_gestures_model, snippet_probabilities
from .sampling import SegmentSampler
from .training import GesturesTrainingConfig, sequences, train_gestures


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the precision-recall curve as average precision: ``sum_n (R_n - R_{n-1}) P_n``
    over the distinct score thresholds, highest first. ``nan`` without positives."""
    labels, scores = np.asarray(labels, dtype=bool), np.asarray(scores, dtype=float)
    positives = labels.sum()
    if positives == 0:
        return math.nan
    order = np.argsort(-scores, kind="stable")
    labels, scores = labels[order], scores[order]
    last_of_ties = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    true_positives = np.cumsum(labels)[last_of_ties]
    precision = true_positives / (last_of_ties + 1)
    recall = true_positives / positives
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def binary_metrics(labels: Sequence[int], probabilities: Sequence[float], threshold: float = 0.5) -> dict[str, float]:
    """Accuracy (both classes), F1 and PR-AUC for the positive class (TCS), and the counts."""
    labels = np.asarray(labels, dtype=bool)
    probabilities = np.asarray(probabilities, dtype=float)
    if labels.shape != probabilities.shape or labels.size == 0:
        raise InputError("metrics", f"{labels.size} labels and {probabilities.size} probabilities")
    predicted = probabilities >= threshold
    tp, tn = int(np.sum(predicted & labels)), int(np.sum(~predicted & ~labels))
    fp, fn = int(np.sum(predicted & ~labels)), int(np.sum(~predicted & labels))
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else math.nan
    return {"accuracy": (tp + tn) / labels.size, "f1": f1, "pr_auc": average_precision(labels, probabilities),
            "tp": tp, "tn": tn, "fp": fp, "fn": fn}  # fmt: skip


def stratified_folds(annotations: Sequence[SeizureAnnotation], folds: int, seed: int = 0) -> np.ndarray:
    """Fold index of each seizure, balancing the class ratio and the total duration per fold.

    Within each class, seizures are taken from longest to shortest (ties in random order) and
    each goes to the fold with fewest seizures of that class, then least total duration. Both
    views of a seizure are one annotation, so they always share a fold.
    """
    if folds < 2 or folds > len(annotations):
        raise InputError("cross-validation", f"{folds} folds for {len(annotations)} seizures")
    rng = np.random.default_rng(seed)
    assignment = np.full(len(annotations), -1)
    durations = np.zeros(folds)
    for seizure_class in ("TCS", "FOS"):
        members = [i for i, item in enumerate(annotations) if item.seizure_class == seizure_class]
        members.sort(key=lambda i: (-annotations[i].duration, rng.random()))
        counts = np.zeros(folds)
        for i in members:
            fold = min(range(folds), key=lambda f: (counts[f], durations[f], rng.random()))
            assignment[i] = fold
            counts[fold] += 1
            durations[fold] += annotations[i].duration
    return assignment


@torch.no_grad()
def seizure_probabilities(model: GesturesModel, items: Sequence[FeatureItem], segments: int) -> dict[str, float]:
    """P(TCS) of each seizure: centre snippets of each view, probabilities averaged over views."""
    model.eval()
    device = next(model.parameters()).device
    logits = model.seizure_logits(sequences(items, SegmentSampler(segments, math.inf)).to(device))
    by_seizure: dict[str, list[float]] = defaultdict(list)
    for item, probability in zip(items, torch.sigmoid(logits).cpu().tolist(), strict=True):
        by_seizure[item.key].append(probability)
    return {key: float(np.mean(values)) for key, values in by_seizure.items()}


@dataclass
class CrossValidation:
    """Per-seizure rows (video, fold, class, probability, prediction) and the pooled metrics."""

    rows: list[dict[str, object]]
    metrics: dict[str, float]
    fold_metrics: list[dict[str, float]] = field(default_factory=list)

    def write_csv(self, path: str | PathLike[str]) -> Path:
        with atomic_output(path) as temporary, temporary.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(self.rows[0]))
            writer.writeheader()
            writer.writerows(self.rows)
        return Path(path)


def cross_validate(
    items: Sequence[FeatureItem],
    folds: int,
    out_dir: str | PathLike[str],
    config: GesturesTrainingConfig | None = None,
    device: torch.device | str = "cpu",
    seed: int = 0,
    metadata: dict | None = None,
    curves: bool = False,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    show_bar: bool = True,
) -> CrossValidation:
    """Stratified k-fold cross-validation of the seizure classifier.

    For fold ``k`` the model is trained on the other folds, selected on fold ``k + 1`` (the best
    validation epoch) and tested on fold ``k``. With ``curves`` each held-out view's snippet
    probabilities over time are written as CSV and PNG under ``out_dir/curves``.
    """

    config = config or GesturesTrainingConfig()
    annotations = {item.key: item.annotation for item in items}
    keys = list(annotations)
    assignment = dict(zip(keys, stratified_folds([annotations[k] for k in keys], folds, seed), strict=True))
    out_dir = Path(out_dir)
    rows, fold_metrics = [], []
    for fold in range(folds):
        validation_fold = (fold + 1) % folds
        test = [item for item in items if assignment[item.key] == fold]
        validation = [item for item in items if assignment[item.key] == validation_fold]
        training = [item for item in items if assignment[item.key] not in (fold, validation_fold)]
        fold_progress = None if progress is None else (lambda f, m, k=fold: progress((k + f) / folds, m))
        result = train_gestures(training, validation, out_dir / f"fold_{fold}", config, device, resume=True,
                                metadata=metadata, progress=fold_progress, cancel=cancel, show_bar=show_bar)  # fmt: skip
        model, _ = load_gestures_model(result.best_checkpoint, device)
        probabilities = seizure_probabilities(model, test, config.segments)
        fold_rows = []
        for key, probability in probabilities.items():
            annotation = annotations[key]
            fold_rows.append({"video": key, "fold": fold, "patient": annotation.patient,
                              "class": annotation.seizure_class, "probability": probability,
                              "prediction": "TCS" if probability >= 0.5 else "FOS"})  # fmt: skip
        rows.extend(fold_rows)
        fold_metrics.append(
            binary_metrics([r["class"] == "TCS" for r in fold_rows], [r["probability"] for r in fold_rows])
        )
        if curves:
            for item in test:
                curve = snippet_probabilities(model, item.features)
                stem = f"{Path(item.key).stem}_{item.view}"
                write_probability_csv(item.centre_times, curve, out_dir / "curves" / f"{stem}.csv")
                plot_probability_png(item.centre_times, curve, out_dir / "curves" / f"{stem}.png", stem,
                               item.annotation.tG)  # fmt: skip
    metrics = binary_metrics([r["class"] == "TCS" for r in rows], [r["probability"] for r in rows])
    result = CrossValidation(rows, metrics, fold_metrics)
    result.write_csv(out_dir / "predictions.csv")
    return result
