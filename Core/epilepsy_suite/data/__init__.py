"""Embedded default data (template, tissue maps, parcellation) and label tables."""

from .labels import (
    Hemisphere,
    Kind,
    Label,
    LabelTable,
    convert_label_array,
    gif_to_nmm,
    make_label,
    nmm_to_gif,
)
from .templates import (
    as_neuromorphometrics,
    mni_template,
    mni_template_path,
    neuromorphometrics_labels,
    neuromorphometrics_parcellation,
    neuromorphometrics_path,
    resample_labels_like,
    tissue_probability,
    tissue_probability_path,
)

__all__ = [
    "as_neuromorphometrics",
    "Hemisphere",
    "Kind",
    "Label",
    "LabelTable",
    "convert_label_array",
    "gif_to_nmm",
    "make_label",
    "mni_template",
    "mni_template_path",
    "neuromorphometrics_labels",
    "neuromorphometrics_parcellation",
    "neuromorphometrics_path",
    "nmm_to_gif",
    "resample_labels_like",
    "tissue_probability",
    "tissue_probability_path",
]
