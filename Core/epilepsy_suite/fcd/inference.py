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

from ..checkpoints import load_weights, read_checkpoint
from ..errors import InputError
from ..geometry import copy_geometry
from ..progress import CancelToken
from .model import MSDSANet
from .postprocess import PostprocessSettings, postprocess_mask
from .preprocessing import PreparedSubject
from .training import CHECKPOINT_FORMAT

LOG = logging.getLogger(__name__)


def load_model(path: str | os.PathLike[str], device: torch.device | str = "cpu") -> MSDSANet:
    """Load an MS-DSA-Net checkpoint written by training (or a bare state dict of the paper's model).

    Raises:
        InputError: missing or unreadable file, or weights of another architecture.
    """
    path = Path(path)
    payload = read_checkpoint(path, "model file not found")
    if isinstance(payload, dict) and payload.get("format") == CHECKPOINT_FORMAT:
        config, state = payload["config"], payload["state_dict"]
    elif isinstance(payload, dict) and all(isinstance(value, torch.Tensor) for value in payload.values()):
        config, state = {}, payload
    else:
        raise InputError(path, "not an MS-DSA-Net checkpoint (no model weights found)")
    try:
        model = MSDSANet(**config)
    except (TypeError, ValueError) as error:
        raise InputError(path, f"weights do not fit the MS-DSA-Net architecture ({str(error)[:200]})") from None
    load_weights(model, state, path, "MS-DSA-Net architecture")
    return model.to(device).eval()


@dataclass
class Prediction:
    probability: sitk.Image  # float32 FCD probability, in the T1's native geometry
    mask: sitk.Image  # uint8 binary mask after thresholding (and post-processing)


@torch.no_grad()
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
    """FCD probability on the grid of ``t1`` from normalised T1 + FLAIR on that same grid.

    The volume is covered by patches of the model's size (padded where smaller) with
    ``overlap``, blended with ``gaussian`` or ``constant`` weights.
    """
    device = torch.device(device)
    image = np.stack([sitk.GetArrayFromImage(t1), sitk.GetArrayFromImage(flair)]).astype(np.float32)
    tensor = torch.from_numpy(image)[None].to(device)
    size = model.patch_size
    windows = [0]

    def predictor(patch: torch.Tensor) -> torch.Tensor:
        if cancel is not None:
            cancel.raise_if_cancelled()
        windows[0] += patch.shape[0]
        if progress is not None:
            progress(min(windows[0] / max(total, 1), 1.0), f"window {windows[0]} of {total}")
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            return model(patch).float().softmax(dim=1)

    step = max(int(size * (1 - overlap)), 1)
    total = int(np.prod([max(int(np.ceil((max(s, size) - size) / step)) + 1, 1) for s in image.shape[1:]]))
    probability = sliding_window_inference(tensor, (size,) * 3, 1, predictor, overlap=overlap, mode=blend)
    return copy_geometry(probability[0, 1].cpu().numpy().astype(np.float32), t1)


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
