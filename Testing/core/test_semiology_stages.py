"""Every stage of the query method (METHOD.md) on a small hand-made database in the real format.

The fixture writes a workbook with the sheets, header rows and column names of ``Semio2Brain
Database.xlsx`` plus the companion files; every expected number below is worked out by hand in the
comments, in the manner of METHOD.md's worked example.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from epilepsy_suite.errors import InputError
from epilepsy_suite.semiology import NoDataError, QueryOptions, SemiologyEngine, SemiologyQuery, Side, load_database
from epilepsy_suite.semiology.maps import display_properties

TOLERANCE = 1e-12

REGIONS = ["TL", "Lateral Temporal", "STG", "FL", "Medial Frontal", "Cerebellum", "Never Used", "Perisylvian"]
OTHER_COLUMNS = [
    "Reference",
    "Reported Semiology",
    "Semiology Category",
    "Post-op Sz Freedom (Engel Ia, Ib; ILAE 1, 2)",
    "Concordant Neurophys & Imaging (MRI, PET, SPECT)",
    "sEEG (y) and/or ES (ES)",
    "Lateralising",
    "CL",
    "IL",
    "BL (Non-lateralising)",
    "DomH",
    "NonDomH",
    "Localising",
]
TAIL_COLUMNS = [
    "paediatric subgroup <7 years (0-6 yrs) y/n",
    "Cortical Stimulation (CS)",
    "Spontaneous Semiology (SS)",
    "Epilepsy Topology (ET)",
]
HEADER = OTHER_COLUMNS + REGIONS + TAIL_COLUMNS

# Excel row -> cells (missing = empty). Data start on Excel row 3.
ROWS = {
    3: {"Reference": "A", "Reported Semiology": "tonic-clonic seizure", "Semiology Category": "Motor",
        "Post-op Sz Freedom (Engel Ia, Ib; ILAE 1, 2)": "y", "Lateralising": 1, "IL": 1, "Localising": 2,
        "TL": 1, "Lateral Temporal": 1, "STG": 1, "Spontaneous Semiology (SS)": "y"},
    4: {"Reported Semiology": "Tonic clonic", "Concordant Neurophys & Imaging (MRI, PET, SPECT)": "y",
        "Lateralising": 2, "CL": 2, "Localising": 3, "FL": 2, "Medial Frontal": 1, "Cerebellum": 1,
        "Spontaneous Semiology (SS)": "y"},
    # Row 5 repeats row 4; its Reference is empty too, so after forward filling both read "A": one row.
    5: {"Reported Semiology": "Tonic clonic", "Concordant Neurophys & Imaging (MRI, PET, SPECT)": "y",
        "Lateralising": 2, "CL": 2, "Localising": 3, "FL": 2, "Medial Frontal": 1, "Cerebellum": 1,
        "Spontaneous Semiology (SS)": "y"},
    6: {"Reference": "B", "Reported Semiology": "tonic-clonic", "Post-op Sz Freedom (Engel Ia, Ib; ILAE 1, 2)": "y",
        "Lateralising": 1, "IL": 1, "Localising": 1, "FL": 1, "Epilepsy Topology (ET)": "y"},
    7: {"Reference": "C", "Reported Semiology": "postictal tonic-clonic", "sEEG (y) and/or ES (ES)": "y",
        "Lateralising": 1, "CL": 1, "Localising": 1, "TL": 1, "Spontaneous Semiology (SS)": "y"},
    8: {"Reference": "D", "Reported Semiology": "tonic-clonic", "sEEG (y) and/or ES (ES)": "ES",
        "Lateralising": 1, "IL": 1, "Localising": 1, "STG": 1, "Cortical Stimulation (CS)": "y"},
    9: {"Reference": "E", "Reported Semiology": "Tonic-clonic", "sEEG (y) and/or ES (ES)": "y",
        "Lateralising": 1, "CL": 1, "TL": 4, "paediatric subgroup <7 years (0-6 yrs) y/n": "y",
        "Spontaneous Semiology (SS)": "y"},
    10: {"Reference": "F", "Reported Semiology": "Vertigo", "Semiology Category": "Vestibular",
         "Concordant Neurophys & Imaging (MRI, PET, SPECT)": "y", "Lateralising": 0, "Localising": 1,
         "Perisylvian": 1, "Spontaneous Semiology (SS)": "y"},
    11: {"Reference": "G", "Reported Semiology": "postictal aphasia", "Concordant Neurophys & Imaging (MRI, PET, SPECT)": "y",
         "Lateralising": 1, "DomH": 1, "Localising": 1, "TL": 1, "Spontaneous Semiology (SS)": "y"},
    12: {"Reference": "H", "Reported Semiology": "speech arrest", "Semiology Category": "Aphasia",
         "Concordant Neurophys & Imaging (MRI, PET, SPECT)": "y", "Lateralising": 2, "DomH": 2, "Localising": 1,
         "TL": 1, "Spontaneous Semiology (SS)": "y"},
}  # fmt: skip

# GIF sheets: region -> labels (right, left pairs; 72 is midline vermis).
REGION_LABELS = {
    "GIF TL": {"TL": [32, 33, 185, 186], "Lateral Temporal": [185, 186, 201, 202], "STG": [201, 202]},
    "GIF FL": {"FL": [105, 106], "Medial Frontal": [151, 152]},
    "GIF CEREBELLUM": {"Cerebellum": [39, 40, 72]},
    "GIF MIXED": {"Perisylvian": [185, 186, 105, 106], "Never Used": [201]},
}
RIGHT = [32, 185, 201, 105, 151, 39]
LEFT = [33, 186, 202, 106, 152, 40]
DICTIONARY = """\
"semiology":
  motor:
    "Tonic-Clonic": ["tonic-? ?clonic", "tonic and clonic"]
  auras:
    "Vestibular": ["vertig", "vestibular"]
  language:
    "Aphasia": ["aphasi"]
  postictal:
    "Postictal Aphasia": ["postictal aphasia"]
