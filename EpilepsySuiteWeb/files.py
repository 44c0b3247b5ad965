"""Which files a web session may open: those under ``--data`` and its own uploads, nothing else.

Names travel between browser and server as relative POSIX paths: ``sub-01/t1.nii.gz`` under
the data folder, ``uploads/t1.nii.gz`` for a file this session uploaded. Every name is
resolved here, once, before anything is read:

- absolute paths, drive letters, ``..`` components, NUL bytes and backslashes are refused;
- the resolved path (symlinks followed) must lie inside the data folder, so a symlink that
  points out of it is refused too;
- uploads go to a private folder (mode 0700) that belongs to this server process alone and is
  removed when it stops: one session cannot name, list or open another's uploads.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from epilepsy_suite.errors import InputError

UPLOADS = "uploads"
DEFAULT_MAX_UPLOAD_MB = 512
IMAGE_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")
MODEL_SUFFIXES = (".pt", ".pth", ".ckpt")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".m4v")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NAME = 120  # characters of an upload's stored name (file systems allow 255 bytes with ".partial")


class AccessError(InputError):
    """A name the session may not open (outside the data folder, or not a file)."""


def has_suffix(name: str, suffixes: tuple[str, ...]) -> bool:
    lower = name.lower()
    return any(lower.endswith(suffix) for suffix in suffixes)


@dataclass
class DataFolder:
    """The files one web session may open.

    Args:
        root: the ``--data`` folder (None: uploads only).
        max_upload_mb: largest upload accepted, in MB (10^6 bytes).
    """

    root: Path | None
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB

    def __post_init__(self) -> None:
        if self.root is not None:
            root = Path(self.root).expanduser()
            if not root.is_dir():
                raise InputError(root, "the --data folder does not exist or is not a folder")
            self.root = root.resolve()
        if self.max_upload_mb <= 0:
            raise InputError("--max-upload-mb", f"must be positive, not {self.max_upload_mb}")
        self.uploads = Path(tempfile.mkdtemp(prefix="epilepsy-suite-session-"))
        os.chmod(self.uploads, 0o700)

    # ------------------------------------------------------------------------------------ names

    def resolve(self, name: str, what: str = "file") -> Path:
        """The file ``name`` stands for (``what`` it is, for the message when none was chosen);
        raises :class:`AccessError` for anything not allowed."""
        if not isinstance(name, str) or not name.strip():
            raise AccessError(what, "no file was chosen")
        if "\x00" in name or "\\" in name or re.match(r"^[A-Za-z]:", name):
            raise AccessError(name, "is not a valid file name")
        relative = PurePosixPath(name)
        if relative.is_absolute():
            raise AccessError(name, "absolute paths are not allowed: name a file under the data folder")
        if any(part == ".." for part in relative.parts):
            raise AccessError(name, "'..' is not allowed: name a file under the data folder")
        if relative.parts and relative.parts[0] == UPLOADS:
            base = self.uploads.resolve()
            relative = PurePosixPath(*relative.parts[1:])
        elif self.root is not None:
            base = self.root
        else:
            raise AccessError(name, "the server was started without --data: upload the file instead")
        path = (base / relative).resolve()
        if not path.is_relative_to(base):
            raise AccessError(name, "points outside the data folder (a symbolic link out of it?)")
        if not path.is_file():
            raise AccessError(name, "no such file under the data folder")
        return path

    def listing(self, suffixes: tuple[str, ...], limit: int = 2000) -> list[str]:
        """Names of the files with one of ``suffixes`` (data folder, then uploads), sorted."""
        return self.listings({"files": suffixes}, limit)["files"]

    def listings(self, groups: dict[str, tuple[str, ...]], limit: int = 2000) -> dict[str, list[str]]:
        """:meth:`listing` of each group of suffixes, from one walk of the data folder; a group
        whose data-folder files reach ``limit`` is cut there."""
        found: dict[str, list[str]] = {group: [] for group in groups}
        if self.root is not None:
            for dirpath, dirnames, filenames in os.walk(self.root):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for filename in sorted(filenames):
                    wanted = [g for g, suffixes in groups.items() if has_suffix(filename, suffixes)]
                    wanted = [g for g in wanted if len(found[g]) < limit]
                    if filename.startswith(".") or not wanted:
                        continue
                    path = Path(dirpath) / filename
                    if not path.resolve().is_relative_to(self.root):
                        continue  # a symlink out of the data folder is not offered either
                    for group in wanted:
                        found[group].append(path.relative_to(self.root).as_posix())
        uploads = sorted(path.name for path in self.uploads.iterdir() if path.is_file())
        for group, suffixes in groups.items():
            if len(found[group]) < limit:
                found[group] += [f"{UPLOADS}/{name}" for name in uploads if has_suffix(name, suffixes)]
        return found

    # ------------------------------------------------------------------------------------ uploads

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1_000_000)

    def save_upload(self, filename: str, content: bytes | list[bytes]) -> str:
        """Store an uploaded file in this session's private folder; returns its name (``uploads/...``)."""
        if isinstance(content, list):
            content = b"".join(content)
        if len(content) > self.max_upload_bytes:
            raise AccessError(
                filename,
                f"the upload is {len(content) / 1e6:.1f} MB, over the server's limit of {self.max_upload_mb:g} MB",
            )
        safe = _SAFE_NAME.sub("_", PurePosixPath(str(filename).replace("\\", "/")).name).lstrip(".")
        if not safe:
            raise AccessError(str(filename), "is not a usable file name")
        if len(safe) > MAX_NAME:  # keep the end, where the suffix (.nii.gz, .pt) is
            safe = safe[-MAX_NAME:].lstrip(".") or "upload"
        target = self.uploads / safe
        partial = target.with_name(f".{safe}.partial")
        partial.write_bytes(content)
        os.replace(partial, target)
        return f"{UPLOADS}/{safe}"

    def private_folder(self, name: str) -> Path:
        """A folder for this session's derived files (not listed, not openable by name)."""
        folder = self.uploads.parent / f"{self.uploads.name}-{name}"
        folder.mkdir(mode=0o700, exist_ok=True)
        return folder

    def close(self) -> None:
        for path in self.uploads.parent.glob(f"{self.uploads.name}*"):
            shutil.rmtree(path, ignore_errors=True)
