"""Settings of MS-DSA-Net training (defaults: the paper's recipe), in a module light enough for the
command line to read its defaults from."""

from __future__ import annotations

from dataclasses import dataclass

from ..validation import AT_LEAST_ONE, AT_LEAST_ZERO, LEARNING_RATE, NOT_NEGATIVE, SEED, Number, check_fields, ranged


@dataclass
class FCDTrainingConfig:
    """The paper's recipe (patches of 128, AdamW 1e-4, warm-up then cosine, Dice + TV)."""

    # MS-DSA-Net pools five times and its deepest scale needs more than one voxel (fcd.model).
    patch_size: int = ranged(128, Number(int, minimum=64, maximum=256, multiple_of=32))
    # Divisible by the 4 attention heads.
    feature_size: int = ranged(16, Number(int, minimum=8, maximum=128, multiple_of=4))
    loss: str = "dice_tv"
    tv_weight: float = ranged(0.1, NOT_NEGATIVE)
    max_epochs: int = ranged(300, AT_LEAST_ONE)
    learning_rate: float = ranged(1e-4, LEARNING_RATE)
    final_learning_rate: float = ranged(1e-6, Number(float, minimum=0, maximum=1))
    warmup_epochs: int = ranged(10, AT_LEAST_ZERO)
    warmup_start_factor: float = ranged(0.1, Number(float, above=0, maximum=1))
    weight_decay: float = ranged(1e-2, NOT_NEGATIVE)
    # Epochs without a lower validation loss before stopping (None: never).
    patience: int | None = ranged(25, AT_LEAST_ONE)
    patches_per_subject: int = ranged(4, AT_LEAST_ONE)
    seed: int = ranged(0, SEED)
    amp: bool = True  # mixed precision on CUDA; bf16 on CPUs with AMX or AVX512-BF16
    channels_last: bool = True  # used on CUDA only
    dropout: float = ranged(0.1, Number(float, minimum=0, below=1))
    # Training starts p(FCD) here rather than at 0.5 (epilepsy_suite.initialisation).
    foreground_prior: float | None = ranged(0.01, Number(float, above=0, below=1))

    def __post_init__(self) -> None:
        check_fields(self)
        if self.warmup_epochs >= self.max_epochs:
            # A short run would never leave its warm-up: warm up over its first third instead.
            self.warmup_epochs = max(self.max_epochs // 3, 1)
