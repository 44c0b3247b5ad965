"""Self-supervised cavity training on simulated resections, semi-supervised mixing, fine-tuning.

Checkpoints hold the model configuration, weights and the histogram-standardisation landmarks, so a
checkpoint is all ``cavity predict`` needs. ``last.pt`` is written every epoch (resume), ``best.pt``
at the lowest validation loss, ``log.csv`` with the losses.
"""

from __future__ import annotations

import csv
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch
import torchio as tio
from monai.losses import DiceLoss
from torch.nn.parallel import DistributedDataParallel

from ..checkpoints import resume_training, write_training_log
from ..data import as_neuromorphometrics
from ..device import one_thread
from ..distributed import ProcessGroup, join_process_group
from ..errors import InputError
from ..geometry import sitk_to_torchio
from ..io import read_image, read_label_map
from ..progress import CancelToken
from .augmentation import preprocessing, train_landmarks, training_transform
from .checkpoint import load_cavity_model, save_checkpoint
from .evaluation import cavity_metrics
from .inference import predict_cavity
from .model import CavityUNet
from .simulation import RandomResection, masks_of

LOG = logging.getLogger(__name__)


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
    crop_shape: tuple[int, int, int] | None = (176, 216, 160)
    volumes: tuple[float, ...] = (500, 50000)
    simulate: bool = True  # False: the subjects carry real (or pseudo) labels, as in fine-tuning
    pseudo_fraction: float = 0.2  # share of a batch drawn from pseudo-labelled images (2 of 10)
    patience: int = 1000
    amp: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.max_epochs < 1:
            raise InputError("training configuration", "batch size and epochs must be at least 1")
        if not 0 <= self.pseudo_fraction < 1:
            raise InputError("training configuration", f"pseudo_fraction {self.pseudo_fraction} is not in [0, 1)")
        self.volumes = tuple(float(value) for value in self.volumes)
        if self.crop_shape is not None:
            self.crop_shape = tuple(int(size) for size in self.crop_shape)  # type: ignore[assignment]


@dataclass
class CavityTrainingResult:
    best_checkpoint: Path
    last_checkpoint: Path
    history: list[dict[str, float]] = field(default_factory=list)


def make_subject(
    name: str,
    image: sitk.Image | str | os.PathLike[str],
    parcellation: sitk.Image | str | os.PathLike[str] | None = None,
    label: sitk.Image | str | os.PathLike[str] | None = None,
) -> tio.Subject:
    """A TorchIO subject: T1 ``image``, Neuromorphometrics ``parcellation`` (GIF is converted), ``label``."""
    if not isinstance(image, sitk.Image):
        image = read_image(image, what="T1")
    images: dict[str, tio.Image] = {"image": _as_torchio(image, np.float32)}
    if parcellation is not None:
        if not isinstance(parcellation, sitk.Image):
            parcellation = read_label_map(parcellation, what="parcellation")
        parcellation = as_neuromorphometrics(parcellation)
        images["parcellation"] = _as_torchio(parcellation, np.int16, label=True)
    if label is not None:
        if not isinstance(label, sitk.Image):
            label = read_label_map(label, what="cavity label")
        images["label"] = _as_torchio(label, np.int16, label=True)
    return tio.Subject(name=name, **images)


def _as_torchio(image: sitk.Image, dtype, label: bool = False) -> tio.Image:
    converted = sitk_to_torchio(image, label=label)
    kind = tio.LabelMap if label else tio.ScalarImage
    return kind(tensor=torch.as_tensor(np.asarray(converted.data, dtype=dtype)), affine=converted.affine)


def read_subject_table(path: str | os.PathLike[str]) -> list[tio.Subject]:
    """Subjects from a CSV with columns ``image`` and ``parcellation`` and/or ``label`` (and ``name``)."""
    path = Path(path)
    try:
        with open(path, newline="") as stream:
            rows = list(csv.DictReader(stream))
    except OSError as error:
        raise InputError(path, f"cannot be read ({error.strerror})") from None
    if not rows or "image" not in rows[0]:
        raise InputError(path, "needs a header with an 'image' column (and 'parcellation' and/or 'label')")
    base = path.parent
    subjects = []
    for index, row in enumerate(rows):

        def resolve(key: str, row=row) -> Path | None:
            value = (row.get(key) or "").strip()
            return (base / value) if value else None

        subjects.append(
            make_subject(
                row.get("name") or f"subject{index:03d}", resolve("image"), resolve("parcellation"), resolve("label")
            )
        )
    return subjects


