"""Initialisation of segmentation heads: start training at a foreground prior, not at p = 0.5.

With a zero bias a two-class softmax head starts at p(foreground) = 0.5 everywhere. When the
foreground fills under 0.1 % of a patch (an FCD lesion) or of an image (a cavity), that start
marks everything, and a smoothness term such as total variation is satisfied by the constant
"all foreground" map, so training stalls there. Setting the foreground logit's bias to
``log(prior / (1 - prior))`` starts every voxel at about ``prior`` instead: the usual remedy for
rare-class detection (Lin et al. 2017, focal loss, section 4.1). It is a deviation from the
papers' default initialisation, configurable (``foreground_prior``, ``None`` keeps theirs).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .errors import InputError


def set_foreground_prior(head: nn.Module, prior: float) -> None:
    """Set the bias of the last convolution in ``head`` so that a two-class softmax gives
    p(class 1) = ``prior`` where the weights contribute nothing (class 0's bias is 0).

    Raises:
        InputError: ``prior`` outside (0, 1), or ``head`` has no two-channel convolution with a bias.
    """
    if not 0 < prior < 1:
        raise InputError("foreground_prior", f"must be in (0, 1), not {prior}")
    convolutions = [module for module in head.modules() if isinstance(module, nn.Conv3d)]
    if not convolutions or convolutions[-1].bias is None or convolutions[-1].out_channels != 2:
        raise InputError("foreground_prior", "the network's head is not a two-class convolution with a bias")
    with torch.no_grad():
        convolutions[-1].bias.copy_(torch.tensor([0.0, math.log(prior / (1 - prior))]))
