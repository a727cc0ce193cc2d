"""Talking heads: the backend interface and the embedded warp backend, and the ``talk`` job.

A backend turns a portrait and driving speech (audio, and phoneme timings when the speech was
synthesised) into frames. The embedded backend animates the portrait's own face mesh: emotion as
FACS action units from the ExpressionHead, following the timeline with smooth transitions; mouth
shapes from phonemes or audio; blinks, head motion, gaze and breathing; all rendered by the warp
renderer. The neural backend (``diffusion.py``, Stable Video Diffusion) implements the same interface.
"""

from __future__ import annotations

import abc
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...conditioning import EmotionSpec
from ...conditioning.controls import default_expression
from ...conditioning.timeline import smooth_steps
from ...errors import EmostudioError
from ..media import MAX_AUDIO_SECONDS, VideoWriter, check_output_path, provenance, read_audio
from ..speech.base import SegmentTiming, SpeechBackend, Timing, make_timeline, resolve_emotion
from .lipsync import MOUTH, loudness_envelope, mouth_from_audio, mouth_from_phonemes
from .motion import Motion, liveliness
from .perception import FaceAnalysis, analyze_portrait
from .render import WarpRenderer
from .rig import CONTROLS, FaceRig
from .smoothing import gaussian_smooth

EXPRESSION_TRANSITION_S = 0.45
EXPRESSION_ONSET_S = 0.35  # from neutral at the start of a clip
EMPHASIS_S = 0.25  # smoothing of the loudness that sets the expression's emphasis
EMPHASIS_DEPTH = 0.15  # how much quieter stretches relax the expression
DRIFT_S = 0.8  # time scale of the units' slow fluctuation
DRIFT_DEPTH = 0.06  # its size, as a fraction of each unit
DEFAULT_SIZE = 512
DEFAULT_FPS = 25.0


@dataclass
class DrivingSpeech:
    """What drives the face: audio, emotion per time span, and phoneme timings when known."""

    audio: np.ndarray
    sample_rate: int
    segments: list[SegmentTiming]
    phonemes: list[Timing] | None = None

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate


@dataclass
class Animation:
    """Per-frame rig controls and liveliness, before rendering."""

    times: np.ndarray  # (F,) seconds
    controls: np.ndarray  # (F, len(CONTROLS))
    motion: Motion


class TalkingHeadBackend(abc.ABC):
    name: str = "talking-head"

    @abc.abstractmethod
    def frames(self, face: FaceAnalysis, speech: DrivingSpeech, fps: float,
               seed: int | None = None) -> Iterator[np.ndarray]:
        """RGB uint8 frames, ``frame_count(speech, fps)`` of them."""

    @staticmethod
    def frame_count(speech: DrivingSpeech, fps: float) -> int:
        return max(1, math.ceil(speech.duration * fps))


