"""``video predict``: probability over time of generalising semiology and a seizure-level verdict.

The views of a recording (both halves of a montage, or two files) are each read in a sliding
window, their snippet features classified one by one (the curve) and, sampled at the centres of
the model's segments, as a sequence (the verdict). Views are averaged, and the verdict is TCS
when the averaged seizure probability reaches the threshold (0.5).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..progress import CancelToken, ProgressCallback
from .curves import plot_probability_png, write_probability_csv
from .extractors import FeatureExtractor
from .features import extract_features
from .models import GesturesModel, load_gestures_model, snippet_probabilities
from .preprocessing import MontageLayout, PreprocessingSettings, view_sources
from .sampling import SegmentSampler

LOG = logging.getLogger(__name__)


def estimate_generalisation_time(times: np.ndarray, probability: np.ndarray, threshold: float = 0.5) -> float:
    """Time where the curve is best split into "before" (below threshold) and "after" (above):
    the ``t_k`` maximising ``sum_{j<k} (threshold - p_j) + sum_{j>=k} (p_j - threshold)``."""
    excess = np.asarray(probability, dtype=float) - threshold
    if excess.size == 0:
        raise InputError("probability curve", "is empty")
    # score(k) = -sum(excess[:k]) + sum(excess[k:]) = total - 2 * cumsum_before(k)
    before = np.r_[0.0, np.cumsum(excess)[:-1]]
    return float(np.asarray(times)[int(np.argmin(before))])


@dataclass
class SeizurePrediction:
    """Outputs of :func:`predict_seizure`; times in seconds from the start of the file."""

    times: np.ndarray
    probability: np.ndarray
    view_probabilities: list[np.ndarray]
    seizure_probability: float
    view_seizure_probabilities: list[float]
    generalisation_time: float | None
    segments: list[dict[str, float]]
    threshold: float = 0.5
    views: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return "TCS" if self.seizure_probability >= self.threshold else "FOS"

    @property
    def summary(self) -> str:
        """One line for a report, a log or the Slicer panel."""
        if self.verdict == "TCS":
            onset = (
                "" if self.generalisation_time is None else f", generalisation from {self.generalisation_time:.1f} s"
            )
            return f"focal to bilateral tonic-clonic seizure (TCS), P(TCS) = {self.seizure_probability:.2f}{onset}"
        return f"focal-onset seizure without generalisation (FOS), P(TCS) = {self.seizure_probability:.2f}"


def _check_extractor(model_path: Path, metadata: dict, extractor: FeatureExtractor) -> None:
    trained = metadata.get("extractor")
    if not trained:
        return
    if trained != extractor.name or metadata.get("frames", extractor.spec.frames) != extractor.spec.frames:
        raise InputError(model_path, f"the model was trained on features of {trained} "
                         f"({metadata.get('frames')} frames), not {extractor.name} ({extractor.spec.frames} frames)")  # fmt: skip
    if metadata.get("weights") and metadata["weights"] != extractor.weights_id:
        LOG.warning("%s: trained with extractor weights %s, given %s: predictions may be off",
                    model_path, metadata["weights"], extractor.weights_id)  # fmt: skip


def predict_seizure(
    video: str | PathLike[str],
    model: str | PathLike[str] | GesturesModel,
    extractor: FeatureExtractor,
    second_view: str | PathLike[str] | None = None,
    layout: MontageLayout | None = None,
    device: torch.device | str = "cpu",
    cache_folder: str | PathLike[str] | None = None,
    segments: int | None = None,
    threshold: float = 0.5,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    show_bar: bool = True,
) -> SeizurePrediction:
    """Classify the seizure recorded in ``video`` (and ``second_view``, or the montage's inset).

    Args:
        model: a checkpoint of ``video train`` or of the GESTURES authors (or a loaded
            :class:`GesturesModel`). A model without a snippet classifier (the authors') gives a
            NaN curve and no generalisation time.
        extractor: the feature extractor the model was trained on.
        segments: sequence length; default the one the model was trained with.
    """
    metadata: dict = {}
    if isinstance(model, GesturesModel):
        network, training = model.to(device).eval(), {}
    else:
        network, payload = load_gestures_model(model, device)
        metadata, training = payload.get("metadata", {}), payload.get("training_config") or payload.get("training", {})
        _check_extractor(Path(model), metadata, extractor)
    segments = segments or training.get("segments", 16)
    settings = PreprocessingSettings(**metadata["settings"]) if "settings" in metadata else PreprocessingSettings()
    stride = metadata.get("stride", 8)
    sources = view_sources(video, second_view, layout)
    curves, seizure_probabilities, times, names = [], [], None, []
    for index, (path, view) in enumerate(sources):
        view_progress = None if progress is None else (lambda f, m, i=index: progress((i + f) / len(sources), m))
        features = extract_features(path, extractor, view, layout, settings, stride, cache_folder=cache_folder,
                                    progress=view_progress, cancel=cancel, show_bar=show_bar)  # fmt: skip
        tensor = torch.from_numpy(features.features)
        if network.has_snippet_classifier:
            curves.append(snippet_probabilities(network, tensor))
        else:  # e.g. the GESTURES authors' checkpoints: a seizure classifier only, no curve
            curves.append(np.full(len(tensor), np.nan, dtype=np.float32))
        positions = SegmentSampler(segments, math.inf)(len(tensor))
        with torch.no_grad():
            logit = network.seizure_logits(tensor[torch.from_numpy(positions)][None].to(device))
        seizure_probabilities.append(float(torch.sigmoid(logit)))
        if times is None or len(features.centre_times) < len(times):
            times = features.centre_times
        names.append(f"{path.name} ({view})")
    length = len(times)
    probability = np.mean([curve[:length] for curve in curves], axis=0)
    seizure_probability = float(np.mean(seizure_probabilities))
    edges = SegmentSampler(segments, math.inf).boundaries(length)
    centres = SegmentSampler(segments, math.inf)(length)
    step = (times[1] - times[0]) if length > 1 else 0.0
    segment_rows = []
    for number, centre in enumerate(centres):
        first, last = int(edges[number]), max(int(math.ceil(edges[number + 1])) - 1, int(edges[number]))
        segment_rows.append({"segment": number + 1, "start_s": float(times[first] - step / 2),
                             "end_s": float(times[min(last, length - 1)] + step / 2),
                             "snippet_s": float(times[centre]), "probability": float(probability[centre])})  # fmt: skip
    curve_known = bool(np.isfinite(probability).all())
    generalisation = (
        estimate_generalisation_time(times, probability, threshold)
        if seizure_probability >= threshold and curve_known
        else None
    )
    return SeizurePrediction(times, probability, curves, seizure_probability, seizure_probabilities, generalisation,
                             segment_rows, threshold, names)  # fmt: skip


def write_curve_csv(prediction: SeizurePrediction, path: str | PathLike[str]) -> Path:
    """The averaged probability curve of a prediction as CSV."""
    return write_probability_csv(prediction.times, prediction.probability, path)


def plot_curve_png(prediction: SeizurePrediction, path: str | PathLike[str], title: str = "") -> Path:
    """The averaged probability curve of a prediction, with the estimated generalisation time."""
    return plot_probability_png(prediction.times, prediction.probability, path, title or prediction.summary,
                                prediction.generalisation_time, prediction.threshold, "estimated tG")  # fmt: skip


def predict_recording(
    video: str | PathLike[str],
    model: str | PathLike[str],
    extractor: str = "r2plus1d_34_8",
    extractor_weights: str | PathLike[str] | None = None,
    second_view: str | PathLike[str] | None = None,
    layout: MontageLayout | None = None,
    device: torch.device | str = "auto",
    cache_folder: str | PathLike[str] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> SeizurePrediction:
    """GESTURES on one recording from files, as the Slicer module and the web app run it (also
    in a background process: arguments and result pickle).

    The extractor the checkpoint records (``video train`` writes it) wins over ``extractor``,
    which names the one to load with ``extractor_weights`` otherwise.
    """
    from ..device import resolve_device
    from .extractors import EXTRACTORS, load_extractor

    _, payload = load_gestures_model(model, "cpu")
    metadata = payload.get("metadata", {})
    name = metadata.get("extractor") or extractor
    if name not in EXTRACTORS:
        raise InputError("feature extractor", f"unknown extractor {name!r}; choose one of {', '.join(EXTRACTORS)}")
    device = resolve_device(device)
    loaded = load_extractor(name, extractor_weights or None, device, side=metadata.get("side"))
    return predict_seizure(
        Path(video), Path(model), loaded, Path(second_view) if second_view else None, layout, device,
        cache_folder, progress=progress, cancel=cancel, show_bar=False,
    )  # fmt: skip
