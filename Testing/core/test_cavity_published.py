"""resseg's published cavity network (``../shared/data/resseg``) through our loader, network and pipeline."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import torch
import torchio as tio
from epilepsy_suite.cavity.checkpoint import (
    CHECKPOINT_FORMAT,
    RESSEG_LANDMARKS,
    from_resseg_state_dict,
    load_cavity_model,
    save_checkpoint,
)
from epilepsy_suite.cavity.evaluation import dice
from epilepsy_suite.cavity.inference import predict_cavity
from epilepsy_suite.cavity.masks import csf_intensity, resection_masks
from epilepsy_suite.cavity.model import CavityUNet
from epilepsy_suite.cavity.simulation import RandomResection
from epilepsy_suite.cli import main as cli_main
from epilepsy_suite.data import Kind, mni_template, neuromorphometrics_labels, neuromorphometrics_parcellation
from epilepsy_suite.errors import InputError
from epilepsy_suite.geometry import sitk_to_torchio, torchio_to_sitk
from scipy import ndimage

# A box of the template around the simulated cavity keeps each whole-volume forward pass to seconds.
BOX = (96, 112, 96)


@pytest.fixture(scope="module")
def template_pair():
    return mni_template(), neuromorphometrics_parcellation(on_template_grid=True)


@pytest.fixture(scope="module")
def simulated(template_pair):
    """A seeded 20-30 mL resection on the template, cropped to ``BOX`` around it: (image, label) in RAS."""
    template, parcellation = template_pair
    subject = tio.Subject(image=sitk_to_torchio(template), parcellation=sitk_to_torchio(parcellation, label=True))
    resected = RandomResection(volumes=(20000, 30000), seed=3)(subject)
    image, label = torchio_to_sitk(resected["image"]), torchio_to_sitk(resected["label"])
    centre = np.argwhere(sitk.GetArrayFromImage(label) > 0).mean(axis=0)[::-1]
    start = [int(np.clip(c - b // 2, 0, s - b)) for c, b, s in zip(centre, BOX, image.GetSize(), strict=True)]
    image, label = (sitk.RegionOfInterest(item, BOX, start) for item in (image, label))
    return sitk.DICOMOrient(image, "RAS"), sitk.DICOMOrient(label, "RAS")


def test_the_published_file_loads_as_published(resseg_weights):
    raw = torch.load(resseg_weights, map_location="cpu")
    assert len(raw) == 136 and not any(key.startswith("module.") for key in raw)
    model, loaded_payload = load_cavity_model(resseg_weights)
    landmarks = loaded_payload["landmarks"]
    assert sum(parameter.numel() for parameter in model.parameters()) == 246_156
    assert model.config["architecture"] == 2 and model.spacing_mm == 1.0
    np.testing.assert_array_equal(landmarks, RESSEG_LANDMARKS)
    assert len(landmarks) == 13
    # Every tensor of the file lands in our network: the named ones and their `block.N` aliases agree.
    state = model.state_dict()
    _, converted = from_resseg_state_dict(raw)
    for key, value in converted.items():
        torch.testing.assert_close(state[key], value, rtol=0, atol=0)
    prefixed = {f"module.{key}": value for key, value in raw.items()}
    assert set(from_resseg_state_dict(prefixed)[1]) == set(converted)


def test_our_network_equals_resseg_reference_network(resseg_weights):
    """The `unet` package (PyPI, MIT) builds the network resseg's torch-hub entry loads the file into."""
    unet = pytest.importorskip("unet")
    reference = unet.UNet(
        in_channels=1, out_classes=2, dimensions=3, num_encoding_blocks=3, out_channels_first_layer=8,
        normalization="batch", pooling_type="max", padding=True, padding_mode="replicate", residual=False,
        initial_dilation=1, activation="PReLU", upsampling_type="linear", dropout=0, monte_carlo_dropout=0.5,
    )  # fmt: skip
    reference.load_state_dict(torch.load(resseg_weights, map_location="cpu"))
    reference.eval()
    ours, _ = load_cavity_model(resseg_weights)
    batch = torch.randn(1, 1, 40, 48, 32, generator=torch.Generator().manual_seed(0)) * 2
    with torch.no_grad():
        assert torch.equal(reference(batch), ours(batch))


