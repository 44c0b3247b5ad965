"""Preprocessing of video-telemetry as in GESTURES (thesis section 2.3).

The acquisition software pastes a small copy of the second camera into a corner of the main
one. :class:`MontageLayout` says where; :func:`preprocessed_frames` yields either view alone,
resampled to 15 fps and 320x180, with the small view's area blacked out in the main view.
:func:`square_frame` then removes 5 % of the columns on each side and pads the rows so the
frame is square, as the feature extractors expect.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np

from ..errors import InputError
from .decoding import DecodedFrame, probe_video, read_frames

VIEWS = ("main", "inset")


@dataclass(frozen=True)
class MontageLayout:
    """Rectangle of the small (inset) view, as fractions of the montage's width and height.

    The default is the thesis' recordings: an 800x450 view in the top-left corner of a
    1920x1080 frame.
    """

    left: float = 0.0
    top: float = 0.0
    width: float = 800 / 1920
    height: float = 450 / 1080

    def __post_init__(self) -> None:
        for name in ("left", "top", "width", "height"):
            if not 0 <= getattr(self, name) <= 1:
                raise InputError("montage layout", f"{name} must be a fraction in [0, 1], not {getattr(self, name)}")
        if (
            self.width <= 0
            or self.height <= 0
            or self.left + self.width > 1 + 1e-9
            or self.top + self.height > 1 + 1e-9
        ):
            raise InputError("montage layout", f"the inset {self} does not fit in the frame")

    @classmethod
    def corner(cls, corner: str, width: float, height: float) -> MontageLayout:
        """Inset of ``width`` x ``height`` (fractions) in ``corner``: top-left, top-right, ..."""
        corners = {"top-left": (0, 0), "top-right": (1 - width, 0), "bottom-left": (0, 1 - height),
                   "bottom-right": (1 - width, 1 - height)}  # fmt: skip
        if corner not in corners:
            raise InputError("montage layout", f"unknown corner {corner!r}; choose one of {', '.join(corners)}")
        left, top = corners[corner]
        return cls(left, top, width, height)

    def box(self, width: int, height: int) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)`` of the inset in a frame of ``width`` x ``height`` pixels."""
        return (round(self.left * width), round(self.top * height),
                round((self.left + self.width) * width), round((self.top + self.height) * height))  # fmt: skip


@dataclass(frozen=True)
class PreprocessingSettings:
    """Output of preprocessing: frame rate (Hz), frame size (pixels), columns cropped per side."""

    fps: float = 15.0
    width: int = 320
    height: int = 180
    crop_share: float = 0.05

    def __post_init__(self) -> None:
        if not self.fps > 0 or self.width < 2 or self.height < 2 or not 0 <= self.crop_share < 0.5:
            raise InputError("preprocessing settings", f"invalid settings {self}")

    def scaled_for_side(self, side: int) -> PreprocessingSettings:
        """Same framing at the size whose cropped width (or height) is ``side``: frames decoded at
        it need no second scaling to become ``side x side`` snippet frames."""
        scale = side / self.square_side
        return PreprocessingSettings(self.fps, max(2, round(self.width * scale)), max(2, round(self.height * scale)),
                                     self.crop_share)  # fmt: skip

    @property
    def square_side(self) -> int:
        """Side of the square frame after cropping and padding."""
        return max(self.width - 2 * round(self.crop_share * self.width), self.height)


DEFAULT_SETTINGS = PreprocessingSettings()


def view_sources(
    video: str | PathLike[str], second_view: str | PathLike[str] | None = None, layout: MontageLayout | None = None
) -> list[tuple[Path, str]]:
    """``(file, view)`` of every camera view of a recording: the main view, the montage's inset
    when ``layout`` is given, and the other camera's file when ``second_view`` is given."""
    sources = [(Path(video), "main")]
    if layout is not None:
        sources.append((Path(video), "inset"))
    if second_view is not None:
        sources.append((Path(second_view), "main"))
    return sources


