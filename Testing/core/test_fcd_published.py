"""The MS-DSA-Net authors' published model runs exactly: their file layout, their array
convention and their preprocessing preset (issue 14, FCD part)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from epilepsy_suite.cli import main
from epilepsy_suite.data.templates import fsl_mni152_template, mni_template
from epilepsy_suite.errors import InputError
from epilepsy_suite.fcd.checkpoint import load_fcd_model
from epilepsy_suite.fcd.dataset import TrainingSubject
from epilepsy_suite.fcd.inference import predict_array, predict_probability, predict_subject
from epilepsy_suite.fcd.model import MSDSANet
from epilepsy_suite.fcd.preprocessing import (
    PreparedSubject,
    network_input,
    normalise_intensities,
    prepare_images,
    registration_template,
)
from epilepsy_suite.fcd.presets import PUBLISHED, SUITE, get_preset
from epilepsy_suite.fcd.published import from_published_state_dict, infer_config, to_published_state_dict
from epilepsy_suite.fcd.synthetic import make_synthetic_subject
from epilepsy_suite.geometry import coarsened, from_ras_array, to_ras_array
from epilepsy_suite.registration import register_affine, register_rigid

ORDERS = ("RAS", "LAS", "PIR")


def _seeded_model(seed: int, **config: int) -> MSDSANet:
    """A model whose every tensor matters: norms, layer scales, temperatures, embeddings random too."""
    torch.manual_seed(seed)
    model = MSDSANet(**config)
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue
            if name.endswith("running_var"):
                tensor.uniform_(0.5, 1.5, generator=generator)
            elif name.endswith("gamma"):
                tensor.uniform_(0.2, 1.0, generator=generator)  # the attention branch really contributes
            elif name.endswith(("bias", "running_mean", "position_embedding", "temperature")) or (
                name.endswith("weight") and ("norm" in name or ".reduce.1." in name)
            ):
                tensor.add_(0.1 * torch.randn(tensor.shape, generator=generator))
    return model.eval()


def _check_published_round_trip(tmp_path, config: dict[str, int], tokens_first_pathway: int) -> float:
    model = _seeded_model(0, **config)
    published = to_published_state_dict(model.state_dict())
    # The authors' layout, from PUBLISHED_MODELS.md rather than from our own inverse alone.
    assert len(published) == 316
    assert published["trans3.0.dsa.EF"].shape == (tokens_first_pathway, config.get("projected_tokens", 64))
    assert published["decoder5.transp_conv.conv.weight"].shape[0] == 16 * config.get("feature_size", 16)
    assert published["decoder1.conv_block.conv1.conv.weight"].shape[0] == config.get("feature_size", 16)
    assert {"encoder1.layer.conv1.conv.weight", "patch_embedding6.0.conv.weight", "out.conv.conv.bias"} <= set(
        published
    )
    assert not any(key.startswith(("encoder.", "pathways.", "decoder.", "head.")) for key in published)
    torch.save(published, tmp_path / "model.pth")
    torch.save({f"module.{key}": value for key, value in published.items()}, tmp_path / "ddp.pth")

    loaded, payload = load_fcd_model(tmp_path / "model.pth")
    assert payload["format"] == "published state dict"
    assert not loaded.training and loaded.config == model.config
    size = model.patch_size
    image = torch.rand(1, 2, size, size, size, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        difference = (model(image) - loaded(image)).abs().max().item()
    # Same tensors with the module. prefix: the outputs are the same function of the same weights.
    wrapped = load_fcd_model(tmp_path / "ddp.pth")[0].state_dict()
    for name, tensor in loaded.state_dict().items():
        assert torch.equal(wrapped[name], tensor), name
    return difference


def test_published_layout_loads_to_identical_outputs_reduced_model(tmp_path) -> None:
    difference = _check_published_round_trip(tmp_path, {"patch_size": 64, "feature_size": 8}, 16**3)
    assert difference <= 1e-6


@pytest.mark.slow
def test_published_layout_loads_to_identical_outputs_at_128(tmp_path) -> None:
    """Acceptance 3: the paper's network (43,524,802 parameters) on a 128^3 input."""
    started = time.perf_counter()
    difference = _check_published_round_trip(tmp_path, {}, 32**3)
    assert difference <= 1e-6
    print(f"128^3 published round trip: max abs difference {difference:.3g}, {time.perf_counter() - started:.0f} s")


