"""Portraits of people the project has never seen, for testing the talking head's legibility on them.

``face_legibility.py`` and ``fit_expression_table.py`` take a folder of portraits. The development
portraits are few, and a table fitted on them can fit their quirks. This script draws other
portraits from a set of labelled photographs (the same layouts ``reader_on_photos.py`` reads):
photographs labelled neutral, one per person, that the outside reader itself reads as neutral (a
user starts from a neutral portrait; a face that already reads as sad at rest says nothing about
the rig), given a replicated border so that tightly cropped faces become head-and-shoulders
framing, and written as 512x512 PNGs.

    python benchmarks/heldout_portraits.py --photos DIR --reader READER.py [--legend CSV] --out DIR \
        [--count 10] [--seed 0] [--exclude DIR ...]

Draws are seeded; ``--exclude`` leaves out the people of earlier draws, so one draw can serve for
fitting and another, disjoint one, for testing. A person is the file name without a trailing
number (``Name_Surname_0004.jpg``), as in datasets that hold several photos of one person.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from face_legibility import read_emotions  # noqa: E402
from reader_on_photos import labelled_photos, with_border  # noqa: E402

SIZE = 512
BORDER = 0.35  # of the photo's longer side, on every edge: the face fills about half the frame
CANDIDATES_PER_PORTRAIT = 6  # photos read per portrait kept: the reader reads about 4 in 10 as neutral


def person(path: Path) -> str:
    return re.sub(r"[_-]?\d+$", "", path.stem)


def framed(photo: Path) -> np.ndarray | None:
    image = cv2.imread(str(photo))
    if image is None:
        return None
    return cv2.resize(with_border(image, BORDER), (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, required=True, help="folder of labelled photographs")
    parser.add_argument("--legend", type=Path, help="CSV with image and emotion columns (else: subfolders)")
    parser.add_argument("--reader", type=Path, required=True, help="the outside expression reader script")
    parser.add_argument("--out", type=Path, required=True, help="folder to write the portraits to")
    parser.add_argument("--count", type=int, default=10, help="portraits to write")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--exclude", type=Path, nargs="*", default=[],
                        help="folders of earlier draws whose people to leave out")
    args = parser.parse_args()
    if not args.photos.is_dir():
        parser.error(f"--photos {args.photos} is not a folder")
    neutral = labelled_photos(args.photos, args.legend)["neutral"]
    if not neutral:
        parser.error(f"no photos labelled neutral under {args.photos}")
    excluded = {person(p) for folder in args.exclude for p in folder.glob("*.png")}
    rng = random.Random(args.seed)
    order = sorted(neutral)
    rng.shuffle(order)
    candidates: dict[str, Path] = {}
    for photo in order:
        if person(photo) not in excluded and person(photo) not in candidates:
            candidates[person(photo)] = photo
        if len(candidates) == args.count * CANDIDATES_PER_PORTRAIT:
            break
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        copies = {}
        for photo in candidates.values():
            image = framed(photo)
            if image is not None:
                copy = Path(tmp) / f"{photo.stem}.png"
                cv2.imwrite(str(copy), image)
                copies[copy] = image
        verdicts = read_emotions(args.reader, list(copies))
        read_neutral = sorted((v["probs"]["neutral"], path) for path, v in verdicts.items() if v.get("top") == "neutral")
        kept = [path for _, path in read_neutral[::-1][: args.count]]
        for path in kept:
            cv2.imwrite(str(args.out / path.name), copies[path])
    print(f"{len(copies)} candidates, {len(read_neutral)} read as neutral; wrote {len(kept)} to {args.out}:")
    print(json.dumps({path.stem: round(verdicts[path]["probs"]["neutral"], 2) for path in kept}))
    if len(kept) < args.count:
        print(f"only {len(kept)} of {args.count}: draw more into the same folder with another --seed and "
              f"--exclude {args.out}")


if __name__ == "__main__":
    main()
