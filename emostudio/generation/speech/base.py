"""The speech backend interface: text (or a timeline) and an emotion in, audio and timings out."""

from __future__ import annotations

import abc
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...conditioning import EmotionSpec, Timeline
from ...conditioning.timeline import has_markup
from ...errors import EmostudioError
from ..media import provenance, write_audio

MAX_TEXT_CHARS = 5000


@dataclass(frozen=True)
class Timing:
    """A phoneme or word and when it is spoken, in seconds from the start of the audio."""

    label: str
    start: float
    end: float


@dataclass(frozen=True)
class SegmentTiming:
    """One timeline segment: its text, its emotion and its span in the audio."""

    text: str
    spec: EmotionSpec
    start: float
    end: float


@dataclass
class SpeechResult:
    waveform: np.ndarray  # float32 mono in [-1, 1]
    sample_rate: int
    phonemes: list[Timing]
    words: list[Timing]
    segments: list[SegmentTiming]
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return len(self.waveform) / self.sample_rate

    def save(self, path: str | os.PathLike) -> Path:
        """Write the audio atomically, marked as synthetic with the generator and emotion."""
        metadata = provenance(self.metadata.get("generator", "emostudio"), self.metadata.get("emotion", ""))
        return write_audio(path, self.waveform, self.sample_rate, metadata)


class SpeechBackend(abc.ABC):
    """Speaks text with an emotion. Implementations: the embedded Piper voice; neural TTS later."""

    name: str = "speech"

    @abc.abstractmethod
    def synthesize(self, timeline: Timeline, seed: int | None = None) -> SpeechResult:
        """Speak every segment of the timeline with its own emotion, with smooth transitions."""

    def speak(self, text: str, emotion: EmotionSpec | str | None = None, intensity: float | None = None,
              seed: int | None = None) -> SpeechResult:
        """Speak ``text``; inline ``[emotion]`` tags in it override ``emotion`` from where they stand."""
        spec = resolve_emotion(emotion, intensity)
        return self.synthesize(make_timeline(text, spec), seed=seed)


def resolve_emotion(emotion: EmotionSpec | str | None, intensity: float | None = None) -> EmotionSpec:
    spec = EmotionSpec.neutral() if emotion is None else (
        emotion if isinstance(emotion, EmotionSpec) else EmotionSpec.parse(emotion))
    if intensity is not None:
        spec = spec.with_intensity(intensity)
    return spec


def make_timeline(text: str, spec: EmotionSpec) -> Timeline:
    """Validate text and turn it into a timeline (inline markup or one constant segment)."""
    if text is None or not text.strip():
        raise EmostudioError("The text is empty; give a sentence to speak.")
    if len(text) > MAX_TEXT_CHARS:
        raise EmostudioError(f"The text is {len(text)} characters long; the limit is {MAX_TEXT_CHARS}, so split it "
                             "into several requests (the batch command does this for many texts).")
    marked = has_markup(text) or "[" in text or "]" in text
    timeline = Timeline.parse(text, default=spec) if marked else Timeline.constant(text, spec)
    if not any(ch.isalnum() for ch in timeline.text):
        raise EmostudioError("The text has no words to speak; give a sentence with letters or numbers.")
    return timeline
