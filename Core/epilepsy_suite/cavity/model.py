"""The resection-cavity network: a light, dilated 3D U-Net (thesis section 4.3.2), as published by resseg.

Two down- and two up-sampling blocks, trilinear upsampling, a quarter of the original 3D
U-Net's filters (8 in the first layer, doubled by the second convolution of each level as in
3D U-Net), batch norm + PReLU, He initialisation. Convolutions followed by batch norm carry no
bias; the first convolution has no batch norm. 246,156 trainable parameters for 1 input and 2
output channels.

Two architecture versions exist, with the same parameters (a checkpoint records its version):

- **2** (current, resseg's published network, ``../shared/data/resseg/README.md``): the dilation
  doubles per level (encoder 1, 2, bottom 4; decoder 4, 2; an 88-voxel receptive field), and
  every 3x3x3 convolution pads by replicating the border except the second convolution of each
  encoder block and of the bottom block, which pads with zeros.
- **1** (this project's first version): dilation +1 per level (1, 2, bottom 3; decoder 2, 1) and
  zero padding everywhere. Kept so that checkpoints trained with it still load.
"""

from __future__ import annotations

import torch
from torch import nn

ARCHITECTURE_VERSION = 2
ARCHITECTURE_VERSIONS = (1, 2)


class ConvNormPReLU(nn.Sequential):
    """3x3x3 (dilated, same-size) convolution, optional batch norm, PReLU.

    Args:
        padding_mode: ``"zeros"`` or ``"replicate"`` (torch's ``Conv3d`` padding modes).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        dilation: int = 1,
        normalise: bool = True,
        padding_mode: str = "zeros",
    ):
        layers: list[nn.Module] = [
            nn.Conv3d(
                in_channels,
                out_channels,
                3,
                padding=dilation,
                dilation=dilation,
                bias=not normalise,
                padding_mode=padding_mode,
            )
        ]
        if normalise:
            layers.append(nn.BatchNorm3d(out_channels))
        layers.append(nn.PReLU())
        super().__init__(*layers)


def _encoder_dilation(level: int, version: int) -> int:
    return 2**level if version == 2 else level + 1


def _decoder_dilation(level: int, version: int) -> int:
    """Dilation of the decoding block that returns to resolution ``level`` (0 = full)."""
    return 2 ** (level + 1) if version == 2 else level + 1


class CavityUNet(nn.Module):
    """Dilated 3D U-Net: input (B, in_channels, X, Y, Z) with X, Y, Z multiples of 4; output logits.

    Args:
        in_channels: image channels (1: T1).
        out_channels: classes (2: background, cavity; the cavity is channel 1).
        first_channels: filters of the first convolution (8 = a quarter of 3D U-Net's 32).
        levels: resolution levels (3 = two down- and two up-sampling blocks).
        architecture: 2 (resseg's published network, the default) or 1 (see the module docstring).
        spacing_mm: the voxel size (mm) of the images the network was trained on, so that inference
            resamples to it (resseg's network: 1 mm); ``None``: predict on the input's own grid.

    Raises:
        ValueError: ``levels`` < 2 or an unknown ``architecture``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 2,
        first_channels: int = 8,
        levels: int = 3,
        architecture: int = ARCHITECTURE_VERSION,
        spacing_mm: float | None = None,
    ):
        super().__init__()
        if levels < 2:
            raise ValueError("levels must be at least 2")
        if spacing_mm is not None and not spacing_mm > 0:
            raise ValueError(f"spacing_mm must be positive, not {spacing_mm}")
        if architecture not in ARCHITECTURE_VERSIONS:
            raise ValueError(f"architecture must be one of {ARCHITECTURE_VERSIONS}, not {architecture}")
        self.config = {
            "in_channels": in_channels,
            "out_channels": out_channels,
            "first_channels": first_channels,
            "levels": levels,
            "architecture": architecture,
            "spacing_mm": None if spacing_mm is None else float(spacing_mm),
        }
        self.spacing_mm = self.config["spacing_mm"]
        outer = "replicate" if architecture == 2 else "zeros"
        self.encoder = nn.ModuleList()
        channels, width = in_channels, first_channels
        skip_channels = []
        for level in range(levels):
            dilation = _encoder_dilation(level, architecture)
            block = nn.Sequential(
                ConvNormPReLU(channels, width, dilation, normalise=level > 0, padding_mode=outer),
                ConvNormPReLU(width, 2 * width, dilation, padding_mode="zeros"),
            )
            self.encoder.append(block)
            channels = 2 * width
            skip_channels.append(channels)
            width = channels
        self.pool = nn.MaxPool3d(2)
        self.upsample = nn.Upsample(scale_factor=2, mode="trilinear", align_corners=False)
        self.decoder = nn.ModuleList()
        for level in reversed(range(levels - 1)):
            dilation = _decoder_dilation(level, architecture)
            skip = skip_channels[level]
            self.decoder.append(
                nn.Sequential(
                    ConvNormPReLU(channels + skip, skip, dilation, padding_mode=outer),
                    ConvNormPReLU(skip, skip, dilation, padding_mode=outer),
                )
            )
            channels = skip
        self.head = nn.Conv3d(channels, out_channels, kernel_size=1)
        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    @property
    def shape_multiple(self) -> int:
        """Spatial sizes must be multiples of this (one halving per down-sampling block)."""
        return 2 ** (len(self.encoder) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        multiple = self.shape_multiple
        if x.ndim != 5 or any(size % multiple for size in x.shape[2:]):
            raise ValueError(f"expected (B, C, X, Y, Z) with X, Y, Z multiples of {multiple}, got {tuple(x.shape)}")
        skips = []
        for index, block in enumerate(self.encoder):
            x = block(x if index == 0 else self.pool(x))
            skips.append(x)
        for block, skip in zip(self.decoder, reversed(skips[:-1]), strict=True):
            x = block(torch.cat([skip, self.upsample(x)], dim=1))
        return self.head(x)
