"""GESTURES classifiers on top of frozen snippet features (thesis eqs. 2.2 and 2.3).

* :class:`SnippetClassifier`: one snippet's features -> logit of generalising semiology.
* :class:`SeizureClassifier`: the features of ``n`` snippets sampled from the segments of a
  video -> logit of a tonic-clonic seizure, aggregated by their mean, an LSTM or a
  bidirectional LSTM (the last hidden states feed a linear layer).

Both take features standardised with the training set's mean and standard deviation, which
:class:`GesturesModel` stores with the weights.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import torch
from torch import nn

from ..errors import InputError
from ..io import atomic_output

AGGREGATORS = ("mean", "lstm", "blstm")
CHECKPOINT_FORMAT = "epilepsy-suite-gestures-v1"


class SnippetClassifier(nn.Module):
    """Linear layer on snippet features: ``(..., features) -> (...)`` logits."""

    def __init__(self, features: int = 512) -> None:
        super().__init__()
        self.fc = nn.Linear(features, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(features).squeeze(-1)


class SeizureClassifier(nn.Module):
    """Aggregates a sequence of snippet features: ``(batch, n, features) -> (batch,)`` logits.

    Args:
        aggregator: ``"mean"`` (average, then linear), ``"lstm"`` or ``"blstm"`` (recurrent
            network with ``hidden`` units per direction; its last hidden states, concatenated
            for both directions, then linear).
    """

    def __init__(self, features: int = 512, aggregator: str = "blstm", hidden: int = 64) -> None:
        super().__init__()
        if aggregator not in AGGREGATORS:
            raise InputError(
                "seizure classifier", f"unknown aggregator {aggregator!r}; choose one of {', '.join(AGGREGATORS)}"
            )
        if hidden < 1 or features < 1:
            raise InputError(
                "seizure classifier", f"features ({features}) and hidden units ({hidden}) must be positive"
            )
        self.aggregator = aggregator
        self.rnn = None
        if aggregator == "mean":
            self.fc = nn.Linear(features, 1)
        else:
            bidirectional = aggregator == "blstm"
            self.rnn = nn.LSTM(features, hidden, batch_first=True, bidirectional=bidirectional)
            self.fc = nn.Linear(hidden * (2 if bidirectional else 1), 1)

    def forward(self, sequences: torch.Tensor) -> torch.Tensor:
        if sequences.ndim != 3:
            raise InputError(
                "seizure classifier", f"expected (batch, segments, features), got {tuple(sequences.shape)}"
            )
        if self.rnn is None:
            return self.fc(sequences.mean(1)).squeeze(-1)
        _, (hidden, _) = self.rnn(sequences)
        # hidden: (directions, batch, units); for a BLSTM the forward state saw the whole sequence
        # left to right and the backward state right to left.
        last = hidden.transpose(0, 1).reshape(sequences.shape[0], -1)
        return self.fc(last).squeeze(-1)


class GesturesModel(nn.Module):
    """Snippet and seizure classifiers with the feature standardisation they were trained with."""

    def __init__(self, features: int = 512, aggregator: str = "blstm", hidden: int = 64) -> None:
        super().__init__()
        self.config = {"features": features, "aggregator": aggregator, "hidden": hidden}
        self.snippet = SnippetClassifier(features)
        self.seizure = SeizureClassifier(features, aggregator, hidden)
        self.register_buffer("feature_mean", torch.zeros(features))
        self.register_buffer("feature_std", torch.ones(features))

    def set_standardisation(self, features: torch.Tensor) -> None:
        """Take the mean and standard deviation of ``(N, features)`` training features."""
        self.feature_mean.copy_(features.mean(0))
        self.feature_std.copy_(features.std(0).clamp_min(1e-6))

    def standardise(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.feature_mean) / self.feature_std

    def snippet_logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.snippet(self.standardise(features))

    def seizure_logits(self, sequences: torch.Tensor) -> torch.Tensor:
        return self.seizure(self.standardise(sequences))


def save_gestures_model(path: str | PathLike[str], model: GesturesModel, **extra: object) -> Path:
    """Write the model (and ``extra`` entries: extractor, segments, training state...) atomically."""
    payload = {"format": CHECKPOINT_FORMAT, "config": model.config, "state_dict": model.state_dict(), **extra}
    with atomic_output(path) as temporary:
        torch.save(payload, temporary)
    return Path(path)


def load_gestures_model(path: str | PathLike[str], device: torch.device | str = "cpu") -> tuple[GesturesModel, dict]:
    """The model of a checkpoint written by ``video train`` and the checkpoint's other entries."""
    from ..checkpoints import load_weights, read_checkpoint

    path = Path(path) if path else Path("")
    missing = "the GESTURES model file does not exist (train one with `video train`)"
    payload = read_checkpoint(path, missing, CHECKPOINT_FORMAT, kind="GESTURES checkpoint")
    model = GesturesModel(**payload["config"])
    load_weights(model, payload["state_dict"], path, "GESTURES model")
    return model.to(device).eval(), payload
