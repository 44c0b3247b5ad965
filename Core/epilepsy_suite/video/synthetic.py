"""Synthetic seizure recordings: a figure lying on a bed, rendered to real video files.

Before the generalisation time ``tG`` (and throughout focal-onset seizures) the figure makes
small irregular movements: slow random drifts of its joints and occasional twitches of one limb.
From ``tG`` on, all limbs and the head jerk together, with large amplitude, at 2-4 Hz slowing
down over time, as in the clonic phase of a tonic-clonic seizure. The room, bed and gown
are the same in every video (one monitoring unit), with small changes of framing, lighting,
skin tone and noise. The files are used by the tests and the demo; they
carry no clinical meaning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np

from ..errors import InputError
from .annotations import SeizureAnnotation, write_annotations
from .encoding import video_writer
from .preprocessing import MontageLayout

# Rest angles (degrees, 0 = pointing right in the image) of the limbs of a figure lying with
# its head on the left: upper arms, forearms, thighs, shins.
_REST = {"arm_l": 200.0, "fore_l": 160.0, "arm_r": 160.0, "fore_r": 200.0,
         "thigh_l": 10.0, "shin_l": 0.0, "thigh_r": -10.0, "shin_r": 0.0, "head": 0.0}  # fmt: skip


@dataclass(frozen=True)
class _Scene:
    centre: tuple[float, float]  # pixels
    scale: float  # pixels per body unit
    skin: np.ndarray
    gown: np.ndarray
    bed: np.ndarray
    light: float
    noise: float
    drift_frequencies: np.ndarray  # (joints, 3)
    drift_phases: np.ndarray
    drift_amplitude: float
    twitch_times: np.ndarray
    twitch_joints: np.ndarray
    jerk_frequency: float
    jerk_amplitude: float


def _scene(rng: np.random.Generator, size: tuple[int, int]) -> _Scene:
    width, height = size
    joints = len(_REST)
    return _Scene(
        centre=(width * rng.uniform(0.45, 0.55), height * rng.uniform(0.48, 0.56)),
        scale=min(width, height) * rng.uniform(0.17, 0.19),
        skin=np.array([0.85, 0.65, 0.55]) + rng.uniform(-0.1, 0.1, 3),
        gown=np.array([0.45, 0.6, 0.75]) + rng.uniform(-0.05, 0.05, 3),
        bed=np.array([0.85, 0.88, 0.9]) + rng.uniform(-0.05, 0.05, 3),
        light=rng.uniform(0.85, 1.0),
        noise=0.015,
        drift_frequencies=rng.uniform(0.05, 0.6, (joints, 3)),
        drift_phases=rng.uniform(0, 2 * math.pi, (joints, 3)),
        drift_amplitude=rng.uniform(2.0, 8.0),
        twitch_times=np.sort(rng.uniform(0, 600, 200)),
        twitch_joints=rng.integers(0, joints, 200),
        jerk_frequency=rng.uniform(3.0, 4.5),
        jerk_amplitude=rng.uniform(40.0, 60.0),
    )


def _angles(scene: _Scene, time: float, generalisation_time: float | None) -> dict[str, float]:
    names = list(_REST)
    drift = scene.drift_amplitude * np.sin(2 * math.pi * scene.drift_frequencies * time + scene.drift_phases).sum(1)
    # Twitches: a 0.4 s bump of 12 degrees on one joint.
    recent = np.abs(scene.twitch_times - time) < 0.2
    for joint in scene.twitch_joints[recent]:
        drift[joint] += 12.0 * math.cos(math.pi * (time - scene.twitch_times[recent][0]) / 0.4)
    angles = {name: _REST[name] + float(drift[i]) for i, name in enumerate(names)}
    if generalisation_time is not None and time >= generalisation_time:
        elapsed = time - generalisation_time
        frequency = scene.jerk_frequency / (1 + elapsed / 60)  # clonic jerks slow down
        phase = 2 * math.pi * frequency * elapsed
        jerk = max(0.0, math.sin(phase)) ** 3 * min(1.0, elapsed / 1.0)  # brief, sharp flexions
        for name in names:
            sign = -1.0 if name.endswith("_r") else 1.0
            angles[name] += sign * scene.jerk_amplitude * jerk * (0.4 if name == "head" else 1.0)
    return angles


def _body_jerk(scene: _Scene, time: float, generalisation_time: float | None) -> np.ndarray:
    """Displacement (pixels) of the whole body: it jerks with the limbs once generalised."""
    if generalisation_time is None or time < generalisation_time:
        return np.zeros(2)
    elapsed = time - generalisation_time
    frequency = scene.jerk_frequency / (1 + elapsed / 60)
    jerk = max(0.0, math.sin(2 * math.pi * frequency * elapsed)) ** 3 * min(1.0, elapsed)
    return np.array([0.1, -0.35]) * scene.scale * jerk


def _segment(canvas: np.ndarray, start: np.ndarray, end: np.ndarray, radius: float, colour: np.ndarray) -> None:
    height, width, _ = canvas.shape
    low = np.floor(np.minimum(start, end) - radius - 1).astype(int)
    high = np.ceil(np.maximum(start, end) + radius + 1).astype(int)
    x0, y0 = max(low[0], 0), max(low[1], 0)
    x1, y1 = min(high[0], width), min(high[1], height)
    if x1 <= x0 or y1 <= y0:
        return
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    direction = end - start
    length2 = float(direction @ direction) or 1e-9
    along = np.clip(((xs - start[0]) * direction[0] + (ys - start[1]) * direction[1]) / length2, 0, 1)
    distance = np.hypot(xs - start[0] - along * direction[0], ys - start[1] - along * direction[1])
    alpha = np.clip(radius + 0.5 - distance, 0, 1)[..., None]
    region = canvas[y0:y1, x0:x1]
    region[:] = region * (1 - alpha) + colour * alpha


def _render(scene: _Scene, angles: dict[str, float], shake: np.ndarray, size: tuple[int, int], rng) -> np.ndarray:
    width, height = size
    canvas = np.empty((height, width, 3), np.float32)
    canvas[:] = scene.bed * 0.5
    unit = scene.scale
    cx, cy = np.asarray(scene.centre) + shake
    bed_low = np.array([cx - 4.2 * unit, cy - 1.8 * unit])
    canvas[max(int(bed_low[1]), 0) : int(cy + 1.8 * unit), max(int(bed_low[0]), 0) : int(cx + 4.2 * unit)] = scene.bed
    neck, hip = np.array([cx - 1.6 * unit, cy]), np.array([cx + 0.8 * unit, cy])

    def point(origin: np.ndarray, angle: float, length: float) -> np.ndarray:
        radians = math.radians(angle)
        return origin + length * unit * np.array([math.cos(radians), math.sin(radians)])

    for side, offset in (("l", -0.35), ("r", 0.35)):
        shoulder = neck + np.array([0.2 * unit, offset * unit])
        elbow = point(shoulder, angles[f"arm_{side}"] + (25 if side == "l" else -25), 1.1)
        _segment(canvas, shoulder, elbow, 0.22 * unit, scene.gown)
        _segment(canvas, elbow, point(elbow, angles[f"fore_{side}"] - 180 + (60 if side == "l" else -60), 1.0),
                 0.18 * unit, scene.skin)  # fmt: skip
        pelvis = hip + np.array([0, offset * 0.6 * unit])
        knee = point(pelvis, angles[f"thigh_{side}"], 1.4)
        _segment(canvas, pelvis, knee, 0.25 * unit, scene.gown * 0.8)
        _segment(canvas, knee, point(knee, angles[f"shin_{side}"], 1.3), 0.2 * unit, scene.skin)
    _segment(canvas, neck, hip, 0.45 * unit, scene.gown)
    head = point(neck, 180 + angles["head"], 0.55)
    _segment(canvas, head, head, 0.38 * unit, scene.skin)
    canvas = canvas * scene.light + rng.normal(0, scene.noise, canvas.shape).astype(np.float32)
    return (np.clip(canvas, 0, 1) * 255).astype(np.uint8)


def _shrink(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize to ``(width, height)`` (good enough for a pasted inset)."""
    height, width = pixels.shape[:2]
    rows = (np.arange(size[1]) * height / size[1]).astype(int)
    columns = (np.arange(size[0]) * width / size[0]).astype(int)
    return pixels[rows][:, columns]


