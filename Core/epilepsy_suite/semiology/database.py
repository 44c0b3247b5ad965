"""The Semio2Brain database folder, read once into arrays and cached on disk.

The user provides the folder (``Semio2Brain Database.xlsx`` and its companion files, MIT licence,
from the Semiology Visualisation Tool's repository). :func:`load_database` validates it, turns it into a
:class:`Semio2BrainDatabase` (numpy arrays, one row per literature row) and pickles that next to a
checksum of every input file, so a second start does not parse the spreadsheet again.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io import atomic_output
from ..io.text import open_text, read_text
from .terms import DICTIONARY_NAME, LATERALITY_NAMES, POSTICTAL_PATTERNS, TermDictionary, rows_matching

LOG = logging.getLogger(__name__)

WORKBOOK_NAME = "Semio2Brain Database.xlsx"
HIERARCHY_NAME = "region_hierarchy.yaml"
PRIOR_NAME = "p_GIF_norm_TS.csv"
LABEL_NAMES_NAME = "BrainAnatomyLabelsV3_0.txt"
REQUIRED_FILES = (WORKBOOK_NAME, DICTIONARY_NAME, HIERARCHY_NAME, PRIOR_NAME, *LATERALITY_NAMES)
OPTIONAL_FILES = (LABEL_NAMES_NAME,)
WHERE_TO_GET = (
    "get the Semio2Brain database folder (resources/ and slicer/Resources/ of "
    "github.com/thenineteen/Semiology-Visualisation-Tool, MIT licence) and point --database at it"
)

MAIN_SHEET = "Main"
SIDES_SHEET = "Full GIF Map for Review "
GIF_SHEETS = (
    "GIF TL",
    "GIF FL",
    "GIF PL",
    "GIF OL",
    "GIF CING",
    "GIF INSULA",
    "GIF HYPOTHALAMUS",
    "GIF CEREBELLUM",
    "GIF MIXED",
)
MAIN_HEADER_ROW = 2  # Excel row of the header; row 1 holds group titles
MAIN_LAST_COLUMN = 129  # A:DY
MAIN_LAST_ROW = 2817

REPORTED = "Reported Semiology"
CATEGORY = "Semiology Category"
REFERENCE = "Reference"
SEIZURE_FREEDOM = "Post-op Sz Freedom (Engel Ia, Ib; ILAE 1, 2)"
CONCORDANCE = "Concordant Neurophys & Imaging (MRI, PET, SPECT)"
SEEG = "sEEG (y) and/or ES (ES)"
GROUND_TRUTHS = (SEIZURE_FREEDOM, CONCORDANCE, SEEG)
PAEDIATRIC = "paediatric subgroup <7 years (0-6 yrs) y/n"
CORTICAL_STIMULATION = "Cortical Stimulation (CS)"
SPONTANEOUS = "Spontaneous Semiology (SS)"
TOPOLOGY = "Epilepsy Topology (ET)"
APPROACHES = (CORTICAL_STIMULATION, SPONTANEOUS, TOPOLOGY)
LATERALISING = ("Lateralising", "CL", "IL", "BL (Non-lateralising)", "DomH", "NonDomH", "Localising")
FIRST_REGION = "TL"
LAST_REGION = "Perisylvian"
REQUIRED_COLUMNS = (REFERENCE, REPORTED, CATEGORY, *GROUND_TRUTHS, *LATERALISING, PAEDIATRIC, *APPROACHES)

CACHE_VERSION = 3  # 3: companion files in Windows-1252 decoded (label names had replacement characters)


def column_letter(index: int) -> str:
    """Excel column letters of a 0-based column index (0 -> A, 27 -> AB)."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def default_cache_dir() -> Path:
    """Where parsed databases and query results are kept (``$EPILEPSY_SUITE_CACHE`` or ~/.cache)."""
    root = os.environ.get("EPILEPSY_SUITE_CACHE") or Path.home() / ".cache" / "epilepsy_suite"
    return Path(root) / "semiology"


