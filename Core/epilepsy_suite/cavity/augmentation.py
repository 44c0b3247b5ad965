"""Preprocessing, training augmentation (thesis section 4.3.3.2) and test-time augmentation.

Every pipeline is a TorchIO ``Compose`` acting on a subject with a scalar ``image`` (T1), optionally
a ``label`` (cavity) and a ``parcellation`` (needed by the resection simulation).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch
import torchio as tio

from ..errors import InputError
from .simulation import RandomResection

SHAPE_MULTIPLE = 4  # two max-poolings
THESIS_CROP = (176, 216, 160)


def above_mean(tensor: torch.Tensor) -> torch.Tensor:
    """Foreground for intensity standardisation: voxels brighter than the image mean."""
    return tensor > tensor.float().mean()


def train_landmarks(images: Sequence[sitk.Image | str | os.PathLike[str]]) -> np.ndarray:
    """Histogram standardisation landmarks (Nyul) learnt from the training T1 images."""
    if not images:
        raise InputError("training images", "histogram standardisation needs at least one image")
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for index, image in enumerate(images):
            if isinstance(image, sitk.Image):
                path = Path(folder) / f"image{index}.nii.gz"
                sitk.WriteImage(image, str(path))
                image = path
            paths.append(Path(image))
        return np.asarray(tio.HistogramStandardization.train(paths, masking_function=above_mean, progress=False))


def preprocessing(landmarks: np.ndarray | None) -> list[tio.Transform]:
    """Histogram standardisation (when landmarks are known) and foreground z-normalisation."""
    steps: list[tio.Transform] = []
    if landmarks is not None:
        steps.append(tio.HistogramStandardization({"image": np.asarray(landmarks)}))
    steps.append(tio.ZNormalization(masking_method=above_mean))
    return steps


def training_transform(
    landmarks: np.ndarray | None,
    simulate: bool = True,
    crop_shape: tuple[int, int, int] | None = None,
    volumes: Sequence[float] = (500, 50000),
    seed: int | None = None,
) -> tio.Compose:
    """The thesis' training pipeline, in its order.

    1 resection simulation (``simulate``), 2 histogram standardisation, 3 low resolution (p 0.75:
    anisotropy or blur), 4-6 ghosting, spike, motion (p 0.2 each), 7 bias field (p 0.5), 8 foreground
    z-normalisation, 9 noise (p 0.75), 10 rotation + anisotropic scaling (p 0.9) or elastic
    deformation (p 0.1), 11 left-right flip (p 0.5), 12 crop (``crop_shape``, the thesis uses
    176 x 216 x 160 on 1 mm MNI-aligned images) and padding to a multiple of 4.
    """
    steps: list[tio.Transform] = []
    if simulate:
        steps.append(RandomResection(volumes=volumes, seed=seed))
    if landmarks is not None:
        steps.append(tio.HistogramStandardization({"image": np.asarray(landmarks)}))
    steps += [
        tio.OneOf({tio.RandomAnisotropy(): 0.5, tio.RandomBlur(std=(0, 1.5)): 0.5}, p=0.75),
        tio.RandomGhosting(p=0.2),
        tio.RandomSpike(p=0.2, intensity=(0.5, 1)),
        tio.RandomMotion(p=0.2, num_transforms=2),
        tio.RandomBiasField(p=0.5),
        tio.ZNormalization(masking_method=above_mean),
        tio.RandomNoise(p=0.75, std=(0, 0.1)),
        tio.OneOf(
            {
                tio.RandomAffine(scales=(0.9, 1.2), degrees=15, isotropic=False): 0.9,
                tio.RandomElasticDeformation(): 0.1,
            }
        ),
        tio.RandomFlip(axes=("LR",), p=0.5),
    ]
    if crop_shape is not None:
        steps.append(tio.CropOrPad(crop_shape, mask_name="label" if simulate else None))
    steps.append(tio.EnsureShapeMultiple(SHAPE_MULTIPLE))
    return tio.Compose([step for step in steps if step is not None])


def tta_transform() -> tio.Compose:
    """One random test-time transform: intensity (T_alpha) then invertible spatial (T_beta) changes.

    The spatial part resamples the image with B-splines (tricubic); its inverse is applied to the
    predicted probabilities with linear interpolation (see ``inference.tta_inverse``).
    """
    return tio.Compose(
        [
            tio.RandomBiasField(p=0.5, coefficients=0.3),
            tio.RandomGamma(log_gamma=(-0.2, 0.2)),
            tio.RandomNoise(p=0.5, std=(0, 0.05)),
            tio.RandomAffine(scales=(0.95, 1.05), degrees=5, translation=3, image_interpolation="bspline"),
            tio.RandomFlip(axes=("LR",), p=0.5),
        ]
    )