def test_mapping_is_an_inverse_and_transposes_the_token_projection() -> None:
    state = MSDSANet(patch_size=64, feature_size=8).state_dict()
    published = to_published_state_dict(state)
    ours = "pathways.0.blocks.1.attention.token_projection.weight"
    assert torch.equal(published["trans3.1.dsa.EF"], state[ours].t())
    assert torch.equal(published["decoder5.transp_conv.conv.weight"], state["decoder.0.transp_conv.conv.weight"])
    back = from_published_state_dict(published)
    assert list(back) == list(state) and all(torch.equal(back[key], state[key]) for key in state)
    expected = dict(MSDSANet(patch_size=64, feature_size=8).config)
    expected.pop("dropout")  # not stored in weights
    assert infer_config(back) == expected


def test_foreign_files_are_refused_with_the_first_mismatch(tmp_path) -> None:
    torch.save({"conv1.weight": torch.zeros(8, 3, 7, 7), "fc.bias": torch.zeros(10)}, tmp_path / "resnet.pth")
    with pytest.raises(InputError, match=r"resnet\.pth: not an MS-DSA-Net state dict: no 'encoder1?\.") as error:
        load_fcd_model(tmp_path / "resnet.pth")
    assert "conv1.weight" in str(error.value) and "\n" not in str(error.value)

    published = to_published_state_dict(MSDSANet(patch_size=64, feature_size=8).state_dict())
    published["trans4.1.dsa.E"] = published.pop("trans4.1.dsa.EF")
    torch.save(published, tmp_path / "renamed.pth")
    with pytest.raises(
        InputError, match="renamed.pth: .*missing key 'trans4.1.dsa.EF'.*unexpected key 'trans4.1.dsa.E'"
    ):
        load_fcd_model(tmp_path / "renamed.pth")

    torch.save([torch.zeros(3)], tmp_path / "list.pth")
    with pytest.raises(InputError, match="list.pth: not an MS-DSA-Net checkpoint"):
        load_fcd_model(tmp_path / "list.pth")


# --- Array convention ---------------------------------------------------------------------------


def test_to_ras_array_is_what_monai_gives_after_orientation_ras(tmp_path) -> None:
    from monai.transforms import LoadImage, Orientation

    array = np.random.default_rng(0).random((5, 6, 7)).astype(np.float32)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((1.0, 1.5, 2.0))
    for order in ("LPS", "LAS", "PIR", "ASL"):
        stored = sitk.DICOMOrient(image, order)
        sitk.WriteImage(stored, str(tmp_path / f"{order}.nii.gz"))
        monai_array = Orientation("RAS", labels=(("L", "R"), ("P", "A"), ("I", "S")))(
            LoadImage(image_only=True, ensure_channel_first=True)(tmp_path / f"{order}.nii.gz")
        )
        ours, oriented = to_ras_array(sitk.ReadImage(str(tmp_path / f"{order}.nii.gz")))
        np.testing.assert_array_equal(np.asarray(monai_array[0]), ours)
        back = from_ras_array(ours * 2, oriented, stored)
        assert back.GetSize() == stored.GetSize() and back.GetDirection() == stored.GetDirection()
        np.testing.assert_array_equal(sitk.GetArrayFromImage(back), 2 * sitk.GetArrayFromImage(stored))


@pytest.fixture(scope="module")
def small_case():
    """A 2 mm synthetic subject cropped to 72x80x64 voxels (2x2x1 windows of 64^3, asymmetric)."""
    subject = make_synthetic_subject(1, spacing=2.0)
    x, y, z = subject.centre_index
    start = [
        int(np.clip(c - h, 0, s - 2 * h)) for c, h, s in zip((x, y, z), (36, 40, 32), subject.t1.GetSize(), strict=True)
    ]
    t1, flair = (sitk.RegionOfInterest(image, (72, 80, 64), start) for image in (subject.t1, subject.flair))
    return t1, flair


