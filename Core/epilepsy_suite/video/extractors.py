"""Snippet feature extractors: R(2+1)D video networks with torchvision's ``VideoResNet`` naming.

Two architectures, written here so that no torchvision is needed:

* ``r2plus1d_34``: 34 layers ``[3, 4, 6, 3]`` in the original Caffe2 layout of the published
  IG-65M / Kinetics checkpoints (8- and 32-frame inputs): the second (2+1)D convolution of the
  first block of layers 2, 3 and 4 has 288, 576 and 1152 middle channels; batch norm
  ``eps = 1e-3``, ``momentum = 0.9``.
* ``r2plus1d_18``: torchvision's ``r2plus1d_18`` (``[2, 2, 2, 2]``, torchvision's middle-channel
  formula, default batch norm).

State-dict keys, shared with torchvision and with the published checkpoints, are
``stem.{0,1,3,4}.*``, ``layer{1-4}.{block}.conv{1,2}.0.{0,1,3}.*`` (the (2+1)D convolution:
spatial conv, batch norm, temporal conv), ``layer{1-4}.{block}.conv{1,2}.1.*`` (batch norm after
it), ``layer{2-4}.0.downsample.{0,1}.*`` and ``fc.*``. A checkpoint may be a plain state dict or a
dict holding it under ``state_dict`` or ``model``; ``module.`` prefixes (DataParallel) are
removed and ``fc.*`` is ignored, since only the 512 pooled features are used.

The published R(2+1)D-34 files for 8- and 32-frame clips have identical tensor shapes; only
their names tell them apart (moabitcoin/ig65m-pytorch release files
``r2plus1d_34_clip8_ig65m_from_scratch-*.pth``, ``r2plus1d_34_clip32_ig65m_from_scratch-*.pth``,
``r2plus1d_34_clip8_ft_kinetics_from_ig65m-*.pth``, ``r2plus1d_34_clip32_ft_kinetics_from_ig65m-*.pth``).
:func:`weights_clip_frames` reads that name, :func:`extractor_for_weights` picks the matching
extractor, and :func:`load_extractor` refuses a file whose name says the other clip length.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from os import PathLike
from pathlib import Path

import torch
from torch import nn

from ..errors import InputError

FEATURES = 512
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)


class Conv2Plus1D(nn.Sequential):
    """Spatial ``1x3x3`` convolution, batch norm, ReLU, temporal ``3x1x1`` convolution."""

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int, stride: int = 1) -> None:
        super().__init__(
            nn.Conv3d(in_channels, mid_channels, (1, 3, 3), (1, stride, stride), (0, 1, 1), bias=False),
            nn.BatchNorm3d(mid_channels),
            nn.ReLU(inplace=True),
            nn.Conv3d(mid_channels, out_channels, (3, 1, 1), (stride, 1, 1), (1, 0, 0), bias=False),
        )


def _mid_channels(in_channels: int, out_channels: int) -> int:
    # Same number of parameters as a full 3x3x3 convolution.
    return (in_channels * out_channels * 27) // (in_channels * 9 + 3 * out_channels)


class BasicBlock(nn.Module):
    """Two (2+1)D convolutions with a residual connection."""

    def __init__(self, in_channels: int, channels: int, stride: int, mid_first: int, mid_second: int) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(
            Conv2Plus1D(in_channels, channels, mid_first, stride), nn.BatchNorm3d(channels), nn.ReLU(inplace=True)
        )
        self.conv2 = nn.Sequential(Conv2Plus1D(channels, channels, mid_second), nn.BatchNorm3d(channels))
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(
                nn.Conv3d(in_channels, channels, 1, stride=stride, bias=False), nn.BatchNorm3d(channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv2(self.conv1(x)) + shortcut)


class R2Plus1DNet(nn.Module):
    """R(2+1)D network. Input ``(B, 3, frames, H, W)``; ``features`` gives ``(B, 512)``.

    Args:
        layers: blocks in each of the four stages.
        caffe2_layout: middle channels of the published Caffe2 checkpoints (see the module doc).
        classes: outputs of ``fc`` (kept only so that checkpoints load whole).
    """

    def __init__(self, layers: tuple[int, int, int, int], caffe2_layout: bool, classes: int = 400) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv3d(3, 45, (1, 7, 7), (1, 2, 2), (0, 3, 3), bias=False),
            nn.BatchNorm3d(45),
            nn.ReLU(inplace=True),
            nn.Conv3d(45, 64, (3, 1, 1), (1, 1, 1), (1, 0, 0), bias=False),
            nn.BatchNorm3d(64),
            nn.ReLU(inplace=True),
        )
        in_channels = 64
        for stage, (blocks, channels) in enumerate(zip(layers, (64, 128, 256, 512), strict=True), start=1):
            stride = 1 if stage == 1 else 2
            modules = []
            for index in range(blocks):
                block_in = in_channels if index == 0 else channels
                # torchvision uses one middle width per block, from the block's input channels.
                mid = _mid_channels(block_in, channels)
                mid_second = _mid_channels(channels, channels) if caffe2_layout else mid
                modules.append(BasicBlock(block_in, channels, stride if index == 0 else 1, mid, mid_second))
            setattr(self, f"layer{stage}", nn.Sequential(*modules))
            in_channels = channels
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.fc = nn.Linear(FEATURES, classes)
        if caffe2_layout:
            for module in self.modules():
                if isinstance(module, nn.BatchNorm3d):
                    module.eps, module.momentum = 1e-3, 0.9
        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = stage(x)
        return self.avgpool(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


ARCHITECTURES = {
    "r2plus1d_34": lambda: R2Plus1DNet((3, 4, 6, 3), caffe2_layout=True),
    "r2plus1d_18": lambda: R2Plus1DNet((2, 2, 2, 2), caffe2_layout=False),
}


@dataclass(frozen=True)
class ExtractorSpec:
    """What a feature extractor is: architecture, frames per snippet, input side, normalisation."""

    architecture: str
    frames: int
    side: int = 112
    mean: tuple[float, float, float] = KINETICS_MEAN
    std: tuple[float, float, float] = KINETICS_STD

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise InputError("feature extractor", f"unknown architecture {self.architecture!r}; "
                             f"choose one of {', '.join(ARCHITECTURES)}")  # fmt: skip
        if self.frames < 1 or self.side < 16:
            raise InputError("feature extractor", f"frames ({self.frames}) and side ({self.side}) are too small")


EXTRACTORS = {
    "r2plus1d_34_8": ExtractorSpec("r2plus1d_34", 8),
    "r2plus1d_34_32": ExtractorSpec("r2plus1d_34", 32),
    "r2plus1d_18": ExtractorSpec("r2plus1d_18", 16),
}


@dataclass
class FeatureExtractor:
    """A frozen network with its spec and a name that identifies the weights (for caches)."""

    name: str
    spec: ExtractorSpec
    network: R2Plus1DNet
    weights_id: str
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def identifier(self) -> str:
        """``<name>-<frames>f-<side>px-<weights>``: changes whenever the features would."""
        return f"{self.name}-{self.spec.frames}f-{self.spec.side}px-{self.weights_id}"

    def prepare(self, snippets: torch.Tensor) -> torch.Tensor:
        """uint8 ``(B, frames, S, S, 3)`` -> normalised float ``(B, 3, frames, side, side)``."""
        batch, frames, height, width, _ = snippets.shape
        x = snippets.to(self.device).permute(0, 1, 4, 2, 3).reshape(batch * frames, 3, height, width).float() / 255
        if (height, width) != (self.spec.side, self.spec.side):
            x = nn.functional.interpolate(
                x, (self.spec.side,) * 2, mode="bilinear", antialias=True, align_corners=False
            )
        mean = torch.tensor(self.spec.mean, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(self.spec.std, device=self.device).view(1, 3, 1, 1)
        x = (x - mean) / std
        return x.reshape(batch, frames, 3, self.spec.side, self.spec.side).transpose(1, 2).contiguous()

    @torch.inference_mode()
    def __call__(self, snippets: torch.Tensor) -> torch.Tensor:
        """Features ``(B, 512)`` float32 of uint8 snippets ``(B, frames, S, S, 3)``."""
        return self.network.features(self.prepare(snippets)).float().cpu()


_CLIP_PATTERN = re.compile(r"(?:^|[^a-z0-9])clip[_-]?(\d+)(?![0-9])", re.IGNORECASE)


def weights_clip_frames(path: str | PathLike[str]) -> int | None:
    """Frames per clip that a weights file's name states (``...clip8...`` -> 8), or None."""
    match = _CLIP_PATTERN.search(Path(path).name)
    return int(match.group(1)) if match else None


