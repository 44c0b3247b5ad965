"""The outputs of a command, checked before any work starts.

A command declares its outputs by kind (``image``, ``table``, ``json``, ``video``, ``png``,
``markdown``, ``folder``, ``prefix``). :func:`check_outputs` then refuses, with one line naming
the file: an extension the kind cannot be written as, a target that is a folder (or, for a
folder, a file), a place that cannot be created or written, an output that is one of the
command's inputs, and two outputs on one path.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .atomic import OutputError

#: extensions each kind of file output may have (images: single-file formats only, since a
#: detached header's data file would not be published with it)
OUTPUT_EXTENSIONS: Mapping[str, tuple[str, ...]] = {
    "image": (".nii.gz", ".nii", ".nrrd", ".mha"),
    "table": (".csv",),
    "json": (".json",),
    "png": (".png",),
    "markdown": (".md",),
    "video": (".mp4", ".mkv", ".avi", ".mov", ".webm"),
}
FOLDER_KINDS = ("folder", "prefix")


@dataclass(frozen=True)
class Output:
    """One output: the path given, its kind, and how the user named it (``--out``)."""

    path: Path
    kind: str
    option: str

    def __post_init__(self) -> None:
        if self.kind not in OUTPUT_EXTENSIONS and self.kind not in FOLDER_KINDS:
            raise ValueError(f"unknown output kind {self.kind!r}")

    @property
    def deferred(self) -> bool:
        """Whether it is one file published with the command's other outputs."""
        return self.kind not in FOLDER_KINDS


def _same(first: Path, second: Path) -> bool:
    if os.path.abspath(first) == os.path.abspath(second):
        return True
    try:
        return first.exists() and second.exists() and os.path.samefile(first, second)
    except OSError:
        return False


def _writable_place(folder: Path) -> str | None:
    """Why ``folder`` cannot hold new files (it is created when missing), or None."""
    existing = Path(os.path.abspath(folder))
    while not existing.exists():
        if existing.parent == existing:
            return "no part of the path exists"
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"the folder {existing} is not writable"
    return None


def check_outputs(outputs: Iterable[Output], inputs: Iterable[Path] = ()) -> None:
    """Refuse outputs that cannot be written as asked, before any work starts.

    Raises:
        OutputError: naming the output's path and the problem.
    """
    outputs, inputs = list(outputs), [Path(path) for path in inputs]
    for index, output in enumerate(outputs):
        path = output.path
        if output.kind in OUTPUT_EXTENSIONS:
            allowed = OUTPUT_EXTENSIONS[output.kind]
            if path.is_dir():
                raise OutputError(path, f"{output.option} is a folder; give a file name")
            if not path.name.lower().endswith(allowed):
                raise OutputError(path, f"{output.option} must end in {' or '.join(allowed)}")
            problem = _writable_place(path.parent)
        elif output.kind == "folder":
            if path.exists() and not path.is_dir():
                raise OutputError(path, f"{output.option} is a file; give a folder")
            problem = _writable_place(path)
        else:
            problem = _writable_place(path.parent)
        if problem:
            raise OutputError(path, f"cannot write {output.option} here: {problem}")
        for source in inputs:
            if _same(path, source):
                raise OutputError(path, f"{output.option} is also an input of this command; choose another path")
        for other in outputs[:index]:
            if _same(path, other.path):
                raise OutputError(path, f"{output.option} and {other.option} are the same path")
