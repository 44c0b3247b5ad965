"""``python -m epilepsy_suite video {synthesize,preprocess,features,train,evaluate,predict}``."""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import asdict
from pathlib import Path

from ..errors import InputError
from ..options import add_config_options, config_from_arguments
from ..validation import (
    AT_LEAST_ONE,
    SEED,
    CheckedParser,
    Number,
    OrderedPair,
    built_by,
    require_best_checkpoint,
    video_encoder,
)
from .config import GesturesTrainingConfig
from .models import AGGREGATORS

LOG = logging.getLogger("epilepsy_suite.video")


def register(subparsers: argparse._SubParsersAction, name: str, summary: str) -> None:
    from ..cli import common_parser
    from .extractors import EXTRACTORS

    parser = subparsers.add_parser(name, help=summary, description=summary)
    commands = parser.add_subparsers(
        dest="video_command", metavar="<video command>", required=True, parser_class=CheckedParser
    )
    fraction = Number(float, minimum=0, maximum=1)
    montage_action = built_by(_montage_layout, "the inset inside the frame")

    montage = argparse.ArgumentParser(add_help=False)
    montage.add_argument("--montage", type=fraction, nargs=4, action=montage_action,
                         metavar=("LEFT", "TOP", "WIDTH", "HEIGHT"),
                         help="the recording is a two-camera montage; the inset view's rectangle as fractions of the "
                         "frame (the thesis' recordings: 0 0 0.4167 0.4167)")  # fmt: skip
    # A rate above the recording's repeats frames: 120 Hz is beyond any video-telemetry camera.
    montage.add_argument("--fps", type=Number(float, minimum=1, maximum=120), default=15.0,
                         help="preprocessed frame rate in Hz (default 15)")  # fmt: skip
    # Even sides for 4:2:0 video; 4096 is a 4K frame.
    montage.add_argument("--size", type=Number(int, minimum=16, maximum=4096, multiple_of=2), nargs=2,
                         default=(320, 180), metavar=("W", "H"), help="preprocessed frame size in pixels "
                         "(default 320 180)")  # fmt: skip

    extraction = argparse.ArgumentParser(add_help=False)
    extraction.add_argument("--extractor", choices=sorted(EXTRACTORS),
                            help="default: the one the --weights file is named for (r2plus1d_34_clip32_... -> "
                            "r2plus1d_34_32), else r2plus1d_34_8")  # fmt: skip
    extraction.add_argument("--weights", type=Path, help="extractor weights file (e.g. the published IG-65M "
                            "R(2+1)D-34 checkpoint); without it a random network, for testing only")  # fmt: skip
    extraction.add_argument("--side", type=Number(int, minimum=16, maximum=512),
                            help="extractor input side in pixels (default 112)")  # fmt: skip
    extraction.add_argument("--stride", type=AT_LEAST_ONE, default=8, help="sliding-window step in frames (default 8)")
    extraction.add_argument("--cache", type=Path, help="feature cache folder (required with --annotations)")

    synthesize = commands.add_parser("synthesize", parents=[common_parser()],
                                     help="render synthetic seizure videos and their annotations.csv")  # fmt: skip
    synthesize.add_argument("out", type=Path)
    synthesize.add_argument("--count", type=Number(int, minimum=2, maximum=10000), default=40,
                            help="videos; two per patient (default 40)")  # fmt: skip
    synthesize.add_argument("--durations", type=Number(float, minimum=1, maximum=3600), nargs=2,
                            action=OrderedPair, default=(16, 40), metavar=("MIN", "MAX"),
                            help="range of the seizures' durations in seconds (default 16 40)")  # fmt: skip
    synthesize.add_argument("--seed", type=SEED, default=0, help="(default 0)")
    synthesize.set_defaults(handler=_synthesize, outputs={"out": ("folder", "OUT")})

    preprocess = commands.add_parser("preprocess", parents=[common_parser(), montage],
                                     help="split montage views, resample to 15 fps and 320x180, one file per view")  # fmt: skip
    preprocess.add_argument("videos", type=Path, nargs="+")
    preprocess.add_argument("--out", type=Path, required=True)
    preprocess.add_argument("--codec", type=video_encoder, default="libx264",
                            help="video encoder: libx264, or libx265 (HEVC) as the thesis (default libx264)")  # fmt: skip
    preprocess.set_defaults(handler=_preprocess, outputs={"out": "folder"})

    features = commands.add_parser("features", parents=[common_parser(), montage, extraction],
                                   help="extract and cache sliding-window snippet features (resumable)")  # fmt: skip
    features.add_argument("--annotations", type=Path, required=True, help="CSV: video,t0,tG,t1,patient,class")
    features.set_defaults(handler=_features, outputs={"cache": "folder"})

    training = argparse.ArgumentParser(add_help=False)
    data = training.add_mutually_exclusive_group(required=True)
    data.add_argument("--annotations", type=Path, help="CSV: video,t0,tG,t1,patient,class")
    data.add_argument("--gestures-features", type=Path, metavar="ROOT",
                      help="the public GESTURES features data set (ROOT/seizures.csv, ROOT/features_fpc_8_fps_15/): "
                      "train on its precomputed R(2+1)D-34 features instead of videos")  # fmt: skip
    training.add_argument("--views", nargs="+", choices=("L", "S"), default=["L", "S"],
                          help="GESTURES features: camera views to use (L, S)")  # fmt: skip
    training.add_argument("--no-standardise", action="store_true",
                          help="feed the features as they are (the GESTURES authors' training; default with "
                          "--gestures-features): no training-set standardisation")  # fmt: skip
    training.add_argument("--out", type=Path, required=True)

    train = commands.add_parser("train", parents=[common_parser(), montage, extraction, training],
                                help="train the snippet and seizure classifiers (resumes from OUT/last.pt)")  # fmt: skip
    _add_training_options(train)
    train.add_argument("--validation", type=Path, help="annotations for model selection (default: training set)")
    train.add_argument("--no-resume", action="store_true")
    train.set_defaults(handler=_train, outputs={"out": "folder", "cache": "folder"})

    evaluate = commands.add_parser("evaluate", parents=[common_parser(), montage, extraction, training],
                                   help="stratified k-fold cross-validation: accuracy, F1, PR-AUC, curves")  # fmt: skip
    evaluate.add_argument("--folds", type=Number(int, minimum=2), default=10,
                          help="cross-validation folds (default 10)")  # fmt: skip
    _add_training_options(evaluate)
    evaluate.set_defaults(handler=_evaluate, outputs={"out": "folder", "cache": "folder"})

    predict = commands.add_parser("predict", parents=[common_parser()],
                                  help="probability over time of generalisation and the seizure-level verdict")  # fmt: skip
    predict.add_argument("video", type=Path)
    predict.add_argument("--second-view", type=Path, help="the other camera's file")
    predict.add_argument("--montage", type=fraction, nargs=4, action=montage_action,
                         metavar=("LEFT", "TOP", "WIDTH", "HEIGHT"),
                         help="VIDEO is a montage: also classify its inset view")  # fmt: skip
    predict.add_argument("--model", type=Path, required=True,
                         help="checkpoint from `video train`, or a GESTURES authors' Lightning checkpoint")  # fmt: skip
    extractor = predict.add_mutually_exclusive_group(required=True)
    extractor.add_argument("--extractor", type=Path, help="weights of the feature extractor the model was trained on")
    extractor.add_argument("--random-extractor", action="store_true",
                           help="use the model's extractor with random weights (tests and smoke runs only)")  # fmt: skip
    predict.add_argument("--cache", type=Path, help="feature cache folder")
    predict.add_argument("--csv", type=Path, help="write the probability curve here")
    predict.add_argument("--png", type=Path, help="plot the probability curve here")
    predict.add_argument("--json", type=Path, help="write the verdict and the segment table here")
    predict.set_defaults(handler=_predict, outputs={"csv": "table", "png": "png", "json": "json", "cache": "folder"})


