"""The shared slice and 3D views of the web app, set up for CPU servers.

trame-slicer renders every view in the server process and streams the pictures. On a CPU
(Mesa llvmpipe) the costs that matter are multisampling (trame-slicer asks for 8 samples: 3-4x
slower 3D frames), volume rendering (minutes: never switched on here) and the number of
triangles (the parcellation's meshes are decimated by the Semiology panel).
"""

from __future__ import annotations

from trame_slicer.core import LayoutManager, SlicerApp
from trame_slicer.rca_view import register_rca_factories
from trame_slicer.views import Layout, LayoutDirection, ViewLayoutDefinition

LAYOUTS = ("Axial + 3D", "Three planes + 3D", "Axial only")
DEFAULT_LAYOUT = LAYOUTS[0]


def suite_layouts() -> dict[str, Layout]:
    axial = ViewLayoutDefinition.axial_view()
    coronal = ViewLayoutDefinition.coronal_view()
    sagittal = ViewLayoutDefinition.sagittal_view()
    three_d = ViewLayoutDefinition.threed_view()
    return {
        "Axial + 3D": Layout(LayoutDirection.Horizontal, [axial, three_d]),
        "Three planes + 3D": Layout(
            LayoutDirection.Horizontal,
            [Layout(LayoutDirection.Vertical, [axial, coronal]), Layout(LayoutDirection.Vertical, [sagittal, three_d])],
        ),
        "Axial only": Layout(LayoutDirection.Vertical, [axial]),
    }


class SuiteViews:
    """Views, layouts and the few display actions the panels share."""

    def __init__(self, server, slicer_app: SlicerApp, multisamples: int = 0) -> None:
        self.server = server
        self.app = slicer_app
        self.multisamples = multisamples
        # One frame per change and interaction frames at reduced quality: the streaming
        # scheduler's own throttling (trame-rca) is kept.
        register_rca_factories(slicer_app.view_manager, server, target_fps=20.0, interactive_quality=60)
        self.layouts = LayoutManager(slicer_app.scene, slicer_app.view_manager, server)
        self.layouts.register_layout_dict(suite_layouts())
        self.set_layout(DEFAULT_LAYOUT)

    def set_layout(self, name: str) -> None:
        if name not in LAYOUTS:
            raise ValueError(f"unknown layout {name!r}; choose one of {', '.join(LAYOUTS)}")
        self.layouts.set_layout(name)
        self.tune_rendering()

    def tune_rendering(self) -> None:
        for view in self.app.view_manager.get_views():
            window = view.render_window()
            if window.GetMultiSamples() != self.multisamples:
                window.SetMultiSamples(self.multisamples)

    @property
    def scene(self):
        return self.app.scene

    def slice_views(self):
        return self.app.view_manager.get_slice_views()

    def three_d_views(self):
        return self.app.view_manager.get_threed_views()

    def show_background(self, volume_node, reset: bool = True) -> None:
        """``volume_node`` as the background of every slice view (never volume rendered)."""
        for composite in self._composites():
            composite.SetBackgroundVolumeID(volume_node.GetID() if volume_node is not None else None)
        if reset:
            self.reset()

    def show_foreground(self, volume_node, opacity: float = 0.6) -> None:
        for composite in self._composites():
            composite.SetForegroundVolumeID(volume_node.GetID() if volume_node is not None else None)
            composite.SetForegroundOpacity(opacity)

    def set_foreground_opacity(self, opacity: float) -> None:
        for composite in self._composites():
            composite.SetForegroundOpacity(opacity)

    def _composites(self):
        nodes = self.scene.GetNodesByClass("vtkMRMLSliceCompositeNode")
        return [nodes.GetItemAsObject(i) for i in range(nodes.GetNumberOfItems())]

    def reset(self) -> None:
        for view in self.slice_views():
            view.fit_view_to_content()
        for view in self.three_d_views():
            view.reset_camera()
            view.reset_focal_point()
