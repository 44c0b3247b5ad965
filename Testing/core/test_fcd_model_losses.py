"""MS-DSA-Net configuration and the paper's losses."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from epilepsy_suite.fcd.losses import (
    FCDBCELoss,
    FCDDiceLoss,
    TotalVariationLoss,
    build_loss,
    total_variation,
)
from epilepsy_suite.fcd.model import MSDSANet, count_parameters
from monai.losses import DiceLoss


@pytest.mark.slow  # the full-size network: `bootstrap.py test -m slow`
def test_paper_configuration_has_43524802_parameters_and_keeps_the_shape() -> None:
    torch.manual_seed(0)
    model = MSDSANet()
    assert count_parameters(model) == 43_524_802
    model.eval()
    with torch.inference_mode():
        output = model(torch.randn(1, 2, 128, 128, 128))
    assert output.shape == (1, 2, 128, 128, 128)
    assert torch.isfinite(output).all()


def test_reduced_model_runs_and_refuses_other_patch_sizes() -> None:
    model = MSDSANet(patch_size=64, feature_size=8)
    assert model(torch.randn(1, 2, 64, 64, 64)).shape == (1, 2, 64, 64, 64)
    with pytest.raises(ValueError, match="expected input"):
        model(torch.randn(1, 2, 96, 96, 96))
    with pytest.raises(ValueError, match="multiple of 32"):
        MSDSANet(patch_size=48)


def _logits_for(probability: torch.Tensor) -> torch.Tensor:
    """Logits whose softmax FCD channel equals ``probability`` (B, D, H, W)."""
    p = probability.clamp(1e-6, 1 - 1e-6)
    return torch.stack([torch.zeros_like(p), torch.log(p / (1 - p))], dim=1)


def test_tv_equals_hand_computed_value() -> None:
    # 1 x 2 x 2 x 3 map; forward differences by hand:
    p = torch.tensor([[[[0.0, 0.5, 1.0], [0.0, 0.0, 0.0]], [[1.0, 1.0, 1.0], [0.2, 0.2, 0.2]]]])
    # axis D (2 planes): |1-0|+|1-.5|+|1-1| + |.2-0|*3 = 1.5 + 0.6 = 2.1
    # axis H (2 rows): plane0 |0-0|+|0-.5|+|0-1| = 1.5 ; plane1 |.2-1|*3 = 2.4 -> 3.9
    # axis W (3 cols): plane0 row0 .5+.5=1, row0 others 0; plane1 0 -> 1.0
    expected = (2.1 + 3.9 + 1.0) / 12  # per-voxel normalisation, 12 voxels
    assert total_variation(p).item() == pytest.approx(expected, abs=1e-6)
    assert TotalVariationLoss()(_logits_for(p)).item() == pytest.approx(expected, abs=1e-4)


def test_tv_is_zero_on_constant_maps_and_differentiable() -> None:
    constant = torch.full((2, 4, 5, 6), 0.3)
    assert total_variation(constant).item() == 0.0
    logits = torch.randn(2, 2, 4, 5, 6, requires_grad=True)
    TotalVariationLoss()(logits).backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_tv_sums_over_directions_not_averages() -> None:
    # A single step along one axis vs the same step along all three axes.
    one_axis = torch.zeros(1, 2, 2, 2)
    one_axis[:, 1] = 1.0
    corner = torch.zeros(1, 2, 2, 2)
    corner[0, 0, 0, 0] = 1.0
    assert total_variation(one_axis).item() == pytest.approx(4 / 8)
    assert total_variation(corner).item() == pytest.approx(3 / 8)


def test_dice_matches_monai_on_the_fcd_channel() -> None:
    torch.manual_seed(1)
    logits = torch.randn(2, 2, 6, 7, 8)
    target = (torch.rand(2, 1, 6, 7, 8) > 0.7).float()
    for batch in (True, False):
        ours = FCDDiceLoss(eps=1e-5, batch=batch)(logits, target)
        reference = DiceLoss(
            include_background=False, to_onehot_y=True, softmax=True, smooth_nr=1e-5, smooth_dr=1e-5, batch=batch
        )(logits, target)
        assert ours.item() == pytest.approx(reference.item(), abs=1e-6)


def test_bce_matches_torch() -> None:
    torch.manual_seed(2)
    logits = torch.randn(2, 2, 5, 5, 5)
    target = (torch.rand(2, 5, 5, 5) > 0.5).float()
    probability = logits.softmax(1)[:, 1]
    reference = torch.nn.functional.binary_cross_entropy(probability, target)
    assert FCDBCELoss()(logits, target).item() == pytest.approx(reference.item(), abs=1e-5)


def test_named_combinations() -> None:
    torch.manual_seed(3)
    logits = torch.randn(1, 2, 5, 5, 5)
    target = (torch.rand(1, 5, 5, 5) > 0.5).float()
    dice, bce, tv = FCDDiceLoss()(logits, target), FCDBCELoss()(logits, target), TotalVariationLoss()(logits)
    assert build_loss("dice")(logits, target).item() == pytest.approx(dice.item(), abs=1e-6)
    assert build_loss("dice_bce")(logits, target).item() == pytest.approx(
        0.5 * dice.item() + 0.5 * bce.item(), abs=1e-6
    )
    assert build_loss("dice_tv")(logits, target).item() == pytest.approx(dice.item() + 0.1 * tv.item(), abs=1e-6)
    assert build_loss("dice_tv", tv_weight=0.5)(logits, target).item() == pytest.approx(
        dice.item() + 0.5 * tv.item(), abs=1e-6
    )
    with pytest.raises(ValueError, match="unknown loss"):
        build_loss("focal")
    assert np.isfinite(build_loss("dice_bce")(logits * 100, target).item())
