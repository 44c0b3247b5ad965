"""Training the GESTURES classifiers on cached snippet features (thesis sections 2.3.1-2.3.2).

Each view of each annotated seizure is one training item (views are treated independently, as
in the thesis). Per epoch, the items are shuffled into mini-batches of ``videos_per_batch``
sequences; each sequence holds one snippet per segment drawn with a :class:`SegmentSampler`.
The snippet classifier takes one mini-batch of snippets at each step. Both losses are binary
cross-entropies weighted for class imbalance (TCS weight = FOS count / TCS count); the optimiser
is AdamW; the checkpoint with the lowest validation loss of the seizure classifier (sequences of
centre snippets) is kept as ``best.pt``, and ``last.pt`` lets an interrupted run resume.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from os import PathLike
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..checkpoints import resume_training, write_training_log
from ..distributed import ProcessGroup, join_process_group
from ..errors import InputError
from ..progress import CancelToken, ProgressCallback, track
from .annotations import SeizureAnnotation, snippet_labels
from .extractors import FeatureExtractor
from .features import VideoFeatures, extract_features
from .models import AGGREGATORS, GesturesModel, save_gestures_model
from .preprocessing import DEFAULT_SETTINGS, MontageLayout, PreprocessingSettings, view_sources
from .sampling import SegmentSampler

LOG = logging.getLogger(__name__)


@dataclass
class FeatureItem:
    """One view of one annotated seizure: features of the snippets within ``t0..t1``.

    ``features`` ``(N, F)`` float32, ``labels`` ``(N,)`` float (eq. 2.1; NaN for the snippets of a
    TCS whose generalisation time is unknown: they train the seizure classifier only),
    ``start_times`` (s).
    """

    annotation: SeizureAnnotation
    view: str
    features: torch.Tensor
    labels: torch.Tensor
    start_times: np.ndarray
    snippet_frames: int
    fps: float

    @property
    def label(self) -> int:
        return self.annotation.label

    @property
    def key(self) -> str:
        """Identifies the seizure (both views share it)."""
        return str(self.annotation.video)

    @property
    def centre_times(self) -> np.ndarray:
        return self.start_times + self.snippet_frames / self.fps / 2

    def __len__(self) -> int:
        return len(self.start_times)


def feature_item(annotation: SeizureAnnotation, view: str, features: VideoFeatures) -> FeatureItem:
    """Restrict ``features`` to the seizure ``t0..t1`` and label each snippet (eq. 2.1)."""
    seizure = features.within(annotation.t0, annotation.t1)
    return labelled_item(annotation, view, torch.from_numpy(seizure.features), seizure.start_times,
                         seizure.snippet_frames, seizure.fps)  # fmt: skip


def labelled_item(
    annotation: SeizureAnnotation, view: str, features: torch.Tensor, start_times: np.ndarray, snippet_frames: int,
    fps: float,
) -> FeatureItem:  # fmt: skip
    """A :class:`FeatureItem` with its snippet labels (eq. 2.1); NaN labels for a TCS without ``tG``."""
    if annotation.label == 1 and annotation.tG is None:
        labels = np.full(len(start_times), np.nan)
    else:
        labels = snippet_labels(start_times, snippet_frames, fps, annotation.tG)
    return FeatureItem(annotation, view, features.float(), torch.from_numpy(labels).float(),
                       np.asarray(start_times, dtype=float), snippet_frames, fps)  # fmt: skip


def _known_snippets(items: Sequence[FeatureItem]) -> tuple[torch.Tensor, torch.Tensor]:
    """Features ``(M, F)`` and labels ``(M,)`` of the snippets whose label is known."""
    features = torch.cat([item.features for item in items])
    labels = torch.cat([item.labels for item in items])
    known = ~torch.isnan(labels)
    return features[known], labels[known]


def dataset_features(
    annotations: Sequence[SeizureAnnotation],
    extractor: FeatureExtractor,
    cache_folder: str | PathLike[str],
    layout: MontageLayout | None = None,
    settings: PreprocessingSettings = DEFAULT_SETTINGS,
    stride: int = 8,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    show_bar: bool = True,
) -> list[FeatureItem]:
    """Extract (or read from the cache) the features of every view of every seizure."""
    jobs = [
        (annotation, path, view)
        for annotation in annotations
        for path, view in view_sources(annotation.video, annotation.second_view, layout)
    ]
    items = []
    for annotation, path, view in track(jobs, len(jobs), "videos", progress, cancel, show_bar):
        features = extract_features(path, extractor, view, layout, settings, stride, cache_folder=cache_folder,
                                    cancel=cancel, show_bar=False)  # fmt: skip
        name = view if path == annotation.video else "second"
        items.append(feature_item(annotation, name, features))
    return items


@dataclass
class GesturesTrainingConfig:
    """Defaults: the thesis' best seizure-level setting (16 segments, gamma 2, BLSTM of 64 units)."""

    segments: int = 16
    gamma: float = 2.0
    aggregator: str = "blstm"
    hidden: int = 64
    epochs: int = 100
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
        if min(self.segments, self.epochs, self.videos_per_batch, self.snippet_batch, self.hidden) < 1:
            raise InputError("training configuration", "segments, epochs, batch sizes and hidden units must be >= 1")
        if not self.gamma > 0:
            raise InputError("training configuration", f"gamma must be positive, not {self.gamma}")


