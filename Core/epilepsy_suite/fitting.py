"""The one training loop of every model: :func:`fit` runs the epochs, each method brings a
:class:`TrainingTask` with what differs (its batches, its loss, its validation, its checkpoint).

What :func:`fit` owns, the same for FCD, cavity and GESTURES training:

* resume from ``out_dir/last.pt`` (read through :func:`~epilepsy_suite.checkpoints.read_checkpoint`:
  a foreign or damaged file is an :class:`~epilepsy_suite.errors.InputError` naming it);
* every epoch reseeded from ``[seed, epoch]`` only, so a resumed run repeats an uninterrupted one
  bit for bit on CPU;
* mixed precision chosen once (:func:`~epilepsy_suite.device.autocast_dtype`: bf16 where the GPU
  supports it, with no gradient scaler; fp16 with a scaler on older GPUs; on a CPU, bf16 for
  tasks that allow it (``cpu_bf16``) where it has bf16 matrix units, else full precision);
* optimiser and scheduler steps, ``best.pt`` at the lowest validation loss and ``last.pt`` every
  epoch, one ``log.csv`` schema (:data:`LOG_COLUMNS`, then the task's own columns), early stopping
  after ``patience`` epochs without improvement when asked;
* a tqdm bar, the ``progress`` callback and cancellation between steps;
* data-parallel training under ``torchrun``: the task's module wrapped in
  ``DistributedDataParallel``, every process validating the same synchronised weights (so all take
  the same decisions), rank 0 alone writing files.

The shape follows nnU-Net's trainer: one loop, method-specific steps overridden.
"""

from __future__ import annotations

import logging
import math
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from .checkpoints import load_weights, read_checkpoint, write_training_log
from .device import autocast_dtype
from .distributed import ProcessGroup
from .errors import InputError
from .progress import CancelToken, ProgressCallback

LOG = logging.getLogger(__name__)

#: The first columns of every ``log.csv``; a task's own columns follow.
LOG_COLUMNS = ("epoch", "train_loss", "validation_loss", "learning_rate", "world_size", "seconds")

#: What ``last.pt`` must hold, besides the model, to resume from it.
RESUME_FIELDS = ("epoch", "optimizer", "best_loss", "stale", "history")


@dataclass
class TrainingResult:
    """Where a run left its checkpoints, its log rows, and how it ended."""

    best_checkpoint: Path
    last_checkpoint: Path
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    stopped_early: bool = False


class TrainingTask(ABC):
    """The method-specific parts of a training run, given to :func:`fit`.

    A subclass builds, in its constructor, ``model`` (on the group's device), ``optimizer`` and
    ``scheduler`` (``None`` for a constant learning rate), and implements the abstract methods.
    """

    #: Label of the progress bar ("cavity train").
    name: str = "train"
    #: ``format`` entry of the task's checkpoints, checked when resuming.
    checkpoint_format: str = ""
    #: Name of the architecture in errors ("cavity U-Net").
    architecture: str = "network"

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None

    def parallel_module(self) -> torch.nn.Module:
        """The module whose forward :meth:`training_loss` calls, wrapped by ``DistributedDataParallel``
        under torchrun (every parameter must take part in it)."""
        return self.model

    @abstractmethod
    def batches(self, epoch: int, rng: np.random.Generator, group: ProcessGroup) -> Iterable[object]:
        """This process's batches of ``epoch``; random choices come from ``rng`` (seeded by
        ``[seed, epoch]``) or from seeds derived from the epoch. Under torchrun every process must
        yield the same number of batches (DDP synchronises each step)."""

    @abstractmethod
    def training_loss(self, network: torch.nn.Module, batch: object) -> tuple[torch.Tensor, dict[str, float]]:
        """The loss to minimise on ``batch`` (forward through ``network``, under autocast) and any
        per-step values to log (averaged over the epoch into extra ``log.csv`` columns)."""

    @abstractmethod
    def validate(self) -> dict[str, float]:
        """Validation figures of the current ``model``; ``validation_loss`` (lower is better)
        chooses ``best.pt`` and drives early stopping. Must not depend on the process."""

    @abstractmethod
    def save(self, path: Path, **fields: object) -> None:
        """Write the model's checkpoint (its own format) with ``fields`` added, atomically."""

    def restore(self, payload: dict) -> None:
        """Take back task state other than weights and optimiser from a resumed ``last.pt``
        (nothing by default)."""
        return None

    #: train in bf16 on CPUs with bf16 matrix units (when ``amp``): only for a model measured to
    #: learn as well that way
    cpu_bf16 = False

    def data_identity(self) -> dict:
        """What the training data must be to continue a run, besides the settings (e.g. the
        extractor that made video features): stored in every checkpoint and compared on resuming.
        Nothing by default."""
        return {}


