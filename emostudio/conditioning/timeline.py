"""Emotion over time: inline markup and smooth transitions.

``[happy] Great news! [sad:0.6] But we have to leave.`` gives two segments. A tag holds anything
:meth:`EmotionSpec.parse` reads, including a description (``[nervous but hopeful]``). Text before
the first tag takes the default spec. Generators turn the per-segment values into curves with
:func:`smooth_steps`, so an emotion change is a raised-cosine ramp, never a jump.

Footage has no text, so its timeline says *when* instead: ``[calm] [fearful @4s] [sad:0.6 @9.5s]``.
The same tags, each with the time its emotion starts (``@4``, ``@4s``, ``@1:30``); the first tag
starts at 0 when it names no time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..errors import EmostudioError
from .spec import EmotionSpec

_TAG_RE = re.compile(r"\[([^\[\]]*)\]")


@dataclass(frozen=True)
class Segment:
    text: str
    spec: EmotionSpec


@dataclass(frozen=True)
class Timeline:
    segments: tuple[Segment, ...]

    @classmethod
    def parse(cls, text: str, default: EmotionSpec | None = None) -> Timeline:
        """Split marked-up text into segments; raises :class:`EmostudioError` on malformed tags."""
        default = default or EmotionSpec.neutral()
        stray = re.sub(_TAG_RE, "", text)
        if "[" in stray or "]" in stray:
            raise EmostudioError("The text has an unmatched '[' or ']'; emotion tags look like '[happy]' or "
                                 "'[sad:0.6]' and cannot be nested.")
        segments: list[Segment] = []
        spec, position = default, 0
        for match in _TAG_RE.finditer(text):
            _append(segments, text[position:match.start()], spec)
            tag = match.group(1).strip()
            if not tag:
                raise EmostudioError("The text has an empty emotion tag '[]'; write an emotion inside it, e.g. '[happy]'.")
            spec = EmotionSpec.parse(tag)
            position = match.end()
        _append(segments, text[position:], spec)
        return cls(tuple(segments))

    @classmethod
    def constant(cls, text: str, spec: EmotionSpec) -> Timeline:
        return cls((Segment(text.strip(), spec),))

    @property
    def text(self) -> str:
        return " ".join(segment.text for segment in self.segments)

    @property
    def specs(self) -> list[EmotionSpec]:
        return [segment.spec for segment in self.segments]

    @property
    def has_markup(self) -> bool:
        return len(self.segments) > 1


_TIME_RE = re.compile(r"@\s*(?:(\d+):)?(\d+(?:\.\d*)?)\s*s?\s*$")


@dataclass(frozen=True)
class TimedTimeline:
    """Emotions over seconds: each spec holds from its start to the next one's."""

    starts: tuple[float, ...]
    specs: tuple[EmotionSpec, ...]

    @classmethod
    def parse(cls, text: str, default: EmotionSpec | None = None) -> TimedTimeline:
        """Read ``[happy] [sad @4s]``; anything without tags is one spec for the whole clip."""
        if not has_markup(text):
            return cls((0.0,), (EmotionSpec.parse(text) if text.strip() else default or EmotionSpec.neutral(),))
        stray = re.sub(_TAG_RE, "", text).strip()
        if stray:
            raise EmostudioError(f"Unexpected {stray[:40]!r} between the emotion tags; a timeline for footage is "
                                 "tags only, each with the time it starts: '[happy] [sad @4s]'.")
        starts: list[float] = []
        specs: list[EmotionSpec] = []
        for match in _TAG_RE.finditer(text):
            tag = match.group(1).strip()
            time = _TIME_RE.search(tag)
            emotion = tag[: time.start()].strip() if time else tag
            if not emotion:
                raise EmostudioError(f"The tag [{tag}] has no emotion; write one before the time, e.g. '[sad @4s]'.")
            if time:
                start = 60.0 * float(time.group(1) or 0) + float(time.group(2))
            elif not starts:
                start = 0.0
            else:
                raise EmostudioError(f"The tag [{tag}] needs a start time, e.g. '[{emotion} @4s]'; only the first tag "
                                     "may leave it out.")
            if starts and start <= starts[-1]:
                raise EmostudioError(f"The tag [{tag}] starts at {start:g} s, not after the tag before it "
                                     f"({starts[-1]:g} s); list the emotions in time order.")
            starts.append(start)
            specs.append(EmotionSpec.parse(emotion))
        if starts[0] > 0:  # before the first tag: the default, as text before the first tag
            starts.insert(0, 0.0)
            specs.insert(0, default or EmotionSpec.neutral())
        return cls(tuple(starts), tuple(specs))

    @classmethod
    def constant(cls, spec: EmotionSpec) -> TimedTimeline:
        return cls((0.0,), (spec,))

    @property
    def boundaries(self) -> list[float]:
        return list(self.starts[1:])

    def with_intensity(self, intensity: float | None) -> TimedTimeline:
        if intensity is None:
            return self
        return TimedTimeline(self.starts, tuple(spec.with_intensity(intensity) for spec in self.specs))

    def describe(self) -> str:
        if len(self.specs) == 1:
            return str(self.specs[0])
        return " ".join(f"[{spec} @{start:g}s]" for start, spec in zip(self.starts, self.specs))


def _append(segments: list[Segment], text: str, spec: EmotionSpec) -> None:
    text = " ".join(text.split())
    if text:
        segments.append(Segment(text, spec))


def has_markup(text: str) -> bool:
    return bool(_TAG_RE.search(text))


def smooth_steps(times: np.ndarray, boundaries: list[float], values: np.ndarray, ramp: float) -> np.ndarray:
    """Piecewise-constant values, one per segment, joined by raised-cosine ramps.

    ``boundaries`` are the len(values) - 1 times where one segment ends and the next begins; each
    change is spread over ``ramp`` seconds centred on its boundary. ``values`` may be (S,) or
    (S, C); the result is (T,) or (T, C) for the T ``times``.
    """
    values = np.asarray(values, dtype=np.float64)
    if len(boundaries) != len(values) - 1:
        raise ValueError("need exactly one boundary between each pair of segment values")
    times = np.asarray(times, dtype=np.float64)
    curve = np.broadcast_to(values[0], (len(times),) + values.shape[1:]).copy()
    for boundary, before, after in zip(boundaries, values[:-1], values[1:]):
        if ramp > 0:
            phase = np.clip((times - boundary) / ramp + 0.5, 0.0, 1.0)
            blend = 0.5 - 0.5 * np.cos(np.pi * phase)
        else:
            blend = (times >= boundary).astype(np.float64)
        curve += np.multiply.outer(blend, after - before) if values.ndim > 1 else blend * (after - before)
    return curve
