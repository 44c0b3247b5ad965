"""Seizure Video: 3D Slicer module (Probability over time of tonic-clonic generalisation in video-telemetry and a seizure-level verdict (GESTURES).)

This file holds the Module, Widget and Test classes; it is the only file of the module that
imports Qt. The computation lives in ``SeizureVideoLib`` (MRML in, MRML out) and in the
``epilepsy_suite`` core package.
"""

from __future__ import annotations

from typing import Annotated

import qt
import slicer
from slicer import vtkMRMLSequenceBrowserNode
from slicer.parameterNodeWrapper import Choice, Default, Maximum, Minimum, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from EpilepsySuiteMRML.background import JobWidgetMixin


class SeizureVideo(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "Seizure Video"
        self.parent.categories = ["Epilepsy"]
        self.parent.dependencies = ["Sequences", "Plots"]
        self.parent.contributors = ["EpilepsySuite developers"]
        self.parent.helpText = "Probability over time of tonic-clonic generalisation in video-telemetry and a seizure-level verdict (GESTURES)."
        self.parent.acknowledgementText = (
            "Methods from F. Perez-Garcia's PhD thesis (UCL, 2023) and the FCD total-variation-loss paper; "
            "see the EpilepsySuite README for references."
        )


MODEL_SETTING = "EpilepsySuite/SeizureVideo/ModelPath"
WEIGHTS_SETTING = "EpilepsySuite/SeizureVideo/ExtractorWeightsPath"
EXTRACTOR_SETTING = "EpilepsySuite/SeizureVideo/Extractor"
# Kept here so the panel builds before the Python dependencies are installed (see SeizureVideoLib.logic).
EXTRACTOR_NAMES = ["r2plus1d_34_8", "r2plus1d_34_32", "r2plus1d_18"]
INSET_CORNERS = ["none", "top-left", "top-right", "bottom-left", "bottom-right"]
# The video above its probability curve: one slice view and one plot view.
VIDEO_LAYOUT_ID = 70601
VIDEO_LAYOUT = """
<layout type="vertical" split="true">
 <item splitSize="600">
  <view class="vtkMRMLSliceNode" singletontag="Red">
   <property name="orientation" action="default">Axial</property>
   <property name="viewlabel" action="default">R</property>
   <property name="viewcolor" action="default">#F34A33</property>
  </view>
 </item>
 <item splitSize="300">
  <view class="vtkMRMLPlotViewNode" singletontag="PlotView1">
   <property name="viewlabel" action="default">P</property>
  </view>
 </item>
</layout>
"""


@parameterNodeWrapper
class SeizureVideoParameterNode:
    videoPath: str
    frameRate: Annotated[float, Minimum(0.0), Maximum(240.0), Default(0.0)]
    maxFrames: Annotated[int, Minimum(1), Maximum(100000), Default(3000)]
    videoBrowser: vtkMRMLSequenceBrowserNode
    secondViewPath: str
    insetCorner: Annotated[str, Choice(INSET_CORNERS), Default("none")]
    modelPath: str
    extractorName: Annotated[str, Choice(EXTRACTOR_NAMES), Default("r2plus1d_34_8")]
    extractorWeightsPath: str
    device: Annotated[str, Choice(["auto", "cpu", "cuda"]), Default("auto")]


class SeizureVideoWidget(ScriptedLoadableModuleWidget, VTKObservationMixin, JobWidgetMixin):
    """Binds the panel to a parameter node and calls the Logic; computes nothing itself."""

    jobTitle = "Seizure classification"

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self.result = None
        self.cancelToken = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/SeizureVideo.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.parameterLogic = SeizureVideoSlicerLogic()
        self.ui.extractorComboBox.addItems(EXTRACTOR_NAMES)
        self.ui.insetCornerComboBox.addItems(INSET_CORNERS)
        self.ui.deviceComboBox.addItems(["auto", "cpu", "cuda"])
        self.ui.loadButton.connect("clicked(bool)", self.onLoad)
        self.ui.predictButton.connect("clicked(bool)", self.onPredict)
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
        self.result = None
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        parameterNode = self.parameterLogic.getParameterNode()
        settings = qt.QSettings()
        if not parameterNode.modelPath:
            parameterNode.modelPath = settings.value(MODEL_SETTING, "")
            extractor = settings.value(EXTRACTOR_SETTING, "")
            if extractor in EXTRACTOR_NAMES:
                parameterNode.extractorName = extractor
        if not parameterNode.extractorWeightsPath:
            parameterNode.extractorWeightsPath = settings.value(WEIGHTS_SETTING, "")
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

    def ensureLogic(self):
        from SeizureVideoLib.logic import SeizureVideoLogic

        self.logic = self.logic or SeizureVideoLogic(slicer.mrmlScene)
        return self.logic

    def progress(self, fraction: float, message: str) -> None:
        self.ui.progressBar.value = int(100 * fraction)
        self.ui.statusLabel.text = message
        slicer.app.processEvents()

    def runWithProgress(self, busyText: str, failureText: str, work):
        """Return ``work(progress, cancel)``, or None when it was cancelled or refused its input (the user is told)."""
        from epilepsy_suite.errors import CancelledError, InputError
        from epilepsy_suite.progress import CancelToken

        self.cancelToken = CancelToken()
        self.setBusy(True)
        self.ui.statusLabel.text = busyText
        try:
            with slicer.util.tryWithErrorDisplay(failureText, waitCursor=True):
                try:
                    return work(self.progress, self.cancelToken)
                except InputError as error:
                    slicer.util.errorDisplay(str(error))
                except CancelledError:
                    self.ui.statusLabel.text = "Cancelled."
            return None
        finally:
            self.cancelToken = None
            self.setBusy(False)

    def showVideoLayout(self) -> None:
        layoutManager = slicer.app.layoutManager()
        if layoutManager is None:
            return
        layoutNode = layoutManager.layoutLogic().GetLayoutNode()
        if not layoutNode.IsLayoutDescription(VIDEO_LAYOUT_ID):
            layoutNode.AddLayoutDescription(VIDEO_LAYOUT_ID, VIDEO_LAYOUT)
        layoutManager.setLayout(VIDEO_LAYOUT_ID)

    def onLoad(self) -> None:
        if not self.ensureDependencies():
            return
        parameters = self._parameterNode
        logic = self.ensureLogic()
        video = self.runWithProgress(
            "Loading the video...",
            "Loading the video failed.",
            lambda progress, cancel: logic.load_video(
                parameters.videoPath,
                fps=parameters.frameRate or None,
                max_frames=parameters.maxFrames,
                progress=progress,
                cancel=cancel,
            ),
        )
        if video is None:
            return
        parameters.videoBrowser = video.browser_node
        self.showVideoLayout()
        slicer.util.setSliceViewerLayers(background=video.proxy_node, fit=True)
        slicer.modules.sequences.setToolBarActiveBrowserNode(video.browser_node)
        slicer.modules.sequences.showSequenceBrowser(video.browser_node)
        self.ui.statusLabel.text = (
            f"{video.path.name}: {video.frame_count} frames at {video.frame_rate:.2f} fps "
            f"({video.info.duration:.1f} s). Play it with the Sequences toolbar."
        )
        self.ui.progressBar.value = 100

    def onPredict(self) -> None:
        if not self.ensureDependencies():
            return
        parameters = self._parameterNode
        logic = self.ensureLogic()
        layout = logic.montage_layout(parameters.insetCorner)
        warning = logic.cpu_warning(
            parameters.videoPath or None,
            parameters.device,
            parameters.secondViewPath or None,
            layout,
            parameters.videoBrowser,
        )
        if warning and not slicer.util.confirmOkCancelDisplay(warning + " Continue?"):
            return
        settings = qt.QSettings()
        settings.setValue(MODEL_SETTING, parameters.modelPath)
        settings.setValue(WEIGHTS_SETTING, parameters.extractorWeightsPath)
        settings.setValue(EXTRACTOR_SETTING, parameters.extractorName)
        self.ui.resultLabel.text = ""
        from epilepsy_suite.errors import InputError

        try:
            job, video = logic.job(
                parameters.videoPath or None,
                parameters.modelPath,
                parameters.extractorName,
                parameters.extractorWeightsPath or None,
                parameters.secondViewPath or None,
                layout,
                parameters.device,
                browser_node=parameters.videoBrowser,
            )
        except InputError as error:
            slicer.util.errorDisplay(str(error))
            return
        browser = parameters.videoBrowser
        self.startJob(
            job, qt.QTimer(), lambda prediction: self.onResult(prediction, video, browser),
            "Classifying the seizure in the background...",
        )  # fmt: skip

    def onResult(self, prediction, video, browser) -> None:
        parameters = self._parameterNode
        with slicer.util.tryWithErrorDisplay("Showing the seizure classification failed."):
            result = self.logic.show(prediction, video, browser_node=browser)
            self.result = result
            self.showVideoLayout()
            plotWidget = slicer.app.layoutManager().plotWidget(0)
            if plotWidget is not None:
                plotWidget.mrmlPlotViewNode().SetPlotChartNodeID(result.chart_node.GetID())
            self.ui.resultLabel.text = result.summary
            self.ui.resultsTableView.setMRMLTableNode(result.results_node)
            self.ui.segmentsTableView.setMRMLTableNode(result.segments_node)
            randomWeights = (
                "" if parameters.extractorWeightsPath else " No extractor weights: random features, for testing only."
            )
            self.ui.statusLabel.text = f"Done: {len(result.prediction.times)} snippets.{randomWeights}"

    def setBusy(self, busy: bool) -> None:
        self.ui.loadButton.enabled = self.ui.predictButton.enabled = not busy
        self.ui.cancelButton.enabled = busy

    def onCancel(self) -> None:
        if self.cancelToken is not None:
            self.cancelToken.cancel()  # loading frames into the scene (in Slicer's process)
        JobWidgetMixin.onCancel(self)  # classification (a background process)


class SeizureVideoSlicerLogic(ScriptedLoadableModuleLogic):
    """Holds the module's parameter node in Slicer; the work is done by ``SeizureVideoLib``."""

    def getParameterNode(self):
        return SeizureVideoParameterNode(super().getParameterNode())


class SeizureVideoTest(ScriptedLoadableModuleTest):
    """Self-test run inside a real 3D Slicer (see Testing/run_slicer_selftests.py)."""

    def setUp(self) -> None:
        slicer.mrmlScene.Clear()

    def runTest(self) -> None:
        self.setUp()
        self.test_logic_on_a_synthetic_seizure()

    def test_logic_on_a_synthetic_seizure(self) -> None:
        import tempfile
        from pathlib import Path

        from epilepsy_suite.video.extractors import load_extractor
        from epilepsy_suite.video.models import GesturesModel, save_gestures_model
        from epilepsy_suite.video.synthetic import render_seizure_video
        from SeizureVideoLib.logic import SeizureVideoLogic

        logic = SeizureVideoLogic(slicer.mrmlScene)
        with tempfile.TemporaryDirectory() as folder:
            video = render_seizure_video(Path(folder) / "seizure.mp4", 4.0, 2.0, seed=1, fps=15, size=(160, 90))
            loaded = logic.load_video(video)
            model = save_gestures_model(Path(folder) / "untrained.pt", GesturesModel())
            extractor = load_extractor("r2plus1d_18", None, "cpu", side=32)
            result = logic.predict(None, model, extractor, device="cpu", browser_node=loaded.browser_node)
        self.assertEqual(loaded.frame_count, 60)
        self.assertIsNotNone(loaded.proxy_node.GetImageData())
        self.assertEqual(result.chart_node.GetNumberOfPlotSeriesNodes(), 3)
        self.assertIn(result.prediction.verdict, ("TCS", "FOS"))
        loaded.browser_node.SetSelectedItemNumber(45)
        marker = result.marker_table_node.GetTable().GetColumn(0).GetValue(0)
        self.assertAlmostEqual(marker, 3.0, places=2)
        self.delayDisplay("SeizureVideo logic test passed")
