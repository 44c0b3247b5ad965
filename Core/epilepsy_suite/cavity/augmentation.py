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
from torchio.transforms.augmentation.random_transform import RandomTransform
from torchio.transforms.spatial_transform import SpatialTransform

from ..errors import InputError
from ..io import write_image
from .config import AUGMENTATION_FAMILIES
from .simulation import RandomResection

SHAPE_MULTIPLE = 4  # two max-poolings
THESIS_CROP = (176, 216, 160)


class RandomPlacedCrop(RandomTransform, SpatialTransform):
    """Crop ``shape`` voxels at a uniformly random position (padding first where the image is smaller).

    A crop centred on the cavity would teach the network that cavities sit in the middle of its
    input; a random position keeps the cavity's place in the crop uninformative. The position is
    drawn from torch's generator, like TorchIO's own random transforms.
    """

    def __init__(self, shape: Sequence[int], **kwargs) -> None:
        super().__init__(**kwargs)
        self.shape = tuple(int(size) for size in shape)

    def apply_transform(self, subject: tio.Subject) -> tio.Subject:
        padded = tuple(max(size, crop) for size, crop in zip(subject.spatial_shape, self.shape, strict=True))
        if padded != tuple(subject.spatial_shape):
            subject = tio.CropOrPad(padded)(subject)
        bounds: list[int] = []
        for size, crop in zip(subject.spatial_shape, self.shape, strict=True):
            start = int(torch.randint(0, size - crop + 1, (1,)))
            bounds += [start, size - crop - start]
        return tio.Crop(tuple(bounds))(subject)


class RandomSliceThickness(RandomTransform):
    """Simulate a thicker-slice acquisition: along one random axis, the scalar images are
    downsampled to a slice thickness drawn in ``thickness`` mm, then resampled back to their grid.

    TorchIO's ``RandomAnisotropy`` draws a factor of the current spacing; the thesis' (1.5, 5) on
    its 1 mm images means slices of 1.5-5 mm, but the same factor on a 3 mm image gives slices
    of up to 15 mm, where a small cavity disappears (issue 16: 17 % of resections fell under a
    contrast-to-noise ratio of 1 at 3 mm). Drawing the thickness in millimetres keeps the
    augmentation what the thesis meant at any spacing; an axis already at least as thick as the
    draw is left as it is.
    """

    def __init__(self, thickness: tuple[float, float] = (1.5, 5.0), **kwargs) -> None:
        super().__init__(**kwargs)
        low, high = (float(value) for value in thickness)
        if not 0 < low <= high:
            raise ValueError(f"thickness must be 0 < low <= high mm, got {thickness}")
        self.thickness = (low, high)

    def apply_transform(self, subject: tio.Subject) -> tio.Subject:
        axis = int(torch.randint(0, 3, (1,)))
        thickness = self.thickness[0] + float(torch.rand(1)) * (self.thickness[1] - self.thickness[0])
        factor = thickness / float(subject.spacing[axis])
        if factor <= 1.0:
            return subject
        return tio.RandomAnisotropy(axes=(axis,), downsampling=(factor, factor))(subject)


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
                image = write_image(image, Path(folder) / f"image{index}.nii.gz")  # checked: ITK ignores a full disk
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
    augmentations: Sequence[str] = AUGMENTATION_FAMILIES,
) -> tio.Compose:
    """The thesis' training pipeline, in its order, with the augmentation families in ``augmentations``.

    1 resection simulation (``simulate``), 2 histogram standardisation, 3 low resolution
    (``resolution``, p 0.75: slices 1.5-5 mm thick or blur), 4-6 ghosting, spike, motion (``artefacts``, p 0.2
    each), 7 bias field (``bias``, p 0.5), 8 foreground z-normalisation, 9 noise (``noise``, p 0.75),
    10 rotation + anisotropic scaling (p 0.9) or elastic deformation (p 0.1) (``spatial``),
    11 left-right flip (``flip``, p 0.5), 12 a crop of ``crop_shape`` at a random position (the thesis
    uses 176 x 216 x 160 on 1 mm MNI-aligned images; ``None``: the whole image) and padding to a
    multiple of 4.
    """
    unknown = sorted(set(augmentations) - set(AUGMENTATION_FAMILIES))
    if unknown:
        raise InputError("augmentations", f"unknown {unknown}; choose from {', '.join(AUGMENTATION_FAMILIES)}")
    chosen = set(augmentations)
    steps: list[tio.Transform] = []
    if simulate:
        steps.append(RandomResection(volumes=volumes, seed=seed))
    if landmarks is not None:
        steps.append(tio.HistogramStandardization({"image": np.asarray(landmarks)}))
    if "resolution" in chosen:
        steps.append(tio.OneOf({RandomSliceThickness(): 0.5, tio.RandomBlur(std=(0, 1.5)): 0.5}, p=0.75))
    if "artefacts" in chosen:
        steps += [
            tio.RandomGhosting(p=0.2),
            tio.RandomSpike(p=0.2, intensity=(0.5, 1)),
            tio.RandomMotion(p=0.2, num_transforms=2),
        ]
    if "bias" in chosen:
        steps.append(tio.RandomBiasField(p=0.5))
    steps.append(tio.ZNormalization(masking_method=above_mean))
    if "noise" in chosen:
        steps.append(tio.RandomNoise(p=0.75, std=(0, 0.1)))
    if "spatial" in chosen:
        steps.append(
            tio.OneOf(
                {
                    tio.RandomAffine(scales=(0.9, 1.2), degrees=15, isotropic=False): 0.9,
                    tio.RandomElasticDeformation(): 0.1,
                }
            )
        )
    if "flip" in chosen:
        steps.append(tio.RandomFlip(axes=("LR",), p=0.5))
    if crop_shape is not None:
        steps.append(RandomPlacedCrop(crop_shape))
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
