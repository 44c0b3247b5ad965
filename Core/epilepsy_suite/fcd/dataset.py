"""Finding subjects (the Bonn FCD II BIDS layout, a CSV list, the 59/12/14 split) and the training
subject in the network's frame.

The open Bonn dataset (Schuch et al. 2023) is BIDS: ``sub-XXXXX/anat/sub-XXXXX_acq-*_T1w.nii.gz``,
``..._FLAIR.nii.gz`` and a lesion mask ``..._FLAIR_roi.nii.gz`` for patients; the patterns are
configurable for other layouts.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..errors import InputError
from ..geometry import to_ras_array
from ..io import check_same_grid, open_text
from .preprocessing import network_input, prepare_images
from .presets import DEFAULT_PRESET, Preset


@dataclass
class TrainingSubject:
    """(2, X, Y, Z) image (T1, FLAIR in [0, 1]) and (1, X, Y, Z) lesion label, indexed (x, y, z)
    in RAS+ as the network sees them (:func:`~epilepsy_suite.fcd.preprocessing.network_input`)."""

    name: str
    image: np.ndarray
    label: np.ndarray

    @classmethod
    def from_images(cls, name: str, t1: sitk.Image, flair: sitk.Image, lesion: sitk.Image) -> TrainingSubject:
        image, _ = network_input(t1, flair)
        check_same_grid(t1, lesion, "T1", f"{name} lesion")
        label = (to_ras_array(lesion)[0] > 0)[np.newaxis].astype(np.float32)
        if not label.any():
            raise InputError(name, "lesion mask is empty")
        return cls(name, image, label)


def synthetic_training_subjects(
    seeds: list[int], spacing: float = 2.0, preset: str | Preset = DEFAULT_PRESET, prefix: str = "synthetic"
) -> list[TrainingSubject]:
    """Synthetic FCD subjects (:func:`~epilepsy_suite.fcd.synthetic.make_synthetic_subject`, one
    per seed, named ``<prefix>-<seed:03d>``) prepared exactly as inference prepares a subject
    with ``preset`` (no registration: they already lie on the template grid), so that a model
    trained on them sees at inference the intensities it was trained on."""
    from .synthetic import make_synthetic_subject

    subjects = []
    for seed in seeds:
        synthetic = make_synthetic_subject(seed, spacing=spacing)
        prepared = prepare_images(synthetic.t1, synthetic.flair, synthetic.lesion, register_to_mni=False,
                                  coregister=False, preset=preset)  # fmt: skip
        subjects.append(
            TrainingSubject.from_images(f"{prefix}-{seed:03d}", prepared.t1, prepared.flair, prepared.lesion)
        )
    return subjects


@dataclass(frozen=True)
class SubjectFiles:
    subject: str
    t1: Path
    flair: Path
    lesion: Path | None


@dataclass(frozen=True)
class BidsPatterns:
    """Glob patterns, relative to each subject folder."""

    t1: str = "anat/*T1w.nii*"
    flair: str = "anat/*FLAIR.nii*"
    lesion: str = "anat/*roi*.nii*"
    subject: str = "sub-*"


def _single(folder: Path, pattern: str, what: str, required: bool) -> Path | None:
    matches = sorted(path for path in folder.glob(pattern) if "roi" not in path.name or "roi" in pattern)
    if not matches:
        if required:
            raise InputError(folder, f"no {what} matching {pattern!r}")
        return None
    return matches[0]


def find_bids_subjects(
    root: str | os.PathLike[str], patterns: BidsPatterns = BidsPatterns(), require_lesion: bool = True
) -> list[SubjectFiles]:
    """All subjects of a BIDS folder that have T1 and FLAIR (and a lesion mask if required)."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "dataset folder not found")
    subjects = []
    for folder in sorted(root.glob(patterns.subject)):
        if not folder.is_dir():
            continue
        t1 = _single(folder, patterns.t1, "T1", required=False)
        flair = _single(folder, patterns.flair, "FLAIR", required=False)
        lesion = _single(folder, patterns.lesion, "lesion mask", required=False)
        if t1 is None or flair is None or (require_lesion and lesion is None):
            continue
        subjects.append(SubjectFiles(folder.name, t1, flair, lesion))
    if not subjects:
        raise InputError(root, "no subject with T1, FLAIR and lesion mask found (check the BIDS patterns)")
    return subjects


def read_subject_csv(path: str | os.PathLike[str]) -> list[SubjectFiles]:
    """Subjects from a CSV with columns ``subject,t1,flair[,lesion]`` (paths relative to the CSV)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(path, "the subject list is a folder; give the CSV file")
    if not path.is_file():
        raise InputError(path, "subject list not found")
    with open_text(path) as handle:
        rows = list(csv.DictReader(handle))
    if not rows or not {"subject", "t1", "flair"} <= set(rows[0]):
        raise InputError(path, "the subject list needs the columns subject, t1, flair (and optionally lesion)")
    subjects = []
    for line, row in enumerate(rows, start=2):
        files = {key: (path.parent / row[key]).resolve() if row.get(key) else None for key in ("t1", "flair", "lesion")}
        for key in ("t1", "flair"):
            if files[key] is None:
                raise InputError(path, f"row {line}: the {key} column is empty")
        subjects.append(SubjectFiles(row["subject"], files["t1"], files["flair"], files["lesion"]))  # type: ignore[arg-type]
    return subjects


def split_subjects(
    subjects: list, seed: int = 0, fractions: tuple[int, int, int] = (59, 12, 14)
) -> tuple[list, list, list]:
    """Shuffle with ``seed`` and split into train/validation/test in the paper's 59/12/14 proportions.

    With 85 subjects the sizes are exactly 59, 12 and 14; other sizes keep the proportions
    (at least one validation and one test subject when there are three or more).
    """
    order = np.random.default_rng(seed).permutation(len(subjects))
    shuffled = [subjects[index] for index in order]
    total = sum(fractions)
    n = len(shuffled)
    n_val = round(n * fractions[1] / total)
    n_test = round(n * fractions[2] / total)
    if n >= 3:
        n_val, n_test = max(n_val, 1), max(n_test, 1)
    n_train = n - n_val - n_test
    return shuffled[:n_train], shuffled[n_train : n_train + n_val], shuffled[n_train + n_val :]
