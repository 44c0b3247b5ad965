"""``python -m epilepsy_suite cavity {simulate,train,finetune,predict,evaluate}``."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import logging
from pathlib import Path

from ..errors import InputError
from ..options import add_config_options, config_from_arguments
from ..validation import AT_LEAST_ZERO, SEED, THRESHOLD, CheckedParser, Number, OrderedPair, require_best_checkpoint
from .config import AUGMENTATION_FAMILIES, RESECTION_VOLUME, CavityTrainingConfig
from .inference import TTA_MODES

LOG = logging.getLogger("epilepsy_suite.cavity")


def register(subparsers: argparse._SubParsersAction, name: str, summary: str) -> None:
    from ..cli import common_parser

    parser = subparsers.add_parser(name, help=summary, description=summary)
    commands = parser.add_subparsers(
        dest="cavity_command", metavar="<cavity command>", required=True, parser_class=CheckedParser
    )
    template_mm = Number(int, minimum=1, maximum=8)  # the embedded template, coarsened by a whole factor

    simulate = commands.add_parser(
        "simulate", parents=[common_parser()], help="simulate a resection on a preoperative T1"
    )
    simulate.add_argument("image", type=Path, help="preoperative T1")
    simulate.add_argument("parcellation", type=Path, help="its Neuromorphometrics or GIF parcellation")
    simulate.add_argument("out_image", type=Path, help="simulated postoperative T1")
    simulate.add_argument("out_label", type=Path, help="simulated cavity label")
    simulate.add_argument("--volume", type=RESECTION_VOLUME, nargs=2, action=OrderedPair, default=(500, 50000),
                          metavar=("MIN", "MAX"),
                          help="range of the drawn shape's volume in mm^3 (default 500 50000); the cavity is "
                          "smaller where the shape is clipped by the resectable hemisphere")  # fmt: skip
    simulate.add_argument("--shape", choices=("noisy", "ellipsoid", "cuboid"), default="noisy")
    simulate.add_argument("--seed", type=SEED, default=None, help="makes the simulation reproducible")
    simulate.set_defaults(
        handler=_simulate, outputs={"out_image": ("image", "OUT_IMAGE"), "out_label": ("image", "OUT_LABEL")}
    )

    train = commands.add_parser(
        "train", parents=[common_parser()],
        help="self-supervised training on resections simulated on preoperative T1 + parcellation pairs",
    )  # fmt: skip
    source = train.add_mutually_exclusive_group(required=True)
    source.add_argument("--training", type=Path, help="CSV: image,parcellation[,name]")
    source.add_argument("--template-mm", type=template_mm, metavar="MM",
                        help="train on resections simulated on the embedded MNI template at MM mm (e.g. 3)")  # fmt: skip
    train.add_argument("--validation", type=Path, help="CSV like --training (default: the training subjects)")
    train.add_argument("--pseudo-labels", type=Path, help="CSV: image,label of pseudo-labelled postoperative images")
    _add_training_options(train, CavityTrainingConfig())
    add_config_options(train, CavityTrainingConfig(), {
        "pseudo_fraction": ("--pseudo-fraction", "share of each batch drawn from --pseudo-labels"),
        "volumes": ("--volume", "range of the simulated resections' volume in mm^3", {"metavar": ("MIN", "MAX")}),
        "augmentations": ("--augment", "augmentation families of the thesis to apply",
                          {"nargs": "*", "choices": AUGMENTATION_FAMILIES}),
    })  # fmt: skip
    train.add_argument("--whole-images", action="store_true", help="train on whole images instead of --crop")
    train.set_defaults(handler=_train, outputs={"out": "folder"})

    finetune = commands.add_parser(
        "finetune", parents=[common_parser()],
        help="fine-tune a model on labelled postoperative images with k-fold cross-validation",
    )  # fmt: skip
    finetune.add_argument("--labelled", type=Path, required=True, help="CSV: image,label[,name]")
    finetune.add_argument("--model", type=Path, required=True, help="simulation-trained checkpoint")
    finetune.add_argument("--folds", type=Number(int, minimum=2), default=5, help="cross-validation folds (default 5)")
    _add_training_options(finetune, CavityTrainingConfig.finetuning())
    finetune.set_defaults(handler=_finetune, outputs={"out": "folder"})

    predict = commands.add_parser("predict", parents=[common_parser()], help="segment the cavity of a postoperative T1")
    predict.add_argument("image", type=Path, help="postoperative T1")
    predict.add_argument(
        "--model",
        type=Path,
        required=True,
        help="checkpoint from `cavity train`, or resseg's published self_semi_37-b571f7ba.pth",
    )
    predict.add_argument("--out", type=Path, required=True, help="cavity mask (uint8) in the input's geometry")
    predict.add_argument("--probability", type=Path, help="also write the (mean) probability here")
    _add_prediction_options(predict)
    predict.add_argument("--uncertainty", type=Path, help="with --tta: write the voxel-wise standard deviation here")
    predict.add_argument("--parcellation", type=Path, help="preoperative parcellation on the same grid: "
                         "print the resected structures")  # fmt: skip
    predict.add_argument("--threshold", type=THRESHOLD, default=0.5, help="cavity probability threshold (default 0.5)")
    predict.set_defaults(handler=_predict, outputs={"out": "image", "probability": "image", "uncertainty": "image"})

    evaluate = commands.add_parser("evaluate", parents=[common_parser()], help="Dice, volume difference and HD95")
    evaluate.add_argument("--model", type=Path, required=True)
    cases = evaluate.add_mutually_exclusive_group(required=True)
    cases.add_argument("--labelled", type=Path, help="CSV: image,label[,name]")
    cases.add_argument("--simulated", type=Number(int, minimum=1, maximum=1000), metavar="N",
                       help="N held-out resections simulated on the embedded template (with --template-mm)")  # fmt: skip
    evaluate.add_argument("--template-mm", type=template_mm, default=3, metavar="MM",
                          help="template spacing of --simulated cases (default 3)")  # fmt: skip
    evaluate.add_argument("--case-seed", type=SEED, default=1000,
                          help="seed of the first --simulated case; training draws other seeds (default 1000)")  # fmt: skip
    evaluate.add_argument("--out", type=Path, required=True, help="per-image CSV; the median (IQR) is printed")
    _add_prediction_options(evaluate)
    evaluate.set_defaults(handler=_evaluate, outputs={"out": "table"})


def _add_prediction_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by `predict` and `evaluate` (defaults: resseg's published inference)."""
    parser.add_argument("--tta", type=AT_LEAST_ZERO, default=0, metavar="N",
                        help="test-time augmentation iterations (default 0: none)")  # fmt: skip
    parser.add_argument("--tta-mode", choices=TTA_MODES, default="published",
                        help="published: resseg's flips + affine, averaged with the plain prediction; "
                        "thesis: intensity + spatial changes (section 4.2.1.3)")  # fmt: skip
    parser.add_argument("--largest-component", action=argparse.BooleanOptionalAction, default=True,
                        help="keep only the largest component (default: on, as resseg)")  # fmt: skip
    parser.add_argument("--register", action="store_true",
                        help="affinely register the image to the MNI template first (recommended by resseg for "
                        "images far from MNI orientation); the results are mapped back to the input grid")  # fmt: skip


