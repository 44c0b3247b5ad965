"""Saving a scene as a Slicer scene bundle (.mrb) and loading one into a new scene."""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

from epilepsy_suite.errors import InputError


def save_scene_bundle(scene, path: str | os.PathLike[str]) -> Path:
    """Write ``scene`` with all its data as a ``.mrb`` bundle that 3D Slicer opens.

    The bundle is written under a temporary name and renamed, so a failure leaves nothing.
    """
    path = Path(path).resolve()
    if path.suffix != ".mrb":
        raise InputError(path, "a Slicer scene bundle must end in .mrb")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Slicer names the bundle's inner folder and .mrml after the file, so write the real name
    # inside a private temporary folder and move it into place only when complete.
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".mrb-") as folder:
        bundle = Path(folder) / path.name
        scene.SetRootDirectory(folder)
        scene.SetURL(str(bundle.with_suffix(".mrml")))
        if not scene.WriteToMRB(str(bundle)) or not bundle.is_file():
            raise InputError(path, "Slicer could not write the scene bundle")
        os.replace(bundle, path)
    return path


def load_scene_bundle(path: str | os.PathLike[str], scene=None):
    """Load a ``.mrb`` bundle into ``scene`` (a new headless scene when ``None``) and return it."""
    from .scene import create_scene

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "scene bundle not found")
    if not zipfile.is_zipfile(path):
        raise InputError(path, "not a Slicer scene bundle (.mrb is a zip archive)")
    scene = scene if scene is not None else create_scene()
    with tempfile.TemporaryDirectory() as folder:
        with zipfile.ZipFile(path) as archive:
            archive.extractall(folder)
        scene_files = sorted(Path(folder).rglob("*.mrml"))
        if not scene_files:
            raise InputError(path, "the bundle holds no .mrml scene file")
        scene.SetURL(str(scene_files[0]))
        if not scene.Import():
            raise InputError(path, "Slicer could not read the scene in the bundle")
    return scene
