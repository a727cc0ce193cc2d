"""Make the README's still frames: real frames of ``emostudio talk`` output, one per emotion.

    python benchmarks/readme_stills.py  # writes docs/talk_stills.jpg
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from emostudio.generation.face import topology as T
from emostudio.generation.face.perception import LandmarkTracker
from emostudio.generation.face.talking_head import talk
from emostudio.generation.media import read_video_frames

EMOTIONS = ("neutral", "happy", "sad", "surprised", "angry", "fearful", "disgusted", "contempt")
PER_ROW = 4
OUT = Path(__file__).resolve().parents[1] / "docs" / "talk_stills.jpg"


def open_eyed(frames: list[np.ndarray], start: int, stop: int) -> np.ndarray:
    """The frame between start and stop with the eyes most open (a still caught mid-blink misleads)."""
    with LandmarkTracker() as tracker:
        tracked = [tracker(frame) for frame in frames[:stop]]

    def opening(points: np.ndarray | None) -> float:
        if points is None:
            return -1.0
        return sum(float(np.ptp(points[side.loop, 1]) / np.ptp(points[side.loop, 0])) for side in T.EYES)

    best = max(range(start, stop), key=lambda index: opening(tracked[index]))
    return frames[best]


def main() -> None:
    tiles = []
    with tempfile.TemporaryDirectory() as folder:
        for emotion in EMOTIONS:
            path = Path(folder) / f"{emotion}.mp4"
            talk(path, text="Well, that is what happened.", emotion=emotion, size=320, seed=2)
            frames = list(read_video_frames(path))
            tile = Image.fromarray(open_eyed(frames, int(len(frames) * 0.45), int(len(frames) * 0.65)))
            ImageDraw.Draw(tile).text((10, 8), emotion, fill=(255, 255, 0))
            tiles.append(np.asarray(tile))
    rows = [np.concatenate(tiles[start:start + PER_ROW], axis=1) for start in range(0, len(tiles), PER_ROW)]
    Image.fromarray(np.concatenate(rows, axis=0)).save(OUT, quality=88)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
