"""What every panel of the web app shares: the session it runs in, its nodes, its errors."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from epilepsy_suite.errors import InputError
from epilepsy_suite.io import read_image
from epilepsy_suite.validation import Number

from EpilepsySuiteMRML.volumes import volume_node_from_sitk

if TYPE_CHECKING:
    from ..app import SuiteApp

LOG = logging.getLogger("epilepsy_suite.web")


@dataclass
class Table:
    """A results table as the page shows it: column (key, title) pairs and rows of strings."""

    columns: list[tuple[str, str]]
    rows: list[dict[str, str]] = field(default_factory=list)

    @staticmethod
    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"
        return str(value)

    @classmethod
    def of(cls, records: list[dict[str, object]], columns: list[tuple[str, str]]) -> dict:
        return {
            "headers": [{"key": key, "title": title} for key, title in columns],
            "rows": [{key: cls.cell(record.get(key, "")) for key, _ in columns} for record in records],
        }


class Panel:
    """One module's panel. Subclasses build their controls and drive the module's Logic."""

    key = ""
    title = ""
    icon = ""

    def __init__(self, app: SuiteApp) -> None:
        self.app = app
        self.server = app.server
        self.state = app.server.state
        self.ctrl = app.server.controller
        self.scene = app.slicer_app.scene
        self.views = app.views
        self.files = app.files
        self.jobs = app.jobs
        self._nodes: list[object] = []
        self._loaded: dict[str, tuple[str, object]] = {}
        self.state[f"{self.key}_status"] = ""
        self.state[f"{self.key}_error"] = ""

    # ---------------------------------------------------------------------------- UI hooks

    def build_controls(self) -> None:
        raise NotImplementedError

    def build_content(self) -> None:
        """Anything shown above the views while this panel is active (default: nothing)."""

    def activate(self) -> None:
        """Show this panel's nodes (and its background volume); the others are hidden."""
        for node in self._nodes:
            self._set_visible(node, True)

    def deactivate(self) -> None:
        for node in self._nodes:
            self._set_visible(node, False)

    # ---------------------------------------------------------------------------- helpers

    def status(self, text: str) -> None:
        self.state[f"{self.key}_status"] = text
        self.state[f"{self.key}_error"] = ""
        self.state.job_error = ""  # a new action: the last job's error no longer applies

    def fail(self, error: Exception | str) -> None:
        message = str(error)
        LOG.info("%s: %s", self.key, message)
        self.state[f"{self.key}_error"] = message
        self.state.job_error = ""

    def own(self, *nodes) -> None:
        self._nodes.extend(node for node in nodes if node is not None)

    @staticmethod
    def whole_number(value, what: str, low: int, high: int) -> int:
        """``value`` from a number field as an int in [low, high] (the command line's rule,
        :class:`~epilepsy_suite.validation.Number`); :class:`InputError` otherwise."""
        try:
            number = float(value)
            value = int(number) if number.is_integer() else number
        except (TypeError, ValueError, OverflowError):
            pass  # the rule refuses it, naming what was typed
        problem = Number(int, minimum=low, maximum=high).problem(value)
        if problem:
            raise InputError(what, problem)
        return value

    def load_volume(self, slot: str, name: str, what: str = "image"):
        """The volume node of the file ``name`` (read once per name and slot)."""
        previous = self._loaded.get(slot)
        if previous is not None and previous[0] == name and self.scene.GetNodeByID(previous[1].GetID()):
            return previous[1]
        path = self.files.resolve(name, what)
        image = read_image(path, what=what)
        # Named after its file: a Logic error about this volume then names the file.
        node = volume_node_from_sitk(self.scene, image, name)
        if previous is not None:
            self.scene.RemoveNode(previous[1])
        self._loaded[slot] = (name, node)
        self.own(node)
        return node

    def remove_nodes(self, *nodes) -> None:
        for node in nodes:
            if node is None:
                continue
            if node in self._nodes:
                self._nodes.remove(node)
            if self.scene.GetNodeByID(node.GetID()) is not None:
                self.scene.RemoveNode(node)

    @staticmethod
    def _set_visible(node, visible: bool) -> None:
        if node.IsA("vtkMRMLVolumeNode"):
            return  # volumes show through the slice composite nodes (see activate)
        display = node.GetDisplayNode() if hasattr(node, "GetDisplayNode") else None
        if display is not None:
            display.SetVisibility(visible)

    def guarded(self, action, *args):
        """Run ``action``; an :class:`InputError` becomes the panel's one-line error."""
        try:
            return action(*args)
        except InputError as error:
            self.fail(error)
        except (ValueError, RuntimeError) as error:
            LOG.exception("%s failed", self.key)
            self.fail(error)
        return None
