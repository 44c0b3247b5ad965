"""Intensity-based image registration shared by the modules (SimpleITK, nothing downloaded).

Two entry points, rigid (6 degrees of freedom) and affine (12), both maximising Mattes
mutual information (so T1 to T1 template and FLAIR to T1 alike) over three resolution levels.

Both return the transform the way SimpleITK's registration does: it maps a point of the
*fixed* image's physical space (LPS, mm) to the *moving* image's space. So the moving image
on the fixed grid is ``sitk.Resample(moving, fixed, transform)``, and a map computed on the
fixed grid goes back onto the moving grid with ``sitk.Resample(result, moving,
transform.GetInverse())``.

SimpleITK is used rather than ANTsPy: it is already a dependency (and ships inside 3D
Slicer), is maintained by the ITK project, has wheels for every platform and downloads
nothing at run time.
"""

from __future__ import annotations

import SimpleITK as sitk

from .errors import InputError

SHRINK_FACTORS = (4, 2, 1)  # voxels, coarse to fine
SMOOTHING_SIGMAS_MM = (2.0, 1.0, 0.0)
SAMPLING_FRACTION = 0.05  # of the voxels at each level, drawn at random with the seed
MINIMUM_EDGE = 8  # voxels a level must keep along every axis


def register_rigid(
    fixed: sitk.Image, moving: sitk.Image, seed: int = 0, *, fixed_mask: sitk.Image | None = None
) -> sitk.Euler3DTransform:
    """Rigid (rotation + translation) registration of ``moving`` onto ``fixed``.

    Args:
        fixed: 3D scalar image whose physical space the transform starts from.
        moving: 3D scalar image, any grid, spacing or orientation.
        seed: seed of the random metric sampling (same seed, same result).
        fixed_mask: optional binary image (any grid, in the fixed image's space): the metric
            is taken only where it is non-zero, e.g. the brain of a skull-stripped template
            when the moving image still has its skull.

    Returns:
        An ``Euler3DTransform`` mapping fixed-space points (mm) to moving-space points.

    Raises:
        InputError: an argument that is not a non-empty 3D scalar image, or a registration
            that cannot run (e.g. images that do not overlap at all).
    """
    return _register(fixed, moving, sitk.Euler3DTransform(), seed, fixed_mask)  # type: ignore[return-value]


def register_affine(
    fixed: sitk.Image, moving: sitk.Image, seed: int = 0, *, fixed_mask: sitk.Image | None = None
) -> sitk.AffineTransform:
    """Affine (12 degrees of freedom) registration of ``moving`` onto ``fixed``.

    Arguments, errors and the direction of the result as in :func:`register_rigid`;
    returns an ``AffineTransform``.
    """
    return _register(fixed, moving, sitk.AffineTransform(3), seed, fixed_mask)  # type: ignore[return-value]


def _check_image(image: object, name: str) -> None:
    if not isinstance(image, sitk.Image):
        raise InputError(name, f"must be a SimpleITK image, not {type(image).__name__}")
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(
            name,
            f"must be a 3D scalar image (got {image.GetDimension()}D, "
            f"{image.GetNumberOfComponentsPerPixel()} components per voxel)",
        )
    if min(image.GetSize()) < 2:
        raise InputError(name, f"is too small to register ({'x'.join(map(str, image.GetSize()))} voxels)")
    statistics = sitk.StatisticsImageFilter()
    statistics.Execute(image)
    if statistics.GetMaximum() == statistics.GetMinimum():
        raise InputError(name, "is constant: there is nothing to register")


def _levels(fixed: sitk.Image) -> tuple[list[int], list[float]]:
    """Shrink factors (and smoothing) that keep every level at least MINIMUM_EDGE voxels wide."""
    levels = [
        (factor, sigma)
        for factor, sigma in zip(SHRINK_FACTORS, SMOOTHING_SIGMAS_MM, strict=True)
        if min(fixed.GetSize()) // factor >= MINIMUM_EDGE
    ] or [(1, 0.0)]
    return [factor for factor, _ in levels], [sigma for _, sigma in levels]


def _register(
    fixed: sitk.Image, moving: sitk.Image, transform: sitk.Transform, seed: int, fixed_mask: sitk.Image | None
) -> sitk.Transform:
    """Mattes mutual information, moments-centred start, regular-step gradient descent."""
    _check_image(fixed, "fixed image")
    _check_image(moving, "moving image")
    if not isinstance(seed, int) or seed < 0:
        raise InputError("seed", f"must be a non-negative integer, not {seed!r}")
    fixed_f, moving_f = sitk.Cast(fixed, sitk.sitkFloat32), sitk.Cast(moving, sitk.sitkFloat32)
    initial = sitk.CenteredTransformInitializer(
        fixed_f, moving_f, transform, sitk.CenteredTransformInitializerFilter.MOMENTS
    )
    shrink, sigmas = _levels(fixed_f)
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(32)
    method.SetMetricSamplingStrategy(method.RANDOM)
    # SimpleITK reads seed 0 as "seed from the wall clock": shift ours by one so 0 is a real seed.
    method.SetMetricSamplingPercentage(SAMPLING_FRACTION, seed + 1)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(2.0, 1e-4, 200, relaxationFactor=0.5)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel(shrink)
    method.SetSmoothingSigmasPerLevel(sigmas)
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    method.SetInitialTransform(initial, inPlace=False)
    if fixed_mask is not None:
        if not isinstance(fixed_mask, sitk.Image) or fixed_mask.GetDimension() != 3:
            raise InputError("fixed mask", "must be a 3D SimpleITK image")
        method.SetMetricFixedMask(sitk.Cast(fixed_mask != 0, sitk.sitkUInt8))
    try:
        result = method.Execute(fixed_f, moving_f)
    except RuntimeError as error:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else "failed"
        raise InputError("moving image", f"registration failed ({reason[:200]})") from None
    return _innermost(result)


def _innermost(transform: sitk.Transform) -> sitk.Transform:
    """The single optimised transform inside the composite SimpleITK's registration returns."""
    if transform.GetName() == "CompositeTransform":
        composite = sitk.CompositeTransform(transform)
        if composite.GetNumberOfTransforms() == 1:
            transform = composite.GetNthTransform(0)
    return sitk.Transform.Downcast(transform) if hasattr(sitk.Transform, "Downcast") else transform
