#!/usr/bin/env python3
"""Video decoding + preprocessing frames/s, and feature extraction snippets/s.

Decoding: the 1280x720, 25 fps ``bigbuckbunny.mp4`` of the scikit-video wheel. The peer, timed
in the same run on the same file, is plain PyAV decoding of every frame to RGB at full size.
Ours is the GESTURES preprocessing of the same file as `video features` runs it (15 fps, the
320x180 framing cropped by 5 % a side and padded to a square, decoded straight at 112x112). Rates are in source frames per second of
the whole file (so both count the same 132 frames); the ratio is ours / peer in time.

Extraction: random R(2+1)D networks on uint8 snippets already in memory, batch of 4, on the
CPU (and on CUDA when available).

    python benchmarks/video_speed.py [--repeats 5] [--extractors r2plus1d_34_8 r2plus1d_18]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import av
import skvideo
import torch
from epilepsy_suite.video.decoding import probe_video
from epilepsy_suite.video.extractors import load_extractor
from epilepsy_suite.video.preprocessing import PreprocessingSettings, preprocessed_frames, snippet_frame

VIDEO = Path(skvideo.__file__).parent / "datasets" / "data" / "bigbuckbunny.mp4"


def raw_decode(path: Path) -> int:
    """The peer: every frame decoded and converted to RGB at full size with PyAV."""
    count = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            frame.to_ndarray(format="rgb24")
            count += 1
    return count


def preprocess(path: Path) -> int:
    count = 0
    settings = PreprocessingSettings().scaled_for_side(112)  # as `video features` reads
    for frame in preprocessed_frames(path, settings=settings):
        snippet_frame(frame.pixels, 112, settings.crop_share)
        count += 1
    return count


def median_time(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--extractors", nargs="+", default=["r2plus1d_34_8", "r2plus1d_34_32", "r2plus1d_18"])
    parser.add_argument("--batch", type=int, default=4)
    arguments = parser.parse_args(argv)
    info = probe_video(VIDEO)
    print(f"{VIDEO.name}: {info.width}x{info.height}, {info.frame_rate:g} fps, {info.frame_count} frames, "
          f"{info.duration:.2f} s; torch threads {torch.get_num_threads()}")  # fmt: skip
    raw_decode(VIDEO)  # warm the file cache and FFmpeg
    peer = median_time(lambda: raw_decode(VIDEO), arguments.repeats)
    ours = median_time(lambda: preprocess(VIDEO), arguments.repeats)
    frames = info.frame_count
    print(f"PyAV decode to RGB (peer):          {frames / peer:7.1f} frames/s ({info.duration / peer:.1f}x real time)")
    print(f"decode + preprocess to 112x112:     {frames / ours:7.1f} frames/s ({info.duration / ours:.1f}x real time)")
    print(f"preprocessing time / raw decoding:  {ours / peer:7.2f} (goal <= 1.20)")
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        for name in arguments.extractors:
            extractor = load_extractor(name, None, device)
            snippets = torch.randint(0, 256, (arguments.batch, extractor.spec.frames, 112, 112, 3), dtype=torch.uint8)
            extractor(snippets)  # warm-up
            if device == "cuda":
                torch.cuda.synchronize()

            def run(extractor=extractor, snippets=snippets, device=device) -> None:
                extractor(snippets)
                if device == "cuda":
                    torch.cuda.synchronize()

            seconds = median_time(run, arguments.repeats)
            print(f"{name} on {device}: {arguments.batch / seconds:7.2f} snippets/s "
                  f"({extractor.spec.frames} frames of 112x112, batch {arguments.batch})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
