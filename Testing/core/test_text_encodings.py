"""Text files in the encodings users produce (issue 17, kind 3): UTF-8, UTF-8 with BOM, UTF-16,
Windows-1252 / Latin-1 as Excel writes them on Windows; bytes that are no text name file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from epilepsy_suite.errors import InputError
from epilepsy_suite.io.text import decode_text, read_text
from epilepsy_suite.semiology import SemiologyEngine, SemiologyQuery, TermDictionary
from epilepsy_suite.video.annotations import read_annotations, write_annotations
from test_semiology_stages import DICTIONARY, ROWS, write_database

ENCODINGS = ("utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16")


def write(path: Path, text: str, encoding: str, windows_lines: bool = True) -> Path:
    """``text`` saved as an editor would: in ``encoding``, with CRLF line ends as on Windows."""
    if windows_lines:
        text = text.replace("\n", "\r\n")
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_read_text_decodes_every_encoding(tmp_path: Path, encoding: str) -> None:
    text = "name\nMüller\nSébastien – “quoted”\n" if encoding != "latin-1" else "name\nMüller\nSébastien\n"
    path = write(tmp_path / "names.txt", text, encoding, windows_lines=False)
    assert read_text(path) == text


def test_bytes_that_are_no_text_name_the_file_and_line(tmp_path: Path) -> None:
    # 0x81 is undefined in Windows-1252 and not UTF-8: no encoding reads it.
    path = tmp_path / "broken.csv"
    path.write_bytes(b"video,t0\r\nMuller,1\r\nM\x81ller,2\r\n")
    with pytest.raises(InputError, match=r"broken\.csv: line 3: byte 0x81 is a character of neither UTF-8"):
        read_text(path)
    with pytest.raises(InputError, match=r"^image\.nii: line 2: NUL character; this is not a text file"):
        decode_text(b"header\n\x00\x01binary", "image.nii")
    with pytest.raises(InputError, match=r"absent\.txt: cannot be read"):
        read_text(tmp_path / "absent.txt")


ANNOTATIONS = """\
video,t0,tG,t1,patient,class
Müller_seizure1.mp4,1.5,,20,Müller,FOS
sébastien.mp4,0,12.5,40,Sébastien Lefèvre,TCS
"""


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_annotations_csv_in_excel_encodings(tmp_path: Path, encoding: str) -> None:
    path = write(tmp_path / "annotations.csv", ANNOTATIONS, encoding)
    first, second = read_annotations(path)
    assert first.patient == "Müller" and first.video == tmp_path / "Müller_seizure1.mp4"
    assert first.seizure_class == "FOS" and first.t0 == 1.5 and first.tG is None
    assert second.patient == "Sébastien Lefèvre" and second.video == tmp_path / "sébastien.mp4"
    assert second.seizure_class == "TCS" and second.tG == 12.5


def test_annotations_written_and_read_back_keep_accents(tmp_path: Path) -> None:
    path = write(tmp_path / "annotations.csv", ANNOTATIONS, "cp1252")
    copy = write_annotations(read_annotations(path), tmp_path / "copy.csv")
    assert copy.read_bytes().decode("utf-8")  # written as UTF-8 on every platform
    assert [item.patient for item in read_annotations(copy)] == ["Müller", "Sébastien Lefèvre"]


def test_annotations_with_a_byte_no_encoding_reads(tmp_path: Path) -> None:
    path = tmp_path / "annotations.csv"
    path.write_bytes(ANNOTATIONS.encode("cp1252").replace(b"M\xfcller,FOS", b"M\x8dller,FOS"))
    with pytest.raises(InputError, match=r"annotations\.csv: line 2: byte 0x8D"):
        read_annotations(path)


DEJA_VU_DICTIONARY = DICTIONARY + '  psychic:\n    "Déjà vu": ["d[ée]j[àa] ?vu"]\n'
LABEL_NAMES = "32 Région_temporale_droite\n33 Région_temporale_gauche\n185 Gyrus_de_Müller_droit\n"


def companion_files(folder: Path, encoding: str) -> None:
    """Rewrite the companion files of a database folder in ``encoding``, with non-ASCII names."""
    write(folder / "semiology_dictionary.yaml", DEJA_VU_DICTIONARY, encoding)
    write(folder / "semiologies_neutral_only.txt", "Vestibular\nDéjà vu\n", encoding)
    write(folder / "BrainAnatomyLabelsV3_0.txt", LABEL_NAMES, encoding)
    for name in ("region_hierarchy.yaml", "p_GIF_norm_TS.csv"):
        path = folder / name
        write(path, path.read_text(encoding="utf-8"), encoding)


@pytest.mark.parametrize("encoding", ["cp1252", "utf-8-sig", "utf-16"])
def test_semiology_companion_files_in_excel_encodings(tmp_path: Path, encoding: str) -> None:
    rows = {
        **ROWS,
        13: {"Reference": "I", "Reported Semiology": "Déjà vu", "Semiology Category": "Psychic",
             "Concordant Neurophys & Imaging (MRI, PET, SPECT)": "y", "Lateralising": 0, "Localising": 1,
             "TL": 1, "Spontaneous Semiology (SS)": "y"},
    }  # fmt: skip
    folder = write_database(tmp_path / "db", rows)
    companion_files(folder, encoding)

    terms = TermDictionary.from_folder(folder)
    assert "Déjà vu" in terms.names
    assert terms.rule("Déjà vu").sides == terms.rule("Vestibular").sides  # read from the neutral-only list

    engine = SemiologyEngine(folder, cache_dir=tmp_path / "cache", disk_cache=False)
    assert engine.database.label_name(185) == "Gyrus_de_Müller_droit"
    scores = engine.scores([SemiologyQuery.parse("déjà vu")])  # the listed name, in any case
    assert [query.term for query in scores.queries] == ["Déjà vu"]
    names = {record["name"] for record in scores.records()}
    assert {"Région_temporale_droite", "Région_temporale_gauche"} <= names
