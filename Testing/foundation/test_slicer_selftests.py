"""The modules' self-tests inside a real 3D Slicer (only where SLICER_EXECUTABLE is set)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "run_slicer_selftests.py"


def test_runner_refuses_without_slicer() -> None:
    environment = {key: value for key, value in os.environ.items() if key != "SLICER_EXECUTABLE"}
    result = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, env=environment, timeout=60)
    assert result.returncode == 2
    assert "SLICER_EXECUTABLE" in result.stdout


@pytest.mark.skipif(not os.environ.get("SLICER_EXECUTABLE"), reason="needs a 3D Slicer: set SLICER_EXECUTABLE")
def test_module_self_tests_in_slicer() -> None:
    result = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=7200)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