def _montage_layout(*fractions: float):
    """The ``--montage`` rectangle, refused (ValueError) when it does not fit in the frame."""
    from .preprocessing import MontageLayout

    return MontageLayout(*fractions)


def _settings(arguments: argparse.Namespace):
    from .preprocessing import PreprocessingSettings

    return PreprocessingSettings(fps=arguments.fps, width=arguments.size[0], height=arguments.size[1])


def _extractor(arguments: argparse.Namespace):
    from .extractors import extractor_for_weights, load_extractor

    name = arguments.extractor
    if name is None:
        named = extractor_for_weights(arguments.weights) if arguments.weights else None
        name = named or "r2plus1d_34_8"
        if named:
            LOG.info("%s is named for %s: using that extractor", arguments.weights, named)
    if arguments.weights is None:
        LOG.warning("no --weights: the %s extractor is randomly initialised (for testing only)", name)
    return load_extractor(name, arguments.weights, arguments.device, side=arguments.side)


def _synthesize(arguments: argparse.Namespace) -> int:
    from .synthetic import make_synthetic_dataset

    annotations = make_synthetic_dataset(arguments.out, arguments.count, arguments.seed, arguments.durations,
                                         show_bar=not arguments.quiet)  # fmt: skip
    print(f"wrote {len(annotations)} videos and {arguments.out / 'annotations.csv'}")
    return 0


