"""Acoustic measurements of speech: pitch, speaking time and loudness.

Used to check that emotions move prosody the published way, by the benchmarks, and by the app's
pitch-contour plot. Pitch is Praat's autocorrelation tracker (through parselmouth).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FRAME_S = 0.02
ACTIVE_BELOW_PEAK_DB = 35.0


@dataclass(frozen=True)
class ProsodyMeasurement:
    f0_median_hz: float
    f0_range_semitones: float  # 10th to 90th percentile of voiced F0
    active_seconds: float  # time with speech energy (pauses excluded)
    loudness_db: float  # RMS level of the active frames, dBFS

    def delta(self, reference: ProsodyMeasurement) -> dict[str, float]:
        """Changes relative to a reference: semitones, tempo ratio (>1 faster), decibels."""
        return {
            "f0_semitones": 12 * float(np.log2(self.f0_median_hz / reference.f0_median_hz)),
            "f0_range_semitones": self.f0_range_semitones - reference.f0_range_semitones,
            "tempo_ratio": reference.active_seconds / self.active_seconds,
            "loudness_db": self.loudness_db - reference.loudness_db,
        }


def pitch_contour(audio: np.ndarray, sample_rate: int, floor: float = 60.0,
                  ceiling: float = 500.0) -> tuple[np.ndarray, np.ndarray]:
    """Times (s) and F0 (Hz, NaN where unvoiced).

    Two passes (De Looze & Hirst, 2008): a wide first pass finds the speaker's range, and the
    second tracks within 0.75 x the 15th to 1.5 x the 85th percentile, which removes the octave
    jumps a wide range lets in on low voices.
    """
    import parselmouth

    sound = parselmouth.Sound(audio.astype(np.float64), sampling_frequency=sample_rate)

    def track(low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
        pitch = sound.to_pitch(time_step=0.01, pitch_floor=low, pitch_ceiling=high)
        f0 = pitch.selected_array["frequency"].astype(np.float64)
        f0[f0 <= 0] = np.nan
        return pitch.xs(), f0

    times, f0 = track(floor, ceiling)
    voiced = f0[~np.isnan(f0)]
    if len(voiced) >= 10:
        low, high = np.percentile(voiced, [15, 85])
        times, f0 = track(max(floor, 0.75 * low), min(ceiling * 1.5, 1.5 * high))
    return times, f0


def frame_levels_db(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    hop = int(FRAME_S * sample_rate)
    frames = len(audio) // hop
    if frames == 0:
        return np.zeros(0)
    blocks = audio[: frames * hop].astype(np.float64).reshape(frames, hop)
    return 10 * np.log10(np.mean(blocks**2, axis=1) + 1e-12)


def measure_prosody(audio: np.ndarray, sample_rate: int) -> ProsodyMeasurement:
    _, f0 = pitch_contour(audio, sample_rate)
    voiced = f0[~np.isnan(f0)]
    if len(voiced) < 3:
        raise ValueError("no voiced speech to measure")
    levels = frame_levels_db(audio, sample_rate)
    active = levels > levels.max() - ACTIVE_BELOW_PEAK_DB
    loudness = 10 * np.log10(np.mean(10 ** (levels[active] / 10)))
    low, high = np.percentile(voiced, [10, 90])
    return ProsodyMeasurement(
        f0_median_hz=float(np.median(voiced)),
        f0_range_semitones=float(12 * np.log2(high / low)),
        active_seconds=float(active.sum() * FRAME_S),
        loudness_db=float(loudness),
    )
