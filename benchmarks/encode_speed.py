"""Encoding-only throughput of :class:`VideoWriter`: the floor that rendering is compared to.

250 frames of 512x512 video (10 s at 25 fps) made from a real photograph (scikit-image's
astronaut) with small per-frame changes, as in a talking head: a slight drift of the whole
picture and a region around the mouth that brightens and darkens. Frames are made before timing,
so only conversion, H.264 encoding and muxing are measured; the median of several runs is reported.

    python benchmarks/encode_speed.py [--frames 250] [--size 512] [--repeats 3] [--audio]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from emostudio.generation.media import VideoWriter, provenance, read_video_info


def astronaut_frames(count: int = 250, size: int = 512) -> list[np.ndarray]:
    """``count`` RGB frames of the astronaut photograph with small, smooth per-frame changes."""
    from skimage.data import astronaut
    from skimage.transform import resize

    base = (resize(astronaut(), (size + 8, size + 8), anti_aliasing=True) * 255).astype(np.float32)
    y, x = np.mgrid[0:size, 0:size]
    # A soft blob where the astronaut's mouth is, whose brightness follows a syllable-like rhythm.
    mouth = np.exp(-(((y - 0.28 * size) / (0.025 * size)) ** 2 + ((x - 0.435 * size) / (0.045 * size)) ** 2))
    frames = []
    for index in range(count):
        dy, dx = (4 + np.round(3 * np.sin(2 * np.pi * index / np.array([90, 130])))).astype(int)
        picture = base[dy:dy + size, dx:dx + size] + (40 * np.sin(2 * np.pi * index / 6) * mouth)[..., None]
        frames.append(np.clip(picture, 0, 255).astype(np.uint8))
    return frames


def encode_frames(frames: Iterable[np.ndarray], path: str | Path, fps: float = 25.0,
                  audio: np.ndarray | None = None, sample_rate: int | None = None) -> float:
    """Seconds to write ``frames`` to ``path`` with :class:`VideoWriter`, from opening to the final rename.

    Pass a list to time encoding alone; a generator's own work is timed with it.
    """
    iterator = iter(frames)
    first = next(iterator)
    height, width = first.shape[:2]
    start = time.perf_counter()
    with VideoWriter(path, width, height, fps, audio=audio, sample_rate=sample_rate,
                     metadata=provenance("encode benchmark", "neutral")) as video:
        video.write(first)
        for frame in iterator:
            video.write(frame)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=250)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--fps", type=float, default=25.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--audio", action="store_true", help="also mux a 22.05 kHz AAC track")
    args = parser.parse_args()

    frames = astronaut_frames(args.frames, args.size)
    audio, rate = None, None
    if args.audio:
        rate = 22050
        t = np.arange(round(args.frames / args.fps * rate)) / rate
        audio = (0.3 * np.sin(2 * np.pi * 220 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "encode.mp4"
        encode_frames(frames[:10], out, args.fps)  # warm up: loads libx264 and the swscale tables
        times = [encode_frames(frames, out, args.fps, audio, rate) for _ in range(args.repeats)]
        info = read_video_info(out)
        size_kib = out.stat().st_size / 1024
    seconds = statistics.median(times)
    video_seconds = args.frames / args.fps
    print(f"{args.frames} frames {args.size}x{args.size} @ {args.fps:g} fps ({video_seconds:.1f} s of video)"
          f"{' + AAC audio' if args.audio else ''}, libx264 veryfast crf 20")
    print(f"runs (s): {', '.join(f'{t:.3f}' for t in times)}")
    print(f"median {seconds:.3f} s = {args.frames / seconds:.1f} frames/s = {video_seconds / seconds:.1f}x real time")
    print(f"file {size_kib:.0f} KiB ({size_kib * 8 / 1024 / video_seconds:.2f} Mbit/s), "
          f"{info['frames']} frames, has_audio={info['has_audio']}")


if __name__ == "__main__":
    main()
