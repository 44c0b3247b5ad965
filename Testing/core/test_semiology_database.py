"""The query engine, suggestions, caches and CLI on the real Semio2Brain database (../shared/data)."""

from __future__ import annotations

import csv
import time

import numpy as np
import pytest
import SimpleITK as sitk
from epilepsy_suite.cli import main as cli_main
from epilepsy_suite.errors import InputError
from epilepsy_suite.semiology import NoDataError, SemiologyEngine, SemiologyQuery, Side, load_database

TOLERANCE = 1e-12


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("semiology-cache")


@pytest.fixture(scope="module")
def engine(semio2brain_folder, cache_dir) -> SemiologyEngine:
    return SemiologyEngine(semio2brain_folder, cache_dir=cache_dir, disk_cache=False)


def mirror_pairs(engine: SemiologyEngine) -> list[tuple[int, int]]:
    """(left label, right label) of every structure the database scores on both sides."""
    database = engine.database
    by_name = {database.label_name(label): int(label) for label in database.labels}
    pairs = []
    for name, label in by_name.items():
        if name.startswith("Left-") and "Right-" + name[5:] in by_name:
            pairs.append((label, by_name["Right-" + name[5:]]))
    return pairs


def test_database_shape_matches_method(engine):
    database = engine.database
    assert database.number_of_rows == 2573
    assert len(database.region_names) == 95
    assert len(database.labels) == 115
    sides = list(database.label_sides.values())
    assert sides.count("left") == 56 and sides.count("right") == 56
    assert [label for label, side in database.label_sides.items() if side == "midline"] == [72, 73, 74]
    np.testing.assert_array_equal(np.sort(database.prior_labels), database.labels)


def test_every_term_with_every_allowed_side_gives_a_table_or_no_data(engine):
    outcomes = {}
    for term in engine.database.terms.names:
        for side in engine.database.terms.rule(term).sides:
            try:
                scores = engine.scores([SemiologyQuery(term, side)])
            except NoDataError as error:
                assert "no data" in str(error) and term in str(error)
                outcomes[(term, side)] = "no data"
                continue
            assert np.all(np.isfinite(scores.scores)) and abs(scores.scores.sum() - 1) < 1e-9
            assert scores.records()[0]["score"] == scores.scores.max()
            outcomes[(term, side)] = "table"
    assert len(outcomes) == 43 + 2 * 22  # 22 terms allow left and right as well as none
    assert list(outcomes.values()).count("table") >= 80


def test_method_worked_example(engine):
    result = engine.query(SemiologyQuery("Tonic-Clonic", Side.LEFT))
    assert result.matched_rows.tolist() == [888, 1663, 1847, 2545, 2565]
    values = dict(zip(result.labels.tolist(), result.datapoints.tolist(), strict=True))
    assert len(values) == 66 and abs(result.total - 23.416666666666668) < TOLERANCE
    assert abs(values[185] - 1.2) < TOLERANCE and abs(values[186] - 0.3) < TOLERANCE
    scores = engine.scores([SemiologyQuery("Tonic-Clonic", Side.LEFT)]).as_dict()
    assert abs(scores[185] - 0.051245551601423495) < TOLERANCE
    assert abs(scores[33] - 0.008540925266903915) < TOLERANCE
    combined = engine.scores([SemiologyQuery("Tonic-Clonic", Side.LEFT), SemiologyQuery("Vestibular")]).as_dict()
    assert abs(combined[185] - 0.026646248085758044) < TOLERANCE


def test_head_version_right_with_left_dominance_puts_left_on_top(engine):
    scores = engine.scores([SemiologyQuery("Head Version", Side.RIGHT)], dominant=Side.LEFT)
    records = scores.records()
    assert all(record["hemisphere"] == "left" for record in records[:10])
    values = scores.as_dict()
    for left, right in mirror_pairs(engine):
        assert values[left] >= values[right], (left, right)


def test_laterality_and_dominance_move_datapoints_as_the_counts_say(engine):
    database = engine.database
    for side, dominant in [
        (Side.RIGHT, Side.LEFT),
        (Side.LEFT, Side.LEFT),
        (Side.RIGHT, Side.RIGHT),
        (Side.LEFT, Side.NONE),
    ]:
        trace = engine.trace(SemiologyQuery("Head Version", side), dominant)
        rows = np.isin(database.excel_rows, trace.matched_rows)
        sums = {name: np.nansum(database.counts[name][rows]) for name in ("IL", "CL", "DomH", "NonDomH")}
        ipsilateral_right = side == Side.RIGHT
        expected_right = sums["IL"] if ipsilateral_right else sums["CL"]
        expected_left = sums["CL"] if ipsilateral_right else sums["IL"]
        if dominant == Side.LEFT:
            expected_right, expected_left = expected_right + sums["NonDomH"], expected_left + sums["DomH"]
        elif dominant == Side.RIGHT:
            expected_right, expected_left = expected_right + sums["DomH"], expected_left + sums["NonDomH"]
        assert (trace.right, trace.left) == pytest.approx((expected_right, expected_left))
        values = dict(zip(trace.labels.tolist(), trace.lateralised.tolist(), strict=True))
        share = expected_left / (expected_left + expected_right)
        for left, right in mirror_pairs(engine):
            if left in values and values[left] + values[right] > 0:
                assert values[left] / (values[left] + values[right]) == pytest.approx(share, abs=1e-12)
    # Aphasia has only dominant-hemisphere data: unknown dominance is symmetric, known dominance is not.
    unknown = engine.scores([SemiologyQuery("Aphasia")], dominant=Side.NONE).as_dict()
    left = engine.scores([SemiologyQuery("Aphasia")], dominant=Side.LEFT).as_dict()
    for left_label, right_label in mirror_pairs(engine):
        assert unknown[left_label] == pytest.approx(unknown[right_label], abs=1e-15)
        assert left[left_label] >= left[right_label]
    assert sum(left[a] for a, _ in mirror_pairs(engine)) > 2 * sum(left[b] for _, b in mirror_pairs(engine))


