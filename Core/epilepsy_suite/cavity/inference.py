"""Cavity prediction on a postoperative T1, with test-time-augmentation uncertainty (thesis 4.2.1.3)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk
import torch
import torchio as tio
from scipy import ndimage

from ..data import mni_template
from ..errors import InputError
from ..geometry import sitk_to_torchio, torchio_to_sitk
from ..progress import CancelToken
from ..registration import register_affine
from .augmentation import preprocessing, tta_transform
from .model import CavityUNet

LOG = logging.getLogger(__name__)


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


SPACING_TOLERANCE_MM = 0.1  # resseg resamples only when a spacing differs from 1 mm by more than this
CROP_MULTIPLE = 8  # resseg crops every axis to a multiple of 8 before the forward pass
TTA_MODES = ("published", "thesis")


@dataclass(frozen=True)
class NetworkGrid:
    """Where the network sees the image: the input reoriented to RAS+ (canonical), resampled to
    1 mm when needed, or resampled into a template space through ``to_image`` (template points ->
    image points, as a SimpleITK registration of the image to the template returns)."""

    template: sitk.Image | None = None
    to_image: sitk.Transform | None = None

    def __post_init__(self) -> None:
        if (self.template is None) != (self.to_image is None):
            raise ValueError("a template grid needs both the template and the transform")


def template_grid(image: sitk.Image, seed: int = 0) -> NetworkGrid:
    """The MNI template grid (1 mm) and the affine registration of ``image`` to the template.

    resseg recommends predicting in MNI space; the postoperative T1 usually keeps its skull, so
    the metric is taken inside the (skull-stripped) template's brain only.

    Raises:
        InputError: the registration cannot run (see :func:`registration.register_affine`).
    """
    template = mni_template()
    transform = register_affine(template, image, seed, fixed_mask=sitk.Cast(template > 0, sitk.sitkUInt8))
    return NetworkGrid(template, transform)


def network_input(
    image: sitk.Image,
    landmarks: np.ndarray | None,
    grid: NetworkGrid = NetworkGrid(),
    spacing_mm: float | None = 1.0,
) -> tuple[tio.ScalarImage, tuple[slice, slice, slice]]:
    """The preprocessed image on the network's grid (uncropped), and the crop the network sees.

    resseg's published order: canonical RAS+ orientation, histogram standardisation (when
    ``landmarks`` are given), z-normalisation over the voxels above the mean, then B-spline
    resampling (to ``spacing_mm``, 1 mm for resseg's network, when any spacing differs from it by
    more than 0.1 mm, or onto ``grid.template``); the crop trims every axis to a multiple of 8
    (centred, by TorchIO's rule).
    """
    converted = sitk_to_torchio(image)
    if converted.data.shape[0] != 1:
        raise InputError("postoperative T1", f"expected one channel, got {converted.data.shape[0]}")
    subject = tio.Subject(image=tio.ScalarImage(tensor=converted.data.float(), affine=converted.affine))
    steps: list[tio.Transform] = [tio.ToCanonical(), *preprocessing(landmarks)]
    spacing = np.asarray(image.GetSpacing())
    off_grid = spacing_mm is not None and bool(np.any(np.abs(spacing - spacing_mm) > SPACING_TOLERANCE_MM))
    if grid.template is None and off_grid:
        steps.append(tio.Resample(spacing_mm, image_interpolation="bspline"))
    prepared = tio.Compose(steps)(subject)["image"]
    if grid.template is not None:
        moving = torchio_to_sitk(prepared)
        resampled = sitk.Resample(
            moving, grid.template, grid.to_image, sitk.sitkBSpline, float(prepared.data.min()), sitk.sitkFloat32
        )
        prepared = sitk_to_torchio(resampled)
    shape = prepared.data.shape[1:]
    if any(size < CROP_MULTIPLE for size in shape):
        raise InputError("postoperative T1", f"is too small for the network ({tuple(shape)} voxels)")
    crop = []
    for size in shape:
        excess = size % CROP_MULTIPLE
        start = int(np.ceil(excess / 2))
        crop.append(slice(start, size - (excess - start)))
    return prepared, (crop[0], crop[1], crop[2])


@torch.no_grad()
def _forward(model: CavityUNet, tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Cavity probability (X, Y, Z) of a preprocessed (1, X, Y, Z) tensor whose sizes fit the network."""
    batch = tensor[None].float().to(device)
    with torch.autocast(device.type, dtype=torch.float16, enabled=device.type == "cuda"):
        logits = model(batch)
    return torch.softmax(logits.float(), dim=1)[0, 1].cpu()


def _published_tta() -> tio.Compose:
    """resseg's test-time augmentation: a random flip and a random affine (TorchIO defaults), B-spline."""
    return tio.Compose([tio.RandomFlip(), tio.RandomAffine(image_interpolation="bspline")])


def predict_cavity(
    model: CavityUNet,
    image: sitk.Image,
    landmarks: np.ndarray | None,
    device: torch.device | str = "cpu",
    tta_iterations: int = 0,
    threshold: float = 0.5,
    keep_largest_component: bool = True,
    seed: int = 0,
    progress: Callable[[float, str], None] | None = None,
    cancel: CancelToken | None = None,
    tta_mode: str = "published",
    grid: NetworkGrid = NetworkGrid(),
) -> CavityPrediction:
    """Segment the cavity of a postoperative T1 (any grid and orientation; outputs on that grid).

    resseg's published inference: the image is prepared by :func:`network_input`, the whole
    volume goes through the network once, the cavity probability is thresholded at ``threshold``
    and (by default) only its largest component is kept, on the network's grid; the mask is then
    resampled onto the input grid (nearest neighbour) and the probability too (linear).

    With ``tta_iterations`` = n > 0 the probability is the mean of several predictions, each
    mapped back with the inverse of its spatial transform (linear): ``tta_mode`` ``"published"``
    (resseg) averages the plain prediction and n predictions of randomly flipped and affinely
    transformed copies; ``"thesis"`` (section 4.2.1.3) averages n predictions of copies with random
    intensity and spatial changes. ``std`` is the voxel-wise standard deviation of the
    predictions and ``uncertainty`` the coefficient of quartile variation of their soft volumes.

    Raises:
        InputError: a negative iteration count, an unknown TTA mode, a threshold outside (0, 1),
            an image with several channels or too small for the network.
    """
    if tta_iterations < 0:
        raise InputError("TTA iterations", f"must be 0 or more, not {tta_iterations}")
    if tta_mode not in TTA_MODES:
        raise InputError("TTA mode", f"must be one of {TTA_MODES}, not {tta_mode!r}")
    if not 0.0 < threshold < 1.0:
        raise InputError("threshold", f"must be between 0 and 1, not {threshold}")
    device = torch.device(device)
    model = model.to(device).eval()
    prepared, crop = network_input(image, landmarks, grid, model.spacing_mm)
    cropped_image = tio.ScalarImage(
        tensor=prepared.data[(slice(None), *crop)], affine=_cropped_affine(prepared.affine, crop)
    )
    subject = tio.Subject(image=cropped_image)
    samples: list[np.ndarray] = []
    if tta_iterations == 0 or tta_mode == "published":
        samples.append(_forward(model, subject["image"].data, device).numpy())
    if tta_iterations:
        torch.manual_seed(seed)
        augment = _published_tta() if tta_mode == "published" else tta_transform()
        for index in range(tta_iterations):
            if cancel is not None:
                cancel.raise_if_cancelled()
            transformed = augment(subject)
            predicted = _forward(model, transformed["image"].data, device)
            samples.append(tta_inverse(transformed, predicted))
            if progress is not None:
                progress((index + 1) / tta_iterations, f"test-time augmentation {index + 1}/{tta_iterations}")
    stack = np.stack(samples)
    cropped = stack.mean(axis=0)
    probability = np.zeros(prepared.data.shape[1:], dtype=np.float32)
    probability[crop] = cropped
    mask = probability >= threshold
    if keep_largest_component:
        mask = largest_component(mask)
    network_affine = prepared.affine
    native_probability = _to_input_grid(probability, network_affine, image, grid, sitk.sitkLinear, sitk.sitkFloat32)
    native_mask = _to_input_grid(mask, network_affine, image, grid, sitk.sitkNearestNeighbor, sitk.sitkUInt8)
    voxel_ml = float(np.prod(image.GetSpacing())) / 1000.0
    result = CavityPrediction(
        probability=native_probability,
        mask=native_mask,
        volume_ml=float(np.count_nonzero(sitk.GetArrayViewFromImage(native_mask))) * voxel_ml,
    )
    if tta_iterations:
        spread = np.zeros_like(probability)
        spread[crop] = stack.std(axis=0)
        result.std = _to_input_grid(spread, network_affine, image, grid, sitk.sitkLinear, sitk.sitkFloat32)
        network_voxel_ml = float(np.prod(prepared.spacing)) / 1000.0
        result.soft_volumes_ml = [float(sample.sum()) * network_voxel_ml for sample in samples]
        result.uncertainty = coefficient_of_quartile_variation(result.soft_volumes_ml)
    return result


def _cropped_affine(affine: np.ndarray, crop: tuple[slice, slice, slice]) -> np.ndarray:
    shifted = np.array(affine, dtype=np.float64)
    shifted[:3, 3] = affine[:3, :3] @ np.array([part.start for part in crop], dtype=np.float64) + affine[:3, 3]
    return shifted


def _to_input_grid(
    array_xyz: np.ndarray, affine: np.ndarray, reference: sitk.Image, grid: NetworkGrid, interpolator: int, pixel: int
) -> sitk.Image:
    """An (x, y, z) array on the network grid (RAS ``affine``) resampled onto ``reference``'s grid."""
    network = torchio_to_sitk(torch.from_numpy(np.ascontiguousarray(array_xyz, dtype=np.float32))[None], affine)
    transform = sitk.Transform() if grid.to_image is None else grid.to_image.GetInverse()
    return sitk.Resample(network, reference, transform, interpolator, 0.0, pixel)


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
    prediction = predict_cavity(model, image, landmarks, device, tta_iterations=iterations, tta_mode="thesis")
    assert prediction.uncertainty is not None
    keep = prediction.uncertainty < max_uncertainty and prediction.volume_ml > 0
    return (prediction.mask if keep else None), prediction.uncertainty


def predict_image(
    image: sitk.Image,
    model: tuple[CavityUNet, dict] | str | os.PathLike[str],
    device: torch.device | str = "auto",
    tta_iterations: int = 0,
    keep_largest_component: bool = True,
    progress: Callable[[float, str], None] | None = None,
    cancel: CancelToken | None = None,
    tta_mode: str = "published",
    register: bool = False,
    threshold: float = 0.5,
) -> CavityPrediction:
    """A postoperative T1 to the cavity prediction on its grid, as ``cavity predict``, the Slicer
    module and the web app run it (also in a background process: arguments and result pickle).

    ``model`` is a loaded ``(model, payload)`` pair or the model file (loaded on ``device``);
    ``register`` predicts on the MNI template's grid after an affine registration.
    """
    from ..device import resolve_device
    from .checkpoint import load_cavity_model

    device = resolve_device(device)
    if isinstance(model, (str, os.PathLike)):
        model = load_cavity_model(model, device)
    network, payload = model
    if progress is not None and register:
        progress(0.0, "registering to the MNI template")
    grid = template_grid(image) if register else NetworkGrid()
    return predict_cavity(
        network, image, payload["landmarks"], device, tta_iterations, threshold, keep_largest_component,
        progress=progress, cancel=cancel, tta_mode=tta_mode, grid=grid,
    )  # fmt: skip
