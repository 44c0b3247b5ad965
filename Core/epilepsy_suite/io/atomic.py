"""Write-to-temporary-then-rename, so a failed job never leaves a partial output file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _temporary_name(path: Path) -> Path:
    # Keep the full suffix (".nii.gz") so writers that pick a format from it still do.
    suffix = "".join(path.suffixes)
    stem = path.name[: len(path.name) - len(suffix)] if suffix else path.name
    handle, name = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".partial{suffix}", dir=path.parent)
    os.close(handle)
    return Path(name)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    The parent directory is created when missing. On any exception the temporary file is
    removed and ``path`` is left as it was (absent, or its previous content).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_name(target)
    try:
        yield temporary
        # mkstemp creates owner-only files; give the result the usual permissions.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
