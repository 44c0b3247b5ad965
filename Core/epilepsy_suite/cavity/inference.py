"""Cavity prediction on a postoperative T1, with test-time-augmentation uncertainty (thesis 4.2.1.3)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch
import torchio as tio
from scipy import ndimage

from ..errors import InputError
from ..geometry import sitk_to_torchio, torchio_to_sitk
from ..progress import CancelToken
from .augmentation import SHAPE_MULTIPLE, preprocessing, tta_transform
from .model import CavityUNet

LOG = logging.getLogger(__name__)


def load_cavity_model(
    path: str | os.PathLike[str], device: torch.device | str = "cpu"
) -> tuple[CavityUNet, np.ndarray | None]:
    """The U-Net and the histogram landmarks of a checkpoint written by ``cavity train``.

    Raises:
        InputError: the file is missing, not a torch checkpoint, or not a cavity U-Net checkpoint.
    """
    from ..checkpoints import load_weights, read_checkpoint
    from .training import CHECKPOINT_FORMAT

    path = Path(path) if path else Path("")
    missing = "the cavity model file does not exist (train one with `cavity train`)"
    payload = read_checkpoint(path, missing, CHECKPOINT_FORMAT, kind="cavity U-Net checkpoint")
    model = CavityUNet(**payload["config"])
    load_weights(model, payload["state_dict"], path, "cavity U-Net")
    landmarks = payload.get("landmarks")
    return model.to(device).eval(), None if landmarks is None else np.asarray(landmarks)


@dataclass
class CavityPrediction:
    """Outputs on the input's grid: ``probability`` (float32), ``mask`` (uint8), and with TTA the
    voxel-wise ``std``, the soft volumes (mL) of each TTA prediction and their CQV ``uncertainty``."""

    probability: sitk.Image
    mask: sitk.Image
    volume_ml: float
    std: sitk.Image | None = None
    soft_volumes_ml: list[float] = field(default_factory=list)
    uncertainty: float | None = None


def coefficient_of_quartile_variation(values) -> float:
    """(q3 - q1) / (q3 + q1) of the soft volumes (0 when both quartiles are 0)."""
    q1, q3 = np.percentile(np.asarray(values, dtype=np.float64), [25, 75])
    return float((q3 - q1) / (q3 + q1)) if q3 + q1 > 0 else 0.0


def largest_component(mask: np.ndarray) -> np.ndarray:
    labels, count = ndimage.label(mask)
    if count <= 1:
        return mask.astype(bool)
    sizes = np.bincount(labels.ravel())[1:]
    return labels == (int(np.argmax(sizes)) + 1)


@torch.no_grad()
def _forward(model: CavityUNet, tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Cavity probability (X, Y, Z) of a preprocessed (1, X, Y, Z) tensor; pads to a multiple of 4."""
    shape = tensor.shape[1:]
    padded = [int(np.ceil(size / SHAPE_MULTIPLE) * SHAPE_MULTIPLE) for size in shape]
    pad = []
    for size, target in zip(reversed(shape), reversed(padded), strict=True):
        pad += [0, target - size]
    batch = torch.nn.functional.pad(tensor[None].float(), pad, mode="replicate").to(device)
    probability = torch.softmax(model(batch).float(), dim=1)[0, 1]
    return probability[: shape[0], : shape[1], : shape[2]].cpu()


def predict_cavity(
    model: CavityUNet,
    image: sitk.Image,
    landmarks: np.ndarray | None,
    device: torch.device | str = "cpu",
    tta_iterations: int = 0,
    threshold: float = 0.5,
    keep_largest_component: bool = False,
    seed: int = 0,
    progress: Callable[[float, str], None] | None = None,
    cancel: CancelToken | None = None,
) -> CavityPrediction:
    """Segment the cavity of a postoperative T1 (any grid; outputs on that grid).

    With ``tta_iterations`` = n > 0 the probability is the mean of n predictions of randomly
    transformed copies, each mapped back to the input space (intensity + invertible spatial
    transforms); ``std`` is their voxel-wise standard deviation and ``uncertainty`` the CQV of
    their soft volumes.
    """
    if tta_iterations < 0:
        raise InputError("TTA iterations", f"must be 0 or more, not {tta_iterations}")
    device = torch.device(device)
    model = model.to(device).eval()
    converted = sitk_to_torchio(image)
    if converted.data.shape[0] != 1:
        raise InputError("postoperative T1", f"expected one channel, got {converted.data.shape[0]}")
    affine = converted.affine
    subject = tio.Subject(image=tio.ScalarImage(tensor=converted.data.float(), affine=affine))
    subject = tio.Compose(preprocessing(landmarks))(subject)
    voxel_ml = float(np.prod(image.GetSpacing())) / 1000.0
    if tta_iterations == 0:
        probability = _forward(model, subject["image"].data, device).numpy()
        samples = None
    else:
        torch.manual_seed(seed)
        samples = []
        for index in range(tta_iterations):
            if cancel is not None:
                cancel.raise_if_cancelled()
            transformed = tta_transform()(subject)
            predicted = _forward(model, transformed["image"].data, device)
            samples.append(tta_inverse(transformed, predicted))
            if progress is not None:
                progress((index + 1) / tta_iterations, f"test-time augmentation {index + 1}/{tta_iterations}")
        stack = np.stack(samples)
        probability = stack.mean(axis=0)
    mask = probability >= threshold
    if keep_largest_component:
        mask = largest_component(mask)

    def to_image(array: np.ndarray, pixel) -> sitk.Image:
        return sitk.Cast(torchio_to_sitk(torch.from_numpy(array[None].astype(np.float32)), affine), pixel)

    result = CavityPrediction(
        probability=to_image(probability, sitk.sitkFloat32),
        mask=to_image(mask.astype(np.float32), sitk.sitkUInt8),
        volume_ml=float(mask.sum()) * voxel_ml,
    )
    for output in (result.probability, result.mask):
        output.CopyInformation(image)
    if samples is not None:
        result.std = to_image(stack.std(axis=0), sitk.sitkFloat32)
        result.std.CopyInformation(image)
        result.soft_volumes_ml = [float(sample.sum()) * voxel_ml for sample in samples]
        result.uncertainty = coefficient_of_quartile_variation(result.soft_volumes_ml)
    return result


def tta_inverse(transformed: tio.Subject, probability: torch.Tensor) -> np.ndarray:
    """Map a probability predicted on a TTA-transformed subject back to the original space.

    Intensity transforms are dropped; the spatial ones are inverted with linear interpolation (the
    forward pass used B-splines), so probabilities stay within [0, 1].
    """
    inverse = transformed.get_inverse_transform(ignore_intensity=True)
    for transform in inverse:
        if isinstance(transform, tio.Affine):
            transform.image_interpolation = "linear"
    carrier = tio.Subject(image=tio.ScalarImage(tensor=probability[None].float(), affine=transformed["image"].affine))
    restored = inverse(carrier)["image"].data[0].numpy()
    return np.clip(restored, 0.0, 1.0)


def pseudo_label(
    model: CavityUNet,
    image: sitk.Image,
    landmarks: np.ndarray | None,
    iterations: int = 50,
    max_uncertainty: float = 0.2,
    device: torch.device | str = "cpu",
) -> tuple[sitk.Image | None, float]:
    """Binary pseudo-label of an unlabelled postoperative image, or ``None`` when its CQV is too high."""
    prediction = predict_cavity(model, image, landmarks, device, tta_iterations=iterations)
    assert prediction.uncertainty is not None
    keep = prediction.uncertainty < max_uncertainty and prediction.volume_ml > 0
    return (prediction.mask if keep else None), prediction.uncertainty
