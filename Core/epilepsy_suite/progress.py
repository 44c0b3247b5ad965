"""Progress reporting and cancellation shared by command line and Slicer.

Long functions take an optional ``progress`` callback ``(fraction: float, message: str) -> None``
and an optional :class:`CancelToken`. The command line passes a tqdm-backed reporter; Slicer a
callback that moves its progress bar and processes GUI events.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

from .errors import CancelledError

ProgressCallback = Callable[[float, str], None]
T = TypeVar("T")


class CancelToken:
    """A flag that one side sets and long work polls between steps (thread-safe)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise CancelledError("cancelled by the user")


def track(
    items: Iterable[T],
    total: int | None = None,
    description: str = "",
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    show_bar: bool = True,
) -> Iterator[T]:
    """Iterate over ``items`` with a tqdm bar, a progress callback and cancellation checks.

    ``progress`` receives the fraction done in [0, 1] after each item; ``cancel`` is polled
    before each item and raises :class:`CancelledError` when set.
    """
    if total is None:
        total = len(items) if hasattr(items, "__len__") else None  # type: ignore[arg-type]
    bar = tqdm(total=total, desc=description, disable=not show_bar, leave=False)
    try:
        for index, item in enumerate(items):
            if cancel is not None:
                cancel.raise_if_cancelled()
            yield item
            bar.update(1)
            if progress is not None and total:
                progress((index + 1) / total, description)
    finally:
        bar.close()
