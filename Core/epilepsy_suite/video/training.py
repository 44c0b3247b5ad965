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
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from os import PathLike
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..distributed import ProcessGroup, join_process_group
from ..errors import InputError
from ..fitting import TrainingResult, TrainingTask, fit
from ..progress import CancelToken, ProgressCallback
from .config import GesturesTrainingConfig
from .dataset import FeatureItem, known_snippets
from .models import CHECKPOINT_FORMAT, GesturesModel, save_gestures_model
from .sampling import SegmentSampler

LOG = logging.getLogger(__name__)


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
    snippets, snippet_labels_ = known_snippets(items)
    snippet_loss = (
        nn.functional.binary_cross_entropy_with_logits(
            model.snippet_logits(snippets.to(device)), snippet_labels_.to(device), pos_weight=snippet_weight
        )
        if len(snippets)
        else torch.tensor(math.nan)
    )
    accuracy = float(((logits > 0).float() == labels).float().mean())
    return {
        "validation_loss": float(seizure_loss),
        "validation_snippet_loss": float(snippet_loss),
        "validation_accuracy": accuracy,
    }


class _BothHeads(nn.Module):
    """One forward through both classifiers, so that ``DistributedDataParallel`` sees every gradient."""

    def __init__(self, model: GesturesModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, sequences: torch.Tensor, snippets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.seizure_logits(sequences), self.model.snippet_logits(snippets)


class GesturesTask(TrainingTask):
    """GESTURES training for :func:`~epilepsy_suite.fitting.fit`: mini-batches of segment-sampled
    sequences (seizure classifier) and of labelled snippets (snippet classifier), the sum of their
    weighted cross-entropies; validation on centre snippets."""

    name = "gestures train"
    checkpoint_format = CHECKPOINT_FORMAT
    architecture = "GESTURES classifiers"

    def __init__(
        self,
        training: Sequence[FeatureItem],
        validation: Sequence[FeatureItem],
        config: GesturesTrainingConfig,
        group: ProcessGroup,
        metadata: dict | None,
    ) -> None:
        self.training, self.validation, self.config = list(training), list(validation), config
        self.device, self.metadata = group.device, metadata or {}
        torch.manual_seed(config.seed)
        model = GesturesModel(self.training[0].features.shape[1], config.aggregator, config.hidden)
        if config.standardise:
            model.set_standardisation(torch.cat([item.features for item in self.training]))
        self.model = model.to(self.device)
        self.optimizer = torch.optim.AdamW(
            [{"params": model.seizure.parameters(), "lr": config.learning_rate},
             {"params": model.snippet.parameters(), "lr": config.snippet_learning_rate}],
            weight_decay=config.weight_decay,
        )  # fmt: skip
        labels = torch.tensor([item.label for item in self.training], dtype=torch.float32)
        self.seizure_weight = _class_weight(labels).to(self.device)
        self.pool, self.pool_labels = known_snippets(self.training)
        self.snippet_weight = _class_weight(self.pool_labels).to(self.device)
        self.heads = _BothHeads(self.model)

    def parallel_module(self) -> torch.nn.Module:
        return self.heads

    def batches(self, epoch: int, rng: np.random.Generator, group: ProcessGroup) -> Iterable[object]:
        config = self.config
        sampler = SegmentSampler(config.segments, config.gamma, rng)
        order = rng.permutation(len(self.training))
        starts = list(range(0, len(order), config.videos_per_batch))
        # Every process takes the same number of batches (DDP synchronises each step), wrapping around.
        for step in range(-(-len(starts) // group.world_size)):
            first = starts[(group.rank + step * group.world_size) % len(starts)]
            batch = [self.training[i] for i in order[first : first + config.videos_per_batch]]
            labels = torch.tensor([item.label for item in batch], dtype=torch.float32)
            batch_sequences = sequences(batch, sampler)  # draws from rng before the snippets do
            chosen = torch.from_numpy(rng.integers(0, len(self.pool), min(config.snippet_batch, len(self.pool))))
            yield batch_sequences, labels, self.pool[chosen], self.pool_labels[chosen]

    def training_loss(self, network: torch.nn.Module, batch: object) -> tuple[torch.Tensor, dict[str, float]]:
        batch_sequences, labels, snippets, snippet_labels = (tensor.to(self.device) for tensor in batch)  # type: ignore[union-attr]
        seizure_out, snippet_out = network(batch_sequences, snippets)
        seizure_loss = nn.functional.binary_cross_entropy_with_logits(
            seizure_out.float(), labels, pos_weight=self.seizure_weight
        )
        snippet_loss = (
            nn.functional.binary_cross_entropy_with_logits(
                snippet_out.float(), snippet_labels, pos_weight=self.snippet_weight
            )
            if len(snippets)
            else 0.0 * snippet_out.sum()  # keeps the snippet head in the graph, as DDP expects
        )
        return seizure_loss + snippet_loss, {"seizure_loss": seizure_loss.item(), "snippet_loss": snippet_loss.item()}

    def validate(self) -> dict[str, float]:
        return validation_losses(
            self.model, self.validation, self.config.segments, self.seizure_weight, self.snippet_weight, self.device
        )

    def save(self, path: Path, **fields: object) -> None:
        save_gestures_model(path, self.model, metadata=self.metadata, **fields)

    def data_identity(self) -> dict:
        # the extractor, its weights and the feature settings; not where the data set lies
        return {key: value for key, value in self.metadata.items() if key != "source"}


def train_gestures(
    training: Sequence[FeatureItem],
    validation: Sequence[FeatureItem],
    out_dir: str | PathLike[str],
    config: GesturesTrainingConfig | None = None,
    device: torch.device | str = "cpu",
    resume: bool = True,
    metadata: dict | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    show_bar: bool = True,
) -> TrainingResult:
    """Train the snippet and seizure classifiers; write ``best.pt``, ``last.pt`` and ``log.csv``
    to ``out_dir``.

    ``validation`` empty: the training items serve for model selection. ``metadata`` (extractor
    and feature settings) is stored in the checkpoints for ``video predict``. Under ``torchrun``
    each process takes its share of every epoch's batches (gradients averaged by
    ``DistributedDataParallel``); rank 0 alone writes, and the log records the world size (see
    :func:`fit`).
    """
    config = config or GesturesTrainingConfig()
    _check_items(training, "training videos")
    validation = list(validation) or list(training)
    _check_items(validation, "validation videos")
    with join_process_group(torch.device(device)) as group:
        return fit(
            GesturesTask(training, validation, config, group, metadata), out_dir, group, config.max_epochs,
            config.seed, config.patience, False, resume, asdict(config), progress, cancel, show_bar,
        )  # fmt: skip
