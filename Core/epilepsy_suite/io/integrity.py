"""Is a file whole? Checks for files we wrote (before they are published) and files we read.

ITK's writers do not report a full disk, and its NIfTI reader fills a truncated ``.nii.gz`` with
zeros, so neither side can be trusted to say that a file is complete. These checks need no
third-party reader: a gzip stream is decompressed to its end (its length and CRC are checked by
Python's ``gzip``), a NIfTI-1/2 or NRRD/MetaImage file with raw data must hold as many bytes as its
header announces, and a zip container (torch checkpoints) must pass its CRCs.
"""

from __future__ import annotations

import gzip
import os
import struct
import zipfile
import zlib
from pathlib import Path

from ..errors import InputError

_CHUNK = 1 << 20
NIFTI_DATATYPE_BYTES = {2: 1, 4: 2, 8: 4, 16: 4, 32: 8, 64: 8, 128: 3, 256: 1, 512: 2, 768: 4, 1024: 8, 1280: 8,
                        1536: 16, 1792: 16, 2048: 32, 2304: 4}  # fmt: skip


class IncompleteFileError(InputError):
    """A file shorter than its own header says, or whose compression stream is broken."""


def gzip_length(path: Path) -> int:
    """Decompressed length of a gzip file, reading it to the end.

    Raises:
        IncompleteFileError: the stream ends early or fails its CRC.
    """
    total = 0
    try:
        with gzip.open(path, "rb") as stream:
            while chunk := stream.read(_CHUNK):
                total += len(chunk)
    except gzip.BadGzipFile:
        raise IncompleteFileError(path, "cannot read: the file is not gzip-compressed, as its .gz name says") from None
    except (EOFError, OSError, zlib.error) as error:
        raise IncompleteFileError(path, f"the compressed file is truncated or damaged ({error})") from None
    return total


def _head(path: Path, size: int) -> bytes:
    if "".join(path.suffixes[-1:]) == ".gz":
        with gzip.open(path, "rb") as stream:
            return stream.read(size)
    with open(path, "rb") as stream:
        return stream.read(size)


def nifti_expected_length(header: bytes) -> int | None:
    """Bytes a single-file NIfTI-1 or NIfTI-2 needs (data offset + voxels x bytes per voxel), from
    the first 544 bytes of its (decompressed) content; None when the header is neither."""
    for order in "<>":
        if len(header) >= 348 and struct.unpack(order + "i", header[:4])[0] == 348:
            dims = struct.unpack(order + "8h", header[40:56])
            datatype, bitpix = struct.unpack(order + "2h", header[70:74])
            offset, minimum = int(struct.unpack(order + "f", header[108:112])[0]), 352
        elif len(header) >= 540 and struct.unpack(order + "i", header[:4])[0] == 540:
            datatype, bitpix = struct.unpack(order + "2h", header[12:16])
            dims = struct.unpack(order + "8q", header[16:80])
            offset, minimum = int(struct.unpack(order + "q", header[168:176])[0]), 544
        else:
            continue
        if not 1 <= dims[0] <= 7:
            return None
        voxels = 1
        for extent in dims[1 : dims[0] + 1]:
            voxels *= max(int(extent), 1)
        item = NIFTI_DATATYPE_BYTES.get(int(datatype), max(int(bitpix), 8) // 8)
        return max(offset, minimum) + voxels * item
    return None


def check_complete(path: str | os.PathLike[str]) -> None:
    """Raise :class:`IncompleteFileError` naming ``path`` when it is empty, a broken gzip stream, a
    NIfTI shorter than its header announces, or a zip (torch checkpoint) failing its CRCs.

    Other formats pass when not empty: their own reader is the next check.
    """
    path = Path(path)
    if path.stat().st_size == 0:
        raise IncompleteFileError(path, "the file is empty (0 bytes)")
    name = path.name.lower()
    length = gzip_length(path) if name.endswith(".gz") else path.stat().st_size
    if name.endswith((".nii", ".nii.gz")):
        expected = nifti_expected_length(_head(path, 544))
        if expected is not None and length < expected:
            raise IncompleteFileError(path, f"the image is truncated: {length} of {expected} bytes")
    elif name.endswith((".nrrd", ".mha")):
        # ITK's NRRD and MetaImage writers can stop short on a full disk without saying so, and
        # its readers refuse a short file: read it back.
        import SimpleITK as sitk

        try:
            sitk.ReadImage(str(path))
        except RuntimeError:
            raise IncompleteFileError(path, "the image cannot be read back whole (truncated)") from None
    elif name.endswith((".pt", ".pth")) and zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                damaged = archive.testzip()
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            raise IncompleteFileError(path, f"the checkpoint archive is damaged ({error})") from None
        if damaged is not None:
            raise IncompleteFileError(path, f"the checkpoint archive is damaged (member {damaged})")
