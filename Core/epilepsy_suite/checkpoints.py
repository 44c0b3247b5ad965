"""Pieces every model shares: reading checkpoints with named errors, loading weights into an
architecture, and the ``log.csv`` of epochs."""

from __future__ import annotations

import csv
import logging
import os
import pickletools
import zipfile
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
    if path.is_dir() and str(path) not in ("", "."):
        raise InputError(path, "is a folder: give the model file itself")
    if not path.is_file():
        raise InputError(path, missing)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=weights_only)
    except Exception as error:  # torch raises many types for corrupt or foreign files
        whole = pickled_module_class(path)
        if whole:
            raise InputError(path, whole_model_problem(whole)) from None
        raise InputError(path, f"is not a readable PyTorch file ({type(error).__name__})") from None
    if isinstance(payload, torch.nn.Module):
        raise InputError(path, whole_model_problem(f"{type(payload).__module__}.{type(payload).__qualname__}"))
    if format_name is not None and (not isinstance(payload, dict) or payload.get("format") != format_name):
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise InputError(path, f"is not a {kind} (format {found!r}, expected {format_name!r})")
    return payload


def is_state_dict(payload: object) -> bool:
    """Whether ``payload`` is a plain, non-empty state dict (names -> tensors), as published files are."""
    return isinstance(payload, dict) and bool(payload) and all(isinstance(v, torch.Tensor) for v in payload.values())


def checkpoint_fields(payload: dict, path: str | os.PathLike[str], kind: str) -> tuple[dict, dict]:
    """The ``config`` and ``state_dict`` of one of our checkpoints, or an :class:`InputError` naming
    ``path`` when either is missing or of the wrong type (a damaged or hand-made file)."""
    config, state = payload.get("config"), payload.get("state_dict")
    for name, value in (("config", config), ("state_dict", state)):
        if not isinstance(value, dict):
            problem = "no" if value is None else f"a {type(value).__name__} as its"
            raise InputError(path, f"is an incomplete {kind}: {problem} {name!r}")
    return config, state  # type: ignore[return-value]


def whole_model_problem(class_name: str) -> str:
    """The error for a file that holds a whole pickled network instead of its weights."""
    return (f"holds a whole pickled model ({class_name}, written by torch.save(model)), not its weights: "
            "save `model.state_dict()` instead (torch.save(model.state_dict(), path)) and give that file")  # fmt: skip


def pickled_module_class(path: str | os.PathLike[str]) -> str | None:
    """``module.Class`` of the network pickled whole in a PyTorch file, or None when it holds none.

    Reads the pickle's opcodes without running them (no code of the file is executed): a
    ``torch.nn.Module`` pickles as its class followed by its ``__dict__``, which names
    ``_parameters`` and ``_modules``. Files in the legacy (pre-zip) format give None.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            name = next((item for item in archive.namelist() if item.endswith("/data.pkl")), None)
            data = archive.read(name) if name else b""
    except (OSError, zipfile.BadZipFile):
        return None
    first_class, strings, seen = None, [], set()
    try:
        for opcode, argument, _ in pickletools.genops(data):
            if opcode.name in ("GLOBAL", "INST") and first_class is None:
                first_class = str(argument).replace(" ", ".")
            elif opcode.name == "STACK_GLOBAL" and first_class is None and len(strings) >= 2:
                first_class = f"{strings[-2]}.{strings[-1]}"
            elif isinstance(argument, str):
                strings.append(argument)
                seen.add(argument)
            if first_class and {"_parameters", "_modules"} <= seen:
                return first_class
    except Exception:  # a damaged pickle is reported by torch.load's own error
        return None
    return None


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


def write_training_log(path: Path, history: list[dict[str, float]]) -> None:
    """One CSV row per epoch (written atomically, so an interrupted run never leaves half a log)."""
    with atomic_output(path) as temporary, temporary.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