def test_free_text_suggestions(engine):
    terms = engine.database.terms
    assert terms.suggest("butterflies")[0][0] == "Epigastric"
    assert terms.suggest("a butterfly feeling in my stomach")[0][0] == "Epigastric"
    assert terms.suggest("deja vu")[0][0] == "Psychic"
    assert terms.suggest("de") == []  # suggestions start at the third character
    assert engine.scores([SemiologyQuery("epigastric")]).records()


def test_unknown_terms_and_sides_are_clear_errors(engine):
    with pytest.raises(InputError, match=r"'Epigastric'.*side 'left' is not allowed \(allowed: none\)"):
        engine.query(SemiologyQuery("Epigastric", Side.LEFT))
    with pytest.raises(NoDataError, match="no data"):
        engine.query(SemiologyQuery("zzqxv nothing like this"))
    with pytest.raises(InputError, match="dominant hemisphere"):
        engine.scores([SemiologyQuery("Tonic")], dominant="middle")


def test_database_cache_and_query_cache(semio2brain_folder, tmp_path):
    started = time.perf_counter()
    parsed = load_database(semio2brain_folder, tmp_path)
    parse_seconds = time.perf_counter() - started
    assert list(tmp_path.glob("database-*.pickle"))
    started = time.perf_counter()
    cached = load_database(semio2brain_folder, tmp_path)
    assert time.perf_counter() - started < parse_seconds
    np.testing.assert_array_equal(parsed.regions, cached.regions)
    engine = SemiologyEngine(cached, cache_dir=tmp_path)
    first = engine.query(SemiologyQuery("Tonic", Side.RIGHT))
    assert list(engine.query_cache_dir.glob("*.pickle"))
    fresh = SemiologyEngine(cached, cache_dir=tmp_path)
    again = fresh.query(SemiologyQuery("Tonic", Side.RIGHT))
    np.testing.assert_array_equal(first.datapoints, again.datapoints)
    fresh.clear_cache()
    assert not engine.query_cache_dir.exists()


def test_cli_query_map_match_terms(semio2brain_folder, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EPILEPSY_SUITE_CACHE", str(tmp_path / "cache"))
    database = ["--database", str(semio2brain_folder)]
    table = tmp_path / "table.csv"
    code = cli_main(
        ["semiology", "query", "--semiology", "Head Version:right", "--semiology", "Tonic:right",
         "--dominant", "left", "--out", str(table), *database]
    )  # fmt: skip
    assert code == 0
    with open(table, newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert list(rows[0]) == ["label", "name", "hemisphere", "datapoints", "score"]
    assert rows[0]["hemisphere"] == "left" and float(rows[0]["score"]) >= float(rows[-1]["score"]) > 0

    parcellation = tmp_path / "gif.nii.gz"
    gif = sitk.ReadImage(str(semio2brain_folder / "MNI_152_gif.nii.gz"))
    sitk.WriteImage(gif[::4, ::4, ::4], str(parcellation))
    scores = tmp_path / "scores.nii.gz"
    code = cli_main(
        ["semiology", "map", "--semiology", "Head Version:right", "--dominant", "left",
         "--parcellation", str(parcellation), "--out", str(scores), *database]
    )  # fmt: skip
    assert code == 0
    image = sitk.ReadImage(str(scores))
    assert image.GetSize() == gif[::4, ::4, ::4].GetSize()
    assert 0 < sitk.GetArrayViewFromImage(image).max() <= 1

    capsys.readouterr()
    assert cli_main(["semiology", "match", "deja vu", *database]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("Psychic")
    assert cli_main(["semiology", "terms", *database]) == 0
    assert "Head Version\tleft/right/none" in capsys.readouterr().out

    assert cli_main(["semiology", "query", "--semiology", "Epigastric:left", *database]) != 0
    assert "not allowed" in capsys.readouterr().err
    assert cli_main(["semiology", "query", "--semiology", "Tonic", "--database", str(tmp_path / "none")]) != 0
    assert "Semiology-Visualisation-Tool" in capsys.readouterr().err
