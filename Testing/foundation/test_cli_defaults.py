"""Every training command takes its defaults from its configuration dataclass (one source each),
and one subcommand's defaults never leak into another's."""

from __future__ import annotations

import argparse
import dataclasses

import pytest
import torch
from epilepsy_suite.cavity.config import CavityTrainingConfig
from epilepsy_suite.cli import build_parser
from epilepsy_suite.fcd.config import FCDTrainingConfig
from epilepsy_suite.options import add_config_options, config_from_arguments
from epilepsy_suite.video.config import GesturesTrainingConfig

COMMANDS = {
    "cavity train": (["cavity", "train", "--training", "t.csv", "--out", "o"], CavityTrainingConfig()),
    "cavity finetune": (
        ["cavity", "finetune", "--labelled", "l.csv", "--model", "m.pt", "--out", "o"],
        CavityTrainingConfig.finetuning(),
    ),
    "fcd train": (["fcd", "train", "--synthetic", "4", "--out", "o"], FCDTrainingConfig()),
    "video train": (["video", "train", "--annotations", "a.csv", "--out", "o"], GesturesTrainingConfig()),
    "video evaluate": (["video", "evaluate", "--annotations", "a.csv", "--out", "o"], GesturesTrainingConfig()),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_command_without_options_trains_with_the_dataclass_defaults(command: str) -> None:
    argv, defaults = COMMANDS[command]
    arguments = build_parser().parse_args(argv)
    overrides = {"standardise": defaults.standardise} if command.startswith("video") else {}
    assert config_from_arguments(arguments, defaults, **overrides) == defaults
    parsed = {name: getattr(arguments, name) for name in arguments.config_fields}
    assert parsed == {name: value for name, value in dataclasses.asdict(defaults).items() if name in parsed}
    assert len(arguments.config_fields) >= 6  # the options really come from the dataclass


def test_finetune_defaults_do_not_leak_into_train() -> None:
    parser = build_parser()
    train = parser.parse_args(COMMANDS["cavity train"][0])
    finetune = parser.parse_args(COMMANDS["cavity finetune"][0])
    assert (train.max_epochs, train.learning_rate) == (60, 1e-3)
    assert (finetune.max_epochs, finetune.learning_rate, finetune.step_epochs) == (20, 1e-4, 10)


def test_options_parse_back_into_the_configuration() -> None:
    arguments = build_parser().parse_args(
        COMMANDS["cavity train"][0] + ["--epochs", "7", "--crop", "32", "40", "32", "--volume", "100", "900",
                                       "--patience", "3"]
    )  # fmt: skip
    config = config_from_arguments(arguments, CavityTrainingConfig())
    assert (config.max_epochs, config.crop_shape, config.volumes, config.patience) == (7, (32, 40, 32), (100, 900), 3)
    fcd = build_parser().parse_args(COMMANDS["fcd train"][0] + ["--epochs", "3"])
    assert config_from_arguments(fcd, FCDTrainingConfig()).warmup_epochs == 1  # a short run leaves its warm-up


def test_help_shows_the_dataclass_default_and_unknown_fields_are_refused() -> None:
    parser = argparse.ArgumentParser()
    add_config_options(parser, CavityTrainingConfig(), {"max_epochs": ("--epochs", "epochs")})
    assert "(default 60)" in parser.format_help()
    with pytest.raises(ValueError, match="has no field 'epochs'"):
        add_config_options(argparse.ArgumentParser(), CavityTrainingConfig(), {"epochs": "--epochs"})


def test_device_is_resolved_once_before_the_command_runs(monkeypatch) -> None:
    import epilepsy_suite.semiology.cli as semiology_cli
    from epilepsy_suite.cli import main

    assert build_parser().parse_args(["semiology", "terms"]).device == "auto"
    seen = []
    monkeypatch.setattr(semiology_cli, "_terms", lambda arguments: seen.append(arguments.device) or 0)
    assert main(["semiology", "terms", "--device", "cpu", "--quiet"]) == 0
    assert seen == [torch.device("cpu")]  # handlers receive a torch.device, not the option's text
