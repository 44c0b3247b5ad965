#!/usr/bin/env python3
"""Set everything up in a virtual environment inside the repository, then run a job.

    python3.11 bootstrap.py demo   # set up, then run the demo on the embedded default data
    python3.11 bootstrap.py test   # set up, then run the test suite (pytest)

Extra arguments go to the job (``python3.11 bootstrap.py test -m slow``,
``python3.11 bootstrap.py demo --out results``). Set-up is skipped when the requirements have
not changed since the last one. Only the Python standard library is used here.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent
ENVIRONMENT = REPOSITORY / ".venv"
STAMP = ENVIRONMENT / ".epilepsy-suite-setup"
INPUTS = (REPOSITORY / "requirements.txt", REPOSITORY / "Core" / "pyproject.toml")


def _python() -> Path:
    return ENVIRONMENT / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _fingerprint() -> str:
    digest = hashlib.sha256(sys.version.encode())
    for path in INPUTS:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def set_up() -> Path:
    if sys.version_info < (3, 11):  # noqa: UP036 - this file runs before the environment exists
        sys.exit(f"EpilepsySuite needs Python >= 3.11, this is {sys.version.split()[0]}")
    if not _python().exists():
        print(f"creating the virtual environment {ENVIRONMENT}", flush=True)
        venv.EnvBuilder(with_pip=True).create(ENVIRONMENT)
    if STAMP.exists() and STAMP.read_text() == _fingerprint():
        return _python()
    print("installing the requirements (once)", flush=True)
    pip = [str(_python()), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-r", str(INPUTS[0])], check=True)
    subprocess.run([*pip, "--no-deps", "-e", str(REPOSITORY / "Core")], check=True)
    STAMP.write_text(_fingerprint())
    return _python()


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test", "setup"):
        print(__doc__)
        return 2
    job, extra = argv[0], argv[1:]
    python = set_up()
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if job == "setup":
        return 0
    if job == "demo":
        command = [str(python), "-m", "epilepsy_suite", "demo", *extra]
    else:
        command = [str(python), "-m", "pytest", *extra]
    return subprocess.run(command, cwd=REPOSITORY, env=environment).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