@dataclass
class Semio2BrainDatabase:
    """The database in arrays; ``R`` = number of kept rows, ``C`` = number of region columns.

    Attributes:
        excel_rows: (R,) int, the Excel row of each kept row of sheet ``Main``.
        reported, category: R texts (``None`` where the cell is empty or not text) that terms match.
        counts: dict column name -> (R,) float64 of the lateralising/localising columns (NaN = empty).
        regions: (R, C) float64 region counts (NaN = empty); ``region_names`` their C headers.
        ground_truth_codes: (R, 3) int32 codes of the seizure-freedom, concordance and sEEG cells
            (0 = empty; ``ground_truth_values[k][code]`` is the cell text).
        paediatric_yes: (R,) bool, paediatric cell exactly ``y``.
        approach_flags: (R, 3) bool, CS, SS, ET cells not empty.
        row_groups: (R,) int, equal for rows identical in every column other than the ground truths.
        region_labels: region name -> tuple of GIF labels (from the ``GIF *`` sheets).
        label_sides: GIF label -> "left", "right" or "midline" for every reachable label.
        prior_labels, prior: the labels and probabilities of ``p_GIF_norm_TS.csv``.
        hierarchy: list of (parent, children) in the reversal order of ``region_hierarchy.yaml``.
        terms: the term dictionary and laterality rules.
        term_masks: term -> (R,) bool, the rows each pre-defined term matches (section 3.3 of METHOD.md);
            ``postictal_rows`` the same for the postictal patterns.
        label_names: GIF label -> structure name (``BrainAnatomyLabelsV3_0.txt`` when present).
        checksum: SHA-256 over every input file; keys every cache.
    """

    folder: Path
    checksum: str
    excel_rows: np.ndarray
    reported: list[str | None]
    category: list[str | None]
    counts: dict[str, np.ndarray]
    regions: np.ndarray
    region_names: list[str]
    ground_truth_codes: np.ndarray
    ground_truth_values: list[list[str | None]]
    paediatric_yes: np.ndarray
    approach_flags: np.ndarray
    row_groups: np.ndarray
    region_labels: dict[str, tuple[int, ...]]
    label_sides: dict[int, str]
    prior_labels: np.ndarray
    prior: np.ndarray
    hierarchy: list[tuple[str, tuple[str, ...]]]
    terms: TermDictionary
    label_names: dict[int, str] = field(default_factory=dict)
    term_masks: dict[str, np.ndarray] = field(default_factory=dict)
    postictal_rows: np.ndarray | None = None

    @property
    def number_of_rows(self) -> int:
        return len(self.excel_rows)

    @property
    def labels(self) -> np.ndarray:
        """Every GIF label reachable from a region (sorted)."""
        return np.array(sorted(self.label_sides), dtype=np.int64)

    def label_name(self, label: int) -> str:
        return self.label_names.get(int(label), f"GIF {int(label)}")


# ---------------------------------------------------------------------------------------------- checks


def check_folder(folder: str | os.PathLike[str]) -> Path:
    """The database folder as a Path, or an :class:`InputError` naming what is missing."""
    if folder is None:
        raise InputError("semiology database", f"no database folder given: {WHERE_TO_GET}")
    folder = Path(folder).expanduser()
    if folder.is_file():
        raise InputError(folder, f"is a file; give the Semio2Brain database folder that holds it; {WHERE_TO_GET}")
    if not folder.is_dir():
        raise InputError(folder, f"the Semio2Brain database folder does not exist; {WHERE_TO_GET}")
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise InputError(folder, f"not a Semio2Brain database folder, missing {', '.join(missing)}; {WHERE_TO_GET}")
    return folder


def folder_checksum(folder: Path) -> str:
    digest = hashlib.sha256(f"semio2brain-cache-v{CACHE_VERSION}".encode())
    for name in (*REQUIRED_FILES, *OPTIONAL_FILES):
        path = folder / name
        digest.update(name.encode())
        if path.is_file():
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------- loading