@dataclass
class GesturesTrainingResult:
    best_checkpoint: Path
    last_checkpoint: Path
    best_epoch: int
    history: list[dict[str, float]] = field(default_factory=list)


def _class_weight(labels: torch.Tensor) -> torch.Tensor:
    positives = float(labels.sum())
    negatives = float(len(labels) - positives)
    return torch.tensor(negatives / positives if positives and negatives else 1.0)


def sequences(items: Sequence[FeatureItem], sampler: SegmentSampler) -> torch.Tensor:
    """``(len(items), segments, F)``: one sampled snippet per segment of each item."""
    return torch.stack([item.features[torch.from_numpy(sampler(len(item)))] for item in items])


def _check_items(items: Sequence[FeatureItem], what: str) -> None:
    if not items:
        raise InputError(what, "no videos")
    widths = {item.features.shape[1] for item in items}
    if len(widths) > 1:
        raise InputError(what, f"features of different sizes {sorted(widths)}: use one extractor for all videos")


@torch.no_grad()
def validation_losses(
    model: GesturesModel, items: Sequence[FeatureItem], segments: int, seizure_weight: torch.Tensor,
    snippet_weight: torch.Tensor, device: torch.device,
) -> dict[str, float]:  # fmt: skip
    """Weighted losses and accuracy on ``items`` with centre snippets (gamma -> infinity)."""
    model.eval()
    centre = SegmentSampler(segments, math.inf)
    labels = torch.tensor([item.label for item in items], dtype=torch.float32, device=device)
    logits = model.seizure_logits(sequences(items, centre).to(device))
    seizure_loss = nn.functional.binary_cross_entropy_with_logits(logits, labels, pos_weight=seizure_weight)
    snippets, snippet_labels_ = _known_snippets(items)
    snippet_loss = (
        nn.functional.binary_cross_entropy_with_logits(
            model.snippet_logits(snippets.to(device)), snippet_labels_.to(device), pos_weight=snippet_weight
        )
        if len(snippets)
        else torch.tensor(math.nan)
    )
    accuracy = float(((logits > 0).float() == labels).float().mean())
    return {"val_loss": float(seizure_loss), "val_snippet_loss": float(snippet_loss), "val_accuracy": accuracy}


def train_gestures(
    training: Sequence[FeatureItem],
    validation: Sequence[FeatureItem],
    out_folder: str | PathLike[str],
    config: GesturesTrainingConfig = GesturesTrainingConfig(),  # noqa: B008 (frozen defaults)
    device: torch.device | str = "cpu",
    resume: bool = True,
    metadata: dict | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    show_bar: bool = True,
) -> GesturesTrainingResult:
    """Train the snippet and seizure classifiers; write ``best.pt``, ``last.pt`` and ``log.csv``.

    ``validation`` empty: the training items serve for model selection. ``metadata`` (extractor
    and feature settings) is stored in the checkpoints for ``video predict``. Under ``torchrun``
    each process takes its share of every epoch's batches (gradients averaged by
    ``DistributedDataParallel``); rank 0 alone writes, and the log records the world size.
    """
    _check_items(training, "training videos")
    validation = list(validation) or list(training)
    _check_items(validation, "validation videos")
    group = join_process_group(torch.device(device))
    try:
        return _train(training, validation, out_folder, config, group, resume, metadata, progress, cancel, show_bar)
    finally:
        group.close()


