"""Logic of the Cavity Segmentation module: MRML nodes in, MRML nodes out, no Qt.

The caller gives the scene: ``slicer.mrmlScene`` in Slicer, a slicer-core scene headless.
"""

from __future__ import annotations


class CavitySegmentationLogic:
    def __init__(self, scene) -> None:
        self.scene = scene