def extractor_for_weights(path: str | PathLike[str]) -> str | None:
    """The extractor (:data:`EXTRACTORS` name) a published R(2+1)D-34 file is for, from its
    name: ``r2plus1d_34_clip32_...pth`` -> ``"r2plus1d_34_32"``; None when the name does not say."""
    frames = weights_clip_frames(path)
    name = f"r2plus1d_34_{frames}"
    return name if frames is not None and name in EXTRACTORS else None


def check_weights_name(path: str | PathLike[str], name: str, model: str | PathLike[str] | None = None) -> None:
    """Refuse an R(2+1)D-34 weights file whose name states another clip length than extractor ``name``.

    The 8- and 32-frame files have the same tensor shapes, so the name is the only evidence.
    ``model``: the GESTURES checkpoint that fixed the extractor (the hint then asks for the
    other file rather than the other extractor).

    Raises:
        InputError: naming ``path``, the two clip lengths and what to do.
    """
    spec = EXTRACTORS.get(name)
    frames = weights_clip_frames(path)
    if spec is None or spec.architecture != "r2plus1d_34" or frames is None or frames == spec.frames:
        return
    what = f"is {'an' if frames == 8 else 'a'} {frames}-frame (clip{frames}) R(2+1)D-34 file"
    if model is None:
        other = extractor_for_weights(path)
        choose = f"choose {other} or " if other else ""
        raise InputError(path, f"{what} but the {spec.frames}-frame extractor was chosen ({name}): "
                         f"{choose}give the clip{spec.frames} file")  # fmt: skip
    raise InputError(path, f"{what} but the model {Path(model).name} was trained on {spec.frames}-frame features "
                     f"({name}): give the clip{spec.frames} file")  # fmt: skip


