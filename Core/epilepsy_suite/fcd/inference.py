"""Whole-brain inference: checkpoint loading, sliding-window prediction, native-space outputs."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch
from monai.inferers import sliding_window_inference

from ..checkpoints import checkpoint_fields, load_weights, read_checkpoint
from ..errors import InputError
from ..geometry import copy_geometry, from_ras_array
from ..progress import CancelToken
from .model import MSDSANet
from .postprocess import PostprocessSettings, postprocess_mask
from .preprocessing import PreparedSubject, network_input
from .published import (
    from_published_state_dict,
    infer_config,
    is_published_state_dict,
    published_name,
    strip_module_prefix,
)
from .training import CHECKPOINT_FORMAT

LOG = logging.getLogger(__name__)


def load_model(path: str | os.PathLike[str], device: torch.device | str = "cpu") -> MSDSANet:
    """Load MS-DSA-Net weights, in evaluation mode on ``device``.

    Reads, without any conversion step by the user:

    - our checkpoints (written by :func:`~epilepsy_suite.fcd.training.save_checkpoint`, with
      the architecture's configuration);
    - a plain state dict with our parameter names;
    - the authors' published ``model.pth``: a plain state dict with their names, mapped by
      :func:`~epilepsy_suite.fcd.published.from_published_state_dict`.

    Either state dict may carry the ``module.`` prefix of a (Distributed)DataParallel model.
    For plain state dicts the configuration (patch size, widths...) is read off the shapes.

    Raises:
        InputError: missing or unreadable file, or weights of another architecture; the
            one-line message names the file and the first missing or unexpected parameter.
    """
    path = Path(path)
    payload = read_checkpoint(path, "model file not found", weights_only=True)
    shown: Callable[[str], str] = str  # how a parameter is named in messages: as in the file
    if isinstance(payload, dict) and payload.get("format") == CHECKPOINT_FORMAT:
        config, state = checkpoint_fields(payload, path, "MS-DSA-Net checkpoint")
        state = strip_module_prefix(state)
    elif isinstance(payload, dict) and payload and all(isinstance(value, torch.Tensor) for value in payload.values()):
        state = strip_module_prefix(payload)
        if is_published_state_dict(state):
            state, shown = from_published_state_dict(state), published_name
        try:
            config = infer_config(state)
        except KeyError as error:
            found = next(iter(payload))
            raise InputError(
                path, f"not an MS-DSA-Net state dict: no {shown(error.args[0])!r} (its first key is {found!r})"
            ) from None
    else:
        raise InputError(path, "not an MS-DSA-Net checkpoint (no model weights found)")
    try:
        model = MSDSANet(**config)
    except (TypeError, ValueError) as error:
        raise InputError(path, f"weights do not fit the MS-DSA-Net architecture ({str(error)[:200]})") from None
    difference = _first_difference(state, model.state_dict(), shown)
    if difference:
        raise InputError(path, f"weights do not fit the MS-DSA-Net architecture: {difference}")
    load_weights(model, state, path, "MS-DSA-Net architecture")
    return model.to(device).eval()


def _first_difference(state: dict, expected: dict, shown: Callable[[str], str]) -> str:
    """'missing key X' / 'unexpected key Y' for the first name that differs ('' when none does);
    names are given by ``shown`` (the file's own convention)."""
    absent = [key for key in expected if key not in state]
    extra = [key for key in state if key not in expected]
    parts = [f"missing key {shown(absent[0])!r} ({len(absent)} missing)"] if absent else []
    parts += [f"unexpected key {shown(extra[0])!r} ({len(extra)} unexpected)"] if extra else []
    return "; ".join(parts)


@dataclass
class Prediction:
    probability: sitk.Image  # float32 FCD probability, in the T1's native geometry
    mask: sitk.Image  # uint8 binary mask after thresholding (and post-processing)


@torch.no_grad()
def predict_array(
    model: MSDSANet,
    image: np.ndarray,
    device: torch.device | str = "cpu",
    overlap: float = 0.25,
    blend: str = "gaussian",
    progress: Callable[[float, str], None] | None = None,
    cancel: CancelToken | None = None,
) -> np.ndarray:
    """FCD probability (softmax channel 1) of a (C, X, Y, Z) float array in the network's convention.

    The array must be indexed (x, y, z) in RAS+ (see :func:`~epilepsy_suite.geometry.to_ras_array`).
    It is covered by cubic windows of the model's patch size (the volume is padded where
    smaller) with ``overlap``, blended with ``gaussian`` or ``constant`` weights (MONAI's
    sliding-window inference). Returns an (X, Y, Z) float32 array in [0, 1].
    """
    device = torch.device(device)
    if image.ndim != 4 or image.shape[0] != model.config["in_channels"]:
        raise ValueError(f"expected a ({model.config['in_channels']}, X, Y, Z) array, got shape {image.shape}")
    tensor = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None].to(device)
    size = model.patch_size
    step = max(int(size * (1 - overlap)), 1)
    total = int(np.prod([max(int(np.ceil((max(s, size) - size) / step)) + 1, 1) for s in image.shape[1:]]))
    windows = [0]

    def predictor(patch: torch.Tensor) -> torch.Tensor:
        if cancel is not None:
            cancel.raise_if_cancelled()
        windows[0] += patch.shape[0]
        if progress is not None:
            progress(min(windows[0] / max(total, 1), 1.0), f"window {windows[0]} of {total}")
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            return model(patch).float().softmax(dim=1)

    probability = sliding_window_inference(tensor, (size,) * 3, 1, predictor, overlap=overlap, mode=blend)
    return probability[0, 1].cpu().numpy().astype(np.float32)


def predict_probability(
    model: MSDSANet,
    t1: sitk.Image,
    flair: sitk.Image,
    device: torch.device | str = "cpu",
    overlap: float = 0.25,
    blend: str = "gaussian",
    progress: Callable[[float, str], None] | None = None,
    cancel: CancelToken | None = None,
) -> sitk.Image:
    """FCD probability (float32) on the grid of ``t1`` from normalised T1 + FLAIR on that same grid.

    The network sees the images in the authors' convention (:func:`network_input`), so the
    result does not depend on how the images are stored; see :func:`predict_array` for the
    windows and blending.
    """
    image, oriented = network_input(t1, flair)
    probability = predict_array(model, image, device, overlap, blend, progress, cancel)
    return from_ras_array(probability, oriented, t1)


def predict_subject(
    model: MSDSANet,
    subject: PreparedSubject,
    threshold: float = 0.5,
    postprocess: PostprocessSettings | None = PostprocessSettings(),
    device: torch.device | str = "cpu",
    overlap: float = 0.25,
    blend: str = "gaussian",
    progress: Callable[[float, str], None] | None = None,
    cancel: CancelToken | None = None,
) -> Prediction:
    """Probability and mask of a prepared subject, returned in the native T1 geometry."""
    if not 0.0 < threshold < 1.0:
        raise InputError("threshold", f"must be between 0 and 1, got {threshold}")
    probability = predict_probability(model, subject.t1, subject.flair, device, overlap, blend, progress, cancel)
    if subject.to_native is not None:
        # The prepared grid is MNI; bring the map back onto the patient's T1.
        probability = sitk.Resample(
            probability, subject.native_t1, subject.to_native.GetInverse(), sitk.sitkLinear, 0.0
        )
    mask = sitk.GetArrayFromImage(probability) >= threshold
    if postprocess is not None:
        mask = postprocess_mask(mask, postprocess)
    return Prediction(probability, copy_geometry(mask.astype(np.uint8), probability))
