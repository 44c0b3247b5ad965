"""Semiology panel: observed semiologies -> Semio2Brain scores on the parcellation, 2D and 3D.

Every query goes through :class:`SemiologyVizLib.logic.SemiologyVizLogic` on the session's
scene; it is fast (tenths of a second from the cache), so it runs in the event loop, once per
change of the selection or a setting.
"""

from __future__ import annotations

import time

import numpy as np
from epilepsy_suite.errors import InputError
from epilepsy_suite.semiology import QueryOptions
from epilepsy_suite.semiology.query import AGE_CHOICES, REGION_CHOICES
from SemiologyVizLib.logic import DisplaySettings, SemiologyVizLogic
from trame.widgets import html
from trame.widgets import vuetify3 as v3

from EpilepsySuiteMRML.colors import colormap_rgba

from .base import Panel, Table

COLORMAPS = ("viridis", "plasma", "inferno", "magma", "cividis", "turbo")
RESULT_COLUMNS = [("name", "Structure"), ("hemisphere", "Side"), ("datapoints", "Data"), ("score", "Score")]
FILTERS = (
    ("spontaneous_semiology", "Spontaneous semiology (SS) studies"),
    ("epilepsy_topology", "Epilepsy topology (ET) studies"),
    ("cortical_stimulation", "Cortical stimulation (CS) studies"),
    ("seizure_freedom", "Ground truth: post-op seizure freedom"),
    ("concordance", "Ground truth: concordant imaging/EEG"),
    ("seeg", "Ground truth: sEEG"),
)


def colour_bar_css(colormap: str, stops: int = 11) -> str:
    colours = colormap_rgba(colormap, stops)
    parts = [
        f"rgb({int(255 * r)},{int(255 * g)},{int(255 * b)}) {100 * i / (stops - 1):.0f}%"
        for i, (r, g, b, _) in enumerate(colours)
    ]
    return f"linear-gradient(to right, {', '.join(parts)})"


