"""Self-supervised cavity training on simulated resections, semi-supervised mixing, fine-tuning.

Checkpoints hold the model configuration, weights and the histogram-standardisation landmarks, so a
checkpoint is all ``cavity predict`` needs. ``last.pt`` is written every epoch (resume), ``best.pt``
at the lowest validation loss, ``log.csv`` with the losses.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch
import torchio as tio
from monai.losses import DiceLoss

from ..device import one_thread
from ..distributed import ProcessGroup, join_process_group
from ..errors import InputError
from ..fitting import TrainingResult, TrainingTask, fit
from ..initialisation import set_foreground_prior
from ..progress import CancelToken, ProgressCallback
from .augmentation import preprocessing, train_landmarks, training_transform
from .checkpoint import CHECKPOINT_FORMAT, load_cavity_model, save_checkpoint
from .config import CavityTrainingConfig
from .dataset import check_subjects, subject_image
from .evaluation import score_cases
from .model import CavityUNet
from .simulation import RandomResection, masks_of


def learning_rate_factor(epoch: int, config: CavityTrainingConfig) -> float:
    return 0.1 ** (epoch // config.step_epochs)


def _image_and_label(subject: tio.Subject) -> tuple[torch.Tensor, torch.Tensor]:
    """(1, X, Y, Z) float image and binary float label of a transformed subject."""
    return subject["image"].data.float(), (subject["label"].data > 0).float()


class EpochSamples(torch.utils.data.Dataset):
    """The training samples of one epoch, each drawn from its own seed: ``(seed, epoch, index)``.

    Sample ``index`` picks its subject (simulated resection or, with probability
    ``config.pseudo_fraction``, a pseudo-labelled image) and all its random augmentation from
    generators seeded by that triple only, so a run gives the same batches whatever the number of
    data-loader workers, and a resumed run the same ones as an uninterrupted run.
    Items are ``(image, label)`` float tensors of shape (1, X, Y, Z).
    """

    def __init__(
        self,
        training: Sequence[tio.Subject],
        pseudo_labelled: Sequence[tio.Subject],
        config: CavityTrainingConfig,
        landmarks: np.ndarray | None,
        epoch: int,
        length: int,
    ):
        self.training, self.pseudo_labelled = list(training), list(pseudo_labelled)
        self.config, self.epoch, self.length = config, epoch, length
        self.simulated = training_transform(
            landmarks, config.simulate, config.crop_shape, config.volumes, augmentations=config.augmentations
        )
        self.real = training_transform(landmarks, False, config.crop_shape, augmentations=config.augmentations)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        with one_thread():  # the samples must not depend on who prepares them
            return self._sample(index)

    def _sample(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.config.seed, self.epoch, index])
        # TorchIO's random transforms draw from torch's generator, a few from NumPy's global one.
        torch.manual_seed(int(rng.integers(2**62)))
        np.random.seed(int(rng.integers(2**32)))
        if self.pseudo_labelled and rng.random() < self.config.pseudo_fraction:
            sample = self.real(self.pseudo_labelled[int(rng.integers(len(self.pseudo_labelled)))])
        else:
            sample = self.simulated(self.training[int(rng.integers(len(self.training)))])
        return _image_and_label(sample)


def sample_worker_setup(_: int) -> None:
    """Start of a data-loader worker: ITK filters (TorchIO's resampling) on one thread, as torch
    already is, so that N workers use N cores instead of each trying to use them all."""
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)


def collate_samples(items: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    shapes = {tuple(image.shape[1:]) for image, _ in items}
    if len(shapes) > 1:
        raise InputError(
            "training subjects", f"images of different shapes {sorted(shapes)}: set crop_shape so batches can stack"
        )
    return torch.stack([image for image, _ in items]), torch.stack([label for _, label in items])


class CavityTask(TrainingTask):
    """Cavity U-Net training for :func:`~epilepsy_suite.fitting.fit`: batches of simulated resections
    (or labelled images), Dice loss, validation on seeded simulations of the validation subjects."""

    name = "cavity train"
    checkpoint_format = CHECKPOINT_FORMAT
    architecture = "cavity U-Net"

    def __init__(
        self,
        training: Sequence[tio.Subject],
        validation: Sequence[tio.Subject],
        pseudo_labelled: Sequence[tio.Subject],
        config: CavityTrainingConfig,
        group: ProcessGroup,
        initial_checkpoint: str | os.PathLike[str] | None,
        workers: int,
    ) -> None:
        if config.batch_size % group.world_size:
            raise InputError("batch size", f"{config.batch_size} cannot be split between {group.world_size} processes")
        self.training, self.validation = list(training), list(validation) or list(training)
        self.pseudo_labelled, self.config, self.workers = list(pseudo_labelled), config, workers
        torch.manual_seed(config.seed)
        # Inference resamples to the voxel size the network learnt on (see CavityUNet.spacing_mm).
        spacing = float(np.mean(self.training[0]["image"].spacing))
        model, landmarks = CavityUNet(first_channels=config.first_channels, spacing_mm=spacing), None
        if initial_checkpoint is not None:
            model, payload = load_cavity_model(initial_checkpoint, "cpu")
            landmarks = payload["landmarks"]
        elif config.foreground_prior is not None:
            set_foreground_prior(model.head, config.foreground_prior)
        self.landmarks = landmarks
        self.model = model.to(group.device)
        self.device = group.device
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda epoch: learning_rate_factor(epoch, config)
        )
        self.loss_function = DiceLoss(include_background=False, to_onehot_y=True, softmax=True)
        self.iterations = config.iterations_per_epoch or max(1, math.ceil(len(self.training) / config.batch_size))
        self._landmarks_learnt = landmarks is not None

    def restore(self, payload: dict) -> None:
        stored = payload.get("landmarks")
        self.landmarks = None if stored is None else np.asarray(stored)
        self._landmarks_learnt = True

    def _prepare(self) -> None:
        if not self._landmarks_learnt:
            self.landmarks = train_landmarks([subject_image(subject) for subject in self.training])
            self._landmarks_learnt = True
        if self.config.simulate and self.workers:
            for subject in self.training:  # compute the resection masks once here: forked workers inherit them
                masks_of(subject, "image", "parcellation", None)

    def batches(self, epoch: int, rng: np.random.Generator, group: ProcessGroup) -> Iterable[object]:
        self._prepare()
        config = self.config
        samples = EpochSamples(
            self.training, self.pseudo_labelled, config, self.landmarks, epoch, self.iterations * config.batch_size
        )
        share = torch.utils.data.Subset(samples, range(group.rank, len(samples), group.world_size))
        return torch.utils.data.DataLoader(
            share, config.batch_size // group.world_size, num_workers=self.workers, collate_fn=collate_samples,
            worker_init_fn=sample_worker_setup,
        )  # fmt: skip

    def training_loss(self, network: torch.nn.Module, batch: object) -> tuple[torch.Tensor, dict[str, float]]:
        images, labels = (tensor.to(self.device) for tensor in batch)  # type: ignore[union-attr]
        return self.loss_function(network(images).float(), labels), {}

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        config = self.config
        # The same seeded resections every epoch, so validation losses are comparable.
        simulation = [RandomResection(volumes=config.volumes, seed=config.seed)] if config.simulate else []
        # Centred on the cavity, so that validation always scores one.
        crop = [tio.CropOrPad(config.crop_shape, mask_name="label")] if config.crop_shape else []
        transform = tio.Compose(simulation + preprocessing(self.landmarks) + crop + [tio.EnsureShapeMultiple(4)])
        self.model.eval()
        losses = []
        for subject in self.validation:
            images, labels = (
                tensor.to(self.device) for tensor in collate_samples([_image_and_label(transform(subject))])
            )
            losses.append(self.loss_function(self.model(images).float(), labels).item())
        return {"validation_loss": float(np.mean(losses))}

    def save(self, path: Path, **fields: object) -> None:
        save_checkpoint(path, self.model, self.landmarks, **fields)


def train_cavity(
    training: Sequence[tio.Subject],
    validation: Sequence[tio.Subject],
    out_dir: str | os.PathLike[str],
    config: CavityTrainingConfig | None = None,
    device: torch.device | str = "cpu",
    pseudo_labelled: Sequence[tio.Subject] = (),
    initial_checkpoint: str | os.PathLike[str] | None = None,
    resume: bool = True,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    show_bar: bool = True,
    workers: int = 0,
) -> TrainingResult:
    """Train the cavity U-Net; write ``best.pt``, ``last.pt`` and ``log.csv`` to ``out_dir``.

    Args:
        training, validation: preoperative subjects with a parcellation (``config.simulate``) or
            postoperative subjects with a ``label`` (fine-tuning); no validation: the training
            subjects serve for model selection.
        pseudo_labelled: postoperative subjects with pseudo-labels; a share ``config.pseudo_fraction``
            of every batch is drawn from them.
        initial_checkpoint: start from these weights (and landmarks), e.g. to fine-tune.
        resume: continue from ``out_dir/last.pt`` when there is one.
        workers: data-loader processes that simulate and augment the samples (0: in this process);
            the result does not depend on it (see :class:`EpochSamples`).

    Under ``torchrun`` every process trains on its share of each epoch's samples (the batch is
    split between them) with gradients averaged by ``DistributedDataParallel``; rank 0 alone
    writes the checkpoints and the log, which records the world size (see :func:`fit`).
    """
    config = config or CavityTrainingConfig()
    if not training:
        raise InputError(out_dir, "no training subjects")
    check_subjects(training, config.simulate, "training")
    check_subjects(validation, config.simulate, "validation")
    check_subjects(pseudo_labelled, False, "pseudo-labelled")
    if workers < 0:
        raise InputError("workers", f"must be 0 or more, not {workers}")
    with join_process_group(torch.device(device)) as group:
        task = CavityTask(training, validation, pseudo_labelled, config, group, initial_checkpoint, workers)
        return fit(
            task, out_dir, group, config.max_epochs, config.seed, config.patience, config.amp, resume,
            asdict(config), progress, cancel, show_bar,
        )  # fmt: skip


def k_fold_finetune(
    labelled: Sequence[tio.Subject],
    initial_checkpoint: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    folds: int = 5,
    config: CavityTrainingConfig | None = None,
    device: torch.device | str = "cpu",
    show_bar: bool = True,
    cancel: CancelToken | None = None,
    workers: int = 0,
) -> list[dict[str, object]]:
    """Fine-tune a simulation-trained model on labelled postoperative images with k-fold cross-validation.

    Fold ``k`` trains on the other folds from ``initial_checkpoint`` into ``out_dir/fold<k>`` and is
    evaluated on its own images; returns one metrics record per held-out image.
    """
    if folds < 2 or len(labelled) < folds:
        raise InputError("fine-tuning", f"{len(labelled)} labelled images cannot make {folds} folds (need >= 2 each)")
    config = replace(config, simulate=False) if config else CavityTrainingConfig.finetuning()
    order = np.random.default_rng(config.seed).permutation(len(labelled))
    records: list[dict[str, object]] = []
    for fold, held_out in enumerate(np.array_split(order, folds)):
        train_subjects = [labelled[i] for i in order if i not in set(held_out)]
        result = train_cavity(
            train_subjects, [labelled[i] for i in held_out], Path(out_dir) / f"fold{fold}", config, device,
            initial_checkpoint=initial_checkpoint, show_bar=show_bar, cancel=cancel, workers=workers,
        )  # fmt: skip
        model, payload = load_cavity_model(result.best_checkpoint, device)
        held_out_cases = [labelled[index] for index in held_out]
        for index, (subject, _, metrics) in zip(
            held_out, score_cases(model, payload["landmarks"], held_out_cases, device), strict=True
        ):
            records.append({"fold": fold, "name": subject.get("name", str(index)), **metrics})
    return records
