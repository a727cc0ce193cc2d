"""The Python API: one object, one method per operation. The CLI, the app and batch jobs call it.

    from emostudio import Studio

    studio = Studio()
    speech = studio.speak("[happy] Great news! [sad:0.6] But we have to leave.", seed=0)
    speech.save("news.wav")
    clip = studio.talk(text="Who left the door open?", emotion="quietly furious", portrait="me.jpg")
    clip.save("door.mp4")

Models load on first use and are kept, so a Studio serves many requests quickly. Voices are
cached per path.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..conditioning import EmotionSpec
from ..errors import EmostudioError
from ..generation.media import atomic_output, check_output_path
from ..generation.speech import SegmentTiming, SpeechResult, make_timeline, resolve_emotion

# Each operation imports its own generator, so speaking does not load the face stack and styling
# footage loads neither.
if TYPE_CHECKING:
    from ..generation.face.talking_head import TalkingHeadBackend
    from ..generation.speech.piper import PiperSpeechBackend

Progress = Callable[[int, int], None]


@dataclass
class TalkingHeadResult:
    """A rendered clip: the MP4 (in the studio's work folder until saved) and what it shows."""

    video_path: Path
    duration: float
    frames: int
    fps: float
    segments: list[SegmentTiming]
    warnings: list[str] = field(default_factory=list)
    animation_path: Path | None = None  # ARKit blendshapes, when asked for

    @property
    def emotions(self) -> list[EmotionSpec]:
        return [segment.spec for segment in self.segments]

    def save(self, path: str | os.PathLike) -> Path:
        """Copy the clip to ``path`` atomically."""
        target = check_output_path(path, (".mp4",))
        if target.resolve() == self.video_path.resolve():
            return target
        with atomic_output(target) as temporary:
            shutil.copyfile(self.video_path, temporary)
        return target


class Studio:
    """Emotional speech and talking heads with the embedded (CPU) generators."""

    def __init__(self, voice: str | os.PathLike | None = None, work_dir: str | os.PathLike | None = None,
                 look: str | os.PathLike | None = None, speech_model: str | os.PathLike | None = None) -> None:
        self.default_voice = str(voice) if voice else None
        # A neural run folder the app offers beside the Piper voice ('emostudio serve --speech-model').
        self.speech_model = str(speech_model) if speech_model else None
        # A talking-head run folder the app offers beside the face rig ('emostudio serve --talking-head-model').
        self.talking_head_model: str | None = None
        self.look = look  # a fitted GradingHead ('emostudio train grading'); None: the published defaults
        # Without a work folder, a temporary one lives as long as the Studio and is removed after.
        self._temporary = None if work_dir else tempfile.TemporaryDirectory(prefix="emostudio-")
        self.work_dir = Path(work_dir) if work_dir else Path(self._temporary.name)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._speech: dict[str | None, PiperSpeechBackend] = {}
        self._neural: dict[str, object] = {}
        self._head: TalkingHeadBackend | None = None
        self._grader = None
        self._lock = threading.Lock()

    # -- models --------------------------------------------------------------------------------

    def speech_backend(self, voice: str | os.PathLike | None = None) -> PiperSpeechBackend:
        from ..generation.speech.piper import PiperSpeechBackend

        key = str(voice) if voice else self.default_voice
        with self._lock:
            if key not in self._speech:
                shared = next(iter(self._speech.values()), None)
                self._speech[key] = PiperSpeechBackend(key, bank=shared.bank if shared else None,
                                                       prosody_head=shared.prosody_head if shared else None)
            return self._speech[key]

    def neural_backend(self, model: str | os.PathLike):
        """The neural speech backend of a run folder (checked at once, models loaded on first use)."""
        from ..generation.speech.neural import NeuralSpeechBackend

        key = f"neural:{Path(model).resolve()}"
        with self._lock:
            if key not in self._neural:
                self._neural[key] = NeuralSpeechBackend(model)
            return self._neural[key]

    def head_backend(self) -> TalkingHeadBackend:
        from ..generation.face.talking_head import WarpTalkingHead

        with self._lock:
            if self._head is None:
                self._head = WarpTalkingHead()
            return self._head

    def diffusion_backend(self, model: str | os.PathLike, lora: str | os.PathLike | None = None,
                          emotion_scale: float | None = None, steps: int | None = None):
        """The neural talking head of a run folder (and face LoRA), checked at once and loaded on first use."""
        from ..generation.face.diffusion import DiffusionTalkingHead

        key = f"diffusion:{Path(model).resolve()}:{Path(lora).resolve() if lora else ''}"
        with self._lock:
            if key not in self._neural:
                self._neural[key] = DiffusionTalkingHead(model, lora)
            backend = self._neural[key]
        return backend.with_options(emotion_scale=emotion_scale, steps=steps)

    def grader(self):
        """The footage grader (GradingHead on the same Emotion Bank as the other generators)."""
        from ..generation.video.grading import FootageGrader, load_look

        with self._lock:
            if self._grader is None:
                self._grader = FootageGrader(head=load_look(self.look) if self.look is not None else None)
            return self._grader

    # -- operations ----------------------------------------------------------------------------

    @staticmethod
    def resolve(emotion: EmotionSpec | str | None, intensity: float | None = None) -> EmotionSpec:
        """The spec any emotion form resolves to (see ``EmotionSpec.parse``)."""
        return resolve_emotion(emotion, intensity)

    @staticmethod
    def emotion_from(clip: str | os.PathLike, embedder: str | os.PathLike | None = None) -> EmotionSpec:
        """The emotion of a reference recording (audio or video), without its identity."""
        from ..generation.analysis import spec_from_clip

        return spec_from_clip(clip, str(embedder) if embedder else None)

    def speak(self, text: str, emotion: EmotionSpec | str | None = None, intensity: float | None = None,
              voice: str | os.PathLike | None = None, seed: int | None = None,
              model: str | os.PathLike | None = None) -> SpeechResult:
        """Speak ``text`` (inline ``[emotion]`` tags allowed); ``result.save(path)`` writes it.

        ``model``: a neural run folder ('emostudio train tts' or 'train voice') instead of a Piper voice.
        """
        timeline = make_timeline(text, self.resolve(emotion, intensity))
        backend = self.neural_backend(model) if model else self.speech_backend(voice)
        return backend.synthesize(timeline, seed=seed)

    def style(self, source: str | os.PathLike, emotion: EmotionSpec | str | None = None,
              intensity: float | None = None, seed: int | None = None, size: int | None = None,
              duration: float | None = None, output: str | os.PathLike | None = None,
              export_lut: str | os.PathLike | None = None, progress: Progress | None = None):
        """``source`` (a video or a still) told in ``emotion``: a spec, or a timeline such as
        ``[happy] [sad @4s]``. Returns a :class:`~emostudio.generation.video.grading.StyleResult`."""
        from ..conditioning.timeline import TimedTimeline, has_markup

        if isinstance(emotion, str) and has_markup(emotion):
            timeline = TimedTimeline.parse(emotion)
        else:
            timeline = TimedTimeline.constant(self.resolve(emotion))
        output = output or self._work_file("style-", ".mp4")
        return self.grader().style(source, output, timeline, intensity=intensity, seed=seed or 0, size=size,
                                   duration=duration, export_lut=export_lut, progress=progress)

    def _work_file(self, prefix: str, suffix: str) -> str:
        handle, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=self.work_dir)
        os.close(handle)
        os.unlink(name)
        return name

    def talk(self, text: str | None = None, audio: str | os.PathLike | None = None,
             emotion: EmotionSpec | str | None = None, intensity: float | None = None,
             portrait: str | os.PathLike | None = None, voice: str | os.PathLike | None = None,
             size: int | None = None, fps: float | None = None, seed: int | None = None,
             output: str | os.PathLike | None = None, progress: Progress | None = None,
             style: bool = False, model: str | os.PathLike | None = None, backend: str = "warp",
             lora: str | os.PathLike | None = None, emotion_scale: float | None = None,
             steps: int | None = None, blendshapes: str | os.PathLike | None = None,
             video: bool = True) -> TalkingHeadResult:
        """A talking-head clip of ``portrait`` saying ``text`` or lip-syncing ``audio``.

        ``style=True`` also grades the clip with the same emotions over the same times (GradingHead),
        so voice, face and scene tell one emotion. ``size`` and ``fps`` default to 512 and 25.
        ``blendshapes`` (.json/.csv) also writes the animation as ARKit blendshape weights per frame;
        ``video=False`` writes only that animation (and its sound).
        """
        from ..generation.face.talking_head import DEFAULT_FPS, DEFAULT_SIZE, talk

        if not video and style:
            raise EmostudioError("--style grades the video; drop it with --no-video.")
        if not video:
            output = None
        elif output is None:
            output = self._work_file("talk-", ".mp4")
        if style:
            check_output_path(output, (".mp4",))
        # ``model``: speak the text with a neural run folder instead of a Piper voice.
        speech_backend = None
        if backend == "diffusion":
            # ``model`` is the talking-head run here; the text is spoken by the embedded voice.
            if not model:
                raise EmostudioError("The diffusion backend needs a model: a folder from 'emostudio train "
                                     "talking-head'.")
            head_backend = self.diffusion_backend(model, lora, emotion_scale, steps)
            if text is not None:
                speech_backend = self.speech_backend(voice)
        else:
            head_backend = self.head_backend()
            if text is not None:
                speech_backend = self.neural_backend(model) if model else self.speech_backend(voice)
        rendered = self._work_file("face-", ".mp4") if style else output
        result = talk(rendered, text=text, audio=audio, emotion=emotion, intensity=intensity, portrait=portrait,
                      size=DEFAULT_SIZE if size is None else size, fps=DEFAULT_FPS if fps is None else fps,
                      seed=seed, speech_backend=speech_backend,
                      head_backend=head_backend, progress=progress, blendshapes=blendshapes, video=video)
        if style:
            from ..conditioning.timeline import TimedTimeline

            segments = result.segments
            starts = (0.0, *((a.end + b.start) / 2 for a, b in zip(segments[:-1], segments[1:])))
            self.grader().style(rendered, output, TimedTimeline(starts, tuple(s.spec for s in segments)),
                                seed=seed or 0)
            Path(rendered).unlink(missing_ok=True)
            result.path = Path(output)
        return TalkingHeadResult(None if result.path is None else Path(result.path), result.duration, result.frames,
                                 result.fps, result.segments, result.warnings, result.animation)
