"""The embedded template, tissue maps and Neuromorphometrics atlas, and label conversions."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from epilepsy_suite.data import (
    Hemisphere,
    Kind,
    LabelTable,
    convert_label_array,
    gif_to_nmm,
    mni_template,
    neuromorphometrics_labels,
    neuromorphometrics_parcellation,
    nmm_to_gif,
    tissue_probability,
)


def test_template_has_the_thesis_grid() -> None:
    template = mni_template()
    assert template.GetSize() == (193, 229, 193)
    assert template.GetSpacing() == (1.0, 1.0, 1.0)
    assert float(sitk.GetArrayViewFromImage(template).max()) > 0


def test_tissue_maps_are_probabilities_on_the_template_grid() -> None:
    grey = tissue_probability("gm")
    white = tissue_probability("wm")
    assert grey.GetSize() == mni_template().GetSize()
    grey_array, white_array = sitk.GetArrayViewFromImage(grey), sitk.GetArrayViewFromImage(white)
    assert 0.0 <= grey_array.min() and grey_array.max() <= 1.0 + 1e-6
    assert (grey_array + white_array).max() <= 1.0 + 1e-3


def test_parcellation_resampled_to_template_keeps_labels() -> None:
    native = neuromorphometrics_parcellation()
    assert native.GetSpacing() == (1.5, 1.5, 1.5)
    resampled = neuromorphometrics_parcellation(on_template_grid=True)
    assert resampled.GetSize() == (193, 229, 193)
    native_labels = set(np.unique(sitk.GetArrayViewFromImage(native)).tolist())
    resampled_labels = set(np.unique(sitk.GetArrayViewFromImage(resampled)).tolist())
    assert resampled_labels <= native_labels  # nearest neighbour invents no label
    assert len(resampled_labels) > 130


def test_label_table_kinds_and_hemispheres() -> None:
    table = neuromorphometrics_labels()
    assert len(table) == 136
    assert table[35].kind is Kind.BRAIN_STEM
    assert table[44].kind is Kind.WHITE_MATTER and table[44].hemisphere is Hemisphere.RIGHT
    assert table[46].kind is Kind.CSF
    assert table[52].kind is Kind.VENTRICLE and table[52].hemisphere is Hemisphere.LEFT
    assert table[38].kind is Kind.CEREBELLUM
    assert table[48].kind is Kind.DEEP_GM and table[48].lobe == "temporal"
    precentral = table.by_name("Left_PrG_precentral_gyrus")
    assert precentral.kind is Kind.CORTICAL_GM and precentral.lobe == "frontal"
    assert table.by_name("Right_STG_superior_temporal_gyrus").lobe == "temporal"
    cortical = table.select([Kind.CORTICAL_GM])
    assert len(cortical) == 98 and all(label.number >= 100 for label in cortical)
    assert all(label.lobe for label in cortical)


def test_gif_conversion_both_ways(semio2brain_folder) -> None:
    assert nmm_to_gif(183) == 184 and gif_to_nmm(184) == 183
    assert nmm_to_gif(46) is None and gif_to_nmm(47) is None
    assert nmm_to_gif(0) == 0
    gif = LabelTable.from_color_file(semio2brain_folder / "BrainAnatomyLabelsV3_0.txt", "GIF")
    nmm = neuromorphometrics_labels()
    # GIF calls the cerebellar white matter just "Cerebellum"; every other name is the same.
    for label in nmm:
        if label.number == 46:
            continue
        gif_name = gif[nmm_to_gif(label.number)].name.replace("-", "_").lower()
        assert gif_name == label.name.replace("-", "_").lower().replace("cerebellum_white_matter", "cerebellum")
        assert gif[nmm_to_gif(label.number)].hemisphere is label.hemisphere
    # Whole volumes: the GIF parcellation of the template maps onto Neuromorphometrics numbers.
    volume = np.array([[[0, 46, 183, 207]]])
    np.testing.assert_array_equal(convert_label_array(volume, "gif"), [[[0, 0, 184, 208]]])
    np.testing.assert_array_equal(convert_label_array(convert_label_array(volume, "gif"), "nmm"), [[[0, 0, 183, 207]]])
