"""Checked file I/O: images with clear errors, and writes that never leave partial files.

The image functions load SimpleITK on first use, so that code needing only ``atomic_output``
(e.g. the semiology database) starts fast.
"""

from .atomic import atomic_output
from .text import open_text, read_text

__all__ = ["atomic_output", "check_same_grid", "open_text", "read_image", "read_label_map", "read_text", "write_image"]
_IMAGE_FUNCTIONS = {"check_same_grid", "read_image", "read_label_map", "write_image"}


def __getattr__(name: str):
    if name in _IMAGE_FUNCTIONS:
        from . import images

        return getattr(images, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