@pytest.mark.slow  # several whole-volume predictions: `bootstrap.py test -m slow`
def test_probability_does_not_depend_on_the_storage_order(small_case) -> None:
    t1, flair = small_case
    model = _seeded_model(3, patch_size=64, feature_size=8)
    maps = {}
    for order in ORDERS:
        stored_t1, stored_flair = sitk.DICOMOrient(t1, order), sitk.DICOMOrient(flair, order)
        probability = predict_probability(model, stored_t1, stored_flair, overlap=0.25, blend="constant")
        assert probability.GetSize() == stored_t1.GetSize()
        assert probability.GetOrigin() == stored_t1.GetOrigin()
        assert probability.GetDirection() == stored_t1.GetDirection()
        maps[order] = sitk.GetArrayFromImage(sitk.DICOMOrient(probability, "RAS"))
    for order in ORDERS[1:]:
        assert np.abs(maps[order] - maps["RAS"]).max() <= 1e-5, order
    # The check has teeth: feeding SimpleITK's (z, y, x) storage array, as before, gives another map.
    raw = np.stack([sitk.GetArrayFromImage(t1), sitk.GetArrayFromImage(flair)])
    wrong = sitk.GetImageFromArray(predict_array(model, raw, overlap=0.25, blend="constant"))
    wrong.CopyInformation(t1)
    assert np.abs(sitk.GetArrayFromImage(sitk.DICOMOrient(wrong, "RAS")) - maps["RAS"]).max() > 1e-2


def test_training_sees_the_same_arrays_as_inference(small_case) -> None:
    t1, flair = small_case
    lesion = sitk.Cast(t1 > 0.6, sitk.sitkUInt8)
    reference = TrainingSubject.from_images("RAS", *(sitk.DICOMOrient(image, "RAS") for image in (t1, flair, lesion)))
    stored = TrainingSubject.from_images("PIR", *(sitk.DICOMOrient(image, "PIR") for image in (t1, flair, lesion)))
    np.testing.assert_array_equal(stored.image, reference.image)
    np.testing.assert_array_equal(stored.label, reference.label)
    np.testing.assert_array_equal(stored.image, network_input(t1, flair)[0])


# --- Published preset ---------------------------------------------------------------------------


def test_published_preset_uses_the_fsl_grid_and_whole_volume_percentiles() -> None:
    preset = get_preset("published")
    assert preset is PUBLISHED and get_preset("suite") is SUITE
    assert (preset.intensity_region, preset.percentiles, preset.blend, preset.overlap) == (
        "whole",
        (0.5, 99.5),
        "constant",
        0.25,
    )
    assert preset.register_to_mni and preset.coregister_flair and not preset.skull_strip and not preset.postprocess
    with pytest.raises(InputError, match="unknown preset 'fsl'"):
        get_preset("fsl")

    grid = registration_template(preset)
    assert grid.GetSize() == (182, 218, 182) and grid.GetSpacing() == (1.0, 1.0, 1.0)
    assert grid.TransformIndexToPhysicalPoint((90, 126, 72)) == (0.0, 0.0, 0.0)
    # voxel (0, 0, 0) is at RAS (90, -126, -72): x runs right to left, as FSL stores it
    assert grid.TransformIndexToPhysicalPoint((0, 0, 0)) == (-90.0, 126.0, -72.0)
    assert registration_template(SUITE).GetSize() == mni_template().GetSize()

    # Whole volume: percentiles over every voxel, background included, per channel, clipped.
    rng = np.random.default_rng(0)
    array = np.zeros((40, 40, 40), np.float32)
    array[10:30, 10:30, 10:30] = rng.uniform(100, 200, (20, 20, 20))
    array[0, 0, :5] = 1000  # a few bright outliers, clipped to 1
    image = sitk.GetImageFromArray(array)
    low, high = np.percentile(array, [0.5, 99.5])
    expected = np.clip((array - low) / (high - low), 0, 1)
    np.testing.assert_allclose(
        sitk.GetArrayFromImage(normalise_intensities(image, whole_volume=True)), expected, atol=1e-6
    )
    prepared = prepare_images(image, image * 2, register_to_mni=False, coregister=False, preset="published")
    np.testing.assert_allclose(sitk.GetArrayFromImage(prepared.t1), expected, atol=1e-6)
    np.testing.assert_allclose(sitk.GetArrayFromImage(prepared.flair), expected, atol=1e-6)
    # The suite preset takes the brain's (non-zero) percentiles instead.
    suite = sitk.GetArrayFromImage(prepare_images(image, image, preset="suite").t1)
    assert np.abs(suite - expected).max() > 0.05


def _known_affine(reference: sitk.Image) -> sitk.AffineTransform:
    transform = sitk.AffineTransform(3)
    transform.SetMatrix((1.06, 0.04, 0.0, -0.03, 0.96, 0.05, 0.02, -0.02, 1.03))
    transform.SetTranslation((5.0, -4.0, 3.0))
    transform.SetCenter(reference.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2 for s in reference.GetSize()]))
    return transform


