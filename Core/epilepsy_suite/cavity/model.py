"""The resection-cavity network: a light, dilated 3D U-Net (thesis section 4.3.2).

Two down- and two up-sampling blocks, trilinear upsampling, a quarter of the original 3D
U-Net's filters (8 in the first layer, doubled by the second convolution of each level as in
3D U-Net), dilated 3x3x3 convolutions (dilation 1 at the top, +1 per level down, -1 per level
up, which keeps an 88 mm receptive field), batch norm + PReLU, He initialisation.
Convolutions followed by batch norm carry no bias; the first convolution has no batch norm.
246,156 trainable parameters for 1 input and 2 output channels.
"""

from __future__ import annotations

import torch
from torch import nn


class ConvNormPReLU(nn.Sequential):
    """3x3x3 (dilated, same-size) convolution, optional batch norm, PReLU."""

    def __init__(self, in_channels: int, out_channels: int, dilation: int = 1, normalise: bool = True):
        layers: list[nn.Module] = [
            nn.Conv3d(in_channels, out_channels, 3, padding=dilation, dilation=dilation, bias=not normalise)
        ]
        if normalise:
            layers.append(nn.BatchNorm3d(out_channels))
        layers.append(nn.PReLU())
        super().__init__(*layers)


class CavityUNet(nn.Module):
    """Dilated 3D U-Net: input (B, in_channels, D, H, W) with D, H, W multiples of 4; output logits.

    Args:
        in_channels: image channels (1: T1).
        out_channels: classes (2: background, cavity).
        first_channels: filters of the first convolution (8 = a quarter of 3D U-Net's 32).
        levels: resolution levels (3 = two down- and two up-sampling blocks).
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 2, first_channels: int = 8, levels: int = 3):
        super().__init__()
        if levels < 2:
            raise ValueError("levels must be at least 2")
        self.config = {
            "in_channels": in_channels,
            "out_channels": out_channels,
            "first_channels": first_channels,
            "levels": levels,
        }
        self.encoder = nn.ModuleList()
        channels, width = in_channels, first_channels
        skip_channels = []
        for level in range(levels):
            dilation = level + 1
            block = nn.Sequential(
                ConvNormPReLU(channels, width, dilation, normalise=level > 0),
                ConvNormPReLU(width, 2 * width, dilation),
            )
            self.encoder.append(block)
            channels = 2 * width
            skip_channels.append(channels)
            width = channels
        self.pool = nn.MaxPool3d(2)
        self.upsample = nn.Upsample(scale_factor=2, mode="trilinear", align_corners=False)
        self.decoder = nn.ModuleList()
        for level in reversed(range(levels - 1)):
            dilation = level + 1
            skip = skip_channels[level]
            self.decoder.append(
                nn.Sequential(ConvNormPReLU(channels + skip, skip, dilation), ConvNormPReLU(skip, skip, dilation))
            )
            channels = skip
        self.head = nn.Conv3d(channels, out_channels, kernel_size=1)
        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        multiple = 2 ** (len(self.encoder) - 1)
        if x.ndim != 5 or any(size % multiple for size in x.shape[2:]):
            raise ValueError(f"expected (B, C, D, H, W) with D, H, W multiples of {multiple}, got {tuple(x.shape)}")
        skips = []
        for index, block in enumerate(self.encoder):
            x = block(x if index == 0 else self.pool(x))
            skips.append(x)
        for block, skip in zip(self.decoder, reversed(skips[:-1]), strict=True):
            x = block(torch.cat([skip, self.upsample(x)], dim=1))
        return self.head(x)