class WarpTalkingHead(TalkingHeadBackend):
    """The embedded backend: the portrait's own mesh, rigged and warped. Runs on a CPU."""

    name = "warp"

    def __init__(self, bank=None, expression_head=None) -> None:
        # Without a fitted head the shipped expression table is mixed with numpy: no torch to load.
        self.bank = bank
        self.expression_head = expression_head

    def expression(self, specs: list[EmotionSpec]) -> tuple[np.ndarray, np.ndarray]:
        """(S, AUs) action units and (S,) arousal of each timeline segment's emotion."""
        if self.expression_head is None and self.bank is None:
            return default_expression(specs), np.array([spec.vad[1] for spec in specs])
        from ...conditioning import EmotionBank, ExpressionHead

        if self.expression_head is None:
            self.expression_head = ExpressionHead(embedding_dim=self.bank.config.embedding_dim)
        if self.bank is None:
            self.bank = EmotionBank(embedding_dim=self.expression_head.config.embedding_dim)
        embedding = self.bank.embed(specs)
        return self.expression_head.action_units(embedding), embedding.vad[:, 1].numpy()

    def animate(self, speech: DrivingSpeech, fps: float, seed: int | None = None) -> Animation:
        count = self.frame_count(speech, fps)
        times = np.arange(count) / fps

        units, arousal = self.expression([segment.spec for segment in speech.segments])
        boundaries = [(a.end + b.start) / 2 for a, b in zip(speech.segments[:-1], speech.segments[1:])]
        arousal_curve = smooth_steps(times, boundaries, arousal, EXPRESSION_TRANSITION_S)

        loudness = loudness_envelope(speech.audio, speech.sample_rate, times)
        rng = np.random.default_rng(None if seed is None else seed + 1)
        expression = expression_curve(times, boundaries, units, loudness, rng)
        mouth = speech_mouth(speech, times, loudness)
        motion = liveliness(count, fps, arousal_curve, loudness, seed)
        return Animation(times, combine_controls(expression, mouth, motion.blink), motion)

    def frames(self, face: FaceAnalysis, speech: DrivingSpeech, fps: float,
               seed: int | None = None) -> Iterator[np.ndarray]:
        animation = self.animate(speech, fps, seed)
        rig = FaceRig(face.landmarks)
        renderer = WarpRenderer(face.image, face.landmarks)
        posed = HeadPoser(rig, renderer, face.landmarks)
        for index in range(len(animation.times)):
            controls = animation.controls[index]
            positions, rings = posed(rig.deform(controls), animation.motion, index)
            yield renderer.render(positions, rings, controls=controls)


