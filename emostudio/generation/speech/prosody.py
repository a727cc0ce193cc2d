"""Signal-level prosody: pitch level and range by PSOLA, loudness, and spectral tilt.

Pitch and timing are changed with Praat's pitch-synchronous overlap-add (through praat-parselmouth), which
keeps the voice's formants; it measured about six times faster than WORLD analysis-resynthesis
(pyworld) on Piper output at equal settings, which is what keeps emotional speech within twice
the cost of plain synthesis (``benchmarks/speech_speed.py``). Tempo is mostly the voice's own: it
speaks faster or slower through its length scale; PSOLA only stretches by the small remainder the
voice's rounded phoneme durations leave (see ``piper.PiperVoice.run``).

Every control arrives as a curve over time (see ``conditioning.timeline.smooth_steps``), so an
emotion change inside an utterance glides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PITCH_FLOOR_HZ = 60.0
PITCH_CEILING_HZ = 500.0
TILT_CORNER_HZ = 1000.0
LIMIT = 0.97


@dataclass
class ProsodyCurves:
    """Per-control curves sampled at ``times`` (seconds)."""

    times: np.ndarray
    f0_shift_semitones: np.ndarray
    f0_range_log2: np.ndarray
    loudness_db: np.ndarray
    tilt_db: np.ndarray

    def at(self, name: str, t: np.ndarray) -> np.ndarray:
        return np.interp(t, self.times, getattr(self, name))

    def changes_pitch(self, t: np.ndarray) -> bool:
        return bool(np.any(np.abs(self.at("f0_shift_semitones", t)) > 1e-3)
                    or np.any(np.abs(self.at("f0_range_log2", t)) > 1e-3))


def apply_prosody(audio: np.ndarray, sample_rate: int, curves: ProsodyCurves, start_time: float = 0.0,
                  stretch: float = 1.0, seed: int | None = None) -> np.ndarray:
    """Apply the curves to a piece of mono audio that starts ``start_time`` seconds into the utterance.

    ``stretch`` is a constant duration factor for the piece (1.2 = 20% longer); the result has
    ``round(len(audio) * stretch)`` samples. ``seed`` fixes the random pulse placement PSOLA
    uses in unvoiced stretches, so a seeded take repeats exactly.
    """
    out = audio.astype(np.float64)
    length = int(round(len(audio) * stretch))
    local = start_time + np.arange(len(audio)) / sample_rate
    if curves.changes_pitch(local) or abs(stretch - 1.0) > 1e-3:
        out = _psola(out, sample_rate, curves, start_time, stretch, seed)
    out = out[:length] if len(out) >= length else np.pad(out, (0, length - len(out)))
    # Output sample i sits at input time i / stretch, so the curves are read there.
    t = start_time + np.arange(length) / sample_rate / stretch
    tilt = curves.at("tilt_db", t)
    if np.any(np.abs(tilt) > 1e-3):
        low = low_pass(out, TILT_CORNER_HZ, sample_rate)
        out = low + (out - low) * 10.0 ** (tilt / 20.0)
    out = out * 10.0 ** (curves.at("loudness_db", t) / 20.0)
    return soft_limit(out).astype(np.float32)


def _psola(audio: np.ndarray, sample_rate: int, curves: ProsodyCurves, start_time: float,
           stretch: float, seed: int | None) -> np.ndarray:
    import parselmouth
    from parselmouth.praat import call, run

    if seed is not None:
        run(f"random_initializeWithSeedUnsafelyButPredictably ({int(seed)})")

    sound = parselmouth.Sound(audio, sampling_frequency=sample_rate)
    manipulation = call(sound, "To Manipulation", 0.01, PITCH_FLOOR_HZ, PITCH_CEILING_HZ)
    pitch = sound.to_pitch(time_step=0.01, pitch_floor=PITCH_FLOOR_HZ, pitch_ceiling=PITCH_CEILING_HZ)
    f0 = pitch.selected_array["frequency"]
    times = pitch.xs()
    voiced = f0 > 0
    if voiced.sum() >= 3:
        times, f0 = times[voiced], f0[voiced]
        median = float(np.median(f0))
        shift = curves.at("f0_shift_semitones", start_time + times)
        spread = 2.0 ** curves.at("f0_range_log2", start_time + times)
        # Expand or compress excursions around the median (in log frequency), then shift.
        target = np.clip(median * (f0 / median) ** spread * 2.0 ** (shift / 12.0), PITCH_FLOOR_HZ,
                         PITCH_CEILING_HZ * 1.5)
        tier = call("Create PitchTier", "target", sound.xmin, sound.xmax)
        for time, value in zip(times, target):
            call(tier, "Add point", float(time), float(value))
        call([tier, manipulation], "Replace pitch tier")
    if abs(stretch - 1.0) > 1e-3:
        durations = call("Create DurationTier", "stretch", sound.xmin, sound.xmax)
        call(durations, "Add point", sound.xmin, float(stretch))
        call([durations, manipulation], "Replace duration tier")
    out = call(manipulation, "Get resynthesis (overlap-add)").values[0]
    if seed is not None:
        run("random_initializeSafelyAndUnpredictably ()")
    return out


def low_pass(audio: np.ndarray, corner_hz: float, sample_rate: int) -> np.ndarray:
    """First-order Butterworth low-pass (the bilinear-transform design of scipy's ``butter(1, ...)``).

    Applied in the frequency domain with numpy, as importing scipy.signal costs more than the whole
    sentence takes to speak. The filter's impulse response decays by (1 - K) / (1 + K) per sample,
    under 1e-9 within a few hundred samples at speech rates, so that much zero padding makes the
    FFT's circular convolution the same as the causal filter.
    """
    k = math.tan(math.pi * corner_hz / sample_rate)
    padding = int(np.ceil(np.log(1e-12) / np.log(max((1 - k) / (1 + k), 1e-3)))) + 1
    n = 1 << (len(audio) + padding).bit_length()  # a power of two: FFT sizes with large prime factors are slow
    delay = np.exp(-2j * np.pi * np.fft.rfftfreq(n))  # z^-1 on the unit circle
    response = k * (1 + delay) / ((1 + k) + (k - 1) * delay)
    return np.fft.irfft(np.fft.rfft(audio, n) * response, n)[: len(audio)]


def soft_limit(audio: np.ndarray, threshold: float = 0.8) -> np.ndarray:
    """Leave samples under ``threshold`` alone and bend the rest smoothly below ``LIMIT``."""
    magnitude = np.abs(audio)
    over = magnitude > threshold
    if not np.any(over):
        return audio
    headroom = LIMIT - threshold
    bent = threshold + headroom * np.tanh((magnitude[over] - threshold) / headroom)
    out = audio.copy()
    out[over] = np.sign(audio[over]) * bent
    return out
