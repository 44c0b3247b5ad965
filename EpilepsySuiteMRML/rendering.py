"""Offscreen pictures of MRML content: slice views (with overlays) and 3D surface views.

Slices are resampled onto an axis-aligned grid and drawn in Slicer's default radiological
convention (patient right on screen left, anterior or superior up). 3D views are rendered by
VTK offscreen (EGL where there is no display) from the segments' closed-surface meshes.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import vtk
from epilepsy_suite.io import atomic_output

from .scene import segmentations_logic
from .volumes import sitk_from_volume_node

ORIENTATIONS = ("axial", "coronal", "sagittal")


def _axis_aligned_grid(image: sitk.Image, spacing: float | None = None) -> sitk.Image:
    """An empty LPS-identity grid covering the bounding box of ``image``."""
    size = np.asarray(image.GetSize())
    corners = np.array(
        [
            image.TransformContinuousIndexToPhysicalPoint(
                [float(i * (s - 1)) for i, s in zip(corner, size, strict=True)]
            )
            for corner in np.ndindex(2, 2, 2)
        ]
    )
    step = spacing or float(min(image.GetSpacing()))
    low, high = corners.min(axis=0), corners.max(axis=0)
    grid_size = [int(np.ceil((h - lo) / step)) + 1 for lo, h in zip(low, high, strict=True)]
    grid = sitk.Image(grid_size, sitk.sitkUInt8)
    grid.SetSpacing([step] * 3)
    grid.SetOrigin(low.tolist())
    return grid


def _slice_of(volume: np.ndarray, orientation: str, index: int) -> np.ndarray:
    # volume is (z, y, x) on an LPS-identity grid: x -> left, y -> posterior, z -> superior.
    if orientation == "axial":
        return volume[index]  # rows: anterior -> posterior, columns: right -> left
    if orientation == "coronal":
        return volume[::-1, index, :]  # rows: superior -> inferior
    return volume[::-1, :, index]  # sagittal; rows: superior -> inferior, columns: anterior -> posterior


def _slice_index(grid: sitk.Image, orientation: str, ras: tuple[float, float, float] | None) -> int:
    axis = {"axial": 2, "coronal": 1, "sagittal": 0}[orientation]
    if ras is None:
        return grid.GetSize()[axis] // 2
    lps = (-ras[0], -ras[1], ras[2])
    index = grid.TransformPhysicalPointToIndex(lps)
    return int(np.clip(index[axis], 0, grid.GetSize()[axis] - 1))


def _segments_rgba(scene, segmentation_node, reference_node, grid: sitk.Image) -> np.ndarray | None:
    """RGBA (z, y, x, 4) of the 2D-visible segments with their colours and 2D fill opacities."""
    display = segmentation_node.GetDisplayNode()
    labelmap_node = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "screenshot labelmap")
    try:
        segment_ids = vtk.vtkStringArray()
        inner = segmentation_node.GetSegmentation()
        visible = [
            segment_id
            for segment_id in inner.GetSegmentIDs()
            if display is None
            or (display.GetSegmentVisibility(segment_id) and display.GetSegmentVisibility2DFill(segment_id))
        ]
        if not visible:
            return None
        for segment_id in visible:
            segment_ids.InsertNextValue(segment_id)
        logic = segmentations_logic(scene)
        if not logic.ExportSegmentsToLabelmapNode(segmentation_node, segment_ids, labelmap_node, reference_node):
            return None
        labels = sitk_from_volume_node(labelmap_node)
    finally:
        scene.RemoveNode(labelmap_node)
    labels = sitk.Resample(labels, grid, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt16)
    array = sitk.GetArrayFromImage(labels)
    lookup = np.zeros((len(visible) + 1, 4))
    for value, segment_id in enumerate(visible, start=1):
        color = inner.GetSegment(segment_id).GetColor()
        opacity = 1.0
        if display is not None:
            opacity = display.GetSegmentOpacity2DFill(segment_id) * display.GetOpacity2DFill() * display.GetOpacity()
        lookup[value] = (*color, opacity)
    return lookup[np.clip(array, 0, len(visible))]


def screenshot_slice(
    scene,
    path: str | os.PathLike[str],
    background_node,
    overlay_node=None,
    segmentation_node=None,
    orientation: str = "axial",
    ras: tuple[float, float, float] | None = None,
    overlay_colormap: str = "viridis",
    overlay_range: tuple[float, float] = (0.0, 1.0),
    overlay_threshold: float | None = None,
    title: str | None = None,
) -> Path:
    """Write a PNG of one slice of ``background_node`` with optional overlays.

    Args:
        overlay_node: a scalar volume (e.g. a probability map) drawn with ``overlay_colormap``
            over ``overlay_range``; voxels below ``overlay_threshold`` are transparent.
        segmentation_node: segments drawn with their colours and 2D fill opacity (hidden
            segments are skipped).
        ras: the RAS point (mm) the slice passes through (default: the volume centre).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if orientation not in ORIENTATIONS:
        raise ValueError(f"orientation must be one of {ORIENTATIONS}, not {orientation!r}")
    background = sitk_from_volume_node(background_node)
    grid = _axis_aligned_grid(background)
    volume = sitk.GetArrayFromImage(
        sitk.Resample(sitk.Cast(background, sitk.sitkFloat32), grid, sitk.Transform(), sitk.sitkLinear)
    )
    index = _slice_index(grid, orientation, ras)
    figure, axes = plt.subplots(figsize=(5, 5), dpi=110)
    image = _slice_of(volume, orientation, index)
    low, high = np.percentile(volume[volume > 0] if (volume > 0).any() else volume, [1, 99.5])
    axes.imshow(image, cmap="gray", vmin=low, vmax=high, interpolation="bilinear")
    if overlay_node is not None:
        overlay = sitk_from_volume_node(overlay_node)
        overlay_array = sitk.GetArrayFromImage(
            sitk.Resample(sitk.Cast(overlay, sitk.sitkFloat32), grid, sitk.Transform(), sitk.sitkLinear)
        )
        layer = _slice_of(overlay_array, orientation, index)
        layer = np.ma.masked_less(
            layer, overlay_threshold if overlay_threshold is not None else overlay_range[0] + 1e-6
        )
        mappable = axes.imshow(layer, cmap=overlay_colormap, vmin=overlay_range[0], vmax=overlay_range[1], alpha=0.75)
        figure.colorbar(mappable, ax=axes, fraction=0.046, pad=0.04)
    if segmentation_node is not None:
        rgba = _segments_rgba(scene, segmentation_node, background_node, grid)
        if rgba is not None:
            axes.imshow(_slice_of(rgba, orientation, index))
    axes.set_axis_off()
    axes.set_title(title or f"{background_node.GetName()} ({orientation})", fontsize=9)
    path = Path(path)
    with atomic_output(path) as temporary:
        figure.savefig(temporary, format="png", bbox_inches="tight")
    plt.close(figure)
    return path