def _prediction_settings(arguments: argparse.Namespace) -> dict:
    return {
        "tta_iterations": arguments.tta,
        "keep_largest_component": arguments.largest_component,
        "tta_mode": arguments.tta_mode,
    }


def _add_training_options(parser: argparse.ArgumentParser, defaults: CavityTrainingConfig) -> None:
    """Options of ``train`` and ``finetune`` (each its own, with its own defaults)."""
    parser.add_argument("--out", type=Path, required=True, help="folder for best.pt, last.pt and log.csv")
    add_config_options(parser, defaults, {
        "max_epochs": "--epochs",
        "batch_size": "--batch-size",
        "iterations_per_epoch": ("--iterations", "batches per epoch (none: one pass over the subjects)"),
        "learning_rate": "--learning-rate",
        "step_epochs": ("--step-epochs", "the learning rate is divided by 10 every this many epochs"),
        "crop_shape": ("--crop", "training crop; images must be MNI-aligned at 1 mm", {"metavar": ("X", "Y", "Z")}),
        "first_channels": ("--first-channels", "filters of the first convolution"),
        "patience": ("--patience", "stop after this many epochs without a lower validation loss"),
        "seed": "--seed",
    })  # fmt: skip
    parser.add_argument("--no-resume", action="store_true", help="start over even if OUT/last.pt exists")
    parser.add_argument("--workers", type=AT_LEAST_ZERO, default=0, metavar="N",
                        help="data-loader processes simulating and augmenting samples (default 0: in the main "
                        "process); results do not depend on N")  # fmt: skip


def _simulate(arguments: argparse.Namespace) -> int:
    import numpy as np

    from ..geometry import torchio_to_sitk
    from ..io import write_image
    from .dataset import make_subject
    from .simulation import RandomResection

    subject = make_subject("subject", arguments.image, arguments.parcellation)
    transform = RandomResection(volumes=arguments.volume, shape=arguments.shape, seed=arguments.seed)
    resected = transform(subject)
    image = torchio_to_sitk(resected["image"])
    label = torchio_to_sitk(resected["label"])
    write_image(image, arguments.out_image)
    write_image(label, arguments.out_label)
    parameters = resected.history[-1]
    voxels = int(np.count_nonzero(resected["label"].data))
    volume = voxels * float(np.prod(resected["label"].spacing))
    print(f"cavity of {volume / 1000:.1f} mL in the {getattr(parameters, 'hemisphere', '?')} hemisphere")
    print(f"wrote {arguments.out_image} and {arguments.out_label}")
    return 0


