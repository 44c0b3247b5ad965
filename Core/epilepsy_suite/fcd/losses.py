"""Losses of the FCD paper: Dice, BCE and anisotropic total variation, and their combinations.

All take network logits ``(B, 2, D, H, W)`` (channel 1 = FCD) and a target ``(B, 1, D, H, W)``
or ``(B, D, H, W)`` with values in {0, 1}; the FCD probability is the softmax of channel 1.
"""

from __future__ import annotations

import torch
from torch import nn


def fcd_probability(logits: torch.Tensor) -> torch.Tensor:
    """Softmax probability of the FCD channel, ``(B, 2, ...) -> (B, ...)``."""
    if logits.ndim < 3 or logits.shape[1] != 2:
        raise ValueError(f"expected logits (B, 2, ...), got {tuple(logits.shape)}")
    return logits.softmax(dim=1)[:, 1]


def _target(target: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    if target.ndim == like.ndim + 1 and target.shape[1] == 1:
        target = target[:, 0]
    if target.shape != like.shape:
        raise ValueError(f"target shape {tuple(target.shape)} does not match prediction {tuple(like.shape)}")
    return target.to(like.dtype)


class FCDDiceLoss(nn.Module):
    """Soft Dice loss on the FCD channel only (background excluded).

    ``1 - (2 sum(p t) + eps) / (sum(p) + sum(t) + eps)`` with ``eps`` = 1e-5 as in the paper.
    With ``batch`` (default) the sums run over every voxel of the whole batch: a batch is the
    4 patches of one subject, half of them without lesion, and a per-patch Dice of an empty
    patch is ~1 whatever the prediction, which stalls learning. ``batch=False`` gives the
    per-patch Dice averaged over the batch.
    """

    def __init__(self, eps: float = 1e-5, batch: bool = True):
        super().__init__()
        if eps <= 0:
            raise ValueError("eps must be positive")
        self.eps = eps
        self.batch = batch

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        probability = fcd_probability(logits)
        target = _target(target, probability)
        dims = tuple(range(0 if self.batch else 1, probability.ndim))
        intersection = (probability * target).sum(dims)
        total = probability.sum(dims) + target.sum(dims)
        return (1.0 - (2.0 * intersection + self.eps) / (total + self.eps)).mean()


class FCDBCELoss(nn.Module):
    """Binary cross-entropy between the FCD probability and the target, averaged over voxels and batch."""

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # log p(FCD) = log_softmax channel 1: numerically stable for confident logits.
        log_probabilities = logits.log_softmax(dim=1)
        target = _target(target, log_probabilities[:, 1])
        return -(target * log_probabilities[:, 1] + (1 - target) * log_probabilities[:, 0]).mean()


class TotalVariationLoss(nn.Module):
    """Anisotropic total variation of the FCD probability (eq. 1 of the paper).

    ``TV(p) = sum_v |p(v + e_x) - p(v)| + |p(v + e_y) - p(v)| + |p(v + e_z) - p(v)|``: forward
    differences along each of the three axes, summed over the axes (not averaged). Each axis's
    sum is divided by the number of voxels of the volume, so the value is the mean absolute
    difference per voxel summed over the three axes (the paper's sum up to this constant
    voxel count, which keeps the 0.1 weight independent of patch size); the result is averaged
    over the batch. Zero for constant maps; at most 3 for maps in [0, 1].
    """

    def forward(self, logits: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        return total_variation(fcd_probability(logits))


def total_variation(probability: torch.Tensor) -> torch.Tensor:
    """TV of a ``(B, D, H, W)`` map, normalised as in :class:`TotalVariationLoss`."""
    if probability.ndim != 4:
        raise ValueError(f"expected (B, D, H, W), got {tuple(probability.shape)}")
    voxels = probability[0].numel()
    batch = probability.shape[0]
    total = probability.new_zeros(())
    for axis in (1, 2, 3):
        total = total + torch.diff(probability, dim=axis).abs().sum() / voxels
    return total / batch


class CombinedLoss(nn.Module):
    """Weighted sum of named loss terms, e.g. ``{"dice": 1.0, "tv": 0.1}``."""

    TERMS = {"dice": FCDDiceLoss, "bce": FCDBCELoss, "tv": TotalVariationLoss}

    def __init__(self, weights: dict[str, float]):
        super().__init__()
        unknown = set(weights) - set(self.TERMS)
        if unknown or not weights:
            raise ValueError(f"loss terms must be among {sorted(self.TERMS)}, got {sorted(weights)}")
        self.weights = dict(weights)
        self.terms = nn.ModuleDict({name: self.TERMS[name]() for name in weights})

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return sum(self.weights[name] * term(logits, target) for name, term in self.terms.items())  # type: ignore[return-value]


# The three losses compared in the paper (Table 1).
LOSS_PRESETS: dict[str, dict[str, float]] = {
    "dice": {"dice": 1.0},
    "dice_bce": {"dice": 0.5, "bce": 0.5},
    "dice_tv": {"dice": 1.0, "tv": 0.1},
}


def build_loss(
    name: str = "dice_tv", tv_weight: float | None = None, weights: dict[str, float] | None = None
) -> CombinedLoss:
    """A loss by preset name (``dice``, ``dice_bce``, ``dice_tv``), optionally re-weighted."""
    if weights is None:
        if name not in LOSS_PRESETS:
            raise ValueError(f"unknown loss {name!r}; choose one of {sorted(LOSS_PRESETS)}")
        weights = dict(LOSS_PRESETS[name])
        if tv_weight is not None and "tv" in weights:
            weights["tv"] = tv_weight
    return CombinedLoss(weights)


__all__ = [
    "CombinedLoss",
    "FCDBCELoss",
    "FCDDiceLoss",
    "LOSS_PRESETS",
    "TotalVariationLoss",
    "build_loss",
    "fcd_probability",
    "total_variation",
]
