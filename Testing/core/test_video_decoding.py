"""Video decoding on the real mp4 files of the scikit-video wheel, and writing/reading our own."""

from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np
import pytest
import skvideo
import torch
from epilepsy_suite.errors import InputError
from epilepsy_suite.video.decoding import probe_video, read_frames
from epilepsy_suite.video.encoding import video_writer
from epilepsy_suite.video.preprocessing import (
    MontageLayout,
    PreprocessingSettings,
    preprocess_video,
    preprocessed_frames,
    snippet_frame,
    square_frame,
)

DATA = Path(skvideo.__file__).parent / "datasets" / "data"
FILES = ["bikes.mp4", "carphone_pristine.mp4", "bigbuckbunny.mp4"]


def _container_facts(path: Path) -> tuple[int, float, int, int]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return stream.frames, float(stream.average_rate), stream.codec_context.width, stream.codec_context.height


@pytest.mark.parametrize("name", FILES)
def test_frame_count_rate_and_size_agree_with_the_container(name: str) -> None:
    path = DATA / name
    frames, rate, width, height = _container_facts(path)
    info = probe_video(path)
    assert (info.frame_count, info.width, info.height) == (frames, width, height)
    assert info.frame_rate == pytest.approx(rate)
    decoded = list(read_frames(path))
    assert len(decoded) == frames
    assert all(frame.pixels.shape == (height, width, 3) and frame.pixels.dtype == np.uint8 for frame in decoded)
    times = np.array([frame.time for frame in decoded])
    np.testing.assert_allclose(np.diff(times), 1 / rate, atol=1e-3)


@pytest.mark.parametrize("name", ["bikes.mp4", "carphone_pristine.mp4"])
def test_resampling_to_15_fps_gives_the_frames_on_screen_at_the_expected_times(name: str) -> None:
    path = DATA / name
    info = probe_video(path)
    native = list(read_frames(path))
    resampled = list(read_frames(path, fps=15))
    assert len(resampled) == math.ceil(info.duration * 15 - 1e-9)
    np.testing.assert_allclose([f.time for f in resampled], np.arange(len(resampled)) / 15, atol=1e-9)
    for frame in resampled[::7]:
        on_screen = min(int(math.floor(frame.time * info.frame_rate + 1e-6)), len(native) - 1)
        np.testing.assert_array_equal(frame.pixels, native[on_screen].pixels)


def test_seeking_decodes_the_same_frames_as_reading_from_the_start() -> None:
    path = DATA / "bikes.mp4"
    whole = list(read_frames(path, fps=15))
    part = list(read_frames(path, start=4.0, end=6.0, fps=15))
    assert [round(f.time, 6) for f in part] == [round(4 + j / 15, 6) for j in range(30)]
    np.testing.assert_array_equal(part[0].pixels, whole[60].pixels)
    np.testing.assert_array_equal(part[-1].pixels, whole[89].pixels)


def test_scaling_and_preprocessing_sizes() -> None:
    frames = list(preprocessed_frames(DATA / "bigbuckbunny.mp4"))
    assert len(frames) == math.ceil(5.28 * 15)
    assert frames[0].pixels.shape == (180, 320, 3)
    square = square_frame(frames[0].pixels, 0.05)
    assert square.shape == (288, 288, 3)
    # 16 columns cut on each side; 54 black rows above and below the 180 kept.
    np.testing.assert_array_equal(square[54:234], frames[0].pixels[:, 16:304])
    assert not square[:54].any() and not square[234:].any()
    # Scaling before padding gives the picture of padding then scaling.
    small = snippet_frame(frames[0].pixels, 112)
    reference = torch.nn.functional.interpolate(
        torch.from_numpy(square).permute(2, 0, 1)[None].float(), (112, 112), mode="area"
    )[0].permute(1, 2, 0)
    assert small.shape == (112, 112, 3) and small.dtype == np.uint8
    assert (torch.from_numpy(small).float() - reference).abs().mean() < 3


def _two_tone_montage(path: Path, layout: MontageLayout, seconds: float = 1.0) -> None:
    with video_writer(path, 25, (640, 360)) as sink:
        for _ in range(round(seconds * 25)):
            frame = np.full((360, 640, 3), (30, 200, 30), np.uint8)
            x0, y0, x1, y1 = layout.box(640, 360)
            frame[y0:y1, x0:x1] = (200, 30, 200)
            sink.write(frame)


