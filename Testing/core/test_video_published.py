"""Published video formats: R(2+1)D-34 clip8 / clip32 files, whole pickled models, the public
GESTURES features data set (layout of fepegar/gestures-miccai-2021) and the GESTURES authors'
Lightning checkpoints, written here in those layouts on small fake data."""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from epilepsy_suite.checkpoints import pickled_module_class
from epilepsy_suite.cli import main as cli_main
from epilepsy_suite.errors import InputError
from epilepsy_suite.video.extractors import check_weights_name, extractor_for_weights, load_extractor
from epilepsy_suite.video.features import extract_features
from epilepsy_suite.video.gestures_dataset import load_view_features, read_gestures_features, snippet_files
from epilepsy_suite.video.inference import predict_seizure
from epilepsy_suite.video.models import GesturesModel, load_gestures_model, save_gestures_model
from epilepsy_suite.video.sampling import SegmentSampler
from epilepsy_suite.video.synthetic import render_seizure_video
from torch import nn

CLIP32 = "r2plus1d_34_clip32_ft_kinetics_from_ig65m-ade133f1.pth"
CLIP8 = "r2plus1d_34_clip8_ig65m_from_scratch-9bae36ae.pth"
FPS, FRAMES = 15, 8


# Point 8: which clip length a published R(2+1)D-34 file is for, whole pickled models -------------


def test_clip32_file_refused_as_the_8_frame_extractor_and_the_reverse(tmp_path: Path) -> None:
    clip32, clip8 = tmp_path / CLIP32, tmp_path / CLIP8
    for path in (clip32, clip8):  # the name is all that is checked: no need for 250 MB of weights
        torch.save({"stem.0.weight": torch.zeros(1)}, path)
    with pytest.raises(InputError, match=rf"{CLIP32}: is a 32-frame \(clip32\) R\(2\+1\)D-34 file but the 8-frame "
                       r"extractor was chosen \(r2plus1d_34_8\): choose r2plus1d_34_32 or give the clip8 file"):  # fmt: skip
        load_extractor("r2plus1d_34_8", clip32)
    with pytest.raises(InputError, match=rf"{CLIP8}: is an 8-frame \(clip8\) R\(2\+1\)D-34 file but the 32-frame "
                       r"extractor was chosen \(r2plus1d_34_32\): choose r2plus1d_34_8 or give the clip32 file"):  # fmt: skip
        load_extractor("r2plus1d_34_32", clip8)
    # In `video predict` the model fixes the extractor: the hint asks for the other file.
    with pytest.raises(InputError, match=r"but the model best.pt was trained on 8-frame features \(r2plus1d_34_8\): "
                       r"give the clip8 file"):  # fmt: skip
        load_extractor("r2plus1d_34_8", clip32, model=tmp_path / "best.pt")
    # How the command line picks the extractor when none is given.
    assert extractor_for_weights(clip32) == "r2plus1d_34_32"
    assert extractor_for_weights(clip8) == "r2plus1d_34_8"
    assert extractor_for_weights(tmp_path / "my_weights.pth") is None
    check_weights_name(clip8, "r2plus1d_34_8")  # matching names pass
    check_weights_name(clip32, "r2plus1d_18")  # another architecture: the shapes decide


def test_cli_picks_the_extractor_the_weights_file_is_named_for(tmp_path: Path) -> None:
    from epilepsy_suite.video.cli import _extractor

    clip32 = tmp_path / CLIP32
    torch.save({"stem.0.weight": torch.zeros(1)}, clip32)
    arguments = argparse.Namespace(extractor=None, weights=clip32, side=None, device="cpu")
    # The name selects r2plus1d_34_32, whose weights then fail on shape (a 1-tensor file), not on the name.
    with pytest.raises(InputError, match="weights do not fit r2plus1d_34_32"):
        _extractor(arguments)
    arguments.extractor = "r2plus1d_34_8"
    with pytest.raises(InputError, match="choose r2plus1d_34_32"):
        _extractor(arguments)


