"""Emotion read from real human speech by speakers and a language the embedder never heard.

Reads every clip of a folder of the Berlin Database of Emotional Speech (EmoDB; German, acted;
file names ``SSTTTEV.wav`` with emotion letter E) with one or more trained embedders, audio only,
and reports per embedder: accuracy over the six categories EmoDB shares with the taxonomy
(neutral, happy, sad, angry, fearful, disgusted; boredom is left out; chance 1/6), the share of
the most-predicted class, the mean confidence, and the confusion matrix. The prediction is the
most likely of those six categories under the bank (the taxonomy's surprised and contempt have no
EmoDB counterpart). EmoDB is for research use: these clips measure, they never train or tune.

    python benchmarks/embedder_real_speech.py --clips ../shared/dev_speech/emodb \
        --embedder emostudio/assets/emotion_embedder [--embedder runs/other] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from emostudio.conditioning import CATEGORIES

EMODB_EMOTIONS = {"W": "angry", "F": "happy", "T": "sad", "A": "fearful", "E": "disgusted", "N": "neutral"}
SIX = ("neutral", "happy", "sad", "angry", "fearful", "disgusted")


def emodb_clips(folder: Path) -> list[tuple[Path, str, str]]:
    """(path, emotion, speaker) of each EmoDB file in the folder with one of the six emotions."""
    rows = []
    for path in sorted(folder.glob("*.wav")):
        emotion = EMODB_EMOTIONS.get(path.stem[5:6])
        if emotion:
            rows.append((path, emotion, path.stem[:2]))
    return rows


@torch.no_grad()
def read_all(model_dir: str | None, clips: list[tuple[Path, str, str]]) -> tuple[np.ndarray, np.ndarray, float]:
    """Predicted category (index into SIX) and confidence per clip, and seconds per clip."""
    from emostudio.generation.analysis import embed, load_embedder, read_clip, reading_confidence

    embedder, bank = load_embedder(model_dir)
    columns = [CATEGORIES.index(name) for name in SIX]
    predictions, confidences = [], []
    start = time.perf_counter()
    for path, _, _ in clips:
        features = read_clip(path)
        mean, logvar = embed(features, embedder, bank)
        likelihood = bank.log_likelihood(mean)[0, columns]
        predictions.append(int(likelihood.argmax()))
        confidences.append(reading_confidence(features, embedder, bank, mean))
    seconds = (time.perf_counter() - start) / max(len(clips), 1)
    return np.array(predictions), np.array(confidences), seconds


def report(name: str, labels: np.ndarray, predictions: np.ndarray, confidences: np.ndarray) -> dict:
    confusion = np.zeros((len(SIX), len(SIX)), dtype=int)
    for truth, guess in zip(labels, predictions):
        confusion[truth, guess] += 1
    shares = np.bincount(predictions, minlength=len(SIX)) / len(predictions)
    result = {
        "accuracy": float((labels == predictions).mean()),
        "balanced_accuracy": float(np.mean(np.diag(confusion) / confusion.sum(1).clip(min=1))),
        "most_predicted": SIX[int(shares.argmax())],
        "most_predicted_share": float(shares.max()),
        "mean_confidence": float(confidences.mean()),
        "confusion": confusion.tolist(),
    }
    print(f"\n{name}: accuracy {result['accuracy']:.3f}, balanced {result['balanced_accuracy']:.3f} (chance "
          f"{1 / len(SIX):.3f}), most predicted "
          f"{result['most_predicted']} {result['most_predicted_share']:.0%}, mean confidence "
          f"{result['mean_confidence']:.2f}")
    print(f"{'true/read':>12}" + "".join(f"{n[:7]:>9}" for n in SIX))
    for row, truth in zip(confusion, SIX):
        print(f"{truth:>12}" + "".join(f"{v:>9d}" for v in row))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", default=str(Path(__file__).resolve().parents[2] / "shared" / "dev_speech" / "emodb"))
    parser.add_argument("--embedder", action="append", default=None,
                        help="a folder with embedder/ and bank/ (repeat to compare; default: the bundled one)")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args()
    clips = emodb_clips(Path(args.clips))
    if not clips:
        raise SystemExit(f"No EmoDB files with the six emotions in {args.clips}.")
    labels = np.array([SIX.index(emotion) for _, emotion, _ in clips])
    print(f"{len(clips)} clips by speakers {sorted({s for _, _, s in clips})}; "
          + ", ".join(f"{n} {int((labels == i).sum())}" for i, n in enumerate(SIX)))
    results = {}
    for model_dir in args.embedder or [None]:
        predictions, confidences, seconds = read_all(model_dir, clips)
        name = model_dir or "bundled"
        results[name] = report(name, labels, predictions, confidences)
        results[name]["seconds_per_clip"] = seconds
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