def load_database(
    folder: str | os.PathLike[str],
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
) -> Semio2BrainDatabase:
    """Read (or take from the on-disk cache) the Semio2Brain database in ``folder``.

    Args:
        folder: the folder with ``Semio2Brain Database.xlsx`` and its companion files.
        cache_dir: where the parsed form is kept (default :func:`default_cache_dir`).
        use_cache: ``False`` always parses the files and writes no cache.

    Raises:
        InputError: a file is missing or malformed (the message names file, sheet, cell and problem).
    """
    folder = check_folder(folder)
    checksum = folder_checksum(folder)
    cache_path = Path(cache_dir or default_cache_dir()) / f"database-{checksum[:32]}.pickle"
    if use_cache and cache_path.is_file():
        try:
            with open(cache_path, "rb") as stream:
                database = pickle.load(stream)
            if isinstance(database, Semio2BrainDatabase) and database.checksum == checksum:
                database.folder = folder
                return database
        except Exception as error:  # a stale or damaged cache is rebuilt, never trusted
            LOG.warning("ignoring unreadable semiology cache %s (%s)", cache_path, error)
    database = _parse(folder, checksum)
    if use_cache:
        try:
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_output(cache_path) as temporary, open(temporary, "wb") as stream:
                pickle.dump(database, stream, protocol=pickle.HIGHEST_PROTOCOL)
        except OSError as error:
            LOG.warning("could not write the semiology cache %s (%s)", cache_path, error)
    return database


def _parse(folder: Path, checksum: str) -> Semio2BrainDatabase:
    import openpyxl

    terms = TermDictionary.from_folder(folder)
    workbook_path = folder / WORKBOOK_NAME
    try:
        workbook = openpyxl.load_workbook(workbook_path, read_only=True, data_only=True)
    except Exception as error:
        raise InputError(workbook_path, f"cannot be read as an Excel workbook ({error})") from None
    try:
        missing = [name for name in (MAIN_SHEET, SIDES_SHEET, *GIF_SHEETS) if name not in workbook.sheetnames]
        if missing:
            raise InputError(workbook_path, f"missing sheet(s) {', '.join(repr(name) for name in missing)}")
        main = _read_main(workbook_path, workbook[MAIN_SHEET])
        region_labels = _read_region_labels(workbook_path, workbook, main["region_names"])
        label_sides = _read_sides(workbook_path, workbook[SIDES_SHEET], region_labels)
    finally:
        workbook.close()
    prior_labels, prior = _read_prior(folder / PRIOR_NAME)
    hierarchy = _read_hierarchy(folder / HIERARCHY_NAME)
    label_names = _read_label_names(folder / LABEL_NAMES_NAME)
    texts = (main["reported"], main["category"])
    term_masks = {term: rows_matching(terms.patterns[term], texts, f"term {term!r}") for term in terms.names}
    postictal_rows = rows_matching(POSTICTAL_PATTERNS, texts, "postictal")
    return Semio2BrainDatabase(
        folder=folder,
        checksum=checksum,
        region_labels=region_labels,
        label_sides=label_sides,
        prior_labels=prior_labels,
        prior=prior,
        hierarchy=hierarchy,
        terms=terms,
        label_names=label_names,
        term_masks=term_masks,
        postictal_rows=postictal_rows,
        **main,
    )


