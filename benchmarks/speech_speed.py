"""Speed of emotional speech against plain neutral Piper synthesis of the same text, in one run.

Plain synthesis is what Piper itself does: phonemize, run the voice at its default scales,
concatenate sentences. Emotional synthesis is ``PiperSpeechBackend.speak`` with the emotion.
Both run after the voice is loaded, alternately, several times; medians are reported.

    python benchmarks/speech_speed.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from emostudio.conditioning import CATEGORIES
from emostudio.generation.speech import PiperSpeechBackend

TEXT = ("The storm had passed by the time we reached the harbour. Boats rocked gently against the pier, "
        "and the fishermen were already mending their nets. Nobody spoke of what had happened the night "
        "before, but everyone knew that the old lighthouse would never shine again.")


def plain_piper(backend: PiperSpeechBackend, text: str) -> np.ndarray:
    voice = backend.voice
    pieces = []
    for sentence in voice.phonemizer.sentences(text):
        ids, _ = voice.phoneme_ids(sentence.phonemes)
        pieces.append(voice.run(ids, voice.length_scale, voice.noise_scale, voice.noise_w).audio)
    return np.concatenate(pieces)


def timed(function) -> tuple[float, object]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    backend = PiperSpeechBackend()
    backend.speak(TEXT, "happy")  # warm up: first PSOLA call loads Praat
    plain_piper(backend, TEXT)

    print(f"{'emotion':<10} {'audio s':>8} {'speak s':>8} {'RTF':>6} {'plain s':>8} {'ratio':>6}")
    ratios, rtfs = [], []
    for emotion in CATEGORIES:
        speak_times, plain_times, duration = [], [], 0.0
        for _ in range(args.repeats):
            seconds, result = timed(lambda: backend.speak(TEXT, emotion))
            speak_times.append(seconds)
            duration = result.duration
            plain_times.append(timed(lambda: plain_piper(backend, TEXT))[0])
        speak_s, plain_s = statistics.median(speak_times), statistics.median(plain_times)
        rtfs.append(speak_s / duration)
        ratios.append(speak_s / plain_s)
        print(f"{emotion:<10} {duration:>8.2f} {speak_s:>8.3f} {rtfs[-1]:>6.3f} {plain_s:>8.3f} {ratios[-1]:>6.2f}")
    print(f"\nworst real-time factor {max(rtfs):.3f} (target <= 0.2); "
          f"worst ratio to plain Piper {max(ratios):.2f} (target <= 2.0)")


if __name__ == "__main__":
    main()
