"""The job runner shared by the Slicer widgets and the web app: a background process streaming
progress, cancelled by terminating it, driving the modules' own compute functions."""

from __future__ import annotations

import os
import pickle
import time

import numpy as np
import pytest
import SimpleITK as sitk
from epilepsy_suite.errors import InputError
from epilepsy_suite.fcd.synthetic import make_synthetic_subject
from epilepsy_suite.jobs import BackgroundJob, JobState
from FCDSegmentationLib.logic import FCDSegmentationLogic

from EpilepsySuiteMRML.volumes import sitk_from_volume_node, volume_node_from_sitk


def slow_count(steps: int, pause_s: float, progress=None) -> int:
    for step in range(steps):
        time.sleep(pause_s)
        progress((step + 1) / steps, f"step {step + 1} of {steps}")
    return steps


def refuse(name: str, progress=None) -> None:
    raise InputError(name, "is not a T1 image")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def subject():
    return make_synthetic_subject(5, spacing=2.0)


def test_progress_streams_and_result_returns() -> None:
    job = BackgroundJob(slow_count, 4, 0.05, name="count").start()
    seen = []
    while job.running:
        seen.extend(job.poll())
        time.sleep(0.02)
    assert job.state is JobState.DONE and job.result == 4
    fractions = [report.fraction for report in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) >= 2
    assert seen[0].message.startswith("step ")


def test_cancel_terminates_the_process() -> None:
    job = BackgroundJob(slow_count, 1000, 0.05, name="endless").start()
    while not job.poll():  # wait for the first report: the child is really working
        time.sleep(0.05)
    pid = job.pid
    started = time.monotonic()
    job.cancel()
    assert time.monotonic() - started < job.grace_s + 1
    assert job.state is JobState.CANCELLED and job.result is None
    time.sleep(0.1)
    assert not pid_alive(pid), "the cancelled job's process is still running"


def test_an_error_comes_back_as_one_line() -> None:
    job = BackgroundJob(refuse, "postop.nii.gz").start()
    assert job.wait(60) is JobState.FAILED
    assert job.error_type == "InputError" and "postop.nii.gz" in job.error and "\n" not in job.error


def test_fcd_job_equals_the_logic(mrml_scene, subject, fcd_checkpoint) -> None:
    """The widgets' and web app's path (Logic.job in a process, Logic.show in the scene) gives predict's answer."""
    t1 = volume_node_from_sitk(mrml_scene, subject.t1, "T1")
    flair = volume_node_from_sitk(mrml_scene, subject.flair, "FLAIR")
    logic = FCDSegmentationLogic(mrml_scene)
    settings = dict(device="cpu", threshold=0.3, min_cluster_voxels=1)
    direct = logic.predict(t1, flair, str(fcd_checkpoint), **settings)
    job = logic.job(t1, flair, str(fcd_checkpoint), **settings).start()
    assert job.wait(300) is JobState.DONE, job.error
    shown = logic.show(job.result, t1, "FCD background")
    np.testing.assert_allclose(
        sitk.GetArrayFromImage(sitk_from_volume_node(shown.probability_node)),
        sitk.GetArrayFromImage(sitk_from_volume_node(direct.probability_node)),
        atol=1e-5,
    )
    assert [c["voxels"] for c in shown.clusters] == [c["voxels"] for c in direct.clusters]
    assert job.progress.fraction == 1.0


def test_jobs_check_their_inputs_before_starting(mrml_scene, subject, tmp_path) -> None:
    from CavitySegmentationLib.logic import CavitySegmentationLogic
    from SeizureVideoLib.logic import SeizureVideoLogic

    t1 = volume_node_from_sitk(mrml_scene, subject.t1, "T1")
    fcd = FCDSegmentationLogic(mrml_scene)
    with pytest.raises(InputError, match="FLAIR volume is missing"):
        fcd.job(t1, None, "model.pt")
    with pytest.raises(InputError, match="existing model file"):
        fcd.job(t1, t1, str(tmp_path / "missing.pt"))
    with pytest.raises(InputError, match="does not exist"):
        CavitySegmentationLogic(mrml_scene).job(t1, str(tmp_path / "missing.pt"))
    with pytest.raises(InputError, match="choose a video file"):
        SeizureVideoLogic(mrml_scene).job(None, "model.pt")


class ManualTimer:
    """Stands in for the widget's qt.QTimer (no Qt here): the test fires its ticks."""

    def __init__(self) -> None:
        self.callback, self.active = None, False

    def setInterval(self, milliseconds: int) -> None:  # noqa: N802 - Qt's name
        self.interval = milliseconds

    def connect(self, signal: str, callback) -> None:
        assert signal == "timeout()"
        self.callback = callback

    def start(self) -> None:
        self.active = True

    def stop(self) -> None:
        self.active = False

    def run(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while self.active and time.monotonic() < deadline:
            self.callback()
            time.sleep(0.02)


def test_widget_watcher_reports_progress_result_and_cancel() -> None:
    from EpilepsySuiteMRML.background import JobWatcher

    events: list[tuple] = []
    timer = ManualTimer()
    watcher = JobWatcher(
        BackgroundJob(slow_count, 3, 0.05), timer, lambda f, m: events.append(("progress", f)),
        lambda result: events.append(("done", result)), lambda job: events.append(("failed", job.state)),
    ).start()  # fmt: skip
    timer.run()
    assert events[-1] == ("done", 3) and ("progress", 1.0) in events and not timer.active

    events.clear()
    timer = ManualTimer()
    watcher = JobWatcher(
        BackgroundJob(slow_count, 1000, 0.05), timer, lambda f, m: events.append(("progress", f)),
        lambda result: events.append(("done", result)), lambda job: events.append(("failed", job.state)),
    ).start()  # fmt: skip
    while not any(kind == "progress" for kind, _ in events):
        timer.callback()
        time.sleep(0.05)
    watcher.cancel()
    assert events[-1] == ("failed", JobState.CANCELLED) and not timer.active and not pid_alive(watcher.job.pid)


def test_start_returns_before_the_child_has_loaded_its_libraries(mrml_scene, subject, fcd_checkpoint) -> None:
    t1 = volume_node_from_sitk(mrml_scene, subject.t1, "T1")
    flair = volume_node_from_sitk(mrml_scene, subject.flair, "FLAIR")
    job = FCDSegmentationLogic(mrml_scene).job(t1, flair, str(fcd_checkpoint), device="cpu")
    started = time.monotonic()
    job.start()
    assert time.monotonic() - started < 1.0, "start() waited for the child (the caller's event loop would freeze)"
    job.cancel()
    assert job.state is JobState.CANCELLED


def test_an_argument_that_cannot_be_sent_is_refused_at_start() -> None:
    job = BackgroundJob(slow_count, 1, lambda: None)
    with pytest.raises((TypeError, AttributeError, pickle.PicklingError)):
        job.start()
    assert job.state is JobState.PENDING and job.pid is None
