"""Settings of MS-DSA-Net training (defaults: the paper's recipe), in a module light enough for the
command line to read its defaults from."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError


@dataclass
class FCDTrainingConfig:
    """The paper's recipe (patches of 128, AdamW 1e-4, warm-up then cosine, Dice + TV)."""

    patch_size: int = 128
    feature_size: int = 16
    loss: str = "dice_tv"
    tv_weight: float = 0.1
    max_epochs: int = 300
    learning_rate: float = 1e-4
    final_learning_rate: float = 1e-6
    warmup_epochs: int = 10
    warmup_start_factor: float = 0.1
    weight_decay: float = 1e-2
    patience: int | None = 25  # epochs without a lower validation loss before stopping (None: never)
    patches_per_subject: int = 4
    seed: int = 0
    amp: bool = True  # used on CUDA only
    channels_last: bool = True  # used on CUDA only
    dropout: float = 0.1
    # Training starts p(FCD) here rather than at 0.5 (epilepsy_suite.initialisation).
    foreground_prior: float | None = 0.01

    def __post_init__(self) -> None:
        if self.max_epochs < 1 or self.patch_size < 1 or self.patches_per_subject < 1:
            raise InputError("training configuration", "epochs, patch size and patches per subject must be >= 1")
        if self.warmup_epochs >= self.max_epochs:
            # A short run would never leave its warm-up: warm up over its first third instead.
            self.warmup_epochs = max(self.max_epochs // 3, 1)
