"""Segmentation nodes from label maps, with names and colours from a label table."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
import vtk
from epilepsy_suite.data import LabelTable, make_label

from .colors import color_table_from_labels
from .scene import segmentations_logic
from .volumes import volume_node_from_sitk

LABEL_TAG = "EpilepsySuite.Label"


def segmentation_from_labelmap(
    scene,
    labels: sitk.Image,
    table: LabelTable | None = None,
    name: str = "Segmentation",
    closed_surface: bool = True,
    reference_volume=None,
    decimation: float = 0.0,
):
    """A ``vtkMRMLSegmentationNode`` with one segment per label present in ``labels``.

    Segment names and colours come from ``table`` (labels missing from it are named
    ``"Label <n>"``); each segment gets the tag ``EpilepsySuite.Label`` = label number.
    With ``closed_surface`` the 3D meshes are built (marching cubes) so they show in 3D;
    ``decimation`` in [0, 1) is the fraction of their triangles removed (Slicer's conversion
    parameter), for renderers without a GPU.
    """
    if not 0.0 <= decimation < 1.0:
        raise ValueError(f"{name}: the decimation factor must be in [0, 1), not {decimation}")
    array = sitk.GetArrayViewFromImage(labels)
    present = [int(value) for value in np.unique(array) if value != 0]
    if not present:
        raise ValueError(f"{name}: the label map is empty, there is nothing to segment")
    known = table if table is not None else LabelTable([], "labels")
    full_table = LabelTable(
        [known[number] if number in known else make_label(number, f"Label {number}") for number in present],
        known.name,
    )
    colors = color_table_from_labels(scene, full_table, f"{name} colours")
    labelmap_node = volume_node_from_sitk(scene, sitk.Cast(labels, sitk.sitkInt16), f"{name} labelmap", labelmap=True)
    labelmap_node.GetDisplayNode().SetAndObserveColorNodeID(colors.GetID())
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name)
    segmentation.CreateDefaultDisplayNodes()
    if reference_volume is not None:
        segmentation.SetReferenceImageGeometryParameterFromVolumeNode(reference_volume)
    try:
        if not segmentations_logic(scene).ImportLabelmapToSegmentationNode(labelmap_node, segmentation):
            raise RuntimeError(f"{name}: Slicer could not import the label map into a segmentation")
    finally:
        scene.RemoveNode(labelmap_node)
        scene.RemoveNode(colors)
    segment_ids = segmentation.GetSegmentation().GetSegmentIDs()
    for segment_id, number in zip(segment_ids, present, strict=True):
        segmentation.GetSegmentation().GetSegment(segment_id).SetTag(LABEL_TAG, str(number))
    if closed_surface:
        if decimation:
            segmentation.GetSegmentation().SetConversionParameter("Decimation factor", str(decimation))
        segmentation.CreateClosedSurfaceRepresentation()
    return segmentation


def segment_ids_by_label(segmentation) -> dict[int, str]:
    """Map label number -> segment ID for segments made by :func:`segmentation_from_labelmap`."""
    result = {}
    inner = segmentation.GetSegmentation()
    for segment_id in inner.GetSegmentIDs():
        value = vtk.reference("")
        if inner.GetSegment(segment_id).GetTag(LABEL_TAG, value) and str(value):
            result[int(str(value))] = segment_id
    return result
