"""How often does the outside expression reader read real people's expressions as labelled?

``face_legibility.py`` asks the outside FER2013 reader to recognise the talking head's emotions.
This script gives the same reader photographs of real people, labelled by humans, so its verdicts
on rendered faces can be set against what it does on real ones: a rendered face cannot be expected
to read as sad more often than photographs of sad people do, short of fitting the reader's quirks.

Photographs come either as a folder with one subfolder per label (``angry/``, ``sadness/``, ...)
or as a legend CSV with ``image`` and ``emotion`` columns beside a folder of images (``--legend``).
Labels are matched to the reader's seven classes by name (``anger``, ``sadness``, ``happiness`` and
the like); others (contempt) are skipped. Each photograph is given a replicated border before
reading, as tightly cropped faces otherwise escape the reader's face detector; those it still
finds no face in are counted apart.

    python benchmarks/reader_on_photos.py --photos DIR --reader READER.py [--legend CSV] [--per-class 80]

Writes benchmarks/results/reader_on_photos.json: per class the share read as labelled and the
classes the others were read as.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tempfile
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from face_legibility import READER_CLASSES, RESULTS, read_emotions  # noqa: E402

from emostudio.conditioning.taxonomy import canonical_category  # noqa: E402

SEED = 0
BORDER = 0.3  # of the photo's longer side, on every edge
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def reader_class(label: str) -> str | None:
    """The reader's class a human label names ("sadness" -> "sad"), or None (contempt, unknown words)."""
    name = canonical_category(label)
    return name if name in READER_CLASSES else None


def labelled_photos(photos: Path, legend: Path | None) -> dict[str, list[Path]]:
    """Photos per reader class, from a legend CSV or from subfolders named by label."""
    by_class: dict[str, list[Path]] = {name: [] for name in READER_CLASSES}
    if legend is not None:
        with legend.open(newline="") as handle:
            for row in csv.DictReader(handle):
                name = reader_class(row["emotion"])
                if name is not None and (photos / row["image"]).is_file():
                    by_class[name].append(photos / row["image"])
    else:
        for folder in sorted(p for p in photos.iterdir() if p.is_dir()):
            name = reader_class(folder.name)
            if name is not None:
                by_class[name] += sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return by_class


def with_border(image: np.ndarray, share: float = BORDER) -> np.ndarray:
    """The image with its edges replicated outward by ``share`` of its longer side on every edge."""
    border = round(share * max(image.shape[:2]))
    return cv2.copyMakeBorder(image, border, border, border, border, cv2.BORDER_REPLICATE)


def bordered_copy(photo: Path, folder: Path, index: int) -> Path | None:
    image = cv2.imread(str(photo))
    if image is None:
        return None
    path = folder / f"{index:05d}.png"
    cv2.imwrite(str(path), with_border(image))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, required=True, help="folder of labelled photographs")
    parser.add_argument("--legend", type=Path, help="CSV with image and emotion columns (else: subfolders)")
    parser.add_argument("--reader", type=Path, required=True, help="the outside expression reader script")
    parser.add_argument("--per-class", type=int, default=80, help="photos drawn per class at most")
    parser.add_argument("--out", type=Path, default=RESULTS / "reader_on_photos.json")
    args = parser.parse_args()
    if not args.photos.is_dir():
        parser.error(f"--photos {args.photos} is not a folder")
    rng = random.Random(SEED)
    by_class = labelled_photos(args.photos, args.legend)
    if not any(by_class.values()):
        parser.error(f"no labelled photos under {args.photos}: give subfolders named by emotion, or --legend")
    with tempfile.TemporaryDirectory() as tmp:
        copies: dict[Path, str] = {}
        for name, photos in by_class.items():
            for photo in rng.sample(photos, min(args.per_class, len(photos))):
                copy = bordered_copy(photo, Path(tmp), len(copies))
                if copy is not None:
                    copies[copy] = name
        verdicts = read_emotions(args.reader, list(copies))
    report = {}
    print(f"{'label':<10} {'photos':>6} {'no face':>7} {'read as labelled':>16}  read instead as")
    for name in READER_CLASSES:
        tops = Counter()
        missing = 0
        for copy, label in copies.items():
            if label != name:
                continue
            probs = verdicts.get(copy, {}).get("probs")
            if not probs:
                missing += 1
                continue
            tops[max(probs, key=probs.get)] += 1
        read = sum(tops.values())
        if read + missing == 0:
            continue
        share = tops[name] / read if read else float("nan")
        report[name] = {"photos": read + missing, "no_face": missing, "read_as_labelled": round(share, 3),
                        "readings": dict(tops.most_common())}
        others = ", ".join(f"{k} {v}" for k, v in tops.most_common() if k != name)
        print(f"{name:<10} {read + missing:>6} {missing:>7} {share:>16.2f}  {others}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"photos": str(args.photos), "legend": str(args.legend) if args.legend else None,
                                    "per_class": args.per_class, "classes": report}, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
