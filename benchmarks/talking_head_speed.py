"""Speed of the embedded talking head on this machine, after models are loaded.

* rendering: frames/s of ``WarpTalkingHead.frames`` at 512x512 for ~10 s of speech (no encoding);
* the floor: encoding those same frames alone with ``VideoWriter``, and the ratio render / encode;
* the whole ``talk`` from text to MP4 for ~10 s of speech (speech synthesis, portrait analysis,
  animation, rendering, encoding and muxing), against the 10 s target;
* memory: peak resident memory after a 10 s and a 40 s clip, to show that frames are streamed.

    python benchmarks/talking_head_speed.py [--size 512] [--repeats 3]

``--against DIR`` instead compares the renderer with the one in another checkout of the project
(for example the main branch's): render-only frames/s of each, measured in alternating
processes on the same speech and portrait, and the ratio of their medians.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from encode_speed import encode_frames  # noqa: E402

from emostudio.generation.face.perception import analyze_portrait  # noqa: E402
from emostudio.generation.face.talking_head import DrivingSpeech, WarpTalkingHead, talk  # noqa: E402
from emostudio.generation.speech import PiperSpeechBackend  # noqa: E402

TEXT = ("[happy] Good morning, everyone, and thank you for coming. [neutral] Today I want to tell you about "
        "a small project that grew much bigger than we planned. [surprised] Nobody expected it to work, "
        "but it did.")


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def render_rate(size: int) -> float:
    """Render-only frames/s of the code on sys.path, best of two passes after a warm-up."""
    spoken = PiperSpeechBackend().speak(TEXT, seed=0)
    speech = DrivingSpeech(spoken.waveform, spoken.sample_rate, spoken.segments, spoken.phonemes)
    face = analyze_portrait(None, size)
    head = WarpTalkingHead()
    next(iter(head.frames(face, speech, 25, seed=0)))
    rates = []
    for _ in range(2):
        start = time.perf_counter()
        count = sum(1 for _ in head.frames(face, speech, 25, seed=0))
        rates.append(count / (time.perf_counter() - start))
    return max(rates)


def compare(other: Path, size: int, repeats: int) -> None:
    """Alternate render-only runs of this checkout and another one; print both medians and the ratio."""
    trees = {"this": Path(__file__).resolve().parents[1], "other": other.resolve()}
    rates: dict[str, list[float]] = {name: [] for name in trees}
    for _ in range(repeats):
        for name, tree in trees.items():
            code = (f"import sys; sys.path.insert(0, {str(tree)!r}); sys.path.insert(1, {str(Path(__file__).parent)!r}); "
                    f"import talking_head_speed as s; print(s.render_rate({size}))")
            result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                    env={**os.environ, "PYTHONPATH": str(tree)})
            rates[name].append(float(result.stdout.strip().splitlines()[-1]))
            print(f"{name:<6} {tree}: {rates[name][-1]:6.1f} frames/s", flush=True)
    this, that = (statistics.median(rates[name]) for name in trees)
    print(f"render only at {size}x{size}, medians: this {this:.1f}, other {that:.1f} frames/s; "
          f"ratio this / other {this / that:.2f} (alternating runs; the machine may be shared)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--against", type=Path, help="another checkout whose renderer to compare with")
    args = parser.parse_args()
    if args.against is not None:
        if not (args.against / "emostudio" / "generation" / "face" / "render.py").exists():
            parser.error(f"{args.against} is not a checkout of this project; give the folder that holds emostudio/.")
        compare(args.against, args.size, args.repeats)
        return

    speech_backend = PiperSpeechBackend()
    head = WarpTalkingHead()
    face = analyze_portrait(None, args.size)
    spoken = speech_backend.speak(TEXT, seed=0)
    speech = DrivingSpeech(spoken.waveform, spoken.sample_rate, spoken.segments, spoken.phonemes)
    print(f"{spoken.duration:.2f} s of speech, {head.frame_count(speech, 25)} frames at {args.size}x{args.size}")

    with tempfile.TemporaryDirectory() as folder:
        # Warm up: the first call imports and builds everything once.
        talk(Path(folder) / "warm.mp4", text="Warming up.", size=args.size, seed=0, speech_backend=speech_backend,
             head_backend=head)

        render_times, encode_times, talk_times = [], [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            frames = list(head.frames(face, speech, 25, seed=0))
            render_times.append(time.perf_counter() - start)
            encode_times.append(encode_frames(frames, Path(folder) / "encode.mp4", 25, spoken.waveform,
                                              spoken.sample_rate))
            del frames
            start = time.perf_counter()
            result = talk(Path(folder) / "talk.mp4", text=TEXT, size=args.size, seed=0,
                          speech_backend=speech_backend, head_backend=head)
            talk_times.append(time.perf_counter() - start)
        count = result.frames
        render_s, encode_s, talk_s = (statistics.median(t) for t in (render_times, encode_times, talk_times))
        print(f"render only      {render_s:6.2f} s  {count / render_s:6.1f} frames/s  (target >= 25)")
        print(f"encode only      {encode_s:6.2f} s  {count / encode_s:6.1f} frames/s  (the floor)")
        print(f"render / encode  {render_s / encode_s:6.2f}")
        print(f"talk, text->MP4  {talk_s:6.2f} s for {result.duration:.2f} s of speech  "
              f"(real-time factor {talk_s / result.duration:.2f}; target: 10 s of speech in <= 10 s)")

        before = peak_memory_mb()
        long_text = " ".join([TEXT] * 4)
        long = talk(Path(folder) / "long.mp4", text=long_text, size=args.size, seed=0,
                    speech_backend=speech_backend, head_backend=head)
        print(f"peak memory      {before:6.0f} MB after the {result.duration:.0f} s clips, "
              f"{peak_memory_mb():6.0f} MB after a {long.duration:.0f} s clip (frames are streamed)")


if __name__ == "__main__":
    main()
