"""Resection simulation on the embedded MNI template + Neuromorphometrics, and the cavity U-Net."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchio as tio
from epilepsy_suite.cavity.masks import resection_masks
from epilepsy_suite.cavity.model import CavityUNet
from epilepsy_suite.cavity.shapes import icosphere, star_radius
from epilepsy_suite.cavity.simulation import RandomResection, Resection
from epilepsy_suite.data import (
    Hemisphere,
    Kind,
    mni_template,
    neuromorphometrics_labels,
    neuromorphometrics_parcellation,
)
from epilepsy_suite.fcd.model import count_parameters
from epilepsy_suite.geometry import sitk_to_torchio
from scipy import ndimage


@pytest.fixture(scope="module")
def subject() -> tio.Subject:
    return tio.Subject(
        image=sitk_to_torchio(mni_template()),
        parcellation=sitk_to_torchio(neuromorphometrics_parcellation(on_template_grid=True), label=True),
    )


def test_thesis_unet_has_246156_parameters() -> None:
    model = CavityUNet()
    assert count_parameters(model) == 246_156
    assert model(torch.randn(1, 1, 24, 32, 16)).shape == (1, 2, 24, 32, 16)
    with pytest.raises(ValueError, match="multiples of 4"):
        model(torch.randn(1, 1, 10, 12, 12))


def test_icosphere_and_star_radius() -> None:
    vertices, faces = icosphere(2)
    assert len(vertices) == 162 and len(faces) == 320
    np.testing.assert_allclose(np.linalg.norm(vertices, axis=1), 1.0)
    rng = np.random.default_rng(0)
    directions = rng.normal(size=(500, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    radius = star_radius(directions, vertices * 2.0, faces, 2)
    # The flat faces of a sphere of radius 2 lie between the inscribed and circumscribed radii.
    assert (radius <= 2.0 + 1e-9).all() and (radius > 1.9).all()


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_simulated_resection_is_anatomically_plausible(subject, seed) -> None:
    requested = 15000.0
    transform = RandomResection(volumes=(requested, requested + 1e-3), seed=seed)
    result = transform(subject)
    label = result["label"].data[0].numpy().astype(bool)
    parcellation = subject["parcellation"].data[0].numpy()
    table = neuromorphometrics_labels()
    assert label.any()
    # One hemisphere, never brain stem, cerebellum or background.
    left = table.mask_of(parcellation, list(Kind), Hemisphere.LEFT)
    right = table.mask_of(parcellation, list(Kind), Hemisphere.RIGHT)
    assert not (label & left).any() or not (label & right).any()
    assert not (label & table.mask_of(parcellation, [Kind.BRAIN_STEM, Kind.CEREBELLUM])).any()
    assert (
        not (label & (parcellation == 0)).sum() > 0.02 * label.sum()
    )  # background only where the smoothing closed sulci
    assert ndimage.label(label, structure=np.ones((3, 3, 3)))[1] == 1
    volume = label.sum()  # 1 mm^3 voxels
    parameters = result.history[-1]
    assert isinstance(parameters, Resection)
    # Within 20% of the request, unless clipped by the resectable mask (then smaller).
    unclipped, _ = _unclipped_volume(subject, parameters)
    if unclipped == volume:
        assert abs(volume - requested) <= 0.2 * requested
    else:
        assert volume < unclipped
    # Outside the blur band the image is unchanged; inside it looks like CSF.
    original = subject["image"].data[0].numpy()
    resected = result["image"].data[0].numpy()
    band = ndimage.binary_dilation(
        label, structure=np.ones((3, 3, 3)), iterations=int(np.ceil(3 * parameters.sigma)) + 1
    )
    np.testing.assert_array_equal(resected[~band], original[~band])
    masks = resection_masks(mni_template(), neuromorphometrics_parcellation(on_template_grid=True))
    core = ndimage.binary_erosion(label, iterations=3)
    if core.sum() > 50:
        assert abs(resected[core].mean() - masks.csf_mean) < 2 * masks.csf_std / np.sqrt(core.sum()) * 10 + 0.05 * abs(
            masks.csf_mean
        )
        assert abs(resected[core].mean() - masks.csf_mean) < abs(original[core].mean() - masks.csf_mean)


def _unclipped_volume(subject, parameters: Resection) -> tuple[int, np.ndarray]:
    from epilepsy_suite.cavity.simulation import cavity_mask

    image = subject["image"]
    box, inside = cavity_mask(
        image.shape[1:], np.asarray(image.affine)[:3, :3], np.asarray(parameters.centre), parameters
    )
    return int(inside.sum()), inside


def test_reproducible_with_seed_and_replayable_from_history(subject) -> None:
    first = RandomResection(seed=5)(subject)
    second = RandomResection(seed=5)(subject)
    assert torch.equal(first["label"].data, second["label"].data)
    replay = first.history[-1](subject)
    assert torch.equal(replay["label"].data, first["label"].data)
    assert torch.equal(replay["image"].data, first["image"].data)
    assert not torch.equal(RandomResection(seed=6)(subject)["label"].data, first["label"].data)


def test_volumes_from_a_list_and_other_shapes(subject) -> None:
    observed = [3000.0, 4000.0, 6000.0]
    for shape in ("ellipsoid", "cuboid"):
        result = RandomResection(volumes=observed, shape=shape, seed=3)(subject)
        parameters = result.history[-1]
        assert parameters.volume in observed and parameters.shape == shape
        assert result["label"].data.sum() > 0
    with pytest.raises(ValueError, match="shape"):
        RandomResection(shape="star")


def test_composes_with_other_torchio_transforms(subject) -> None:
    pipeline = tio.Compose(
        [RandomResection(seed=1), tio.ZNormalization(), tio.RandomFlip(axes=("LR",), flip_probability=1.0)]
    )
    result = pipeline(subject)
    assert result["label"].data.sum() > 0
    assert [type(transform).__name__ for transform in result.history][:2] == ["Resection", "ZNormalization"]
