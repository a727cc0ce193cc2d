"""Emotion over time: inline markup and smooth transitions.

``[happy] Great news! [sad:0.6] But we have to leave.`` gives two segments. A tag holds anything
:meth:`EmotionSpec.parse` reads, including a description (``[nervous but hopeful]``). Text before
the first tag takes the default spec. Generators turn the per-segment values into curves with
:func:`smooth_steps`, so an emotion change is a raised-cosine ramp, never a jump.
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
