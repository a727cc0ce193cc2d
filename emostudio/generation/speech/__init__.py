"""Emotional speech: the SpeechBackend interface and its embedded Piper implementation."""

from .base import MAX_TEXT_CHARS, SegmentTiming, SpeechBackend, SpeechResult, Timing, make_timeline, resolve_emotion

__all__ = ["MAX_TEXT_CHARS", "SegmentTiming", "SpeechBackend", "SpeechResult", "Timing", "make_timeline",
           "resolve_emotion", "PiperSpeechBackend", "PiperVoice", "load_voice"]


def __getattr__(name: str):
    if name in ("PiperSpeechBackend", "PiperVoice", "load_voice"):
        from . import piper

        return getattr(piper, name)
    raise AttributeError(name)