def learning_rate_factor(epoch: int, config: CavityTrainingConfig) -> float:
    return 0.1 ** (epoch // config.step_epochs)


def _image_and_label(subject: tio.Subject) -> tuple[torch.Tensor, torch.Tensor]:
    """(1, X, Y, Z) float image and binary float label of a transformed subject."""
    return subject["image"].data.float(), (subject["label"].data > 0).float()


def _check_subjects(subjects: Sequence[tio.Subject], simulate: bool, what: str) -> None:
    for subject in subjects:
        needed = "parcellation" if simulate else "label"
        if needed not in subject:
            raise InputError(
                f"{what} subject {subject.get('name', '?')}",
                f"has no {needed}: "
                + ("resection simulation needs a parcellation" if simulate else "fine-tuning needs a cavity label"),
            )


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
        self.simulated = training_transform(landmarks, config.simulate, config.crop_shape, config.volumes)
        self.real = training_transform(landmarks, False, config.crop_shape)

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


def _collate(items: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    shapes = {tuple(image.shape[1:]) for image, _ in items}
    if len(shapes) > 1:
        raise InputError(
            "training subjects", f"images of different shapes {sorted(shapes)}: set crop_shape so batches can stack"
        )
    return torch.stack([image for image, _ in items]), torch.stack([label for _, label in items])


def train_cavity(
    training: Sequence[tio.Subject],
    validation: Sequence[tio.Subject],
    out_dir: str | os.PathLike[str],
    config: CavityTrainingConfig | None = None,
    device: torch.device | str = "cpu",
    pseudo_labelled: Sequence[tio.Subject] = (),
    initial_checkpoint: str | os.PathLike[str] | None = None,
    resume: bool = True,
    progress: Callable[[float, str], None] | None = None,
    cancel: CancelToken | None = None,
    show_bar: bool = True,
    workers: int = 0,
) -> CavityTrainingResult:
    """Train the cavity U-Net.

    Args:
        training, validation: preoperative subjects with a parcellation (``config.simulate``) or
            postoperative subjects with a ``label`` (fine-tuning).
        pseudo_labelled: postoperative subjects with pseudo-labels; a share ``config.pseudo_fraction``
            of every batch is drawn from them.
        initial_checkpoint: start from these weights (and landmarks), e.g. to fine-tune.
        workers: data-loader processes that simulate and augment the samples (0: in this process);
            the result does not depend on it (see :class:`EpochSamples`).

    Under ``torchrun`` every process trains on its share of each epoch's samples (the batch is
    split between them) with gradients averaged by ``DistributedDataParallel``; rank 0 alone
    writes the checkpoints and the log, which records the world size.
    """
    config = config or CavityTrainingConfig()
    if not training:
        raise InputError(out_dir, "no training subjects")
    _check_subjects(training, config.simulate, "training")
    _check_subjects(validation, config.simulate, "validation")
    _check_subjects(pseudo_labelled, False, "pseudo-labelled")
    if workers < 0:
        raise InputError("workers", f"must be 0 or more, not {workers}")
    group = join_process_group(torch.device(device))
    try:
        return _train(
            training, validation, out_dir, config, group, pseudo_labelled, initial_checkpoint, resume, progress,
            cancel, show_bar, workers,
        )  # fmt: skip
    finally:
        group.close()


def _train(
    training, validation, out_dir, config, group: ProcessGroup, pseudo_labelled, initial_checkpoint, resume, progress,
    cancel, show_bar, workers,
) -> CavityTrainingResult:  # fmt: skip
    from tqdm.auto import tqdm

    if config.batch_size % group.world_size:
        raise InputError("batch size", f"{config.batch_size} cannot be split between {group.world_size} processes")
    device = group.device
    use_cuda = device.type == "cuda"
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    last_path, best_path, log_path = out_dir / "last.pt", out_dir / "best.pt", out_dir / "log.csv"
    torch.manual_seed(config.seed)
    landmarks = None
    # Inference resamples to the voxel size the network learnt on (see CavityUNet.spacing_mm).
    spacing = float(np.mean(training[0]["image"].spacing))
    model = CavityUNet(first_channels=config.first_channels, spacing_mm=spacing)
    if initial_checkpoint is not None:
        model, landmarks = load_cavity_model(initial_checkpoint, "cpu")
    model = model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: learning_rate_factor(epoch, config))
    scaler = torch.amp.GradScaler(enabled=config.amp and use_cuda)
    loss_function = DiceLoss(include_background=False, to_onehot_y=True, softmax=True)
    start_epoch, best_loss, stale, history, state = (
        resume_training(last_path, model, optimizer, scheduler, device) if resume else (0, math.inf, 0, [], {})
    )
    if state:
        landmarks = None if state["landmarks"] is None else np.asarray(state["landmarks"])
    elif landmarks is None:
        landmarks = train_landmarks([_image_of(subject) for subject in training])
    iterations = config.iterations_per_epoch or max(1, math.ceil(len(training) / config.batch_size))
    network = DistributedDataParallel(model) if group.distributed else model
    if config.simulate and workers:
        for subject in training:  # compute the resection masks once here: forked workers inherit the cache
            masks_of(subject, "image", "parcellation", None)

    def validation_transform() -> tio.Compose:
        # Rebuilt every epoch: the same seeded resections, so validation losses are comparable.
        simulation = [RandomResection(volumes=config.volumes, seed=config.seed)] if config.simulate else []
        crop = [tio.CropOrPad(config.crop_shape)] if config.crop_shape else []
        return tio.Compose(simulation + preprocessing(landmarks) + crop + [tio.EnsureShapeMultiple(4)])

    bar = tqdm(
        range(start_epoch, config.max_epochs), desc="cavity train", disable=not (show_bar and group.is_main),
        initial=start_epoch,
        total=config.max_epochs,
    )  # fmt: skip
    for epoch in bar:
        started = time.perf_counter()
        samples = EpochSamples(training, pseudo_labelled, config, landmarks, epoch, iterations * config.batch_size)
        share = torch.utils.data.Subset(samples, range(group.rank, len(samples), group.world_size))
        loader = torch.utils.data.DataLoader(
            share, config.batch_size // group.world_size, num_workers=workers, collate_fn=_collate,
        )  # fmt: skip
        model.train()
        learning_rate = optimizer.param_groups[0]["lr"]
        losses = []
        for images, labels in loader:
            if cancel is not None:
                cancel.raise_if_cancelled()
            images, labels = images.to(device), labels.to(device)
            with torch.autocast(device.type, dtype=torch.float16, enabled=config.amp and use_cuda):
                logits = network(images)
            loss = loss_function(logits.float(), labels)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            losses.append(loss.item())
        scheduler.step()
        # Every process validates the same synchronised weights, so all take the same decisions below.
        validation_loss = _validation_loss(model, validation or training, validation_transform(), loss_function, device)
        record = {
            "epoch": epoch,
            "train_loss": float(np.mean(losses)),
            "validation_loss": validation_loss,
            "learning_rate": learning_rate,
            "world_size": group.world_size,
            "seconds": time.perf_counter() - started,
        }
        history.append(record)
        common = {"training_config": asdict(config), "epoch": epoch, "written_by_rank": group.rank}
        improved = validation_loss < best_loss
        best_loss, stale = (validation_loss, 0) if improved else (best_loss, stale + 1)
        if group.is_main:
            if improved:
                save_checkpoint(best_path, model, landmarks, validation_loss=validation_loss, **common)
            save_checkpoint(
                last_path, model, landmarks, optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                best_loss=best_loss, stale=stale, history=history, **common,
            )  # fmt: skip
            write_training_log(log_path, history)
        group.barrier()  # no process runs ahead of the checkpoint it could be resumed from
        bar.set_postfix(train=f"{record['train_loss']:.4f}", val=f"{validation_loss:.4f}")
        if progress is not None:
            progress((epoch + 1) / config.max_epochs, f"epoch {epoch + 1}: validation loss {validation_loss:.4f}")
        if stale >= config.patience:
            LOG.info("early stopping after %d epochs without improvement", stale)
            break
    return CavityTrainingResult(best_path, last_path, history)


def _image_of(subject: tio.Subject) -> sitk.Image:
    from ..geometry import torchio_to_sitk

    return torchio_to_sitk(subject["image"])


@torch.no_grad()
def _validation_loss(model, subjects, transform, loss_function, device) -> float:
    model.eval()
    losses = []
    state = torch.random.get_rng_state()
    torch.manual_seed(0)
    try:
        for subject in subjects:
            images, labels = (tensor.to(device) for tensor in _collate([_image_and_label(transform(subject))]))
            losses.append(loss_function(model(images).float(), labels).item())
    finally:
        torch.random.set_rng_state(state)
    return float(np.mean(losses))


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
    config = config or CavityTrainingConfig(max_epochs=20, step_epochs=10, learning_rate=1e-4)
    config.simulate = False
    order = np.random.default_rng(config.seed).permutation(len(labelled))
    records: list[dict[str, object]] = []
    for fold, held_out in enumerate(np.array_split(order, folds)):
        train_subjects = [labelled[i] for i in order if i not in set(held_out)]
        result = train_cavity(
            train_subjects, [labelled[i] for i in held_out], Path(out_dir) / f"fold{fold}", config, device,
            initial_checkpoint=initial_checkpoint, show_bar=show_bar, cancel=cancel, workers=workers,
        )  # fmt: skip
        model, landmarks = load_cavity_model(result.best_checkpoint, device)
        for index in held_out:
            subject = labelled[index]
            prediction = predict_cavity(model, _image_of(subject), landmarks, device)
            truth = sitk.GetArrayFromImage(
                _image_of(
                    tio.Subject(image=tio.ScalarImage(tensor=subject["label"].data, affine=subject["label"].affine))
                )
            )
            records.append(
                {"fold": fold, "name": subject.get("name", str(index)),
                 **cavity_metrics(sitk.GetArrayFromImage(prediction.mask) > 0, truth > 0, prediction.mask.GetSpacing())}
            )  # fmt: skip
    return records
