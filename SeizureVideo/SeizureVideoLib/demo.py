"""Seizure Video demo step: a synthetic tonic-clonic seizure, loaded as a sequence and classified."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from epilepsy_suite.io import atomic_output
from epilepsy_suite.video.dataset import dataset_features, feature_metadata
from epilepsy_suite.video.extractors import load_extractor
from epilepsy_suite.video.inference import estimate_generalisation_time, plot_curve_png
from epilepsy_suite.video.models import GesturesModel, save_gestures_model
from epilepsy_suite.video.preprocessing import DEFAULT_SETTINGS
from epilepsy_suite.video.synthetic import make_synthetic_dataset, render_seizure_video
from epilepsy_suite.video.training import GesturesTrainingConfig, train_gestures
from vtk.util import numpy_support

from .logic import SeizureVideoLogic

DURATION_S = 12.0
GENERALISATION_S = 7.0
SIZE = (320, 180)
# No package ships R(2+1)D weights, so the extractor is randomly initialised; 32-pixel snippets
# every 8 frames keep the CPU time of the whole step near a minute.
EXTRACTOR = "r2plus1d_18"
SIDE = 32
STRIDE = 8
TRAINING_VIDEOS = 4
EPOCHS = 30


def _frame_at(sequence_node, seconds: float) -> tuple[float, np.ndarray]:
    """(time, RGB pixels) of the sequence's frame nearest to ``seconds``."""
    times = np.array(
        [float(sequence_node.GetNthIndexValue(item)) for item in range(sequence_node.GetNumberOfDataNodes())]
    )
    item = int(np.argmin(np.abs(times - seconds)))
    image = sequence_node.GetNthDataNode(item).GetImageData()
    width, height, _ = image.GetDimensions()
    pixels = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(height, width, -1)
    return float(times[item]), pixels


def _frames_picture(path: Path, sequence_node, moments: list[tuple[float, str]]) -> Path:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(3 * len(moments), 2.2), dpi=100, layout="constrained")
    for column, (seconds, label) in enumerate(moments, start=1):
        moment, pixels = _frame_at(sequence_node, seconds)
        axes = figure.add_subplot(1, len(moments), column)
        axes.imshow(pixels)
        axes.set_axis_off()
        axes.set_title(f"{moment:.1f} s: {label}", fontsize=9)
    with atomic_output(path) as temporary:
        figure.savefig(temporary, format="png")
    return path


def train_briefly(folder: Path, extractor) -> Path:
    """A GESTURES checkpoint trained on the features of a few synthetic seizures (about a minute)."""
    annotations = make_synthetic_dataset(
        folder / "videos", TRAINING_VIDEOS, seed=11, durations=(8.0, 11.0), size=SIZE, show_bar=False
    )
    items = dataset_features(annotations, extractor, folder / "features", stride=STRIDE, show_bar=False)
    config = GesturesTrainingConfig(max_epochs=EPOCHS, snippet_learning_rate=1e-2)
    metadata = feature_metadata(extractor, DEFAULT_SETTINGS, STRIDE)
    return train_gestures(items, [], folder / "run", config, "cpu", metadata=metadata, show_bar=False).best_checkpoint


def run(context) -> None:
    start = time.perf_counter()
    video_path = render_seizure_video(
        context.out_dir / "seizure_video_demo.mp4", DURATION_S, GENERALISATION_S, seed=2024, fps=15, size=SIZE
    )
    logic = SeizureVideoLogic(context.scene)
    video = logic.load_video(video_path, name="Seizure video demo")
    extractor = load_extractor(EXTRACTOR, None, "cpu", side=SIDE)
    with tempfile.TemporaryDirectory() as folder:
        if context.quick:
            model_path = save_gestures_model(
                Path(folder) / "untrained.pt",
                GesturesModel(),
                metadata=feature_metadata(extractor, DEFAULT_SETTINGS, STRIDE),
            )
            training = "an untrained GESTURES model (random weights; the quick demo skips training)"
        else:
            model_path = train_briefly(Path(folder), extractor)
            training = (
                f"a GESTURES model (BLSTM, 16 segments) trained for {EPOCHS} epochs on the features of "
                f"{TRAINING_VIDEOS} other synthetic seizures"
            )
        result = logic.predict(
            None, model_path, extractor, device="cpu", browser_node=video.browser_node, output_name="Seizure video demo"
        )
    prediction = result.prediction
    # Leave the scene on a frame after the generalisation, where the chart's marker shows it.
    video.browser_node.SetSelectedItemNumber(int(min(GENERALISATION_S + 2, DURATION_S - 1) * video.frame_rate))
    curve = plot_curve_png(prediction, context.out_dir / "seizure_video_curve.png")
    frames = _frames_picture(
        context.out_dir / "seizure_video_frames.png",
        video.sequence_node,
        [(2.0, "focal"), (GENERALISATION_S + 0.4, "generalising"), (GENERALISATION_S + 2.5, "clonic jerks")],
    )
    split = estimate_generalisation_time(prediction.times, prediction.probability, prediction.threshold)
    context.add_section(
        "Seizure Video",
        f"A synthetic seizure of {DURATION_S:.0f} s ({SIZE[0]}x{SIZE[1]}, 15 fps) that generalises at "
        f"{GENERALISATION_S:.1f} s, loaded as a sequence of {video.frame_count} RGB frames with a browser, then "
        f"classified by {training}, on snippet features of a randomly initialised {EXTRACTOR} extractor "
        f"({SIDE}-pixel snippets every {STRIDE} frames; no package ships the R(2+1)D weights). Result: "
        f"{prediction.summary} (annotated: TCS from {GENERALISATION_S:.1f} s). The snippet curve of "
        f"{len(prediction.times)} snippets is best split into before and after at {split:.1f} s (the estimate "
        f"given with a TCS verdict). "
        f"The curve, its 0.5 threshold and a marker at the "
        f"browser's current frame are a plot chart in the scene. Random features and a handful of synthetic "
        f"videos show the pipeline, not the method's accuracy: give the module the published extractor weights "
        f"and a model trained with `video train` for real use. {time.perf_counter() - start:.0f} s.",
        [frames, curve],
        prediction.segments,
    )
