"""Emotion read from real human speech by speakers and a language the embedder never heard.

Reads every clip of a folder of the Berlin Database of Emotional Speech (EmoDB; German, acted;
file names ``SSTTTEV.wav`` with emotion letter E) with one or more trained embedders, audio only,
and reports per embedder: accuracy over the six categories EmoDB shares with the taxonomy
(neutral, happy, sad, angry, fearful, disgusted; boredom is left out; chance 1/6), the share of
the most-predicted class, the mean confidence, and the confusion matrix. The prediction is the
most likely of those six categories under the bank (the taxonomy's surprised and contempt have no
EmoDB counterpart). EmoDB is for research use: these clips measure, they never train or tune.

``--invariance`` also reads every clip pitch-shifted by +-4 semitones (Praat PSOLA, formants and
timing kept) and scaled by +-10 dB, and reports the share of clips read as the same category and
how far the embedding moves, against the typical distance between clips of different emotions:
what a real voice's pitch and a microphone's gain still change in the reading.

    python benchmarks/embedder_real_speech.py --clips ../shared/dev_speech/emodb \
        --embedder emostudio/assets/emotion_embedder [--embedder runs/other] [--invariance] [--json out.json]
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


def pitch_shifted(audio: np.ndarray, rate: int, semitones: float) -> np.ndarray:
    """The same recording with its median pitch moved by PSOLA, formants and timing kept."""
    import parselmouth
    from parselmouth.praat import call

    sound = parselmouth.Sound(np.asarray(audio, dtype=np.float64), rate)
    f0 = sound.to_pitch_ac(time_step=0.01, pitch_floor=60, pitch_ceiling=700).selected_array["frequency"]
    median = float(np.median(f0[f0 > 0])) if np.any(f0 > 0) else 0.0
    changed = call(sound, "Change gender", 60, 700, 1.0, median * 2 ** (semitones / 12), 1.0, 1.0).values[0]
    return changed / max(1.0, float(np.abs(changed).max()))


CHANGES = {"pitch +4 st": ("pitch", 4.0), "pitch -4 st": ("pitch", -4.0), "+10 dB": ("gain", 10.0),
           "-10 dB": ("gain", -10.0)}


@torch.no_grad()
def invariance(model_dir: str | None, clips: list[tuple[Path, str, str]]) -> dict[str, dict[str, float]]:
    """Per change: share of clips read as the same category, and the median embedding shift
    divided by the median distance between clips of different emotions (audio only)."""
    from emostudio.generation.analysis import ClipFeatures, embed, load_embedder, read_clip

    embedder, bank = load_embedder(model_dir)
    columns = [CATEGORIES.index(name) for name in SIX]

    def reading(features: ClipFeatures) -> tuple[torch.Tensor, int]:
        mean, _ = embed(features, embedder, bank)
        return mean[0], int(bank.log_likelihood(mean)[0, columns].argmax())

    originals, changed = [], {name: [] for name in CHANGES}
    for path, _, _ in clips:
        features = read_clip(path)
        audio, rate = features.audio, features.sample_rate
        originals.append(reading(features))
        for name, (kind, amount) in CHANGES.items():
            if kind == "pitch":
                varied = pitch_shifted(audio, rate, amount)
            else:  # float samples: louder than full scale is kept, so this is gain alone, not clipping
                varied = audio * 10 ** (amount / 20)
            changed[name].append(reading(ClipFeatures(varied, rate, None, 25.0, len(varied) / rate)))
    means = torch.stack([mean for mean, _ in originals])
    emotions = np.array([emotion for _, emotion, _ in clips])
    distances = torch.cdist(means, means).numpy()
    between = float(np.median(distances[emotions[:, None] != emotions[None, :]]))
    result = {}
    for name, rows in changed.items():
        same = np.mean([guess == original[1] for (_, guess), original in zip(rows, originals)])
        shift = np.median([float((mean - original[0]).norm()) for (mean, _), original in zip(rows, originals)])
        result[name] = {"same_category": float(same), "shift_over_between": float(shift / max(between, 1e-12))}
        print(f"  {name:>12}: same category {same:.0%}, embedding shift / distance between emotions "
              f"{shift / max(between, 1e-12):.2f}")
    return result


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
    parser.add_argument("--invariance", action="store_true", help="also read each clip pitch-shifted by +-4 "
                        "semitones and scaled by +-10 dB")
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
        if args.invariance:
            results[name]["invariance"] = invariance(model_dir, clips)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
