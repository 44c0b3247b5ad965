"""A :class:`~epilepsy_suite.jobs.BackgroundJob` driven from a Slicer widget.

A Qt timer polls the job a few times a second, so Slicer's GUI never waits on the model: the
progress bar moves, the views stay interactive, and **Cancel** terminates the job's process.
The child process is Slicer's own Python (``PythonSlicer``), so it sees the same packages.
The widget hands in its Qt timer (only module entry files import Qt), so this module imports
headless too.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

from epilepsy_suite.jobs import BackgroundJob, JobState, ProgressReport, set_python

POLL_MS = 200


def use_slicer_python() -> str | None:
    """Make background jobs start ``PythonSlicer`` (Slicer's interpreter); returns its path."""
    path = shutil.which("PythonSlicer")
    if path:
        set_python(path)
    return path


class JobWatcher:
    """Start ``job`` and report to the widget from Qt's event loop.

    Args:
        timer: a ``qt.QTimer`` of the widget (anything with ``setInterval``, ``connect``,
            ``start`` and ``stop``).
        on_progress: ``(fraction, message)`` for each report.
        on_done: the job's result, once.
        on_failed: the finished job (``error``, ``error_type``), once; also after a cancel
            (``state`` is then ``CANCELLED``).
    """

    def __init__(
        self,
        job: BackgroundJob,
        timer,
        on_progress: Callable[[float, str], None],
        on_done: Callable[[Any], None],
        on_failed: Callable[[BackgroundJob], None],
        interval_ms: int = POLL_MS,
    ) -> None:
        self.job = job
        self.on_progress = on_progress
        self.on_done = on_done
        self.on_failed = on_failed
        self.timer = timer
        self.timer.setInterval(interval_ms)
        self.timer.connect("timeout()", self._poll)

    def start(self) -> JobWatcher:
        use_slicer_python()
        self.job.start()
        self.timer.start()
        return self

    def cancel(self) -> None:
        self.job.cancel()
        self._poll()

    @property
    def running(self) -> bool:
        return self.job.running

    def _poll(self) -> None:
        reports: list[ProgressReport] = self.job.poll()
        if reports:
            self.on_progress(reports[-1].fraction, reports[-1].message)
        if self.job.running:
            return
        self.timer.stop()
        if self.job.state is JobState.DONE:
            self.on_done(self.job.result)
        else:
            self.on_failed(self.job)


class JobWidgetMixin:
    """Run / progress / cancel / failure handling of a module widget whose ``.ui`` has
    ``applyButton``, ``cancelButton``, ``progressBar`` and ``statusLabel``."""

    jobTitle = "The job"
    watcher: JobWatcher | None = None

    def setBusy(self, busy: bool) -> None:
        """Enable the buttons that start work when idle, the cancel button when busy."""
        self.ui.applyButton.enabled, self.ui.cancelButton.enabled = not busy, busy

    def startJob(self, job: BackgroundJob, timer, onResult: Callable[[Any], None], message: str) -> None:
        self.setBusy(True)
        self.ui.progressBar.value = 0
        self.ui.statusLabel.text = message

        def done(result: Any) -> None:
            self.setBusy(False)
            onResult(result)
            self.ui.progressBar.value = 100

        self.watcher = JobWatcher(job, timer, self.onProgress, done, self.onFailed).start()

    def onProgress(self, fraction: float, message: str) -> None:
        self.ui.progressBar.value = int(100 * fraction)
        self.ui.statusLabel.text = message

    def onFailed(self, job: BackgroundJob) -> None:
        import slicer

        self.setBusy(False)
        if job.state is JobState.CANCELLED:
            self.ui.statusLabel.text = "Cancelled."
            return
        self.ui.statusLabel.text = f"{self.jobTitle} failed."
        slicer.util.errorDisplay(job.error or f"{self.jobTitle} failed.", detailedText=job.error_trace or "")

    def onCancel(self) -> None:
        if self.watcher is not None and self.watcher.running:
            self.watcher.cancel()
