"""Emotion effect and speed of the neural speech backend, against the same model at emotion scale 0.

For each emotion, the tiny SpeechT5 speaks held-out sentences with the conditioner on (scale 1)
and off (scale 0, the plain speaker) with the same seed; on the generated log-mel spectrograms
we measure energy (mean log-mel over frames) and a pitch proxy (the log-mel-weighted centroid of
the lowest 24 mel bins, where a voice's fundamental and first harmonics lie; not a pitch tracker).
The same two measures on the training corpus (each emotion's clips against neutral) say which
way each emotion should move; "agrees" counts the emotions whose generated shift has the sign
of the data's shift. Speed: real-time factor (synthesis seconds / audio seconds) after loading.

Voice fine-tune (``--voice VOICE_DIR``): speaker similarity to the target recordings, as the
cosine between mean-removed average log-mel spectra (the long-term spectrum that pitch and
timbre shape; no outside speaker model needed), for speech made with the starting speaker (mean
of the base's) and with the learned one; and whether each emotion still moves energy the same way
for the new voice as for the base's speakers.

    python benchmarks/neural_speech.py TTS_DIR [--manifest TTS_DIR/corpus/manifest.jsonl] [--repeats 3]
    python benchmarks/neural_speech.py TTS_DIR --voice VOICE_DIR
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


def long_term_spectrum(mels: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(mels).mean(axis=0)


def voice_similarity(base: Path, voice_dir: Path) -> dict[str, float]:
    from transformers import SpeechT5FeatureExtractor

    from emostudio.train.tts import load_clip_audio

    extractor = SpeechT5FeatureExtractor()
    target = long_term_spectrum([np.asarray(extractor(audio_target=load_clip_audio(c.audio, 30.0),
                                                       sampling_rate=16000)["input_values"][0])
                                 for c in read_manifest(voice_dir / "recordings" / "manifest.jsonl")])
    backend = NeuralSpeechBackend(voice_dir).load()
    base_speakers = NeuralSpeechBackend(base).load().speakers
    start = torch.stack(list(base_speakers.values())).mean(0)
    reference = long_term_spectrum([np.asarray(extractor(audio_target=load_clip_audio(c.audio, 30.0),
                                                          sampling_rate=16000)["input_values"][0])
                                    for c in read_manifest(base / "corpus" / "manifest.jsonl")[:40]])

    def spectrum(speaker: torch.Tensor) -> np.ndarray:
        mels = []
        for number, sentence in enumerate(SENTENCES):
            torch.manual_seed(number)
            mels.append(backend.backbone.mel(backend.backbone.encode(sentence), speaker).numpy())
        return long_term_spectrum(mels)

    def cosine(a: np.ndarray, b: np.ndarray) -> float:
        a, b = a - reference, b - reference
        return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9))

    learned = backend.speaker()
    return {"before": cosine(spectrum(start), target), "after": cosine(spectrum(learned), target)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--manifest", default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--voice", default=None, help="a 'train voice' folder tuned from RUN_DIR")
    args = parser.parse_args()
    if args.voice:
        similarity = voice_similarity(Path(args.run_dir), Path(args.voice))
        print(f"speaker similarity to the target recordings: before {similarity['before']:+.3f}, "
              f"after {similarity['after']:+.3f}")
        base = generated_shifts(NeuralSpeechBackend(args.run_dir))
        tuned = generated_shifts(NeuralSpeechBackend(args.voice))
        kept = sum(int(np.sign(base[n][0]) == np.sign(tuned[n][0])) for n in CATEGORIES if n != "neutral")
        print(f"emotion energy directions kept for the new voice: {kept}/7")
        return
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
