#!/usr/bin/env python3
"""Run every module's self-test (its ScriptedLoadableModuleTest) inside a real 3D Slicer.

    SLICER_EXECUTABLE=/path/to/Slicer python Testing/run_slicer_selftests.py [Module ...]

Slicer starts without its main window, loads the four modules from this checkout (with the
Core package and the shared MRML helpers on its Python path) and runs each self-test. The
Python dependencies (torch, monai, torchio, av...) must be installed in Slicer's Python, e.g.
by opening each module once and accepting the install. Exit code 0 when every test passes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
MODULES = ("FCDSegmentation", "CavitySegmentation", "SemiologyViz", "SeizureVideo")

SELF_TEST_CODE = """
import sys, traceback
sys.path[:0] = {paths!r}
import slicer
try:
    slicer.selfTests[{module!r}]()
    print("SELFTEST PASSED {module}")
    exit_code = 0
except Exception:
    traceback.print_exc()
    print("SELFTEST FAILED {module}")
    exit_code = 1
slicer.app.exit(exit_code)
"""


def run_self_test(slicer_executable: str, module: str) -> int:
    paths = [str(REPOSITORY / "Core"), str(REPOSITORY)]
    command = [
        slicer_executable,
        "--no-splash",
        "--no-main-window",
        "--disable-settings",
        "--additional-module-paths",
        *(str(REPOSITORY / name) for name in MODULES),
        "--python-code",
        SELF_TEST_CODE.format(paths=paths, module=module),
    ]
    print(f"--- {module}", flush=True)
    return subprocess.run(command, timeout=1800).returncode


def main(modules: list[str]) -> int:
    executable = os.environ.get("SLICER_EXECUTABLE")
    if not executable:
        print("set SLICER_EXECUTABLE to a 3D Slicer executable (5.4 or newer) to run the self-tests")
        return 2
    failures = [module for module in (modules or MODULES) if run_self_test(executable, module) != 0]
    print("all self-tests passed" if not failures else f"self-tests failed: {', '.join(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
