"""Settings of cavity training (defaults: the thesis), in a module light enough for the command
line to read its defaults from."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError
from ..validation import AT_LEAST_ONE, LEARNING_RATE, NOT_NEGATIVE, SEED, Number, check_fields, ranged

#: Augmentation families of the thesis (``augmentation.training_transform``).
AUGMENTATION_FAMILIES = ("resolution", "artefacts", "bias", "noise", "spatial", "flip")

#: A drawn resection volume in mm^3: at most half a litre, about a hemisphere.
RESECTION_VOLUME = Number(float, above=0, maximum=500000)


@dataclass
class CavityTrainingConfig:
    """Training settings (defaults: the thesis; shrink ``crop_shape`` and ``first_channels`` for a CPU)."""

    max_epochs: int = ranged(60, AT_LEAST_ONE)
    batch_size: int = ranged(10, Number(int, minimum=1, maximum=256))
    # Default: one pass over the training subjects.
    iterations_per_epoch: int | None = ranged(None, AT_LEAST_ONE)
    learning_rate: float = ranged(1e-3, LEARNING_RATE)
    weight_decay: float = ranged(1e-2, NOT_NEGATIVE)
    step_epochs: int = ranged(20, AT_LEAST_ONE)  # learning rate divided by 10 every step_epochs
    first_channels: int = ranged(8, Number(int, minimum=1, maximum=64))
    # At a random position; None: whole images.
    crop_shape: tuple[int, int, int] | None = ranged((176, 216, 160), Number(int, minimum=8, maximum=512))
    augmentations: tuple[str, ...] = AUGMENTATION_FAMILIES
    volumes: tuple[float, ...] = ranged((500, 50000), RESECTION_VOLUME, ordered=True)  # (MIN, MAX) mm^3
    simulate: bool = True  # False: the subjects carry real (or pseudo) labels, as in fine-tuning
    # Share of a batch drawn from pseudo-labelled images (2 of 10).
    pseudo_fraction: float = ranged(0.2, Number(float, minimum=0, below=1))
    # Epochs without a lower validation loss before stopping (None: never).
    patience: int | None = ranged(None, AT_LEAST_ONE)
    amp: bool = True
    seed: int = ranged(0, SEED)
    # Training from scratch starts the cavity probability here (epilepsy_suite.initialisation).
    foreground_prior: float | None = ranged(0.01, Number(float, above=0, below=1))

    def __post_init__(self) -> None:
        check_fields(self)
        self.volumes = tuple(float(value) for value in self.volumes)
        self.augmentations = tuple(self.augmentations)
        unknown = sorted(set(self.augmentations) - set(AUGMENTATION_FAMILIES))
        if unknown:
            raise InputError("training configuration", f"unknown augmentations {unknown}")
        if self.crop_shape is not None:
            self.crop_shape = tuple(int(size) for size in self.crop_shape)  # type: ignore[assignment]

    @classmethod
    def finetuning(cls, **changes: object) -> CavityTrainingConfig:
        """Defaults of fine-tuning on labelled images: 20 epochs from 1e-4, divided by 10 after 10."""
        return cls(**{"max_epochs": 20, "step_epochs": 10, "learning_rate": 1e-4, "simulate": False, **changes})
