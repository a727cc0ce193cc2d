"""What `emostudio style` does to real pictures and footage, per emotion, against the published findings.

    python benchmarks/style_quality.py [--footage CLIP.mp4 ...]

For real photographs that ship with scikit-image and matplotlib (a cat, a coffee cup, an astronaut,
Grace Hopper; all public domain or free) and for any real footage given with --footage, styles each
with every category at full intensity and measures the output against the unstyled input:
brightness (mean CIE L*), colourfulness (Hasler & Suesstrunk 2003) and warmth (mean CIE b*, + is
yellower), over nine frames spread through the clip (a picture is one frame). Footage is styled at
its own size with its own sound, and the benchmark checks that every styled clip still carries the
input's sound: all of it that runs under the picture (a graded clip ends its sound with the
picture; neutral copies the input as it is). Prints the mean change per emotion, for the photographs
and for the footage apart, and for each clip, and checks the directions the defaults claim:

* pleasant (happy, surprised) brighter and more colourful than every unpleasant category — Valdez &
  Mehrabian (1994: pleasure rises with brightness and saturation), EmoSet (Yang et al. 2023);
* at negative valence, the aroused (fearful, angry) more colourful but darker than sad — EmoSet;
  Valdez & Mehrabian (arousal rises with saturation and falls with brightness);
* warm for pleasant, cool for unpleasant (the grading convention the defaults follow);
* neutral leaves the picture as it was.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from emostudio.conditioning import CATEGORIES
from emostudio.train.grading import colour_statistics

SAMPLED_FRAMES = 9
MEASURE_HEIGHT = 240
SOUND_TOLERANCE_S = 0.1  # AAC re-encoding pads to whole 1024-sample frames: 21 ms at 48 kHz
PLEASANT = ("happy", "surprised")
UNPLEASANT = ("sad", "angry", "fearful", "disgusted", "contempt")


def photographs(folder: Path) -> list[Path]:
    import matplotlib.cbook
    from PIL import Image
    from skimage import data

    images = {"chelsea": data.chelsea(), "coffee": data.coffee(), "astronaut": data.astronaut()}
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
        images["grace_hopper"] = np.asarray(Image.open(handle).convert("RGB"))
    paths = []
    for name, image in images.items():
        path = folder / f"{name}.png"
        Image.fromarray(image).save(path)
        paths.append(path)
    return paths


def is_still(path: Path) -> bool:
    from emostudio.generation.video.grading import STILL_SUFFIXES

    return path.suffix.lower() in STILL_SUFFIXES


def sampled_frames(path: Path) -> list[np.ndarray]:
    """A picture, or SAMPLED_FRAMES frames spread evenly through a clip, each MEASURE_HEIGHT rows high."""
    import cv2

    from emostudio.generation.face.perception import load_image
    from emostudio.generation.media import read_video_frames, read_video_info

    if is_still(path):
        frames = [load_image(path)]
    else:
        count = read_video_info(path)["frames"] or sum(1 for _ in read_video_frames(path))
        picks = set(np.linspace(0, count - 1, min(SAMPLED_FRAMES, count)).round().astype(int).tolist())
        frames = [frame for index, frame in enumerate(read_video_frames(path)) if index in picks]
    return [cv2.resize(frame, (max(2, round(frame.shape[1] * MEASURE_HEIGHT / frame.shape[0])), MEASURE_HEIGHT),
                       interpolation=cv2.INTER_AREA) for frame in frames]


def measure(path: Path) -> np.ndarray:
    """Brightness (L*), colourfulness and warmth (b*) of a picture or of frames spread through a clip."""
    stats = colour_statistics(sampled_frames(path))
    return np.array([stats[0], stats[8], stats[5]])  # L* mean, colourfulness, b* mean


def sound_lengths(source: Path, styled: Path) -> tuple[float, float, float] | None:
    """The input's sound and picture lengths and the styled clip's sound length (None without sound).

    The styled sound keeps its timing against the picture and ends with it, so what it should hold
    is the shorter of the input's two tracks.
    """
    from emostudio.generation.media import read_video_info

    given = read_video_info(source)
    if not given["has_audio"]:
        return None
    made = read_video_info(styled)
    picture = given["video_duration"] or given["frames"] / given["fps"]
    return given["audio_duration"] or given["duration"], picture, made["audio_duration"] or 0.0


def direction_checks(mean: dict[str, np.ndarray]) -> dict[str, bool]:
    """The directions the defaults claim, on changes against the input (L*, colourfulness, b*)."""
    pairs = [(p, u) for p in PLEASANT for u in UNPLEASANT]
    return {
        "pleasant brighter than every unpleasant (10 pairs)": all(mean[p][0] > mean[u][0] for p, u in pairs),
        "pleasant more colourful than every unpleasant (10 pairs)": all(mean[p][1] > mean[u][1] for p, u in pairs),
        "happy brighter than sad": mean["happy"][0] > mean["sad"][0],
        "happy more colourful than sad": mean["happy"][1] > mean["sad"][1],
        "surprised more colourful than fearful": mean["surprised"][1] > mean["fearful"][1],
        "fearful darker than sad (arousal)": mean["fearful"][0] < mean["sad"][0],
        "angry darker than sad (arousal)": mean["angry"][0] < mean["sad"][0],
        "fearful more colourful than sad (arousal)": mean["fearful"][1] > mean["sad"][1],
        "angry more colourful than sad (arousal)": mean["angry"][1] > mean["sad"][1],
        "happy warmer than the input": mean["happy"][2] > 0,
        "surprised warmer than the input": mean["surprised"][2] > 0,
        "sad cooler than the input": mean["sad"][2] < 0,
        "every unpleasant cooler than the input": all(mean[u][2] < 0 for u in UNPLEASANT),
        "neutral unchanged (|dL*| < 1)": abs(mean["neutral"][0]) < 1,
    }


def print_table(title: str, mean: dict[str, np.ndarray]) -> None:
    print(title)
    print(f"{'emotion':<11}{'L* (brightness)':>17}{'colourfulness':>15}{'b* (warmth)':>13}")
    for name in CATEGORIES:
        light, colour, warm = mean[name]
        print(f"{name:<11}{light:>+17.1f}{colour:>+15.1f}{warm:>+13.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--footage", nargs="*", default=[], help="real clips to measure beside the photographs")
    args = parser.parse_args()
    from emostudio.generation.media import VIDEO_SUFFIXES
    from emostudio.generation.video.grading import FootageGrader

    footage = [Path(p) for p in args.footage]
    for clip in footage:
        if not clip.is_file() or is_still(clip):
            parser.error(f"{clip} is not a video file; give real clips (mp4, mov, mkv, webm) to --footage.")
    grader = FootageGrader()
    changes: dict[Path, dict[str, np.ndarray]] = {}
    sound: dict[Path, list[tuple[str, float, float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for source in photographs(folder) + footage:
            before = measure(source)
            changes[source] = {}
            for emotion in CATEGORIES:
                out = folder / f"{source.stem}_{emotion}{VIDEO_SUFFIXES[0]}"
                if is_still(source):
                    grader.style(source, out, emotion, seed=0, size=MEASURE_HEIGHT, duration=1.0)
                else:  # the user's own footage: its own size and sound
                    grader.style(source, out, emotion, seed=0)
                    lengths = sound_lengths(source, out)
                    if lengths is not None:
                        sound.setdefault(source, []).append((emotion, *lengths))
                changes[source][emotion] = measure(out) - before
                out.unlink()

    groups = {"photographs": [s for s in changes if is_still(s)], "footage": footage}
    means = {}
    for group, sources in groups.items():
        if sources:
            means[group] = {name: np.mean([changes[s][name] for s in sources], axis=0) for name in CATEGORIES}
            print_table(f"\n{len(sources)} {group}: change against the input (mean over {len(sources)}; "
                        f"{SAMPLED_FRAMES} frames spread through each clip)", means[group])
    for clip in footage:
        print_table(f"\n{clip.name}", changes[clip])

    print("\ndirections" + "".join(f" | {group}" for group in means) + (" | clips that hold" if footage else ""))
    verdicts = {group: direction_checks(mean) for group, mean in means.items()}
    per_clip = [direction_checks(changes[clip]) for clip in footage]
    for claim in next(iter(verdicts.values())):
        row = "".join(f" | {'yes' if verdicts[group][claim] else 'NO'}" for group in means)
        if footage:
            row += f" | {sum(checks[claim] for checks in per_clip)}/{len(footage)}"
        print(f"{claim}{row}")
    for group, checks in verdicts.items():
        print(f"{group}: {sum(checks.values())}/{len(checks)} directions hold")

    if footage:
        print("\nsound track: input sound / input picture / styled sound (seconds)")
        for clip in footage:
            if clip not in sound:
                print(f"{clip.name}: the input has no sound track")
                continue
            _, given, picture, _ = sound[clip][0]
            made = [length for *_, length in sound[clip]]
            # Graded clips end their sound with the picture; neutral copies the input, sound and all.
            kept = all(min(given, picture) - SOUND_TOLERANCE_S <= length <= given + SOUND_TOLERANCE_S
                       for length in made)
            print(f"{clip.name}: {given:.3f} / {picture:.3f} / {min(made):.3f}-{max(made):.3f} over 8 emotions "
                  f"({'kept' if kept else 'NOT KEPT'})")


if __name__ == "__main__":
    main()