"""
HIERARCHY = """\
reversal_order:
  - parent: TL
    children: [Lateral Temporal, Mesial Temporal]
  - parent: Lateral Temporal
    children: [STG]
  - parent: FL
    children: [Medial Frontal]
  - parent: Cerebellum
    children: [Hemisphere]
"""


def write_database(folder: Path, rows: dict[int, dict] = ROWS) -> Path:
    import openpyxl

    folder.mkdir(parents=True, exist_ok=True)
    workbook = openpyxl.Workbook()
    main = workbook.active
    main.title = "Main"
    main.append(["group titles are ignored"])
    main.append(HEADER)
    for excel_row, cells in rows.items():
        for name, value in cells.items():
            main.cell(row=excel_row, column=HEADER.index(name) + 1, value=value)
    for sheet_name in ("GIF TL", "GIF FL", "GIF PL", "GIF OL", "GIF CING", "GIF INSULA", "GIF HYPOTHALAMUS",
                       "GIF CEREBELLUM", "GIF MIXED"):  # fmt: skip
        sheet = workbook.create_sheet(sheet_name)
        sheet.append(["structure", "label"])
        regions = REGION_LABELS.get(sheet_name, {})
        sheet.append([None, None, *regions])
        for index in range(max((len(labels) for labels in regions.values()), default=0)):
            sheet.append([None, None, *(labels[index] if index < len(labels) else None for labels in regions.values())])
    sides = workbook.create_sheet("Full GIF Map for Review ")
    sides.append(["R", "L"])
    for right, left in zip(RIGHT, LEFT, strict=True):
        sides.append([right, left])
    workbook.save(folder / "Semio2Brain Database.xlsx")
    (folder / "semiology_dictionary.yaml").write_text(DICTIONARY)
    (folder / "region_hierarchy.yaml").write_text(HIERARCHY)
    labels = sorted({label for sheet in REGION_LABELS.values() for values in sheet.values() for label in values})
    (folder / "p_GIF_norm_TS.csv").write_text(
        "," + ",".join(map(str, labels)) + "\nprobability," + ",".join("0.05" for _ in labels) + "\n"
    )
    (folder / "semiologies_neutral_only.txt").write_text("Vestibular\n")
    (folder / "semiologies_neutral_also.txt").write_text("Tonic-Clonic\nAphasia\n")
    (folder / "semiologies_postictalsonly_neutral_only.txt").write_text("Postictal Aphasia\n")
    (folder / "semiologies_postictalsonly_neutral_also.txt").write_text("")
    return folder


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> SemiologyEngine:
    root = tmp_path_factory.mktemp("semio")
    return SemiologyEngine(write_database(root / "db"), cache_dir=root / "cache", disk_cache=False)


def values_by_label(labels, values) -> dict[int, float]:
    return {int(label): float(value) for label, value in zip(labels, values, strict=True)}


def test_reading_drops_empty_columns_and_forward_fills_reference(engine):
    database = engine.database
    assert database.number_of_rows == 10
    assert "Never Used" not in database.region_names  # empty in every row
    assert database.region_names == [name for name in REGIONS if name != "Never Used"]
    assert database.label_sides[72] == "midline" and database.label_sides[33] == "left"
    # Rows 4 and 5 are identical once row 5's empty Reference takes "A" from row 4 (itself filled from row 3).
    groups = dict(zip(database.excel_rows.tolist(), database.row_groups.tolist(), strict=True))
    assert groups[4] == groups[5] and len(set(groups.values())) == 9


def test_filters_matching_and_deduplication(engine):
    trace = engine.trace(SemiologyQuery("Tonic-Clonic", Side.LEFT))
    # Postictal row 7 removed, ET row 6 and CS row 8 dropped (GUI defaults).
    assert trace.pool_rows.tolist() == [3, 4, 5, 9, 10, 12]
    # Row 5 collapses onto row 4.
    assert trace.matched_rows.tolist() == [3, 4, 9]
    with_topology = engine.trace(
        SemiologyQuery("Tonic-Clonic", Side.LEFT), options=QueryOptions(epilepsy_topology=True)
    )
    assert with_topology.matched_rows.tolist() == [3, 4, 6, 9]
    with_stimulation = engine.trace(SemiologyQuery("Tonic-Clonic"), options=QueryOptions(cortical_stimulation=True))
    assert with_stimulation.matched_rows.tolist() == [3, 4, 8, 9]
    adults = engine.trace(SemiologyQuery("Tonic-Clonic"), options=QueryOptions(paediatric_and_adult=False))
    assert adults.matched_rows.tolist() == [3, 4]
    children = engine.trace(SemiologyQuery("Tonic-Clonic"), options=QueryOptions(only_paediatric=True))
    assert children.matched_rows.tolist() == [9]
    # Ground truths: unticking seizure freedom drops row 3 (its only ground truth); the exact sEEG "y" of row 9
    # is blanked when sEEG is unticked, so row 9 goes too; an "ES" would stay.
    no_freedom = engine.trace(SemiologyQuery("Tonic-Clonic"), options=QueryOptions(seizure_freedom=False))
    assert no_freedom.matched_rows.tolist() == [4, 9]
    no_seeg = engine.trace(SemiologyQuery("Tonic-Clonic"), options=QueryOptions(seeg=False, cortical_stimulation=True))
    assert no_seeg.matched_rows.tolist() == [3, 4, 8]
    # Postictal-only terms use only the postictal rows; other terms never see them.
    assert engine.trace(SemiologyQuery("Postictal Aphasia")).pool_rows.tolist() == [7, 11]
    assert engine.trace(SemiologyQuery("Aphasia", Side.NONE)).matched_rows.tolist() == [12]


def test_hierarchy_reversal_and_normalisation(engine):
    trace = engine.trace(SemiologyQuery("Tonic-Clonic", Side.LEFT))
    names = trace.region_names
    assert names == ["TL", "Lateral Temporal", "STG", "FL", "Medial Frontal", "Cerebellum"]
    nan = np.nan
    entered = [[1, 1, 1, nan, nan, nan], [nan, nan, nan, 2, 1, 1], [4, nan, nan, nan, nan, nan]]
    np.testing.assert_array_equal(trace.entered, entered)
    # TL - (LT 1 + Mesial empty) = 0; LT - STG = 0; FL - MF = 1; Cerebellum's child is no column: kept.
    reversed_ = [[0, 0, 1, nan, nan, nan], [nan, nan, nan, 1, 1, 1], [4, nan, nan, nan, nan, nan]]
    np.testing.assert_array_equal(trace.reversed, reversed_)
    # Ratios Localising / sum: 2/1, 3/3, empty Localising -> the row's regions vanish.
    normalised = [[0, 0, 2, nan, nan, nan], [nan, nan, nan, 1, 1, 1], [nan, nan, nan, nan, nan, nan]]
    np.testing.assert_allclose(trace.normalised, normalised, atol=TOLERANCE, equal_nan=True)
    np.testing.assert_allclose(trace.totals, [0, 0, 2, 1, 1, 1], atol=TOLERANCE)


def test_region_totals_reach_every_label_of_every_region(engine):
    trace = engine.trace(SemiologyQuery("Tonic-Clonic", Side.LEFT))
    values = values_by_label(trace.labels, trace.label_values)
    expected = {32: 0, 33: 0, 185: 0, 186: 0, 201: 2, 202: 2, 105: 1, 106: 1, 151: 1, 152: 1, 39: 1, 40: 1, 72: 1}
    assert values.keys() == expected.keys()
    for label, value in expected.items():
        assert abs(values[label] - value) < TOLERANCE, label


def test_global_lateralisation(engine):
    trace = engine.trace(SemiologyQuery("Tonic-Clonic", Side.LEFT))
    # Symptom left: right += CL (2 + 1), left += IL (1); RR = 1/4 to the left, 3/4 to the right, vermis kept.
    assert (trace.right, trace.left) == (3.0, 1.0)
    result = values_by_label(trace.result.labels, trace.result.datapoints)
    expected = {201: 1.5, 202: 0.5, 105: 0.75, 106: 0.25, 151: 0.75, 152: 0.25, 39: 0.75, 40: 0.25, 72: 1.0}
    assert result.keys() == expected.keys()  # zero labels 32, 33, 185, 186 are dropped
    for label, value in expected.items():
        assert abs(result[label] - value) < TOLERANCE, label
    assert abs(trace.result.total - 6.0) < TOLERANCE
    # Symptom right mirrors it.
    mirrored = engine.query(SemiologyQuery("Tonic-Clonic", Side.RIGHT))
    mirrored_values = values_by_label(mirrored.labels, mirrored.datapoints)
    assert abs(mirrored_values[202] - 1.5) < TOLERANCE and abs(mirrored_values[201] - 0.5) < TOLERANCE


def test_dominant_hemisphere_and_symmetric_case(engine):
    # Aphasia's lateralising data are DomH only: Unknown dominance -> symmetric (halved), left dominant ->
    # RR = 0 zeroes the right hemisphere.
    unknown = engine.query(SemiologyQuery("Aphasia", Side.NONE), Side.NONE)
    assert values_by_label(unknown.labels, unknown.datapoints) == pytest.approx({32: 0.5, 33: 0.5, 185: 0.5, 186: 0.5})
    left = engine.query(SemiologyQuery("Aphasia", Side.NONE), Side.LEFT)
    assert values_by_label(left.labels, left.datapoints) == pytest.approx({33: 1.0, 186: 1.0}, abs=TOLERANCE)
    right = engine.query(SemiologyQuery("Aphasia", Side.NONE), Side.RIGHT)
    assert values_by_label(right.labels, right.datapoints) == pytest.approx({32: 1.0, 185: 1.0}, abs=TOLERANCE)
    # Lateralising 0 (Vestibular): every label halved.
    vestibular = engine.query(SemiologyQuery("Vestibular"))
    assert values_by_label(vestibular.labels, vestibular.datapoints) == pytest.approx(
        {185: 0.5, 186: 0.5, 105: 0.5, 106: 0.5}, abs=TOLERANCE
    )


def test_proportions_combination_and_final_normalisation(engine):
    single = engine.scores([SemiologyQuery("Tonic-Clonic", Side.LEFT)])
    scores = single.as_dict()
    assert len(scores) == 13 and sum(value == 0 for value in scores.values()) == 4
    assert abs(scores[201] - 1.5 / 6) < TOLERANCE and abs(scores[72] - 1 / 6) < TOLERANCE
    assert abs(sum(scores.values()) - 1) < TOLERANCE
    combined = engine.scores([SemiologyQuery("Tonic-Clonic", Side.LEFT), SemiologyQuery("Vestibular")])
    scores = combined.as_dict()
    # Pooled datapoints over pooled totals (6 + 2).
    assert abs(scores[105] - (0.75 + 0.5) / 8) < TOLERANCE
    assert abs(scores[185] - 0.5 / 8) < TOLERANCE
    assert abs(scores[72] - 1.0 / 8) < TOLERANCE
    assert abs(combined.datapoints[list(combined.labels).index(105)] - 1.25) < TOLERANCE
    # Selecting a term twice is the same as once (the original returned NaN everywhere).
    twice = engine.scores([SemiologyQuery("Vestibular"), SemiologyQuery("Vestibular")])
    assert np.all(np.isfinite(twice.scores))
    np.testing.assert_allclose(twice.scores, engine.scores([SemiologyQuery("Vestibular")]).scores, atol=TOLERANCE)


def test_colours_follow_the_published_rule(engine):
    scores = engine.scores([SemiologyQuery("Tonic-Clonic", Side.LEFT)]).as_dict()
    display = display_properties(scores, colour_count=256, min_opacity=0.25)
    # min = 0 (zeros included), max = 0.25 (label 201).
    assert display[201].index == 255 and abs(display[201].opacity_2d - 1) < TOLERANCE
    assert abs(display[202].x - 1 / 3) < TOLERANCE and display[202].index == 85
    assert abs(display[202].opacity_2d - 0.5) < TOLERANCE
    assert display[72].index == 170 and abs(display[72].opacity_2d - 0.75) < TOLERANCE
    # 255 / 6 = 42.5 rounds half to even: 42.
    assert display[106].index == 42 and abs(display[106].opacity_2d - 0.375) < TOLERANCE
    assert not display[32].has_data and display[32].opacity_2d == 0


def test_custom_text_and_errors(engine):
    custom = engine.trace(SemiologyQuery("vertigo", Side.NONE))
    assert custom.matched_rows.tolist() == [10]
    with pytest.raises(InputError, match="not allowed"):
        engine.query(SemiologyQuery("Vestibular", Side.LEFT))
    with pytest.raises(NoDataError, match="no data"):
        engine.query(SemiologyQuery("hypermotor", Side.NONE))
    with pytest.raises(InputError, match="pattern"):
        engine.query(SemiologyQuery("tonic(", Side.NONE))


def test_malformed_workbooks_name_sheet_row_and_column(tmp_path):
    import openpyxl

    folder = write_database(tmp_path / "bad-number")
    workbook = openpyxl.load_workbook(folder / "Semio2Brain Database.xlsx")
    workbook["Main"]["G4"] = "two"  # Lateralising of Excel row 4
    workbook.save(folder / "Semio2Brain Database.xlsx")
    with pytest.raises(InputError, match=r"'Main', cell G4 \(column 'Lateralising'\): 'two' is not a number"):
        load_database(folder, tmp_path / "cache")

    folder = write_database(tmp_path / "no-sheet")
    workbook = openpyxl.load_workbook(folder / "Semio2Brain Database.xlsx")
    del workbook["GIF FL"]
    workbook.save(folder / "Semio2Brain Database.xlsx")
    with pytest.raises(InputError, match="missing sheet.*GIF FL"):
        load_database(folder, tmp_path / "cache")

    folder = write_database(tmp_path / "no-column")
    workbook = openpyxl.load_workbook(folder / "Semio2Brain Database.xlsx")
    workbook["Main"]["M2"] = "Localizing"
    workbook.save(folder / "Semio2Brain Database.xlsx")
    with pytest.raises(InputError, match="header row 2: missing column.*'Localising'"):
        load_database(folder, tmp_path / "cache")

    folder = write_database(tmp_path / "no-dictionary")
    (folder / "semiology_dictionary.yaml").unlink()
    with pytest.raises(InputError, match="missing semiology_dictionary.yaml"):
        load_database(folder, tmp_path / "cache")
    with pytest.raises(InputError, match="does not exist"):
        load_database(tmp_path / "nowhere", tmp_path / "cache")
