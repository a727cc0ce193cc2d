"""Per-emotion prosody change relative to neutral, measured on the audio the voice produces.

For several sentences and seeds, each emotion at intensity 1 is compared with neutral speech of
the same sentence and seed: median F0 (semitones), F0 range (10th-90th percentile, semitones),
tempo (ratio of speaking time, >1 faster) and loudness (dB).

    python benchmarks/prosody_deltas.py
"""

from __future__ import annotations

import numpy as np

from emostudio.conditioning import CATEGORIES
from emostudio.generation.speech import PiperSpeechBackend
from emostudio.generation.speech.analysis import measure_prosody

SENTENCES = (
    "The quick brown fox jumps over the lazy dog, and then it runs away into the forest.",
    "I told you we would meet again at the station tomorrow morning.",
    "Nobody expected the results to arrive so early in the week.",
    "Please put the boxes in the kitchen and close the door behind you.",
)
SEEDS = (0, 1)


def main() -> None:
    backend = PiperSpeechBackend()
    keys = ("f0_semitones", "f0_range_semitones", "tempo_ratio", "loudness_db")
    print(f"{'emotion':<10} " + " ".join(f"{k:>20}" for k in keys))
    for emotion in CATEGORIES[1:]:
        rows = []
        for sentence in SENTENCES:
            for seed in SEEDS:
                neutral = backend.speak(sentence, "neutral", seed=seed)
                emotional = backend.speak(sentence, emotion, seed=seed)
                reference = measure_prosody(neutral.waveform, neutral.sample_rate)
                rows.append(measure_prosody(emotional.waveform, emotional.sample_rate).delta(reference))
        cells = []
        for key in keys:
            values = np.array([row[key] for row in rows])
            sign = "" if key == "tempo_ratio" else "+"
            cells.append(f"{values.mean():{sign}9.2f} ± {values.std():5.2f}   ")
        print(f"{emotion:<10} " + " ".join(f"{c:>20}" for c in cells))
    print(f"\n{len(SENTENCES)} sentences x {len(SEEDS)} seeds per emotion; mean ± standard deviation.")


if __name__ == "__main__":
    main()
