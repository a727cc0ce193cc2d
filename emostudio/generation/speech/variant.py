"""Speakers of their own from one voice: a fixed pitch offset and spectral tilt on every take."""

from __future__ import annotations

import numpy as np

from ...conditioning import Timeline
from .base import SpeechBackend, SpeechResult
from .prosody import ProsodyCurves, apply_prosody


class VoiceVariant(SpeechBackend):
    """A speaker of its own: the base voice with a fixed pitch offset and spectral tilt."""

    def __init__(self, base: SpeechBackend, semitones: float, tilt_db: float) -> None:
        self.base = base
        self.curves = ProsodyCurves(np.array([0.0, 1e6]), np.full(2, semitones), np.zeros(2), np.zeros(2),
                                    np.full(2, tilt_db))

    def synthesize(self, timeline: Timeline, seed: int | None = None) -> SpeechResult:
        result = self.base.synthesize(timeline, seed=seed)
        result.waveform = apply_prosody(result.waveform, result.sample_rate, self.curves, seed=seed)
        return result
