"""Text files as users save them: UTF-8, UTF-8 with a byte-order mark, UTF-16 or Windows-1252.

Excel on Windows writes "CSV" in the Western code page (Windows-1252, a superset of the printable
Latin-1), "CSV UTF-8" with a byte-order mark and "Unicode Text" as UTF-16; editors elsewhere write
UTF-8. :func:`decode_text` takes the first of these that fits; bytes that fit none are an
:class:`~epilepsy_suite.errors.InputError` naming the file and the line.
"""

from __future__ import annotations

import codecs
import io
import os
from pathlib import Path

from ..errors import InputError

# Tried after UTF-8: Windows-1252 reads Latin-1's printable characters the same and 0x80-0x9F as
# the quotes, dashes and euro sign Windows puts there (Latin-1 has invisible controls there).
FALLBACK_ENCODING = "cp1252"
_UTF16_MARKS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def decode_text(data: bytes, source: str | os.PathLike[str]) -> str:
    """``data`` as text: UTF-16 when it starts with a UTF-16 byte-order mark, else UTF-8 (a UTF-8
    byte-order mark dropped), else Windows-1252.

    Raises:
        InputError: from ``source``, naming the line of the first byte no encoding reads, or of a NUL
            character (a binary file, or UTF-16 without its mark).
    """
    if data.startswith(_UTF16_MARKS):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as error:
            raise InputError(source, f"is not valid UTF-16 text ({error.reason}); save it as UTF-8") from None
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = data.decode(FALLBACK_ENCODING)
            except UnicodeDecodeError as error:
                line = data.count(b"\n", 0, error.start) + 1
                raise InputError(
                    source,
                    f"line {line}: byte 0x{data[error.start]:02X} is a character of neither "
                    "UTF-8 nor Windows-1252 (Latin-1); save the file as UTF-8 text",
                ) from None
    nul = text.find("\x00")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise InputError(source, f"line {line}: NUL character; this is not a text file (save it as UTF-8)")
    return text


def read_text(path: str | os.PathLike[str]) -> str:
    """The text of the file at ``path`` in any encoding :func:`decode_text` reads.

    Line ends are left as they are (``str.splitlines``, YAML and :mod:`csv` read them all).

    Raises:
        InputError: the file cannot be read, or its bytes are not text (the message names file and line).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(path, f"cannot be read ({error.strerror or error})") from None
    return decode_text(data, path)


def open_text(path: str | os.PathLike[str]) -> io.StringIO:
    """The file's text as a stream for :mod:`csv` (like ``open(path, newline="")``, any encoding)."""
    return io.StringIO(read_text(path), newline="")
