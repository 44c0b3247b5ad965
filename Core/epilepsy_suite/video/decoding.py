"""Reading video files with PyAV: stream properties, seeking by time, resampling in time.

Frames come out as ``uint8`` arrays of shape ``(height, width, 3)`` (RGB), upright: a rotation
flag in the file (a phone held upright records landscape pixels and a display matrix) is applied,
as players do, and sizes are those shown. Times are in seconds
from the first frame of the video stream. Only the frames a caller needs are converted to RGB:
frames skipped by seeking or by temporal resampling are decoded (the codec needs them) but
never reformatted, which is most of the cost of reading.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from os import PathLike
from pathlib import Path

import numpy as np

from ..errors import InputError

# A file whose last decoded frame falls this much before the duration its container states is
# treated as truncated (seconds, and share of the duration; the larger applies).
TRUNCATION_TOLERANCE_S = 1.0
TRUNCATION_TOLERANCE_SHARE = 0.05
# Frame times are compared to within this (s), so float rounding never picks the wrong frame.
TIME_TOLERANCE_S = 1e-6


@dataclass(frozen=True)
class VideoInfo:
    """Properties of the first video stream of a file, as its container states them."""

    path: Path
    frame_count: int
    frame_rate: float
    width: int
    height: int
    duration: float  # seconds
    codec: str
    rotation: int = 0  # degrees counter-clockwise applied for display (0, 90, 180 or 270)

    def frames_at(self, fps: float) -> int:
        """Frames :func:`read_frames` yields at ``fps`` from the start: one per ``1 / fps`` of
        the stated duration."""
        return max(0, math.ceil(self.duration * fps - TIME_TOLERANCE_S))

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels as shown (after the rotation flag)."""
        return (self.height, self.width) if self.rotation % 180 else (self.width, self.height)


@dataclass(frozen=True)
class DecodedFrame:
    """One frame: its time in seconds, its index in the output sequence and its RGB pixels."""

    time: float
    index: int
    pixels: np.ndarray  # (height, width, 3) uint8


def _open(path: Path):
    import av

    if path.is_dir():
        raise InputError(path, "is a folder, not a video file")
    if not path.is_file():
        raise InputError(path, "video file does not exist")
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as error:
        raise InputError(
            path, f"not a readable video: the file is corrupt, truncated or not a video ({error})"
        ) from None
    if not container.streams.video:
        container.close()
        raise InputError(path, "the file has no video stream")
    return container


def _stream_rate(stream) -> Fraction | None:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return Fraction(rate) if rate else None


def _info(path: Path, container) -> VideoInfo:
    stream = container.streams.video[0]
    rate = _stream_rate(stream)
    if rate is None or rate <= 0:
        raise InputError(path, "the video stream states no frame rate")
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / 1_000_000
    else:
        duration = 0.0
    frames = stream.frames or round(duration * float(rate))
    context = stream.codec_context
    if not context.width or not context.height:
        raise InputError(path, "the video stream states no frame size")
    return VideoInfo(path, int(frames), float(rate), int(context.width), int(context.height), duration, context.name)


def quarter_turns(frame) -> int:
    """Counter-clockwise quarter turns (0-3) that display ``frame`` upright (its display matrix)."""
    return round((getattr(frame, "rotation", 0) or 0) / 90) % 4


def upright(frame, width: int | None = None, height: int | None = None) -> np.ndarray:
    """RGB pixels of ``frame`` as shown, scaled to ``width`` x ``height`` (as shown) when given."""
    turns = quarter_turns(frame)
    if turns % 2:
        width, height = height, width
    pixels = frame.to_ndarray(format="rgb24", width=width, height=height)
    return np.ascontiguousarray(np.rot90(pixels, k=turns)) if turns else pixels


