"""FCD data handling, a CPU smoke training run, resume, and prediction from the checkpoint."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from epilepsy_suite.cli import main
from epilepsy_suite.errors import InputError
from epilepsy_suite.fcd.checkpoint import load_fcd_model
from epilepsy_suite.fcd.dataset import TrainingSubject, find_bids_subjects, read_subject_csv, split_subjects
from epilepsy_suite.fcd.preprocessing import match_flair_to_t1, prepare_subject
from epilepsy_suite.fcd.synthetic import make_synthetic_subject
from epilepsy_suite.fcd.training import FCDTrainingConfig, learning_rate_factor, train_fcd
from epilepsy_suite.io import write_image


@pytest.fixture(scope="module")
def synthetic_subjects():
    return [make_synthetic_subject(seed, spacing=2.0) for seed in range(4)]


def test_synthetic_lesion_is_in_cortex_and_flair_bright(synthetic_subjects) -> None:
    from epilepsy_suite.data import tissue_probability

    subject = synthetic_subjects[0]
    lesion = sitk.GetArrayFromImage(subject.lesion) > 0
    assert 50 < lesion.sum() < 5000
    flair = sitk.GetArrayFromImage(subject.flair)
    ring = np.zeros_like(lesion)
    ring[tuple(slice(max(c - 8, 0), c + 8) for c in reversed(subject.centre_index))] = True
    ring &= ~lesion & (flair > 0.2)
    assert flair[lesion].mean() > flair[ring].mean()
    grey = sitk.GetArrayFromImage(
        sitk.Resample(tissue_probability("gm"), subject.t1, sitk.Transform(), sitk.sitkLinear)
    )
    x, y, z = subject.centre_index
    assert grey[z, y, x] > 0.3
    assert subject.t1.GetSpacing() == (2.0, 2.0, 2.0)
    # Same seed, same subject.
    again = make_synthetic_subject(0, spacing=2.0)
    assert (sitk.GetArrayFromImage(again.lesion) == lesion).all()


def test_split_is_59_12_14_and_reproducible() -> None:
    subjects = list(range(85))
    train_a, val_a, test_a = split_subjects(subjects, seed=7)
    assert (len(train_a), len(val_a), len(test_a)) == (59, 12, 14)
    assert split_subjects(subjects, seed=7) == (train_a, val_a, test_a)
    assert split_subjects(subjects, seed=8)[2] != test_a
    assert sorted(train_a + val_a + test_a) == subjects


def test_bids_and_csv_discovery(tmp_path) -> None:
    image = sitk.Image(4, 4, 4, sitk.sitkFloat32)
    for subject in ("sub-00001", "sub-00002"):
        anat = tmp_path / "bids" / subject / "anat"
        anat.mkdir(parents=True)
        for suffix in ("acq-iso08_T1w", "acq-T2sel_FLAIR", "acq-T2sel_FLAIR_roi"):
            if subject == "sub-00002" and suffix.endswith("roi"):
                continue  # a control without lesion mask
            write_image(image, anat / f"{subject}_{suffix}.nii.gz")
    found = find_bids_subjects(tmp_path / "bids")
    assert [s.subject for s in found] == ["sub-00001"]
    assert found[0].flair.name.endswith("FLAIR.nii.gz") and found[0].lesion.name.endswith("roi.nii.gz")
    assert len(find_bids_subjects(tmp_path / "bids", require_lesion=False)) == 2
    listing = tmp_path / "subjects.csv"
    listing.write_text("subject,t1,flair,lesion\nA,bids/sub-00001/anat/sub-00001_acq-iso08_T1w.nii.gz,x.nii.gz,\n")
    rows = read_subject_csv(listing)
    assert rows[0].t1.is_file() and rows[0].lesion is None
    with pytest.raises(InputError, match="dataset folder not found"):
        find_bids_subjects(tmp_path / "nowhere")


def test_flair_on_another_grid_is_resampled_and_logged(caplog, synthetic_subjects) -> None:
    subject = synthetic_subjects[0]
    flair = sitk.Resample(
        subject.flair,
        [40, 50, 40],
        sitk.Transform(),
        sitk.sitkLinear,
        subject.flair.GetOrigin(),
        (2.5, 2.5, 2.5),
        subject.flair.GetDirection(),
    )
    with caplog.at_level(logging.INFO):
        matched = match_flair_to_t1(subject.t1, flair, "flair.nii.gz")
    assert matched.GetSize() == subject.t1.GetSize() and matched.GetSpacing() == subject.t1.GetSpacing()
    assert "resampling the FLAIR onto the T1 grid" in caplog.text and "flair.nii.gz" in caplog.text


def test_missing_flair_is_a_clear_error(tmp_path, synthetic_subjects) -> None:
    t1 = write_image(synthetic_subjects[0].t1, tmp_path / "t1.nii.gz")
    with pytest.raises(InputError, match="t1.nii.gz: the FLAIR image is missing"):
        prepare_subject(t1, None)
    with pytest.raises(InputError, match="flair.nii.gz: FLAIR file not found"):
        prepare_subject(t1, tmp_path / "flair.nii.gz")


def test_learning_rate_schedule() -> None:
    config = FCDTrainingConfig(max_epochs=300)
    assert learning_rate_factor(0, config) == pytest.approx(0.1)
    assert learning_rate_factor(5, config) == pytest.approx(0.55)
    assert learning_rate_factor(10, config) == pytest.approx(1.0)
    assert learning_rate_factor(300, config) * config.learning_rate == pytest.approx(1e-6)


@pytest.mark.slow  # bit-exact / multi-process run: `bootstrap.py test -m slow`
def test_smoke_training_lowers_loss_resumes_and_predicts(tmp_path, synthetic_subjects) -> None:
    from epilepsy_suite.errors import CancelledError
    from epilepsy_suite.progress import CancelToken

    torch.set_num_threads(2)
    subjects = [TrainingSubject.from_images(f"s{i}", s.t1, s.flair, s.lesion) for i, s in enumerate(synthetic_subjects)]
    config = FCDTrainingConfig(
        patch_size=64, feature_size=8, max_epochs=3, warmup_epochs=1, learning_rate=1e-3, patches_per_subject=2
    )
    # A 3-epoch run killed after its second epoch...
    token = CancelToken()

    def stop_after_two(fraction: float, _: str) -> None:
        if fraction >= 2 / 3:
            token.cancel()

    with pytest.raises(CancelledError):
        train_fcd(
            subjects[:3],
            subjects[3:],
            tmp_path / "run",
            config,
            "cpu",
            progress=stop_after_two,
            cancel=token,
            show_bar=False,
        )
    written = torch.load(tmp_path / "run" / "last.pt", weights_only=False)["history"]
    losses = [record["validation_loss"] for record in written]
    assert len(losses) == 2 and losses[1] < losses[0]
    assert (tmp_path / "run" / "best.pt").is_file() and (tmp_path / "run" / "log.csv").is_file()

    # ...resumes after the last saved epoch and ends where an uninterrupted run does, bit for bit,
    # with the same log (timings aside).
    result = train_fcd(subjects[:3], subjects[3:], tmp_path / "run", config, "cpu", show_bar=False)
    assert [record["epoch"] for record in result.history] == [0, 1, 2]
    straight = train_fcd(subjects[:3], subjects[3:], tmp_path / "straight", config, "cpu", show_bar=False)
    # Patches prepared by two data-loader workers give the same weights too.
    workers = train_fcd(subjects[:3], subjects[3:], tmp_path / "workers", config, "cpu", show_bar=False, workers=2)
    weights = [torch.load(run.last_checkpoint, weights_only=False)["state_dict"] for run in (result, straight, workers)]
    assert all(torch.equal(weights[0][key], other[key]) for other in weights[1:] for key in weights[0])
    untimed = [[{k: v for k, v in row.items() if k != "seconds"} for row in run.history] for run in (result, straight)]
    assert untimed[0] == untimed[1]

    model, payload = load_fcd_model(result.best_checkpoint)
    assert payload["training_config"]["max_epochs"] == 3 and payload["epoch"] == result.best_epoch
    assert model.config["feature_size"] == 8
    t1 = write_image(synthetic_subjects[0].t1, tmp_path / "t1.nii.gz")
    flair = write_image(synthetic_subjects[0].flair, tmp_path / "flair.nii.gz")
    out = tmp_path / "mask.nii.gz"
    code = main(
        [
            "fcd",
            "predict",
            str(t1),
            str(flair),
            "--model",
            str(result.best_checkpoint),
            "--out",
            str(out),
            "--probability",
            str(tmp_path / "p.nii.gz"),
            "--device",
            "cpu",
            "--quiet",
        ]
    )
    assert code == 0
    mask, reference = sitk.ReadImage(str(out)), synthetic_subjects[0].t1
    assert mask.GetSize() == reference.GetSize()
    np.testing.assert_allclose(mask.GetOrigin(), reference.GetOrigin())
    np.testing.assert_allclose(mask.GetDirection(), reference.GetDirection())
    probability = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "p.nii.gz")))
    assert 0.0 <= probability.min() and probability.max() <= 1.0


def test_wrong_architecture_is_refused(tmp_path) -> None:
    from epilepsy_suite.fcd.checkpoint import CHECKPOINT_FORMAT
    from epilepsy_suite.fcd.model import MSDSANet

    # A bare state dict carries its configuration in its shapes: it loads as what it is.
    torch.save(MSDSANet(patch_size=64, feature_size=12).state_dict(), tmp_path / "bare.pt")
    bare, payload = load_fcd_model(tmp_path / "bare.pt")
    assert bare.config["feature_size"] == 12 and payload["format"] == "state dict"
    # A checkpoint whose recorded configuration does not fit its weights is refused.
    path = tmp_path / "other.pt"
    payload = {
        "format": CHECKPOINT_FORMAT,
        "config": MSDSANet(patch_size=64, feature_size=8).config,
        "state_dict": MSDSANet(patch_size=64, feature_size=12).state_dict(),
    }
    torch.save(payload, path)
    with pytest.raises(InputError, match="other.pt: weights do not fit the MS-DSA-Net architecture"):
        load_fcd_model(path)
    torch.save({"weights": [1, 2]}, tmp_path / "junk.pt")
    with pytest.raises(InputError, match="junk.pt: not an MS-DSA-Net checkpoint"):
        load_fcd_model(tmp_path / "junk.pt")
