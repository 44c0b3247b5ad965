"""Settings of cavity training (defaults: the thesis), in a module light enough for the command
line to read its defaults from."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError

#: Augmentation families of the thesis (``augmentation.training_transform``).
AUGMENTATION_FAMILIES = ("resolution", "artefacts", "bias", "noise", "spatial", "flip")


@dataclass
class CavityTrainingConfig:
    """Training settings (defaults: the thesis; shrink ``crop_shape`` and ``first_channels`` for a CPU)."""

    max_epochs: int = 60
    batch_size: int = 10
    iterations_per_epoch: int | None = None  # default: one pass over the training subjects
    learning_rate: float = 1e-3
    weight_decay: float = 1e-2
    step_epochs: int = 20  # learning rate divided by 10 every step_epochs
    first_channels: int = 8
    crop_shape: tuple[int, int, int] | None = (176, 216, 160)  # at a random position; None: whole images
    augmentations: tuple[str, ...] = AUGMENTATION_FAMILIES
    volumes: tuple[float, ...] = (500, 50000)
    simulate: bool = True  # False: the subjects carry real (or pseudo) labels, as in fine-tuning
    pseudo_fraction: float = 0.2  # share of a batch drawn from pseudo-labelled images (2 of 10)
    patience: int | None = None  # epochs without a lower validation loss before stopping (None: never)
    amp: bool = True
    seed: int = 0
    # Training from scratch starts the cavity probability here (epilepsy_suite.initialisation).
    foreground_prior: float | None = 0.01

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.max_epochs < 1:
            raise InputError("training configuration", "batch size and epochs must be at least 1")
        if not 0 <= self.pseudo_fraction < 1:
            raise InputError("training configuration", f"pseudo_fraction {self.pseudo_fraction} is not in [0, 1)")
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
