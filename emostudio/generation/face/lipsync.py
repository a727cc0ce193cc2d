"""Mouth shapes over time, from phoneme timings or from the audio itself.

Mouth shapes are articulator weights: JAW (opening), ROUND (lip rounding), SPREAD, PRESS (lips
closed, as for p/b/m) and LIP_UP (lower lip to the upper teeth, as for f/v). From phonemes, each
phoneme has a target shape and a dominance that decays away from its centre; the shape at a
moment is the dominance-weighted average of the targets around it (the coarticulation model of
Cohen & Massaro, 1993), so neighbouring sounds shape each other and lips close fully for
bilabials. From audio (a real recording, any language), the opening follows the loudness
envelope and the lip shape the balance of low and high frequencies, smoothed the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..speech.base import Timing
from .smoothing import gaussian_smooth

MOUTH: tuple[str, ...] = ("JAW", "ROUND", "SPREAD", "PRESS", "LIP_UP")

# IPA symbol -> (target (JAW, ROUND, SPREAD, PRESS, LIP_UP), dominance strength, dominance reach in s)
_CLASSES: list[tuple[str, tuple[float, ...], float, float]] = [
    ("pbm", (0.0, 0.0, 0.0, 1.0, 0.0), 1.0, 0.035),
    ("fv", (0.08, 0.0, 0.0, 0.0, 1.0), 0.9, 0.04),
    ("w", (0.15, 1.0, 0.0, 0.0, 0.0), 0.8, 0.06),
    ("uʊoɔɒ", (0.35, 0.9, 0.0, 0.0, 0.0), 0.7, 0.07),
    ("ɑaæʌ", (0.9, 0.0, 0.15, 0.0, 0.0), 0.7, 0.07),
    ("ɛeɜɝəɚɐ", (0.5, 0.0, 0.3, 0.0, 0.0), 0.5, 0.06),
    ("iɪjy", (0.22, 0.0, 0.75, 0.0, 0.0), 0.6, 0.06),
    ("θð", (0.2, 0.0, 0.25, 0.0, 0.0), 0.5, 0.05),
    ("tdnszlɾ", (0.2, 0.0, 0.25, 0.0, 0.0), 0.35, 0.045),
    ("ɹr", (0.2, 0.45, 0.0, 0.0, 0.0), 0.45, 0.05),
    ("ʃʒ", (0.2, 0.6, 0.0, 0.0, 0.0), 0.6, 0.05),
    ("kgɡŋhxʔ", (0.32, 0.0, 0.0, 0.0, 0.0), 0.3, 0.05),
]
VISEME_TABLE: dict[str, tuple[tuple[float, ...], float, float]] = {
    symbol: (target, strength, reach) for symbols, target, strength, reach in _CLASSES for symbol in symbols
}
REST = ((0.0,) * len(MOUTH), 0.6, 0.08)  # closed, relaxed mouth in pauses
PAUSE_S = 0.08  # gaps longer than this count as pauses


def viseme_for(label: str) -> tuple[tuple[float, ...], float, float]:
    """The viseme of a phoneme label (first symbol decides; unknown symbols get a neutral mid shape)."""
    for symbol in label:
        if symbol in VISEME_TABLE:
            return VISEME_TABLE[symbol]
    return (0.3, 0.0, 0.1, 0.0, 0.0), 0.3, 0.05


def mouth_from_phonemes(phonemes: Sequence[Timing], frame_times: np.ndarray) -> np.ndarray:
    """(F, len(MOUTH)) articulator weights at ``frame_times`` from timed phonemes."""
    centres, targets, strengths, reaches = [], [], [], []

    def add(centre: float, viseme: tuple[tuple[float, ...], float, float]) -> None:
        centres.append(centre)
        targets.append(viseme[0])
        strengths.append(viseme[1])
        reaches.append(viseme[2])

    previous_end = 0.0
    for timing in phonemes:
        if timing.start - previous_end > PAUSE_S:
            add((previous_end + timing.start) / 2, REST)
        add((timing.start + timing.end) / 2, viseme_for(timing.label))
        previous_end = timing.end
    end = frame_times[-1] if len(frame_times) else previous_end
    add(max(previous_end + PAUSE_S, end + PAUSE_S), REST)
    add(-PAUSE_S, REST)
    centres_a = np.array(centres)
    # Dominance: strength * exp(-|t - centre| / reach), the exponential form of Cohen & Massaro.
    dominance = np.array(strengths)[None, :] * np.exp(
        -np.abs(frame_times[:, None] - centres_a[None, :]) / np.array(reaches)[None, :])
    dominance += 1e-9
    shape = dominance @ np.array(targets) / dominance.sum(axis=1, keepdims=True)
    return np.clip(shape, 0.0, 1.0)


def _frame_spectra(audio: np.ndarray, sample_rate: int, frame_times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Power spectra of 80 ms Hann windows centred on each frame time, and their frequencies."""
    window = int(0.04 * sample_rate)
    centres = np.clip((frame_times * sample_rate).astype(int), 0, len(audio))
    padded = np.pad(audio.astype(np.float64), (window, window))
    hann = np.hanning(2 * window)
    frames = np.stack([padded[c: c + 2 * window] * hann for c in centres])
    return np.abs(np.fft.rfft(frames, axis=1)) ** 2, np.fft.rfftfreq(2 * window, 1.0 / sample_rate)


def _opening(energy: np.ndarray) -> np.ndarray:
    """Loudness in 0..1: 0 at 30 dB under the loud end of the recording (or at its noise floor), 1 near it."""
    level = 10 * np.log10(energy + 1e-12)
    loud, floor = np.percentile(level, 95), np.percentile(level, 10)
    lowest = max(floor + 6.0, loud - 30.0)
    return np.clip((level - lowest) / max(loud - 6.0 - lowest, 3.0), 0.0, 1.0) ** 0.8


def loudness_envelope(audio: np.ndarray, sample_rate: int, frame_times: np.ndarray) -> np.ndarray:
    """(F,) loudness in 0..1 at ``frame_times``."""
    spectrum, _ = _frame_spectra(audio, sample_rate, frame_times)
    return _opening(spectrum.sum(axis=1))


def mouth_from_audio(audio: np.ndarray, sample_rate: int, frame_times: np.ndarray) -> np.ndarray:
    """(F, len(MOUTH)) articulator weights from a recording's loudness and spectral balance."""
    spectrum, freqs = _frame_spectra(audio, sample_rate, frame_times)
    energy = spectrum.sum(axis=1) + 1e-12
    opening = _opening(energy)
    low = spectrum[:, (freqs >= 100) & (freqs < 900)].sum(axis=1) / energy
    high = spectrum[:, (freqs >= 2500) & (freqs < 8000)].sum(axis=1) / energy
    shape = np.zeros((len(frame_times), len(MOUTH)))
    shape[:, 0] = 0.85 * opening
    shape[:, 1] = np.clip((low - 0.75) / 0.2, 0.0, 1.0) * opening  # dark, low-frequency vowels: rounded
    shape[:, 2] = np.clip((high - 0.05) / 0.2, 0.0, 1.0) * opening  # bright, hissy sounds: spread
    shape[:, 3] = np.clip(1.0 - opening * 4, 0.0, 1.0) * 0.3  # silence: lips lightly together
    step = frame_times[1] - frame_times[0] if len(frame_times) > 1 else 0.04
    return np.clip(gaussian_smooth(shape, sigma=max(0.03 / step, 0.5), axis=0), 0.0, 1.0)
