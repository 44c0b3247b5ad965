"""Long work of a web session: one :class:`~epilepsy_suite.jobs.BackgroundJob` at a time.

The job runs in its own process; an asyncio task of the web server polls it a few times a
second and mirrors its progress into the shared state (``job_*``), so the page's progress bar
moves and the cancel button works while the event loop keeps serving views.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from epilepsy_suite.jobs import BackgroundJob, JobState

LOG = logging.getLogger(__name__)
POLL_S = 0.2


class JobRunner:
    def __init__(self, server) -> None:
        self.server = server
        self.state = server.state
        self.job: BackgroundJob | None = None
        self.state.update(
            {
                "job_active": False,
                "job_progress": 0,
                "job_message": "",
                "job_error": "",
            }
        )

    @property
    def busy(self) -> bool:
        return self.job is not None and self.job.running

    def start(self, job: BackgroundJob, on_done: Callable[[Any], None], panel: str) -> None:
        """Start ``job`` for ``panel`` (its key); ``on_done(result)`` runs in the event loop when it succeeds."""
        if self.busy:
            raise RuntimeError(f"{self.job.name} is still running: cancel it first")
        self.job = job.start()
        with self.state:
            self.state.update(
                {
                    "job_active": True,
                    "job_progress": 0,
                    "job_message": "starting (loading the libraries in a background process)",
                    "job_error": "",
                }
            )
        asyncio.get_event_loop().create_task(self._follow(job, on_done, panel))

    async def _follow(self, job: BackgroundJob, on_done, panel: str) -> None:
        while job.running:
            reports = job.poll()
            if reports and job.running:
                with self.state:
                    self.state.job_progress = round(100 * reports[-1].fraction, 1)
                    self.state.job_message = reports[-1].message
            await asyncio.sleep(POLL_S)
        error = ""
        if job.state is JobState.DONE:
            try:
                on_done(job.result)
            except Exception as failure:  # shown to the user; the server keeps running
                LOG.exception("%s: showing the result failed", job.name)
                error = f"{job.name}: {failure}"
        elif job.state is JobState.FAILED:
            error = job.error or f"{job.name} failed"
            if job.error_type not in ("InputError", "AccessError", "OutputError") and job.error_trace:
                LOG.error("%s failed:\n%s", job.name, job.error_trace)
        with self.state:
            self.state.job_active = False
            self.state.job_progress = 100 if job.state is JobState.DONE else self.state.job_progress
            self.state.job_message = {
                JobState.DONE: f"{job.name}: done in {job.elapsed_s:.1f} s",
                JobState.CANCELLED: f"{job.name}: cancelled",
            }.get(job.state, "")
            self.state.job_error = error
            if job.state is not JobState.DONE:  # the panel's "running..." line no longer holds
                self.state[f"{panel}_status"] = "Cancelled." if job.state is JobState.CANCELLED else ""

    def cancel(self) -> None:
        """Terminate the running job; its follower task shows the cancel (within ``POLL_S``)."""
        if self.job is not None and self.job.running:
            self.job.cancel()