def fit(
    task: TrainingTask,
    out_dir: str | os.PathLike[str],
    group: ProcessGroup,
    max_epochs: int,
    seed: int,
    patience: int | None = None,
    amp: bool = True,
    resume: bool = True,
    training_config: dict | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    show_bar: bool = True,
) -> TrainingResult:
    """Train ``task.model`` for up to ``max_epochs`` epochs; write ``best.pt``, ``last.pt`` and
    ``log.csv`` to ``out_dir`` (rank 0 only).

    Args:
        group: this process's place in the training group (a group of one without torchrun).
        seed: with the epoch number, the seed of each epoch's random choices.
        patience: stop after this many epochs without a lower validation loss (None: never).
        amp: mixed precision on CUDA, and bf16 on CPUs with bf16 matrix units for tasks with
            ``cpu_bf16`` (see :func:`~epilepsy_suite.device.autocast_dtype`).
        resume: continue from an existing ``last.pt`` (False: start afresh and overwrite it).
        training_config: the settings, stored in the checkpoints as ``training_config``.

    Raises:
        InputError: ``last.pt`` is foreign, damaged, or holds another architecture.
        CancelledError: ``cancel`` was set (``last.pt`` holds the last finished epoch).
    """
    if max_epochs < 1:
        raise InputError("training configuration", f"max_epochs must be at least 1, not {max_epochs}")
    if patience is not None and patience < 1:
        raise InputError("training configuration", f"patience must be at least 1 (or none), not {patience}")
    out_dir = Path(out_dir)
    if group.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
    last_path, best_path, log_path = out_dir / "last.pt", out_dir / "best.pt", out_dir / "log.csv"
    start, best_loss, best_epoch, stale, history = 0, math.inf, -1, 0, []
    if resume and last_path.is_file():
        start, best_loss, best_epoch, stale, history = _resume(task, last_path, training_config or {})
    device = group.device
    precision = autocast_dtype(device, amp, task.cpu_bf16)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == torch.float16)
    module = task.parallel_module()
    network = DistributedDataParallel(module) if group.distributed else module
    common = {"training_config": training_config or {}, "data_identity": task.data_identity()}
    stopped_early = False
    bar = tqdm(total=max_epochs, initial=start, desc=task.name, disable=not (show_bar and group.is_main))
    try:
        for epoch in range(start, max_epochs):
            started = time.perf_counter()
            rng = np.random.default_rng([seed, epoch])
            torch.manual_seed(int(rng.integers(2**62)))  # dropout and anything else drawing from torch
            task.model.train()
            learning_rate = task.optimizer.param_groups[0]["lr"]
            losses: list[float] = []
            extras: dict[str, list[float]] = {}
            for batch in task.batches(epoch, rng, group):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                with torch.autocast(device.type, dtype=precision or torch.float32, enabled=precision is not None):
                    loss, logged = task.training_loss(network, batch)
                task.optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(task.optimizer)
                scaler.update()
                losses.append(loss.item())
                for key, value in logged.items():
                    extras.setdefault(key, []).append(value)
            if not losses:
                raise InputError(task.name, f"epoch {epoch} had no training batch")
            if task.scheduler is not None:
                task.scheduler.step()
            validation = task.validate()
            record = {
                "epoch": epoch,
                "train_loss": float(np.mean(losses)),
                "validation_loss": float(validation["validation_loss"]),
                "learning_rate": learning_rate,
                "world_size": group.world_size,
                "seconds": time.perf_counter() - started,
                **{key: float(np.mean(values)) for key, values in extras.items()},
                **{key: float(value) for key, value in validation.items() if key != "validation_loss"},
            }
            history.append(record)
            improved = record["validation_loss"] < best_loss
            if improved:
                best_loss, best_epoch, stale = record["validation_loss"], epoch, 0
            else:
                stale += 1
            if group.is_main:
                if improved:
                    task.save(best_path, epoch=epoch, validation_loss=best_loss, **common)
                task.save(
                    last_path, epoch=epoch, optimizer=task.optimizer.state_dict(),
                    scheduler=None if task.scheduler is None else task.scheduler.state_dict(), best_loss=best_loss,
                    best_epoch=best_epoch, stale=stale, history=history, written_by_rank=group.rank, **common,
                )  # fmt: skip
                write_training_log(log_path, history)
            group.barrier()  # no process runs ahead of the checkpoint it could be resumed from
            bar.update(1)
            bar.set_postfix(train=f"{record['train_loss']:.4f}", val=f"{record['validation_loss']:.4f}")
            if progress is not None:
                progress(
                    (epoch + 1) / max_epochs, f"epoch {epoch + 1}: validation loss {record['validation_loss']:.4f}"
                )
            if patience is not None and stale >= patience:
                LOG.info("early stopping after %d epochs without improvement", stale)
                stopped_early = True
                break
    finally:
        bar.close()
    return TrainingResult(best_path, last_path, history, best_epoch, stopped_early)