def screenshot_3d(
    scene,
    path: str | os.PathLike[str],
    segmentation_node,
    size: tuple[int, int] = (600, 500),
    view: str = "left",
    background: tuple[float, float, float] = (1.0, 1.0, 1.0),
) -> Path:
    """Render the 3D-visible closed surfaces of ``segmentation_node`` offscreen to a PNG.

    ``view`` is where the camera stands: ``left``, ``right``, ``anterior`` or ``superior``.
    """
    segmentation_node.CreateClosedSurfaceRepresentation()
    display = segmentation_node.GetDisplayNode()
    inner = segmentation_node.GetSegmentation()
    renderer = vtk.vtkRenderer()
    renderer.SetBackground(*background)
    shown = 0
    for segment_id in inner.GetSegmentIDs():
        if display is not None and not (
            display.GetSegmentVisibility(segment_id) and display.GetSegmentVisibility3D(segment_id)
        ):
            continue
        polydata = vtk.vtkPolyData()
        segmentation_node.GetClosedSurfaceRepresentation(segment_id, polydata)
        if polydata.GetNumberOfPoints() == 0:
            continue
        mapper = vtk.vtkPolyDataMapper()
        mapper.SetInputData(polydata)
        mapper.ScalarVisibilityOff()
        actor = vtk.vtkActor()
        actor.SetMapper(mapper)
        actor.GetProperty().SetColor(*inner.GetSegment(segment_id).GetColor())
        opacity = display.GetSegmentOpacity3D(segment_id) * display.GetOpacity3D() if display is not None else 1.0
        actor.GetProperty().SetOpacity(opacity)
        renderer.AddActor(actor)
        shown += 1
    if shown == 0:
        raise ValueError(f"{segmentation_node.GetName()}: no visible segment surface to render")
    camera = renderer.GetActiveCamera()
    positions = {"left": (-1, 0, 0), "right": (1, 0, 0), "anterior": (0, 1, 0), "superior": (0, 0, 1)}
    if view not in positions:
        raise ValueError(f"view must be one of {tuple(positions)}, not {view!r}")
    camera.SetFocalPoint(0, 0, 0)
    camera.SetPosition(*positions[view])
    camera.SetViewUp(0, 1, 0) if view == "superior" else camera.SetViewUp(0, 0, 1)
    renderer.ResetCamera()
    camera.Zoom(1.3)
    window = vtk.vtkRenderWindow()
    window.SetOffScreenRendering(1)
    window.SetSize(*size)
    window.AddRenderer(renderer)
    window.Render()
    capture = vtk.vtkWindowToImageFilter()
    capture.SetInput(window)
    capture.Update()
    writer = vtk.vtkPNGWriter()
    writer.SetInputData(capture.GetOutput())
    path = Path(path)
    with atomic_output(path) as temporary:
        writer.SetFileName(str(temporary))
        writer.Write()
    window.Finalize()
    return path
