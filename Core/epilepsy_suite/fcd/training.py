"""Training of MS-DSA-Net with the paper's recipe, with checkpoints and resume.

Each step takes one subject, samples 4 patches balanced between lesion and background
(MONAI ``RandCropByPosNegLabeld``, pos 1 : neg 1), augments them (flip, rotation about one axis,
intensity shift 0.1, Gaussian noise 0.1) and updates AdamW. The learning rate warms up linearly
from 10% over 10 epochs, then follows a cosine to 1e-6; training stops after ``max_epochs`` or
when the validation loss has not improved for ``patience`` epochs.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch
from monai import transforms as mt
from torch.nn.parallel import DistributedDataParallel

from ..checkpoints import resume_training, write_training_log
from ..device import one_thread
from ..distributed import ProcessGroup, join_process_group
from ..errors import InputError
from ..geometry import to_ras_array
from ..io import check_same_grid
from ..progress import CancelToken
from .checkpoint import save_checkpoint
from .losses import build_loss
from .model import MSDSANet
from .preprocessing import network_input

LOG = logging.getLogger(__name__)


@dataclass
class TrainingConfig:
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
    patience: int = 25
    patches_per_subject: int = 4
    seed: int = 0
    amp: bool = True  # used on CUDA only
    channels_last: bool = True  # used on CUDA only
    dropout: float = 0.1


@dataclass
class TrainingSubject:
    """(2, X, Y, Z) image (T1, FLAIR in [0, 1]) and (1, X, Y, Z) lesion label, indexed (x, y, z)
    in RAS+ as the network sees them (:func:`~epilepsy_suite.fcd.preprocessing.network_input`)."""

    name: str
    image: np.ndarray
    label: np.ndarray

    @classmethod
    def from_images(cls, name: str, t1: sitk.Image, flair: sitk.Image, lesion: sitk.Image) -> TrainingSubject:
        image, _ = network_input(t1, flair)
        check_same_grid(t1, lesion, "T1", f"{name} lesion")
        label = (to_ras_array(lesion)[0] > 0)[np.newaxis].astype(np.float32)
        if not label.any():
            raise InputError(name, "lesion mask is empty")
        return cls(name, image, label)


@dataclass
class TrainingResult:
    best_checkpoint: Path
    last_checkpoint: Path
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False


def learning_rate_factor(epoch: int, config: TrainingConfig) -> float:
    """Multiplier of the base learning rate at ``epoch`` (0-based): warm-up, then cosine."""
    if epoch < config.warmup_epochs:
        return config.warmup_start_factor + (1 - config.warmup_start_factor) * epoch / config.warmup_epochs
    span = max(config.max_epochs - config.warmup_epochs, 1)
    progress = min((epoch - config.warmup_epochs) / span, 1.0)
    floor = config.final_learning_rate / config.learning_rate
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def patch_sampler(config: TrainingConfig, augment: bool) -> mt.Compose:
    size = (config.patch_size,) * 3
    steps: list = [
        mt.SpatialPadd(["image", "label"], size),
        mt.RandCropByPosNegLabeld(
            ["image", "label"], "label", size, pos=1, neg=1, num_samples=config.patches_per_subject
        ),
    ]
    if augment:
        steps += [
            mt.RandFlipd(["image", "label"], prob=0.5, spatial_axis=0),
            mt.RandFlipd(["image", "label"], prob=0.5, spatial_axis=1),
            mt.RandFlipd(["image", "label"], prob=0.5, spatial_axis=2),
            mt.RandRotated(["image", "label"], range_x=math.radians(15), prob=0.5, mode=("bilinear", "nearest")),
            mt.RandShiftIntensityd("image", offsets=0.1, prob=0.5),
            mt.RandGaussianNoised("image", std=0.1, prob=0.5),
        ]
    return mt.Compose(steps)


class EpochPatches(torch.utils.data.Dataset):
    """One epoch's training steps: item ``k`` is the (P, 2, S, S, S) patches and (P, 1, S, S, S) labels
    of subject ``subjects[k]``, augmented from the seed ``(seed, epoch, positions[k])`` only.

    A step's patches therefore do not depend on which process or data-loader worker makes them,
    nor on how many there are (torch runs with one thread here, as in PyTorch's workers, because
    multi-threaded reductions round differently).
    """

    def __init__(
        self, training: list[TrainingSubject], config: TrainingConfig, epoch: int, subjects: list, positions: list
    ):
        self.training, self.config, self.epoch = training, config, epoch
        self.subjects, self.positions = list(subjects), list(positions)
        self.sampler = patch_sampler(config, augment=True)

    def __len__(self) -> int:
        return len(self.subjects)

    def __getitem__(self, item: int) -> tuple[torch.Tensor, torch.Tensor]:
        with one_thread():
            seed = np.random.default_rng([self.config.seed, self.epoch, self.positions[item]]).integers(2**31)
            self.sampler.set_random_state(int(seed))
            return _batch(self.sampler, self.training[self.subjects[item]], torch.device("cpu"), False)


def _batch(
    sampler: mt.Compose, subject: TrainingSubject, device: torch.device, channels_last: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    samples = sampler({"image": subject.image, "label": subject.label})
    images = torch.stack([torch.as_tensor(np.asarray(sample["image"])) for sample in samples]).to(device)
    labels = torch.stack([torch.as_tensor(np.asarray(sample["label"])) for sample in samples]).to(device)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last_3d)
    return images.float(), labels.float()


def train_fcd(
    training: list[TrainingSubject],
    validation: list[TrainingSubject],
    out_dir: str | os.PathLike[str],
    config: TrainingConfig | None = None,
    device: torch.device | str = "cpu",
    resume: bool = True,
    progress: Callable[[float, str], None] | None = None,
    cancel: CancelToken | None = None,
    show_bar: bool = True,
    workers: int = 0,
) -> TrainingResult:
    """Train and write ``last.pt`` (every epoch), ``best.pt`` (lowest validation loss) and
    ``log.csv`` to ``out_dir``. With ``resume`` an existing ``last.pt`` is continued.

    Under ``torchrun`` each process takes its share of every epoch's subjects (one optimiser step
    per subject, gradients averaged by ``DistributedDataParallel``); rank 0 alone writes the
    checkpoints and the log, which records the world size. ``workers`` data-loader processes
    prepare the patches (the weights do not depend on their number, see :class:`EpochPatches`).
    """
    config = config or TrainingConfig()
    if not training:
        raise InputError(out_dir, "no training subjects")
    group = join_process_group(torch.device(device))
    try:
        return _train(training, validation, out_dir, config, group, resume, progress, cancel, show_bar, workers)
    finally:
        group.close()


def _train(
    training: list[TrainingSubject],
    validation: list[TrainingSubject],
    out_dir: str | os.PathLike[str],
    config: TrainingConfig,
    group: ProcessGroup,
    resume: bool,
    progress: Callable[[float, str], None] | None,
    cancel: CancelToken | None,
    show_bar: bool,
    workers: int = 0,
) -> TrainingResult:
    from tqdm.auto import tqdm

    if workers < 0:
        raise InputError("workers", f"must be 0 or more, not {workers}")
    device = group.device
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    use_cuda = device.type == "cuda"
    model = MSDSANet(patch_size=config.patch_size, feature_size=config.feature_size, dropout=config.dropout).to(device)
    channels_last = config.channels_last and use_cuda
    if channels_last:
        model = model.to(memory_format=torch.channels_last_3d)
    loss_function = build_loss(config.loss, tv_weight=config.tv_weight)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay, fused=use_cuda or None
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: learning_rate_factor(epoch, config))
    scaler = torch.amp.GradScaler(enabled=False)  # bf16 autocast keeps fp32's range: no loss scaling
    last_path, best_path, log_path = out_dir / "last.pt", out_dir / "best.pt", out_dir / "log.csv"
    start_epoch, best_loss, stale, history, _ = (
        resume_training(last_path, model, optimizer, scheduler, device) if resume else (0, math.inf, 0, [], {})
    )
    validation_sampler = patch_sampler(config, augment=False)
    stopped_early = False
    network = DistributedDataParallel(model) if group.distributed else model
    bar = tqdm(
        range(start_epoch, config.max_epochs),
        desc="fcd train",
        disable=not (show_bar and group.is_main),
        initial=start_epoch,
        total=config.max_epochs,
    )
    for epoch in bar:
        started = time.perf_counter()
        # Every epoch draws from its own seed, so a resumed run repeats an uninterrupted one exactly.
        rng = np.random.default_rng([config.seed, epoch])
        torch.manual_seed(int(rng.integers(2**62)))  # dropout
        model.train()
        learning_rate = optimizer.param_groups[0]["lr"]
        losses = []
        order = rng.permutation(len(training))
        # Every process takes the same number of steps (DDP synchronises each one), wrapping around.
        steps = -(-len(order) // group.world_size)
        positions = [group.rank + step * group.world_size for step in range(steps)]
        patches = EpochPatches(training, config, epoch, [order[p % len(order)] for p in positions], positions)
        for images, labels in torch.utils.data.DataLoader(patches, batch_size=None, num_workers=workers):
            if cancel is not None:
                cancel.raise_if_cancelled()
            images, labels = images.to(device), labels.to(device)
            if channels_last:
                images = images.contiguous(memory_format=torch.channels_last_3d)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.amp and use_cuda):
                loss = loss_function(network(images).float(), labels)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            losses.append(loss.item())
        scheduler.step()
        validation_loss = evaluate_loss(
            model, validation or training, validation_sampler, loss_function, device, config.seed, channels_last
        )
        record = {
            "epoch": epoch,
            "train_loss": float(np.mean(losses)),
            "validation_loss": validation_loss,
            "learning_rate": learning_rate,
            "world_size": group.world_size,
            "seconds": time.perf_counter() - started,
        }
        history.append(record)
        improved = validation_loss < best_loss
        best_loss, stale = (validation_loss, 0) if improved else (best_loss, stale + 1)
        if group.is_main:  # every process validated the same synchronised weights: same decisions
            if improved:
                save_checkpoint(
                    best_path, model, epoch=epoch, validation_loss=validation_loss, training_config=asdict(config)
                )
            save_checkpoint(
                last_path, model, epoch=epoch, optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                best_loss=best_loss, stale=stale, history=history, training_config=asdict(config),
                written_by_rank=group.rank,
            )  # fmt: skip
            write_training_log(log_path, history)
        group.barrier()
        bar.set_postfix(train=f"{record['train_loss']:.4f}", val=f"{validation_loss:.4f}")
        if progress is not None:
            progress((epoch + 1) / config.max_epochs, f"epoch {epoch + 1}: validation loss {validation_loss:.4f}")
        if stale >= config.patience:
            stopped_early = True
            LOG.info("early stopping after %d epochs without improvement", stale)
            break
    return TrainingResult(best_path, last_path, history, stopped_early)


@torch.no_grad()
def evaluate_loss(model, subjects, sampler, loss_function, device, seed: int, channels_last: bool = False) -> float:
    """Mean loss over deterministic (seeded) balanced patches of ``subjects``."""
    model.eval()
    sampler.set_random_state(seed)
    losses = []
    for subject in subjects:
        images, labels = _batch(sampler, subject, device, channels_last)
        losses.append(loss_function(model(images).float(), labels).item())
    return float(np.mean(losses))
