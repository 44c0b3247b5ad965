"""Training items of GESTURES: one view of one annotated seizure, its snippet features and labels
(thesis eq. 2.1), made from videos through a feature extractor (with a feature cache)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from os import PathLike

import numpy as np
import torch

from ..progress import CancelToken, ProgressCallback, track
from .annotations import SeizureAnnotation, snippet_labels
from .extractors import FeatureExtractor
from .features import VideoFeatures, extract_features
from .preprocessing import DEFAULT_SETTINGS, MontageLayout, PreprocessingSettings, view_sources


@dataclass
class FeatureItem:
    """One view of one annotated seizure: features of the snippets within ``t0..t1``.

    ``features`` ``(N, F)`` float32, ``labels`` ``(N,)`` float (eq. 2.1; NaN for the snippets of a
    TCS whose generalisation time is unknown: they train the seizure classifier only),
    ``start_times`` (s).
    """

    annotation: SeizureAnnotation
    view: str
    features: torch.Tensor
    labels: torch.Tensor
    start_times: np.ndarray
    snippet_frames: int
    fps: float

    @property
    def label(self) -> int:
        return self.annotation.label

    @property
    def key(self) -> str:
        """Identifies the seizure (both views share it)."""
        return str(self.annotation.video)

    @property
    def centre_times(self) -> np.ndarray:
        return self.start_times + self.snippet_frames / self.fps / 2

    def __len__(self) -> int:
        return len(self.start_times)


def feature_item(annotation: SeizureAnnotation, view: str, features: VideoFeatures) -> FeatureItem:
    """Restrict ``features`` to the seizure ``t0..t1`` and label each snippet (eq. 2.1)."""
    seizure = features.within(annotation.t0, annotation.t1)
    return labelled_item(annotation, view, torch.from_numpy(seizure.features), seizure.start_times,
                         seizure.snippet_frames, seizure.fps)  # fmt: skip


def labelled_item(
    annotation: SeizureAnnotation, view: str, features: torch.Tensor, start_times: np.ndarray, snippet_frames: int,
    fps: float,
) -> FeatureItem:  # fmt: skip
    """A :class:`FeatureItem` with its snippet labels (eq. 2.1); NaN labels for a TCS without ``tG``."""
    if annotation.label == 1 and annotation.tG is None:
        labels = np.full(len(start_times), np.nan)
    else:
        labels = snippet_labels(start_times, snippet_frames, fps, annotation.tG)
    return FeatureItem(annotation, view, features.float(), torch.from_numpy(labels).float(),
                       np.asarray(start_times, dtype=float), snippet_frames, fps)  # fmt: skip


def known_snippets(items: Sequence[FeatureItem]) -> tuple[torch.Tensor, torch.Tensor]:
    """Features ``(M, F)`` and labels ``(M,)`` of the snippets whose label is known."""
    features = torch.cat([item.features for item in items])
    labels = torch.cat([item.labels for item in items])
    known = ~torch.isnan(labels)
    return features[known], labels[known]


def dataset_features(
    annotations: Sequence[SeizureAnnotation],
    extractor: FeatureExtractor,
    cache_folder: str | PathLike[str],
    layout: MontageLayout | None = None,
    settings: PreprocessingSettings = DEFAULT_SETTINGS,
    stride: int = 8,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    show_bar: bool = True,
) -> list[FeatureItem]:
    """Extract (or read from the cache) the features of every view of every seizure."""
    jobs = [
        (annotation, path, view)
        for annotation in annotations
        for path, view in view_sources(annotation.video, annotation.second_view, layout)
    ]
    items = []
    for annotation, path, view in track(jobs, len(jobs), "videos", progress, cancel, show_bar):
        features = extract_features(path, extractor, view, layout, settings, stride, cache_folder=cache_folder,
                                    cancel=cancel, show_bar=False)  # fmt: skip
        name = view if path == annotation.video else "second"
        items.append(feature_item(annotation, name, features))
    return items


def feature_metadata(
    extractor: FeatureExtractor, settings: PreprocessingSettings, stride: int, layout: MontageLayout | None = None
) -> dict:
    """What ``video predict`` needs to compute the same features as in training."""
    return {"extractor": extractor.name, "frames": extractor.spec.frames, "side": extractor.spec.side,
            "weights": extractor.weights_id, "settings": asdict(settings), "stride": stride,
            "layout": None if layout is None else asdict(layout)}  # fmt: skip