def test_version_1_checkpoints_still_load(tmp_path):
    old = CavityUNet(first_channels=4, architecture=1).eval()
    payload = {
        "format": CHECKPOINT_FORMAT,
        "config": {key: old.config[key] for key in ("in_channels", "out_channels", "first_channels", "levels")},
        "state_dict": old.state_dict(),
        "landmarks": None,
    }  # as written before the architecture version was recorded
    torch.save(payload, tmp_path / "old.pt")
    loaded, loaded_payload = load_cavity_model(tmp_path / "old.pt")
    landmarks = loaded_payload["landmarks"]
    assert loaded.config["architecture"] == 1 and landmarks is None and loaded.spacing_mm is None
    batch = torch.randn(1, 1, 16, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded(batch), old(batch))
        assert not torch.equal(CavityUNet(first_channels=4, architecture=2).eval()(batch), old(batch))
    current = CavityUNet(first_channels=4, spacing_mm=2.0)
    save_checkpoint(tmp_path / "new.pt", current, np.arange(13.0))
    reloaded, loaded_payload = load_cavity_model(tmp_path / "new.pt")
    landmarks = loaded_payload["landmarks"]
    assert reloaded.config == current.config and landmarks.tolist() == list(range(13))


def test_incomplete_or_foreign_files_are_named(tmp_path, resseg_weights):
    raw = torch.load(resseg_weights, map_location="cpu")
    headless = {key: value for key, value in raw.items() if not key.startswith("classifier")}
    torch.save(headless, tmp_path / "headless.pth")
    with pytest.raises(InputError, match=r"headless\.pth.*not a complete resseg network"):
        load_cavity_model(tmp_path / "headless.pth")
    torch.save({"encoder.encoding_blocks.0.extra": torch.zeros(1), **raw}, tmp_path / "odd.pth")
    with pytest.raises(InputError, match=r"unexpected key 'encoder\.encoding_blocks\.0\.extra'"):
        load_cavity_model(tmp_path / "odd.pth")
    torch.save({"weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(InputError, match=r"other\.pth.*not a cavity U-Net checkpoint"):
        load_cavity_model(tmp_path / "other.pth")


def test_csf_texture_follows_resectors_rule(template_pair):
    """Mean = mode of a 32-bin histogram of the ventricle intensities, std = that of the values below it."""
    resector = pytest.importorskip("resector.parcellation")
    template, parcellation = template_pair
    intensities = sitk.GetArrayFromImage(template)
    ventricles = neuromorphometrics_labels().mask_of(sitk.GetArrayFromImage(parcellation), [Kind.VENTRICLE])
    expected_mean, expected_std = resector.get_mean_std_histogram(intensities[ventricles], 32)
    assert csf_intensity(intensities[ventricles]) == pytest.approx((expected_mean, expected_std), rel=1e-6)
    masks = resection_masks(template, parcellation)
    assert (masks.csf_mean, masks.csf_std) == pytest.approx((expected_mean, expected_std), rel=1e-6)
    # The texture actually painted: the cavity core (3 voxels in, where the blending weight is ~1).
    subject = tio.Subject(image=sitk_to_torchio(template), parcellation=sitk_to_torchio(parcellation, label=True))
    resected = RandomResection(volumes=(30000, 40000), seed=1)(subject)
    core = ndimage.binary_erosion(resected["label"].data[0].numpy() > 0, iterations=3)
    painted = resected["image"].data[0].numpy()[core]
    assert core.sum() > 5000
    assert painted.mean() == pytest.approx(expected_mean, rel=0.05)
    assert painted.std() == pytest.approx(expected_std, rel=0.05)
    assert intensities[ventricles].mean() > 1.5 * expected_mean  # the old rule (whole-label mean) was far off


def _everything_is_cavity(spacing_mm: float | None) -> CavityUNet:
    """A tiny network whose output is 'cavity' at every voxel (zero head weights, cavity bias +10)."""
    model = CavityUNet(first_channels=2, spacing_mm=spacing_mm).eval()
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.copy_(torch.tensor([0.0, 10.0]))
    return model


def _in_world(mask: sitk.Image, reference: sitk.Image) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.Resample(mask, reference, sitk.Transform(), sitk.sitkNearestNeighbor)) > 0


@pytest.mark.slow  # the same case in several storage orders and spacings: `bootstrap.py test -m slow`
def test_storage_order_and_spacing_do_not_change_the_cavity(resseg_weights, simulated):
    torch.set_num_threads(2)
    image, label = simulated
    model, loaded_payload = load_cavity_model(resseg_weights)
    landmarks = loaded_payload["landmarks"]
    truth = sitk.GetArrayFromImage(label) > 0
    masks = {}
    for order in ("RAS", "LAS", "PIR"):
        stored = sitk.DICOMOrient(image, order)
        prediction = predict_cavity(model, stored, landmarks)
        assert prediction.mask.GetSize() == stored.GetSize()
        assert prediction.mask.GetDirection() == stored.GetDirection()
        masks[order] = _in_world(prediction.mask, image)
    assert masks["RAS"].sum() > 5000 and dice(masks["RAS"], truth) > 0.6
    for order in ("LAS", "PIR"):
        assert dice(masks[order], masks["RAS"]) >= 0.99
    spacing = (1.2, 1.0, 1.5)
    size = [int(round(n * s / t)) for n, s, t in zip(image.GetSize(), image.GetSpacing(), spacing, strict=True)]
    coarse = sitk.Resample(
        image, size, sitk.Transform(), sitk.sitkBSpline, image.GetOrigin(), spacing, image.GetDirection(), 0.0,
        sitk.sitkFloat32,
    )  # fmt: skip
    prediction = predict_cavity(model, coarse, landmarks)
    assert prediction.mask.GetSpacing() == pytest.approx(spacing)
    assert dice(_in_world(prediction.mask, image), masks["RAS"]) >= 0.85


def test_cli_predicts_with_the_published_file_unchanged(resseg_weights, simulated, tmp_path, capsys):
    image, label = simulated
    path, out, probability = tmp_path / "postop.nii.gz", tmp_path / "cavity.nii.gz", tmp_path / "p.nii.gz"
    sitk.WriteImage(sitk.DICOMOrient(image, "LPS"), str(path))
    command = ["cavity", "predict", str(path), "--model", str(resseg_weights), "--out", str(out)]
    assert cli_main([*command, "--probability", str(probability), "--device", "cpu", "--quiet"]) == 0
    printed = capsys.readouterr().out
    mask = sitk.ReadImage(str(out))
    volume = float(printed.split("cavity volume:")[1].split("mL")[0])
    assert volume == pytest.approx(np.count_nonzero(sitk.GetArrayFromImage(mask)) / 1000, abs=0.01)
    assert dice(_in_world(mask, image), sitk.GetArrayFromImage(label) > 0) > 0.6


@pytest.mark.slow  # an affine registration at 1 mm: `bootstrap.py test -m slow`
def test_registration_to_mni_maps_the_result_back(template_pair):
    """`--register`: the image is affinely registered to the template, predicted there, mapped back."""
    from epilepsy_suite.cavity.inference import template_grid

    template = template_pair[0]
    moved = sitk.Resample(
        template, template, sitk.Euler3DTransform((0, 0, 0), 0.08, -0.05, 0.1, (6.0, -4.0, 3.0)), sitk.sitkLinear
    )
    moved = sitk.DICOMOrient(moved, "LPI")
    grid = template_grid(moved)
    # A model that calls every voxel cavity shows where the network grid lands on the input grid.
    model = _everything_is_cavity(spacing_mm=1.0)
    prediction = predict_cavity(model, moved, None, keep_largest_component=False, grid=grid)
    assert prediction.mask.GetSize() == moved.GetSize() and prediction.mask.GetDirection() == moved.GetDirection()
    brain = sitk.GetArrayFromImage(moved) > 0
    covered = sitk.GetArrayFromImage(prediction.mask) > 0
    assert covered[brain].mean() > 0.99  # the template's field of view, brought back, covers the brain
    # The registration recovers the motion: the template brain mapped onto the input matches its brain.
    template_brain = sitk.Cast(template > 0, sitk.sitkUInt8)
    back = sitk.Resample(template_brain, moved, grid.to_image.GetInverse(), sitk.sitkNearestNeighbor)
    assert dice(sitk.GetArrayFromImage(back) > 0, brain) > 0.95


def test_the_network_sees_a_centred_crop_to_a_multiple_of_8():
    """resseg crops every axis to a multiple of 8 (TorchIO's rule: the larger half at the start);
    the cropped border gets probability 0 back on the input grid."""
    from epilepsy_suite.cavity.inference import network_input

    image = sitk.GetImageFromArray(np.random.default_rng(0).normal(100, 10, (20, 17, 13)).astype(np.float32))
    prepared, crop = network_input(image, None, spacing_mm=None)
    assert tuple(prepared.data.shape[1:]) == (13, 17, 20)
    assert crop == (slice(3, 11), slice(1, 17), slice(2, 18))
    model = _everything_is_cavity(spacing_mm=None)
    mask = sitk.GetArrayFromImage(predict_cavity(model, image, None).mask)  # (z, y, x)
    # The image's x and y point left and posterior (LPS identity direction): RAS+ flips them.
    expected = np.zeros_like(mask)
    expected[2:18, 0:16, 2:10] = 1
    np.testing.assert_array_equal(mask, expected)


@pytest.mark.parametrize("kind", ["cavity", "fcd", "gestures"])
def test_a_checkpoint_without_config_or_weights_is_named_not_a_traceback(tmp_path, kind):
    """Our format tag on a damaged or hand-made file: one line, for the three models' loaders."""
    from epilepsy_suite.fcd.checkpoint import CHECKPOINT_FORMAT as FCD_FORMAT
    from epilepsy_suite.fcd.checkpoint import load_fcd_model
    from epilepsy_suite.video.models import CHECKPOINT_FORMAT as GESTURES_FORMAT
    from epilepsy_suite.video.models import load_gestures_model

    format_name, loader = {
        "cavity": (CHECKPOINT_FORMAT, load_cavity_model),
        "fcd": (FCD_FORMAT, load_fcd_model),
        "gestures": (GESTURES_FORMAT, load_gestures_model),
    }[kind]
    torch.save({"format": format_name, "state_dict": {}}, tmp_path / "no_config.pt")
    with pytest.raises(InputError, match=r"no_config\.pt.*incomplete .*no 'config'"):
        loader(tmp_path / "no_config.pt")
    torch.save({"format": format_name, "config": {}, "state_dict": [1, 2]}, tmp_path / "bad_state.pt")
    with pytest.raises(InputError, match=r"bad_state\.pt.*incomplete .*a list as its 'state_dict'"):
        loader(tmp_path / "bad_state.pt")
    with pytest.raises(InputError, match="is a folder"):
        loader(tmp_path)


def test_every_loader_returns_the_model_and_its_checkpoint_payload(tmp_path):
    from epilepsy_suite.cavity.checkpoint import save_checkpoint as save_cavity
    from epilepsy_suite.cavity.model import CavityUNet
    from epilepsy_suite.fcd.checkpoint import load_fcd_model
    from epilepsy_suite.fcd.checkpoint import save_checkpoint as save_fcd
    from epilepsy_suite.fcd.model import MSDSANet
    from epilepsy_suite.video.models import GesturesModel, load_gestures_model, save_gestures_model

    written = {
        "cavity": (
            save_cavity(tmp_path / "c.pt", CavityUNet(first_channels=2), np.arange(13.0), epoch=4),
            load_cavity_model,
        ),
        "fcd": (save_fcd(tmp_path / "f.pt", MSDSANet(patch_size=64, feature_size=8), epoch=4), load_fcd_model),
        "gestures": (save_gestures_model(tmp_path / "g.pt", GesturesModel(8, "mean", 4), epoch=4), load_gestures_model),
    }
    for kind, (path, loader) in written.items():
        model, payload = loader(path)
        assert isinstance(model, torch.nn.Module) and not model.training, kind
        assert payload["epoch"] == 4 and payload["config"] == model.config, kind
    np.testing.assert_array_equal(load_cavity_model(tmp_path / "c.pt")[1]["landmarks"], np.arange(13.0))


def test_a_bad_parcellation_is_refused_before_anything_is_written(tmp_path, capsys):
    """`--parcellation` on another grid (or missing) fails up front: no mask is left behind."""
    image = sitk.GetImageFromArray(np.random.default_rng(0).normal(100, 10, (16, 16, 16)).astype(np.float32))
    model_path = save_checkpoint(tmp_path / "tiny.pt", CavityUNet(first_channels=2), None)
    sitk.WriteImage(image, str(tmp_path / "t1.nii.gz"))
    other = sitk.Image(16, 16, 17, sitk.sitkUInt8)
    sitk.WriteImage(other, str(tmp_path / "parcellation.nii.gz"))
    out = tmp_path / "mask.nii.gz"
    base = ["cavity", "predict", str(tmp_path / "t1.nii.gz"), "--model", str(model_path), "--out", str(out)]
    for parcellation in ("parcellation.nii.gz", "missing.nii.gz"):
        assert cli_main([*base, "--parcellation", str(tmp_path / parcellation), "--quiet"]) == 2
        assert parcellation in capsys.readouterr().err
        assert not out.exists()
