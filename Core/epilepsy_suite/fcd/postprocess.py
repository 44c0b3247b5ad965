"""Post-processing of FCD masks and cluster analysis (section 4.4 of the paper)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

CONNECTIVITY_26 = np.ones((3, 3, 3), dtype=bool)
CONNECTIVITY_6 = ndimage.generate_binary_structure(3, 1)


@dataclass(frozen=True)
class PostprocessSettings:
    """Binary opening, hole filling in a ``fill_size``^3 window, components of the given
    connectivity (26 or 6), and removal of clusters smaller than ``min_cluster_voxels``."""

    opening: bool = True
    fill_size: int = 5
    connectivity: int = 26
    min_cluster_voxels: int = 50

    def __post_init__(self) -> None:
        if self.connectivity not in (6, 26):
            raise ValueError("connectivity must be 6 or 26")
        if self.fill_size < 0 or self.min_cluster_voxels < 0:
            raise ValueError("fill_size and min_cluster_voxels must be >= 0")

    @classmethod
    def for_spacing(cls, spacing_mm: float, **overrides) -> PostprocessSettings:
        """The paper's settings on an isotropic grid of ``spacing_mm``: its smallest cluster, 50
        voxels of 1 mm^3, kept as the same volume (6 voxels at 2 mm, 2 at 3 mm)."""
        if spacing_mm <= 0:
            raise ValueError(f"spacing_mm must be > 0, got {spacing_mm}")
        volume_mm3 = cls.min_cluster_voxels
        return cls(**{"min_cluster_voxels": max(1, round(volume_mm3 / spacing_mm**3)), **overrides})


def structure(connectivity: int) -> np.ndarray:
    return CONNECTIVITY_26 if connectivity == 26 else CONNECTIVITY_6


def label_clusters(mask: np.ndarray, connectivity: int = 26) -> tuple[np.ndarray, int]:
    """Connected components of a binary ``mask``: (labels, count)."""
    labels, count = ndimage.label(np.asarray(mask, dtype=bool), structure=structure(connectivity))
    return labels, int(count)


def fill_holes(mask: np.ndarray, size: int = 5) -> np.ndarray:
    """Close gaps narrower than a ``size``^3 cube, then fill the enclosed cavities."""
    mask = np.asarray(mask, dtype=bool)
    if size > 1:
        pad = size
        padded = np.pad(mask, pad)  # so the closing does not erode at the array border
        closed = ndimage.binary_closing(padded, structure=np.ones((size,) * 3, dtype=bool))
        mask = mask | closed[pad:-pad, pad:-pad, pad:-pad]
    return ndimage.binary_fill_holes(mask)


def postprocess_mask(mask: np.ndarray, settings: PostprocessSettings = PostprocessSettings()) -> np.ndarray:
    """Apply the paper's post-processing to a binary (D, H, W) mask; returns a bool mask."""
    mask = np.asarray(mask, dtype=bool)
    if settings.opening:
        mask = ndimage.binary_opening(mask, structure=CONNECTIVITY_6)
    if settings.fill_size:
        mask = fill_holes(mask, settings.fill_size)
    return remove_small_clusters(mask, settings.min_cluster_voxels, settings.connectivity)


def remove_small_clusters(mask: np.ndarray, min_voxels: int, connectivity: int = 26) -> np.ndarray:
    """Drop connected components with fewer than ``min_voxels`` voxels."""
    labels, count = label_clusters(mask, connectivity)
    if count == 0 or min_voxels <= 1:
        return labels > 0
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    keep = sizes >= min_voxels
    keep[0] = False
    return keep[labels]
