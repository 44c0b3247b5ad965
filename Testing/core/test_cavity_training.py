"""Cavity training smoke test, checkpoint loading by the CLI, TTA outputs, metrics, resected structures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from epilepsy_suite.cavity.checkpoint import load_cavity_model
from epilepsy_suite.cavity.dataset import make_subject
from epilepsy_suite.cavity.evaluation import cavity_metrics, dice, hausdorff95, median_iqr, resected_structures
from epilepsy_suite.cavity.inference import coefficient_of_quartile_variation, predict_cavity
from epilepsy_suite.cavity.training import CavityTrainingConfig, train_cavity
from epilepsy_suite.cli import main as cli_main
from epilepsy_suite.data import mni_template, neuromorphometrics_parcellation
from epilepsy_suite.errors import InputError
from epilepsy_suite.geometry import coarsened


def write_pair(folder, template: sitk.Image, parcellation: sitk.Image):
    paths = folder / "t1.nii.gz", folder / "parc.nii.gz"
    for image, path in zip((template, parcellation), paths, strict=True):
        sitk.WriteImage(image, str(path))
    return paths


@pytest.fixture(scope="module")
def template_3mm():
    template = coarsened(mni_template(), 3, sitk.sitkLinear)
    parcellation = coarsened(neuromorphometrics_parcellation(on_template_grid=True), 3, sitk.sitkNearestNeighbor)
    return template, parcellation


@pytest.fixture(scope="module")
def trained(tmp_path_factory, template_3mm):
    torch.set_num_threads(2)
    template, parcellation = template_3mm
    subjects = [make_subject(f"s{index}", template, parcellation) for index in range(2)]
    config = CavityTrainingConfig(
        max_epochs=3,
        batch_size=2,
        iterations_per_epoch=2,
        crop_shape=None,
        volumes=(8000, 30000),
        learning_rate=1e-2,
        first_channels=4,
        augmentations=(),
    )  # fmt: skip  (whole images without augmentation: the recipe that learns in a few steps, issue 16)
    out = tmp_path_factory.mktemp("cavity-training")
    return train_cavity(subjects, subjects[:1], out, config, show_bar=False), subjects, config, out


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, template_3mm) -> Path:
    """An untrained network saved as `cavity train` saves it, with landmarks of the template: what
    the command line needs to predict (the trained fixture is for the slow training tests)."""
    from epilepsy_suite.cavity.augmentation import train_landmarks
    from epilepsy_suite.cavity.checkpoint import save_checkpoint
    from epilepsy_suite.cavity.model import CavityUNet

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("cavity-model") / "model.pt"
    return save_checkpoint(path, CavityUNet(first_channels=4, spacing_mm=3.0), train_landmarks([template_3mm[0]]))


@pytest.mark.slow  # three epochs of training and a resumed one: `bootstrap.py test -m slow`
def test_smoke_training_lowers_the_loss_and_resumes(trained):
    result, subjects, config, out = trained
    losses = [record["train_loss"] for record in result.history]
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert result.best_checkpoint.is_file() and (out / "log.csv").is_file()
    config.max_epochs = 4
    resumed = train_cavity(subjects, subjects[:1], out, config, show_bar=False)
    assert [record["epoch"] for record in resumed.history] == [0, 1, 2, 3]


def test_learning_rate_steps_by_ten_every_step_epochs():
    from epilepsy_suite.cavity.training import learning_rate_factor

    config = CavityTrainingConfig(step_epochs=20)
    assert [learning_rate_factor(epoch, config) for epoch in (0, 19, 20, 40)] == pytest.approx([1, 1, 0.1, 0.01])


def test_cli_predict_loads_the_checkpoint_with_tta(checkpoint, template_3mm, tmp_path, capsys):
    template, parcellation = template_3mm
    image_path, parcellation_path = write_pair(tmp_path, template, parcellation)
    out, std = tmp_path / "mask.nii.gz", tmp_path / "std.nii.gz"
    code = cli_main(
        ["cavity", "predict", str(image_path), "--model", str(checkpoint), "--out", str(out),
         "--tta", "3", "--uncertainty", str(std), "--parcellation", str(parcellation_path), "--device", "cpu"]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "cavity volume" in printed and "CQV of 3 TTA volumes" in printed
    for path in (out, std):
        written = sitk.ReadImage(str(path))
        assert written.GetSize() == template.GetSize()
        np.testing.assert_allclose(written.GetOrigin(), template.GetOrigin(), atol=1e-4)
        np.testing.assert_allclose(written.GetSpacing(), template.GetSpacing(), atol=1e-6)


@pytest.mark.slow  # nine TTA predictions: `bootstrap.py test -m slow`
def test_tta_outputs(trained, template_3mm):
    model, payload = load_cavity_model(trained[0].best_checkpoint)
    landmarks = payload["landmarks"]
    template = template_3mm[0]
    assert model.spacing_mm == pytest.approx(3.0)  # recorded from the training images: no resampling here
    # resseg's TTA averages the plain prediction and n augmented ones; the thesis' n augmented ones.
    for mode, count in (("published", 5), ("thesis", 4)):
        prediction = predict_cavity(model, template, landmarks, tta_iterations=4, tta_mode=mode)
        assert prediction.std is not None and prediction.std.GetSize() == template.GetSize()
        assert len(prediction.soft_volumes_ml) == count
        assert prediction.uncertainty == pytest.approx(coefficient_of_quartile_variation(prediction.soft_volumes_ml))
        probability = sitk.GetArrayFromImage(prediction.probability)
        assert probability.min() >= 0 and probability.max() <= 1
    plain = predict_cavity(model, template, landmarks)
    assert plain.std is None and plain.uncertainty is None


def test_wrong_checkpoint_is_a_clear_error(tmp_path):
    from epilepsy_suite.fcd.checkpoint import save_checkpoint
    from epilepsy_suite.fcd.model import MSDSANet

    path = save_checkpoint(tmp_path / "fcd.pt", MSDSANet(patch_size=64, feature_size=8))
    with pytest.raises(InputError, match="not a cavity U-Net checkpoint"):
        load_cavity_model(path)
    with pytest.raises(InputError, match="does not exist"):
        load_cavity_model(tmp_path / "missing.pt")


def test_metrics_on_constructed_masks():
    truth = np.zeros((20, 20, 20), bool)
    truth[5:15, 5:15, 5:15] = True  # 1000 voxels
    prediction = np.zeros_like(truth)
    prediction[5:15, 5:15, 7:17] = True  # shifted by 2 voxels along x: overlap 800
    assert dice(prediction, truth) == pytest.approx(0.8)
    metrics = cavity_metrics(prediction, truth, (1.0, 1.0, 2.0))
    assert metrics["true_ml"] == pytest.approx(2.0) and metrics["volume_difference_ml"] == pytest.approx(0.0)
    assert hausdorff95(prediction, truth, (1.0, 1.0, 1.0)) == pytest.approx(2.0)
    assert np.isnan(hausdorff95(np.zeros_like(truth), truth, (1, 1, 1)))
    assert coefficient_of_quartile_variation([10, 10, 10, 10]) == 0
    assert coefficient_of_quartile_variation([1, 2, 3, 4, 5]) == pytest.approx((4 - 2) / (4 + 2))
    assert median_iqr([1, 2, 3, 4, 5]) == "3 (2, 4)"


def test_resected_structures_on_a_constructed_case():
    parcellation = np.zeros((10, 10, 10), np.int16)
    parcellation[:, :, :5] = 100  # 500 voxels
    parcellation[:, :, 5:] = 101  # 500 voxels
    cavity = np.zeros((10, 10, 10), np.uint8)
    cavity[:, :, 3:6] = 1  # 200 voxels of 100, 100 voxels of 101
    parcellation_image, cavity_image = sitk.GetImageFromArray(parcellation), sitk.GetImageFromArray(cavity)
    for image in (parcellation_image, cavity_image):
        image.SetSpacing((2.0, 1.0, 1.0))
    records = resected_structures(cavity_image, parcellation_image)
    assert [record["label"] for record in records] == [100, 101]
    assert records[0]["resected_ml"] == pytest.approx(0.4) and records[0]["resected_percent"] == pytest.approx(40)
    assert records[1]["resected_percent"] == pytest.approx(20) and records[1]["structure_ml"] == pytest.approx(1.0)
    assert records[0]["name"] != "Label 100"


def test_cli_simulate_writes_image_and_label(template_3mm, tmp_path, capsys):
    template, parcellation = template_3mm
    image_path, parcellation_path = write_pair(tmp_path, template, parcellation)
    out_image, out_label = tmp_path / "sim.nii.gz", tmp_path / "sim_label.nii.gz"
    code = cli_main(
        ["cavity", "simulate", str(image_path), str(parcellation_path), str(out_image), str(out_label),
         "--volume", "10000", "20000", "--seed", "2"]
    )  # fmt: skip
    assert code == 0 and "mL in the" in capsys.readouterr().out
    label = sitk.GetArrayFromImage(sitk.ReadImage(str(out_label)))
    simulated = sitk.GetArrayFromImage(sitk.ReadImage(str(out_image)))
    assert label.any() and label.shape == simulated.shape
    original = sitk.GetArrayFromImage(template)
    assert not np.allclose(simulated[label > 0], original[label > 0])


@pytest.mark.slow  # two fine-tuning folds: `bootstrap.py test -m slow`
def test_pseudo_labels_and_k_fold_finetuning(trained, template_3mm, tmp_path):
    from epilepsy_suite.cavity.inference import pseudo_label
    from epilepsy_suite.cavity.training import k_fold_finetune

    result = trained[0]
    template, parcellation = template_3mm
    model, payload = load_cavity_model(result.best_checkpoint)
    landmarks = payload["landmarks"]
    mask, uncertainty = pseudo_label(model, template, landmarks, iterations=3, max_uncertainty=1.0)
    assert mask is not None and mask.GetSize() == template.GetSize() and 0 <= uncertainty < 1
    rejected, _ = pseudo_label(model, template, landmarks, iterations=3, max_uncertainty=0.0)
    assert rejected is None
    label = sitk.GetArrayFromImage(parcellation) == 100  # any structure stands in for a cavity label
    label_image = sitk.GetImageFromArray(label.astype(np.uint8))
    label_image.CopyInformation(template)
    labelled = [make_subject(f"p{index}", template, label=label_image) for index in range(2)]
    config = CavityTrainingConfig(max_epochs=1, batch_size=1, iterations_per_epoch=1, crop_shape=(48, 56, 48))
    records = k_fold_finetune(labelled, result.best_checkpoint, tmp_path, 2, config, show_bar=False)
    assert [record["fold"] for record in records] == [0, 1]
    assert all(0 <= record["dice"] <= 1 for record in records)
    assert (tmp_path / "fold0" / "best.pt").is_file() and (tmp_path / "fold1" / "best.pt").is_file()


def test_gif_parcellations_are_read_in_neuromorphometrics_numbering():
    from epilepsy_suite.data import as_neuromorphometrics

    gif = sitk.GetImageFromArray(np.array([[[0, 101, 208]]], np.int16))
    gif.SetSpacing((2.0, 2.0, 2.0))
    converted = as_neuromorphometrics(gif)
    assert sitk.GetArrayFromImage(converted).tolist() == [[[0, 100, 207]]]
    assert converted.GetSpacing() == (2.0, 2.0, 2.0)
    nmm = sitk.GetImageFromArray(np.array([[[0, 100, 207]]], np.int16))
    assert as_neuromorphometrics(nmm) is nmm
