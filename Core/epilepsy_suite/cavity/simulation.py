"""Resection simulation (thesis section 4.2.2) as TorchIO transforms.

:class:`RandomResection` draws the parameters of one simulated resection and applies a
:class:`Resection`, a deterministic transform recorded in the subject's history (so the
same resection can be reproduced). The work is done on the sub-volume around the cavity:
the voxelised shape, the clipping by the resectable mask, the largest component and the
Gaussian blending never touch the rest of the image.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torchio as tio
from scipy import ndimage
from torchio.transforms.augmentation.random_transform import RandomTransform

from ..data import LabelTable
from ..errors import InputError
from ..geometry import torchio_to_sitk
from .masks import subject_masks
from .shapes import icosphere, rotation_matrix, semiaxes, simplex_displacement, star_radius

SHAPES = ("noisy", "ellipsoid", "cuboid")


class Resection(tio.Transform):
    """Simulate one resection with fixed parameters (see :class:`RandomResection`).

    Args:
        hemisphere: ``"left"`` or ``"right"``.
        volume: target cavity volume in mm^3 (before clipping).
        centre: (x, y, z) voxel index of the cavity centre (a cortical grey-matter voxel).
        ratio: lambda of the semi-axes (r, lambda r, r / lambda).
        angles: rotation about x, y, z in radians.
        noise_offset: offset mu of the simplex noise (3 values).
        sigma: blending Gaussian sigma in mm.
        csf_seed: seed of the CSF texture noise.
        shape: ``noisy`` (perturbed icosphere), ``ellipsoid`` or ``cuboid``.
    """

    def __init__(
        self,
        hemisphere: str,
        volume: float,
        centre: Sequence[int],
        ratio: float,
        angles: Sequence[float],
        noise_offset: Sequence[float],
        sigma: float,
        csf_seed: int,
        shape: str = "noisy",
        frequency: int = 4,
        noise_scale: float = 3.0,
        octaves: int = 4,
        persistence: float = 0.5,
        image_name: str = "image",
        label_name: str = "label",
        parcellation_name: str = "parcellation",
        label_table: LabelTable | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if hemisphere not in ("left", "right"):
            raise ValueError("hemisphere must be 'left' or 'right'")
        if shape not in SHAPES:
            raise ValueError(f"shape must be one of {SHAPES}")
        self.hemisphere, self.volume, self.centre, self.ratio = (
            hemisphere,
            float(volume),
            tuple(int(c) for c in centre),
            float(ratio),
        )
        self.angles, self.noise_offset = tuple(float(a) for a in angles), tuple(float(o) for o in noise_offset)
        self.sigma, self.csf_seed, self.shape = float(sigma), int(csf_seed), shape
        self.frequency, self.noise_scale, self.octaves, self.persistence = frequency, noise_scale, octaves, persistence
        self.image_name, self.label_name, self.parcellation_name = image_name, label_name, parcellation_name
        self.label_table = label_table
        self.args_names = [
            "hemisphere", "volume", "centre", "ratio", "angles", "noise_offset", "sigma", "csf_seed", "shape",
            "frequency", "noise_scale", "octaves", "persistence", "image_name", "label_name", "parcellation_name",
        ]  # fmt: skip

    def apply_transform(self, subject: tio.Subject) -> tio.Subject:
        image = subject[self.image_name]
        masks = masks_of(subject, self.image_name, self.parcellation_name, self.label_table)
        data = image.data[0].numpy()
        index_to_mm = np.asarray(image.affine)[:3, :3]
        label, box, resected = simulate(
            data, index_to_mm, masks.resectable[self.hemisphere], masks.csf_mean, masks.csf_std, self
        )
        tensor = image.data.clone() if image.data.is_floating_point() else image.data.float()
        tensor[0][box] = torch.from_numpy(resected).to(tensor.dtype)
        image.set_data(tensor)
        subject.add_image(tio.LabelMap(tensor=torch.from_numpy(label)[None], affine=image.affine), self.label_name)
        return subject


def masks_of(subject: tio.Subject, image_name: str, parcellation_name: str, table: LabelTable | None):
    image, parcellation = subject[image_name], subject[parcellation_name]
    return subject_masks(
        image.data[0].numpy(),
        parcellation.data[0].numpy(),
        lambda: (torchio_to_sitk(image), torchio_to_sitk(parcellation)),
        table,
    )


def cavity_mask(
    shape: tuple[int, int, int], index_to_mm: np.ndarray, centre: np.ndarray, parameters: Resection
) -> tuple[tuple[slice, ...], np.ndarray]:
    """Voxelise the cavity shape in the smallest box around it.

    ``index_to_mm`` is the 3x3 linear part of the voxel-index -> world (mm) map, ``centre`` the
    (x, y, z) index of the centre. Returns (box slices, bool mask of the box).
    """
    axes = semiaxes(parameters.volume, parameters.ratio)
    rotation = rotation_matrix(np.asarray(parameters.angles)) if parameters.shape != "cuboid" else np.eye(3)
    shape_to_mm = rotation @ np.diag(axes)  # unit frame -> mm
    if parameters.shape == "noisy":
        vertices, faces = icosphere(parameters.frequency)
        displacement = simplex_displacement(
            vertices,
            np.asarray(parameters.noise_offset),
            parameters.noise_scale,
            parameters.octaves,
            parameters.persistence,
        )
        radii = 1.0 + displacement
        # Keep the requested volume: a star-shaped body's volume is 4/3 pi mean(r^3).
        radii = radii / np.cbrt(np.mean(radii**3))
        perturbed = vertices * radii[:, None]
        reach, inner = float(radii.max()), float(radii.min())
    else:
        reach = inner = float(np.sqrt(3.0) if parameters.shape == "cuboid" else 1.0)
    index_to_unit = np.linalg.inv(shape_to_mm) @ index_to_mm  # voxel offsets -> unit frame
    half = np.ceil(np.abs(np.linalg.inv(index_to_unit)).sum(axis=1) * reach).astype(int) + 1
    low = np.maximum(centre - half, 0)
    high = np.minimum(centre + half + 1, shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(low, high, strict=True))
    # Separable: unit(x, y, z) = x * c0 + y * c1 + z * c2.
    ranges = [np.arange(s.start, s.stop, dtype=np.float32) - np.float32(c) for s, c in zip(box, centre, strict=True)]
    columns = index_to_unit.astype(np.float32).T
    unit = (
        ranges[0][:, None, None, None] * columns[0]
        + ranges[1][None, :, None, None] * columns[1]
        + ranges[2][None, None, :, None] * columns[2]
    )
    if parameters.shape == "cuboid":
        return box, (np.abs(unit) <= (np.pi / 6) ** (1 / 3)).all(axis=-1)  # a cube of the ellipsoid's volume
    norm = np.sqrt((unit**2).sum(axis=-1))
    if parameters.shape == "ellipsoid":
        return box, norm <= 1.0
    inside = norm <= inner
    shell = (norm > inner) & (norm <= reach)  # only there does the mesh decide
    points = unit[shell].astype(np.float64)
    inside[shell] = norm[shell] <= star_radius(points / norm[shell][:, None], perturbed, faces, parameters.frequency)
    return box, inside


def simulate(
    intensities: np.ndarray,
    index_to_mm: np.ndarray,
    resectable: np.ndarray,
    csf_mean: float,
    csf_std: float,
    parameters: Resection,
) -> tuple[np.ndarray, tuple[slice, ...], np.ndarray]:
    """Simulate one resection on an (x, y, z) volume.

    Returns the full cavity label (uint8, x y z), the box (slices) that changed and the new
    intensities inside that box.
    """
    centre = np.asarray(parameters.centre)
    box, inside = cavity_mask(intensities.shape, index_to_mm, centre, parameters)
    inside &= resectable[box]
    components, count = ndimage.label(inside)
    if count > 1:
        sizes = np.bincount(components.ravel())
        sizes[0] = 0
        inside = components == sizes.argmax()
    spacing = np.linalg.norm(index_to_mm, axis=0)
    # Blend in a box grown by 3 sigma so that the smooth alpha reaches zero inside it.
    margin = np.ceil(3 * parameters.sigma / spacing).astype(int) + 1
    grown = tuple(
        slice(max(s.start - m, 0), min(s.stop + m, n)) for s, m, n in zip(box, margin, intensities.shape, strict=True)
    )
    label = np.zeros(intensities.shape, dtype=np.uint8)
    label[box] = inside
    alpha = label[grown].astype(np.float32)
    if parameters.sigma > 0:
        alpha = ndimage.gaussian_filter(alpha, parameters.sigma / spacing, truncate=3.0)
    csf = np.random.default_rng(parameters.csf_seed).normal(csf_mean, csf_std, alpha.shape).astype(np.float32)
    original = intensities[grown].astype(np.float32)
    return label, grown, alpha * csf + (1 - alpha) * original


class RandomResection(RandomTransform):
    """Simulate a random resection cavity on a preoperative T1 (thesis section 4.2.2).

    The subject needs a scalar image (``image_name``) and a parcellation label map
    (``parcellation_name``, Neuromorphometrics by default, or pass ``label_table`` for GIF);
    the transform replaces the image by the resected one and adds the cavity label
    (``label_name``).

    Args:
        volumes: (min, max) mm^3 for a uniform draw, or a sequence of observed volumes to
            draw from (default (500, 50000), as ``resector``).
        ratio_range: range of lambda (default (1, 2)).
        sigma_range: range of the blending sigma in mm (default (0.5, 1)).
        shape: ``noisy``, ``ellipsoid`` or ``cuboid``.
        seed: makes the draws reproducible regardless of the global torch seed.
    """

    def __init__(
        self,
        volumes: Sequence[float] = (500, 50000),
        ratio_range: tuple[float, float] = (1.0, 2.0),
        sigma_range: tuple[float, float] = (0.5, 1.0),
        shape: str = "noisy",
        frequency: int = 4,
        noise_scale: float = 3.0,
        octaves: int = 4,
        persistence: float = 0.5,
        image_name: str = "image",
        label_name: str = "label",
        parcellation_name: str = "parcellation",
        label_table: LabelTable | None = None,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if shape not in SHAPES:
            raise ValueError(f"shape must be one of {SHAPES}")
        self.volumes = tuple(float(v) for v in volumes)
        if len(self.volumes) < 2 or min(self.volumes) <= 0:
            raise ValueError("volumes must be a (min, max) range or a list of observed volumes, all positive")
        self.ratio_range, self.sigma_range, self.shape = ratio_range, sigma_range, shape
        self.frequency, self.noise_scale, self.octaves, self.persistence = frequency, noise_scale, octaves, persistence
        self.image_name, self.label_name, self.parcellation_name = image_name, label_name, parcellation_name
        self.label_table = label_table
        self.generator = torch.Generator().manual_seed(seed) if seed is not None else None

    def _uniform(self, low: float, high: float, size: int = 1) -> np.ndarray:
        return (low + (high - low) * torch.rand(size, generator=self.generator)).numpy().astype(np.float64)

    def _integer(self, high: int) -> int:
        return int(torch.randint(high, (1,), generator=self.generator).item())

    def sample_parameters(self, subject: tio.Subject) -> dict[str, object]:
        if self.image_name not in subject or self.parcellation_name not in subject:
            raise InputError(
                "subject", f"resection simulation needs the images {self.image_name!r} and {self.parcellation_name!r}"
            )
        masks = masks_of(subject, self.image_name, self.parcellation_name, self.label_table)
        hemisphere = ("left", "right")[self._integer(2)]
        candidates = np.flatnonzero(masks.grey_matter[hemisphere] & masks.resectable[hemisphere])
        if candidates.size == 0:
            raise InputError("parcellation", f"no resectable cortical grey matter in the {hemisphere} hemisphere")
        x, y, z = np.unravel_index(candidates[self._integer(candidates.size)], masks.grey_matter[hemisphere].shape)
        if len(self.volumes) == 2:
            volume = float(self._uniform(*self.volumes)[0])
        else:
            volume = self.volumes[self._integer(len(self.volumes))]
        return {
            "hemisphere": hemisphere,
            "volume": volume,
            "centre": (int(x), int(y), int(z)),
            "ratio": float(self._uniform(*self.ratio_range)[0]),
            "angles": tuple(self._uniform(0, 2 * np.pi, 3).tolist()),
            "noise_offset": tuple(self._uniform(0, 1000, 3).tolist()),
            "sigma": float(self._uniform(*self.sigma_range)[0]),
            "csf_seed": self._integer(2**31 - 1),
        }

    def apply_transform(self, subject: tio.Subject) -> tio.Subject:
        parameters = self.sample_parameters(subject)
        transform = Resection(
            **parameters,  # type: ignore[arg-type]
            shape=self.shape,
            frequency=self.frequency,
            noise_scale=self.noise_scale,
            octaves=self.octaves,
            persistence=self.persistence,
            image_name=self.image_name,
            label_name=self.label_name,
            parcellation_name=self.parcellation_name,
            label_table=self.label_table,
        )
        return transform(subject)