class _BothHeads(nn.Module):
    """One forward through both classifiers, so that ``DistributedDataParallel`` sees every gradient."""

    def __init__(self, model: GesturesModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, sequences: torch.Tensor, snippets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.seizure_logits(sequences), self.model.snippet_logits(snippets)


def _train(
    training: Sequence[FeatureItem],
    validation: list[FeatureItem],
    out_folder: str | PathLike[str],
    config: GesturesTrainingConfig,
    group: ProcessGroup,
    resume: bool,
    metadata: dict | None,
    progress: ProgressCallback | None,
    cancel: CancelToken | None,
    show_bar: bool,
) -> GesturesTrainingResult:
    out_folder = Path(out_folder)
    out_folder.mkdir(parents=True, exist_ok=True)
    device = group.device
    torch.manual_seed(config.seed)
    model = GesturesModel(training[0].features.shape[1], config.aggregator, config.hidden)
    if config.standardise:
        model.set_standardisation(torch.cat([item.features for item in training]))
    model.to(device)
    optimizer = torch.optim.AdamW(
        [{"params": model.seizure.parameters(), "lr": config.learning_rate},
         {"params": model.snippet.parameters(), "lr": config.snippet_learning_rate}],
        weight_decay=config.weight_decay,
    )  # fmt: skip
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)
    last_path, best_path = out_folder / "last.pt", out_folder / "best.pt"
    start, best_loss, _, history, state = (
        resume_training(last_path, model, optimizer, scheduler, device) if resume else (0, math.inf, 0, [], {})
    )
    best_epoch = state.get("best_epoch", -1)
    labels = torch.tensor([item.label for item in training], dtype=torch.float32)
    seizure_weight = _class_weight(labels).to(device)
    pool, pool_labels = _known_snippets(training)
    snippet_weight = _class_weight(pool_labels).to(device)
    extra = {"metadata": metadata or {}, "training": asdict(config)}
    heads = _BothHeads(model)
    network = DistributedDataParallel(heads) if group.distributed else heads
    epochs = range(start, config.epochs)
    for epoch in track(epochs, len(epochs), "epochs", progress, cancel, show_bar and group.is_main):
        model.train()
        rng = np.random.default_rng([config.seed, epoch])
        sampler = SegmentSampler(config.segments, config.gamma, rng)
        order = rng.permutation(len(training))
        losses = []
        starts = list(range(0, len(order), config.videos_per_batch))
        # Every process takes the same number of batches (DDP synchronises each step), wrapping around.
        shares = -(-len(starts) // group.world_size)
        for step in range(shares):
            first = starts[(group.rank + step * group.world_size) % len(starts)]
            batch = [training[i] for i in order[first : first + config.videos_per_batch]]
            batch_labels = torch.tensor([item.label for item in batch], dtype=torch.float32, device=device)
            batch_sequences = sequences(batch, sampler).to(device)  # draws from rng before the snippets do
            chosen = torch.from_numpy(rng.integers(0, len(pool), min(config.snippet_batch, len(pool))))
            snippets = pool[chosen] if len(pool) else torch.zeros(0, training[0].features.shape[1])
            seizure_out, snippet_out = network(batch_sequences, snippets.to(device))
            seizure_loss = nn.functional.binary_cross_entropy_with_logits(
                seizure_out, batch_labels, pos_weight=seizure_weight
            )
            snippet_loss = (
                nn.functional.binary_cross_entropy_with_logits(
                    snippet_out, pool_labels[chosen].to(device), pos_weight=snippet_weight
                )
                if len(pool)
                else 0.0 * snippet_out.sum()  # keeps the snippet head in the graph, as DDP expects
            )  # fmt: skip
            optimizer.zero_grad(set_to_none=True)
            (seizure_loss + snippet_loss).backward()
            optimizer.step()
            losses.append((seizure_loss.item(), snippet_loss.item()))
        scheduler.step()
        row = {"epoch": epoch, "loss": float(np.mean([a for a, _ in losses])),
               "snippet_loss": float(np.mean([b for _, b in losses]))}  # fmt: skip
        row.update(validation_losses(model, validation, config.segments, seizure_weight, snippet_weight, device))
        row["world_size"] = group.world_size
        history.append(row)
        improved = row["val_loss"] < best_loss
        if improved:
            best_loss, best_epoch = row["val_loss"], epoch
        if group.is_main:  # every process validated the same synchronised weights
            if improved:
                save_gestures_model(best_path, model, epoch=epoch, **extra)
            save_gestures_model(last_path, model, epoch=epoch, best_loss=best_loss, best_epoch=best_epoch, stale=0,
                                history=history, optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                                written_by_rank=group.rank, **extra)  # fmt: skip
            write_training_log(out_folder / "log.csv", history)
        group.barrier()
    return GesturesTrainingResult(best_path, last_path, best_epoch, history)


def feature_metadata(
    extractor: FeatureExtractor, settings: PreprocessingSettings, stride: int, layout: MontageLayout | None = None
) -> dict:
    """What ``video predict`` needs to compute the same features as in training."""
    return {"extractor": extractor.name, "frames": extractor.spec.frames, "side": extractor.spec.side,
            "weights": extractor.weights_id, "settings": asdict(settings), "stride": stride,
            "layout": None if layout is None else asdict(layout)}  # fmt: skip