def expression_curve(times: np.ndarray, boundaries: list[float], units: np.ndarray, loudness: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    """(F, AUs) action units over time: the timeline's units, animated rather than painted on.

    The expression sets in from neutral over EXPRESSION_ONSET_S at the start and changes over
    EXPRESSION_TRANSITION_S at each timeline change; its strength follows the speech's emphasis
    (a slow loudness envelope: stressed stretches reach the apex, pauses relax a little); and each
    unit drifts slowly by a few percent, so the face never holds one mask.
    """
    if len(times) == 0:
        return np.zeros((0, units.shape[1]))
    curve = smooth_steps(times, boundaries, units, EXPRESSION_TRANSITION_S)
    onset = np.clip(times / EXPRESSION_ONSET_S, 0.0, 1.0)
    curve *= (0.5 - 0.5 * np.cos(np.pi * onset))[:, None]
    step = times[1] - times[0] if len(times) > 1 else 0.04
    emphasis = gaussian_smooth(loudness, sigma=max(EMPHASIS_S / step, 0.5))
    emphasis = emphasis / max(float(emphasis.max()), 1e-6)
    curve *= (1.0 - EMPHASIS_DEPTH + EMPHASIS_DEPTH * emphasis)[:, None]
    # Drawn unit by unit, so each unit's drift stays the same when units are added.
    drift = gaussian_smooth(rng.standard_normal((units.shape[1], len(times) + 50)).T,
                            sigma=max(DRIFT_S / step, 1.0), axis=0)[25:-25]
    drift /= max(float(drift.std()), 1e-9)
    curve *= 1.0 + DRIFT_DEPTH * drift
    return np.clip(curve, 0.0, 1.0)


def speech_mouth(speech: DrivingSpeech, times: np.ndarray, loudness: np.ndarray) -> np.ndarray:
    """(F, MOUTH) mouth shapes that speak ``speech`` at ``times``, given its loudness envelope there."""
    if not speech.phonemes:
        return mouth_from_audio(speech.audio, speech.sample_rate, times)
    mouth = mouth_from_phonemes(speech.phonemes, times)
    # The phonemes say which shape; the sound says how wide: louder syllables open more.
    mouth[:, MOUTH.index("JAW")] *= 0.35 + 0.65 * loudness
    return mouth


def combine_controls(expression: np.ndarray, mouth: np.ndarray, blink: np.ndarray) -> np.ndarray:
    """(F, len(CONTROLS)) rig controls from action units (F, AUs), mouth shapes (F, MOUTH) and blinks (F,)."""
    controls = np.zeros((len(expression), len(CONTROLS)))
    controls[:, : expression.shape[1]] = expression
    for index, name in enumerate(MOUTH):
        column = CONTROLS.index(name)
        controls[:, column] = np.maximum(controls[:, column], mouth[:, index])
    # An emotion's own jaw drop (fear, surprise) keeps the mouth a little open and makes the speech
    # open it wider, so the mouth still follows the syllables; a mouth stretch (AU27) holds it open
    # on its own field and leaves the speech less room.
    jaw, drop, stretch = (CONTROLS.index(name) for name in ("JAW", "AU26", "AU27"))
    speech_jaw = controls[:, jaw] * (1 - 0.5 * controls[:, stretch])
    controls[:, jaw] = np.clip(0.3 * controls[:, drop] + speech_jaw * (1 + controls[:, drop]), 0, 1)
    controls[:, drop] = 0.0  # carried by JAW now
    controls[:, CONTROLS.index("BLINK")] = np.maximum(blink, 0.0)
    # Eyes widened by surprise or fear still blink fully: the blink wins over AU5.
    controls[:, CONTROLS.index("AU5")] *= 1 - blink
    return controls


class HeadPoser:
    """Applies liveliness to deformed landmarks: gaze, a small rigid head motion with parallax."""

    def __init__(self, rig: FaceRig, renderer: WarpRenderer, landmarks: np.ndarray) -> None:
        from . import topology as T

        self.frame = rig.frame
        self.renderer = renderer
        self.iris = [T.RIGHT_IRIS_CENTER, *T.RIGHT_IRIS_RING, T.LEFT_IRIS_CENTER, *T.LEFT_IRIS_RING]
        depth = landmarks[:, 2] if landmarks.shape[1] > 2 else np.zeros(len(landmarks))
        self.relief = -(depth - depth.mean())  # toward the camera is positive
        chin = landmarks[T.CHIN, :2]
        self.pivot = chin + self.frame.to_pixels(np.array([0.0, 0.6]))

    def __call__(self, positions: np.ndarray, motion: Motion, index: int) -> tuple[np.ndarray, np.ndarray]:
        positions = positions.copy()
        positions[self.iris] += self.frame.to_pixels(motion.gaze[index])
        yaw, pitch = np.radians(motion.yaw[index]), np.radians(motion.pitch[index])
        parallax = np.stack([np.sin(yaw) * self.relief, np.sin(pitch) * self.relief], axis=1)
        positions += parallax @ self.frame.rotation.T
        offset = self.frame.to_pixels(motion.shift[index] + np.array([0.0, -motion.breath[index]]))
        offset = offset + self.frame.to_pixels(np.array([0.0, 0.15 * np.sin(pitch)]))
        rotate = _rotation(np.radians(motion.roll[index]))
        positions = (positions - self.pivot) @ rotate.T + self.pivot + offset
        rings = (self.renderer.ring_points - self.pivot) @ rotate.T + self.pivot + offset
        return positions, self.renderer.following_rings(rings - self.renderer.ring_points)


def _rotation(angle: float) -> np.ndarray:
    return np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])


@dataclass
class TalkResult:
    path: Path | None  # the video; None when only the animation was written
    duration: float
    frames: int
    fps: float
    segments: list[SegmentTiming]
    warnings: list[str] = field(default_factory=list)
    animation: Path | None = None  # the ARKit blendshape file, when asked for


def driving_speech_from_audio(path: str | os.PathLike, spec: EmotionSpec) -> DrivingSpeech:
    audio, rate = read_audio(path, MAX_AUDIO_SECONDS)
    return DrivingSpeech(audio, rate, [SegmentTiming("", spec, 0.0, len(audio) / rate)], None)


