"""Shared pytest fixtures: import paths and a real MRML scene from slicer-core."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
MODULES = ("FCDSegmentation", "CavitySegmentation", "SemiologyViz", "SeizureVideo")
SHARED_DATA = Path(os.environ.get("EPILEPSY_SUITE_SHARED_DATA", REPOSITORY.parent / "shared" / "data"))

for path in [REPOSITORY / "Core", REPOSITORY, *(REPOSITORY / module for module in MODULES)]:
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

# Keep the 2-core CI machine responsive when several torch tests run.
os.environ.setdefault("OMP_NUM_THREADS", "2")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: long test, run on demand with -m slow")
    config.addinivalue_line("markers", "mrml: needs the slicer-core MRML package")
    config.addinivalue_line("markers", "browser: drives the web app in chromium (skipped without a browser)")


@pytest.fixture
def mrml_scene():
    """A fresh real MRML scene (slicer-core) with Slicer's logic classes registered."""
    from EpilepsySuiteMRML.scene import create_scene

    scene = create_scene()
    yield scene
    scene.Clear(True)


@pytest.fixture(scope="session")
def semio2brain_folder() -> Path:
    """The Semio2Brain reference database beside the project (never copied into it)."""
    folder = SHARED_DATA / "semio2brain"
    if not (folder / "Semio2Brain Database.xlsx").is_file():
        pytest.skip(f"Semio2Brain reference data not found in {folder}")
    return folder


@pytest.fixture(scope="session")
def resseg_weights() -> Path:
    """resseg's published cavity network (MIT) beside the project, read in place."""
    path = SHARED_DATA / "resseg" / "self_semi_37-b571f7ba.pth"
    if not path.is_file():
        pytest.skip(f"resseg's published weights not found at {path}")
    return path
