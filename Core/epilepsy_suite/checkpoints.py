"""Pieces every training loop shares: resuming from ``last.pt`` and the ``log.csv`` of epochs."""

from __future__ import annotations

import csv
import logging
import math
from pathlib import Path

import torch

from .io import atomic_output

LOG = logging.getLogger(__name__)


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
