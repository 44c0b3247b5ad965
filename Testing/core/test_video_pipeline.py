"""GESTURES pipeline on small synthetic seizures: annotations, features cache and resume,
training and resume, cross-validation metrics, prediction and the command line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from epilepsy_suite.cli import main as cli_main
from epilepsy_suite.errors import CancelledError, InputError
from epilepsy_suite.progress import CancelToken
from epilepsy_suite.video.annotations import (
    SeizureAnnotation,
    frame_labels,
    read_annotations,
    snippet_labels,
)
from epilepsy_suite.video.dataset import dataset_features, feature_metadata
from epilepsy_suite.video.evaluation import average_precision, binary_metrics, cross_validate, stratified_folds
from epilepsy_suite.video.extractors import EXTRACTORS, load_extractor
from epilepsy_suite.video.features import VideoFeatures, cache_path, extract_features
from epilepsy_suite.video.inference import estimate_generalisation_time, predict_seizure
from epilepsy_suite.video.models import GesturesModel, SeizureClassifier, load_gestures_model
from epilepsy_suite.video.preprocessing import PreprocessingSettings
from epilepsy_suite.video.synthetic import make_synthetic_dataset, render_seizure_video
from epilepsy_suite.video.training import GesturesTrainingConfig, train_gestures

SIDE = 32  # tiny extractor input: these tests check plumbing, not accuracy


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> list[SeizureAnnotation]:
    folder = tmp_path_factory.mktemp("seizures")
    return make_synthetic_dataset(folder, 6, seed=3, durations=(5.0, 7.0), fps=15.0, size=(160, 90), show_bar=False)


@pytest.fixture(scope="module")
def feature_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("features")


@pytest.fixture(scope="module")
def extractor():
    return load_extractor("r2plus1d_34_8", None, side=SIDE)


def test_labels_follow_equation_2_1() -> None:
    times = np.arange(10) / 2.0
    assert frame_labels(times, None).tolist() == [0] * 10
    assert frame_labels(times, 2.0).tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 1, 1]
    # 8 frames at 15 fps span 0.533 s: a snippet is TCS when its midpoint is at or after tG.
    starts = np.array([1.0, 1.5, 1.8, 2.0])
    assert snippet_labels(starts, 8, 15.0, 2.0).tolist() == [0, 0, 1, 1]


def test_annotations_are_read_and_bad_rows_named(tmp_path: Path, dataset) -> None:
    table = Path(dataset[0].video).parent / "annotations.csv"
    again = read_annotations(table)
    assert [a.seizure_class for a in again] == [a.seizure_class for a in dataset]
    tcs = [a for a in dataset if a.seizure_class == "TCS"]
    assert tcs and all(0.5 <= a.generalisation_ratio <= 0.93 for a in tcs)
    bad = tmp_path / "bad.csv"
    bad.write_text("video,t0,tG,t1,patient,class\na.mp4,0,,10,P1,FOS\nb.mp4,0,12,10,P1,TCS\n")
    with pytest.raises(InputError, match=r"bad.csv: line 3: a TCS needs t0 <= tG < t1"):
        read_annotations(bad)
    bad.write_text("video,t0,tG,t1,patient,class\na.mp4,0,,10,P1,absence\n")
    with pytest.raises(InputError, match="line 2: unknown seizure class 'ABSENCE'"):
        read_annotations(bad)
    bad.write_text("video,t0,t1,class\n")
    with pytest.raises(InputError, match="missing column.*tG.*patient"):
        read_annotations(bad)


def test_features_are_cached_and_an_interrupted_extraction_resumes(tmp_path: Path, dataset, extractor) -> None:
    video = dataset[0].video
    fresh = extract_features(video, extractor, stride=4, batch_size=2, show_bar=False)
    expected = (math.ceil(dataset[0].duration * 15 - 1e-6) - 8) // 4 + 1
    assert fresh.features.shape == (expected, 512) and np.isfinite(fresh.features).all()
    np.testing.assert_allclose(fresh.start_times, np.arange(expected) * 4 / 15)

    cancel = CancelToken()
    calls = []

    def stop_after_some(fraction: float, message: str) -> None:
        calls.append(fraction)
        if len(calls) == 9:
            cancel.cancel()

    cache = tmp_path / "cache"
    with pytest.raises(CancelledError):
        extract_features(video, extractor, stride=4, batch_size=2, cache_folder=cache, checkpoint_every=4,
                         progress=stop_after_some, cancel=cancel, show_bar=False)  # fmt: skip
    target = cache_path(cache, video, "main", extractor, PreprocessingSettings(), 4, None)
    partial = target.with_name(target.name.replace(".pt", ".partial.pt"))
    assert not target.exists() and len(VideoFeatures.load(partial)) == 8
    resumed = extract_features(video, extractor, stride=4, batch_size=2, cache_folder=cache, show_bar=False)
    assert target.is_file() and not partial.exists()
    np.testing.assert_allclose(resumed.features, fresh.features, atol=1e-4)
    np.testing.assert_allclose(resumed.start_times, fresh.start_times)
    assert (
        extract_features(video, extractor, stride=4, cache_folder=cache, show_bar=False).features.shape[0] == expected
    )


@pytest.mark.slow  # R(2+1)D-34 weights written and read: `bootstrap.py test -m slow`
def test_extractor_weights_round_trip_and_bad_files(tmp_path: Path) -> None:
    network = load_extractor("r2plus1d_18", None, seed=4).network
    weights = tmp_path / "r2plus1d_18.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in network.state_dict().items()}}, weights)
    loaded = load_extractor("r2plus1d_18", weights, seed=99)
    for key, value in network.state_dict().items():
        if key.startswith("fc."):
            continue  # the classification layer is not used, so not loaded
        assert torch.equal(loaded.network.state_dict()[key], value), key
    assert loaded.weights_id != "random99"
    wrong = tmp_path / "wrong.pth"
    torch.save(network.state_dict(), wrong)
    with pytest.raises(InputError, match="wrong.pth: weights do not fit r2plus1d_34_8: .* another shape"):
        load_extractor("r2plus1d_34_8", wrong)
    partial = tmp_path / "partial.pth"
    torch.save({k: v for k, v in network.state_dict().items() if not k.startswith("layer4")}, partial)
    with pytest.raises(InputError, match=r"partial.pth: weights do not fit r2plus1d_18: \d+ missing key"):
        load_extractor("r2plus1d_18", partial)
    with pytest.raises(InputError, match="unknown extractor"):
        load_extractor("resnet", None)


def test_r2plus1d_34_has_the_published_size_and_layout() -> None:
    network = load_extractor("r2plus1d_34_8", None).network
    without_fc = sum(p.numel() for name, p in network.named_parameters() if not name.startswith("fc."))
    assert without_fc / 1e6 == pytest.approx(63.5, abs=0.05)  # thesis table 2.1
    assert [network.layer2[0].conv2[0][0].out_channels, network.layer3[0].conv2[0][0].out_channels,
            network.layer4[0].conv2[0][0].out_channels] == [288, 576, 1152]  # fmt: skip
    assert network.layer1[0].conv1[1].eps == 1e-3
    assert EXTRACTORS["r2plus1d_34_32"].frames == 32


def test_aggregators_take_sequences_of_any_length() -> None:
    sequences = torch.randn(3, 5, 512)
    for aggregator in ("mean", "lstm", "blstm"):
        assert SeizureClassifier(512, aggregator)(sequences).shape == (3,)
    with pytest.raises(InputError, match="unknown aggregator"):
        SeizureClassifier(512, "max")


@pytest.mark.slow  # GESTURES trained three times, bit for bit: `bootstrap.py test -m slow`
def test_training_resumes_and_the_model_predicts(tmp_path: Path, dataset, extractor, feature_cache) -> None:
    items = dataset_features(dataset, extractor, feature_cache, stride=4, show_bar=False)
    assert all(item.labels.sum() == 0 for item in items if item.label == 0)
    assert all(0 < item.labels.mean() < 0.55 for item in items if item.label == 1)
    metadata = feature_metadata(extractor, PreprocessingSettings(), 4)
    config = GesturesTrainingConfig(segments=4, max_epochs=6, videos_per_batch=4)
    whole = train_gestures(items, items[:2], tmp_path / "whole", config, metadata=metadata, show_bar=False)
    short = train_gestures(items, items[:2], tmp_path / "parts", GesturesTrainingConfig(segments=4, max_epochs=3,
                           videos_per_batch=4), metadata=metadata, show_bar=False)  # fmt: skip
    resumed = train_gestures(items, items[:2], tmp_path / "parts", config, metadata=metadata, show_bar=False)
    assert len(short.history) == 3 and len(resumed.history) == 6
    weights = [torch.load(run.last_checkpoint, weights_only=False)["state_dict"] for run in (resumed, whole)]
    assert all(torch.equal(weights[0][key], weights[1][key]) for key in weights[0])  # bit for bit
    untimed = [[{k: v for k, v in row.items() if k != "seconds"} for row in run.history] for run in (resumed, whole)]
    assert untimed[0] == untimed[1]
    assert (tmp_path / "parts" / "log.csv").read_text().count("\n") == 7
    model, payload = load_gestures_model(whole.best_checkpoint)
    assert payload["metadata"]["extractor"] == "r2plus1d_34_8" and payload["training_config"]["segments"] == 4

    prediction = predict_seizure(dataset[0].video, whole.best_checkpoint, extractor, cache_folder=feature_cache,
                                 show_bar=False)  # fmt: skip
    assert 0 <= prediction.seizure_probability <= 1 and len(prediction.segments) == 4
    assert prediction.probability.shape == prediction.times.shape and prediction.verdict in ("FOS", "TCS")
    assert prediction.segments[0]["start_s"] < prediction.segments[-1]["end_s"]
    other = load_extractor("r2plus1d_18", None, side=SIDE)
    with pytest.raises(InputError, match="trained on features of r2plus1d_34_8"):
        predict_seizure(dataset[0].video, whole.best_checkpoint, other, show_bar=False)


def test_cross_validation_holds_out_every_seizure_once(tmp_path: Path, dataset, extractor, feature_cache) -> None:
    items = dataset_features(dataset, extractor, feature_cache, stride=4, show_bar=False)
    config = GesturesTrainingConfig(segments=4, max_epochs=2, videos_per_batch=4)
    result = cross_validate(items, 3, tmp_path, config, curves=True, show_bar=False)
    assert sorted(row["video"] for row in result.rows) == sorted(str(a.video) for a in dataset)
    folds = stratified_folds(dataset, 3)
    assert {row["video"]: row["fold"] for row in result.rows} == {
        str(a.video): fold for a, fold in zip(dataset, folds, strict=True)
    }
    assert all(row["prediction"] == ("TCS" if row["probability"] >= 0.5 else "FOS") for row in result.rows)
    assert len(result.fold_metrics) == 3 and 0 <= result.metrics["accuracy"] <= 1
    assert (tmp_path / "predictions.csv").read_text().count("\n") == len(dataset) + 1
    assert len(list((tmp_path / "curves").glob("*.png"))) == len(items)


def test_generalisation_time_is_the_best_step_of_the_curve() -> None:
    times = np.arange(20) * 0.5
    curve = np.where(times >= 6.0, 0.9, 0.1) + np.random.default_rng(0).normal(0, 0.05, 20)
    assert estimate_generalisation_time(times, curve) == 6.0


def test_metrics_and_folds() -> None:
    metrics = binary_metrics([1, 1, 0, 0, 0], [0.9, 0.4, 0.6, 0.2, 0.1])
    assert (metrics["tp"], metrics["fn"], metrics["fp"], metrics["tn"]) == (1, 1, 1, 2)
    assert metrics["accuracy"] == pytest.approx(0.6) and metrics["f1"] == pytest.approx(0.5)
    # Ranking 1, 0, 1: precision 1 at recall 0.5, 2/3 at recall 1.
    assert average_precision([1, 0, 1], [0.9, 0.8, 0.7]) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert average_precision([1, 1, 0], [0.9, 0.8, 0.1]) == pytest.approx(1.0)
    annotations = [SeizureAnnotation(Path(f"v{i}.mp4"), 0, 20 + 7 * i, f"P{i}", "TCS" if i % 3 == 0 else "FOS",
                                      10.0 + i if i % 3 == 0 else None) for i in range(30)]  # fmt: skip
    folds = stratified_folds(annotations, 5)
    for fold in range(5):
        members = [a for a, f in zip(annotations, folds, strict=True) if f == fold]
        assert sum(a.label for a in members) == 2 and len(members) == 6
    durations = [sum(a.duration for a, f in zip(annotations, folds, strict=True) if f == k) for k in range(5)]
    assert max(durations) - min(durations) <= 7 * 29 * 0.25


def test_command_line_trains_and_predicts(tmp_path: Path, dataset, feature_cache, capsys) -> None:
    table = Path(dataset[0].video).parent / "annotations.csv"
    common = ["--extractor", "r2plus1d_34_8", "--side", str(SIDE), "--stride", "4", "--cache", str(feature_cache)]
    assert cli_main(["video", "train", "--annotations", str(table), "--out", str(tmp_path / "m"), "--segments", "4",
                     "--epochs", "2", "--quiet", *common]) == 0  # fmt: skip
    outputs = [tmp_path / "curve.csv", tmp_path / "curve.png", tmp_path / "result.json"]
    assert cli_main(["video", "predict", str(dataset[1].video), "--model", str(tmp_path / "m" / "best.pt"),
                     "--random-extractor", "--cache", str(feature_cache), "--quiet", "--csv", str(outputs[0]),
                     "--png", str(outputs[1]), "--json", str(outputs[2])]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "P(TCS) =" in printed
    report = json.loads(outputs[2].read_text())
    assert report["verdict"] in ("FOS", "TCS") and len(report["segments"]) == 4
    assert outputs[0].read_text().startswith("time_s,probability\n") and outputs[1].stat().st_size > 5000


def test_corrupt_video_in_prediction_is_named(tmp_path: Path, dataset, extractor) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(Path(dataset[0].video).read_bytes()[:2000])
    with pytest.raises(InputError, match="broken.mp4: not a readable video"):
        predict_seizure(broken, GesturesModel(), extractor, show_bar=False)
    short = render_seizure_video(tmp_path / "short.mp4", 0.3, None, seed=1)
    with pytest.raises(InputError, match="short.mp4: the video .* is shorter than one snippet"):
        predict_seizure(short, GesturesModel(), extractor, show_bar=False)
