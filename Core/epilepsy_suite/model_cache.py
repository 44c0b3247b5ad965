"""Trained models kept between runs, keyed by the code that trained them and its settings.

The demo trains small models on synthetic data; a second run with the same code and settings
reuses them (and their held-out figures) instead of training again. Any change to the training
code or to a setting gives another key, hence a fresh training: a cached model never outlives
the code it describes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType

from .errors import InputError


def code_fingerprint(modules: Iterable[ModuleType]) -> str:
    """SHA-256 of the Python sources of ``modules`` (a package counts with all its ``.py`` files)."""
    digest = hashlib.sha256()
    for module in sorted(modules, key=lambda item: item.__name__):
        origin = Path(module.__file__ or "")
        files = sorted(origin.parent.rglob("*.py")) if origin.name == "__init__.py" else [origin]
        for path in files:
            digest.update(str(path.relative_to(origin.parent)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def cached_run(
    folder: str | os.PathLike[str],
    name: str,
    settings: dict,
    code: str,
    build: Callable[[Path], dict],
) -> tuple[Path, dict, bool]:
    """The folder of the run ``name`` with these ``settings`` and ``code``, built when absent.

    ``build(target)`` trains into ``target`` and returns the figures to keep (JSON-serialisable);
    the folder is published (renamed into place) only once ``build`` has returned, so an
    interrupted run leaves nothing that a later run would take for finished.

    Returns:
        (run folder, figures, whether it was reused).
    """
    key = hashlib.sha256(json.dumps({"settings": settings, "code": code}, sort_keys=True).encode()).hexdigest()[:16]
    folder = Path(folder)
    target = folder / f"{name}-{key}"
    figures_path = target / "figures.json"
    if figures_path.is_file():
        try:
            return target, json.loads(figures_path.read_text()), True
        except json.JSONDecodeError:
            raise InputError(figures_path, "is damaged: delete the folder to train again") from None
    folder.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=folder))
    try:
        figures = build(scratch)
        (scratch / "figures.json").write_text(json.dumps({**figures, "settings": settings}, indent=2))
        if target.exists():  # an older, unfinished attempt under the same key
            shutil.rmtree(target)
        scratch.rename(target)
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
    return target, json.loads(figures_path.read_text()), False