def _preprocess(arguments: argparse.Namespace) -> int:
    from .preprocessing import preprocess_video

    for video in arguments.videos:
        written = preprocess_video(video, arguments.out, arguments.montage, _settings(arguments), arguments.codec,
                                   show_bar=not arguments.quiet)  # fmt: skip
        print("wrote " + ", ".join(str(path) for path in written))
    return 0


def _items(arguments: argparse.Namespace, annotations_path: Path, extractor):
    from .annotations import read_annotations
    from .dataset import dataset_features

    annotations = read_annotations(annotations_path)
    return dataset_features(annotations, extractor, arguments.cache, arguments.montage, _settings(arguments),
                            arguments.stride, show_bar=not arguments.quiet)  # fmt: skip


def _require_cache(arguments: argparse.Namespace) -> None:
    """Videos need a feature cache: refused before the extractor is even built."""
    if arguments.cache is None:
        raise InputError("video command line", "--cache (feature cache folder) is required with --annotations")


def _features(arguments: argparse.Namespace) -> int:
    _require_cache(arguments)
    extractor = _extractor(arguments)
    items = _items(arguments, arguments.annotations, extractor)
    print(f"{sum(len(item) for item in items)} snippets of {len(items)} video views cached in {arguments.cache}")
    return 0


def _add_training_options(parser: argparse.ArgumentParser) -> None:
    """The settings of ``train`` and ``evaluate`` (each its own options: see :mod:`epilepsy_suite.options`)."""
    add_config_options(parser, GesturesTrainingConfig(), {
        "segments": ("--segments", "snippets per sequence, one per segment"),
        "gamma": ("--gamma", "Beta(gamma, gamma) in-segment sampling"),
        "aggregator": ("--aggregator", "seizure classifier", {"choices": AGGREGATORS}),
        "hidden": ("--hidden", "LSTM units per direction"),
        "max_epochs": "--epochs",
        "patience": ("--patience", "stop after this many epochs without a lower validation loss"),
        "learning_rate": ("--learning-rate", "seizure classifier"),
        "snippet_learning_rate": ("--snippet-learning-rate", "snippet classifier"),
        "videos_per_batch": ("--batch-videos", "videos per mini-batch"),
        "seed": "--seed",
    })  # fmt: skip


def _config(arguments: argparse.Namespace) -> GesturesTrainingConfig:
    standardise = not (arguments.no_standardise or arguments.gestures_features)
    return config_from_arguments(arguments, GesturesTrainingConfig(), standardise=standardise)


