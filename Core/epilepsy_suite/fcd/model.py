"""MS-DSA-Net: a multi-scale U-Net with dual self-attention (DSA) on its deep skips.

Built from MONAI blocks in the configuration of the FCD paper: 2 input channels (T1, FLAIR),
2 output channels (background, FCD), 128^3 patches, feature size 16, which gives exactly
43,524,802 trainable parameters. The token counts of the attention layers are fixed by the
patch size, so a model built for one patch size only accepts that size.
"""

from __future__ import annotations

import torch
from monai.networks.blocks.dynunet_block import UnetOutBlock, UnetResBlock
from monai.networks.blocks.unetr_block import UnetrBasicBlock, UnetrUpBlock
from torch import nn
from torch.nn import functional as F


class DualSelfAttention(nn.Module):
    """Channel and spatial attention sharing one query/key, with separate values.

    Tokens ``x`` of shape (B, N, C). Channel attention: per head, a (d x d) map between the
    L2-normalised query and key (normalised along the tokens), scaled by a learnable
    temperature. Spatial attention: the query against the key projected from N to P tokens
    by a shared linear map, with the second value projected by the same map. The outputs are
    added; there is no output projection.
    """

    def __init__(self, channels: int, tokens: int, projected_tokens: int, heads: int = 4, dropout: float = 0.1):
        super().__init__()
        if channels % heads:
            raise ValueError(f"channels ({channels}) must be divisible by heads ({heads})")
        self.heads = heads
        self.qkvv = nn.Linear(channels, 4 * channels, bias=False)
        self.token_projection = nn.Linear(tokens, projected_tokens, bias=False)  # E = F
        self.channel_temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.spatial_temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.channel_dropout = nn.Dropout(dropout)
        self.spatial_dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, channels = x.shape
        qkvv = self.qkvv(x).reshape(batch, tokens, 4, self.heads, channels // self.heads)
        query, key, value_channel, value_spatial = qkvv.permute(2, 0, 3, 4, 1)  # each (B, h, d, N)
        key_projected = self.token_projection(key)  # (B, h, d, P)
        value_spatial_projected = self.token_projection(value_spatial)
        query = F.normalize(query, dim=-1)
        key = F.normalize(key, dim=-1)

        channel_attention = (query @ key.transpose(-2, -1)) * self.channel_temperature  # (B, h, d, d)
        channel_attention = self.channel_dropout(channel_attention.softmax(dim=-1))
        channel_out = (channel_attention @ value_channel).permute(0, 3, 1, 2).reshape(batch, tokens, channels)

        spatial_attention = (query.transpose(-2, -1) @ key_projected) * self.spatial_temperature  # (B, h, N, P)
        spatial_attention = self.spatial_dropout(spatial_attention.softmax(dim=-1))
        # (B, h, N, d) -> (B, d, h, N) -> (B, N, C): the head-merge order of the published model,
        # needed to load its checkpoints.
        spatial_out = (spatial_attention @ value_spatial_projected.transpose(-2, -1)).permute(0, 3, 1, 2)
        spatial_out = spatial_out.reshape(batch, tokens, channels)
        return channel_out + spatial_out


class DSATransformerBlock(nn.Module):
    """Positional embedding, LayerNorm, DSA with layer-scale residual, then a conv residual unit.

    Input and output (B, C, D, H, W) with D * H * W = ``tokens``.
    """

    def __init__(self, channels: int, tokens: int, projected_tokens: int, heads: int = 4, dropout: float = 0.1):
        super().__init__()
        self.tokens = tokens
        self.position_embedding = nn.Parameter(torch.zeros(1, tokens, channels))
        self.norm = nn.LayerNorm(channels)
        self.attention = DualSelfAttention(channels, tokens, projected_tokens, heads, dropout)
        self.gamma = nn.Parameter(1e-6 * torch.ones(channels))
        self.conv_block = UnetResBlock(3, channels, channels, kernel_size=3, stride=1, norm_name="batch")
        self.conv_out = nn.Sequential(nn.Dropout3d(dropout), nn.Conv3d(channels, channels, kernel_size=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, depth, height, width = x.shape
        if depth * height * width != self.tokens:
            raise ValueError(
                f"this attention block was built for {self.tokens} tokens, got {depth}x{height}x{width}; "
                "the patch size must match the one the model was built with"
            )
        tokens = x.reshape(batch, channels, -1).transpose(1, 2) + self.position_embedding
        tokens = tokens + self.gamma * self.attention(self.norm(tokens))
        skip = tokens.transpose(1, 2).reshape(batch, channels, depth, height, width)
        return skip + self.conv_out(self.conv_block(skip))


class DSAPathway(nn.Module):
    """Halves the channels (1x1x1 conv + GroupNorm), then applies ``depth`` DSA transformer blocks."""

    def __init__(
        self, in_channels: int, tokens: int, projected_tokens: int, depth: int = 3, heads: int = 4, dropout: float = 0.1
    ):
        super().__init__()
        channels = in_channels // 2
        self.reduce = nn.Sequential(
            nn.Conv3d(in_channels, channels, kernel_size=1, bias=False), nn.GroupNorm(channels // 2, channels)
        )
        self.blocks = nn.Sequential(
            *(DSATransformerBlock(channels, tokens, projected_tokens, heads, dropout) for _ in range(depth))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.reduce(x))


class MSDSANet(nn.Module):
    """MS-DSA-Net for FCD segmentation.

    Args:
        in_channels: input channels (2: T1 and FLAIR).
        out_channels: output channels (2: background and FCD logits).
        patch_size: edge of the cubic input patch in voxels (128 in the paper); must be a
            multiple of 32.
        feature_size: channels of the first stage (16); doubled at each of the 6 stages.
        projected_tokens: spatial tokens after the linear reduction (64 in the paper; the
            deepest scale uses half of it).
        depth: transformer blocks per DSA pathway (3).
        heads: attention heads (4).
        dropout: attention and Dropout3d rate (0.1).

    Input (B, in_channels, S, S, S) with S = patch_size; output logits of the same spatial size.
    """

    def __init__(
        self,
        in_channels: int = 2,
        out_channels: int = 2,
        patch_size: int = 128,
        feature_size: int = 16,
        projected_tokens: int = 64,
        depth: int = 3,
        heads: int = 4,
        dropout: float = 0.1,
    ):
        super().__init__()
        if patch_size % 32 or patch_size < 64:
            # 5 poolings; the deepest scale needs more than one voxel for instance norm.
            raise ValueError(f"patch_size must be a multiple of 32 and at least 64, got {patch_size}")
        if feature_size % heads or feature_size < 8:
            raise ValueError(f"feature_size must be >= 8 and divisible by heads ({heads}), got {feature_size}")
        self.config = {
            "in_channels": in_channels,
            "out_channels": out_channels,
            "patch_size": patch_size,
            "feature_size": feature_size,
            "projected_tokens": projected_tokens,
            "depth": depth,
            "heads": heads,
            "dropout": dropout,
        }
        widths = [feature_size * 2**stage for stage in range(6)]
        self.encoder = nn.ModuleList(
            UnetrBasicBlock(
                3,
                in_channels if stage == 0 else widths[stage - 1],
                widths[stage],
                kernel_size=3,
                stride=1,
                norm_name="instance",
                res_block=True,
            )
            for stage in range(6)
        )
        self.pool = nn.MaxPool3d(2)
        self.pathways = nn.ModuleList()
        for stage in range(2, 6):
            edge = patch_size // 2**stage
            projection = projected_tokens if stage < 5 else projected_tokens // 2
            self.pathways.append(DSAPathway(widths[stage], edge**3, min(projection, edge**3), depth, heads, dropout))
        decoder_widths = [widths[5] // 2, widths[4] // 2, widths[3] // 2, widths[2] // 2, widths[1], widths[0]]
        self.decoder = nn.ModuleList(
            UnetrUpBlock(
                3,
                decoder_widths[index],
                decoder_widths[index + 1],
                kernel_size=3,
                upsample_kernel_size=2,
                norm_name="instance",
                res_block=True,
            )
            for index in range(5)
        )
        self.head = UnetOutBlock(3, widths[0], out_channels)
        self.apply(_initialise)

    @property
    def patch_size(self) -> int:
        return self.config["patch_size"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        expected = self.config["patch_size"]
        if x.ndim != 5 or tuple(x.shape[2:]) != (expected,) * 3 or x.shape[1] != self.config["in_channels"]:
            raise ValueError(
                f"expected input (B, {self.config['in_channels']}, {expected}, {expected}, {expected}), got {tuple(x.shape)}"
            )
        features: list[torch.Tensor] = []
        for stage, block in enumerate(self.encoder):
            x = block(x if stage == 0 else self.pool(x))
            features.append(x)
        skips = features[:2] + [pathway(feature) for pathway, feature in zip(self.pathways, features[2:], strict=True)]
        x = skips[5]
        for block, skip in zip(self.decoder, reversed(skips[:5]), strict=True):
            x = block(x, skip)
        return self.head(x)


def _initialise(module: nn.Module) -> None:
    if isinstance(module, (nn.Conv3d, nn.ConvTranspose3d)):
        nn.init.kaiming_normal_(module.weight, nonlinearity="leaky_relu", a=0.01)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.InstanceNorm3d, nn.BatchNorm3d, nn.GroupNorm, nn.LayerNorm)):
        if getattr(module, "weight", None) is not None:
            nn.init.ones_(module.weight)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)


def build_model(config: dict | None = None, **overrides: object) -> MSDSANet:
    """An MS-DSA-Net from a saved ``config`` dict (as in a checkpoint) and keyword overrides."""
    settings = {**(config or {}), **overrides}
    return MSDSANet(**settings)  # type: ignore[arg-type]