def preprocessed_frames(
    path: str | PathLike[str],
    view: str = "main",
    layout: MontageLayout | None = None,
    settings: PreprocessingSettings = DEFAULT_SETTINGS,
    start: float = 0.0,
    end: float | None = None,
) -> Iterator[DecodedFrame]:
    """Frames of one view of ``path`` at ``settings.fps`` and ``settings.width x height``.

    Args:
        view: ``"main"`` (the full frame, inset blacked out when ``layout`` is given) or
            ``"inset"`` (the small view scaled up to the output size; needs ``layout``).
        layout: the montage's inset; ``None`` for a single-camera recording.
    """
    if view not in VIEWS:
        raise InputError(path, f"unknown view {view!r}; choose one of {', '.join(VIEWS)}")
    size = (settings.width, settings.height)
    if view == "main":
        inset = layout.box(settings.width, settings.height) if layout is not None else None
        for frame in read_frames(path, start, end, settings.fps, size):
            if inset is not None:
                x0, y0, x1, y1 = inset
                frame.pixels[y0:y1, x0:x1] = 0
            yield frame
        return
    if layout is None:
        raise InputError(path, "the inset view needs a montage layout")
    # Scale the whole montage so that the inset alone has the output size, then cut it out:
    # one FFmpeg scaling per frame instead of a full-resolution RGB conversion.
    scaled = (even_pixels(settings.width / layout.width), even_pixels(settings.height / layout.height))
    x0, y0, _, _ = layout.box(*scaled)
    for frame in read_frames(path, start, end, settings.fps, scaled):
        pixels = np.ascontiguousarray(frame.pixels[y0 : y0 + settings.height, x0 : x0 + settings.width])
        yield DecodedFrame(frame.time, frame.index, pixels)


def even_pixels(value: float) -> int:
    """``value`` rounded to an even number of pixels (at least 2), as 4:2:0 video needs."""
    return max(2, int(round(value / 2)) * 2)


def square_frame(pixels: np.ndarray, crop_share: float = 0.05) -> np.ndarray:
    """Remove ``crop_share`` of the columns on each side, then pad with black rows (or columns)
    equally above and below so the frame is square. ``(H, W, C) -> (S, S, C)``."""
    if pixels.ndim != 3:
        raise InputError("frame", f"expected (height, width, channels) pixels, got shape {pixels.shape}")
    crop = round(crop_share * pixels.shape[1])
    cropped = pixels[:, crop : pixels.shape[1] - crop] if crop else pixels
    height, width = cropped.shape[:2]
    side = max(height, width)
    top, left = (side - height) // 2, (side - width) // 2
    square = np.zeros((side, side, pixels.shape[2]), dtype=pixels.dtype)
    square[top : top + height, left : left + width] = cropped
    return square


def snippet_frame(pixels: np.ndarray, side: int = 112, crop_share: float = 0.05) -> np.ndarray:
    """:func:`square_frame` scaled to ``side x side`` (112 for video CNNs, 224 for image CNNs).

    The cropped frame is scaled first (area averaging, by FFmpeg) and padded after, which gives
    the same picture as padding then scaling at a fraction of the cost. ``(H, W, 3) uint8``.
    """
    import av

    crop = round(crop_share * pixels.shape[1])
    cropped = np.ascontiguousarray(pixels[:, crop : pixels.shape[1] - crop] if crop else pixels)
    height, width = cropped.shape[:2]
    if max(height, width) != side:
        scale = side / max(height, width)
        frame = av.VideoFrame.from_ndarray(cropped, format="rgb24")
        cropped = frame.reformat(width=max(1, round(width * scale)), height=max(1, round(height * scale)),
                                 format="rgb24", interpolation="AREA").to_ndarray()  # fmt: skip
    return square_frame(cropped, 0.0)


def preprocess_video(
    path: str | PathLike[str],
    out_folder: str | PathLike[str],
    layout: MontageLayout | None = None,
    settings: PreprocessingSettings = DEFAULT_SETTINGS,
    codec: str = "libx264",
    progress=None,
    cancel=None,
    show_bar: bool = True,
) -> list[Path]:
    """Write each view of ``path`` to its own file in ``out_folder`` (``<stem>_main.mp4`` and
    ``<stem>_inset.mp4`` for a montage, ``<stem>.mp4`` otherwise). Returns the files written."""
    from ..progress import track
    from .encoding import video_writer

    path, out_folder = Path(path), Path(out_folder)
    info = probe_video(path)
    views = ("main", "inset") if layout is not None else ("main",)
    written = []
    expected = info.frames_at(settings.fps) or None
    for view in views:
        name = f"{path.stem}_{view}.mp4" if layout is not None else f"{path.stem}.mp4"
        target = out_folder / name
        if target.resolve() == path.resolve():
            raise InputError(path, "the output would overwrite the input; choose another folder")
        frames = preprocessed_frames(path, view, layout, settings)
        with video_writer(target, settings.fps, (settings.width, settings.height), codec) as sink:
            for frame in track(frames, expected, f"{path.name} ({view})", progress, cancel, show_bar):
                sink.write(frame.pixels)
        written.append(target)
    return written
