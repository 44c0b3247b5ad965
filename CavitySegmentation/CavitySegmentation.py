"""Cavity Segmentation: 3D Slicer module (Segment the resection cavity on a postoperative T1 with a self-supervised model; volume, uncertainty and resected structures.)

This file holds the Module, Widget and Test classes; it is the only file of the module that
imports Qt. The computation lives in ``CavitySegmentationLib`` (MRML in, MRML out) and in the
``epilepsy_suite`` core package.
"""

from __future__ import annotations

from typing import Annotated

import qt
import slicer
from slicer import vtkMRMLLabelMapVolumeNode, vtkMRMLScalarVolumeNode
from slicer.parameterNodeWrapper import Choice, Default, Maximum, Minimum, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from EpilepsySuiteMRML.background import JobWidgetMixin


class CavitySegmentation(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "Cavity Segmentation"
        self.parent.categories = ["Epilepsy"]
        self.parent.dependencies = []
        self.parent.contributors = ["EpilepsySuite developers"]
        self.parent.helpText = "Segment the resection cavity on a postoperative T1 with a self-supervised model; volume, uncertainty and resected structures."
        self.parent.acknowledgementText = (
            "Methods from F. Perez-Garcia's PhD thesis (UCL, 2023) and the FCD total-variation-loss paper; "
            "see the EpilepsySuite README for references."
        )


MODEL_SETTING = "EpilepsySuite/CavitySegmentation/ModelPath"


@parameterNodeWrapper
class CavitySegmentationParameterNode:
    postopT1: vtkMRMLScalarVolumeNode
    parcellation: vtkMRMLLabelMapVolumeNode
    modelPath: str
    device: Annotated[str, Choice(["auto", "cpu", "cuda"]), Default("auto")]
    ttaIterations: Annotated[int, Minimum(0), Maximum(100), Default(10)]
    largestComponent: Annotated[bool, Default(True)]
    ttaMode: Annotated[str, Choice(["published", "thesis"]), Default("published")]
    registerToMNI: Annotated[bool, Default(False)]


class CavitySegmentationWidget(ScriptedLoadableModuleWidget, VTKObservationMixin, JobWidgetMixin):
    """Binds the panel to a parameter node and calls the Logic; computes nothing itself."""

    jobTitle = "Cavity segmentation"

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self.result = None
        self.watcher = None
        self.parcellationImage = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/CavitySegmentation.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.parameterLogic = CavitySegmentationSlicerLogic()
        self.ui.deviceComboBox.addItems(["auto", "cpu", "cuda"])
        self.ui.ttaModeComboBox.addItems(["published", "thesis"])
        self.ui.applyButton.connect("clicked(bool)", self.onApply)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancel)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.initializeParameterNode()

    def cleanup(self) -> None:
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        parameterNode = self.parameterLogic.getParameterNode()
        if not parameterNode.modelPath:
            parameterNode.modelPath = qt.QSettings().value(MODEL_SETTING, "")
        self.setParameterNode(parameterNode)

    def setParameterNode(self, inputParameterNode) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)

    def ensureDependencies(self) -> bool:
        from EpilepsySuiteMRML.dependencies import ensure_torch_module_requirements

        return ensure_torch_module_requirements()

    def onApply(self) -> None:
        """Segment in a background process (the GUI stays live); show the result when it ends."""
        if not self.ensureDependencies():
            return
        from CavitySegmentationLib.logic import CavitySegmentationLogic
        from epilepsy_suite.errors import InputError

        parameters = self._parameterNode
        self.logic = self.logic or CavitySegmentationLogic(slicer.mrmlScene)
        warning = self.logic.cpu_warning(parameters.postopT1, parameters.device, parameters.ttaIterations)
        if warning and not slicer.util.confirmOkCancelDisplay(warning + " Continue?"):
            return
        qt.QSettings().setValue(MODEL_SETTING, parameters.modelPath)
        try:
            job, self.parcellationImage = self.logic.job(
                parameters.postopT1,
                parameters.modelPath,
                parameters.parcellation,
                parameters.device,
                parameters.ttaIterations,
                parameters.largestComponent,
                tta_mode=parameters.ttaMode,
                register=parameters.registerToMNI,
            )
        except InputError as error:
            slicer.util.errorDisplay(str(error))
            return
        self.startJob(job, qt.QTimer(), self.onResult, "Segmenting the cavity in the background...")

    def onResult(self, prediction) -> None:
        parameters = self._parameterNode
        with slicer.util.tryWithErrorDisplay("Showing the cavity failed."):
            self.result = self.logic.show(
                prediction, parameters.postopT1, self.parcellationImage, parameters.ttaIterations
            )
            if self.result.uncertainty_node is not None:
                slicer.util.setSliceViewerLayers(
                    background=parameters.postopT1, foreground=self.result.uncertainty_node, foregroundOpacity=0.4
                )
            self.ui.resultsTableView.setMRMLTableNode(self.result.table_node)
            if self.result.structures_node is not None:
                self.ui.structuresTableView.setMRMLTableNode(self.result.structures_node)
            uncertainty = (
                f", image uncertainty {prediction.uncertainty:.3f}" if prediction.uncertainty is not None else ""
            )
            self.ui.statusLabel.text = f"Cavity: {prediction.volume_ml:.1f} mL{uncertainty}."


class CavitySegmentationSlicerLogic(ScriptedLoadableModuleLogic):
    """Holds the module's parameter node in Slicer; the work is done by ``CavitySegmentationLib``."""

    def getParameterNode(self):
        return CavitySegmentationParameterNode(super().getParameterNode())


class CavitySegmentationTest(ScriptedLoadableModuleTest):
    """Self-test run inside a real 3D Slicer (see Testing/run_slicer_selftests.py)."""

    def setUp(self) -> None:
        slicer.mrmlScene.Clear()

    def runTest(self) -> None:
        self.setUp()
        self.test_logic_on_embedded_data()

    def test_logic_on_embedded_data(self) -> None:
        import tempfile
        from pathlib import Path

        import numpy as np
        import SimpleITK as sitk
        import torch
        from CavitySegmentationLib.logic import CavitySegmentationLogic
        from epilepsy_suite.cavity.checkpoint import save_checkpoint
        from epilepsy_suite.cavity.model import CavityUNet

        from EpilepsySuiteMRML.volumes import volume_node_from_sitk

        model = CavityUNet(first_channels=4)
        with torch.no_grad():
            model.head.weight.zero_()
            model.head.bias.copy_(torch.tensor([0.0, 10.0]))
        image = sitk.GetImageFromArray(np.random.default_rng(0).normal(100, 10, (16, 16, 16)).astype(np.float32))
        node = volume_node_from_sitk(slicer.mrmlScene, image, "self-test postop T1")
        with tempfile.TemporaryDirectory() as folder:
            path = save_checkpoint(Path(folder) / "cavity.pt", model, landmarks=None)
            result = CavitySegmentationLogic(slicer.mrmlScene).predict(node, str(path), device="cpu", tta_iterations=2)
        self.assertIsNotNone(result.segmentation_node)
        self.assertIsNotNone(result.uncertainty_node)
        self.assertAlmostEqual(result.prediction.volume_ml, 16**3 / 1000)
        self.delayDisplay("CavitySegmentation logic test passed")