def test_montage_is_split_into_two_views(tmp_path: Path) -> None:
    layout = MontageLayout.corner("top-left", 0.4, 0.4)
    path = tmp_path / "montage.mp4"
    _two_tone_montage(path, layout)
    main = next(preprocessed_frames(path, "main", layout)).pixels.astype(int)
    inset = next(preprocessed_frames(path, "inset", layout)).pixels.astype(int)
    assert main.shape == inset.shape == (180, 320, 3)
    x0, y0, x1, y1 = layout.box(320, 180)
    assert main[y0 + 2 : y1 - 2, x0 + 2 : x1 - 2].max() == 0  # inset area blacked out
    assert np.abs(main[150:, 200:] - (30, 200, 30)).max() < 12  # the main camera elsewhere
    assert np.abs(inset[5:-5, 5:-5] - (200, 30, 200)).max() < 12  # the inset alone, scaled up
    written = preprocess_video(path, tmp_path / "out", layout, PreprocessingSettings(), show_bar=False)
    assert [p.name for p in written] == ["montage_main.mp4", "montage_inset.mp4"]
    for output in written:
        info = probe_video(output)
        assert (info.width, info.height, info.frame_rate, info.frame_count) == (320, 180, 15.0, 15)


def test_missing_corrupt_and_truncated_files_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="missing.mp4: video file does not exist"):
        probe_video(tmp_path / "missing.mp4")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    with pytest.raises(InputError, match="garbage.mp4: not a readable video"):
        list(read_frames(garbage))
    # The index at the end (the usual mp4 layout) is lost: the file cannot be opened.
    cut = tmp_path / "cut.mp4"
    cut.write_bytes((DATA / "bikes.mp4").read_bytes()[:300_000])
    with pytest.raises(InputError, match="cut.mp4: not a readable video"):
        probe_video(cut)
    # With the index first, a truncated copy opens but its frames stop early.
    whole = tmp_path / "whole.mp4"
    with video_writer(whole, 15, (64, 48), fast_start=True) as sink:
        rng = np.random.default_rng(1)
        for _ in range(150):
            sink.write(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    with pytest.raises(InputError, match="truncated.mp4: .*truncated"):
        list(read_frames(truncated))


def test_failed_write_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "out.mp4"
    with pytest.raises(InputError, match="frame 1 is"):
        with video_writer(target, 15, (64, 48)) as sink:
            sink.write(np.zeros((48, 64, 3), np.uint8))
            sink.write(np.zeros((40, 64, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def _set_display_rotation(path: Path, quarter_turns_clockwise: int) -> None:
    """Write a display matrix into the mp4's track header, as a phone held upright does: the pixels
    stay landscape and players turn them."""
    import struct

    data = bytearray(path.read_bytes())
    box = data.find(b"tkhd")
    version = data[box + 4]
    matrix = box + 8 + (20 if version == 0 else 32) + 16  # after times, ids and duration; layer...volume
    one = 0x10000
    a, b, c, d = {1: (0, one, -one, 0), 2: (-one, 0, 0, -one), 3: (0, -one, one, 0)}[quarter_turns_clockwise]
    data[matrix : matrix + 36] = struct.pack(">9i", a, b, 0, c, d, 0, 0, 0, 0x40000000)
    path.write_bytes(bytes(data))


def test_a_rotation_flag_is_applied(tmp_path: Path) -> None:
    """A portrait phone video (landscape pixels + a 90 degree display matrix) came out on its side."""
    path = tmp_path / "phone.mp4"
    landscape = np.zeros((48, 64, 3), np.uint8)
    landscape[:, :16] = 255  # a white band on the left of the stored pixels
    with video_writer(path, 10, (64, 48)) as sink:
        for _ in range(5):
            sink.write(landscape)
    _set_display_rotation(path, 1)
    info = probe_video(path)
    assert info.rotation == 270 and info.size == (48, 64)  # shown portrait: 48 wide, 64 high
    frame = next(read_frames(path)).pixels
    assert frame.shape == (64, 48, 3)
    assert frame[:12].mean() > 200 and frame[20:].mean() < 40, "turned clockwise: the left band is on top"
    scaled = next(read_frames(path, size=(24, 32))).pixels
    assert scaled.shape == (32, 24, 3) and scaled[:4].mean() > 200
