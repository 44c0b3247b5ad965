"""The public GESTURES features data set (UCL Research Data Repository, DOI 10.5522/04/14781771).

Layout, as the authors' training code reads it (fepegar/gestures-miccai-2021, ``dataset.py`` and
``training.py``)::

    <root>/seizures.csv                      one row per seizure: Subject, Seizure, ...
    <root>/features_fpc_8_fps_15/            8 frames per clip (snippet), 15 fps
        <Subject>_<Seizure>_L/               one folder per camera view: L (large) or S (small)
            <snippet>.pth                    one 512-D R(2+1)D-34 feature vector per snippet
        <Subject>_<Seizure>_S/

* Snippets start on every frame (stride 1): a folder of ``N`` files covers ``N + 7`` frames,
  i.e. ``(N - 1) / 15 + 8 / 15`` seconds (the duration the authors compute); snippet ``k``
  starts at ``k / 15`` s after the clinical onset.
* Each ``.pth`` file holds one float tensor of 512 values (``torch.save(tensor)``); the authors
  stack a folder's files in sorted file-name order into ``(N, 512)``. We order them by the numbers
  in their names (the same order when the numbers are zero-padded).
* ``seizures.csv``: ``Subject`` and ``Seizure`` are read as text (zero-padded, e.g. ``061``,
  ``05``); the seizure is a TCS when ``GTCS`` is true (or, in the authors' own table, when
  ``OnsetClonic`` is not empty); ``Discard`` = ``Yes`` drops both views, ``Large`` the L view and
  ``Small`` the S view. A ``RatioGTCS`` column (share of the seizure before generalisation), when
  present, gives the generalisation time and so the snippet labels; without it the snippets of a
  TCS have no label and only the seizure classifier learns from them.
* The features are not standardised by the authors; their model sees them as they are.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import re
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..io import atomic_output
from ..io.text import open_text
from ..progress import CancelToken, ProgressCallback, track
from .annotations import SeizureAnnotation
from .dataset import FeatureItem, labelled_item

LOG = logging.getLogger(__name__)

TABLE = "seizures.csv"
VIEWS = {"L": "Large", "S": "Small"}
TRUE_WORDS = {"true", "1", "yes", "y", "tcs", "gtcs"}
FALSE_WORDS = {"false", "0", "no", "n", "fos", ""}
CACHE_FORMAT = "epilepsy-suite-gestures-features-cache-v1"


def features_folder_name(frames: int = 8, fps: int = 15) -> str:
    """``features_fpc_<frames>_fps_<fps>``, the data set's folder of snippet features."""
    return f"features_fpc_{frames}_fps_{fps}"


def _natural_key(path: Path) -> tuple:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.stem))


def snippet_files(folder: str | PathLike[str]) -> list[Path]:
    """The ``.pth`` files of one view folder, in temporal order (numbers in the names ascending)."""
    return sorted(Path(folder).glob("*.pth"), key=_natural_key)


def load_view_features(folder: str | PathLike[str], cache_folder: str | PathLike[str] | None = None) -> torch.Tensor:
    """The features of one view folder as one ``(N, F)`` float32 tensor (``F`` = 512).

    With ``cache_folder`` the stacked tensor is kept there (one file per view folder) and reused
    while the folder's file list and times are unchanged.

    Raises:
        InputError: naming the folder (no ``.pth`` file) or the file (unreadable, not a tensor, not
            one vector, or of another size than the folder's first file).
    """
    folder = Path(folder)
    paths = snippet_files(folder)
    if not paths:
        raise InputError(folder, "holds no snippet feature file (*.pth)")
    target = None
    if cache_folder is not None:
        stamp = f"{folder.resolve()}|{len(paths)}|{max(path.stat().st_mtime_ns for path in paths)}"
        digest = hashlib.sha1(stamp.encode()).hexdigest()[:10]
        target = Path(cache_folder) / f"{folder.name}.{digest}.gestures.pt"
        if target.is_file():
            payload = torch.load(target, map_location="cpu", weights_only=True)
            if isinstance(payload, dict) and payload.get("format") == CACHE_FORMAT:
                return payload["features"]
    rows = []
    for path in paths:
        try:
            vector = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises many types for corrupt or foreign files
            raise InputError(path, f"is not a readable PyTorch file ({type(error).__name__})") from None
        if not isinstance(vector, torch.Tensor) or not vector.is_floating_point():
            raise InputError(path, f"holds {type(vector).__name__}, not a float tensor of snippet features")
        if vector.squeeze().ndim != 1:
            raise InputError(path, f"holds a tensor of shape {tuple(vector.shape)}, not one feature vector")
        vector = vector.reshape(-1).float()
        if rows and len(vector) != len(rows[0]):
            raise InputError(path, f"holds {len(vector)} features, but {paths[0].name} holds {len(rows[0])}")
        rows.append(vector)
    features = torch.stack(rows)
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(target) as temporary:
            torch.save({"format": CACHE_FORMAT, "features": features}, temporary)
    return features


def _flag(text: str, column: str, table: Path, line: int) -> bool:
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise InputError(table, f"line {line}: {column} = {text!r} is neither true nor false")