def talk(
    output: str | os.PathLike | None,
    text: str | None = None,
    audio: str | os.PathLike | None = None,
    emotion: EmotionSpec | str | None = None,
    intensity: float | None = None,
    portrait: str | os.PathLike | None = None,
    size: int = DEFAULT_SIZE,
    fps: float = DEFAULT_FPS,
    seed: int | None = None,
    speech_backend: SpeechBackend | None = None,
    head_backend: TalkingHeadBackend | None = None,
    progress: Callable[[int, int], None] | None = None,
    blendshapes: str | os.PathLike | None = None,
    video: bool = True,
) -> TalkResult:
    """Render a talking-head MP4 of a portrait saying ``text`` (or lip-syncing ``audio``).

    ``blendshapes`` (.json or .csv) also writes the animation as ARKit blendshape weights per frame,
    with the speech beside it as a .wav of the same name; ``video=False`` writes only those.
    """
    if (text is None) == (audio is None):
        raise EmostudioError("Give either text to speak or an audio file to lip-sync, not both and not neither.")
    if not 1.0 <= fps <= 60.0:
        raise EmostudioError(f"The frame rate {fps:g} is out of range; use 1 to 60 frames per second.")
    if not video and blendshapes is None:
        raise EmostudioError("Without the video there is nothing to write; give a blendshape file "
                             "(--export-blendshapes anim.json) or drop --no-video.")
    if video:
        check_output_path(output, (".mp4",))
    if blendshapes is not None:
        from .blendshapes import check_animation_path

        check_animation_path(blendshapes)
        if seed is None:  # the exported animation and the video must be the same performance
            seed = int(np.random.SeedSequence().entropy % 2**31)
    spec = resolve_emotion(emotion, intensity)
    if text is not None:
        timeline = make_timeline(text, spec)
    face = analyze_portrait(portrait, size) if video else None
    if text is not None:
        if speech_backend is None:
            from ..speech.piper import PiperSpeechBackend

            speech_backend = PiperSpeechBackend()
        spoken = speech_backend.synthesize(timeline, seed=seed)
        speech = DrivingSpeech(spoken.waveform, spoken.sample_rate, spoken.segments, spoken.phonemes)
    backend = head_backend or WarpTalkingHead()
    if text is not None:
        generator = f"emostudio {backend.name} talking head + {spoken.metadata.get('generator', 'speech')}"
    else:
        speech = driving_speech_from_audio(audio, spec)
        generator = f"emostudio {backend.name} talking head (lip-synced to a user recording)"
    total = backend.frame_count(speech, fps)
    emotions = "; ".join(str(s.spec) for s in speech.segments)
    metadata = provenance(generator, emotions, ingredients=(portrait, audio))
    animation_path = None
    if blendshapes is not None:
        animation_path = export_blendshapes(blendshapes, backend, speech, fps, seed, metadata)
    if not video:
        return TalkResult(None, speech.duration, total, fps, speech.segments, [], animation_path)
    with VideoWriter(output, face.image.shape[1], face.image.shape[0], fps, audio=speech.audio,
                     sample_rate=speech.sample_rate, metadata=metadata) as writer:
        for number, frame in enumerate(backend.frames(face, speech, fps, seed), start=1):
            writer.write(frame)
            if progress is not None:
                progress(number, total)
    return TalkResult(Path(output), speech.duration, total, fps, speech.segments, list(face.warnings),
                      animation_path)


def export_blendshapes(path: str | os.PathLike, backend: TalkingHeadBackend, speech: DrivingSpeech, fps: float,
                       seed: int | None, metadata) -> Path:
    """Write the backend's animation of ``speech`` as ARKit blendshapes, and the speech as a .wav beside it."""
    from ..media import write_audio
    from .blendshapes import blendshape_weights, write_animation

    if not isinstance(backend, WarpTalkingHead):
        raise EmostudioError(f"The {backend.name} talking head has no rig animation to export; use the embedded "
                             "talking head for blendshapes.")
    animation = backend.animate(speech, fps, seed)
    sound = write_audio(Path(path).with_suffix(".wav"), speech.audio, speech.sample_rate, metadata)
    weights = blendshape_weights(animation.controls, animation.motion.gaze)
    pose = np.stack([animation.motion.yaw, animation.motion.pitch, animation.motion.roll], axis=1)
    return write_animation(path, weights, pose, fps, sound.name)
