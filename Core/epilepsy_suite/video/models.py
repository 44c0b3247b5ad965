"""GESTURES classifiers on top of frozen snippet features (thesis eqs. 2.2 and 2.3).

* :class:`SnippetClassifier`: one snippet's features -> logit of generalising semiology.
* :class:`SeizureClassifier`: the features of ``n`` snippets sampled from the segments of a
  video -> logit of a tonic-clonic seizure, aggregated by their mean, an LSTM or a
  bidirectional LSTM (the last hidden states feed a linear layer).

Both take features standardised with the training set's mean and standard deviation, which
:class:`GesturesModel` stores with the weights (mean 0 and std 1 when training did not
standardise, as in the GESTURES authors' code).

:func:`load_gestures_model` also reads the GESTURES authors' PyTorch Lightning checkpoints
(``state_dict`` with ``model.lstm.*`` and ``model.fc.*``; their ``RecurrentModel``:
``nn.LSTM(512, H, batch_first=True, bidirectional=...)``, the last hidden state of each direction
concatenated (forward first) -> ``nn.Linear(directions * H, 2)``; or their ``MeanModel``: the
mean over the sequence -> ``nn.Linear(512, 2)``). Their two logits ``(l0, l1)`` become our one
logit ``l1 - l0``: ``sigmoid(l1 - l0) = softmax(l0, l1)[1]``, and ``l1 - l0 > 0`` exactly when
their ``argmax`` is 1. Their checkpoints hold no snippet classifier, so such a model gives no
per-snippet curve (:attr:`GesturesModel.has_snippet_classifier` is False).
"""

from __future__ import annotations

import argparse
from os import PathLike
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..checkpoints import checkpoint_fields, load_weights, pickled_module_class, read_checkpoint
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
        # False for models without a trained snippet classifier (the GESTURES authors' checkpoints).
        self.has_snippet_classifier = True

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


#: What ``video predict`` assumes for a checkpoint of the GESTURES authors (it records nothing):
#: their features data set, R(2+1)D-34 on 8-frame snippets at 15 fps (Kinetics weights), 112 px.
LIGHTNING_METADATA = {"extractor": "r2plus1d_34_8", "frames": 8, "side": 112, "source": "GESTURES authors' checkpoint"}


def load_gestures_model(path: str | PathLike[str], device: torch.device | str = "cpu") -> tuple[GesturesModel, dict]:
    """The model of a checkpoint and the checkpoint's other entries.

    Reads checkpoints written by ``video train`` and the GESTURES authors' Lightning checkpoints
    (see the module doc; their payload gets ``metadata`` = :data:`LIGHTNING_METADATA`).

    Raises:
        InputError: naming ``path``: missing or unreadable file, a whole pickled model, another
            kind of checkpoint, or weights of another shape.
    """
    path = Path(path) if path else Path("")
    missing = "the GESTURES model file does not exist (train one with `video train`)"
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):  # the hparams of the authors' Lightning
            payload = read_checkpoint(path, missing, weights_only=True)
    except InputError:
        if not path.is_file() or pickled_module_class(path):
            raise
        # Files of `video train` written by older versions may hold more than plain containers.
        payload = read_checkpoint(path, missing, CHECKPOINT_FORMAT, kind="GESTURES checkpoint")
    if isinstance(payload, dict) and payload.get("format") != CHECKPOINT_FORMAT and _is_lightning(payload):
        model = gestures_model_from_lightning(payload["state_dict"], path)
        return model.to(device).eval(), {**payload, "metadata": dict(LIGHTNING_METADATA)}
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise InputError(path, f"is not a GESTURES checkpoint (format {found!r}): give a checkpoint of `video train` "
                         "or a GESTURES Lightning checkpoint (state_dict with model.lstm.* / model.fc.*)")  # fmt: skip
    config, state = checkpoint_fields(payload, path, "GESTURES checkpoint")
    model = GesturesModel(**config)
    load_weights(model, state, path, "GESTURES model")
    return model.to(device).eval(), payload


def _is_lightning(payload: dict) -> bool:
    state = payload.get("state_dict")
    return isinstance(state, dict) and any(str(key).startswith("model.fc.") for key in state)


def gestures_model_from_lightning(state: dict[str, torch.Tensor], path: str | PathLike[str]) -> GesturesModel:
    """Our :class:`GesturesModel` computing the same seizure probability as the authors' model.

    ``state``: their Lightning ``state_dict`` (keys ``model.lstm.{weight,bias}_{ih,hh}_l0[_reverse]``
    and ``model.fc.{weight,bias}`` with ``fc.weight`` ``(2, directions * H)``; or only ``model.fc.*``
    ``(2, F)`` for their mean model). Features are not standardised (mean 0, std 1), as in
    their training.

    Raises:
        InputError: naming ``path`` when the keys or shapes are not those of their models.
    """
    state = {key.removeprefix("model."): value for key, value in state.items() if key.startswith("model.")}
    fc_weight, fc_bias = state.get("fc.weight"), state.get("fc.bias")
    if fc_weight is None or fc_bias is None or fc_weight.ndim != 2 or fc_weight.shape[0] != 2:
        shape = None if fc_weight is None else tuple(fc_weight.shape)
        raise InputError(path, f"is not a GESTURES Lightning checkpoint: model.fc.weight of shape {shape}, "
                         "expected (2, inputs) (two classes)")  # fmt: skip
    lstm = {key.removeprefix("lstm."): value for key, value in state.items() if key.startswith("lstm.")}
    other = sorted(key for key in state if not key.startswith(("lstm.", "fc.")))
    if other or any(key.endswith(("_l1", "_l1_reverse")) for key in lstm):
        raise InputError(path, f"holds layers the GESTURES models do not have ({(other or sorted(lstm))[:3]}): "
                         "only one LSTM layer (or the mean) and the linear classifier are supported")  # fmt: skip
    if lstm:
        if "weight_hh_l0" not in lstm:
            raise InputError(path, f"incomplete LSTM weights: {sorted(lstm)}")
        hidden = lstm["weight_hh_l0"].shape[1]
        features = lstm["weight_ih_l0"].shape[1]
        aggregator = "blstm" if "weight_hh_l0_reverse" in lstm else "lstm"
        seizure_state = {f"rnn.{key}": value for key, value in lstm.items()}
    else:
        hidden, features, aggregator, seizure_state = 64, fc_weight.shape[1], "mean", {}
    model = GesturesModel(features, aggregator, hidden)
    # Two logits (l0, l1) -> one logit l1 - l0: sigmoid(l1 - l0) == softmax(l0, l1)[1].
    seizure_state["fc.weight"] = (fc_weight[1] - fc_weight[0]).unsqueeze(0)
    seizure_state["fc.bias"] = (fc_bias[1] - fc_bias[0]).reshape(1)
    from ..checkpoints import load_weights

    load_weights(model.seizure, {key: value.float() for key, value in seizure_state.items()}, path,
                 f"GESTURES {aggregator} model")  # fmt: skip
    model.has_snippet_classifier = False
    return model


@torch.no_grad()
def snippet_probabilities(model: GesturesModel, features: torch.Tensor) -> np.ndarray:
    """Probability of generalising semiology of every snippet, ``(N,)``."""
    model.eval()
    device = next(model.parameters()).device
    return torch.sigmoid(model.snippet_logits(features.to(device))).cpu().numpy()