def _error_mm(found: sitk.Transform, truth: sitk.Transform, image: sitk.Image) -> float:
    """Largest distance between the two transforms at 200 brain voxels."""
    indices = np.argwhere(sitk.GetArrayFromImage(image) > 0)[:, ::-1]
    chosen = indices[np.random.default_rng(0).choice(len(indices), 200, replace=False)]
    points = [image.TransformIndexToPhysicalPoint([int(v) for v in index]) for index in chosen]
    return max(float(np.linalg.norm(np.subtract(found.TransformPoint(p), truth.TransformPoint(p)))) for p in points)


@pytest.mark.slow  # a registration: `bootstrap.py test -m slow`
def test_registration_recovers_a_known_affine_on_the_template() -> None:
    template = coarsened(mni_template(), 2)  # 96x114x96 at 2 mm
    truth = _known_affine(template)
    moving = sitk.Resample(
        template, template, truth.GetInverse(), sitk.sitkLinear, 0.0
    )  # moving(p) = template(truth^-1 p)
    moving = sitk.DICOMOrient(moving, "PIR")  # another storage order changes nothing
    found = register_affine(template, moving, seed=1)
    assert isinstance(found, sitk.AffineTransform)
    assert _error_mm(found, truth, template) < 1.0

    rigid_truth = sitk.Euler3DTransform(truth.GetCenter(), 0.08, -0.05, 0.1, (4.0, -3.0, 6.0))
    rigid_moving = sitk.Resample(template, template, rigid_truth.GetInverse(), sitk.sitkLinear, 0.0)
    found_rigid = register_rigid(template, rigid_moving)
    assert isinstance(found_rigid, sitk.Euler3DTransform)
    assert _error_mm(found_rigid, rigid_truth, template) < 1.0


def test_registration_refuses_bad_arguments() -> None:
    template = coarsened(mni_template(), 4)
    with pytest.raises(InputError, match="moving image: must be a SimpleITK image"):
        register_affine(template, np.zeros((4, 4, 4)))  # type: ignore[arg-type]
    with pytest.raises(InputError, match="fixed image: is constant"):
        register_rigid(template * 0, template)
    with pytest.raises(InputError, match="seed"):
        register_rigid(template, template, seed=-1)


class _IntensityModel(torch.nn.Module):
    """Stands in for MS-DSA-Net: 'FCD' logit = 8 (T1 - 0.5), so the map shows where the T1 went."""

    config = {"in_channels": 2}
    patch_size = 64

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.zeros_like(x[:, :1]), 8 * (x[:, :1] - 0.5)], dim=1)


@pytest.mark.slow  # two registrations: `bootstrap.py test -m slow`
def test_published_preparation_registers_with_skull_and_maps_results_back() -> None:
    subject = make_synthetic_subject(2, spacing=2.0)
    truth = _known_affine(subject.t1)
    # A "patient": the synthetic T1 moved by a known affine, stored PIR; the FLAIR rotated a little.
    t1 = sitk.DICOMOrient(sitk.Resample(subject.t1, subject.t1, truth.GetInverse(), sitk.sitkLinear, 0.0), "PIR")
    turn = sitk.Euler3DTransform(truth.GetCenter(), 0.05, 0.0, -0.04, (2.0, 0.0, -2.0))
    flair = sitk.Resample(subject.flair, subject.flair, turn.GetInverse(), sitk.sitkLinear, 0.0)
    prepared = prepare_images(t1, flair, preset="published")
    assert prepared.t1.GetSize() == (182, 218, 182) and prepared.flair.GetSize() == (182, 218, 182)
    values = sitk.GetArrayFromImage(prepared.t1)
    assert values.min() >= 0.0 and values.max() <= 1.0
    template = sitk.GetArrayFromImage(fsl_mni152_template())
    brain = template > 0
    assert np.corrcoef(values[brain], template[brain])[0, 1] > 0.7
    # The FLAIR followed its own rigid registration and the T1's affine: it lies on the T1.
    flair_values = sitk.GetArrayFromImage(prepared.flair)
    assert np.corrcoef(flair_values[brain], values[brain])[0, 1] > 0.5

    prediction = predict_subject(
        _IntensityModel(),
        prepared,
        PUBLISHED.threshold,
        None,
        "cpu",
        PUBLISHED.overlap,
        PUBLISHED.blend,  # type: ignore[arg-type]
    )
    assert prediction.probability.GetSize() == t1.GetSize()
    assert prediction.probability.GetDirection() == t1.GetDirection()
    native = sitk.GetArrayFromImage(t1)
    inside = (native > 0) & (sitk.GetArrayFromImage(prediction.probability) > 0)
    assert np.corrcoef(sitk.GetArrayFromImage(prediction.probability)[inside], native[inside])[0, 1] > 0.8


