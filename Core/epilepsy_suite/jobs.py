"""Long work in a background process: progress streamed back, cancelled by terminating it.

A :class:`BackgroundJob` runs ``function(*args, progress=..., **kwargs)`` in a freshly spawned
Python process (``multiprocessing`` "spawn" context: no state of the caller's threads, GUI or
event loop is inherited). The function reports ``progress(fraction, message)`` as usual; the
child forwards each report through a queue and the caller collects them with :meth:`poll`
without ever blocking, so a Qt widget (from a timer) and the web app's event loop (from a task)
stay responsive. :meth:`cancel` terminates the process (SIGTERM, then SIGKILL after a grace
period): nothing the function was doing can hold the cancel up.

The function and its arguments must be picklable (a module-level function; SimpleITK images,
numpy arrays, paths and dataclasses are). Its return value comes back pickled in ``result``;
an exception comes back as ``error`` (a one-line message) with its type name in ``error_type``.
"""

from __future__ import annotations

import multiprocessing
import pickle
import queue
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["BackgroundJob", "JobState", "ProgressReport", "set_python"]

_CONTEXT = multiprocessing.get_context("spawn")


def set_python(executable: str) -> None:
    """The interpreter job processes start (default: this one). In 3D Slicer, ``PythonSlicer``."""
    _CONTEXT.set_executable(executable)


class JobState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class ProgressReport:
    fraction: float
    message: str


def _child(inbox, channel) -> None:
    def progress(fraction: float, message: str = "") -> None:
        channel.put(("progress", float(fraction), str(message)))

    try:
        # Unpickling imports the function's modules (torch, monai...: seconds); it happens here,
        # after the parent's start() has returned, not while the parent writes the arguments.
        function, args, kwargs = pickle.loads(inbox.get())
        result = function(*args, progress=progress, **kwargs)
    except BaseException as error:  # reported to the parent, which decides what to show
        message = str(error) or type(error).__name__
        channel.put(("error", type(error).__name__, message, traceback.format_exc()))
        return
    channel.put(("done", result))


class BackgroundJob:
    """One call of ``function`` in a background process.

    Args:
        function: module-level callable taking a ``progress(fraction, message)`` keyword.
        args, kwargs: its other arguments (pickled into the child).
        name: what the job is, for messages ("FCD inference").
        grace_s: seconds a cancelled process gets to exit on SIGTERM before SIGKILL.

    Raises:
        TypeError: ``function`` is not callable.
    """

    def __init__(
        self,
        function: Callable[..., Any],
        *args: Any,
        name: str = "",
        grace_s: float = 3.0,
        **kwargs: Any,
    ) -> None:
        if not callable(function):
            raise TypeError(f"a background job needs a callable, not {type(function).__name__}")
        self.function = function
        self.args = args
        self.kwargs = kwargs
        self.name = name or getattr(function, "__name__", "job")
        self.grace_s = grace_s
        self.state = JobState.PENDING
        self.progress = ProgressReport(0.0, "waiting to start")
        self.result: Any = None
        self.error: str | None = None
        self.error_type: str | None = None
        self.error_trace: str | None = None
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self._channel = _CONTEXT.Queue()
        self._inbox = _CONTEXT.Queue()
        self._process = _CONTEXT.Process(
            target=_child, args=(self._inbox, self._channel), name=f"epilepsy-suite {self.name}", daemon=True
        )

    # --------------------------------------------------------------------------------- control

    def start(self) -> BackgroundJob:
        """Start the process and return at once (it loads its libraries in the background).

        Raises:
            RuntimeError: the job was already started.
            TypeError, pickle.PicklingError: the function or an argument cannot be sent.
        """
        if self.state is not JobState.PENDING:
            raise RuntimeError(f"{self.name}: the job was already started")
        payload = pickle.dumps((self.function, self.args, self.kwargs), protocol=pickle.HIGHEST_PROTOCOL)
        self.started_at = time.monotonic()
        self.state = JobState.RUNNING
        self.progress = ProgressReport(0.0, "starting")
        self._process.start()
        self._inbox.put(payload)  # written by the queue's feeder thread: start() does not wait for it
        return self

    def cancel(self) -> None:
        """Stop the job now: terminate its process (kill it if it does not exit in ``grace_s``)."""
        if self.state is not JobState.RUNNING:
            return
        self.poll()  # a result that already arrived wins over the cancel
        if self.state is not JobState.RUNNING:
            return
        self._process.terminate()
        self._process.join(self.grace_s)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._finish(JobState.CANCELLED)
        self.progress = ProgressReport(self.progress.fraction, "cancelled")

    @property
    def running(self) -> bool:
        return self.state is JobState.RUNNING

    @property
    def pid(self) -> int | None:
        return self._process.pid

    # --------------------------------------------------------------------------------- reports

    def poll(self) -> list[ProgressReport]:
        """Collect what the child reported since the last call (never blocks); updates the state."""
        reports: list[ProgressReport] = []
        if self.state is not JobState.RUNNING:
            return reports
        while self.state is JobState.RUNNING:
            try:
                self._receive(self._channel.get_nowait(), reports)
            except queue.Empty:
                break
        if self.state is JobState.RUNNING and not self._process.is_alive():
            self._drain_after_exit(reports)
        return reports

    def _receive(self, message: tuple, reports: list[ProgressReport]) -> None:
        """Apply one message of the child: a progress report, the result, or the error."""
        kind = message[0]
        if kind == "progress":
            self.progress = ProgressReport(message[1], message[2])
            reports.append(self.progress)
        elif kind == "done":
            self.result = message[1]
            self.progress = ProgressReport(1.0, "done")
            self._finish(JobState.DONE)
        else:
            _, self.error_type, self.error, self.error_trace = message
            self._finish(JobState.FAILED)

    def _drain_after_exit(self, reports: list[ProgressReport]) -> None:
        # The child may have put its last message just before exiting: give the queue's feeder
        # thread a moment to deliver it before calling the exit a crash.
        deadline = time.monotonic() + 1.0
        while self.state is JobState.RUNNING and time.monotonic() < deadline:
            try:
                self._receive(self._channel.get(timeout=0.1), reports)
            except queue.Empty:
                continue
        if self.state is JobState.RUNNING:
            self.error_type = "ProcessExit"
            self.error = f"{self.name}: the background process ended unexpectedly (exit code {self._process.exitcode})"
            self._finish(JobState.FAILED)

    def wait(self, timeout: float | None = None, interval: float = 0.05) -> JobState:
        """Poll until the job ends (or ``timeout`` seconds pass); returns the state."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.state is JobState.RUNNING:
            self.poll()
            if self.state is not JobState.RUNNING:
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            time.sleep(interval)
        return self.state

    def _finish(self, state: JobState) -> None:
        self.state = state
        self.finished_at = time.monotonic()
        if state is not JobState.CANCELLED:
            self._process.join(5.0)
        self._channel.close()
        self._inbox.cancel_join_thread()  # a payload the child never read must not hold up our exit
        self._inbox.close()

    @property
    def elapsed_s(self) -> float:
        if self.started_at is None:
            return 0.0
        return (self.finished_at or time.monotonic()) - self.started_at
