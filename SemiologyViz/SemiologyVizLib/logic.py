"""Logic of the Semiology Visualization module: MRML nodes in, MRML nodes out, no Qt.

The caller gives the scene: ``slicer.mrmlScene`` in Slicer, a slicer-core scene headless.
"""

from __future__ import annotations


class SemiologyVizLogic:
    def __init__(self, scene) -> None:
        self.scene = scene
