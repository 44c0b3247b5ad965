"""FCD Segmentation: 3D Slicer module (MS-DSA-Net finds focal cortical dysplasia on T1 + FLAIR).

This file holds the Module, Widget and Test classes; it is the only file of the module that
imports Qt. The computation lives in ``FCDSegmentationLib`` (MRML in, MRML out) and in the
``epilepsy_suite`` core package.
"""

from __future__ import annotations

import logging
from typing import Annotated

import qt
import slicer
from slicer import vtkMRMLScalarVolumeNode
from slicer.parameterNodeWrapper import Choice, Default, Maximum, Minimum, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from EpilepsySuiteMRML.background import JobWidgetMixin

MODEL_SETTING = "EpilepsySuite/FCDSegmentation/ModelPath"


class FCDSegmentation(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "FCD Segmentation"
        self.parent.categories = ["Epilepsy"]
        self.parent.dependencies = []
        self.parent.contributors = ["EpilepsySuite developers"]
        self.parent.helpText = (
            "Find focal cortical dysplasia (FCD) candidates on a T1 + FLAIR pair with MS-DSA-Net trained with "
            "Dice + total-variation loss. Review the probability overlay and the candidate clusters; click a row of "
            "the table to centre the views on a cluster. The model file is yours (train it with "
            "'python -m epilepsy_suite fcd train') or the MS-DSA-Net authors' published model.pth, used as it is "
            "with the 'published' preprocessing (their registration to MNI, normalisation and inference)."
        )
        self.parent.acknowledgementText = (
            "Method: MS-DSA-Net with total-variation loss for FCD segmentation (see the EpilepsySuite README)."
        )


@parameterNodeWrapper
class FCDSegmentationParameterNode:
    t1: vtkMRMLScalarVolumeNode
    flair: vtkMRMLScalarVolumeNode
    modelPath: str
    device: Annotated[str, Choice(["auto", "cpu", "cuda"]), Default("auto")]
    threshold: Annotated[float, Minimum(0.05), Maximum(0.95), Default(0.5)]
    postprocess: Annotated[bool, Default(True)]
    minClusterVoxels: Annotated[int, Minimum(0), Default(50)]
    registerToMNI: Annotated[bool, Default(False)]
    preprocessing: Annotated[str, Choice(["suite", "published"]), Default("suite")]
    coregisterFlair: Annotated[bool, Default(False)]


class FCDSegmentationWidget(ScriptedLoadableModuleWidget, VTKObservationMixin, JobWidgetMixin):
    """Binds the panel to a parameter node and calls the Logic; computes nothing itself."""

    jobTitle = "FCD segmentation"

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self.result = None
        self.watcher = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/FCDSegmentation.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.parameterLogic = FCDSegmentationSlicerLogic()
        self.ui.applyButton.connect("clicked(bool)", self.onApply)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancel)
        self.ui.clusterTableView.connect("selectionChanged()", self.onClusterSelected)
        # "activated" fires on the user's choice only, not when a saved scene fills the panel.
        self.ui.preprocessingComboBox.connect("activated(int)", self.onPresetChosen)
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
        """Run the network in a background process (the GUI stays live); show the result when it ends."""
        if not self.ensureDependencies():
            return
        from epilepsy_suite.errors import InputError
        from FCDSegmentationLib.logic import FCDSegmentationLogic

        parameters = self._parameterNode
        qt.QSettings().setValue(MODEL_SETTING, parameters.modelPath)
        self.logic = self.logic or FCDSegmentationLogic(slicer.mrmlScene)
        try:
            job = self.logic.job(
                parameters.t1,
                parameters.flair,
                parameters.modelPath,
                parameters.device,
                parameters.threshold,
                parameters.postprocess,
                parameters.minClusterVoxels,
                parameters.registerToMNI,
                preprocessing=parameters.preprocessing,
                coregister_flair=parameters.coregisterFlair,
            )
        except InputError as error:
            slicer.util.errorDisplay(str(error))
            return
        self.startJob(job, qt.QTimer(), self.onResult, "Running MS-DSA-Net in the background (minutes on a CPU)...")

    def onResult(self, prediction) -> None:
        parameters = self._parameterNode
        with slicer.util.tryWithErrorDisplay("Showing the FCD result failed."):
            self.result = self.logic.show(prediction, parameters.t1)
            slicer.util.setSliceViewerLayers(
                background=parameters.flair, foreground=self.result.probability_node, foregroundOpacity=0.5
            )
            self.ui.clusterTableView.setMRMLTableNode(self.result.table_node)
            self.ui.statusLabel.text = f"{len(self.result.clusters)} candidate cluster(s)."

    def onPresetChosen(self, index: int) -> None:
        """Show the chosen preset's defaults (registration, FLAIR co-registration, post-processing, threshold)."""
        from FCDSegmentationLib.presets import preset_choices

        parameters = self._parameterNode
        if parameters is None:
            return
        choices = preset_choices(self.ui.preprocessingComboBox.itemText(index))
        parameters.registerToMNI = choices["register_to_mni"]
        parameters.coregisterFlair = choices["coregister_flair"]
        parameters.postprocess = choices["postprocess"]
        parameters.threshold = choices["threshold"]

    def onClusterSelected(self) -> None:
        rows = self.ui.clusterTableView.selectedMRMLTableRowIndices()
        if self.result is not None and rows:
            self.logic.center_on_cluster(self.result, rows[0])


class FCDSegmentationSlicerLogic(ScriptedLoadableModuleLogic):
    """Holds the module's parameter node in Slicer; the work is done by ``FCDSegmentationLib``."""

    def getParameterNode(self):
        return FCDSegmentationParameterNode(super().getParameterNode())


class FCDSegmentationTest(ScriptedLoadableModuleTest):
    """Self-test run inside a real 3D Slicer (see Testing/run_slicer_selftests.py)."""

    def setUp(self) -> None:
        slicer.mrmlScene.Clear()

    def runTest(self) -> None:
        self.setUp()
        self.test_predict_on_synthetic_lesion()

    def test_predict_on_synthetic_lesion(self) -> None:
        import tempfile
        from pathlib import Path

        from epilepsy_suite.fcd.checkpoint import save_checkpoint
        from epilepsy_suite.fcd.model import MSDSANet
        from epilepsy_suite.fcd.synthetic import make_synthetic_subject
        from FCDSegmentationLib.logic import FCDSegmentationLogic

        from EpilepsySuiteMRML.volumes import volume_node_from_sitk

        subject = make_synthetic_subject(0, spacing=2.0)
        t1 = volume_node_from_sitk(slicer.mrmlScene, subject.t1, "T1")
        flair = volume_node_from_sitk(slicer.mrmlScene, subject.flair, "FLAIR")
        with tempfile.TemporaryDirectory() as folder:
            checkpoint = save_checkpoint(Path(folder) / "fcd.pt", MSDSANet(patch_size=64, feature_size=8))
            result = FCDSegmentationLogic(slicer.mrmlScene).predict(
                t1, flair, str(checkpoint), "cpu", min_cluster_voxels=1
            )
        self.assertIsNotNone(result.probability_node.GetImageData())
        self.assertEqual(result.table_node.GetNumberOfRows(), len(result.clusters))
        logging.info("FCD self-test: %d clusters", len(result.clusters))
