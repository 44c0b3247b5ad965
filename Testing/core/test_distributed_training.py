"""`torchrun --nproc_per_node 2` (gloo, CPU) trains the cavity, FCD and GESTURES models with both processes."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import SimpleITK as sitk
import torch
from epilepsy_suite.data import mni_template, neuromorphometrics_parcellation
from epilepsy_suite.geometry import coarsened

REPOSITORY = Path(__file__).resolve().parents[2]


def _torchrun(arguments: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPOSITORY / "Core")}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "epilepsy_suite", *arguments]  # fmt: skip
    return subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=600)


@pytest.mark.slow  # bit-exact / multi-process run: `bootstrap.py test -m slow`
def test_torchrun_trains_the_cavity_network_on_two_processes_and_resumes(tmp_path):
    template = coarsened(mni_template(), 4, sitk.sitkLinear)
    parcellation = coarsened(neuromorphometrics_parcellation(on_template_grid=True), 4, sitk.sitkNearestNeighbor)
    sitk.WriteImage(template, str(tmp_path / "t1.nii.gz"))
    sitk.WriteImage(parcellation, str(tmp_path / "parcellation.nii.gz"))
    (tmp_path / "subjects.csv").write_text("image,parcellation\nt1.nii.gz,parcellation.nii.gz\n")
    out = tmp_path / "run"
    common = ["cavity", "train", "--training", str(tmp_path / "subjects.csv"), "--out", str(out), "--batch-size", "2",
              "--iterations", "2", "--crop", "32", "40", "32", "--first-channels", "2", "--volume", "10000", "30000",
              "--quiet"]  # fmt: skip
    first = _torchrun([*common, "--epochs", "1"], tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert sorted(path.name for path in out.iterdir()) == ["best.pt", "last.pt", "log.csv"]
    second = _torchrun([*common, "--epochs", "2"], tmp_path)  # stopped after epoch 1, resumed under torchrun
    assert second.returncode == 0, second.stderr[-2000:]
    with (out / "log.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["epoch"] for row in rows] == ["0", "1"]
    assert {row["world_size"] for row in rows} == {"2"}
    last = torch.load(out / "last.pt", map_location="cpu", weights_only=False)
    assert last["epoch"] == 1 and last["written_by_rank"] == 0


@pytest.mark.slow  # bit-exact / multi-process run: `bootstrap.py test -m slow`
def test_torchrun_trains_the_fcd_network_on_two_processes_and_resumes(tmp_path):
    out = tmp_path / "fcd"
    common = ["fcd", "train", "--synthetic", "2", "--out", str(out), "--patch-size", "64", "--feature-size", "8",
              "--quiet"]  # fmt: skip
    first = _torchrun([*common, "--epochs", "1"], tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert sorted(path.name for path in out.iterdir()) == ["best.pt", "last.pt", "log.csv"]
    # Both ranks trained (each prints its own training loss: on different subjects they differ).
    losses = {line for line in first.stdout.splitlines() if "train loss" in line}
    assert len(losses) == 2
    second = _torchrun([*common, "--epochs", "2"], tmp_path)
    assert second.returncode == 0, second.stderr[-2000:]
    with (out / "log.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["epoch"] for row in rows] == ["0", "1"] and {row["world_size"] for row in rows} == {"2"}
    last = torch.load(out / "last.pt", map_location="cpu", weights_only=False)
    assert last["epoch"] == 1 and last["written_by_rank"] == 0


@pytest.mark.slow  # bit-exact / multi-process run: `bootstrap.py test -m slow`
def test_torchrun_trains_gestures_on_two_processes_and_resumes(tmp_path):
    from test_video_published import _write_dataset  # the public features data set's layout, tiny

    root = _write_dataset(tmp_path / "gestures")
    out = tmp_path / "video"
    common = ["video", "train", "--gestures-features", str(root), "--out", str(out), "--segments", "4",
              "--batch-videos", "2", "--quiet", "--device", "cpu"]  # fmt: skip
    first = _torchrun([*common, "--epochs", "2"], tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert sorted(path.name for path in out.iterdir()) == ["best.pt", "last.pt", "log.csv"]
    second = _torchrun([*common, "--epochs", "4"], tmp_path)
    assert second.returncode == 0, second.stderr[-2000:]
    with (out / "log.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["epoch"] for row in rows] == ["0", "1", "2", "3"] and {row["world_size"] for row in rows} == {"2"}
    last = torch.load(out / "last.pt", map_location="cpu", weights_only=False)
    assert last["epoch"] == 3 and last["written_by_rank"] == 0