def test_whole_pickled_model_refused_with_the_state_dict_hint(tmp_path: Path) -> None:
    whole = tmp_path / "r2plus1d_18_whole.pth"
    torch.save(nn.Sequential(nn.Conv3d(3, 4, 1), nn.ReLU()), whole)
    assert pickled_module_class(whole) == "torch.nn.modules.container.Sequential"
    with pytest.raises(InputError, match=r"r2plus1d_18_whole.pth: holds a whole pickled model .*save "
                       r"`model.state_dict\(\)` instead"):  # fmt: skip
        load_extractor("r2plus1d_18", whole)
    classifier = tmp_path / "gestures_whole.pt"
    torch.save(GesturesModel(16, "blstm", 4), classifier)
    with pytest.raises(InputError, match=r"gestures_whole.pt: holds a whole pickled model .*GesturesModel"):
        load_gestures_model(classifier)
    weights = tmp_path / "state.pth"
    torch.save(nn.Linear(2, 2).state_dict(), weights)
    assert pickled_module_class(weights) is None


# Point 9: the GESTURES features data set ---------------------------------------------------------

SEIZURES = [  # subject, seizure, class, ratio before generalisation, discard, snippets
    ("061", "05", True, 0.5, "", 40),
    ("077", "01", True, 0.4, "Small", 36),
    ("102", "12", False, None, "", 30),
    ("113", "03", False, None, "No", 44),
]


def _feature(k: int, count: int, tcs: bool, ratio: float | None, view: str) -> torch.Tensor:
    """512 float32 values: [0] is the snippet index (to check the order), then a pattern that
    tells generalising snippets apart, plus a little noise."""
    generator = torch.Generator().manual_seed(k * 7 + len(view))
    vector = 0.1 * torch.randn(512, generator=generator)
    after = tcs and (k + FRAMES / 2) / count >= (ratio or 0)
    vector[1:64] += 1.0 if after else -1.0
    vector[0] = float(k)
    return vector


def _write_dataset(root: Path, padded_names: bool = False, ratio_column: bool = True) -> Path:
    features = root / "features_fpc_8_fps_15"
    features.mkdir(parents=True)
    with (root / "seizures.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Subject", "Seizure", "GTCS", "Discard"] + (["RatioGTCS"] if ratio_column else []))
        for subject, seizure, tcs, ratio, discard, _ in SEIZURES:
            extra = ["" if ratio is None else ratio] if ratio_column else []
            writer.writerow([subject, seizure, tcs, discard, *extra])
    for subject, seizure, tcs, ratio, _, count in SEIZURES:
        for view in ("L", "S"):
            folder = features / f"{subject}_{seizure}_{view}"
            folder.mkdir()
            for k in range(count):
                name = f"{k:06d}.pth" if padded_names else f"snippet_{k}.pth"
                torch.save(_feature(k, count, tcs, ratio, view), folder / name)
    return root


@pytest.fixture(scope="module")
def gestures_root(tmp_path_factory) -> Path:
    return _write_dataset(tmp_path_factory.mktemp("gestures"))


