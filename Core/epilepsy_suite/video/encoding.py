"""Writing frames to a video file with PyAV, atomically (a failed write leaves no file)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from fractions import Fraction
from os import PathLike
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io import atomic_output

DEFAULT_CODEC = "libx264"


class FrameSink:
    """Receives RGB frames ``(height, width, 3)`` uint8 of one fixed size and encodes them."""

    def __init__(self, container, stream, path: Path) -> None:
        self._container = container
        self._stream = stream
        self._path = path
        self.frames_written = 0

    def write(self, pixels: np.ndarray) -> None:
        import av

        expected = (self._stream.height, self._stream.width, 3)
        if pixels.shape != expected or pixels.dtype != np.uint8:
            raise InputError(
                self._path, f"frame {self.frames_written} is {pixels.dtype}{pixels.shape}, expected uint8{expected}"
            )
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames_written += 1


@contextlib.contextmanager
def video_writer(
    path: str | PathLike[str],
    fps: float,
    size: tuple[int, int],
    codec: str = DEFAULT_CODEC,
    quality: int = 23,
    fast_start: bool = False,
    encoder_options: dict[str, str] | None = None,
) -> Iterator[FrameSink]:
    """Open ``path`` for writing frames of ``size`` = ``(width, height)`` at ``fps``.

    The file appears under its name only when the block finishes without error. ``quality`` is
    the constant rate factor of the x264/x265 encoders (lower is better, 18-28 is usual);
    ``fast_start`` puts the index at the start of an mp4, so a truncated copy stays readable;
    ``encoder_options`` go to the encoder as they are (e.g. libvpx's ``deadline``).
    """
    import av

    width, height = size
    if width % 2 or height % 2:
        raise InputError(path, f"frame size {width}x{height} must be even for 4:2:0 video")
    if not fps > 0:
        raise InputError(path, f"frame rate must be positive, not {fps}")
    rate = Fraction(fps).limit_denominator(1001)
    options = {"movflags": "faststart"} if fast_start else {}
    with atomic_output(path) as temporary:
        container = av.open(str(temporary), mode="w", options=options, format=_format_of(Path(path)))
        try:
            stream = container.add_stream(codec, rate=rate)
            stream.width, stream.height = width, height
            stream.pix_fmt = "yuv420p"
            if codec in ("libx264", "libx265"):
                stream.options = {"crf": str(quality), "preset": "veryfast"}
                if codec == "libx265":
                    stream.options["x265-params"] = "log-level=error"
            if encoder_options:
                stream.options = {**stream.options, **encoder_options}
            sink = FrameSink(container, stream, Path(path))
            yield sink
            for packet in stream.encode():
                container.mux(packet)
        finally:
            container.close()


def _format_of(path: Path) -> str | None:
    return {".mp4": "mp4", ".mkv": "matroska", ".avi": "avi", ".mov": "mov", ".webm": "webm"}.get(path.suffix.lower())
