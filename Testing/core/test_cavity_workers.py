"""Cavity training gives the same weights with 0 or 2 data-loader workers, and resumed or not."""

from __future__ import annotations

import csv

import pytest
import SimpleITK as sitk
import torch
from epilepsy_suite.cavity.dataset import make_subject
from epilepsy_suite.cavity.training import CavityTrainingConfig, train_cavity
from epilepsy_suite.data import mni_template, neuromorphometrics_parcellation
from epilepsy_suite.geometry import coarsened


@pytest.fixture(scope="module")
def subjects():
    template = coarsened(mni_template(), 3, sitk.sitkLinear)
    parcellation = coarsened(neuromorphometrics_parcellation(on_template_grid=True), 3, sitk.sitkNearestNeighbor)
    return [make_subject("template", template, parcellation)]


def _config(epochs: int) -> CavityTrainingConfig:
    return CavityTrainingConfig(
        max_epochs=epochs, batch_size=2, iterations_per_epoch=2, crop_shape=(32, 40, 32), first_channels=2,
        volumes=(10000, 30000), learning_rate=1e-2, step_epochs=1,
    )  # fmt: skip


def _weights(folder) -> dict[str, torch.Tensor]:
    return torch.load(folder / "last.pt", map_location="cpu", weights_only=False)["state_dict"]


def _log(folder) -> list[dict[str, str]]:
    with (folder / "log.csv").open() as handle:
        return [{key: value for key, value in row.items() if key != "seconds"} for row in csv.DictReader(handle)]


@pytest.mark.slow  # bit-exact / multi-process run: `bootstrap.py test -m slow`
def test_workers_and_resumption_do_not_change_the_result(subjects, tmp_path):
    torch.set_num_threads(2)  # the workers compute with one thread: the samples must not depend on it
    straight, workers, resumed = tmp_path / "straight", tmp_path / "workers", tmp_path / "resumed"
    train_cavity(subjects, subjects, straight, _config(2), show_bar=False)
    train_cavity(subjects, subjects, workers, _config(2), show_bar=False, workers=2)
    train_cavity(subjects, subjects, resumed, _config(1), show_bar=False)  # "killed" after epoch 1
    train_cavity(subjects, subjects, resumed, _config(2), show_bar=False)
    reference = _weights(straight)
    for folder in (workers, resumed):
        weights = _weights(folder)
        assert all(torch.equal(reference[key], weights[key]) for key in reference)  # bit for bit
        assert _log(folder) == _log(straight)
    assert len(_log(straight)) == 2
