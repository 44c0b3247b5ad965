"""Snippet features of whole videos, from a sliding window, cached on disk with resume.

A video view is read once (:func:`~.preprocessing.preprocessed_frames`), each frame squared
and scaled to the extractor's input side, and every ``stride``-th window of ``frames`` frames
is passed to the frozen extractor. The result, :class:`VideoFeatures`, is cached as one file
per video, view and extractor; an interrupted extraction resumes from its partial file.
"""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..io import atomic_output
from ..progress import CancelToken, ProgressCallback
from .decoding import probe_video
from .extractors import FeatureExtractor
from .preprocessing import DEFAULT_SETTINGS, MontageLayout, PreprocessingSettings, preprocessed_frames, snippet_frame

FEATURES_FORMAT = "epilepsy-suite-video-features-v3"


@dataclass
class VideoFeatures:
    """Features of every sliding-window snippet of one view of one video.

    ``features`` is ``(N, 512)`` float32; ``start_times`` ``(N,)`` are the times (s) of each
    snippet's first frame, on the preprocessed ``fps`` grid.
    """

    video: Path
    view: str
    extractor: str
    fps: float
    snippet_frames: int
    stride: int
    start_times: np.ndarray
    features: np.ndarray
    parameters: dict = field(default_factory=dict)

    @property
    def centre_times(self) -> np.ndarray:
        """Middle of each snippet, ``(t_k + t_{k+l}) / 2`` (s)."""
        return self.start_times + self.snippet_frames / self.fps / 2

    def __len__(self) -> int:
        return len(self.start_times)

    def within(self, start: float, end: float) -> VideoFeatures:
        """The snippets lying entirely in ``[start, end]`` seconds (the seizure, ``t0..t1``)."""
        keep = (self.start_times >= start - 1e-6) & (self.start_times + self.snippet_frames / self.fps <= end + 1e-6)
        if not keep.any():
            raise InputError(self.video, f"no snippet of {self.snippet_frames} frames fits between {start} and {end} s")
        return VideoFeatures(self.video, self.view, self.extractor, self.fps, self.snippet_frames, self.stride,
                             self.start_times[keep], self.features[keep], self.parameters)  # fmt: skip

    def save(self, path: Path) -> Path:
        payload = {"format": FEATURES_FORMAT, "video": str(self.video), "view": self.view,
                   "extractor": self.extractor, "fps": self.fps, "snippet_frames": self.snippet_frames,
                   "stride": self.stride, "start_times": torch.from_numpy(self.start_times),
                   "features": torch.from_numpy(self.features), "parameters": self.parameters}  # fmt: skip
        with atomic_output(path) as temporary:
            torch.save(payload, temporary)
        return path

    @classmethod
    def load(cls, path: str | PathLike[str]) -> VideoFeatures:
        path = Path(path)
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:
            raise InputError(path, f"is not a readable features file ({type(error).__name__})") from None
        if not isinstance(payload, dict) or payload.get("format") != FEATURES_FORMAT:
            raise InputError(path, "is not a features file written by `video features`")
        return cls(Path(payload["video"]), payload["view"], payload["extractor"], payload["fps"],
                   payload["snippet_frames"], payload["stride"], payload["start_times"].numpy(),
                   payload["features"].numpy(), payload["parameters"])  # fmt: skip


def _video_key(path: Path) -> str:
    status = path.stat()
    text = f"{path.resolve()}|{status.st_size}|{status.st_mtime_ns}"
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def cache_path(
    folder: Path, video: Path, view: str, extractor: FeatureExtractor, settings: PreprocessingSettings, stride: int,
    layout: MontageLayout | None,
) -> Path:  # fmt: skip
    """Cache file of one video view: its name holds the video's stem, view and extractor, and a
    digest of everything else the features depend on (file identity, preprocessing, stride)."""
    details = f"{FEATURES_FORMAT}|{_video_key(video)}|{settings}|{stride}|{layout}"
    digest = hashlib.sha1(details.encode()).hexdigest()[:10]
    return Path(folder) / f"{video.stem}.{view}.{extractor.identifier}.{digest}.pt"


