"""Logic of the Semiology Visualization module: MRML nodes in, MRML nodes out, no Qt.

The caller gives the scene: ``slicer.mrmlScene`` in Slicer, a slicer-core scene headless.
:meth:`SemiologyVizLogic.set_parcellation` builds the structure segmentation once (the embedded MNI
template + Neuromorphometrics parcellation by default, or the patient's GIF / Neuromorphometrics
label map); :meth:`SemiologyVizLogic.update` runs a query and recolours it, fast enough to follow
every click of the panel.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk
from epilepsy_suite.data import LabelTable, make_label, mni_template, neuromorphometrics_parcellation
from epilepsy_suite.data import neuromorphometrics_labels as nmm_label_table
from epilepsy_suite.errors import InputError
from epilepsy_suite.semiology import QueryOptions, SemiologyEngine, SemiologyQuery, SemiologyScores, Side
from epilepsy_suite.semiology.maps import (
    database_labels,
    detect_atlas,
    display_properties,
    score_image,
    scores_by_atlas_label,
    strip_parcellation,
)

from EpilepsySuiteMRML.colors import color_table_from_matplotlib, colormap_rgba
from EpilepsySuiteMRML.scene import center_slice_views
from EpilepsySuiteMRML.segmentations import segment_ids_by_label, segmentation_from_labelmap
from EpilepsySuiteMRML.tables import table_node_from_records
from EpilepsySuiteMRML.volumes import ras_of_voxel, sitk_from_volume_node, volume_node_from_sitk

LOG = logging.getLogger(__name__)

TABLE_COLUMNS = ("label", "name", "hemisphere", "datapoints", "score")
NO_DATA_3D_COLOUR = (0.75, 0.75, 0.75)
NO_DATA_3D_COLOUR_COLOUR_BLIND = (0.0, 0.0, 0.0)
COLOUR_BLIND_MAP = "cividis"


@dataclass(frozen=True)
class DisplaySettings:
    """How scores are drawn: colour map (any matplotlib map), minimum 2D opacity of a scored structure,
    colour-blind mode (cividis, black for structures without data) and the hemispheres shown in 3D."""

    colormap: str = "viridis"
    min_opacity: float = 0.25
    colour_blind: bool = False
    show_left: bool = True
    show_right: bool = True

    @property
    def effective_colormap(self) -> str:
        return COLOUR_BLIND_MAP if self.colour_blind else self.colormap


@dataclass
class Parcellation:
    """The stripped parcellation on display: its label image, numbering and segmentation node."""

    image: sitk.Image
    atlas: str
    segmentation_node: object
    segment_ids: dict[int, str]
    centroids_ras: dict[int, tuple[float, float, float]]
    hemispheres: dict[int, str]
    reference_node: object | None = None


@dataclass
class SemiologyResult:
    scores: SemiologyScores
    records: list[dict[str, object]]
    table_node: object
    color_node: object
    scores_node: object
    top_label: int | None
    top_ras: tuple[float, float, float] | None
    skipped: list[str] = field(default_factory=list)


class SemiologyVizLogic:
    """Queries the Semio2Brain database and shows the scores on a parcellation in a scene.

    Args:
        scene: the MRML scene.
        database: the database folder (``None``: ``$EPILEPSY_SUITE_SEMIO2BRAIN`` or the remembered one).
        cache_dir: where parsed databases and query results are cached (default ~/.cache/epilepsy_suite).
    """

    def __init__(self, scene, database=None, cache_dir: str | os.PathLike[str] | None = None) -> None:
        self.scene = scene
        self.cache_dir = cache_dir
        self._engine: SemiologyEngine | None = None
        self._database_folder = database
        self.parcellation: Parcellation | None = None
        self._nodes: dict[str, object] = {}

    # ------------------------------------------------------------------------------------ database

    @property
    def engine(self) -> SemiologyEngine:
        if self._engine is None:
            from epilepsy_suite.semiology import resolve_folder

            self._engine = SemiologyEngine(resolve_folder(self._database_folder), cache_dir=self.cache_dir)
        return self._engine

    def set_database(self, folder: str | os.PathLike[str]) -> SemiologyEngine:
        """Load (or take from the cache) the database in ``folder``; raises :class:`InputError` if unusable."""
        from epilepsy_suite.semiology import resolve_folder

        self._engine = SemiologyEngine(resolve_folder(folder), cache_dir=self.cache_dir)
        self._database_folder = folder
        return self._engine

    def term_sides(self) -> dict[str, tuple[str, ...]]:
        """Every pre-defined term with the sides (``left``, ``right``, ``none``) its rules allow."""
        terms = self.engine.database.terms
        return {term: tuple(side.value for side in terms.rule(term).sides) for term in terms.names}

    def suggest(self, text: str, limit: int = 8) -> list[str]:
        return [term for term, _ in self.engine.database.terms.suggest(text, limit)]

    # ------------------------------------------------------------------------------------ parcellation

    def set_parcellation(
        self,
        parcellation_node=None,
        reference_node=None,
        atlas: str = "auto",
        surfaces: bool = True,
        decimation: float = 0.0,
    ) -> Parcellation:
        """Build the segmentation of the scoreable structures (white matter, ventricles... stripped).

        Args:
            parcellation_node: a label map volume node (GIF or Neuromorphometrics numbering);
                ``None`` uses the embedded Neuromorphometrics parcellation on the MNI template, and adds
                the template volume to the scene if ``reference_node`` is ``None``.
            reference_node: the T1 the segmentation is shown on.
            atlas: ``gif``, ``nmm`` or ``auto`` (detected from the labels present).
            surfaces: build the 3D meshes (marching cubes, seconds for ~100 structures at 1 mm);
                False for the 2D views only.
            decimation: fraction of the meshes' triangles removed (0: none; the web app, which
                renders without a GPU, uses about 0.9).
        """
        database = self.engine.database
        if parcellation_node is None:
            image = neuromorphometrics_parcellation(on_template_grid=True)
            atlas = "nmm"
            if reference_node is None:
                reference_node = self._existing_or_new_volume("MNI template", mni_template())
        else:
            image = sitk_from_volume_node(parcellation_node)
            if atlas == "auto":
                atlas = detect_atlas(sitk.GetArrayViewFromImage(image), database)
        stripped = strip_parcellation(image, database, atlas)
        array = sitk.GetArrayViewFromImage(stripped)
        present = [int(value) for value in np.unique(array) if value]
        source = parcellation_node.GetName() if parcellation_node is not None else "embedded parcellation"
        if not present:
            raise InputError(source, f"has none of the structures the database scores (numbering {atlas})")
        table = self._label_table(atlas)
        if self.parcellation is not None:
            self.scene.RemoveNode(self.parcellation.segmentation_node)
        segmentation = segmentation_from_labelmap(
            self.scene,
            stripped,
            table,
            "Semiology structures",
            closed_surface=surfaces,
            reference_volume=reference_node,
            decimation=decimation,
        )
        from scipy import ndimage

        centres = ndimage.center_of_mass(np.ones(array.shape), array, present)
        centroids = {
            label: ras_of_voxel(stripped, centre[::-1]) for label, centre in zip(present, centres, strict=True)
        }
        self.parcellation = Parcellation(
            image=stripped,
            atlas=atlas,
            segmentation_node=segmentation,
            segment_ids=segment_ids_by_label(segmentation),
            centroids_ras=centroids,
            hemispheres=self._hemispheres(atlas),
            reference_node=reference_node,
        )
        LOG.info("semiology: %d structures of the %s parcellation on display", len(present), atlas)
        return self.parcellation

    def _label_table(self, atlas: str) -> LabelTable:
        database = self.engine.database
        if atlas == "nmm":
            return nmm_label_table()
        return LabelTable((make_label(label, database.label_name(label)) for label in database.labels), "GIF")

    def _hemispheres(self, atlas: str) -> dict[int, str]:
        database = self.engine.database
        gif_labels = database_labels(database, "gif")
        atlas_labels = database_labels(database, atlas)
        result = {}
        for gif, converted in zip(gif_labels, atlas_labels, strict=True):
            result[converted] = database.label_sides[gif]
        return result

    def _existing_or_new_volume(self, name: str, image: sitk.Image):
        node = self._nodes.get(name)
        if node is None or self.scene.GetNodeByID(node.GetID()) is None:
            node = volume_node_from_sitk(self.scene, image, name)
            self._nodes[name] = node
        return node

    # ------------------------------------------------------------------------------------ query and display

    def update(
        self,
        semiologies: list[SemiologyQuery | str],
        dominant: Side | str = Side.NONE,
        options: QueryOptions | None = None,
        display: DisplaySettings | None = None,
        center_views: bool = True,
    ) -> SemiologyResult:
        """Query the semiologies and recolour the structures (METHOD.md section 7 colouring).

        Scored structures: colour-map entry and 2D opacity linear in the score; structures without
        data: hidden in 2D, grey (black in colour-blind mode) in 3D. Adds or refreshes the results
        table, the colour table and a ``Semiology scores`` volume (for the colour bar), and centres
        the views on the top structure.

        Raises:
            InputError: unknown term, laterality the term does not allow, no data for any semiology.
        """
        display = display or DisplaySettings()
        if self.parcellation is None:
            self.set_parcellation()
        parcellation = self.parcellation
        assert parcellation is not None
        queries = [SemiologyQuery.parse(item) if isinstance(item, str) else item for item in semiologies]
        scores = self.engine.scores(queries, dominant, options)
        skipped = [query.term for query in scores.queries if query not in {term.query for term in scores.terms}]
        by_label = scores_by_atlas_label(scores, parcellation.atlas)
        count = 256
        colours = colormap_rgba(display.effective_colormap, count)
        properties = display_properties(by_label, count, display.min_opacity)
        no_data = NO_DATA_3D_COLOUR_COLOUR_BLIND if display.colour_blind else NO_DATA_3D_COLOUR
        segmentation_node = parcellation.segmentation_node
        display_node = segmentation_node.GetDisplayNode()
        inner = segmentation_node.GetSegmentation()
        with _batch(segmentation_node):
            for label, segment_id in parcellation.segment_ids.items():
                shown = properties.get(label)
                segment = inner.GetSegment(segment_id)
                if shown is not None and shown.has_data:
                    segment.SetColor(*colours[shown.index][:3])
                    display_node.SetSegmentOpacity2DFill(segment_id, shown.opacity_2d)
                    display_node.SetSegmentOpacity2DOutline(segment_id, shown.opacity_2d)
                    display_node.SetSegmentVisibility2DFill(segment_id, True)
                    display_node.SetSegmentVisibility2DOutline(segment_id, True)
                else:
                    segment.SetColor(*no_data)
                    display_node.SetSegmentOpacity2DFill(segment_id, 0.0)
                    display_node.SetSegmentOpacity2DOutline(segment_id, 0.0)
                    display_node.SetSegmentVisibility2DFill(segment_id, False)
                    display_node.SetSegmentVisibility2DOutline(segment_id, False)
                hemisphere = parcellation.hemispheres.get(label, "midline")
                hidden = (hemisphere == "left" and not display.show_left) or (
                    hemisphere == "right" and not display.show_right
                )
                display_node.SetSegmentOpacity3D(segment_id, 0.0 if hidden else 1.0)
                display_node.SetSegmentVisibility3D(segment_id, not hidden)
        records = self._records(scores, parcellation)
        table_node = table_node_from_records(
            self.scene, "Semiology scores table", records, TABLE_COLUMNS, node=self._nodes.get("table")
        )
        self._nodes["table"] = table_node
        color_node = self._colour_table(display.effective_colormap)
        scores_node = self._scores_volume(scores, parcellation, color_node)
        top_label = int(records[0]["label"]) if records else None
        top_ras = parcellation.centroids_ras.get(top_label) if top_label is not None else None
        if center_views and top_ras is not None:
            center_slice_views(self.scene, top_ras)
        return SemiologyResult(scores, records, table_node, color_node, scores_node, top_label, top_ras, skipped)

    def _records(self, scores: SemiologyScores, parcellation: Parcellation) -> list[dict[str, object]]:
        """Scored structures of the displayed parcellation, highest score first, in its own numbering."""
        names = {}
        if parcellation.atlas == "nmm":
            names = {label.number: label.name for label in nmm_label_table()}
        records = []
        for record in scores.records(only_positive=True):
            label = int(record["label"])
            if parcellation.atlas == "nmm":
                from epilepsy_suite.data import gif_to_nmm

                converted = gif_to_nmm(label)
                if not converted:
                    continue
                label = converted
            if label not in parcellation.segment_ids:
                continue
            records.append({**record, "label": label, "name": names.get(label, record["name"])})
        return records

    def _colour_table(self, colormap: str):
        name = f"Semiology {colormap}"
        node = self._nodes.get("colours")
        if node is not None and node.GetName() == name and self.scene.GetNodeByID(node.GetID()) is not None:
            return node
        if node is not None:
            self.scene.RemoveNode(node)
        node = color_table_from_matplotlib(self.scene, colormap, name)
        self._nodes["colours"] = node
        return node

    def _scores_volume(self, scores: SemiologyScores, parcellation: Parcellation, color_node):
        image = score_image(scores, parcellation.image, parcellation.atlas)
        node = volume_node_from_sitk(self.scene, image, "Semiology scores", node=self._nodes.get("scores"))
        self._nodes["scores"] = node
        display = node.GetDisplayNode()
        display.SetAndObserveColorNodeID(color_node.GetID())
        positive = scores.scores[scores.scores > 0]
        low, high = (float(positive.min()), float(positive.max())) if len(positive) else (0.0, 1.0)
        display.AutoWindowLevelOff()
        display.SetWindowLevelMinMax(low, high if high > low else low + 1e-6)
        node.SetAttribute("EpilepsySuite.ColourBarTitle", "Semiology score")
        if self.scene.IsNodeClassRegistered("vtkMRMLColorLegendDisplayNode") and not self._nodes.get("legend"):
            legend = self.scene.AddNewNodeByClass("vtkMRMLColorLegendDisplayNode", "Semiology colour bar")
            legend.SetTitleText("Semiology score")
            node.AddAndObserveDisplayNodeID(legend.GetID())
            self._nodes["legend"] = legend
        return node

    def center_on_structure(self, label: int) -> tuple[float, float, float]:
        """Centre the slice views on a structure of the displayed parcellation (its own numbering)."""
        if self.parcellation is None or label not in self.parcellation.centroids_ras:
            raise InputError("structure", f"label {label} is not on display")
        ras = self.parcellation.centroids_ras[label]
        center_slice_views(self.scene, ras)
        return ras


class _batch:
    """Group display changes of a segmentation into one Modified event (keeps the panel responsive)."""

    def __init__(self, segmentation_node) -> None:
        self.nodes = [segmentation_node, segmentation_node.GetDisplayNode()]

    def __enter__(self):
        self.states = [node.StartModify() for node in self.nodes]
        return self

    def __exit__(self, *exc) -> None:
        for node, state in zip(self.nodes, self.states, strict=True):
            node.EndModify(state)
