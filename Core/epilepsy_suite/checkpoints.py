"""Pieces every model shares: reading checkpoints with named errors, loading weights into an
architecture, resuming from ``last.pt`` and the ``log.csv`` of epochs."""

from __future__ import annotations

import csv
import logging
import math
import os
from pathlib import Path

import torch

from .errors import InputError
from .io import atomic_output

LOG = logging.getLogger(__name__)


def read_checkpoint(
    path: str | os.PathLike[str] | None,
    missing: str,
    format_name: str | None = None,
    weights_only: bool = False,
    kind: str = "checkpoint",
) -> object:
    """The object saved in a PyTorch file, with one-line errors that name it.

    Args:
        missing: the problem to report when the file does not exist (say how to make one).
        format_name: when given, the payload must be a dict whose ``"format"`` is this; ``kind``
            names what was expected in the error.
        weights_only: load tensors and plain containers only (files from elsewhere).
    """
    path = Path(path) if path else Path("")
    if not path.is_file():
        raise InputError(path, missing)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=weights_only)
    except Exception as error:  # torch raises many types for corrupt or foreign files
        raise InputError(path, f"is not a readable PyTorch file ({type(error).__name__})") from None
    if format_name is not None and (not isinstance(payload, dict) or payload.get("format") != format_name):
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise InputError(path, f"is not a {kind} (format {found!r}, expected {format_name!r})")
    return payload


def load_weights(model: torch.nn.Module, state: dict, path: str | os.PathLike[str], architecture: str) -> None:
    """Load ``state`` into ``model`` (strictly); weights of another architecture give an
    :class:`InputError` naming ``path``, ``architecture`` and the first mismatch torch reports."""
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, ValueError) as error:
        lines = str(error).strip().splitlines()
        # torch's first line only says "Error(s) in loading state_dict for X:"; the second is the cause.
        reason = lines[1].strip() if len(lines) > 1 else lines[0] if lines else "mismatch"
        raise InputError(path, f"weights do not fit the {architecture} ({reason[:200]})") from None


def resume_training(path: Path, model, optimizer, scheduler, device) -> tuple[int, float, int, list, dict]:
    """Load ``last.pt`` into the model, optimiser and scheduler.

    Returns (next epoch, best validation loss, epochs without improvement, history, the whole payload);
    a fresh start (0, inf, 0, [], {}) when ``path`` does not exist.
    """
    if not path.is_file():
        return 0, math.inf, 0, [], {}
    state = torch.load(path, map_location=device, weights_only=False)
    model.load_state_dict(state["state_dict"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    LOG.info("resuming from %s at epoch %d", path, state["epoch"] + 1)
    return state["epoch"] + 1, state["best_loss"], state["stale"], state["history"], state


def write_training_log(path: Path, history: list[dict[str, float]]) -> None:
    """One CSV row per epoch (written atomically, so an interrupted run never leaves half a log)."""
    with atomic_output(path) as temporary, temporary.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
