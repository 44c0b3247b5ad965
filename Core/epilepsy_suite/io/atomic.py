"""Write to a temporary, check it, then publish: a failed job never leaves a partial or lying file.

:func:`atomic_output` yields a temporary path beside the target. When the block succeeds the
temporary is checked (:func:`~epilepsy_suite.io.integrity.check_complete`: not empty, a whole
gzip stream, a NIfTI as long as its header says, a checkpoint archive passing its CRCs), then
renamed onto the target. Inside :func:`publication` (every CLI command runs in one, naming its
outputs) the rename of those outputs waits for the end of the command, so a command with several
outputs publishes all of them or none; other files (checkpoints, caches) are published at once. Temporaries carry the writing process' id; those of processes that no longer run (a
``kill -9``) are removed the next time the same target is written.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import InputError
from .integrity import check_complete

#: errors of a write that the file system refused, whatever file the OSError names
_WRITE_ERRORS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}
#: what PyTorch's zip writer (torch.save) raises when the file system refuses a write
_TORCH_WRITE_ERRORS = ("inline_container.cc", "PytorchStreamWriter failed")
_PARTIAL = re.compile(r"^\.(?P<stem>.*)\.(?P<pid>\d+)-[^.]*\.partial(?P<suffix>.*)$")


class OutputError(InputError):
    """An output could not be written whole (full disk, quota, permissions): nothing was published."""


def _split_suffix(path: Path) -> tuple[str, str]:
    suffix = "".join(path.suffixes)
    return (path.name[: len(path.name) - len(suffix)] if suffix else path.name), suffix


def _temporary_name(path: Path) -> Path:
    # Keep the full suffix (".nii.gz") so writers that pick a format from it still do.
    stem, suffix = _split_suffix(path)
    handle, name = tempfile.mkstemp(prefix=f".{stem}.{os.getpid()}-", suffix=f".partial{suffix}", dir=path.parent)
    os.close(handle)
    return Path(name)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_partials(path: Path) -> list[Path]:
    """Remove the temporaries of ``path`` left by our processes that died before renaming them."""
    stem, suffix = _split_suffix(path)
    removed = []
    with contextlib.suppress(OSError):
        for candidate in path.parent.iterdir():
            match = _PARTIAL.match(candidate.name)
            if match and match["stem"] == stem and match["suffix"] == suffix and not _running(int(match["pid"])):
                candidate.unlink(missing_ok=True)
                removed.append(candidate)
    return removed


class Publication:
    """The outputs of one command (``targets``): written and checked, renamed onto their targets
    only by :meth:`commit`."""

    def __init__(self, targets: list[Path]) -> None:
        self.targets = {_key(target) for target in targets}
        self.staged: dict[Path, Path] = {}

    def defers(self, target: Path) -> bool:
        return _key(target) in self.targets

    def stage(self, temporary: Path, target: Path) -> None:
        previous = self.staged.pop(target, None)
        if previous is not None:
            previous.unlink(missing_ok=True)
        self.staged[target] = temporary

    def commit(self) -> None:
        for target, temporary in list(self.staged.items()):
            os.replace(temporary, target)
            del self.staged[target]

    def discard(self) -> None:
        for temporary in self.staged.values():
            temporary.unlink(missing_ok=True)
        self.staged.clear()


_ACTIVE: contextvars.ContextVar[Publication | None] = contextvars.ContextVar("publication", default=None)


def _key(path: Path) -> Path:
    return Path(os.path.abspath(path))


@contextlib.contextmanager
def publication(targets: list[Path] | tuple[Path, ...] = ()) -> Iterator[Publication]:
    """Within the block, :func:`atomic_output` stages the checked files of ``targets``; they are
    renamed onto their targets together when the block succeeds and removed when it fails."""
    staged = Publication([Path(target) for target in targets])
    token = _ACTIVE.set(staged)
    try:
        yield staged
        staged.commit()
    except BaseException:
        staged.discard()
        raise
    finally:
        _ACTIVE.reset(token)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; check it and publish it onto ``path`` only if the block
    succeeds (at the end of the enclosing :func:`publication`, if any).

    The parent directory is created when missing. On any exception the temporary file is
    removed and ``path`` is left as it was (absent, or its previous content).

    Raises:
        OutputError: the written file is empty or incomplete (e.g. a full disk that the writer
            did not report), or the file system refused the write.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_partials(target)
        temporary = _temporary_name(target)
    except OSError as error:
        raise OutputError(target, f"cannot write here ({error.strerror or error})") from None
    try:
        try:
            yield temporary
            check_complete(temporary)
        except InputError as error:
            if Path(error.source or "") == temporary:
                raise OutputError(target, f"writing failed, nothing was published: {error.problem}") from None
            raise
        except OSError as error:
            named = error.filename is not None and Path(error.filename) == temporary
            if not named and error.errno not in _WRITE_ERRORS:
                raise
            raise OutputError(target, f"writing failed ({error.strerror or error}), nothing was published") from None
        except RuntimeError as error:
            # torch.save's zip writer, or an ITK writer that did report the failure (NRRD, MetaImage)
            if not any(marker in str(error) for marker in _TORCH_WRITE_ERRORS) and temporary.name not in str(error):
                raise
            raise OutputError(target, "writing failed (the file could not be written whole: is the disk full?), "
                              "nothing was published") from None  # fmt: skip
        # mkstemp creates owner-only files; give the result the usual permissions.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        staged = _ACTIVE.get()
        if staged is None or not staged.defers(target):
            os.replace(temporary, target)
        else:
            staged.stage(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
