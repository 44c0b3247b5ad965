"""Choice of the torch device from the ``--device auto|cpu|cuda`` option."""

from __future__ import annotations

import torch

from .errors import InputError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto") -> torch.device:
    """Return the torch device for ``name``: ``auto`` takes CUDA when available, else CPU."""
    if name not in DEVICE_CHOICES and not name.startswith("cuda:"):
        raise InputError("--device", f"unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("--device", "CUDA was requested but no CUDA GPU is available to torch")
    return torch.device(name)
