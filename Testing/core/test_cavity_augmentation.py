"""Training augmentation of the cavity network at any spacing (issue 16)."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import torch
import torchio as tio
from epilepsy_suite.cavity.augmentation import RandomPlacedCrop, RandomSliceThickness


def _subject(spacing: float, size: int = 24) -> tio.Subject:
    rng = np.random.default_rng(0)
    array = rng.normal(size=(size, size, size)).astype(np.float32)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((spacing,) * 3)
    label = np.zeros((size,) * 3, np.uint8)
    label[8:16, 8:16, 8:16] = 1
    affine = np.diag([spacing, spacing, spacing, 1.0])
    return tio.Subject(
        image=tio.ScalarImage(tensor=torch.from_numpy(array.transpose(2, 1, 0)[None].copy()), affine=affine),
        label=tio.LabelMap(tensor=torch.from_numpy(label[None]), affine=affine),
    )


def test_slice_thickness_is_drawn_in_millimetres() -> None:
    """The thesis' 1.5-5 mm slices change a 1 mm image, but leave an image already 6 mm thick as
    it is (TorchIO's factor of the spacing would make 9-30 mm slices of it)."""
    fine, coarse = _subject(1.0), _subject(6.0)
    changed = 0
    for seed in range(6):
        torch.manual_seed(seed)
        changed += int(not torch.equal(RandomSliceThickness()(fine)["image"].data, fine["image"].data))
        torch.manual_seed(seed)
        assert torch.equal(RandomSliceThickness()(coarse)["image"].data, coarse["image"].data)
    assert changed == 6
    transformed = RandomSliceThickness()(fine)
    assert torch.equal(transformed["label"].data, fine["label"].data), "labels keep their resolution"


def test_slice_thickness_range_is_checked() -> None:
    with pytest.raises(ValueError, match="thickness"):
        RandomSliceThickness(thickness=(5.0, 1.0))


def test_crop_position_does_not_follow_the_label() -> None:
    """Crops land anywhere, so the cavity is not always in the middle of the network's input."""
    subject = _subject(1.0)
    centres = set()
    for seed in range(8):
        torch.manual_seed(seed)
        crop = RandomPlacedCrop((16, 16, 16))(subject)
        assert crop.spatial_shape == (16, 16, 16)
        centres.add(tuple(crop["label"].data[0].nonzero().float().mean(0).round().tolist()))
    assert len(centres) > 3