def test_features_data_set_layout_is_read(gestures_root: Path, tmp_path: Path) -> None:
    items = read_gestures_features(gestures_root, show_bar=False)
    names = sorted((Path(item.annotation.video).name, item.view) for item in items)
    # "Small" drops the S view of 077_01; "No" drops nothing.
    assert names == [("061_05", "L"), ("061_05", "S"), ("077_01", "L"), ("102_12", "L"), ("102_12", "S"),
                     ("113_03", "L"), ("113_03", "S")]  # fmt: skip
    first = next(item for item in items if item.annotation.video.name == "061_05" and item.view == "L")
    assert first.features.shape == (40, 512) and first.features.dtype == torch.float32
    # Files in temporal order even without zero padding (snippet_10 after snippet_9).
    assert first.features[:, 0].tolist() == [float(k) for k in range(40)]
    np.testing.assert_allclose(first.start_times, np.arange(40) / FPS)  # stride 1 frame at 15 fps
    assert first.annotation.t1 == pytest.approx(39 / FPS + FRAMES / FPS)  # the authors' duration
    assert first.annotation.tG == pytest.approx(0.5 * first.annotation.t1)
    assert first.label == 1 and first.labels[0] == 0 and first.labels[-1] == 1
    assert first.key == next(item for item in items if item.view == "S" and item.key == first.key).key
    fos = next(item for item in items if item.annotation.video.name == "102_12")
    assert fos.label == 0 and float(fos.labels.sum()) == 0
    # The features folder itself can be given; and the order of zero-padded names is the sorted one.
    assert len(read_gestures_features(gestures_root / "features_fpc_8_fps_15", views=["L"], show_bar=False)) == 4
    padded = _write_dataset(tmp_path / "padded", padded_names=True, ratio_column=False)
    folder = padded / "features_fpc_8_fps_15" / "061_05_L"
    assert snippet_files(folder) == sorted(folder.glob("*.pth"))
    unlabelled = read_gestures_features(padded, show_bar=False)
    tcs = next(item for item in unlabelled if item.label == 1)
    assert tcs.annotation.tG is None and torch.isnan(tcs.labels).all()  # no RatioGTCS: snippet labels unknown
    # The stacked features are cached per view and read back.
    cache = tmp_path / "cache"
    assert torch.equal(load_view_features(folder, cache), load_view_features(folder, cache))
    assert len(list(cache.glob("061_05_L.*.gestures.pt"))) == 1


def test_features_data_set_errors_name_the_file(tmp_path: Path) -> None:
    root = tmp_path / "bad"
    (root / "features_fpc_8_fps_15" / "061_05_L").mkdir(parents=True)
    with pytest.raises(InputError, match="seizures.csv: the GESTURES seizure table does not exist"):
        read_gestures_features(root, show_bar=False)
    (root / "seizures.csv").write_text("Subject,Seizure,Discard\n061,05,\n")
    with pytest.raises(InputError, match="seizures.csv: needs a GTCS"):
        read_gestures_features(root, show_bar=False)
    (root / "seizures.csv").write_text("Subject,Seizure,GTCS\n061,05,maybe\n")
    with pytest.raises(InputError, match="seizures.csv: line 2: GTCS = 'maybe'"):
        read_gestures_features(root, show_bar=False)
    (root / "seizures.csv").write_text("Subject,Seizure,GTCS\n061,05,False\n")
    with pytest.raises(InputError, match="061_05_L: holds no snippet feature file"):
        read_gestures_features(root, show_bar=False)
    torch.save(torch.zeros(2, 512), root / "features_fpc_8_fps_15" / "061_05_L" / "0.pth")
    with pytest.raises(InputError, match=r"0.pth: holds a tensor of shape \(2, 512\), not one feature vector"):
        read_gestures_features(root, show_bar=False)
    with pytest.raises(InputError, match="holds no features_fpc_8_fps_15/"):
        read_gestures_features(tmp_path, show_bar=False)


