"""Checked file I/O: images with clear errors, and writes that never leave partial files."""

from .atomic import atomic_output
from .images import check_same_grid, read_image, read_label_map, write_image

__all__ = ["atomic_output", "check_same_grid", "read_image", "read_label_map", "write_image"]
