"""Semiology terms as users type them (issue 17, kind 5): listed names regardless of case and spacing,
free text said to be free text, empty terms and unknown sides refused with the term quoted as typed."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from epilepsy_suite.cli import main as cli_main
from epilepsy_suite.errors import InputError
from epilepsy_suite.semiology import SemiologyEngine, SemiologyQuery, Side


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("semiology-terms-cache")


@pytest.fixture(scope="module")
def engine(semio2brain_folder: Path, cache_dir: Path) -> SemiologyEngine:
    return SemiologyEngine(semio2brain_folder, cache_dir=cache_dir, disk_cache=False)


@pytest.fixture
def cli(semio2brain_folder: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    """Run ``semiology query`` on the real database; returns (exit status, stdout, stderr)."""
    monkeypatch.setenv("EPILEPSY_SUITE_CACHE", str(cache_dir))

    def run(*terms: str) -> tuple[int, str, str]:
        arguments = ["semiology", "query", "--no-cache", "--database", str(semio2brain_folder)]
        for term in terms:
            arguments += ["--semiology", term]
        capsys.readouterr()
        code = cli_main(arguments)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("", "empty term"),
        ("   ", "empty term"),
        (":left", "empty term"),
        ("Head Version:up", "unknown side 'up'"),
        ("a*", "matches empty text"),
        ("tonic(", "not a valid regular expression"),
    ],
)
def test_bad_terms_exit_2_with_one_line_quoting_the_term(cli, typed: str, problem: str) -> None:
    code, out, err = cli(typed)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    quoted = " ".join(repr(typed).split())  # messages are one line: runs of spaces shown as one
    assert lines[0].startswith(f"error: semiology {quoted}: ")
    assert problem in lines[0]


def test_empty_term_and_side_only_are_refused_before_any_query() -> None:
    with pytest.raises(InputError, match=r"^semiology '': empty term"):
        SemiologyQuery.parse("")
    with pytest.raises(InputError, match=r"^semiology ':left': empty term"):
        SemiologyQuery.parse(":left")
    with pytest.raises(InputError, match="empty term"):
        SemiologyQuery("  ", Side.LEFT)


def test_unknown_side_is_refused_not_taken_as_free_text() -> None:
    with pytest.raises(InputError, match=r"^semiology 'Head Version:up': unknown side 'up'; use left, right or none"):
        SemiologyQuery.parse("Head Version:up")
    # Sides and their aliases still parse; a colon inside free text stays free text.
    assert SemiologyQuery.parse("Head Version: Right").side == Side.RIGHT
    assert SemiologyQuery.parse("Tonic:l").side == Side.LEFT
    assert SemiologyQuery.parse("aura: deja vu") == SemiologyQuery("aura: deja vu")
    assert SemiologyQuery.parse(r"aura\:epigastric") == SemiologyQuery(r"aura\:epigastric")


@pytest.mark.parametrize("typed", ["head version:left", "Head Version :left", "HEAD  version: left"])
def test_listed_names_match_regardless_of_case_and_spacing(engine: SemiologyEngine, typed: str, caplog) -> None:
    listed = engine.scores([SemiologyQuery.parse("Head Version:left")])
    with caplog.at_level(logging.WARNING, logger="epilepsy_suite.semiology"):
        scores = engine.scores([SemiologyQuery.parse(typed)])
    assert not caplog.records  # a listed term is not free text
    assert scores.free_text == ()
    assert [query.term for query in scores.queries] == ["Head Version"]
    assert len(scores.records()) == len(listed.records()) == 109
    np.testing.assert_array_equal(scores.scores, listed.scores)
    # Typed both ways in one request, it is one query.
    both = engine.scores([SemiologyQuery.parse("Head Version:left"), SemiologyQuery.parse(typed)])
    assert len(both.queries) == 1
    np.testing.assert_array_equal(both.scores, listed.scores)


def test_listed_names_regardless_of_spacing_through_the_cli(cli) -> None:
    code, listed, _ = cli("Head Version:left")
    assert code == 0 and len(listed.splitlines()) == 1 + 109
    for typed in ("head version:left", "Head Version :left"):
        code, out, _ = cli(typed)
        assert code == 0
        assert out == listed


def test_a_side_not_allowed_quotes_the_term_as_typed(cli) -> None:
    code, _, err = cli("epigastric :left")
    assert code == 2
    assert err.strip() == "error: semiology 'epigastric :left': side 'left' is not allowed (allowed: none)"


def test_free_text_is_said_to_be_free_text(engine: SemiologyEngine, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="epilepsy_suite.semiology"):
        scores = engine.scores([SemiologyQuery.parse("vertigo"), SemiologyQuery.parse("Tonic:right")])
    assert [query.term for query in scores.free_text] == ["vertigo"]
    assert scores.records()
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 1
    assert messages[0].startswith("semiology 'vertigo': not a listed term, queried as free text")
    assert "Vestibular" in messages[0]  # the listed term like it is suggested


def test_free_text_notice_on_the_command_line(cli, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="epilepsy_suite.semiology"):
        code, out, _ = cli("vertigo")
    assert code == 0 and out.startswith("label\t")
    assert any("'vertigo': not a listed term, queried as free text" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("age", ["all", "adult", "paediatric"])
@pytest.mark.parametrize("regions", ["granular", "lobar", "raw"])
def test_query_options_from_the_offered_choices(age, regions) -> None:
    from epilepsy_suite.semiology import QueryOptions

    options = QueryOptions.from_choices(age, regions, True, seeg=False)
    assert (options.paediatric_and_adult, options.only_paediatric) == (age == "all", age == "paediatric")
    assert (options.granular, options.top_level_lobes) == (regions == "granular", regions == "lobar")
    assert options.normalise_to_localising == (regions != "raw") and options.seeg is False


def test_query_options_refuse_an_unknown_choice() -> None:
    from epilepsy_suite.errors import InputError
    from epilepsy_suite.semiology import QueryOptions

    with pytest.raises(InputError, match="age.*children"):
        QueryOptions.from_choices("children")
