"""Recordings as a browser plays them: a WebM (VP8) copy, made in a background job.

Browsers play few of the codecs video-telemetry systems write (MPEG-4 part 2, MJPEG, HEVC...),
so the Seizure video panel shows a copy: VP8 in WebM (every Chromium and Firefox), at most
``max_width`` pixels wide, one frame per decoded frame at the file's own rate, so the player's
clock is the file's clock and the probability curve's time marker lines up with the picture.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from epilepsy_suite.video.decoding import probe_video, read_frames
from epilepsy_suite.video.encoding import video_writer
from epilepsy_suite.video.preprocessing import even_pixels

DEFAULT_MAX_WIDTH = 640


def browser_copy(
    source: str | Path,
    target: str | Path,
    max_width: int = DEFAULT_MAX_WIDTH,
    progress: Callable[[float, str], None] | None = None,
) -> dict[str, float]:
    """Write ``target`` (.webm) from ``source``; returns its duration (s), frame rate and size."""
    source, target = Path(source), Path(target)
    info = probe_video(source)
    width, height = info.size  # as shown, after the file's rotation flag
    size = None
    if width > max_width:
        width, height = even_pixels(max_width), even_pixels(height * max_width / width)
        size = (width, height)
    elif width % 2 or height % 2:
        width, height = even_pixels(width), even_pixels(height)
        size = (width, height)
    expected = max(1, info.frame_count)
    written = 0
    with video_writer(
        target, info.frame_rate, (width, height), codec="libvpx",
        encoder_options={"deadline": "realtime", "cpu-used": "8", "b": "1500k"},
    ) as sink:  # fmt: skip
        for frame in read_frames(source, size=size):
            sink.write(frame.pixels)
            written += 1
            if progress is not None and written % 25 == 0:
                progress(min(written / expected, 0.99), f"{source.name}: {written} frames for the browser")
    return {"duration": info.duration, "frame_rate": info.frame_rate, "width": width, "height": height}
