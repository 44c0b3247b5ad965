"""Colour table nodes: from matplotlib colour maps (continuous) and from label tables."""

from __future__ import annotations

import matplotlib
import numpy as np
from epilepsy_suite.data import LabelTable


def colormap_rgba(name: str, count: int = 256) -> np.ndarray:
    """``count`` RGBA colours in [0, 1] sampled evenly from the matplotlib colour map ``name``."""
    try:
        colormap = matplotlib.colormaps[name]
    except KeyError:
        raise ValueError(f"unknown matplotlib colour map {name!r}") from None
    return np.asarray(colormap(np.linspace(0.0, 1.0, count)))


def color_table_from_matplotlib(scene, colormap: str = "viridis", name: str | None = None, count: int = 256):
    """A continuous ``vtkMRMLColorTableNode`` with ``count`` entries of a matplotlib colour map."""
    node = scene.AddNewNodeByClass("vtkMRMLColorTableNode", name or f"EpilepsySuite {colormap}")
    node.SetTypeToUser()
    node.SetNumberOfColors(count)
    for index, (red, green, blue, alpha) in enumerate(colormap_rgba(colormap, count)):
        node.SetColor(index, f"{index / (count - 1):.3f}", red, green, blue, alpha)
    node.SetAttribute("Category", "EpilepsySuite")
    return node


def color_table_from_labels(scene, table: LabelTable, name: str | None = None):
    """A discrete ``vtkMRMLColorTableNode`` with each label's name and colour at its number."""
    node = scene.AddNewNodeByClass("vtkMRMLColorTableNode", name or f"{table.name} labels")
    node.SetTypeToUser()
    node.SetNumberOfColors(max(table.numbers, default=0) + 1)
    node.SetColor(0, "Background", 0.0, 0.0, 0.0, 0.0)
    for label in table:
        red, green, blue = (channel / 255.0 for channel in label.color)
        node.SetColor(label.number, label.name, red, green, blue, 1.0)
    return node
