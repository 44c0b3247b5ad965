"""Settings of GESTURES training (defaults: the thesis' best seizure-level setting), in a module
light enough for the command line to read its defaults from."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError
from .models import AGGREGATORS


@dataclass
class GesturesTrainingConfig:
    """Defaults: the thesis' best seizure-level setting (16 segments, gamma 2, BLSTM of 64 units)."""

    segments: int = 16
    gamma: float = 2.0
    aggregator: str = "blstm"
    hidden: int = 64
    max_epochs: int = 100
    patience: int | None = None  # epochs without a lower validation loss before stopping (None: never)
    learning_rate: float = 1e-2  # seizure classifier (thesis 2.3.2)
    snippet_learning_rate: float = 1e-3  # snippet classifier (thesis 2.3.1)
    weight_decay: float = 1e-2
    videos_per_batch: int = 64
    snippet_batch: int = 1024
    seed: int = 0
    standardise: bool = True  # False: features as they are (the GESTURES authors' training)

    def __post_init__(self) -> None:
        if self.aggregator not in AGGREGATORS:
            raise InputError("training configuration", f"unknown aggregator {self.aggregator!r}")
        if min(self.segments, self.max_epochs, self.videos_per_batch, self.snippet_batch, self.hidden) < 1:
            raise InputError(
                "training configuration", "segments, max_epochs, batch sizes and hidden units must be >= 1"
            )
        if not self.gamma > 0:
            raise InputError("training configuration", f"gamma must be positive, not {self.gamma}")