#: settings that may change between a run and its continuation
RESUMABLE_CHANGES = ("max_epochs", "patience", "amp", "channels_last", "workers")


def _differences(before: dict, now: dict, ignored: tuple[str, ...]) -> list[str]:
    """``"name X (now Y)"`` for each setting both runs know that differs (those only one knows
    are new or retired options, not a change of the user's)."""
    return [
        f"{name} {before[name]!r} (now {now[name]!r})"
        for name in sorted(set(before) & set(now))
        if name not in ignored and _comparable(before[name]) != _comparable(now[name])
    ]


def _comparable(value: object) -> object:
    return list(value) if isinstance(value, tuple | list) else value


def _resume(task: TrainingTask, path: Path, training_config: dict) -> tuple[int, float, int, int, list]:
    """Load ``last.pt`` into the task; (next epoch, best loss, best epoch, stale epochs, history).

    Raises:
        InputError: naming ``path``: unreadable, not a ``last.pt`` of this kind of training, of
            another architecture, trained with other settings or on other data.
    """
    payload = read_checkpoint(path, "does not exist", task.checkpoint_format, kind=f"{task.name} checkpoint")
    assert isinstance(payload, dict)
    absent = [name for name in (*RESUME_FIELDS, "state_dict") if name not in payload]
    if absent:
        raise InputError(path, f"cannot be resumed from: it has no {', '.join(absent)} (not a last.pt of training)")
    differences = _differences(payload.get("training_config") or {}, training_config, RESUMABLE_CHANGES)
    if "data_identity" in payload:  # checkpoints before it was recorded cannot be compared
        before, now = payload["data_identity"], task.data_identity()
        every = {name: before.get(name) for name in {*before, *now}}
        differences += _differences(every, {name: now.get(name) for name in every}, ())
    if differences:
        raise InputError(path, f"was trained with {'; '.join(differences[:4])}: rerun with the same settings and "
                         "data to continue it, or start afresh (--no-resume) or in another folder")  # fmt: skip
    load_weights(task.model, payload["state_dict"], path, task.architecture)
    try:
        task.optimizer.load_state_dict(payload["optimizer"])
        if task.scheduler is not None and payload.get("scheduler") is not None:
            task.scheduler.load_state_dict(payload["scheduler"])
    except (ValueError, KeyError, TypeError) as error:
        raise InputError(path, f"optimiser state does not fit this training ({error})") from None
    # The optimiser's state is loaded onto the parameters' device by load_state_dict itself.
    task.restore(payload)
    LOG.info("resuming from %s at epoch %d", path, payload["epoch"] + 1)
    best_epoch = int(payload.get("best_epoch", -1))
    return payload["epoch"] + 1, payload["best_loss"], best_epoch, payload["stale"], payload["history"]