def _train(arguments: argparse.Namespace) -> int:
    from .dataset import read_subject_table, template_subject
    from .training import train_cavity

    training = (
        read_subject_table(arguments.training) if arguments.training else [template_subject(arguments.template_mm)]
    )
    validation = read_subject_table(arguments.validation) if arguments.validation else []
    pseudo = read_subject_table(arguments.pseudo_labels) if arguments.pseudo_labels else []
    config = config_from_arguments(arguments, CavityTrainingConfig())
    if arguments.whole_images:
        config = dataclasses.replace(config, crop_shape=None)
    result = train_cavity(
        training, validation, arguments.out, config, arguments.device, pseudo_labelled=pseudo,
        resume=not arguments.no_resume, show_bar=not arguments.quiet, workers=arguments.workers,
    )  # fmt: skip
    print(f"best checkpoint: {require_best_checkpoint(result)}")
    return 0


def _finetune(arguments: argparse.Namespace) -> int:
    from .dataset import read_subject_table
    from .evaluation import summarise
    from .training import k_fold_finetune

    labelled = read_subject_table(arguments.labelled)
    config = config_from_arguments(arguments, CavityTrainingConfig.finetuning())
    records = k_fold_finetune(
        labelled, arguments.model, arguments.out, arguments.folds, config, arguments.device, not arguments.quiet,
        workers=arguments.workers,
    )  # fmt: skip
    _write_records(records, arguments.out / "cross_validation.csv")
    for key, value in summarise(records).items():
        print(f"{key}: {value}")
    return 0


def _predict(arguments: argparse.Namespace) -> int:
    from ..data import as_neuromorphometrics
    from ..io import check_same_grid, read_image, read_label_map, write_image
    from .checkpoint import load_cavity_model
    from .evaluation import resected_structures
    from .inference import predict_image

    if arguments.uncertainty and not arguments.tta:
        raise InputError(arguments.uncertainty, "the uncertainty map needs test-time augmentation (--tta N)")
    device = arguments.device
    model = load_cavity_model(arguments.model, device)
    image = read_image(arguments.image, what="postoperative T1", varying=True)
    parcellation = None
    if arguments.parcellation:  # checked before the long part, so a bad file costs no prediction
        parcellation = read_label_map(arguments.parcellation, what="parcellation")
        check_same_grid(image, parcellation, str(arguments.image), str(arguments.parcellation))
        parcellation = as_neuromorphometrics(parcellation, arguments.parcellation)  # GIF named with the NMM table
    prediction = predict_image(
        image, model, device, threshold=arguments.threshold, register=arguments.register,
        **_prediction_settings(arguments),
    )  # fmt: skip
    structures = resected_structures(prediction.mask, parcellation) if parcellation is not None else []
    write_image(prediction.mask, arguments.out)
    if arguments.probability:
        write_image(prediction.probability, arguments.probability)
    if arguments.uncertainty and prediction.std is not None:
        write_image(prediction.std, arguments.uncertainty)
    print(f"cavity volume: {prediction.volume_ml:.2f} mL")
    if prediction.uncertainty is not None:
        print(f"image uncertainty (CQV of {arguments.tta} TTA volumes): {prediction.uncertainty:.4f}")
    for record in structures:
        print(f"  {record['name']}: {record['resected_ml']:.2f} mL ({record['resected_percent']:.1f}% resected)")
    return 0


def _evaluate(arguments: argparse.Namespace) -> int:
    from .checkpoint import load_cavity_model
    from .dataset import read_subject_table, simulated_cases
    from .evaluation import score_cases, summarise

    model, payload = load_cavity_model(arguments.model, arguments.device)
    if arguments.labelled:
        cases = read_subject_table(arguments.labelled)
        unlabelled = [subject["name"] for subject in cases if "label" not in subject]
        if unlabelled:  # before any prediction is made
            raise InputError(arguments.labelled, f"subject {unlabelled[0]} has no label")
    else:
        cases = simulated_cases(arguments.simulated, arguments.template_mm, arguments.case_seed)
    scored = score_cases(
        model, payload["landmarks"], cases, arguments.device, arguments.register, **_prediction_settings(arguments)
    )
    records = [
        {"name": case["name"], **metrics, "uncertainty": prediction.uncertainty} for case, prediction, metrics in scored
    ]
    _write_records(records, arguments.out)
    for key, value in summarise(records).items():
        print(f"{key}: {value}")
    return 0


def _write_records(records: list[dict], path: Path) -> None:
    from ..io import atomic_output

    if not records:
        return
    with atomic_output(path) as temporary, open(temporary, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
