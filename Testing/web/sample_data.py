"""A --data folder for the web app's browser tests and latency benchmark.

Synthetic but real files: a T1 + FLAIR pair with a lesion (2 mm, the FCD generator), a
postoperative T1 with a simulated resection on the embedded MNI template (2 mm) and its
parcellation, a synthetic seizure recording (mp4), and model files of the right formats.
The models are untrained networks with a fixed output bias: they exercise the panels'
whole path (files, jobs, Logic, views, tables), not the methods, which have their own tests.
"""

from __future__ import annotations

from pathlib import Path

import SimpleITK as sitk
import torch

CAVITY_SEED = 2024
FCD_SEED = 900  # `fcd train --synthetic N` uses seeds 0..N-1: this subject is held out


def write_sample_data(folder: Path, cavity_mm: int = 2) -> dict[str, str]:
    """Write the files into ``folder``; returns their names by role (``cavity_mm``: the
    postoperative T1's spacing; the published resseg network wants 1 mm)."""
    from epilepsy_suite.cavity.checkpoint import save_checkpoint as save_cavity
    from epilepsy_suite.cavity.dataset import template_subject
    from epilepsy_suite.cavity.model import CavityUNet
    from epilepsy_suite.cavity.simulation import RandomResection
    from epilepsy_suite.fcd.checkpoint import save_checkpoint as save_fcd
    from epilepsy_suite.fcd.model import MSDSANet
    from epilepsy_suite.fcd.synthetic import make_synthetic_subject
    from epilepsy_suite.geometry import torchio_to_sitk
    from epilepsy_suite.video.dataset import feature_metadata
    from epilepsy_suite.video.extractors import load_extractor
    from epilepsy_suite.video.models import GesturesModel, save_gestures_model
    from epilepsy_suite.video.preprocessing import DEFAULT_SETTINGS
    from epilepsy_suite.video.synthetic import render_seizure_video

    folder.mkdir(parents=True, exist_ok=True)
    names: dict[str, str] = {}

    subject = make_synthetic_subject(FCD_SEED, spacing=2.0)
    (folder / "fcd").mkdir(exist_ok=True)
    sitk.WriteImage(subject.t1, str(folder / "fcd" / "t1.nii.gz"))
    sitk.WriteImage(subject.flair, str(folder / "fcd" / "flair.nii.gz"))
    sitk.WriteImage(subject.lesion, str(folder / "fcd" / "true_lesion.nii.gz"))
    torch.manual_seed(0)
    fcd = MSDSANet(patch_size=64, feature_size=8)
    with torch.no_grad():
        fcd.head.conv.conv.bias.copy_(torch.tensor([0.0, -2.0]))
    save_fcd(folder / "models" / "fcd.pt", fcd)
    names.update(t1="fcd/t1.nii.gz", flair="fcd/flair.nii.gz", fcd_model="models/fcd.pt")

    # Postoperative T1: a resection simulated on the embedded MNI template (a seed no demo or
    # training run uses), with the template's parcellation as the preoperative one.
    subject = template_subject(cavity_mm)
    simulated = RandomResection(volumes=(10000, 30000), seed=CAVITY_SEED)(subject)
    (folder / "cavity").mkdir(exist_ok=True)
    sitk.WriteImage(torchio_to_sitk(simulated["image"]), str(folder / "cavity" / "postop_t1.nii.gz"))
    parcellation = sitk.Cast(torchio_to_sitk(simulated["parcellation"]), sitk.sitkInt16)
    sitk.WriteImage(parcellation, str(folder / "cavity" / "parcellation.nii.gz"))
    sitk.WriteImage(
        sitk.Cast(torchio_to_sitk(simulated["label"]), sitk.sitkUInt8), str(folder / "cavity" / "true_cavity.nii.gz")
    )
    cavity_model = CavityUNet(first_channels=4)
    with torch.no_grad():  # "cavity" everywhere: every structure of the parcellation is listed
        cavity_model.head.weight.zero_()
        cavity_model.head.bias.copy_(torch.tensor([0.0, 10.0]))
    save_cavity(folder / "models" / "cavity.pt", cavity_model, landmarks=None)
    names.update(postop="cavity/postop_t1.nii.gz", parcellation="cavity/parcellation.nii.gz",
                 cavity_model="models/cavity.pt")  # fmt: skip

    (folder / "video").mkdir(exist_ok=True)
    render_seizure_video(folder / "video" / "seizure.mp4", 10.0, 5.0, seed=3, fps=15.0, size=(320, 180))
    extractor = load_extractor("r2plus1d_18", None, "cpu", side=32)
    gestures = GesturesModel()
    with torch.no_grad():
        gestures.snippet.fc.weight.zero_()
        gestures.snippet.fc.bias.fill_(2.0)
        gestures.seizure.fc.weight.zero_()
        gestures.seizure.fc.bias.fill_(1.0)
    save_gestures_model(
        folder / "models" / "gestures.pt", gestures, metadata=feature_metadata(extractor, DEFAULT_SETTINGS, 8)
    )
    names.update(video="video/seizure.mp4", video_model="models/gestures.pt")
    return names
