"""Semiology Visualization: 3D Slicer module (Map observed seizure semiologies to literature-based likelihoods per brain structure (Semio2Brain).)

This file holds the Module, Widget and Test classes; it is the only file of the module that
imports Qt. The computation lives in ``SemiologyVizLib`` (MRML in, MRML out) and in the
``epilepsy_suite`` core package.
"""

from __future__ import annotations

import slicer
from slicer import vtkMRMLLabelMapVolumeNode, vtkMRMLScalarVolumeNode
from slicer.parameterNodeWrapper import parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin


class SemiologyViz(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "Semiology Visualization"
        self.parent.categories = ["Epilepsy"]
        self.parent.dependencies = []
        self.parent.contributors = ["EpilepsySuite developers"]
        self.parent.helpText = (
            "Map observed seizure semiologies to literature-based likelihoods per brain structure (Semio2Brain)."
        )
        self.parent.acknowledgementText = (
            "Methods from F. Perez-Garcia's PhD thesis (UCL, 2023) and the FCD total-variation-loss paper; "
            "see the EpilepsySuite README for references."
        )


@parameterNodeWrapper
class SemiologyVizParameterNode:
    t1: vtkMRMLScalarVolumeNode
    parcellation: vtkMRMLLabelMapVolumeNode


class SemiologyVizWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Binds the panel to a parameter node and calls the Logic; computes nothing itself."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/SemiologyViz.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = SemiologyVizSlicerLogic()
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
        self.setParameterNode(self.logic.getParameterNode())

    def setParameterNode(self, inputParameterNode) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)


class SemiologyVizSlicerLogic(ScriptedLoadableModuleLogic):
    """Holds the module's parameter node in Slicer; the work is done by ``SemiologyVizLib``."""

    def getParameterNode(self):
        return SemiologyVizParameterNode(super().getParameterNode())


class SemiologyVizTest(ScriptedLoadableModuleTest):
    """Self-test run inside a real 3D Slicer (see Testing/run_slicer_selftests.py)."""

    def setUp(self) -> None:
        slicer.mrmlScene.Clear()

    def runTest(self) -> None:
        self.setUp()
        self.test_logic_on_embedded_data()

    def test_logic_on_embedded_data(self) -> None:
        from SemiologyVizLib.logic import SemiologyVizLogic

        logic = SemiologyVizLogic(slicer.mrmlScene)
        self.assertIs(logic.scene, slicer.mrmlScene)
