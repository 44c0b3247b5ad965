"""Cavity training subjects: TorchIO subjects made from images in memory or on disk, and the CSV
table that lists them for ``cavity train`` and ``cavity finetune``."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch
import torchio as tio

from ..data import as_neuromorphometrics, mni_template, neuromorphometrics_parcellation
from ..errors import InputError
from ..geometry import coarsened, sitk_to_torchio, torchio_to_sitk
from ..io import open_text, read_image, read_label_map
from .simulation import RandomResection


def make_subject(
    name: str,
    image: sitk.Image | str | os.PathLike[str],
    parcellation: sitk.Image | str | os.PathLike[str] | None = None,
    label: sitk.Image | str | os.PathLike[str] | None = None,
) -> tio.Subject:
    """A TorchIO subject: T1 ``image``, Neuromorphometrics ``parcellation`` (GIF is converted), ``label``."""
    if not isinstance(image, sitk.Image):
        image = read_image(image, what="T1", varying=True)
    images: dict[str, tio.Image] = {"image": _as_torchio(image, np.float32)}
    if parcellation is not None:
        source = None
        if not isinstance(parcellation, sitk.Image):
            source = parcellation
            parcellation = read_label_map(parcellation, what="parcellation")
        parcellation = as_neuromorphometrics(parcellation, source)
        images["parcellation"] = _as_torchio(parcellation, np.int16, label=True)
    if label is not None:
        if not isinstance(label, sitk.Image):
            label = read_label_map(label, what="cavity label")
        images["label"] = _as_torchio(label, np.int16, label=True)
    return tio.Subject(name=name, **images)


def _as_torchio(image: sitk.Image, dtype, label: bool = False) -> tio.Image:
    converted = sitk_to_torchio(image, label=label)
    kind = tio.LabelMap if label else tio.ScalarImage
    return kind(tensor=torch.as_tensor(np.asarray(converted.data, dtype=dtype)), affine=converted.affine)


def read_subject_table(path: str | os.PathLike[str]) -> list[tio.Subject]:
    """Subjects from a CSV with columns ``image`` and ``parcellation`` and/or ``label`` (and ``name``);
    relative paths are relative to the CSV's folder."""
    path = Path(path)
    with open_text(path) as stream:  # any encoding users save; an unreadable file is an InputError
        rows = list(csv.DictReader(stream))
    if not rows or "image" not in rows[0]:
        raise InputError(path, "needs a header with an 'image' column (and 'parcellation' and/or 'label')")
    base = path.parent
    subjects = []
    for index, row in enumerate(rows):

        def resolve(key: str, row=row) -> Path | None:
            value = (row.get(key) or "").strip()
            return (base / value) if value else None

        subjects.append(
            make_subject(
                row.get("name") or f"subject{index:03d}", resolve("image"), resolve("parcellation"), resolve("label")
            )
        )
    return subjects


def subject_image(subject: tio.Subject, key: str = "image") -> sitk.Image:
    """The subject's ``key`` image (T1 or label) back as a SimpleITK image on its own grid."""
    return torchio_to_sitk(subject[key])


def check_subjects(subjects, simulate: bool, what: str) -> None:
    """Every subject carries what training needs: a parcellation to simulate resections on, or a
    cavity label to fine-tune on."""
    for subject in subjects:
        needed = "parcellation" if simulate else "label"
        if needed not in subject:
            raise InputError(
                f"{what} subject {subject.get('name', '?')}",
                f"has no {needed}: "
                + ("resection simulation needs a parcellation" if simulate else "fine-tuning needs a cavity label"),
            )


def template_subject(spacing_mm: int) -> tio.Subject:
    """The embedded MNI template and its Neuromorphometrics parcellation at ``spacing_mm``: a
    preoperative subject to simulate resections on (the default data of ``cavity train``)."""
    if int(spacing_mm) != spacing_mm or not 1 <= spacing_mm <= 8:
        raise InputError("--template-mm", f"spacing {spacing_mm} mm is not a whole number of mm in 1-8")
    template, parcellation = mni_template(), neuromorphometrics_parcellation(on_template_grid=True)
    if spacing_mm != 1:
        template = coarsened(template, int(spacing_mm), sitk.sitkLinear)
        parcellation = coarsened(parcellation, int(spacing_mm), sitk.sitkNearestNeighbor)
    return make_subject(f"MNI template {spacing_mm:g} mm", template, parcellation)


def simulated_cases(
    count: int, spacing_mm: int, seed: int = 1000, volumes: tuple[float, float] = (500, 50000)
) -> list[tio.Subject]:
    """``count`` postoperative cases made by resections simulated on the template, seeded by
    ``seed + k``: labelled images for evaluation (``image`` and cavity ``label``)."""
    preoperative = template_subject(spacing_mm)
    cases = []
    for index in range(count):
        resected = RandomResection(volumes=volumes, seed=seed + index)(preoperative)
        cases.append(tio.Subject(name=f"simulated-{seed + index}", image=resected["image"], label=resected["label"]))
    return cases
