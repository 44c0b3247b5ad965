"""``python -m epilepsy_suite fcd {train,evaluate,predict,postprocess}``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..errors import InputError
from ..options import add_config_options, config_from_arguments
from ..validation import AT_LEAST_ZERO, SEED, THRESHOLD, CheckedParser, Number, require_best_checkpoint
from .config import FCDTrainingConfig

LOG = logging.getLogger("epilepsy_suite.fcd")


def register(subparsers: argparse._SubParsersAction, name: str, summary: str) -> None:
    from ..cli import common_parser

    parser = subparsers.add_parser(name, help=summary, description=summary)
    commands = parser.add_subparsers(
        dest="fcd_command", metavar="<fcd command>", required=True, parser_class=CheckedParser
    )

    data = argparse.ArgumentParser(add_help=False)
    source = data.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--bids", type=Path, help="BIDS folder of the Bonn FCD II dataset (sub-*/anat/*T1w, *FLAIR, *roi*)"
    )
    source.add_argument("--csv", type=Path, help="CSV with columns subject,t1,flair,lesion")
    source.add_argument("--synthetic", type=Number(int, minimum=1, maximum=500), metavar="N",
                        help="N synthetic lesion subjects on the MNI template, split 59/12/14 (with 3 or more, "
                        "at least one validation and one test subject)")  # fmt: skip
    data.add_argument("--synthetic-spacing", type=Number(float, minimum=1, maximum=4), default=2.0, metavar="MM",
                      help="voxel size (mm) of synthetic subjects (default 2)")  # fmt: skip
    _preprocessing_options(data)
    data.add_argument("--cache", type=Path, default=None, help="folder caching preprocessed subjects")
    data.add_argument("--seed", type=SEED, default=0, help="seed of the 59/12/14 split and of training (default 0)")

    train = commands.add_parser(
        "train", parents=[common_parser(), data], help="train MS-DSA-Net (resumes from OUT/last.pt)"
    )
    train.add_argument("--out", type=Path, required=True, help="folder for checkpoints (best.pt, last.pt) and log.csv")
    add_config_options(train, FCDTrainingConfig(), {
        "loss": ("--loss", "loss of the paper", {"choices": ("dice", "dice_bce", "dice_tv")}),
        "tv_weight": ("--tv-weight", "weight of the TV term"),
        "max_epochs": ("--epochs", "maximum epochs"),
        "patience": ("--patience", "early-stopping patience in epochs"),
        "patch_size": ("--patch-size", "cubic patch edge in voxels"),
        "feature_size": ("--feature-size", "channels of the first stage"),
        "learning_rate": ("--learning-rate", "peak learning rate"),
        "warmup_epochs": ("--warmup-epochs", "linear warm-up epochs (a third of the run when not shorter than it)"),
        "amp": ("--amp", "mixed precision: bf16 on a GPU or on a CPU with AMX/AVX512-BF16, fp16 on older GPUs"),
    })  # fmt: skip
    train.add_argument("--no-resume", action="store_true", help="start over even if OUT/last.pt exists")
    train.add_argument("--workers", type=AT_LEAST_ZERO, default=0, metavar="N",
                       help="data-loader processes preparing the patches (default 0); results do not depend on N")  # fmt: skip
    train.set_defaults(handler=_train, outputs={"out": "folder", "cache": "folder"})

    evaluate = commands.add_parser(
        "evaluate", parents=[common_parser(), data], help="metrics on the test split (Table 1 layout)"
    )
    evaluate.add_argument("--model", type=Path, nargs="+", required=True, help="checkpoint(s); several = several runs")
    evaluate.add_argument("--split", choices=("test", "validation", "all"), default="test")
    evaluate.add_argument(
        "--out",
        type=Path,
        required=True,
        help="report prefix: writes PREFIX.md, PREFIX_summary.csv, PREFIX_subjects.csv",
    )
    _inference_options(evaluate)
    evaluate.add_argument(
        "--min-cluster", type=AT_LEAST_ZERO, default=None,
        help="smallest cluster kept by the post-processing, in voxels (default: the paper's 50 mm^3, "
        "50 voxels at 1 mm, 6 at 2 mm for --synthetic-spacing 2)",
    )  # fmt: skip
    evaluate.add_argument("--method", default="MS-DSA-Net", help="method name in the report")
    evaluate.set_defaults(handler=_evaluate, outputs={"out": "prefix", "cache": "folder"})

    predict = commands.add_parser(
        "predict", parents=[common_parser()], help="FCD probability and mask for one T1 + FLAIR"
    )
    predict.add_argument("t1", type=Path, help="T1 image (NIfTI, NRRD...)")
    predict.add_argument("flair", type=Path, nargs="?", help="FLAIR image of the same subject")
    predict.add_argument("--model", type=Path, required=True, help="MS-DSA-Net checkpoint")
    predict.add_argument("--out", type=Path, required=True, help="output mask (uint8), in the T1's geometry")
    predict.add_argument("--probability", type=Path, help="also write the probability map here")
    _preprocessing_options(predict)
    _inference_options(predict)
    _postprocess_options(predict)
    predict.set_defaults(handler=_predict, outputs={"out": "image", "probability": "image"})

    post = commands.add_parser("postprocess", parents=[common_parser()], help="post-process a probability map or mask")
    post.add_argument("image", type=Path, help="probability map or binary mask")
    post.add_argument("--out", type=Path, required=True)
    post.add_argument("--threshold", type=THRESHOLD, default=0.5, help="probability threshold (default 0.5)")
    _postprocess_options(post, default=True)
    post.set_defaults(handler=_postprocess, outputs={"out": "image"})


def _preprocessing_options(parser: argparse.ArgumentParser) -> None:
    """Preset and the choices it makes by default (None: the preset's)."""
    from .presets import DEFAULT_PRESET, PRESETS

    parser.add_argument(
        "--preprocessing",
        choices=tuple(PRESETS),
        default=DEFAULT_PRESET,
        help="preset: 'suite' (skull-stripped, brain-masked normalisation, Gaussian blending, post-processing) or "
        "'published' (the MS-DSA-Net authors' pipeline: T1 with skull affinely to MNI152 1 mm 182x218x182, "
        "whole-volume percentiles, constant blending, no post-processing) (default %(default)s)",
    )
    parser.add_argument(
        "--register",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="register each T1 to the preset's MNI template (SimpleITK) and map results back (default: preset's)",
    )
    parser.add_argument(
        "--coregister-flair",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="rigidly register the FLAIR to the T1 (SimpleITK, mutual information) (default: preset's)",
    )


def _inference_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threshold", type=THRESHOLD, default=None, help="FCD probability threshold (default: preset's)"
    )
    # Above 0.9 the windows multiply (a step of one voxel at 0.99): the run would not end.
    parser.add_argument("--overlap", type=Number(float, minimum=0, maximum=0.9), default=None,
                        help="sliding-window overlap, as a share of the window (default: preset's)")  # fmt: skip
    parser.add_argument(
        "--blend", choices=("gaussian", "constant"), default=None, help="window blending (default: preset's)"
    )


def _postprocess_options(parser: argparse.ArgumentParser, default: bool | None = None) -> None:
    parser.add_argument(
        "--postprocess",
        action=argparse.BooleanOptionalAction,
        default=default,
        help="opening, hole filling and small-cluster removal"
        + (" (default: on)" if default else " (default: the preset's choice)"),
    )
    parser.add_argument(
        "--min-cluster", type=AT_LEAST_ZERO, default=50, help="drop clusters smaller than this many voxels (default 50)"
    )
    # The window is a cube: 15 voxels already close gaps of 15 mm at 1 mm, wider than any FCD.
    parser.add_argument("--fill-size", type=Number(int, minimum=0, maximum=15), default=5,
                        help="hole filling window edge in voxels; 0: no filling (default 5)")  # fmt: skip


def _preset(arguments: argparse.Namespace):
    from .presets import get_preset

    return get_preset(getattr(arguments, "preprocessing", None) or "suite")


def _choice(arguments: argparse.Namespace, name: str, preset_value):
    value = getattr(arguments, name, None)
    return preset_value if value is None else value


def _settings(arguments: argparse.Namespace):
    from .postprocess import PostprocessSettings

    if not _choice(arguments, "postprocess", _preset(arguments).postprocess):
        return None
    return PostprocessSettings(fill_size=arguments.fill_size, min_cluster_voxels=arguments.min_cluster)


def load_subjects(arguments: argparse.Namespace):
    """Training subjects (in memory) split 59/12/14 by seed."""
    from .dataset import (
        TrainingSubject,
        find_bids_subjects,
        read_subject_csv,
        split_subjects,
        synthetic_training_subjects,
    )
    from .preprocessing import cached_prepared_subject, prepare_subject

    if arguments.synthetic:
        seeds = [arguments.seed * 1000 + index for index in range(arguments.synthetic)]
        subjects = synthetic_training_subjects(seeds, arguments.synthetic_spacing, arguments.preprocessing)
        return split_subjects(subjects, arguments.seed)
    files = find_bids_subjects(arguments.bids) if arguments.bids else read_subject_csv(arguments.csv)
    subjects = []
    for entry in files:
        options = {
            "register_to_mni": arguments.register,
            "coregister": arguments.coregister_flair,
            "preset": arguments.preprocessing,
        }
        if arguments.cache:
            prepared = cached_prepared_subject(arguments.cache, entry.t1, entry.flair, entry.lesion, **options)
        else:
            prepared = prepare_subject(entry.t1, entry.flair, entry.lesion, **options)
        if prepared.lesion is None:
            raise InputError(entry.t1, "no lesion mask for this subject")
        subjects.append(TrainingSubject.from_images(entry.subject, prepared.t1, prepared.flair, prepared.lesion))
    return split_subjects(subjects, arguments.seed)


def _train(arguments: argparse.Namespace) -> int:
    from .training import train_fcd

    training, validation, test = load_subjects(arguments)
    LOG.info("subjects: %d training, %d validation, %d test", len(training), len(validation), len(test))
    config = config_from_arguments(arguments, FCDTrainingConfig(), seed=arguments.seed)
    result = train_fcd(
        training,
        validation,
        arguments.out,
        config,
        arguments.device,
        resume=not arguments.no_resume,
        show_bar=not arguments.quiet,
        workers=arguments.workers,
    )
    best = require_best_checkpoint(result)
    last = result.history[-1] if result.history else {}
    print(f"best checkpoint: {best}")
    if last:
        print(
            f"last epoch {last['epoch']}: train loss {last['train_loss']:.4f}, validation loss {last['validation_loss']:.4f}"
        )
    return 0


def _evaluate(arguments: argparse.Namespace) -> int:
    from .checkpoint import load_fcd_model
    from .evaluation import evaluate_masks, summary_table, write_report
    from .inference import predict_array
    from .postprocess import PostprocessSettings

    device = arguments.device
    preset = _preset(arguments)
    overlap, blend = _choice(arguments, "overlap", preset.overlap), _choice(arguments, "blend", preset.blend)
    settings = PostprocessSettings.for_spacing(arguments.synthetic_spacing if arguments.synthetic else 1.0)
    if arguments.min_cluster is not None:
        settings = PostprocessSettings(min_cluster_voxels=arguments.min_cluster)
    training, validation, test = load_subjects(arguments)
    subjects = {"test": test, "validation": validation, "all": training + validation + test}[arguments.split]
    rows: list[dict[str, object]] = []
    for run, path in enumerate(arguments.model):
        model, _ = load_fcd_model(path, device)

        def probabilities(model=model):
            for subject in subjects:
                # Subjects hold the network's arrays: no conversion on the way in or out.
                probability = predict_array(model, subject.image, device, overlap, blend)
                yield subject.name, probability, subject.label[0] > 0

        threshold = _choice(arguments, "threshold", preset.threshold)
        rows += [{"run": run, **row} for row in evaluate_masks(probabilities(), threshold, settings)]
    table = summary_table({arguments.method: rows})
    paths = write_report(table, rows, arguments.out)
    print(Path(paths[2]).read_text())
    for path in paths:
        print(f"wrote {path}")
    return 0


def _predict(arguments: argparse.Namespace) -> int:
    from ..io import write_image
    from .checkpoint import load_fcd_model
    from .inference import predict_subject
    from .preprocessing import prepare_subject

    device = arguments.device
    preset = _preset(arguments)
    model, _ = load_fcd_model(arguments.model, device)
    subject = prepare_subject(
        arguments.t1,
        arguments.flair,
        register_to_mni=arguments.register,
        coregister=arguments.coregister_flair,
        preset=preset,
    )
    prediction = predict_subject(
        model,
        subject,
        _choice(arguments, "threshold", preset.threshold),
        _settings(arguments),
        device,
        _choice(arguments, "overlap", preset.overlap),
        _choice(arguments, "blend", preset.blend),
    )
    if arguments.probability:
        write_image(prediction.probability, arguments.probability)
    write_image(prediction.mask, arguments.out)
    voxels = int(sitk.GetArrayViewFromImage(prediction.mask).sum())
    print(f"wrote {arguments.out} ({voxels} FCD voxels, preprocessing {preset.name})")
    return 0


def _postprocess(arguments: argparse.Namespace) -> int:
    from ..geometry import copy_geometry
    from ..io import read_image, write_image
    from .postprocess import postprocess_mask

    image = read_image(arguments.image, what="probability map or mask")
    mask = sitk.GetArrayFromImage(image) >= arguments.threshold
    settings = _settings(arguments)
    if settings is not None:
        mask = postprocess_mask(mask, settings)
    write_image(copy_geometry(mask.astype(np.uint8), image), arguments.out)
    print(f"wrote {arguments.out} ({int(mask.sum())} voxels)")
    return 0