def _as_number(value, path: Path, sheet: str, row: int, column: int, header: str) -> float:
    if value is None:
        return np.nan
    if isinstance(value, bool):
        value = str(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return np.nan
        try:
            return float(text)
        except ValueError:
            pass
    raise InputError(
        path,
        f"sheet {sheet!r}, cell {column_letter(column)}{row} (column {header!r}): {value!r} is not a number",
    )


def _read_main(path: Path, sheet) -> dict:
    rows = list(
        sheet.iter_rows(min_row=MAIN_HEADER_ROW, max_row=MAIN_LAST_ROW, max_col=MAIN_LAST_COLUMN, values_only=True)
    )
    if not rows:
        raise InputError(path, f"sheet {MAIN_SHEET!r} is empty")
    header = [value if isinstance(value, str) else None for value in rows[0]]
    column_of = {}
    for index, name in enumerate(header):
        if name is not None and name not in column_of:
            column_of[name] = index
    missing = [name for name in REQUIRED_COLUMNS if name not in column_of]
    for name in (FIRST_REGION, LAST_REGION):
        if name not in column_of:
            missing.append(name)
    if missing:
        raise InputError(
            path,
            f"sheet {MAIN_SHEET!r}, header row {MAIN_HEADER_ROW}: missing column(s) {', '.join(map(repr, missing))}",
        )
    first_region, last_region = column_of[FIRST_REGION], column_of[LAST_REGION]
    if last_region < first_region:
        raise InputError(path, f"sheet {MAIN_SHEET!r}: region column {LAST_REGION!r} comes before {FIRST_REGION!r}")
    width = len(header)
    data = [tuple(row) + (None,) * (width - len(row)) for row in rows[1:]]
    excel_rows = np.arange(MAIN_HEADER_ROW + 1, MAIN_HEADER_ROW + 1 + len(data))
    keep = [index for index, row in enumerate(data) if any(not _empty(value) for value in row)]
    data = [data[index] for index in keep]
    excel_rows = excel_rows[keep]
    if not data:
        raise InputError(path, f"sheet {MAIN_SHEET!r} has no data rows")

    numeric_columns = [column_of[name] for name in LATERALISING] + list(range(first_region, last_region + 1))
    numbers = {}
    for column in numeric_columns:
        values = [row[column] for row in data]
        converted = [
            np.nan
            if value is None
            else float(value)
            if type(value) in (int, float)
            else _as_number(value, path, MAIN_SHEET, int(excel_row), column, str(header[column]))
            for value, excel_row in zip(values, excel_rows, strict=True)
        ]
        numbers[column] = np.array(converted, dtype=np.float64)
    region_columns = [
        column
        for column in range(first_region, last_region + 1)
        if header[column] is not None and not np.all(np.isnan(numbers[column]))
    ]
    regions = np.stack([numbers[column] for column in region_columns], axis=1)
    counts = {name: numbers[column_of[name]] for name in LATERALISING}

    # Forward-filled Reference, then value-based row identity (ground truths kept apart: filters blank them).
    reference_column = column_of[REFERENCE]
    previous = None
    rows_for_identity = []
    ground_truth_columns = [column_of[name] for name in GROUND_TRUTHS]
    for row in data:
        values = list(row)
        if _empty(values[reference_column]):
            values[reference_column] = previous
        previous = values[reference_column]
        for column in numeric_columns:
            values[column] = None
        for column in ground_truth_columns:
            values[column] = None
        rows_for_identity.append(tuple(None if value == "" else value for value in values))
    group_of: dict[tuple, int] = {}
    row_groups = np.empty(len(data), dtype=np.int64)
    # Numbers compare as parsed (text '19\n' equals 19.0); NaN bytes are all the same np.nan.
    numeric_block = np.ascontiguousarray(np.stack([numbers[column] for column in numeric_columns], axis=1))
    for index, values in enumerate(rows_for_identity):
        key = (values, numeric_block[index].tobytes())
        row_groups[index] = group_of.setdefault(key, len(group_of))

    ground_truth_values: list[list[str | None]] = []
    ground_truth_codes = np.zeros((len(data), len(GROUND_TRUTHS)), dtype=np.int32)
    for position, column in enumerate(ground_truth_columns):
        values: list = [None]
        code_of: dict = {}
        for index, row in enumerate(data):
            value = row[column]
            if _empty(value):
                continue
            if value not in code_of:
                code_of[value] = len(values)
                values.append(value)
            ground_truth_codes[index, position] = code_of[value]
        ground_truth_values.append(values)

    def texts(column: int) -> list[str | None]:
        return [row[column] if isinstance(row[column], str) else None for row in data]

    return {
        "excel_rows": excel_rows,
        "reported": texts(column_of[REPORTED]),
        "category": texts(column_of[CATEGORY]),
        "counts": counts,
        "regions": regions,
        "region_names": [str(header[column]) for column in region_columns],
        "ground_truth_codes": ground_truth_codes,
        "ground_truth_values": ground_truth_values,
        "paediatric_yes": np.array([row[column_of[PAEDIATRIC]] == "y" for row in data]),
        "approach_flags": np.stack(
            [np.array([not _empty(row[column_of[name]]) for row in data]) for name in APPROACHES], axis=1
        ),
        "row_groups": row_groups,
    }


def _empty(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or (isinstance(value, str) and value == "")


def _read_region_labels(path: Path, workbook, region_names: list[str]) -> dict[str, tuple[int, ...]]:
    labels: dict[str, list[int]] = {}
    for sheet_name in GIF_SHEETS:
        rows = list(workbook[sheet_name].iter_rows(values_only=True))
        if len(rows) < 2:
            raise InputError(path, f"sheet {sheet_name!r} has no region names on row 2")
        for column, name in enumerate(rows[1]):
            if not isinstance(name, str) or not name:
                continue
            found = labels.setdefault(name, [])
            for row_number, row in enumerate(rows[2:], start=3):
                value = row[column] if column < len(row) else None
                if _empty(value):
                    continue
                number = _as_number(value, path, sheet_name, row_number, column, name)
                if number != int(number):
                    raise InputError(
                        path,
                        f"sheet {sheet_name!r}, cell {column_letter(column)}{row_number}: {value!r} is not a label",
                    )
                if int(number) not in found:
                    found.append(int(number))
    unmapped = [name for name in region_names if name not in labels]
    if unmapped:
        raise InputError(path, f"region column(s) of {MAIN_SHEET!r} without GIF labels in the GIF sheets: {unmapped}")
    return {name: tuple(labels[name]) for name in region_names}


def _read_sides(path: Path, sheet, region_labels: dict[str, tuple[int, ...]]) -> dict[int, str]:
    rows = list(sheet.iter_rows(values_only=True))
    header = list(rows[0]) if rows else []
    sides = {}
    for side, letter in (("right", "R"), ("left", "L")):
        if letter not in header:
            raise InputError(path, f"sheet {SIDES_SHEET!r}, header row 1: missing column {letter!r}")
        column = header.index(letter)
        for row in rows[1:]:
            value = row[column] if column < len(row) else None
            if isinstance(value, int | float) and not _empty(value):
                sides.setdefault(int(value), side)
    reachable = sorted({label for labels in region_labels.values() for label in labels})
    return {label: sides.get(label, "midline") for label in reachable}


def _read_prior(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open_text(path) as stream:
        rows = [row for row in csv.reader(stream) if row]
    try:
        labels = np.array([int(float(value)) for value in rows[0][1:]], dtype=np.int64)
        prior = np.array([float(value) for value in rows[1][1:]], dtype=np.float64)
    except (IndexError, ValueError):
        raise InputError(path, "expected a row of label numbers and a row 'probability,<values>'") from None
    if len(labels) != len(prior) or not np.all((prior > 0) & (prior < 1)):
        raise InputError(path, "needs one probability in (0, 1) per label")
    return labels, prior


def _read_hierarchy(path: Path) -> list[tuple[str, tuple[str, ...]]]:
    import yaml

    try:
        content = yaml.load(read_text(path), Loader=yaml.SafeLoader)
        entries = content["reversal_order"]
        return [(str(entry["parent"]), tuple(str(child) for child in entry["children"])) for entry in entries]
    except (yaml.YAMLError, KeyError, TypeError) as error:
        raise InputError(path, f"expected 'reversal_order: - parent: ... children: [...]' ({error})") from None


def _read_label_names(path: Path) -> dict[int, str]:
    if not path.is_file():
        return {}
    names = {}
    for line in read_text(path).splitlines():
        match = re.match(r"\s*(\d+)\s+(\S+)", line)
        if match:
            names[int(match.group(1))] = match.group(2)
    return names


# ---------------------------------------------------------------------------------------------- settings

FOLDER_ENVIRONMENT = "EPILEPSY_SUITE_SEMIO2BRAIN"


def _remembered_path() -> Path:
    return default_cache_dir() / "database_folder.txt"


def remember_folder(folder: str | os.PathLike[str]) -> None:
    """Store the database folder so that later commands need no ``--database``."""
    try:
        path = _remembered_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(path) as temporary:
            Path(temporary).write_text(str(Path(folder).expanduser().resolve()), encoding="utf-8")
    except OSError as error:
        LOG.warning("could not remember the semiology database folder (%s)", error)


def resolve_folder(folder: str | os.PathLike[str] | None) -> Path:
    """The folder given, else ``$EPILEPSY_SUITE_SEMIO2BRAIN``, else the one remembered last time."""
    if folder is None:
        folder = os.environ.get(FOLDER_ENVIRONMENT)
    if folder is None and _remembered_path().is_file():
        folder = read_text(_remembered_path()).strip() or None
    checked = check_folder(folder)
    remember_folder(checked)
    return checked