def test_video_train_runs_on_the_features_data_set(gestures_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert cli_main(["video", "train", "--gestures-features", str(gestures_root), "--out", str(out),
                     "--segments", "4", "--epochs", "8", "--batch-videos", "4", "--quiet", "--device", "cpu"]) == 0  # fmt: skip
    model, payload = load_gestures_model(out / "best.pt")
    assert payload["metadata"]["extractor"] == "r2plus1d_34_8" and payload["metadata"]["side"] == 112
    assert payload["training_config"]["standardise"] is False  # the authors' features, as they are
    assert torch.equal(model.feature_mean, torch.zeros(512)) and torch.equal(model.feature_std, torch.ones(512))
    assert (out / "log.csv").is_file()
    items = read_gestures_features(gestures_root, show_bar=False)
    centre = SegmentSampler(4, math.inf)
    with torch.no_grad():
        logits = model.seizure_logits(
            torch.stack([item.features[torch.from_numpy(centre(len(item)))] for item in items])
        )
    assert ((logits > 0).long().tolist()) == [item.label for item in items]  # separable fake data is learnt


def test_video_evaluate_runs_on_the_features_data_set(gestures_root: Path, tmp_path: Path) -> None:
    assert cli_main(["video", "evaluate", "--gestures-features", str(gestures_root), "--out", str(tmp_path / "cv"),
                     "--folds", "3", "--segments", "4", "--epochs", "1", "--quiet", "--device", "cpu"]) == 0  # fmt: skip
    assert (tmp_path / "cv" / "predictions.csv").is_file()


# Point 9: the GESTURES authors' Lightning checkpoints ---------------------------------------------


class AuthorsRecurrent(nn.Module):
    """Their recurrent model from the published facts: one LSTM layer (batch first), the last
    hidden state of each direction, concatenated -> Linear(directions * hidden, 2)."""

    def __init__(self, hidden: int = 64, bidirectional: bool = True) -> None:
        super().__init__()
        self.lstm = nn.LSTM(512, hidden, num_layers=1, batch_first=True, bidirectional=bidirectional)
        self.fc = nn.Linear((2 if bidirectional else 1) * hidden, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(x)
        return self.fc(hidden.permute(1, 0, 2).flatten(1))


class AuthorsMean(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(512, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.mean(1))


class AuthorsLightning(nn.Module):
    """Stands for their LightningModule: the network under ``self.model``."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.model = network


def _lightning_checkpoint(path: Path, network: nn.Module) -> Path:
    module = AuthorsLightning(network)
    torch.save({"epoch": 41, "global_step": 420, "pytorch-lightning_version": "0.8.5",
                "checkpoint_callback_best_model_score": torch.tensor(0.97), "state_dict": module.state_dict(),
                "optimizer_states": [torch.optim.AdamW(module.parameters(), lr=1e-2).state_dict()],
                "lr_schedulers": [], "hparams_type": "Namespace",
                "hparams": argparse.Namespace(batch_size=64, learning_rate=1e-2, lr=1e-2)}, path)  # fmt: skip
    return path


@pytest.mark.parametrize(("network", "aggregator"), [
    (lambda: AuthorsRecurrent(64, True), "blstm"), (lambda: AuthorsRecurrent(32, False), "lstm"),
    (AuthorsMean, "mean"),
])  # fmt: skip
def test_lightning_checkpoint_gives_the_authors_probabilities(tmp_path: Path, network, aggregator: str) -> None:
    torch.manual_seed(5)
    reference = network().eval()
    for parameter in reference.parameters():  # larger weights than the default init: logits far from 0
        parameter.data.mul_(3)
    features = torch.randn(6, 16, 512) * 2
    with torch.no_grad():  # shift the TCS logit so that half the sequences are TCS, half FOS
        margins = (reference(features) @ torch.tensor([-1.0, 1.0])).sort().values
        reference.fc.bias[1] -= (margins[2] + margins[3]) / 2
    path = _lightning_checkpoint(tmp_path / "epoch=41.ckpt", reference)
    model, payload = load_gestures_model(path)
    assert model.seizure.aggregator == aggregator and not model.has_snippet_classifier
    assert payload["metadata"]["extractor"] == "r2plus1d_34_8"
    with torch.no_grad():
        theirs = torch.softmax(reference(features), dim=1)
        ours = torch.sigmoid(model.seizure_logits(features))
    np.testing.assert_allclose(ours.numpy(), theirs[:, 1].numpy(), atol=1e-6)
    assert ((ours > 0.5).long() == theirs.argmax(1)).all()
    assert int((ours > 0.5).sum()) == 3  # both classes occur, so the agreement means something


def test_lightning_checkpoint_errors(tmp_path: Path) -> None:
    three = tmp_path / "three.ckpt"
    torch.save({"state_dict": {"model.fc.weight": torch.zeros(3, 128), "model.fc.bias": torch.zeros(3)}}, three)
    with pytest.raises(InputError, match=r"three.ckpt: is not a GESTURES Lightning checkpoint: .*\(3, 128\)"):
        load_gestures_model(three)
    deep = tmp_path / "deep.ckpt"
    state = AuthorsLightning(AuthorsRecurrent(8, True)).state_dict()
    state["model.lstm.weight_ih_l1"] = torch.zeros(32, 16)
    torch.save({"state_dict": state}, deep)
    with pytest.raises(InputError, match="deep.ckpt: holds layers the GESTURES models do not have"):
        load_gestures_model(deep)
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {"encoder.weight": torch.zeros(2)}}, other)
    with pytest.raises(InputError, match="other.pt: is not a GESTURES checkpoint"):
        load_gestures_model(other)
    ours = save_gestures_model(tmp_path / "ours.pt", GesturesModel(16, "blstm", 4), metadata={"extractor": "x"})
    assert load_gestures_model(ours)[1]["metadata"] == {"extractor": "x"}  # our files still load


def test_lightning_checkpoint_predicts_a_video(tmp_path: Path) -> None:
    torch.manual_seed(2)
    reference = AuthorsRecurrent(64, True).eval()
    path = _lightning_checkpoint(tmp_path / "gestures.ckpt", reference)
    video = render_seizure_video(tmp_path / "seizure.mp4", 4.0, 2.0, seed=1, fps=15.0, size=(160, 90))
    extractor = load_extractor("r2plus1d_34_8", None, side=32)  # tiny random extractor: plumbing only
    prediction = predict_seizure(video, path, extractor, segments=4, show_bar=False)
    features = torch.from_numpy(extract_features(video, extractor, stride=8, show_bar=False).features)
    sequence = features[torch.from_numpy(SegmentSampler(4, math.inf)(len(features)))][None]
    with torch.no_grad():
        expected = float(torch.softmax(reference(sequence), dim=1)[0, 1])
    assert prediction.seizure_probability == pytest.approx(expected, abs=1e-6)
    assert np.isnan(prediction.probability).all() and prediction.generalisation_time is None  # no snippet classifier


def test_lightning_checkpoint_runs_in_video_predict(tmp_path: Path) -> None:
    path = _lightning_checkpoint(tmp_path / "gestures.ckpt", AuthorsRecurrent(64, True))
    video = render_seizure_video(tmp_path / "short.mp4", 1.2, None, seed=2, fps=15.0, size=(160, 90))
    # The checkpoint records no extractor: R(2+1)D-34 on 8 frames at 112 px, as the authors' features.
    report = tmp_path / "verdict.json"
    assert cli_main(["video", "predict", str(video), "--model", str(path), "--random-extractor", "--json",
                     str(report), "--quiet", "--device", "cpu"]) == 0  # fmt: skip
    assert 0 <= json.loads(report.read_text())["seizure_probability"] <= 1


def test_synthesize_into_a_relative_folder_then_read_from_anywhere(tmp_path: Path, monkeypatch) -> None:
    """`video synthesize synth` from one folder, annotations read from another: the paths resolve."""
    from epilepsy_suite.video.annotations import SeizureAnnotation, read_annotations, write_annotations

    monkeypatch.chdir(tmp_path)
    (tmp_path / "synth").mkdir()
    (tmp_path / "elsewhere").mkdir()
    for name in ("seizure_000.mp4", "seizure_001.mp4"):
        (tmp_path / "synth" / name).write_bytes(b"")
    outside = tmp_path / "elsewhere" / "side.mp4"
    outside.write_bytes(b"")
    items = [
        SeizureAnnotation(Path("synth/seizure_000.mp4"), 0.0, 10.0, "P0", "FOS"),
        SeizureAnnotation(Path("synth/seizure_001.mp4"), 0.0, 12.0, "P0", "TCS", 6.0, Path("elsewhere/side.mp4")),
    ]
    write_annotations(items, Path("synth/annotations.csv"))
    for working in (tmp_path, tmp_path / "synth", tmp_path / "elsewhere"):
        monkeypatch.chdir(working)
        read = read_annotations(tmp_path / "synth" / "annotations.csv")
        assert [item.video.resolve() for item in read] == [(tmp_path / "synth" / n).resolve() for n in
                                                           ("seizure_000.mp4", "seizure_001.mp4")]  # fmt: skip
        assert read[1].second_view is not None and read[1].second_view.resolve() == outside.resolve()
