"""Cavity-network files: this project's checkpoints and resseg's published state dict.

Our checkpoints (written by ``cavity train``) hold the network configuration (with its
architecture version, see :mod:`.model`), the weights and the histogram-standardisation
landmarks learnt from the training images. resseg's published file
(``self_semi_37-b571f7ba.pth``, MIT) is a plain state dict in which every convolution and
batch-norm tensor appears twice, under ``...conv_layer.*`` / ``...norm_layer.*`` /
``...activation_layer.*`` and under the ``...block.<index>.*`` alias of a ``Sequential``; it
carries no landmarks, and its published inference uses :data:`RESSEG_LANDMARKS`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import torch

from ..checkpoints import checkpoint_fields, is_state_dict, load_weights, read_checkpoint
from ..errors import InputError
from ..io import atomic_output
from .model import CavityUNet

CHECKPOINT_FORMAT = "epilepsy-suite-cavity-unet-v1"

RESSEG_LANDMARKS = np.array(
    [
        0.0,
        0.31331614,
        0.61505419,
        0.76732501,
        0.98887953,
        1.71169384,
        3.21741126,
        13.06931455,
        32.70817796,
        40.87807389,
        47.83508873,
        63.4408591,
        100.0,
    ]
)
"""The 13 histogram landmarks (percentiles 0, 1, 10, 20, ..., 90, 99, 100 mapped onto these)
that resseg's inference uses with its published network."""

_RESSEG_CONV = re.compile(
    r"^(?:encoder\.encoding_blocks\.(?P<encoder>\d+)|bottom_block|decoder\.decoding_blocks\.(?P<decoder>\d+))"
    r"\.conv(?P<conv>[12])\.(?P<layer>conv_layer|norm_layer|activation_layer)\.(?P<parameter>\w+)$"
)
_RESSEG_HEAD = re.compile(r"^classifier\.conv_layer\.(?P<parameter>weight|bias)$")
_RESSEG_ALIAS = re.compile(r"\.block\.\d+\.")


def is_resseg_state_dict(state: object) -> bool:
    """Whether ``state`` looks like resseg's published state dict (its own key names)."""
    return is_state_dict(state) and any(
        str(key).removeprefix("module.").startswith("encoder.encoding_blocks.") for key in state
    )


def from_resseg_state_dict(state: dict[str, torch.Tensor]) -> tuple[dict, dict[str, torch.Tensor]]:
    """Our (config, state dict) for resseg's published state dict.

    The ``...block.N`` aliases are dropped (they are the same tensors as the named layers); an
    optional ``module.`` prefix is removed. The number of levels and the channels are read from
    the tensors, so the same mapping serves other resseg-style U-Nets of this family.

    Raises:
        ValueError: a key that is neither a known layer nor an alias (the message names it).
    """
    state = {key.removeprefix("module."): value for key, value in state.items()}
    named = {key: value for key, value in state.items() if not _RESSEG_ALIAS.search(key)}
    encoder_blocks = {int(m["encoder"]) for key in named if (m := _RESSEG_CONV.match(key)) and m["encoder"]}
    levels = len(encoder_blocks) + 1
    has_norm = {
        (m["encoder"], m["decoder"], m["conv"])
        for key in named
        if (m := _RESSEG_CONV.match(key)) and m["layer"] == "norm_layer"
    }
    converted: dict[str, torch.Tensor] = {}
    for key, value in named.items():
        if head := _RESSEG_HEAD.match(key):
            converted[f"head.{head['parameter']}"] = value
            continue
        match = _RESSEG_CONV.match(key)
        if match is None:
            raise ValueError(f"unexpected key {key!r}")
        if match["encoder"] is not None:
            block = f"encoder.{int(match['encoder'])}"
        elif match["decoder"] is not None:
            block = f"decoder.{int(match['decoder'])}"
        else:
            block = f"encoder.{levels - 1}"
        normalised = (match["encoder"], match["decoder"], match["conv"]) in has_norm
        position = {"conv_layer": 0, "norm_layer": 1, "activation_layer": 2 if normalised else 1}[match["layer"]]
        converted[f"{block}.{int(match['conv']) - 1}.{position}.{match['parameter']}"] = value
    first = converted.get("encoder.0.0.0.weight")
    head = converted.get("head.weight")
    if first is None or head is None:
        raise ValueError("the first convolution or the classifier is missing")
    config = {
        "in_channels": int(first.shape[1]),
        "out_channels": int(head.shape[0]),
        "first_channels": int(first.shape[0]),
        "levels": levels,
        "architecture": 2,
        "spacing_mm": 1.0,
    }
    return config, converted


def save_checkpoint(path: Path, model: CavityUNet, landmarks: np.ndarray | None, **state: object) -> Path:
    """Write our checkpoint atomically: config (with the architecture version), weights, landmarks
    and any extra ``state`` (optimiser, history...)."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "config": model.config,
        "state_dict": model.state_dict(),
        "landmarks": None if landmarks is None else np.asarray(landmarks).tolist(),
        **state,
    }
    with atomic_output(path) as temporary:
        torch.save(payload, temporary)
    return path


def load_cavity_model(path: str | os.PathLike[str], device: torch.device | str = "cpu") -> tuple[CavityUNet, dict]:
    """The U-Net (in eval mode on ``device``) and its checkpoint payload, from either file kind.

    The payload's ``landmarks`` are the histogram-standardisation landmarks as an array (``None``:
    the model was trained without histogram standardisation).

    Accepts a checkpoint of ``cavity train`` (any architecture version; files written before
    versions were recorded are version 1), with the landmarks it stores (``None``: the model was
    trained without histogram standardisation), or resseg's published state dict as downloaded,
    whose landmarks are :data:`RESSEG_LANDMARKS`.

    Raises:
        InputError: the file is missing, unreadable, or holds neither kind of weights (the message
            names the file and the first mismatch).
    """
    path = Path(path) if path else Path("")
    missing = "the cavity model file does not exist (train one with `cavity train`, or give resseg's published file)"
    payload = read_checkpoint(path, missing)
    if is_resseg_state_dict(payload):
        try:
            config, state = from_resseg_state_dict(payload)  # type: ignore[arg-type]
        except ValueError as error:
            raise InputError(path, f"is not a complete resseg network ({error})") from None
        landmarks, entries = RESSEG_LANDMARKS, {"format": "resseg state dict", "config": config}
    elif isinstance(payload, dict) and payload.get("format") == CHECKPOINT_FORMAT:
        stored, state = checkpoint_fields(payload, path, "cavity U-Net checkpoint")
        config, landmarks, entries = {"architecture": 1, **stored}, payload.get("landmarks"), payload
    else:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise InputError(
            path,
            f"is not a cavity U-Net checkpoint (format {found!r}): give a file written by `cavity train` "
            "or resseg's published state dict",
        )
    try:
        model = CavityUNet(**config)
    except (TypeError, ValueError) as error:
        raise InputError(path, f"has an unknown cavity U-Net configuration ({error})") from None
    load_weights(model, state, path, "cavity U-Net")
    landmarks = None if landmarks is None else np.asarray(landmarks, dtype=np.float64)
    return model.to(device).eval(), {**entries, "landmarks": landmarks}
