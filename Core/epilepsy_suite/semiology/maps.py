"""Semiology scores on a parcellation: label conversion, score volumes and display properties."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..data import gif_to_nmm, neuromorphometrics_labels
from ..errors import InputError
from ..io import atomic_output
from .database import Semio2BrainDatabase
from .query import SemiologyScores

ATLASES = ("gif", "nmm")
CSV_COLUMNS = ("label", "name", "hemisphere", "datapoints", "score")


def atlas_labels(atlas: str, database: Semio2BrainDatabase) -> set[int]:
    """Every label number of the ``gif`` (the database's own) or ``nmm`` table."""
    if atlas == "gif":
        return set(database.label_names) or set(database.labels.tolist())
    return set(neuromorphometrics_labels().numbers)


def detect_atlas(labels: np.ndarray, database: Semio2BrainDatabase) -> str:
    """``"gif"`` or ``"nmm"``: the label table that leaves fewer labels of ``labels`` unexplained."""
    present = {int(value) for value in np.unique(labels) if value > 0}
    unexplained = {atlas: len(present - atlas_labels(atlas, database)) for atlas in ("gif", "nmm")}
    return "nmm" if unexplained["nmm"] < unexplained["gif"] else "gif"


def scores_by_atlas_label(scores: SemiologyScores, atlas: str) -> dict[int, float]:
    """Score of every label of the parcellation's own numbering (``gif`` or ``nmm``)."""
    if atlas not in ATLASES:
        raise InputError("atlas", f"{atlas!r} is not one of {', '.join(ATLASES)}")
    result = {}
    for label, score in zip(scores.labels, scores.scores, strict=True):
        target = int(label) if atlas == "gif" else gif_to_nmm(int(label))
        if target:
            result[target] = float(score)
    return result


def database_labels(database: Semio2BrainDatabase, atlas: str) -> list[int]:
    """The parcellation labels that the database can score (the rest is stripped from the display)."""
    converted = [int(label) if atlas == "gif" else gif_to_nmm(int(label)) for label in database.labels]
    return sorted(label for label in converted if label)


def strip_parcellation(parcellation: sitk.Image, database: Semio2BrainDatabase, atlas: str) -> sitk.Image:
    """The parcellation with every structure the database never scores (white matter, ventricles...) set to 0."""
    array = sitk.GetArrayFromImage(parcellation)
    kept = np.where(np.isin(array, database_labels(database, atlas)), array, 0).astype(np.int16)
    image = sitk.GetImageFromArray(kept)
    image.CopyInformation(parcellation)
    return image


def score_image(scores: SemiologyScores, parcellation: sitk.Image, atlas: str) -> sitk.Image:
    """Float32 image on the parcellation's grid whose voxels hold the score of their label (0 elsewhere)."""
    labels = sitk.GetArrayViewFromImage(parcellation).astype(np.int64)
    if labels.size == 0 or labels.max() < 0:
        raise InputError("parcellation", "is empty")
    lookup = np.zeros(max(int(labels.max()), 0) + 1, dtype=np.float32)
    for label, score in scores_by_atlas_label(scores, atlas).items():
        if label < len(lookup):
            lookup[label] = score
    image = sitk.GetImageFromArray(lookup[np.clip(labels, 0, None)])
    image.CopyInformation(parcellation)
    return image


def write_scores_csv(scores: SemiologyScores, path: str | os.PathLike[str], only_positive: bool = True) -> Path:
    """CSV with columns label, name, hemisphere, datapoints, score (sorted by score), written atomically."""
    with atomic_output(path) as temporary, open(temporary, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for record in scores.records(only_positive):
            writer.writerow({**record, "datapoints": repr(record["datapoints"]), "score": repr(record["score"])})
    return Path(path)


@dataclass(frozen=True)
class LabelDisplay:
    """How one structure is drawn: colour-map position ``x`` in [0, 1] and entry ``index``, opacities."""

    score: float
    x: float
    index: int
    opacity_2d: float
    has_data: bool


def display_properties(
    scores: dict[int, float], colour_count: int = 256, min_opacity: float = 0.25
) -> dict[int, LabelDisplay]:
    """The published tool's colouring (METHOD.md section 7) for ``label -> score``.

    x = (s - min) / (max - min) over all scores (zeros included); colour entry round((N - 1) x) (round
    half to even); 2D opacity x (1 - o) + o for scored structures, 0 for the others.
    """
    if not 0.0 <= min_opacity <= 1.0:
        raise InputError("minimum opacity", f"{min_opacity} is not in [0, 1]")
    if colour_count < 2:
        raise InputError("colour map", f"needs at least 2 colours, not {colour_count}")
    values = np.array(list(scores.values()), dtype=np.float64)
    low, high = (float(values.min()), float(values.max())) if len(values) else (0.0, 0.0)
    result = {}
    for label, score in scores.items():
        if score > 0:
            x = 1.0 if high == low else (score - low) / (high - low)
            result[label] = LabelDisplay(
                score, x, int(round((colour_count - 1) * x)), x * (1 - min_opacity) + min_opacity, True
            )
        else:
            result[label] = LabelDisplay(score, 0.0, 0, 0.0, False)
    return result