def read_seizure_table(path: str | PathLike[str]) -> list[dict[str, object]]:
    """Rows of ``seizures.csv``: ``subject``, ``seizure`` (text), ``tcs`` (bool), ``ratio``
    (share of the seizure before generalisation, or None) and ``discard`` (set of views).

    Raises:
        InputError: naming the file: missing, no ``Subject`` / ``Seizure`` column, no class column
            (``GTCS``, ``OnsetClonic`` or ``RatioGTCS``), or an unreadable value.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "the GESTURES seizure table does not exist (the data set has it next to "
                         f"{features_folder_name()}/)")  # fmt: skip
    with open_text(path) as handle:
        reader = csv.DictReader(handle)
        columns = [name.strip() for name in reader.fieldnames or []]
        missing = [name for name in ("Subject", "Seizure") if name not in columns]
        if missing:
            raise InputError(path, f"missing column(s) {', '.join(missing)}; found {', '.join(columns) or 'none'}")
        if not {"GTCS", "OnsetClonic", "RatioGTCS"} & set(columns):
            raise InputError(path, "needs a GTCS (true/false), OnsetClonic or RatioGTCS column to tell TCS from FOS")
        rows = []
        for line, raw in enumerate(reader, start=2):
            row = {key.strip(): (value or "").strip() for key, value in raw.items() if key is not None}
            ratio_text = row.get("RatioGTCS", "")
            try:
                ratio = float(ratio_text) if ratio_text and ratio_text.lower() != "nan" else None
            except ValueError:
                raise InputError(path, f"line {line}: RatioGTCS = {ratio_text!r} is not a number") from None
            if "GTCS" in row:
                tcs = _flag(row["GTCS"], "GTCS", path, line)
            elif "OnsetClonic" in row:
                tcs = row["OnsetClonic"].lower() not in ("", "nan")
            else:
                tcs = ratio is not None
            if ratio is not None and not 0 <= ratio < 1:
                raise InputError(path, f"line {line}: RatioGTCS = {ratio} is not in [0, 1)")
            discard = row.get("Discard", "").lower()
            dropped = {"L", "S"} if discard == "yes" else {"L"} if discard == "large" else {"S"} if discard == "small" else set()  # fmt: skip
            rows.append({"subject": row["Subject"], "seizure": row["Seizure"], "tcs": tcs,
                         "ratio": ratio if tcs else None, "discard": dropped})  # fmt: skip
    if not rows:
        raise InputError(path, "no seizure rows")
    return rows


def _view_folder(features: Path, subject: str, seizure: str, view: str) -> Path | None:
    candidates = [features / f"{subject}_{seizure}_{view}"]
    if subject.isdigit() and seizure.isdigit():  # a table whose numbers lost their zeros
        candidates.append(features / f"{int(subject):03d}_{int(seizure):02d}_{view}")
    return next((folder for folder in candidates if folder.is_dir()), None)


def read_gestures_features(
    root: str | PathLike[str],
    frames: int = 8,
    fps: int = 15,
    views: Sequence[str] = ("L", "S"),
    cache_folder: str | PathLike[str] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    show_bar: bool = True,
) -> list[FeatureItem]:
    """One :class:`FeatureItem` per kept view of each seizure of the GESTURES features data set.

    Args:
        root: the data set folder (holding ``seizures.csv`` and ``features_fpc_<frames>_fps_<fps>/``),
            or that features folder itself (``seizures.csv`` then in its parent).
        frames, fps: snippet length (frames) and frame rate of the features folder to read.
        views: the camera views to use (``L``, ``S``).
        cache_folder: where to keep each view's stacked features (reading ~10^5 small files is slow).

    Items cover the whole seizure (``t0 = 0``, ``t1`` = the duration its snippets cover); both views
    of a seizure share ``annotation.video`` (``<features>/<Subject>_<Seizure>``), hence a fold.

    Raises:
        InputError: naming the folder or file at fault; no usable seizure at all.
    """
    root = Path(root)
    features_dir = root / features_folder_name(frames, fps)
    if not features_dir.is_dir() and root.name.startswith("features_fpc_"):
        features_dir, root = root, root.parent
    if not features_dir.is_dir():
        raise InputError(root, f"holds no {features_folder_name(frames, fps)}/ folder (the GESTURES features data set)")
    unknown = sorted(set(views) - set(VIEWS))
    if unknown:
        raise InputError("GESTURES views", f"unknown view(s) {unknown}; use L and/or S")
    table = read_seizure_table(root / TABLE)
    jobs = []
    for row in table:
        for view in views:
            if view in row["discard"]:
                continue
            folder = _view_folder(features_dir, row["subject"], row["seizure"], view)
            if folder is None:
                LOG.warning("%s: no features of %s_%s_%s", features_dir, row["subject"], row["seizure"], view)
                continue
            jobs.append((row, view, folder))
    items = []
    for row, view, folder in track(jobs, len(jobs), "GESTURES features", progress, cancel, show_bar):
        features = load_view_features(folder, cache_folder)
        count = len(features)
        duration = (count - 1) / fps + frames / fps
        ratio = row["ratio"]
        annotation = SeizureAnnotation(
            video=features_dir / f"{row['subject']}_{row['seizure']}", t0=0.0, t1=duration,
            patient=str(row["subject"]), seizure_class="TCS" if row["tcs"] else "FOS",
            tG=None if ratio is None else ratio * duration,
        )  # fmt: skip
        items.append(labelled_item(annotation, view, features, np.arange(count) / fps, frames, float(fps)))
    if not items:
        raise InputError(features_dir, f"no seizure of {TABLE} has features here")
    return items
