"""Settings of GESTURES training (defaults: the thesis' best seizure-level setting), in a module
light enough for the command line to read its defaults from."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError
from ..validation import AT_LEAST_ONE, LEARNING_RATE, NOT_NEGATIVE, SEED, Number, check_fields, ranged
from .models import AGGREGATORS


@dataclass
class GesturesTrainingConfig:
    """Defaults: the thesis' best seizure-level setting (16 segments, gamma 2, BLSTM of 64 units)."""

    segments: int = ranged(16, Number(int, minimum=1, maximum=1024))
    gamma: float = ranged(2.0, Number(float, above=0))
    aggregator: str = "blstm"
    hidden: int = ranged(64, Number(int, minimum=1, maximum=4096))
    max_epochs: int = ranged(100, AT_LEAST_ONE)
    # Epochs without a lower validation loss before stopping (None: never).
    patience: int | None = ranged(None, AT_LEAST_ONE)
    learning_rate: float = ranged(1e-2, LEARNING_RATE)  # seizure classifier (thesis 2.3.2)
    snippet_learning_rate: float = ranged(1e-3, LEARNING_RATE)  # snippet classifier (thesis 2.3.1)
    weight_decay: float = ranged(1e-2, NOT_NEGATIVE)
    videos_per_batch: int = ranged(64, AT_LEAST_ONE)
    snippet_batch: int = ranged(1024, AT_LEAST_ONE)
    seed: int = ranged(0, SEED)
    standardise: bool = True  # False: features as they are (the GESTURES authors' training)

    def __post_init__(self) -> None:
        if self.aggregator not in AGGREGATORS:
            raise InputError("training configuration", f"unknown aggregator {self.aggregator!r}")
        check_fields(self)