def test_cli_predicts_an_authors_file_with_the_published_preset(tmp_path, small_case) -> None:
    """`fcd predict --preprocessing published --coregister-flair` on a small image already in MNI space."""
    t1, flair = small_case
    torch.save(
        to_published_state_dict(_seeded_model(4, patch_size=64, feature_size=8).state_dict()), tmp_path / "model.pth"
    )
    sitk.WriteImage(sitk.DICOMOrient(t1, "LAS"), str(tmp_path / "t1.nii.gz"))
    sitk.WriteImage(flair, str(tmp_path / "flair.nii.gz"))
    arguments = [
        "fcd", "predict", str(tmp_path / "t1.nii.gz"), str(tmp_path / "flair.nii.gz"),
        "--model", str(tmp_path / "model.pth"), "--out", str(tmp_path / "mask.nii.gz"),
        "--probability", str(tmp_path / "p.nii.gz"), "--preprocessing", "published", "--coregister-flair",
        "--no-register", "--device", "cpu", "--quiet",
    ]  # fmt: skip
    assert main(arguments) == 0
    stored = sitk.ReadImage(str(tmp_path / "t1.nii.gz"))
    mask, probability = (sitk.ReadImage(str(tmp_path / name)) for name in ("mask.nii.gz", "p.nii.gz"))
    for output in (mask, probability):
        assert output.GetSize() == stored.GetSize()
        np.testing.assert_allclose(output.GetDirection(), stored.GetDirection())
        np.testing.assert_allclose(output.GetOrigin(), stored.GetOrigin(), atol=1e-5)
    # No post-processing in this preset: the mask is exactly p >= 0.5.
    np.testing.assert_array_equal(sitk.GetArrayFromImage(mask), sitk.GetArrayFromImage(probability) >= 0.5)


@pytest.mark.slow
def test_cli_published_preset_with_registration_to_mni(tmp_path) -> None:
    """The whole published pipeline from the command line: registration to the FSL grid included."""
    subject = make_synthetic_subject(0, spacing=2.0)
    # The published window (128^3: 8 windows on the FSL grid) with a narrow network, to stay quick on a CPU.
    torch.save(
        to_published_state_dict(_seeded_model(4, patch_size=128, feature_size=8).state_dict()), tmp_path / "model.pth"
    )
    sitk.WriteImage(sitk.DICOMOrient(subject.t1, "PIR"), str(tmp_path / "t1.nii.gz"))
    sitk.WriteImage(subject.flair, str(tmp_path / "flair.nii.gz"))
    started = time.perf_counter()
    arguments = [
        "fcd", "predict", str(tmp_path / "t1.nii.gz"), str(tmp_path / "flair.nii.gz"),
        "--model", str(tmp_path / "model.pth"), "--out", str(tmp_path / "mask.nii.gz"),
        "--preprocessing", "published", "--coregister-flair", "--device", "cpu", "--quiet",
    ]  # fmt: skip
    assert main(arguments) == 0
    mask, stored = sitk.ReadImage(str(tmp_path / "mask.nii.gz")), sitk.ReadImage(str(tmp_path / "t1.nii.gz"))
    assert mask.GetSize() == stored.GetSize()
    np.testing.assert_allclose(mask.GetDirection(), stored.GetDirection())
    np.testing.assert_allclose(mask.GetOrigin(), stored.GetOrigin(), atol=1e-5)
    print(f"published CLI with registration: {time.perf_counter() - started:.0f} s")


def test_prepared_subject_without_registration_keeps_the_t1_grid(small_case) -> None:
    t1, flair = small_case
    stored = sitk.DICOMOrient(t1, "PIR")
    prepared = prepare_images(stored, sitk.DICOMOrient(flair, "PIR"), preset="published", register_to_mni=False)
    assert isinstance(prepared, PreparedSubject) and prepared.to_native is None
    assert prepared.t1.GetSize() == stored.GetSize() and prepared.t1.GetDirection() == stored.GetDirection()
