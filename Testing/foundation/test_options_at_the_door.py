"""Options at the door: every option's value is checked against the range its help states before
any work starts; a bad one exits with status 2 and one line naming the option, and writes nothing."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest
from epilepsy_suite.cavity.config import CavityTrainingConfig
from epilepsy_suite.cli import build_parser, main
from epilepsy_suite.errors import InputError
from epilepsy_suite.fcd.config import FCDTrainingConfig
from epilepsy_suite.fitting import TrainingResult
from epilepsy_suite.validation import Number, require_best_checkpoint
from epilepsy_suite.video.config import GesturesTrainingConfig

# {in}: an input that does not exist (never read: the command stops at its options); {out}: an output.
FCD_TRAIN = "fcd train --synthetic 4 --out {out}"
FCD_PREDICT = "fcd predict {in} --model {in} --out {out}"
CAVITY_TRAIN = "cavity train --template-mm 3 --out {out}"
CAVITY_SIMULATE = "cavity simulate {in} {in} {out} {out}"
VIDEO_PREPROCESS = "video preprocess {in} --out {out}"
VIDEO_TRAIN = "video train --annotations {in} --out {out}"

REFUSED = [
    # fcd: the network needs multiples of 32 from 64; the help said "multiple of 32"
    (FCD_TRAIN + " --patch-size 32", "--patch-size"),
    (FCD_TRAIN + " --patch-size 48", "--patch-size"),
    (FCD_TRAIN + " --patch-size 1024", "--patch-size"),
    (FCD_TRAIN + " --feature-size 6", "--feature-size"),
    (FCD_TRAIN + " --epochs 0", "--epochs"),
    (FCD_TRAIN + " --epochs 2.5", "--epochs"),
    (FCD_TRAIN + " --learning-rate nan", "--learning-rate"),
    (FCD_TRAIN + " --learning-rate -1e-4", "--learning-rate"),
    (FCD_TRAIN + " --tv-weight -0.1", "--tv-weight"),
    (FCD_TRAIN + " --warmup-epochs -1", "--warmup-epochs"),
    (FCD_TRAIN + " --patience 0", "--patience"),
    (FCD_TRAIN + " --workers -1", "--workers"),
    (FCD_TRAIN + " --seed -1", "--seed"),
    (FCD_TRAIN + " --synthetic-spacing 0", "--synthetic-spacing"),
    ("fcd train --synthetic 0 --out {out}", "--synthetic"),
    ("fcd evaluate --synthetic 4 --model {in} --out {out} --overlap -0.5", "--overlap"),
    (FCD_PREDICT + " --overlap 1", "--overlap"),
    (FCD_PREDICT + " --threshold 7", "--threshold"),
    (FCD_PREDICT + " --fill-size 10000", "--fill-size"),  # a 10000^3 window: 7 TiB
    (FCD_PREDICT + " --min-cluster -1", "--min-cluster"),
    ("fcd postprocess {in} --out {out} --threshold 0", "--threshold"),
    ("fcd postprocess {in} --out {out} --fill-size 16", "--fill-size"),
    # cavity
    (CAVITY_SIMULATE + " --volume -5 -1", "--volume"),
    (CAVITY_SIMULATE + " --volume 50000 500", "--volume"),
    (CAVITY_SIMULATE + " --seed -3", "--seed"),
    (CAVITY_TRAIN + " --volume 50000 500", "--volume"),
    (CAVITY_TRAIN + " --volume 0 500", "--volume"),
    ("cavity train --template-mm 0 --out {out}", "--template-mm"),
    (CAVITY_TRAIN + " --epochs 0", "--epochs"),
    (CAVITY_TRAIN + " --batch-size 0", "--batch-size"),
    (CAVITY_TRAIN + " --iterations 0", "--iterations"),
    (CAVITY_TRAIN + " --learning-rate inf", "--learning-rate"),
    (CAVITY_TRAIN + " --step-epochs 0", "--step-epochs"),
    (CAVITY_TRAIN + " --crop 0 0 0", "--crop"),
    (CAVITY_TRAIN + " --first-channels 0", "--first-channels"),
    (CAVITY_TRAIN + " --pseudo-fraction 1", "--pseudo-fraction"),
    ("cavity finetune --labelled {in} --model {in} --out {out} --folds 1", "--folds"),
    ("cavity finetune --labelled {in} --model {in} --out {out} --epochs 0", "--epochs"),
    ("cavity predict {in} --model {in} --out {out} --threshold 7", "--threshold"),
    ("cavity predict {in} --model {in} --out {out} --tta -1", "--tta"),
    ("cavity evaluate --model {in} --simulated 0 --out {out}", "--simulated"),
    ("cavity evaluate --model {in} --simulated 2 --template-mm 9 --out {out}", "--template-mm"),
    ("cavity evaluate --model {in} --simulated 2 --case-seed -1 --out {out}", "--case-seed"),
    # semiology
    ("semiology match abc --limit -1", "--limit"),
    ("semiology match ab", "text"),
    ("semiology query --semiology Tonic --dominant middle", "--dominant"),
    ("semiology map --semiology Tonic --parcellation {in} --out {out} --dominant x", "--dominant"),
    # video
    (VIDEO_PREPROCESS + " --codec nonsense", "--codec"),
    (VIDEO_PREPROCESS + " --codec aac", "--codec"),  # an audio encoder
    (VIDEO_PREPROCESS + " --fps 100000", "--fps"),  # was still encoding after a minute
    (VIDEO_PREPROCESS + " --fps 0", "--fps"),
    (VIDEO_PREPROCESS + " --size 321 180", "--size"),
    (VIDEO_PREPROCESS + " --montage 0.8 0 0.4 0.4", "--montage"),  # the inset leaves the frame
    (VIDEO_PREPROCESS + " --montage 0 0 2 1", "--montage"),
    ("video synthesize {out} --count 1", "--count"),
    ("video synthesize {out} --durations 40 16", "--durations"),
    ("video synthesize {out} --durations 0 10", "--durations"),
    ("video features --annotations {in} --cache {out} --side 8", "--side"),
    ("video features --annotations {in} --cache {out} --stride 0", "--stride"),
    (VIDEO_TRAIN + " --learning-rate nan", "--learning-rate"),
    (VIDEO_TRAIN + " --snippet-learning-rate 2", "--snippet-learning-rate"),
    (VIDEO_TRAIN + " --epochs 0", "--epochs"),
    (VIDEO_TRAIN + " --segments 0", "--segments"),
    (VIDEO_TRAIN + " --gamma 0", "--gamma"),
    (VIDEO_TRAIN + " --hidden 0", "--hidden"),
    (VIDEO_TRAIN + " --batch-videos 0", "--batch-videos"),
    ("video evaluate --annotations {in} --out {out} --folds 1", "--folds"),
    ("video predict {in} --model {in} --random-extractor --montage 0 0 0 0", "--montage"),
]


def _argv(template: str, folder: Path) -> list[str]:
    names = {"{in}": str(folder / "missing-input"), "{out}": str(folder / "out")}
    return [names.get(word, word) for word in template.split()]


@pytest.mark.parametrize(("template", "option"), REFUSED, ids=[f"{t.split()[0]} {t.split()[-2:]}" for t, _ in REFUSED])
def test_a_bad_value_is_refused_at_the_door(template: str, option: str, tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(_argv(template, tmp_path))
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert f"argument {option}" in lines[0] and ": error: " in lines[0]
    assert "Traceback" not in captured.err and captured.out == ""
    assert list(tmp_path.iterdir()) == []  # nothing written


ACCEPTED = [
    (FCD_TRAIN + " --patch-size 64 --feature-size 8 --epochs 1 --learning-rate 1 --warmup-epochs 0", "patch_size", 64),
    (FCD_PREDICT + " --overlap 0 --threshold 0.01 --fill-size 15 --min-cluster 0", "fill_size", 15),
    (FCD_PREDICT + " --overlap 0.9", "overlap", 0.9),
    (CAVITY_SIMULATE + " --volume 800 800", "volume", (800.0, 800.0)),
    (CAVITY_TRAIN + " --volume 100 900 --pseudo-fraction 0", "volumes", (100.0, 900.0)),
    (VIDEO_PREPROCESS + " --codec libx265 --fps 120 --size 16 4096", "codec", "libx265"),
    (VIDEO_PREPROCESS + " --codec mpeg4", "codec", "mpeg4"),
    ("video synthesize {out} --count 2 --durations 5 5", "durations", (5.0, 5.0)),
    ("semiology query --semiology Tonic --dominant L", "dominant", "left"),
    ("semiology match abc --limit 1", "limit", 1),
]


@pytest.mark.parametrize(("template", "dest", "value"), ACCEPTED)
def test_values_at_the_edges_of_their_ranges_are_accepted(template: str, dest: str, value: object, tmp_path) -> None:
    arguments = build_parser().parse_args(_argv(template, tmp_path))
    assert getattr(arguments, dest) == value


def test_a_montage_option_holds_the_checked_layout(tmp_path: Path) -> None:
    from epilepsy_suite.video.preprocessing import MontageLayout

    arguments = build_parser().parse_args(_argv(VIDEO_PREPROCESS + " --montage 0 0 0.4167 0.4167", tmp_path))
    assert arguments.montage == MontageLayout(0, 0, 0.4167, 0.4167)


def _leaves(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _leaves(child, (*path, name))
            return
    yield " ".join(path), parser


LEAVES = dict(_leaves(build_parser()))
METHOD_LEAVES = sorted(name for name in LEAVES if name.split()[0] in ("fcd", "cavity", "semiology", "video"))


@pytest.mark.parametrize("command", METHOD_LEAVES)
def test_every_numeric_option_is_checked_and_its_help_states_the_range(command: str) -> None:
    """No option of any method's subcommand reads a bare int or float, every help names what is
    accepted, and every default lies in its own range."""
    parser = LEAVES[command]
    text = " ".join(parser.format_help().split())
    for action in parser._actions:
        assert action.type not in (int, float), f"{command} {action.option_strings}: unchecked {action.type}"
        if isinstance(action.type, Number):
            assert " ".join(action.type.describe().split()) in text, (command, action.option_strings)
            defaults = action.default if isinstance(action.default, tuple | list) else [action.default]
            for default in defaults:
                assert default is None or action.type.problem(default) is None, (command, action.dest, default)


def test_the_help_of_patch_size_says_what_the_network_needs() -> None:
    text = " ".join(LEAVES["fcd train"].format_help().split())
    assert "cubic patch edge in voxels, a multiple of 32 from 64 to 256 (default 128)" in text
    assert "hole filling window edge in voxels; 0: no filling, a whole number from 0 to 15 (default 5)" in " ".join(
        LEAVES["fcd predict"].format_help().split()
    )


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: FCDTrainingConfig(max_epochs=0), "max_epochs"),
        (lambda: FCDTrainingConfig(patch_size=96 + 1), "patch_size"),
        (lambda: FCDTrainingConfig(learning_rate=float("nan")), "learning_rate"),
        (lambda: CavityTrainingConfig(volumes=(50000, 500)), "volumes"),
        (lambda: CavityTrainingConfig(crop_shape=(0, 8, 8)), "crop_shape"),
        (lambda: GesturesTrainingConfig(learning_rate=float("nan")), "learning_rate"),
        (lambda: GesturesTrainingConfig(gamma=0.0), "gamma"),
    ],
)
def test_configurations_built_in_code_meet_the_same_ranges(build, field: str) -> None:
    with pytest.raises(InputError, match=rf"^training configuration: {field}\b"):
        build()


def test_a_best_checkpoint_no_epoch_wrote_is_not_claimed(tmp_path: Path) -> None:
    """A run whose validation loss was never finite leaves no best.pt; a stale one is not claimed either."""
    best = tmp_path / "best.pt"
    never = TrainingResult(best, tmp_path / "last.pt", [], best_epoch=-1)
    with pytest.raises(InputError, match="best.pt: not written"):
        require_best_checkpoint(never)
    best.write_bytes(b"from another run")
    with pytest.raises(InputError, match="best.pt: not written"):
        require_best_checkpoint(never)
    assert require_best_checkpoint(TrainingResult(best, tmp_path / "last.pt", [], best_epoch=0)) == best