def _training_data(arguments: argparse.Namespace) -> tuple[list, list, dict]:
    """Training items, validation items and the checkpoint metadata, from videos or the GESTURES features."""
    from .dataset import feature_metadata

    if arguments.gestures_features:
        from .gestures_dataset import read_gestures_features
        from .models import LIGHTNING_METADATA

        if getattr(arguments, "validation", None):
            raise InputError(arguments.validation, "--validation needs --annotations (videos), not --gestures-features")
        items = read_gestures_features(arguments.gestures_features, views=arguments.views, cache_folder=arguments.cache,
                                       show_bar=not arguments.quiet)  # fmt: skip
        metadata = {**LIGHTNING_METADATA, "source": f"GESTURES features data set {arguments.gestures_features}",
                    "stride": 8, "settings": asdict(_settings(arguments))}  # fmt: skip
        return items, [], metadata
    _require_cache(arguments)
    extractor = _extractor(arguments)
    training = _items(arguments, arguments.annotations, extractor)
    validation = _items(arguments, arguments.validation, extractor) if getattr(arguments, "validation", None) else []
    return training, validation, feature_metadata(extractor, _settings(arguments), arguments.stride, arguments.montage)


def _train(arguments: argparse.Namespace) -> int:
    from .training import train_gestures

    training, validation, metadata = _training_data(arguments)
    result = train_gestures(training, validation, arguments.out, _config(arguments), arguments.device,
                            resume=not arguments.no_resume, metadata=metadata, show_bar=not arguments.quiet)  # fmt: skip
    print(f"best checkpoint: {require_best_checkpoint(result)} (epoch {result.best_epoch + 1})")
    return 0


def _evaluate(arguments: argparse.Namespace) -> int:
    from .evaluation import cross_validate

    items, _, metadata = _training_data(arguments)
    result = cross_validate(items, arguments.folds, arguments.out, _config(arguments), arguments.device,
                            seed=arguments.seed, metadata=metadata, curves=True, show_bar=not arguments.quiet)  # fmt: skip
    metrics = result.metrics
    print(f"accuracy {metrics['accuracy']:.3f}, F1 (TCS) {metrics['f1']:.3f}, PR-AUC (TCS) {metrics['pr_auc']:.3f} "
          f"(TP {metrics['tp']}, TN {metrics['tn']}, FP {metrics['fp']}, FN {metrics['fn']})")  # fmt: skip
    print(f"per-seizure predictions: {arguments.out / 'predictions.csv'}; curves: {arguments.out / 'curves'}")
    return 0


def _predict(arguments: argparse.Namespace) -> int:
    from ..io import atomic_output
    from .extractors import load_extractor
    from .inference import plot_curve_png, predict_seizure, write_curve_csv
    from .models import load_gestures_model

    device = arguments.device
    _, payload = load_gestures_model(arguments.model, "cpu")
    metadata = payload.get("metadata", {})
    if "extractor" not in metadata:
        raise InputError(arguments.model, "the checkpoint does not say which feature extractor it was trained on")
    weights = None if arguments.random_extractor else arguments.extractor
    extractor = load_extractor(metadata["extractor"], weights, device, side=metadata.get("side"), model=arguments.model)
    prediction = predict_seizure(arguments.video, arguments.model, extractor, arguments.second_view, arguments.montage,
                                 device, arguments.cache, show_bar=not arguments.quiet)  # fmt: skip
    print(prediction.summary)
    if arguments.csv:
        write_curve_csv(prediction, arguments.csv)
    if arguments.png:
        plot_curve_png(prediction, arguments.png, arguments.video.name)
    if arguments.json:
        report = {"video": str(arguments.video), "verdict": prediction.verdict,
                  "seizure_probability": prediction.seizure_probability,
                  "view_probabilities": prediction.view_seizure_probabilities, "views": prediction.views,
                  "generalisation_time_s": prediction.generalisation_time, "segments": prediction.segments}  # fmt: skip
        with atomic_output(arguments.json) as temporary:
            temporary.write_text(json.dumps(report, indent=2))
    return 0
