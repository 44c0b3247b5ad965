"""Trained models are reused only while the code and the settings that made them are unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import epilepsy_suite.errors
import epilepsy_suite.fcd
import pytest
from epilepsy_suite.errors import CancelledError
from epilepsy_suite.model_cache import cached_run, code_fingerprint


def test_a_run_is_built_once_then_reused_and_a_new_key_builds_again(tmp_path: Path) -> None:
    builds = []

    def build(folder: Path) -> dict:
        builds.append(folder)
        (folder / "best.pt").write_bytes(b"weights")
        return {"dice": 0.8}

    first = cached_run(tmp_path, "cavity", {"epochs": 3}, "code-1", build)
    again = cached_run(tmp_path, "cavity", {"epochs": 3}, "code-1", build)
    assert len(builds) == 1 and first[0] == again[0] and (first[2], again[2]) == (False, True)
    assert again[1] == {"dice": 0.8, "settings": {"epochs": 3}} and (again[0] / "best.pt").is_file()
    other_settings = cached_run(tmp_path, "cavity", {"epochs": 4}, "code-1", build)
    other_code = cached_run(tmp_path, "cavity", {"epochs": 3}, "code-2", build)
    assert len(builds) == 3 and len({first[0], other_settings[0], other_code[0]}) == 3


def test_an_interrupted_build_leaves_nothing_that_counts_as_finished(tmp_path: Path) -> None:
    def interrupted(folder: Path) -> dict:
        (folder / "best.pt").write_bytes(b"half")
        raise CancelledError("cancelled by the user")

    with pytest.raises(CancelledError):
        cached_run(tmp_path, "fcd", {}, "code", interrupted)
    assert list(tmp_path.iterdir()) == []
    run_dir, figures, reused = cached_run(tmp_path, "fcd", {}, "code", lambda folder: {"dice": 0.7})
    assert not reused and json.loads((run_dir / "figures.json").read_text())["dice"] == 0.7


def test_the_code_fingerprint_follows_the_sources() -> None:
    assert code_fingerprint([epilepsy_suite.fcd]) == code_fingerprint([epilepsy_suite.fcd])
    assert code_fingerprint([epilepsy_suite.fcd]) != code_fingerprint([epilepsy_suite.errors])
    assert len(code_fingerprint([epilepsy_suite.fcd, epilepsy_suite.errors])) == 64