def _state_dict_of(payload: object, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(payload, dict):
        for key in ("state_dict", "model"):
            if isinstance(payload.get(key), dict):
                payload = payload[key]
                break
    if not isinstance(payload, dict) or not all(isinstance(v, torch.Tensor) for v in payload.values()):
        raise InputError(path, "holds no state dict (a mapping of parameter names to tensors)")
    return {key.removeprefix("module."): value for key, value in payload.items()}


def load_extractor(
    name: str,
    weights: str | PathLike[str] | None,
    device: torch.device | str = "cpu",
    seed: int = 0,
    side: int | None = None,
    model: str | PathLike[str] | None = None,
) -> FeatureExtractor:
    """The extractor ``name`` (see :data:`EXTRACTORS`) with the weights of file ``weights``.

    ``weights=None`` gives a randomly initialised network (seeded): its features only serve
    tests, smoke runs and the synthetic experiments, never clinical use. ``side`` overrides the
    input size (112 px): smaller inputs trade accuracy for speed on a CPU. ``model``: the
    GESTURES checkpoint that fixed ``name`` (only used in error messages).

    Raises:
        InputError: unknown name, unreadable file, a whole pickled model instead of a state dict,
            an R(2+1)D-34 file named for the other clip length (``clip8`` / ``clip32``, see
            :func:`check_weights_name`), or weights that do not fit the architecture (the
            message lists missing and unexpected keys).
    """
    if name not in EXTRACTORS:
        raise InputError("feature extractor", f"unknown extractor {name!r}; choose one of {', '.join(EXTRACTORS)}")
    spec = EXTRACTORS[name] if side is None else replace(EXTRACTORS[name], side=side)
    if weights is not None and Path(weights).is_file():
        check_weights_name(weights, name, model)  # before building the network: the name is enough
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = ARCHITECTURES[spec.architecture]()
    if weights is None:
        weights_id = f"random{seed}"
    else:
        from ..checkpoints import read_checkpoint

        path = Path(weights)
        payload = read_checkpoint(path, "the feature extractor weights file does not exist", weights_only=True)
        state = {key: value for key, value in _state_dict_of(payload, path).items() if not key.startswith("fc.")}
        try:
            result = network.load_state_dict(state, strict=False)
        except RuntimeError as error:
            shapes = [line.strip() for line in str(error).splitlines() if "size mismatch" in line]
            raise InputError(path, f"weights do not fit {name}: {len(shapes)} tensor(s) of another shape, "
                             f"e.g. {shapes[0] if shapes else error}")  from None  # fmt: skip
        missing = [key for key in result.missing_keys if not key.startswith("fc.")]
        if missing or result.unexpected_keys:
            raise InputError(path, f"weights do not fit {name}: {len(missing)} missing key(s) "
                             f"{missing[:3]}, {len(result.unexpected_keys)} unexpected {result.unexpected_keys[:3]}")  # fmt: skip
        weights_id = _file_digest(path)
    device = torch.device(device)
    network = network.to(device).eval().requires_grad_(False)
    return FeatureExtractor(name, spec, network, weights_id, device)


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:12]