def extract_features(
    video: str | PathLike[str],
    extractor: FeatureExtractor,
    view: str = "main",
    layout: MontageLayout | None = None,
    settings: PreprocessingSettings = DEFAULT_SETTINGS,
    stride: int = 8,
    batch_size: int = 8,
    cache_folder: str | PathLike[str] | None = None,
    checkpoint_every: int = 64,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    show_bar: bool = True,
) -> VideoFeatures:
    """Features of every ``stride``-th snippet of one view of ``video``.

    With ``cache_folder`` the result is read from, or written to, the cache; progress is saved
    to a partial file every ``checkpoint_every`` snippets, and a later call resumes from it.

    Raises:
        InputError: unreadable video, or a video shorter than one snippet.
    """
    from ..progress import track

    video = Path(video)
    if stride < 1 or batch_size < 1:
        raise InputError(video, f"stride ({stride}) and batch size ({batch_size}) must be at least 1")
    info = probe_video(video)
    length, side = extractor.spec.frames, extractor.spec.side
    frame_total = max(1, info.frames_at(settings.fps))
    expected = (frame_total - length) // stride + 1 if frame_total >= length else 0
    parameters = {"settings": vars(settings), "layout": None if layout is None else vars(layout), "side": side}
    target = partial = None
    done_times: list[np.ndarray] = []
    done_features: list[np.ndarray] = []
    if cache_folder is not None:
        target = cache_path(Path(cache_folder), video, view, extractor, settings, stride, layout)
        if target.is_file():
            return VideoFeatures.load(target)
        partial = target.with_name(target.name.replace(".pt", ".partial.pt"))
        if partial.is_file():
            previous = VideoFeatures.load(partial)
            done_times, done_features = [previous.start_times], [previous.features]
    done = sum(len(times) for times in done_times)
    start_frame = done * stride
    # Decode straight at the snippet scale: one FFmpeg scaling per frame instead of two.
    frame_settings = settings.scaled_for_side(side)
    frames = preprocessed_frames(video, view, layout, frame_settings, start=start_frame / settings.fps)
    window: deque[torch.Tensor] = deque(maxlen=length)
    pending_starts: list[int] = []
    pending: list[torch.Tensor] = []

    def flush() -> None:
        nonlocal done
        if not pending:
            return
        features = extractor(torch.stack(pending)).numpy()
        done_features.append(features.astype(np.float32))
        done_times.append(np.asarray(pending_starts, dtype=float) / settings.fps)
        pending.clear()
        pending_starts.clear()
        before, done = done, done + len(features)
        if partial is not None and before // checkpoint_every != done // checkpoint_every:
            _result(video, view, extractor, settings, stride, done_times, done_features, parameters).save(partial)

    next_frame = start_frame
    remaining = range(done, expected)
    for position in track(remaining, len(remaining), f"{video.name} ({view}): features", progress, cancel, show_bar):
        first = position * stride
        while next_frame < first + length:
            frame = next(frames, None)
            if frame is None:
                break
            if next_frame >= first:  # frames between windows (stride > length) are skipped
                window.append(torch.from_numpy(snippet_frame(frame.pixels, side, frame_settings.crop_share)))
            next_frame += 1
        if next_frame < first + length:
            break
        pending.append(torch.stack(list(window)))
        pending_starts.append(first)
        if len(pending) == batch_size:
            flush()
    flush()
    if done == 0:
        raise InputError(video, f"the video ({info.duration:.2f} s) is shorter than one snippet of {length} frames "
                         f"at {settings.fps:g} fps")  # fmt: skip
    result = _result(video, view, extractor, settings, stride, done_times, done_features, parameters)
    if target is not None:
        result.save(target)
        partial.unlink(missing_ok=True)
    return result


def _result(
    video: Path, view: str, extractor: FeatureExtractor, settings: PreprocessingSettings, stride: int,
    times: list[np.ndarray], features: list[np.ndarray], parameters: dict,
) -> VideoFeatures:  # fmt: skip
    return VideoFeatures(video, view, extractor.identifier, settings.fps, extractor.spec.frames, stride,
                         np.concatenate(times), np.concatenate(features), parameters)  # fmt: skip
