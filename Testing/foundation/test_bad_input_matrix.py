"""The bad-input matrix (issue 17, acceptance 1): every CLI subcommand against each kind of bad input.

Each case runs ``epilepsy_suite.cli.main`` on small real files this module makes (a 3D T1 on the
embedded template at 8 mm, its Neuromorphometrics parcellation, short synthetic videos, small
untrained checkpoints, the Semio2Brain database read in place) and asserts what a user must see:
exit status 2, one line on stderr naming the file or option and the problem, no traceback, and
no new entry in the output folder nor beside the inputs (hidden ``.partial`` files included).
A full disk is a child process whose files cannot grow past a few bytes (``RLIMIT_FSIZE``, with
``SIGXFSZ`` ignored so that the write fails instead of killing it); one command per kind of writer
runs by default, the commands that train or infer before their first write with ``-m slow``.

Kinds: 1 writes, 2 reads, 3 text (tables in Windows-1252 are read; missing columns are refused),
4 options (one or two per subcommand; the full list is ``test_options_at_the_door.py``), 5
semiology terms. The mechanisms are tested on their own in
``test_bad_input.py``, ``test_outputs_and_signals.py``, ``test_text_encodings.py`` and
``test_semiology_terms_input.py``; this file checks that every command goes through them.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from epilepsy_suite.cli import main

CORE = Path(__file__).resolve().parents[2] / "Core"
SIDE = 16  # the smallest extractor input: these cases check refusals, not features


@dataclass(frozen=True)
class Case:
    """``command``: a shell-quoted template whose ``{name}`` words are the fixture files (see
    :func:`inputs`) and ``{out}``, the test's own output folder; ``problem``: a fragment of the
    error line; ``culprit``: the path or option the line must name (a template too)."""

    id: str
    command: str
    problem: str
    culprit: str


def _case(command: str, problem: str, culprit: str, id: str):
    return pytest.param(Case(id, command, problem, culprit), id=id)


# Inputs that do not exist are never read: the commands stop at their options or outputs.
FCD_PREDICT = "fcd predict {t1} {flair} --model {fcd}"
FCD_TRAIN = "fcd train --synthetic 3"
FCD_EVALUATE = "fcd evaluate --synthetic 1 --synthetic-spacing 4 --model {fcd}"
CAVITY_PREDICT = "cavity predict {t1} --model {cavity}"
CAVITY_TRAIN = "cavity train --template-mm 8"
CAVITY_FINETUNE = "cavity finetune --labelled {cavity_csv} --model {cavity}"
CAVITY_EVALUATE = "cavity evaluate --model {cavity} --simulated 1 --template-mm 8"
QUERY = "semiology query --database {db} --no-cache --semiology Tonic"
MAP = "semiology map --database {db} --no-cache --semiology Tonic --parcellation {parcellation}"
VIDEO_FEATURES = f"video features --side {SIDE} --annotations {{annotations}}"
VIDEO_TRAIN = f"video train --side {SIDE} --annotations {{annotations}}"
VIDEO_EVALUATE = f"video evaluate --side {SIDE} --annotations {{annotations}}"
VIDEO_PREDICT = "video predict {video} --model {gestures} --random-extractor"

NOT_READABLE = "is not a readable PyTorch file"  # a checkpoint cut short
NOT_A_VIDEO = "not a readable video"
NOT_A_PARCELLATION = "labelled voxels carry labels that"
NO_LABELS = "the parcellation has no labels"

# Reads of one image argument: (fixture, problem); every image option gets them all.
IMAGE_READS = [
    ("missing", "file not found"),
    ("folder", "is a folder, not an image file"),
    ("empty", "the file is empty"),
    ("truncated", "the compressed file is truncated"),
    ("not_image", "cannot read"),
    ("nan", "NaN or infinite voxels"),
]
WRITES_OF_AN_IMAGE = [
    # (output word, problem, culprit)
    ("{out}/mask.txt", "must end in .nii.gz", "{out}/mask.txt"),
    ("{out}/existing", "is a folder; give a file name", "{out}/existing"),
    ("{file}/mask.nii.gz", "is a file, not a folder", "{file}/mask.nii.gz"),
]


def _image_reads(template: str, slot: str, what: str, id: str, skip: tuple[str, ...] = ()) -> list:
    """Every bad image of IMAGE_READS in place of ``{slot}`` in ``template``."""
    cases = []
    for fixture, problem in IMAGE_READS:
        if fixture in skip:
            continue
        word = "{" + fixture + "}"
        cases.append(_case(template.replace("{" + slot + "}", word), problem, word, f"{id} {what} {fixture}"))
    return cases


def _image_writes(template: str, option: str, id: str) -> list:
    """``template`` ends with ``option``: every bad output path of WRITES_OF_AN_IMAGE."""
    return [
        _case(f"{template} {word}", problem, culprit, f"{id} {option} {culprit.split('/')[-1]}")
        for word, problem, culprit in WRITES_OF_AN_IMAGE
    ]


def _folder_writes(template: str, option: str, id: str) -> list:
    """A folder output given as an existing file, or below one."""
    return [
        _case(f"{template} {option} {{file}}", "is a file; give a folder", "{file}", f"{id} {option} is a file"),
        _case(f"{template} {option} {{file}}/run", "is a file, not a folder", "{file}/run", f"{id} {option} in a file"),
    ]


CASES = [
    # ---------------------------------------------------------------- fcd predict
    *_image_writes(FCD_PREDICT + " --out", "--out", "fcd predict"),
    _case(FCD_PREDICT + " --out {t1}", "also an input", "{t1}", "fcd predict --out is the T1"),
    _case(FCD_PREDICT + " --out {out}/a.nii.gz --probability {out}/a.nii.gz", "same path", "{out}/a.nii.gz",
          "fcd predict --out is --probability"),
    *_image_reads("fcd predict {t1} {flair} --model {fcd} --out {out}/mask.nii.gz", "t1", "T1", "fcd predict"),
    *_image_reads("fcd predict {t1} {flair} --model {fcd} --out {out}/mask.nii.gz", "flair", "FLAIR", "fcd predict",
                  skip=("missing", "folder", "empty")),
    _case("fcd predict {blank} {flair} --model {fcd} --out {out}/mask.nii.gz", "a blank scan", "{blank}",
          "fcd predict blank T1"),
    _case("fcd predict {t1} {flair} --model {fcd_damaged} --out {out}/mask.nii.gz", NOT_READABLE, "{fcd_damaged}",
          "fcd predict --model damaged"),
    _case("fcd predict {t1} {flair} --model {missing} --out {out}/mask.nii.gz", "model file not found", "{missing}",
          "fcd predict --model missing"),
    _case("fcd predict {t1} {flair} --model {cavity} --out {out}/mask.nii.gz", "not an MS-DSA-Net", "{cavity}",
          "fcd predict --model of another method"),
    _case(FCD_PREDICT + " --out {out}/mask.nii.gz --threshold 7", "--threshold", "--threshold",
          "fcd predict --threshold 7"),
    # ---------------------------------------------------------------- fcd postprocess
    *_image_writes("fcd postprocess {probability} --out", "--out", "fcd postprocess"),
    _case("fcd postprocess {probability} --out {probability}", "also an input", "{probability}",
          "fcd postprocess --out is the input"),
    *_image_reads("fcd postprocess {probability} --out {out}/mask.nii.gz", "probability", "image", "fcd postprocess"),
    _case("fcd postprocess {probability} --out {out}/mask.nii.gz --fill-size 16", "--fill-size", "--fill-size",
          "fcd postprocess --fill-size 16"),
    # ---------------------------------------------------------------- fcd train
    *_folder_writes(FCD_TRAIN, "--out", "fcd train"),
    _case("fcd train --csv {missing} --out {out}/run", "not found", "{missing}", "fcd train --csv missing"),
    _case("fcd train --csv {folder} --out {out}/run", "is a folder", "{folder}", "fcd train --csv folder"),
    _case("fcd train --csv {empty_csv} --out {out}/run", "columns subject, t1, flair", "{empty_csv}",
          "fcd train --csv empty"),
    _case("fcd train --csv {annotations} --out {out}/run", "columns subject, t1, flair", "{annotations}",
          "fcd train --csv missing columns"),
    _case("fcd train --csv {fcd_csv_bad_t1} --out {out}/run", "the compressed file is truncated", "{truncated}",
          "fcd train --csv lists a truncated T1"),
    _case("fcd train --csv {fcd_csv_cp1252} --out {out}/run", "the compressed file is truncated", "{truncated}",
          "fcd train --csv in Windows-1252 is read, its truncated T1 refused"),
    _case(FCD_TRAIN + " --out {out}/run --cache {file}", "--cache is a file", "{file}", "fcd train --cache is a file"),
    _case(FCD_TRAIN + " --out {out}/run --patch-size 48", "--patch-size", "--patch-size", "fcd train --patch-size 48"),
    # ---------------------------------------------------------------- fcd evaluate
    _case(FCD_EVALUATE + " --out {file}/report", "is a file, not a folder", "{file}/report",
          "fcd evaluate --out in a file"),
    _case("fcd evaluate --synthetic 1 --synthetic-spacing 4 --model {fcd_damaged} --out {out}/report", NOT_READABLE, "{fcd_damaged}",
          "fcd evaluate --model damaged"),
    _case("fcd evaluate --synthetic 1 --synthetic-spacing 4 --model {folder} --out {out}/report", "is a folder", "{folder}",
          "fcd evaluate --model folder"),
    _case("fcd evaluate --synthetic 1 --synthetic-spacing 4 --model {empty_model} --out {out}/report", NOT_READABLE, "{empty_model}",
          "fcd evaluate --model empty"),
    _case(FCD_EVALUATE + " --out {out}/report --overlap -0.5", "--overlap", "--overlap", "fcd evaluate --overlap"),
    # ---------------------------------------------------------------- cavity simulate
    *[
        _case(f"cavity simulate {{t1}} {{parcellation}} {word} {{out}}/label.nii.gz", problem, culprit,
              f"cavity simulate OUT_IMAGE {culprit.split('/')[-1]}")
        for word, problem, culprit in WRITES_OF_AN_IMAGE
    ],
    _case("cavity simulate {t1} {parcellation} {t1} {out}/label.nii.gz", "also an input", "{t1}",
          "cavity simulate OUT_IMAGE is the T1"),
    _case("cavity simulate {t1} {parcellation} {out}/a.nii.gz {out}/a.nii.gz", "same path", "{out}/a.nii.gz",
          "cavity simulate OUT_IMAGE is OUT_LABEL"),
    *_image_reads("cavity simulate {t1} {parcellation} {out}/t1.nii.gz {out}/label.nii.gz", "t1", "T1",
                  "cavity simulate"),
    _case("cavity simulate {blank} {parcellation} {out}/t1.nii.gz {out}/label.nii.gz", "a blank scan", "{blank}",
          "cavity simulate blank T1"),
    _case("cavity simulate {t1} {t1} {out}/t1.nii.gz {out}/label.nii.gz", NOT_A_PARCELLATION, "{t1}",
          "cavity simulate parcellation is a T1"),
    _case("cavity simulate {t1} {zeros} {out}/t1.nii.gz {out}/label.nii.gz", NO_LABELS, "{zeros}",
          "cavity simulate parcellation all zeros"),
    _case("cavity simulate {t1} {parcellation} {out}/t1.nii.gz {out}/label.nii.gz --volume -5 -1", "--volume",
          "--volume", "cavity simulate --volume"),
    # ---------------------------------------------------------------- cavity predict
    *_image_writes(CAVITY_PREDICT + " --out", "--out", "cavity predict"),
    _case(CAVITY_PREDICT + " --out {t1}", "also an input", "{t1}", "cavity predict --out is the image"),
    _case(CAVITY_PREDICT + " --out {out}/a.nii.gz --probability {out}/a.nii.gz", "same path", "{out}/a.nii.gz",
          "cavity predict --out is --probability"),
    _case(CAVITY_PREDICT + " --out {out}/mask.nii.gz --uncertainty {parcellation} --tta 2 --parcellation "
          "{parcellation}", "also an input", "{parcellation}", "cavity predict --uncertainty is --parcellation"),
    *_image_reads("cavity predict {t1} --model {cavity} --out {out}/mask.nii.gz", "t1", "image", "cavity predict"),
    _case("cavity predict {blank} --model {cavity} --out {out}/mask.nii.gz", "a blank scan", "{blank}",
          "cavity predict blank T1"),
    _case(CAVITY_PREDICT + " --out {out}/mask.nii.gz --parcellation {t1}", NOT_A_PARCELLATION, "{t1}",
          "cavity predict --parcellation is a T1"),
    _case(CAVITY_PREDICT + " --out {out}/mask.nii.gz --parcellation {zeros}", NO_LABELS, "{zeros}",
          "cavity predict --parcellation all zeros"),
    _case(CAVITY_PREDICT + " --out {out}/mask.nii.gz --parcellation {truncated}", "truncated", "{truncated}",
          "cavity predict --parcellation truncated"),
    _case("cavity predict {t1} --model {cavity_damaged} --out {out}/mask.nii.gz", NOT_READABLE, "{cavity_damaged}",
          "cavity predict --model damaged"),
    _case("cavity predict {t1} --model {fcd} --out {out}/mask.nii.gz", "not a cavity U-Net", "{fcd}",
          "cavity predict --model of another method"),
    _case(CAVITY_PREDICT + " --out {out}/mask.nii.gz --tta -1", "--tta", "--tta", "cavity predict --tta -1"),
    # ---------------------------------------------------------------- cavity train
    *_folder_writes(CAVITY_TRAIN, "--out", "cavity train"),
    _case("cavity train --training {missing} --out {out}/run", "cannot be read", "{missing}",
          "cavity train --training missing"),
    _case("cavity train --training {empty_csv} --out {out}/run", "'image' column", "{empty_csv}",
          "cavity train --training empty"),
    _case("cavity train --training {annotations} --out {out}/run", "'image' column", "{annotations}",
          "cavity train --training missing columns"),
    _case("cavity train --training {cavity_csv_t1_parcellation} --out {out}/run", NOT_A_PARCELLATION, "{t1}",
          "cavity train --training lists a T1 as parcellation"),
    _case("cavity train --training {cavity_csv_cp1252} --out {out}/run", NOT_A_PARCELLATION, "{t1}",
          "cavity train --training in Windows-1252 is read, its T1 as parcellation refused"),
    _case(CAVITY_TRAIN + " --out {out}/run --epochs 0", "--epochs", "--epochs", "cavity train --epochs 0"),
    # ---------------------------------------------------------------- cavity finetune
    *_folder_writes(CAVITY_FINETUNE, "--out", "cavity finetune"),
    _case("cavity finetune --labelled {cavity_csv} --model {cavity_damaged} --out {out}/run --folds 2", NOT_READABLE,
          "{cavity_damaged}", "cavity finetune --model damaged"),
    _case("cavity finetune --labelled {annotations} --model {cavity} --out {out}/run", "'image' column",
          "{annotations}", "cavity finetune --labelled missing columns"),
    _case(CAVITY_FINETUNE + " --out {out}/run --folds 1", "--folds", "--folds", "cavity finetune --folds 1"),
    # ---------------------------------------------------------------- cavity evaluate
    _case(CAVITY_EVALUATE + " --out {out}/scores.txt", "must end in .csv", "{out}/scores.txt",
          "cavity evaluate --out extension"),
    _case(CAVITY_EVALUATE + " --out {out}/existing", "is a folder; give a file name", "{out}/existing",
          "cavity evaluate --out folder"),
    _case(CAVITY_EVALUATE + " --out {file}/scores.csv", "is a file, not a folder", "{file}/scores.csv",
          "cavity evaluate --out in a file"),
    _case("cavity evaluate --model {cavity} --labelled {cavity_csv} --out {cavity_csv}", "also an input",
          "{cavity_csv}", "cavity evaluate --out is --labelled"),
    _case("cavity evaluate --model {cavity_damaged} --simulated 1 --out {out}/scores.csv", NOT_READABLE,
          "{cavity_damaged}", "cavity evaluate --model damaged"),
    _case("cavity evaluate --model {cavity} --labelled {annotations} --out {out}/scores.csv", "'image' column",
          "{annotations}", "cavity evaluate --labelled missing columns"),
    _case(CAVITY_EVALUATE + " --out {out}/scores.csv --case-seed -1", "--case-seed", "--case-seed",
          "cavity evaluate --case-seed"),
    # ---------------------------------------------------------------- semiology terms, match, clear-cache
    _case("semiology terms --database {missing}", "does not exist", "{missing}", "semiology terms --database missing"),
    _case("semiology terms --database {file}", "is a file", "{file}", "semiology terms --database a file"),
    _case("semiology terms --database {folder}", "not a Semio2Brain database folder", "{folder}",
          "semiology terms --database empty folder"),
    _case("semiology match butterflies --database {missing}", "does not exist", "{missing}",
          "semiology match --database missing"),
    _case("semiology match butterflies --database {db} --limit -1", "--limit", "--limit", "semiology match --limit"),
    _case("semiology match ab --database {db}", "3 characters", "text", "semiology match short text"),
    _case("semiology clear-cache --database {missing}", "does not exist", "{missing}",
          "semiology clear-cache --database missing"),
    # ---------------------------------------------------------------- semiology query
    _case(QUERY + " --out {out}/scores.txt", "must end in .csv", "{out}/scores.txt", "semiology query --out extension"),
    _case(QUERY + " --out {out}/existing", "is a folder; give a file name", "{out}/existing",
          "semiology query --out folder"),
    _case(QUERY + " --out {file}/scores.csv", "is a file, not a folder", "{file}/scores.csv",
          "semiology query --out in a file"),
    _case("semiology query --database {missing} --semiology Tonic --out {out}/scores.csv", "does not exist",
          "{missing}", "semiology query --database missing"),
    _case("semiology query --database {db} --no-cache --semiology '' --out {out}/scores.csv", "empty term",
          "semiology ''", "semiology query term empty"),
    _case("semiology query --database {db} --no-cache --semiology 'Head Version:up' --out {out}/scores.csv",
          "unknown side 'up'", "Head Version:up",
          "semiology query term side up"),
    _case(QUERY + " --dominant middle", "--dominant", "--dominant", "semiology query --dominant"),
    # ---------------------------------------------------------------- semiology map
    *_image_writes(MAP + " --out", "--out", "semiology map"),
    _case(MAP + " --out {parcellation}", "also an input", "{parcellation}", "semiology map --out is the parcellation"),
    *_image_reads("semiology map --database {db} --no-cache --semiology Tonic --parcellation {parcellation} "
                  "--out {out}/map.nii.gz", "parcellation", "parcellation", "semiology map"),
    _case("semiology map --database {db} --no-cache --semiology Tonic --parcellation {t1} --out {out}/map.nii.gz",
          NOT_A_PARCELLATION, "{t1}", "semiology map parcellation is a T1"),
    _case("semiology map --database {db} --no-cache --semiology Tonic --parcellation {zeros} --out {out}/map.nii.gz",
          NO_LABELS, "{zeros}", "semiology map parcellation all zeros"),
    _case("semiology map --database {db} --no-cache --semiology '' --parcellation {parcellation} "
          "--out {out}/map.nii.gz", "empty term", "semiology ''", "semiology map term empty"),
    _case("semiology map --database {db} --no-cache --semiology 'Head Version:up' --parcellation {parcellation} "
          "--out {out}/map.nii.gz", "unknown side 'up'", "Head Version:up", "semiology map term side up"),
    _case(MAP + " --out {out}/map.nii.gz --dominant x", "--dominant", "--dominant", "semiology map --dominant"),
    # ---------------------------------------------------------------- video synthesize
    _case("video synthesize {file}", "is a file; give a folder", "{file}", "video synthesize OUT is a file"),
    _case("video synthesize {file}/videos", "is a file, not a folder", "{file}/videos",
          "video synthesize OUT in a file"),
    _case("video synthesize {out}/videos --count 1", "--count", "--count", "video synthesize --count 1"),
    # ---------------------------------------------------------------- video preprocess
    *_folder_writes("video preprocess {video}", "--out", "video preprocess"),
    _case("video preprocess {missing_video} --out {out}/views", "does not exist", "{missing_video}",
          "video preprocess missing video"),
    _case("video preprocess {folder} --out {out}/views", "is a folder", "{folder}", "video preprocess folder"),
    _case("video preprocess {empty_video} --out {out}/views", NOT_A_VIDEO, "{empty_video}", "video preprocess empty video"),
    _case("video preprocess {truncated_video} --out {out}/views", NOT_A_VIDEO, "{truncated_video}",
          "video preprocess truncated video"),
    _case("video preprocess {not_video} --out {out}/views", NOT_A_VIDEO, "{not_video}",
          "video preprocess not a video"),
    _case("video preprocess {video} --out {out}/views --fps 0", "--fps", "--fps", "video preprocess --fps 0"),
    # ---------------------------------------------------------------- video features
    _case(VIDEO_FEATURES + " --cache {file}", "--cache is a file", "{file}", "video features --cache is a file"),
    _case(f"video features --side {SIDE} --annotations {{missing}} --cache {{out}}/cache", "does not exist",
          "{missing}", "video features --annotations missing"),
    _case(f"video features --side {SIDE} --annotations {{folder}} --cache {{out}}/cache", "is a folder", "{folder}",
          "video features --annotations folder"),
    _case(f"video features --side {SIDE} --annotations {{empty_csv}} --cache {{out}}/cache", "missing column",
          "{empty_csv}", "video features --annotations empty"),
    _case(f"video features --side {SIDE} --annotations {{cavity_csv}} --cache {{out}}/cache", "missing column",
          "{cavity_csv}", "video features --annotations missing columns"),
    _case(f"video features --side {SIDE} --annotations {{annotations_truncated_video}} --cache {{out}}/cache", NOT_A_VIDEO,
          "{truncated_video}", "video features --annotations lists a truncated video"),
    _case(VIDEO_FEATURES + " --cache {out}/cache --weights {fcd_damaged}", NOT_READABLE, "{fcd_damaged}",
          "video features --weights damaged"),
    _case(VIDEO_FEATURES + " --cache {out}/cache --stride 0", "--stride", "--stride", "video features --stride 0"),
    # ---------------------------------------------------------------- video train
    *_folder_writes(VIDEO_TRAIN + " --cache {out}/cache", "--out", "video train"),
    _case(f"video train --side {SIDE} --annotations {{cavity_csv}} --cache {{out}}/cache --out {{out}}/run",
          "missing column", "{cavity_csv}", "video train --annotations missing columns"),
    _case("video train --gestures-features {missing} --out {out}/run", "features_fpc_8_fps_15", "{missing}",
          "video train --gestures-features missing"),
    _case(VIDEO_TRAIN + " --cache {out}/cache --out {out}/run --weights {gestures_damaged}", NOT_READABLE,
          "{gestures_damaged}", "video train --weights damaged"),
    _case(VIDEO_TRAIN + " --cache {file} --out {out}/run", "--cache is a file", "{file}", "video train --cache is a file"),
    _case(VIDEO_TRAIN + " --cache {out}/cache --out {out}/run --epochs 0", "--epochs", "--epochs",
          "video train --epochs 0"),
    # ---------------------------------------------------------------- video evaluate
    *_folder_writes(VIDEO_EVALUATE + " --cache {out}/cache", "--out", "video evaluate"),
    _case(f"video evaluate --side {SIDE} --annotations {{empty_csv}} --cache {{out}}/cache --out {{out}}/cv",
          "missing column", "{empty_csv}", "video evaluate --annotations empty"),
    _case(VIDEO_EVALUATE + " --cache {out}/cache --out {out}/cv --folds 1", "--folds", "--folds",
          "video evaluate --folds 1"),
    # ---------------------------------------------------------------- video predict
    _case(VIDEO_PREDICT + " --csv {out}/curve.txt", "must end in .csv", "{out}/curve.txt",
          "video predict --csv extension"),
    _case(VIDEO_PREDICT + " --png {out}/existing", "is a folder; give a file name", "{out}/existing",
          "video predict --png folder"),
    _case(VIDEO_PREDICT + " --json {file}/verdict.json", "is a file, not a folder", "{file}/verdict.json",
          "video predict --json in a file"),
    _case("video predict {missing_video} --model {gestures} --random-extractor --csv {out}/curve.csv",
          "does not exist", "{missing_video}", "video predict missing video"),
    _case("video predict {empty_video} --model {gestures} --random-extractor --csv {out}/curve.csv", NOT_A_VIDEO,
          "{empty_video}", "video predict empty video"),
    _case("video predict {truncated_video} --model {gestures} --random-extractor --csv {out}/curve.csv", NOT_A_VIDEO,
          "{truncated_video}", "video predict truncated video"),
    _case("video predict {not_video} --model {gestures} --random-extractor --csv {out}/curve.csv",
          NOT_A_VIDEO, "{not_video}", "video predict not a video"),
    _case(VIDEO_PREDICT + " --second-view {truncated_video} --csv {out}/curve.csv", NOT_A_VIDEO, "{truncated_video}",
          "video predict --second-view truncated"),
    _case("video predict {video} --model {gestures_damaged} --random-extractor --csv {out}/curve.csv", NOT_READABLE,
          "{gestures_damaged}", "video predict --model damaged"),
    _case("video predict {video} --model {folder} --random-extractor --csv {out}/curve.csv", "is a folder", "{folder}",
          "video predict --model folder"),
    _case("video predict {video} --model {gestures} --extractor {fcd_damaged} --csv {out}/curve.csv", NOT_READABLE,
          "{fcd_damaged}", "video predict --extractor damaged"),
    _case(VIDEO_PREDICT + " --cache {file} --csv {out}/curve.csv", "--cache is a file", "{file}",
          "video predict --cache is a file"),
    _case(VIDEO_PREDICT + " --csv {out}/curve.csv --montage 0 0 0 0", "--montage", "--montage",
          "video predict --montage"),
    # ---------------------------------------------------------------- demo
    _case("demo --out {file}", "is a file; give a folder", "{file}", "demo --out is a file"),
    _case("demo --out {file}/demo", "is a file, not a folder", "{file}/demo", "demo --out in a file"),
    _case("demo --out {out}/demo --only Nonsense", "Nonsense", "--only", "demo --only unknown"),
]  # fmt: skip


# ------------------------------------------------------------------------------------------- inputs


def _write(array: np.ndarray, like: sitk.Image, path: Path) -> Path:
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(like)
    sitk.WriteImage(image, str(path))
    return path


def _damaged(path: Path, target: Path) -> Path:
    """A checkpoint cut short, as a copy interrupted half-way leaves it."""
    data = path.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, semio2brain_folder) -> dict[str, Path]:
    """Every input of the matrix, in one folder (checked unchanged after each case)."""
    from epilepsy_suite.cavity.augmentation import train_landmarks
    from epilepsy_suite.cavity.checkpoint import save_checkpoint as save_cavity
    from epilepsy_suite.cavity.model import CavityUNet
    from epilepsy_suite.data import mni_template, neuromorphometrics_parcellation
    from epilepsy_suite.fcd.checkpoint import save_checkpoint as save_fcd
    from epilepsy_suite.fcd.model import MSDSANet
    from epilepsy_suite.geometry import coarsened
    from epilepsy_suite.video.dataset import feature_metadata
    from epilepsy_suite.video.extractors import load_extractor
    from epilepsy_suite.video.models import GesturesModel, save_gestures_model
    from epilepsy_suite.video.preprocessing import PreprocessingSettings
    from epilepsy_suite.video.synthetic import render_seizure_video

    folder = tmp_path_factory.mktemp("inputs")
    files: dict[str, Path] = {"db": semio2brain_folder}
    template = coarsened(mni_template(), 8, sitk.sitkLinear)  # 25x29x25 voxels of 8 mm
    labels = coarsened(neuromorphometrics_parcellation(on_template_grid=True), 8, sitk.sitkNearestNeighbor)
    t1 = sitk.GetArrayFromImage(template).astype(np.float32)
    files["t1"] = _write(t1, template, folder / "t1.nii.gz")
    files["flair"] = _write(t1[::-1].copy(), template, folder / "flair.nii.gz")
    files["parcellation"] = _write(sitk.GetArrayFromImage(labels), template, folder / "parcellation.nii.gz")
    probability = np.zeros_like(t1)
    probability[8:16, 8:16, 8:16] = 0.9
    files["probability"] = _write(probability, template, folder / "probability.nii.gz")
    files["label"] = _write((probability > 0).astype(np.uint8), template, folder / "label.nii.gz")
    files["zeros"] = _write(np.zeros(t1.shape, np.int16), template, folder / "zeros.nii.gz")
    files["blank"] = _write(np.full_like(t1, 40.0), template, folder / "blank.nii.gz")
    with_nan = t1.copy()
    with_nan[10, 10, 10] = np.nan
    files["nan"] = _write(with_nan, template, folder / "nan.nii.gz")
    whole = files["t1"].read_bytes()
    (folder / "truncated.nii.gz").write_bytes(whole[: len(whole) * 2 // 3])
    (folder / "empty.nii.gz").write_bytes(b"")
    (folder / "not_image.nii.gz").write_text("subject,t1\nsub-01,t1.nii.gz\n")
    (folder / "folder.nii.gz").mkdir()
    (folder / "file").write_text("a file, where a folder is needed\n")
    for name in ("truncated", "empty", "not_image", "folder"):
        files[name] = folder / f"{name}.nii.gz"
    files["file"] = folder / "file"
    files["missing"] = folder / "missing.nii.gz"

    torch.manual_seed(0)
    files["fcd"] = save_fcd(folder / "fcd.pt", MSDSANet(patch_size=64, feature_size=8))
    landmarks = train_landmarks([template])
    files["cavity"] = save_cavity(folder / "cavity.pt", CavityUNet(first_channels=4, spacing_mm=8.0), landmarks)
    extractor = load_extractor("r2plus1d_34_8", None, side=SIDE)
    metadata = feature_metadata(extractor, PreprocessingSettings(fps=15.0, width=160, height=90), 8)
    files["gestures"] = save_gestures_model(folder / "gestures.pt", GesturesModel(hidden=8), metadata=metadata)
    for kind in ("fcd", "cavity", "gestures"):
        files[f"{kind}_damaged"] = _damaged(files[kind], folder / f"{kind}-damaged.pt")
    (folder / "empty.pt").write_bytes(b"")
    files["empty_model"] = folder / "empty.pt"

    files["video"] = render_seizure_video(folder / "seizure.mp4", 2.0, None, seed=1, fps=15.0, size=(160, 90))
    video = files["video"].read_bytes()
    (folder / "truncated.mp4").write_bytes(video[:2000])
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "not_video.mp4").write_text("not a video\n")
    for name in ("truncated", "empty", "not"):
        files[f"{name}_video"] = folder / f"{name}.mp4" if name != "not" else folder / "not_video.mp4"
    files["missing_video"] = folder / "missing.mp4"

    header = "video,t0,tG,t1,patient,class\n"
    (folder / "annotations.csv").write_text(header + "seizure.mp4,0,,2,P001,FOS\nseizure.mp4,0,1,2,P002,TCS\n")
    (folder / "annotations-truncated.csv").write_text(header + "truncated.mp4,0,,2,P001,FOS\n")
    (folder / "empty.csv").write_bytes(b"")
    (folder / "cavity.csv").write_text("image,label\n" + "t1.nii.gz,label.nii.gz\n" * 4)
    (folder / "cavity-t1-parcellation.csv").write_text("image,parcellation\nt1.nii.gz,t1.nii.gz\n")
    (folder / "fcd-truncated.csv").write_text(
        "subject,t1,flair,lesion\ns1,truncated.nii.gz,flair.nii.gz,zeros.nii.gz\n"
    )
    files["annotations"] = folder / "annotations.csv"
    files["annotations_truncated_video"] = folder / "annotations-truncated.csv"
    files["empty_csv"] = folder / "empty.csv"
    files["cavity_csv"] = folder / "cavity.csv"
    files["cavity_csv_t1_parcellation"] = folder / "cavity-t1-parcellation.csv"
    files["fcd_csv_bad_t1"] = folder / "fcd-truncated.csv"
    # Excel's "CSV" on Windows: Windows-1252, here with accented names
    files["fcd_csv_cp1252"] = folder / "fcd-cp1252.csv"
    files["fcd_csv_cp1252"].write_bytes(
        "subject,t1,flair,lesion\nHélène,truncated.nii.gz,flair.nii.gz,zeros.nii.gz\n".encode("cp1252")
    )
    files["cavity_csv_cp1252"] = folder / "cavity-cp1252.csv"
    files["cavity_csv_cp1252"].write_bytes("name,image,parcellation\nHélène,t1.nii.gz,t1.nii.gz\n".encode("cp1252"))
    files["inputs"] = folder
    return files


@pytest.fixture(scope="module")
def semiology_cache(tmp_path_factory) -> Path:
    """One cache of the parsed database for the module (never the user's ~/.cache)."""
    return tmp_path_factory.mktemp("semiology-cache")


@pytest.fixture(autouse=True)
def _own_cache(semiology_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EPILEPSY_SUITE_CACHE", str(semiology_cache))


# ------------------------------------------------------------------------------------------- running


def _arguments(template: str, files: dict[str, Path], out: Path) -> list[str]:
    names = {key: str(value) for key, value in files.items()} | {"out": str(out)}
    return [word.format_map(names) for word in shlex.split(template)] + ["--quiet"]


def _entries(folder: Path) -> list[str]:
    """Everything below ``folder``, hidden files (``.partial``) included."""
    found = []
    for root, folders, names in os.walk(folder):
        found += [os.path.relpath(os.path.join(root, name), folder) for name in folders + names]
    return sorted(found)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """The case's output folder, holding one existing folder (the target of "an output that is a folder")."""
    folder = tmp_path / "out"
    (folder / "existing").mkdir(parents=True)
    return folder


def _check_refusal(status: object, stderr: str, case: Case, files: dict[str, Path], out: Path) -> None:
    culprit = case.culprit.format_map({key: str(value) for key, value in files.items()} | {"out": str(out)})
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr
    assert status == 2, stderr
    assert len(lines) == 1, stderr
    assert case.problem in lines[0] and culprit in lines[0], lines[0]


@pytest.mark.parametrize("case", CASES)
def test_a_bad_input_is_refused_in_one_line(
    case: Case, inputs: dict[str, Path], out: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _entries(inputs["inputs"])
    try:
        status: object = main(_arguments(case.command, inputs, out))
    except SystemExit as exit_:  # argparse's refusals
        status = exit_.code
    captured = capsys.readouterr()
    _check_refusal(status, captured.err, case, inputs, out)
    assert _entries(out) == ["existing"], "an output or a partial file was left"
    assert _entries(inputs["inputs"]) == before, "a file was left beside the inputs"


def test_an_annotations_table_in_windows_1252_is_read(
    inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Excel's "CSV" on Windows: accented names in Windows-1252 are read, not refused (kind 3)."""
    folder = tmp_path / "vidéos"
    folder.mkdir()
    (folder / "crise é.mp4").write_bytes(inputs["video"].read_bytes())
    table = folder / "annotations.csv"
    table.write_bytes("video,t0,tG,t1,patient,class\ncrise é.mp4,0,,2,Hélène,FOS\n".encode("cp1252"))
    arguments = ["video", "features", "--annotations", str(table), "--cache", str(tmp_path / "cache")]
    assert main([*arguments, "--side", str(SIDE), "--quiet"]) == 0, capsys.readouterr().err
    assert "1 video views" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------- full disk

SLOW = pytest.mark.slow  # a whole training epoch or inference before the first write: `-m slow`
FULL_DISK = [
    # (command, the output whose write fails first); one command per writer runs by default
    ("fcd postprocess {probability} --out {out}/mask.nii.gz", "{out}/mask.nii.gz"),  # an image
    (QUERY + " --out {out}/scores.csv", "{out}/scores.csv"),  # a table
    ("video preprocess {video} --out {out}/views", "{out}/views"),  # a video
    (VIDEO_FEATURES + " --cache {out}/cache", "{out}/cache"),  # torch.save
    # three outputs published together: the one that fails first (the curve) and none of the others
    (VIDEO_PREDICT + " --csv {out}/curve.csv --png {out}/curve.png --json {out}/verdict.json", "{out}/curve"),
    pytest.param(FCD_PREDICT + " --no-register --no-coregister-flair --out {out}/mask.nii.gz "
                 "--probability {out}/probability.nii.gz", "{out}/probability.nii.gz", marks=SLOW),
    pytest.param(FCD_EVALUATE + " --split all --out {out}/report", "{out}/report", marks=SLOW),
    pytest.param(FCD_TRAIN + " --synthetic-spacing 4 --patch-size 64 --feature-size 8 --epochs 1 --out {out}/run",
                 "{out}/run", marks=SLOW),
    pytest.param("cavity simulate {t1} {parcellation} {out}/t1.nii.gz {out}/label.nii.gz --volume 5000 5000 "
                 "--seed 1", "{out}/t1.nii.gz", marks=SLOW),
    pytest.param(CAVITY_PREDICT + " --out {out}/mask.nii.gz --probability {out}/probability.nii.gz",
                 "{out}/mask.nii.gz", marks=SLOW),
    pytest.param(CAVITY_EVALUATE + " --out {out}/scores.csv", "{out}/scores.csv", marks=SLOW),
    pytest.param(CAVITY_TRAIN + " --epochs 1 --iterations 1 --batch-size 1 --first-channels 4 --whole-images "
                 "--out {out}/run", "image0.nii.gz", marks=SLOW),  # the scratch copy for the landmarks fails first
    pytest.param(CAVITY_FINETUNE + " --folds 2 --epochs 1 --iterations 1 --batch-size 1 --out {out}/run",
                 "{out}/run", marks=SLOW),
    pytest.param(MAP + " --out {out}/map.nii.gz", "{out}/map.nii.gz", marks=SLOW),
    pytest.param("video synthesize {out}/videos --count 2 --durations 1 1", "{out}/videos", marks=SLOW),
    pytest.param(VIDEO_TRAIN + " --cache {out}/cache --out {out}/run --epochs 1 --segments 2", "{out}/cache",
                 marks=SLOW),
    pytest.param(VIDEO_EVALUATE + " --cache {out}/cache --out {out}/cv --folds 2 --epochs 1 --segments 2",
                 "{out}/cache", marks=SLOW),
]  # fmt: skip


def _child(arguments: list[str], limit_bytes: int, cache: Path) -> subprocess.CompletedProcess[str]:
    """``main(arguments)`` in a child whose files cannot grow past ``limit_bytes``: a full disk."""
    code = (
        "import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit_bytes}, {limit_bytes})); "
        f"from epilepsy_suite.cli import main; sys.exit(main({arguments!r}))"
    )
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(CORE), os.environ.get("PYTHONPATH", "")]),
        "EPILEPSY_SUITE_CACHE": str(cache),
    }
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment, timeout=300, check=False
    )


def _id(parameter: object) -> str:
    command = parameter.values[0] if hasattr(parameter, "values") else parameter[0]
    return " ".join(command.split()[:2])


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs POSIX file-size limits")
@pytest.mark.parametrize(("command", "culprit"), FULL_DISK, ids=[_id(parameter) for parameter in FULL_DISK])
def test_a_full_disk_publishes_nothing(
    command: str, culprit: str, inputs: dict[str, Path], out: Path, semiology_cache: Path
) -> None:
    if command.startswith("semiology"):  # parse the database once, outside the child's limit
        from epilepsy_suite.semiology.database import load_database

        load_database(inputs["db"], semiology_cache / "semiology")
    before = _entries(inputs["inputs"])
    child = _child(_arguments(command, inputs, out), 100, semiology_cache)
    # The warnings a command logs on its way (a random extractor...) are not the error.
    stderr = "\n".join(line for line in child.stderr.splitlines() if not line.startswith("WARNING "))
    _check_refusal(child.returncode, stderr, Case("full disk", command, "nothing was published", culprit), inputs, out)
    assert "wrote" not in child.stdout
    assert _entries(out) == ["existing"], "an output or a partial file was left"
    assert _entries(inputs["inputs"]) == before
