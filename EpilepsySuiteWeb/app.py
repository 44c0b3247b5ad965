"""The EpilepsySuite web app: the four module panels over one MRML scene, served by trame-slicer.

``python -m epilepsy_suite serve [--data DIR] [--host 127.0.0.1] [--port N]``

One server process is one session: its own scene, its own uploads, its own job. For several
users, run one process per user behind an authenticating reverse proxy (README, "Serving
several users").
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

from trame.app import TrameApp
from trame.widgets import html
from trame.widgets import vuetify3 as v3
from trame_slicer.core import SlicerApp
from trame_vuetify.ui.vuetify3 import SinglePageWithDrawerLayout

from .files import IMAGE_SUFFIXES, MODEL_SUFFIXES, VIDEO_SUFFIXES, DataFolder
from .jobs import JobRunner
from .views import LAYOUTS, SuiteViews

LOG = logging.getLogger("epilepsy_suite.web")
TITLE = "EpilepsySuite"
LISTINGS = {"data_images": IMAGE_SUFFIXES, "data_models": MODEL_SUFFIXES, "data_videos": VIDEO_SUFFIXES}
# Table cells: long structure names wrap, so every column (the score above all) stays in the drawer.
CELL = "font-size: 12px; padding: 2px 6px; word-break: break-word; height: auto"
DEFAULT_SEMIOLOGY_DATABASE = Path(__file__).resolve().parents[2] / "shared" / "data" / "semio2brain"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SuiteApp(TrameApp):
    """One session of the web app.

    Args:
        server: a trame server (None: a new one).
        files: what the session may open (``--data`` and its uploads).
        semiology_database: the Semio2Brain folder (None: the Logic's default).
        device: torch device for the models (``auto``, ``cpu``, ``cuda``...).
        multisamples: anti-aliasing samples of every view (0 on CPU servers).
        mesh_decimation: fraction of the parcellation meshes' triangles removed (0.9 on CPU servers).
    """

    def __init__(
        self,
        server=None,
        files: DataFolder | None = None,
        semiology_database: str | os.PathLike[str] | None = None,
        device: str = "auto",
        multisamples: int = 0,
        mesh_decimation: float = 0.9,
    ) -> None:
        super().__init__(server)
        started = time.perf_counter()
        from trame_slicer import module as trame_slicer_module

        self.server.enable_module(trame_slicer_module)
        self.files = files or DataFolder(None)
        self.semiology_database = semiology_database
        self.mesh_decimation = mesh_decimation
        self.slicer_app = SlicerApp()
        self.views = SuiteViews(self.server, self.slicer_app, multisamples)
        self.jobs = JobRunner(self.server)
        self.state.update(
            {
                "trame__title": TITLE,
                "panel": "sem",
                "layout_name": LAYOUTS[0],
                "sem_database": str(semiology_database or "default"),
                "device": str(device),
                "upload_error": "",
                "upload_status": "",
            }
        )
        from .panels import PANEL_CLASSES

        self.refresh_listings()
        self.panels = {cls.key: cls(self) for cls in PANEL_CLASSES}
        self.active_panel = "sem"
        self.state.change("panel")(self._on_panel)
        self.state.change("layout_name")(self._on_layout)
        self._build_ui()
        self.panels["sem"].guarded(self.panels["sem"].ensure_parcellation)
        LOG.info("session ready in %.1f s", time.perf_counter() - started)

    # ---------------------------------------------------------------------------- state

    def _on_panel(self, panel: str, **_) -> None:
        if panel not in self.panels or panel == self.active_panel:
            return
        self.panels[self.active_panel].deactivate()
        self.active_panel = panel
        self.panels[panel].activate()

    def _on_layout(self, layout_name: str, **_) -> None:
        if layout_name in LAYOUTS:
            self.views.set_layout(layout_name)

    def cancel_job(self) -> None:
        self.jobs.cancel()

    async def upload(self, files) -> None:
        """Files picked in the browser go to this session's private folder (size-limited)."""
        from epilepsy_suite.errors import InputError

        names = []
        try:
            for item in files or []:  # save_upload refuses what is over the limit
                names.append(self.files.save_upload(item["name"], item["content"]))
        except InputError as error:
            self.state.upload_error = str(error)
            return
        self.state.upload_error = ""
        self.state.upload_status = f"uploaded: {', '.join(names)}" if names else ""
        self.refresh_listings()

    def refresh_listings(self) -> None:
        """The file lists every panel's selects offer (one walk of the data folder)."""
        self.state.update(self.files.listings(LISTINGS))

    # ---------------------------------------------------------------------------- UI pieces

    def results_table(self, variable: str, on_row: Callable[[int], None] | str | None, testid: str) -> None:
        """A compact table of ``state[variable]`` (``Table.of``). Clicking a row calls ``on_row(index)``
        on the server, or runs it in the page when it is a script (``row`` is the clicked row)."""
        click = on_row if on_row is None or isinstance(on_row, str) else (on_row, "[i]")
        with html.Div(v_if=f"{variable}.rows.length", style="max-height: 260px; overflow-y: auto;", classes="my-2"):
            with v3.VTable(density="compact", hover=True, raw_attrs=[f'data-testid="{testid}"']):
                with html.Thead():
                    with html.Tr():
                        html.Th("{{ h.title }}", v_for=f"h in {variable}.headers", key="h.key", style=CELL)
                with html.Tbody():
                    with html.Tr(
                        v_for=f"(row, i) in {variable}.rows",
                        key="i",
                        style="cursor: pointer" if on_row else None,
                        click=click,
                        raw_attrs=[':data-testid="`' + testid + '-row-${i}`"'],
                    ):
                        html.Td("{{ row[h.key] }}", v_for=f"h in {variable}.headers", key="h.key", style=CELL)

    def file_select(self, variable: str, items: str, label: str, testid: str) -> None:
        v3.VSelect(
            v_model=(variable, ""),
            items=(items, []),
            label=label,
            density="compact",
            hide_details=True,
            clearable=True,
            classes="my-1",
            raw_attrs=[f'data-testid="{testid}"'],
        )

    def _build_ui(self) -> None:
        with SinglePageWithDrawerLayout(self.server, full_height=True) as self.ui:
            self.ui.title.set_text(TITLE)
            self.ui.root.theme = "light"
            with self.ui.toolbar:
                v3.VSpacer()
                v3.VSelect(
                    v_model=("layout_name",),
                    items=(list(LAYOUTS),),
                    density="compact",
                    hide_details=True,
                    style="max-width: 220px",
                    classes="mx-2",
                )
                v3.VFileInput(
                    label="Upload files",
                    multiple=True,
                    density="compact",
                    hide_details=True,
                    style="max-width: 260px",
                    prepend_icon="mdi-upload",
                    raw_attrs=['data-testid="upload"'],
                    # Files over the limit are refused in the page, before their bytes are sent;
                    # the server checks again (a page script could skip this).
                    update_modelValue=(
                        f"($event || []).every(f => f.size <= {self.files.max_upload_bytes}) "
                        f"? trigger('{self.server.controller.trigger_name(self.upload)}', [$event]) "
                        f": (upload_error = $event.filter(f => f.size > {self.files.max_upload_bytes}).map(f => f.name)"
                        f".join(', ') + ': over the upload limit of {self.files.max_upload_mb:g} MB, not sent')"
                    ),
                )
            with self.ui.drawer as drawer:
                drawer.width = 480
                with html.Div(classes="pa-2"):
                    with v3.VTabs(v_model=("panel",), density="compact", grow=True):
                        for panel in self.panels.values():
                            v3.VTab(panel.title, value=panel.key, raw_attrs=[f'data-testid="tab-{panel.key}"'])
                    with html.Div(classes="my-2", raw_attrs=['data-testid="job"']):
                        with html.Div(v_if="job_active || job_message", classes="text-caption"):
                            html.Span("{{ job_message }}", raw_attrs=['data-testid="job-message"'])
                        with html.Div(v_if="job_active", classes="d-flex align-center"):
                            v3.VProgressLinear(
                                model_value=("job_progress",), height=8, color="primary", classes="flex-grow-1"
                            )
                            v3.VBtn(
                                "Cancel", size="small", color="error", variant="tonal", classes="ml-2",
                                click=self.cancel_job, raw_attrs=['data-testid="cancel"'],
                            )  # fmt: skip
                        v3.VAlert(
                            "{{ job_error }}",
                            v_if="job_error",
                            type="error",
                            density="compact",
                            raw_attrs=['data-testid="job-error"'],
                        )
                        v3.VAlert(
                            "{{ upload_error }}", v_if="upload_error", type="error", density="compact",
                            raw_attrs=['data-testid="upload-error"'],
                        )  # fmt: skip
                        html.Div("{{ upload_status }}", v_if="upload_status", classes="text-caption")
                    with v3.VWindow(v_model=("panel",)):
                        for panel in self.panels.values():
                            with v3.VWindowItem(value=panel.key, raw_attrs=[f'data-testid="panel-{panel.key}"']):
                                panel.build_controls()
                                v3.VAlert(
                                    f"{{{{ {panel.key}_error }}}}", v_if=f"{panel.key}_error", type="error",
                                    density="compact", classes="my-1", raw_attrs=[f'data-testid="{panel.key}-error"'],
                                )  # fmt: skip
                                html.Div(
                                    f"{{{{ {panel.key}_status }}}}", classes="text-body-2 my-1",
                                    raw_attrs=[f'data-testid="{panel.key}-status"'],
                                )  # fmt: skip
            with self.ui.content:
                with html.Div(classes="d-flex flex-column", style="height: 100%"):
                    for panel in self.panels.values():
                        with html.Div(v_if=f"panel === '{panel.key}'"):
                            panel.build_content()
                    # The recording panel needs no brain views: they are hidden (not destroyed) there.
                    with html.Div(
                        v_show="panel !== 'vid'", classes="flex-grow-1", style="position: relative; min-height: 300px",
                        raw_attrs=['data-testid="views"'],
                    ):  # fmt: skip
                        self.views.layouts.initialize_layout_grid(self.ui)


# ------------------------------------------------------------------------------------ command line


def check_address(host: str, port: int) -> None:
    """Refuse an address the server could not listen on, before minutes of start-up are spent.

    Raises:
        InputError: ``--host`` does not resolve, or ``--port`` is taken (or not allowed).
    """
    from epilepsy_suite.errors import InputError

    try:
        family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as error:
        raise InputError("--host", f"{host!r} is not an address of this machine ({error.strerror})") from None
    with socket.socket(family, kind, protocol) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            raise InputError("--port", f"cannot listen on {host}:{port} ({error.strerror})") from None


def main(arguments: argparse.Namespace) -> int:
    from epilepsy_suite.errors import InputError

    for noisy in ("trame_server", "trame_client", "trame_rca", "trame_slicer", "wslink", "aiohttp"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if not is_loopback(arguments.host):
        LOG.warning(
            "serving on %s: anyone who can reach this address can use the app and the files under --data. "
            "Put it behind an authenticating reverse proxy (README, 'Serving several users').",
            arguments.host,
        )
    check_address(arguments.host, arguments.port)
    database = arguments.semiology_database
    if database is not None and not database.is_dir():
        raise InputError(database, "the Semio2Brain database folder does not exist")
    if database is None and not os.environ.get("EPILEPSY_SUITE_SEMIO2BRAIN") and DEFAULT_SEMIOLOGY_DATABASE.is_dir():
        database = DEFAULT_SEMIOLOGY_DATABASE
    files = DataFolder(arguments.data, arguments.max_upload_mb)
    try:
        app = SuiteApp(
            files=files,
            semiology_database=database,
            device=arguments.device,
            multisamples=arguments.anti_aliasing,
            mesh_decimation=arguments.mesh_decimation,
        )
        app.server.start(host=arguments.host, port=arguments.port, open_browser=False, show_connection_info=True)
    finally:
        files.close()
    return 0