def render_seizure_video(
    path: str | PathLike[str],
    duration: float,
    generalisation_time: float | None,
    seed: int,
    fps: float = 25.0,
    size: tuple[int, int] = (320, 180),
    montage: MontageLayout | None = None,
) -> Path:
    """Render one synthetic seizure (``generalisation_time=None`` for a FOS) to ``path``.

    With ``montage``, a second camera (other framing and lighting, same movements) is pasted
    into the layout's inset, as the acquisition software does.
    """
    if duration <= 0:
        raise InputError(path, f"duration must be positive, not {duration}")
    rng = np.random.default_rng(seed)
    scene = _scene(rng, size)
    second = _scene(np.random.default_rng(seed + 10_000), size) if montage is not None else None
    frames = max(1, round(duration * fps))
    with video_writer(path, fps, size) as sink:
        for index in range(frames):
            time = index / fps
            angles = _angles(scene, time, generalisation_time)
            shake = _body_jerk(scene, time, generalisation_time)
            pixels = _render(scene, angles, shake, size, rng)
            if second is not None:
                x0, y0, x1, y1 = montage.box(*size)
                second_angles = {**angles}
                inset = _render(second, second_angles, shake, size, rng)
                pixels[y0:y1, x0:x1] = _shrink(inset, (x1 - x0, y1 - y0))
            sink.write(pixels)
    return Path(path)


def make_synthetic_dataset(
    folder: str | PathLike[str],
    count: int,
    seed: int = 0,
    durations: tuple[float, float] = (16.0, 40.0),
    tcs_share: float = 0.5,
    ratios: tuple[float, float] = (0.5, 0.93),
    fps: float = 25.0,
    size: tuple[int, int] = (320, 180),
    progress=None,
    cancel=None,
    show_bar: bool = True,
) -> list[SeizureAnnotation]:
    """Render ``count`` seizures into ``folder`` and write ``annotations.csv`` beside them.

    TCS videos generalise at ``tG = r * duration`` with ``r`` uniform in ``ratios`` (the thesis
    reports r = 0.56 +- 0.18, at most 0.93). Patients are assigned two videos each.
    """
    from ..progress import track

    if count < 2:
        raise InputError(folder, "a dataset needs at least two videos")
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    tcs_count = int(round(count * tcs_share))
    classes = np.array(["TCS"] * tcs_count + ["FOS"] * (count - tcs_count))
    rng.shuffle(classes)
    annotations = []
    for index in track(range(count), count, "rendering synthetic seizures", progress, cancel, show_bar):
        duration = float(round(rng.uniform(*durations), 1))
        generalisation = float(round(rng.uniform(*ratios) * duration, 2)) if classes[index] == "TCS" else None
        path = folder / f"seizure_{index:03d}.mp4"
        render_seizure_video(path, duration, generalisation, seed * 1000 + index, fps, size)
        annotations.append(
            SeizureAnnotation(path, 0.0, duration, f"P{index // 2:03d}", str(classes[index]), generalisation)
        )
    write_annotations(annotations, folder / "annotations.csv")
    return annotations
