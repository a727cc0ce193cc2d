"""Speed of `emostudio style` against a plain FFmpeg H.264 re-encode of the same file.

    python benchmarks/style_speed.py [--seconds 30] [--runs 3]

Makes a 30 s 854x480 clip with sound (a slow pan over a photograph, with a moving light, so the
encoder has real work), then times, alternating, whole processes:

* ``ffmpeg -i clip.mp4 -c:v libx264 -c:a aac out.mp4`` (FFmpeg's defaults: preset medium, CRF 23),
  or, where no ffmpeg binary is installed, the same re-encode through PyAV in a fresh process;
* ``emostudio style clip.mp4 --emotion fearful`` (grading, grain, vignette, shake: every stage on);
* ``emostudio style clip.mp4 --emotion "[happy] [sad @10s] [angry @20s]"`` (a timeline).

Reports medians, the ratio to the re-encode and the fraction of real time. Targets: <= 2x the
re-encode, <= 0.5x real time. A run of the style command is also watched for peak memory (RSS).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WIDTH, HEIGHT, FPS, RATE = 854, 480, 30, 44100

REENCODE_WITH_PYAV = """
import sys, av
src, dst = sys.argv[1], sys.argv[2]
with av.open(src) as given, av.open(dst, "w") as out:
    video = out.add_stream("libx264", rate=given.streams.video[0].average_rate)
    video.width, video.height, video.pix_fmt = given.streams.video[0].width, given.streams.video[0].height, "yuv420p"
    audio = out.add_stream("aac", rate=given.streams.audio[0].rate)
    for packet in given.demux():
        for frame in packet.decode():
            if packet.stream.type == "video":
                frame.pts = None
                out.mux(video.encode(frame))
            else:
                frame.pts = None
                out.mux(audio.encode(frame))
    out.mux(video.encode(None)); out.mux(audio.encode(None))
"""


def make_clip(path: Path, seconds: float) -> None:
    from skimage import data

    from emostudio.generation.media import VideoWriter

    photo = data.chelsea()  # 300x451 photograph
    import cv2

    big = cv2.resize(photo, (WIDTH * 2, int(HEIGHT * 1.4)), interpolation=cv2.INTER_CUBIC)
    t = np.arange(int(seconds * RATE)) / RATE
    sound = (0.2 * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t))).astype(np.float32)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    with VideoWriter(path, WIDTH, HEIGHT, FPS, audio=sound, sample_rate=RATE) as video:
        for index in range(int(seconds * FPS)):
            x = int((big.shape[1] - WIDTH) * index / (seconds * FPS))
            frame = big[:HEIGHT, x:x + WIDTH].astype(np.float32)
            light = np.exp(-(((xx - (index * 7) % WIDTH) / 200.0) ** 2 + ((yy - HEIGHT / 2) / 300.0) ** 2))
            video.write(np.clip(frame * (0.8 + 0.4 * light[..., None]), 0, 255).astype(np.uint8))


def timed(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS in MB of a whole process."""
    import resource

    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    seconds = time.perf_counter() - start
    return seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clip = folder / "clip.mp4"
        make_clip(clip, args.seconds)
        ffmpeg = shutil.which("ffmpeg")
        baseline_name = "ffmpeg re-encode" if ffmpeg else "PyAV re-encode (no ffmpeg binary)"
        commands = {
            baseline_name: ([ffmpeg, "-y", "-loglevel", "error", "-i", str(clip), "-c:v", "libx264", "-c:a", "aac",
                             str(folder / "plain.mp4")] if ffmpeg else
                            [sys.executable, "-c", REENCODE_WITH_PYAV, str(clip), str(folder / "plain.mp4")]),
            "style fearful": [sys.executable, "-m", "emostudio", "style", str(clip), "-e", "fearful", "--seed", "1",
                              "-o", str(folder / "fear.mp4")],
            "style timeline": [sys.executable, "-m", "emostudio", "style", str(clip), "-e",
                               "[happy] [sad @10s] [angry @20s]", "-o", str(folder / "timeline.mp4")],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, command in commands.items():  # alternating, so drift in machine load hits all alike
                times[name].append(timed(command)[0])
        base = statistics.median(times[baseline_name])
        print(f"{args.seconds:g} s clip, {WIDTH}x{HEIGHT} at {FPS} fps with sound; medians of {args.runs} runs")
        print(f"{'command':<34}{'seconds':>9}{'x re-encode':>13}{'x real time':>13}")
        for name, values in times.items():
            median = statistics.median(values)
            print(f"{name:<34}{median:>9.2f}{median / base:>13.2f}{median / args.seconds:>13.3f}")
        # Memory: the same command on a clip three times as long should not need more memory.
        long_clip = folder / "long.mp4"
        make_clip(long_clip, args.seconds * 3)
        short_rss = _peak_rss([sys.executable, "-m", "emostudio", "style", str(clip), "-e", "fearful", "-o",
                               str(folder / "m1.mp4")])
        long_rss = _peak_rss([sys.executable, "-m", "emostudio", "style", str(long_clip), "-e", "fearful", "-o",
                              str(folder / "m2.mp4")])
        print(f"peak memory: {short_rss:.0f} MB for {args.seconds:g} s, {long_rss:.0f} MB for {3 * args.seconds:g} s")


def _peak_rss(command: list[str]) -> float:
    """Peak RSS (MB) of one child process, measured in a fresh interpreter so children do not mix."""
    probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    output = subprocess.run([sys.executable, "-c", probe, *command], check=True, capture_output=True, text=True)
    return int(output.stdout.strip()) / 1024


if __name__ == "__main__":
    main()
