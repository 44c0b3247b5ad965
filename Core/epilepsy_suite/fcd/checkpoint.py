"""MS-DSA-Net files: this project's checkpoints, plain state dicts, and the authors' published
``model.pth`` (mapped by :mod:`.published`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch

from ..checkpoints import checkpoint_fields, is_state_dict, load_weights, read_checkpoint
from ..errors import InputError
from ..io import atomic_output
from .model import MSDSANet
from .published import (
    from_published_state_dict,
    infer_config,
    is_published_state_dict,
    published_name,
    strip_module_prefix,
)

CHECKPOINT_FORMAT = "epilepsy_suite.fcd.msdsanet"


def save_checkpoint(path: Path, model: MSDSANet, **state: object) -> Path:
    payload = {"format": CHECKPOINT_FORMAT, "config": model.config, "state_dict": model.state_dict(), **state}
    with atomic_output(path) as temporary:
        torch.save(payload, temporary)
    return path


def load_fcd_model(path: str | os.PathLike[str], device: torch.device | str = "cpu") -> tuple[MSDSANet, dict]:
    """MS-DSA-Net (in evaluation mode on ``device``) and its checkpoint payload.

    Reads, without any conversion step by the user:

    - our checkpoints (written by :func:`~epilepsy_suite.fcd.training.save_checkpoint`, with
      the architecture's configuration);
    - a plain state dict with our parameter names;
    - the authors' published ``model.pth``: a plain state dict with their names, mapped by
      :func:`~epilepsy_suite.fcd.published.from_published_state_dict`.

    Either state dict may carry the ``module.`` prefix of a (Distributed)DataParallel model.
    For plain state dicts the configuration (patch size, widths...) is read off the shapes, and the
    payload is ``{"format": "published state dict" | "state dict", "config": ...}``; for our
    checkpoints it is the file's entries (``training_config``, ``epoch``...).

    Raises:
        InputError: missing or unreadable file, or weights of another architecture; the
            one-line message names the file and the first missing or unexpected parameter.
    """
    path = Path(path)
    payload = read_checkpoint(path, "model file not found", weights_only=True)
    shown: Callable[[str], str] = str  # how a parameter is named in messages: as in the file
    if isinstance(payload, dict) and payload.get("format") == CHECKPOINT_FORMAT:
        config, state = checkpoint_fields(payload, path, "MS-DSA-Net checkpoint")
        state, entries = strip_module_prefix(state), payload
    elif is_state_dict(payload):
        state, kind = strip_module_prefix(payload), "state dict"
        if is_published_state_dict(state):
            state, shown, kind = from_published_state_dict(state), published_name, "published state dict"
        try:
            config = infer_config(state)
        except KeyError as error:
            found = next(iter(payload))
            raise InputError(
                path, f"not an MS-DSA-Net state dict: no {shown(error.args[0])!r} (its first key is {found!r})"
            ) from None
        entries = {"format": kind, "config": config}
    else:
        raise InputError(path, "not an MS-DSA-Net checkpoint (no model weights found)")
    try:
        model = MSDSANet(**config)
    except (TypeError, ValueError) as error:
        raise InputError(path, f"weights do not fit the MS-DSA-Net architecture ({str(error)[:200]})") from None
    difference = _first_difference(state, model.state_dict(), shown)
    if difference:
        raise InputError(path, f"weights do not fit the MS-DSA-Net architecture: {difference}")
    load_weights(model, state, path, "MS-DSA-Net architecture")
    return model.to(device).eval(), entries


def _first_difference(state: dict, expected: dict, shown: Callable[[str], str]) -> str:
    """'missing key X' / 'unexpected key Y' for the first name that differs ('' when none does);
    names are given by ``shown`` (the file's own convention)."""
    absent = [key for key in expected if key not in state]
    extra = [key for key in state if key not in expected]
    parts = [f"missing key {shown(absent[0])!r} ({len(absent)} missing)"] if absent else []
    parts += [f"unexpected key {shown(extra[0])!r} ({len(extra)} unexpected)"] if extra else []
    return "; ".join(parts)
