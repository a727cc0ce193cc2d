"""Emotion effect and speed of the neural speech backend, against the same model at emotion scale 0.

For each emotion, the tiny SpeechT5 speaks held-out sentences with the conditioner on (scale 1)
and off (scale 0, the plain speaker) with the same seed; on the generated log-mel spectrograms
we measure energy (mean log-mel over frames) and a pitch proxy (the log-mel-weighted centroid of
the lowest 24 mel bins, where a voice's fundamental and first harmonics lie; not a pitch tracker).
The same two measures on the training corpus (each emotion's clips against neutral) say which
way each emotion should move; "agrees" counts the emotions whose generated shift has the sign
of the data's shift. Speed: real-time factor (synthesis seconds / audio seconds) after loading.

    python benchmarks/neural_speech.py TTS_DIR [--manifest TTS_DIR/corpus/manifest.jsonl] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from emostudio.conditioning import CATEGORIES, EmotionSpec
from emostudio.generation.speech.neural import NeuralSpeechBackend
from emostudio.train.data.manifest import read_manifest

SENTENCES = ("Good morning.", "I have bad news.", "The door was open all night.")
LOW_BINS = 24


def measures(mel: np.ndarray) -> tuple[float, float]:
    """(energy, pitch proxy) of a (frames, 80) log-mel spectrogram."""
    low = mel[:, :LOW_BINS] - mel[:, :LOW_BINS].min()
    centroid = (low * np.arange(LOW_BINS)).sum(1) / np.maximum(low.sum(1), 1e-6)
    return float(mel.mean()), float(centroid.mean())


def corpus_shifts(manifest: Path) -> dict[str, tuple[float, float]]:
    from transformers import SpeechT5FeatureExtractor

    from emostudio.train.tts import load_clip_audio

    extractor = SpeechT5FeatureExtractor()
    values: dict[str, list[tuple[float, float]]] = {name: [] for name in CATEGORIES}
    for clip in read_manifest(manifest):
        audio = load_clip_audio(clip.audio, 30.0)
        mel = np.asarray(extractor(audio_target=audio, sampling_rate=16000)["input_values"][0])
        values[clip.emotion].append(measures(mel))
    neutral = np.mean(values["neutral"], axis=0)
    return {name: tuple(np.mean(rows, axis=0) - neutral) for name, rows in values.items() if rows}


def generated_shifts(backend: NeuralSpeechBackend) -> dict[str, tuple[float, float]]:
    backend.load()
    shifts = {}
    for name in CATEGORIES:
        rows = []
        for number, sentence in enumerate(SENTENCES):
            ids = backend.backbone.encode(sentence)
            pair = []
            for scale in (1.0, 0.0):
                backend.conditioner.emotion_scale = scale
                speaker = backend.speaker_for([EmotionSpec.parse(name)])[0]
                torch.manual_seed(number)
                pair.append(measures(backend.backbone.mel(ids, speaker).numpy()))
            rows.append(np.subtract(pair[0], pair[1]))
        backend.conditioner.emotion_scale = 1.0
        shifts[name] = tuple(np.mean(rows, axis=0))
    return shifts


def real_time_factor(backend: NeuralSpeechBackend, repeats: int) -> float:
    text = "[happy] Good morning. [sad] I have bad news. [angry] The door was open all night."
    backend.speak(text, seed=0)  # warm-up
    factors = []
    for k in range(repeats):
        start = time.perf_counter()
        result = backend.speak(text, seed=k)
        factors.append((time.perf_counter() - start) / result.duration)
    return statistics.median(factors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--manifest", default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    run = Path(args.run_dir)
    manifest = Path(args.manifest) if args.manifest else run / "corpus" / "manifest.jsonl"
    backend = NeuralSpeechBackend(run)
    data = corpus_shifts(manifest)
    made = generated_shifts(backend)
    print(f"{'emotion':<11} {'data dE':>8} {'model dE':>9} {'data dP':>8} {'model dP':>9}")
    agree = {"energy": 0, "pitch": 0}
    for name in CATEGORIES:
        if name == "neutral":
            continue
        (de, dp), (me, mp) = data[name], made[name]
        agree["energy"] += int(np.sign(de) == np.sign(me))
        agree["pitch"] += int(np.sign(dp) == np.sign(mp))
        print(f"{name:<11} {de:+8.3f} {me:+9.3f} {dp:+8.3f} {mp:+9.3f}")
    print(f"sign agrees with the data for energy in {agree['energy']}/7 emotions, pitch proxy in {agree['pitch']}/7")
    rtf = real_time_factor(backend, args.repeats)
    print(f"real-time factor after load: {rtf:.3f} (threads: {torch.get_num_threads()})")
    if args.json:
        Path(args.json).write_text(json.dumps({"data": data, "model": made, "agree": agree, "rtf": rtf}, indent=2))


if __name__ == "__main__":
    main()
