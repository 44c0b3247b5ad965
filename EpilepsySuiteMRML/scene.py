"""A real MRML scene for headless runs and tests, set up as a running 3D Slicer sets it up."""

from __future__ import annotations

import slicer
from slicer import (
    vtkMRMLColorLogic,
    vtkMRMLScene,
    vtkMRMLSliceNode,
    vtkSlicerApplicationLogic,
    vtkSlicerSegmentationsModuleLogic,
    vtkSlicerSequencesLogic,
    vtkSlicerSubjectHierarchyModuleLogic,
    vtkSlicerVolumesLogic,
)

SLICE_VIEWS = {"Red": "Axial", "Yellow": "Sagittal", "Green": "Coronal"}

# Logic objects must outlive the calls that create them; they are kept per scene here.
_LOGICS: dict[int, dict[str, object]] = {}


def create_scene() -> vtkMRMLScene:
    """A new MRML scene with application, colour, volumes, segmentations, sequences and
    subject-hierarchy logic registered (so scene bundles with recordings load too), the default colour tables, the slice orientation presets, the three slice
    nodes (Red axial, Yellow sagittal, Green coronal) and one 3D view node."""
    scene = vtkMRMLScene()
    application = vtkSlicerApplicationLogic()
    application.SetMRMLScene(scene)
    application.GetColorLogic().SetMRMLScene(scene)
    application.GetColorLogic().AddDefaultColorNodes()

    colors = vtkMRMLColorLogic()
    colors.SetMRMLApplicationLogic(application)
    colors.SetMRMLScene(scene)
    application.SetModuleLogic("Colors", colors)

    volumes = vtkSlicerVolumesLogic()
    volumes.SetMRMLScene(scene)
    volumes.SetMRMLApplicationLogic(application)
    application.SetModuleLogic("Volumes", volumes)

    segmentations = vtkSlicerSegmentationsModuleLogic()
    segmentations.SetMRMLScene(scene)
    segmentations.SetMRMLApplicationLogic(application)
    application.SetModuleLogic("Segmentations", segmentations)

    sequences = vtkSlicerSequencesLogic()
    sequences.SetMRMLScene(scene)
    sequences.SetMRMLApplicationLogic(application)
    application.SetModuleLogic("Sequences", sequences)

    hierarchy = vtkSlicerSubjectHierarchyModuleLogic()
    hierarchy.SetMRMLScene(scene)
    hierarchy.SetMRMLApplicationLogic(application)

    vtkMRMLSliceNode.AddDefaultSliceOrientationPresets(scene, True)
    for layout_name, orientation in SLICE_VIEWS.items():
        slice_node = scene.CreateNodeByClass("vtkMRMLSliceNode")  # carries the orientation presets
        slice_node.SetName(layout_name)
        slice_node.SetLayoutName(layout_name)
        slice_node.SetSingletonTag(layout_name)
        slice_node.SetOrientation(orientation)
        scene.AddNode(slice_node)
        slice_node.UnRegister(None)
    view = scene.AddNewNodeByClass("vtkMRMLViewNode", "View1")
    view.SetLayoutName("1")

    _LOGICS[id(scene)] = {
        "Application": application,
        "Colors": colors,
        "Volumes": volumes,
        "Segmentations": segmentations,
        "SubjectHierarchy": hierarchy,
        "Sequences": sequences,
    }
    return scene


def segmentations_logic(scene: vtkMRMLScene) -> vtkSlicerSegmentationsModuleLogic:
    """The segmentations logic of ``scene``: Slicer's own inside Slicer, else the headless one."""
    logic = _LOGICS.get(id(scene), {}).get("Segmentations")
    if logic is not None:
        return logic  # type: ignore[return-value]
    module_logic = getattr(getattr(slicer, "modules", None), "segmentations", None)
    if module_logic is not None:
        return module_logic.logic()
    logic = vtkSlicerSegmentationsModuleLogic()
    logic.SetMRMLScene(scene)
    return logic


def sequences_logic(scene: vtkMRMLScene) -> vtkSlicerSequencesLogic:
    """The sequences logic that keeps the browsers' proxy nodes of ``scene`` up to date: the
    Sequences module's inside Slicer, the one :func:`create_scene` registered headless."""
    logic = _LOGICS.get(id(scene), {}).get("Sequences")
    if logic is not None:
        return logic  # type: ignore[return-value]
    module = getattr(getattr(slicer, "modules", None), "sequences", None)
    if module is not None and module.logic().GetMRMLScene() is scene:
        return module.logic()
    logic = vtkSlicerSequencesLogic()
    logic.SetMRMLScene(scene)
    _LOGICS.setdefault(id(scene), {})["Sequences"] = logic
    return logic


def slice_nodes(scene: vtkMRMLScene) -> list:
    """All slice nodes of the scene (the views' Red, Yellow, Green...)."""
    nodes = scene.GetNodesByClass("vtkMRMLSliceNode")
    return [nodes.GetItemAsObject(index) for index in range(nodes.GetNumberOfItems())]


def center_slice_views(scene: vtkMRMLScene, ras: tuple[float, float, float]) -> None:
    """Move every slice view so that it shows and centres the RAS point ``ras`` (mm)."""
    for slice_node in slice_nodes(scene):
        slice_node.JumpSliceByCentering(float(ras[0]), float(ras[1]), float(ras[2]))
