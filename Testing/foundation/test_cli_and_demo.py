"""The command-line entry point and the base of the demo scene."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from epilepsy_suite.cli import build_parser, main
from epilepsy_suite.device import resolve_device
from epilepsy_suite.errors import InputError
from PIL import Image

from EpilepsySuiteMRML.demo import build_base

REPOSITORY = Path(__file__).resolve().parents[2]


def test_help_lists_every_command(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    output = capsys.readouterr().out
    for command in ("fcd", "cavity", "semiology", "video", "demo"):
        assert command in output


def test_device_option() -> None:
    arguments = build_parser().parse_args(["demo", "--device", "cpu"])
    assert arguments.device == "cpu"
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(InputError, match="unknown device"):
        resolve_device("tpu")


@pytest.mark.slow  # a fresh interpreter: `bootstrap.py test -m slow`
def test_entry_file_runs_as_a_script() -> None:
    # The way `Slicer --python-script Core/epilepsy_suite/__main__.py ...` runs it.
    result = subprocess.run(
        [sys.executable, str(REPOSITORY / "Core" / "epilepsy_suite" / "__main__.py"), "demo", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "--device" in result.stdout and "--out" in result.stdout


def _coloured_fraction(path: Path) -> float:
    pixels = np.asarray(Image.open(path).convert("RGB")).astype(int)
    saturation = pixels.max(axis=2) - pixels.min(axis=2)
    return float((saturation > 40).mean())


def test_demo_base_scene_and_pictures(tmp_path) -> None:
    context = build_base(tmp_path, device="cpu", quick=True)
    names = sorted(path.name for path in tmp_path.glob("*.png"))
    assert names == ["parcellation_3d.png", "template_parcellation_axial.png", "template_parcellation_coronal.png"]
    # Brain with a coloured parcellation, not an empty or grey picture.
    for name in names:
        assert _coloured_fraction(tmp_path / name) > 0.05, name
    axial = np.asarray(Image.open(tmp_path / "template_parcellation_axial.png").convert("L"))
    assert axial.std() > 20
    segmentation = context.scene.GetFirstNodeByClass("vtkMRMLSegmentationNode")
    assert segmentation.GetSegmentation().GetNumberOfSegments() > 130
    page = context.page.write(tmp_path / "index.html")
    assert "template_parcellation_axial.png" in page.read_text()
