"""What `emostudio style` does to real pictures, per emotion, against the published findings.

    python benchmarks/style_quality.py [--footage CLIP.mp4 ...]

For real photographs that ship with scikit-image and matplotlib (a cat, a coffee cup, an astronaut,
Grace Hopper; all public domain or free) and any footage given with --footage, styles each with
every category at full intensity and measures the middle frame against the unstyled input:
brightness (mean CIE L*), colourfulness (Hasler & Suesstrunk 2003) and warmth (mean CIE b*, + is
yellower). Prints the mean change per emotion and checks the directions the defaults claim:

* positive valence (happy, surprised) brighter and more colourful than negative (sad, fearful, ...)
  — EmoSet (Yang et al. 2023), Valdez & Mehrabian (1994);
* at negative valence, high arousal (fearful, angry) more colourful but darker than low (sad) — EmoSet;
* warm for pleasant, cool for unpleasant.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from emostudio.conditioning import CATEGORIES
from emostudio.train.grading import colour_statistics


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


def measure(path: Path) -> np.ndarray:
    """Brightness (L*), colourfulness and warmth (b*) of a clip's middle frame or a picture."""
    from emostudio.generation.face.perception import load_image
    from emostudio.generation.media import read_video_frames

    if path.suffix.lower() == ".mp4":
        frames = list(read_video_frames(path))
        frame = frames[len(frames) // 2]
    else:
        frame = load_image(path)
    stats = colour_statistics([frame])
    return np.array([stats[0], stats[8], stats[5]])  # L* mean, colourfulness, b* mean


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--footage", nargs="*", default=[], help="real clips to add to the photographs")
    args = parser.parse_args()
    from emostudio.generation.video.grading import FootageGrader

    grader = FootageGrader()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        inputs = photographs(folder) + [Path(p) for p in args.footage]
        changes = {name: [] for name in CATEGORIES}
        for source in inputs:
            before = measure(source)
            for emotion in CATEGORIES:
                out = folder / f"{source.stem}_{emotion}.mp4"
                still = source.suffix.lower() != ".mp4"
                grader.style(source, out, emotion, seed=0, size=240, duration=1.0 if still else None)
                changes[emotion].append(measure(out) - before)
    mean = {name: np.mean(values, axis=0) for name, values in changes.items()}
    print(f"{len(inputs)} inputs; change of the middle frame against the input (mean over inputs)")
    print(f"{'emotion':<11}{'L* (brightness)':>17}{'colourfulness':>15}{'b* (warmth)':>13}")
    for name in CATEGORIES:
        light, colour, warm = mean[name]
        print(f"{name:<11}{light:>+17.1f}{colour:>+15.1f}{warm:>+13.1f}")
    checks = {
        "happy brighter than sad": mean["happy"][0] > mean["sad"][0],
        "happy more colourful than sad": mean["happy"][1] > mean["sad"][1],
        "surprised more colourful than fearful": mean["surprised"][1] > mean["fearful"][1],
        "fearful darker than sad (arousal)": mean["fearful"][0] < mean["sad"][0],
        "fearful more colourful than sad (arousal)": mean["fearful"][1] > mean["sad"][1],
        "angry more colourful than sad (arousal)": mean["angry"][1] > mean["sad"][1],
        "happy warmer than the input": mean["happy"][2] > 0,
        "sad cooler than the input": mean["sad"][2] < 0,
        "neutral unchanged (|dL*| < 1)": abs(mean["neutral"][0]) < 1,
    }
    for claim, holds in checks.items():
        print(f"{'yes' if holds else 'NO ':<4} {claim}")


if __name__ == "__main__":
    main()
