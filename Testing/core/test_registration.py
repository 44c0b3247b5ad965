"""The shared registration: the same seed gives the same transform (SimpleITK reads seed 0 as the clock)."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from epilepsy_suite.data import mni_template
from epilepsy_suite.geometry import coarsened
from epilepsy_suite.registration import register_affine, register_rigid


@pytest.mark.slow  # four registrations: `bootstrap.py test -m slow`
def test_same_seed_same_transform_including_seed_zero():
    template = coarsened(mni_template(), 3)
    motion = sitk.Euler3DTransform((0, 0, 0), 0.1, 0.0, 0.05, (3.0, 2.0, 1.0))
    moved = sitk.Resample(template, template, motion, sitk.sitkLinear)
    for register in (register_rigid, register_affine):
        first, second = (np.array(register(template, moved).GetParameters()) for _ in range(2))
        np.testing.assert_allclose(first, second, rtol=0, atol=1e-6)  # threads may differ in the last bits
        other = np.array(register(template, moved, seed=7).GetParameters())
        assert np.abs(other - first).max() > 1e-6  # the seed does choose the sampled voxels