def probe_video(path: str | PathLike[str]) -> VideoInfo:
    """Frame count, rate, stored size, rotation, duration and codec of the first video stream of
    ``path`` (the first frame is decoded for its rotation)."""
    import av

    path = Path(path)
    with _open(path) as container:
        info = _info(path, container)
        try:
            first = next(container.decode(container.streams.video[0]), None)
        except av.error.FFmpegError as error:
            raise InputError(path, f"not a readable video: the first frame cannot be decoded ({error})") from None
        if first is None:
            raise InputError(path, "the video stream has no frame")
        return replace(info, rotation=90 * quarter_turns(first))


def read_frames(
    path: str | PathLike[str],
    start: float = 0.0,
    end: float | None = None,
    fps: float | None = None,
    size: tuple[int, int] | None = None,
) -> Iterator[DecodedFrame]:
    """Yield the frames of ``path`` shown between ``start`` and ``end`` seconds.

    Args:
        start: time of the first frame wanted; the reader seeks to the key frame before it.
        end: time (exclusive) after which reading stops; ``None`` reads to the end.
        fps: output frame rate. ``None`` yields every frame of the stream at its own time;
            otherwise frame ``j`` is the frame on screen at ``start + j / fps`` (the last frame
            whose time is not after it), so frames are dropped or repeated as needed.
        size: ``(width, height)`` to scale each output frame to (bicubic, by FFmpeg).

    Raises:
        InputError: missing, corrupt or truncated file, or a bad argument.
    """
    import av

    path = Path(path)
    if start < 0 or (end is not None and end <= start):
        raise InputError(path, f"bad time range: start {start} s, end {end} s")
    if fps is not None and not fps > 0:
        raise InputError(path, f"the output frame rate must be positive, not {fps}")
    width, height = size if size is not None else (None, None)
    with _open(path) as container:
        info = _info(path, container)
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        time_base = stream.time_base
        first_pts = stream.start_time or 0
        source_step = 1 / info.frame_rate
        if start > 0:
            container.seek(first_pts + int(start / time_base), stream=stream, backward=True, any_frame=False)

        def rgb(frame) -> np.ndarray:
            return upright(frame, width, height)

        def time_of(frame) -> float:
            pts = frame.pts if frame.pts is not None else frame.dts
            return float((pts - first_pts) * time_base) if pts is not None else math.nan

        output_index = 0
        held = None  # (time, frame) of the last decoded frame not yet past
        last_time = -math.inf
        try:
            for frame in container.decode(stream):
                time = time_of(frame)
                if math.isnan(time):
                    time = last_time + source_step
                last_time = time
                if end is not None and time >= end and fps is None:
                    return
                if fps is None:
                    if time >= start - source_step / 2:
                        yield DecodedFrame(time, output_index, rgb(frame))
                        output_index += 1
                    continue
                # Emit the held frame for every output time before this frame's time.
                while held is not None:
                    wanted = start + output_index / fps
                    # A frame counts as on screen from its own time.
                    if wanted >= time - TIME_TOLERANCE_S or (end is not None and wanted >= end):
                        break
                    yield DecodedFrame(wanted, output_index, rgb(held[1]))
                    output_index += 1
                if end is not None and start + output_index / fps >= end:
                    return
                held = (time, frame)
        except av.error.FFmpegError as error:
            raise InputError(
                path, f"corrupt video: decoding failed after {max(last_time, 0):.2f} s ({error})"
            ) from None
        if last_time == -math.inf:
            raise InputError(path, "corrupt or truncated video: no frame could be decoded")
        expected_end = info.duration if end is None else min(end, info.duration)
        tolerance = max(TRUNCATION_TOLERANCE_S, TRUNCATION_TOLERANCE_SHARE * info.duration)
        if info.duration > 0 and last_time + source_step < expected_end - tolerance:
            raise InputError(
                path,
                f"truncated video: the container states {info.duration:.2f} s but frames stop at {last_time:.2f} s",
            )
        if fps is not None and held is not None:
            stop = held[0] + source_step if end is None else min(end, held[0] + source_step)
            while start + output_index / fps < stop - TIME_TOLERANCE_S:
                yield DecodedFrame(start + output_index / fps, output_index, rgb(held[1]))
                output_index += 1