class SemiologyPanel(Panel):
    key = "sem"
    title = "Semiology"
    icon = "mdi-brain"

    def __init__(self, app) -> None:
        super().__init__(app)
        self.logic = SemiologyVizLogic(self.scene, app.semiology_database)
        self.result = None
        defaults = QueryOptions()
        display = DisplaySettings()
        self.state.update(
            {
                "sem_terms": [],
                "sem_filter": "",
                "sem_suggestions": [],
                "sem_selected": {},
                "sem_dominant": "none",
                "sem_age": "all",
                "sem_regions": "granular",
                "sem_normalise": defaults.normalise_to_localising,
                **{f"sem_{name}": getattr(defaults, name) for name, _ in FILTERS},
                "sem_colormap": display.colormap,
                "sem_colour_blind": display.colour_blind,
                "sem_min_opacity": display.min_opacity,
                "sem_hemisphere_3d": "both",
                "sem_results": Table.of([], RESULT_COLUMNS),
                "sem_bar": colour_bar_css(display.colormap),
                "sem_bar_range": ["", ""],
                "sem_query_ms": 0,
            }
        )
        try:
            sides = self.logic.term_sides()
            self.state.sem_terms = [{"name": term, "sides": list(allowed)} for term, allowed in sorted(sides.items())]
        except InputError as error:
            self.fail(error)
        watched = [
            "sem_selected", "sem_dominant", "sem_age", "sem_regions", "sem_normalise", "sem_colormap",
            "sem_colour_blind", "sem_min_opacity", "sem_hemisphere_3d", *(f"sem_{name}" for name, _ in FILTERS),
        ]  # fmt: skip
        self.state.change(*watched)(self._on_change)
        self.state.change("sem_filter")(self._on_filter)

    # ---------------------------------------------------------------------------- parcellation

    def ensure_parcellation(self) -> None:
        if self.logic.parcellation is None:
            started = time.perf_counter()
            parcellation = self.logic.set_parcellation(decimation=self.app.mesh_decimation)
            self.own(parcellation.segmentation_node)
            self.views.show_background(parcellation.reference_node)
            self.status(f"Parcellation ready in {time.perf_counter() - started:.1f} s: tick semiologies to score it.")

    def activate(self) -> None:
        super().activate()
        if self.logic.parcellation is not None:
            self.views.show_background(self.logic.parcellation.reference_node, reset=False)
            self.views.show_foreground(None)

    # ---------------------------------------------------------------------------- actions

    def toggle(self, term: str, side: str) -> None:
        selected = dict(self.state.sem_selected)
        if selected.get(term) == side:
            selected.pop(term)
        else:
            selected[term] = side
        self.state.sem_selected = selected

    def clear(self) -> None:
        self.state.sem_selected = {}

    def choose_suggestion(self, term: str) -> None:
        self.state.sem_filter = term

    def query_options(self) -> QueryOptions:
        state = self.state
        return QueryOptions.from_choices(
            state.sem_age,
            state.sem_regions,
            bool(state.sem_normalise),
            **{name: bool(state[f"sem_{name}"]) for name, _ in FILTERS},
        )

    def display_settings(self) -> DisplaySettings:
        state = self.state
        return DisplaySettings(
            colormap=state.sem_colormap,
            min_opacity=float(state.sem_min_opacity),
            colour_blind=bool(state.sem_colour_blind),
            show_left=state.sem_hemisphere_3d in ("both", "left"),
            show_right=state.sem_hemisphere_3d in ("both", "right"),
        )

    def semiologies(self) -> list[str]:
        return [f"{term}:{side}" for term, side in self.state.sem_selected.items()]

    def update(self) -> None:
        """Query the ticked semiologies and recolour the views (one render per change)."""
        semiologies = self.semiologies()
        display = self.display_settings()
        self.state.sem_bar = colour_bar_css(display.effective_colormap)
        if not semiologies:
            self.state.sem_results = Table.of([], RESULT_COLUMNS)
            self.status("Tick at least one semiology (and its side).")
            return
        self.ensure_parcellation()
        started = time.perf_counter()
        self.result = self.logic.update(semiologies, self.state.sem_dominant, self.query_options(), display)
        self.state.sem_query_ms = round(1000 * (time.perf_counter() - started))
        records = self.result.records
        self.state.sem_results = Table.of(records, RESULT_COLUMNS)
        scores = np.array([float(record["score"]) for record in records]) if records else np.zeros(1)
        self.state.sem_bar_range = [f"{scores.min():.3g}", f"{scores.max():.3g}"]
        skipped = f" No data for: {', '.join(self.result.skipped)}." if self.result.skipped else ""
        top = records[0] if records else None
        self.status(
            f"{len(records)} structures with data; top: {top['name']} ({float(top['score']):.3f}).{skipped}"
            if top
            else f"No structure has data.{skipped}"
        )

    def centre_on_row(self, row: int) -> None:
        if self.result is None or not 0 <= int(row) < len(self.result.records):
            return
        self.logic.center_on_structure(int(self.result.records[int(row)]["label"]))

    def _on_change(self, **_) -> None:
        if self.app.active_panel == self.key:
            self.guarded(self.update)

    def _on_filter(self, sem_filter: str = "", **_) -> None:
        text = (sem_filter or "").strip()
        if len(text) < 3:
            self.state.sem_suggestions = []
            return
        try:
            self.state.sem_suggestions = self.logic.suggest(text)
        except InputError as error:
            self.fail(error)

    # ---------------------------------------------------------------------------- UI

    def build_controls(self) -> None:
        html.Div("Semio2Brain database: {{ sem_database }}", classes="text-caption mb-1")
        v3.VTextField(
            v_model=("sem_filter",),
            label="Find a semiology (suggestions from the 3rd character)",
            density="compact",
            clearable=True,
            hide_details=True,
            raw_attrs=['data-testid="sem-filter"'],
        )
        with html.Div(v_if="sem_suggestions.length", classes="my-1", raw_attrs=['data-testid="sem-suggestions"']):
            v3.VChip(
                "{{ s }}",
                v_for="s in sem_suggestions",
                key="s",
                size="small",
                classes="ma-1",
                click=(self.choose_suggestion, "[s]"),
            )
        with html.Div(
            style="max-height: 240px; overflow-y: auto;", classes="border my-1", raw_attrs=['data-testid="sem-terms"']
        ):
            with html.Table(classes="text-body-2", style="width: 100%"):
                with html.Tr(
                    v_for=(
                        "t in sem_terms.filter(x => !sem_filter || sem_suggestions.includes(x.name) "
                        "|| x.name.toLowerCase().includes(sem_filter.toLowerCase()))"
                    ),
                    key="t.name",
                ):
                    html.Td("{{ t.name }}")
                    with html.Td(style="white-space: nowrap; text-align: right"):
                        v3.VBtn(
                            "{{ side === 'none' ? 'n/a' : side[0].toUpperCase() }}",
                            v_for="side in t.sides",
                            key="side",
                            size="x-small",
                            classes="ml-1",
                            variant=("sem_selected[t.name] === side ? 'flat' : 'outlined'",),
                            color=("sem_selected[t.name] === side ? 'primary' : undefined",),
                            title=("`${t.name}: ${side}`",),
                            raw_attrs=[':data-testid="`term-${t.name}-${side}`"'],
                            click=(self.toggle, "[t.name, side]"),
                        )
        with html.Div(classes="d-flex flex-wrap align-center"):
            v3.VChip(
                "{{ k }}: {{ v }}",
                v_for="(v, k) in sem_selected",
                key="k",
                size="small",
                closable=True,
                color="primary",
                classes="ma-1",
                click_close=(self.toggle, "[k, v]"),
            )
            v3.VBtn("Clear", v_if="Object.keys(sem_selected).length", size="small", variant="text", click=self.clear)
        v3.VSelect(
            v_model=("sem_dominant",),
            items=("['none', 'left', 'right']",),
            label="Dominant hemisphere",
            density="compact",
            hide_details=True,
            classes="my-2",
            raw_attrs=['data-testid="sem-dominant"'],
        )
        with v3.VExpansionPanels(multiple=True, variant="accordion"):
            with v3.VExpansionPanel(title="Literature filters"):
                with v3.VExpansionPanelText():
                    for name, label in FILTERS:
                        v3.VCheckbox(v_model=(f"sem_{name}",), label=label, density="compact", hide_details=True)
                    v3.VSelect(
                        v_model=("sem_age",), items=(list(AGE_CHOICES),), label="Patients",
                        density="compact", hide_details=True,
                    )  # fmt: skip
                    v3.VSelect(
                        v_model=("sem_regions",), items=(list(REGION_CHOICES),), label="Regions",
                        density="compact", hide_details=True,
                    )  # fmt: skip
                    v3.VCheckbox(
                        v_model=("sem_normalise",), label="Normalise regions to Localising",
                        disabled=("sem_regions === 'raw'",), density="compact", hide_details=True,
                    )  # fmt: skip
            with v3.VExpansionPanel(title="Display"):
                with v3.VExpansionPanelText():
                    v3.VSelect(
                        v_model=("sem_colormap",), items=(list(COLORMAPS),), label="Colour map",
                        density="compact", hide_details=True,
                    )  # fmt: skip
                    v3.VSwitch(
                        v_model=("sem_colour_blind",), label="Colour-blind mode", density="compact", hide_details=True
                    )
                    v3.VSlider(
                        v_model=("sem_min_opacity",), min=0, max=1, step=0.05, label="Minimum opacity",
                        thumb_label=True, density="compact", hide_details=True,
                    )  # fmt: skip
                    v3.VSelect(
                        v_model=("sem_hemisphere_3d",), items=("['both', 'left', 'right']",),
                        label="Hemispheres in 3D", density="compact", hide_details=True,
                    )  # fmt: skip
        with html.Div(classes="my-2", v_if="sem_results.rows.length"):
            html.Div(style=("`height: 14px; background: ${sem_bar}`",), raw_attrs=['data-testid="sem-colour-bar"'])
            with html.Div(classes="d-flex justify-space-between text-caption"):
                html.Span("{{ sem_bar_range[0] }}")
                html.Span("Semiology score")
                html.Span("{{ sem_bar_range[1] }}")
        self.app.results_table("sem_results", self.centre_on_row, "sem-results")
