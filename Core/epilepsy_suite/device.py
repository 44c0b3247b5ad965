"""Choice of the torch device from the ``--device auto|cpu|cuda`` option, its training precision,
and torch's thread count."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from .errors import InputError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """Return the torch device for ``name``: ``auto`` takes CUDA when available, else CPU
    (a ``torch.device`` is returned as it is)."""
    if isinstance(name, torch.device):
        return name
    if name not in DEVICE_CHOICES and not name.startswith("cuda:"):
        raise InputError("--device", f"unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("--device", "CUDA was requested but no CUDA GPU is available to torch")
    return torch.device(name)


def autocast_dtype(device: torch.device, amp: bool = True, cpu_bf16: bool = True) -> torch.dtype | None:
    """The mixed-precision type for training on ``device``, chosen once for every model.

    bf16 on GPUs that support it (fp32's range: no gradient scaling), fp16 on older GPUs (to be
    used with a gradient scaler); on a CPU, bf16 where it has bf16 matrix instructions (AMX or
    AVX512-BF16: a training step of MS-DSA-Net measured 2.3x faster than fp32 on such a 2-core
    machine) when ``cpu_bf16`` (a model measured to learn as well in bf16), else ``None`` (full
    precision), as when ``amp`` is off.
    """
    if not amp:
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_bf16 and cpu_has_bf16():
        return torch.bfloat16
    return None


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 matrix products natively (Intel AMX or AVX512-BF16)."""
    cpu = torch.cpu
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(cpu, name, lambda: False)() for name in checks)


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the block with torch on one CPU thread, as in PyTorch's data-loader workers.

    Multi-threaded reductions round differently, so data prepared here is bit-identical
    whether a worker or the training process prepares it. The previous count is restored.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
