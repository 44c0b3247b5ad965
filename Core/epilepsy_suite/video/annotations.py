"""Seizure annotations and the frame and snippet labels derived from them (thesis eq. 2.1).

A seizure video starts at the clinical onset ``t0`` and ends at the offset ``t1``; tonic-clonic
seizures (TCS) also have the onset of generalisation ``tG``. Label 0 is focal-onset (FOS)
semiology, 1 generalising (TCS) semiology. Times are seconds from the start of the file.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.text import open_text

CLASSES = ("FOS", "TCS")
REQUIRED_COLUMNS = ("video", "t0", "tG", "t1", "patient", "class")


@dataclass(frozen=True)
class SeizureAnnotation:
    """One annotated seizure recording (possibly with a second camera view)."""

    video: Path
    t0: float
    t1: float
    patient: str
    seizure_class: str  # "FOS" or "TCS"
    tG: float | None = None  # noqa: N815 (the thesis' symbol)
    second_view: Path | None = None

    def __post_init__(self) -> None:
        source = self.video
        if self.seizure_class not in CLASSES:
            raise InputError(source, f"unknown seizure class {self.seizure_class!r}; use FOS or TCS")
        if not (math.isfinite(self.t0) and math.isfinite(self.t1)) or self.t1 <= self.t0 or self.t0 < 0:
            raise InputError(source, f"onset t0 = {self.t0} s and offset t1 = {self.t1} s: need 0 <= t0 < t1")
        if self.seizure_class == "TCS":
            # tG None: a TCS whose generalisation time is unknown (its snippets then have no label);
            # annotation files must give it (see read_annotations).
            if self.tG is not None and not self.t0 <= self.tG < self.t1:
                raise InputError(source, f"a TCS needs t0 <= tG < t1 (t0 {self.t0}, tG {self.tG}, t1 {self.t1})")
        elif self.tG is not None:
            raise InputError(source, f"a FOS has no generalisation time, but tG = {self.tG} s is given")

    @property
    def label(self) -> int:
        """Seizure-level label: 1 for TCS, 0 for FOS."""
        return int(self.seizure_class == "TCS")

    @property
    def duration(self) -> float:
        return self.t1 - self.t0

    @property
    def generalisation_ratio(self) -> float | None:
        """``r = (tG - t0) / (t1 - t0)``, the share of the seizure before generalisation."""
        return None if self.tG is None else (self.tG - self.t0) / self.duration

    @property
    def views(self) -> tuple[Path, ...]:
        return (self.video,) if self.second_view is None else (self.video, self.second_view)


def frame_labels(times: np.ndarray, generalisation_time: float | None) -> np.ndarray:
    """``y_k = 0`` if ``t_k < tG`` else 1 (``tG`` = ``None`` or infinity for a FOS). int64 array."""
    times = np.asarray(times, dtype=float)
    if generalisation_time is None:
        return np.zeros(times.shape, dtype=np.int64)
    return (times >= generalisation_time).astype(np.int64)


def snippet_labels(start_times: np.ndarray, length: int, fps: float, generalisation_time: float | None) -> np.ndarray:
    """Eq. 2.1: a snippet of ``length`` frames starting at ``t_k`` is 1 when its midpoint
    ``(t_k + t_{k+l}) / 2`` is not before ``tG``."""
    starts = np.asarray(start_times, dtype=float)
    return frame_labels(starts + length / fps / 2, generalisation_time)


def read_annotations(path: str | PathLike[str]) -> list[SeizureAnnotation]:
    """Read a CSV with columns ``video, t0, tG, t1, patient, class`` (``tG`` empty for FOS) and
    optionally ``second_view``. Relative video paths are taken from the CSV's folder."""
    path = Path(path)
    if path.is_dir():
        raise InputError(path, "the annotation table is a folder; give the CSV file")
    if not path.is_file():
        raise InputError(path, "annotation file does not exist")
    with open_text(path) as handle:
        reader = csv.DictReader(handle)
        columns = [name.strip() for name in reader.fieldnames or []]
        missing = [name for name in REQUIRED_COLUMNS if name not in columns]
        if missing:
            raise InputError(path, f"missing column(s) {', '.join(missing)}; found {', '.join(columns) or 'none'}")
        annotations = []
        for line, row in enumerate(reader, start=2):
            row = {key.strip(): (value or "").strip() for key, value in row.items() if key is not None}
            try:
                annotations.append(_annotation(row, path.parent))
            except InputError as error:
                raise InputError(path, f"line {line}: {error.problem}") from None
            except ValueError as error:
                raise InputError(path, f"line {line}: {error}") from None
    if not annotations:
        raise InputError(path, "no annotation rows")
    return annotations


def _annotation(row: dict[str, str], folder: Path) -> SeizureAnnotation:
    def video_path(text: str) -> Path:
        candidate = Path(text)
        return candidate if candidate.is_absolute() else folder / candidate

    if not row["video"]:
        raise ValueError("empty video path")
    second = row.get("second_view") or ""
    if row["class"].upper() == "TCS" and not row["tG"]:
        raise ValueError("a TCS needs its generalisation time tG")
    return SeizureAnnotation(
        video=video_path(row["video"]),
        t0=float(row["t0"]),
        t1=float(row["t1"]),
        patient=row["patient"],
        seizure_class=row["class"].upper(),
        tG=float(row["tG"]) if row["tG"] else None,
        second_view=video_path(second) if second else None,
    )


def write_annotations(annotations: list[SeizureAnnotation], path: str | PathLike[str]) -> Path:
    """Write ``annotations`` as a CSV that :func:`read_annotations` reads back from any working folder.

    :func:`read_annotations` resolves relative video paths against the CSV's folder, so videos
    under that folder are written relative to it and the others as absolute paths.
    """
    from ..io import atomic_output

    folder = Path(path).resolve().parent

    def stored(video: str | PathLike[str] | None) -> str:
        if not video:
            return ""
        absolute = Path(video).resolve()
        return str(absolute.relative_to(folder)) if absolute.is_relative_to(folder) else str(absolute)

    with atomic_output(path) as temporary, temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*REQUIRED_COLUMNS, "second_view"])
        for item in annotations:
            writer.writerow([stored(item.video), item.t0, "" if item.tG is None else item.tG, item.t1, item.patient,
                             item.seizure_class, stored(item.second_view)])  # fmt: skip
    return Path(path)
