"""Whole-brain inference: sliding-window prediction and native-space outputs (files: :mod:`.checkpoint`)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
import torch
from monai.inferers import sliding_window_inference

from ..errors import InputError
from ..geometry import copy_geometry, from_ras_array
from ..progress import CancelToken
from .model import MSDSANet
from .postprocess import PostprocessSettings, postprocess_mask
from .preprocessing import PreparedSubject, network_input

LOG = logging.getLogger(__name__)


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


def predict_images(
    t1: sitk.Image,
    flair: sitk.Image,
    model: MSDSANet | str | os.PathLike[str],
    device: torch.device | str = "auto",
    threshold: float | None = None,
    postprocess: bool | None = None,
    min_cluster_voxels: int = 50,
    register_to_mni: bool | None = None,
    preprocessing: str = "suite",
    coregister_flair: bool | None = None,
    flair_name: str = "FLAIR",
    progress: Callable[[float, str], None] | None = None,
    cancel: CancelToken | None = None,
) -> Prediction:
    """A T1 + FLAIR pair to the FCD prediction on the T1's grid, as the Slicer module and the web
    app run it (also in a background process: arguments and result pickle).

    ``model`` is a loaded MS-DSA-Net or its file (loaded on ``device``). ``preprocessing`` names
    the preset; ``threshold``, ``postprocess``, ``register_to_mni`` and ``coregister_flair`` left
    at None take the preset's choice.
    """
    from ..device import resolve_device
    from .checkpoint import load_fcd_model
    from .preprocessing import prepare_images
    from .presets import get_preset

    preset = get_preset(preprocessing)
    device = resolve_device(device)
    if not isinstance(model, MSDSANet):
        model, _ = load_fcd_model(model, device)
    subject = prepare_images(
        t1, flair, register_to_mni=register_to_mni, coregister=coregister_flair, flair_name=flair_name, preset=preset
    )
    if postprocess is None:
        postprocess = preset.postprocess
    settings = PostprocessSettings(min_cluster_voxels=min_cluster_voxels) if postprocess else None
    return predict_subject(
        model,
        subject,
        preset.threshold if threshold is None else threshold,
        settings,
        device,
        preset.overlap,
        preset.blend,
        progress=progress,
        cancel=cancel,
    )
