"""PSOLA (Praat, through parselmouth) against WORLD (pyworld) for the prosody transform.

Both raise the pitch of the same Piper sentence by 3 semitones; the script reports the time each
takes relative to Piper's own synthesis of that sentence, and how close each lands to the target
shift. WORLD is not a dependency: ``pip install pyworld "setuptools<81"`` to include it.

    python benchmarks/prosody_transform.py
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from emostudio.generation.speech.analysis import measure_prosody
from emostudio.generation.speech.piper import load_voice
from emostudio.generation.speech.prosody import ProsodyCurves, apply_prosody

TEXT = "The quick brown fox jumps over the lazy dog, and then it runs away into the forest before anyone notices."
SHIFT = 3.0
REPEATS = 5


def median_time(function) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def world_shift(audio: np.ndarray, rate: int) -> np.ndarray:
    import pyworld

    signal = audio.astype(np.float64)
    f0, times = pyworld.dio(signal, rate, frame_period=5.0)
    f0 = pyworld.stonemask(signal, f0, times, rate)
    envelope = pyworld.cheaptrick(signal, f0, times, rate)
    aperiodicity = pyworld.d4c(signal, f0, times, rate)
    return pyworld.synthesize(f0 * 2 ** (SHIFT / 12), envelope, aperiodicity, rate, 5.0)


def main() -> None:
    voice = load_voice()
    ids, _ = voice.phoneme_ids(voice.phonemizer.sentences(TEXT)[0].phonemes)
    audio = voice.run(ids, voice.length_scale, voice.noise_scale, voice.noise_w, seed=0).audio
    rate = voice.sample_rate
    piper_s = median_time(lambda: voice.run(ids, voice.length_scale, voice.noise_scale, voice.noise_w, seed=0))
    curves = ProsodyCurves(np.array([0.0, 60.0]), np.full(2, SHIFT), np.zeros(2), np.zeros(2), np.zeros(2))
    reference = measure_prosody(audio, rate)

    methods = {"PSOLA (parselmouth)": lambda: apply_prosody(audio, rate, curves, seed=0)}
    try:
        import pyworld  # noqa: F401

        methods["WORLD (pyworld)"] = lambda: world_shift(audio, rate)
    except ImportError:
        print("pyworld is not installed; WORLD is skipped.")
    print(f"{len(audio) / rate:.1f} s of speech; Piper synthesis {piper_s * 1000:.0f} ms")
    print(f"{'method':<22} {'ms':>6} {'x Piper':>8} {'shift st':>9}")
    for name, function in methods.items():
        seconds = median_time(function)
        shifted = np.asarray(function(), dtype=np.float32)
        achieved = measure_prosody(shifted, rate).delta(reference)["f0_semitones"]
        print(f"{name:<22} {seconds * 1000:>6.0f} {seconds / piper_s:>8.2f} {achieved:>9.2f}")


if __name__ == "__main__":
    main()
