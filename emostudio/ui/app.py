"""The Gradio app: Speak, Talking head, Emotion lab and Batch, on one shared :class:`Studio`.

A thin layer: every operation calls the Studio (or the batch runner), so the app, the CLI and the
Python API give the same results and the same one-sentence errors. Start it with ``emostudio serve``.
"""

from __future__ import annotations

import functools
import os
import random
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

# Set before Gradio is imported, which reads it: the app never phones home.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Ellipse  # noqa: E402

from ..conditioning import CATEGORIES, EmotionSpec  # noqa: E402
from ..conditioning.describe import MAX_DESCRIPTION_CHARS  # noqa: E402
from ..conditioning.timeline import Timeline, has_markup  # noqa: E402
from ..errors import EmostudioError  # noqa: E402
from ..generation.media import MAX_AUDIO_SECONDS  # noqa: E402
from ..generation.speech.analysis import pitch_contour  # noqa: E402
from ..generation.speech.base import MAX_TEXT_CHARS, SegmentTiming  # noqa: E402
from .studio import Studio  # noqa: E402

MAX_UPLOAD = "25mb"
SIZES = (256, 384, 512)
DEFAULT_APP_SIZE = 384
LAB_SENTENCE = "I can't believe what just happened."
LAB_EMOTION = "happy"
BATCH_COLUMNS = ("id", "task", "state", "output", "error")
MODES = (("Category", "category"), ("Mix", "mixture"), ("Describe", "description"))
MARKUP_NOTE = ("Inline tags in the text override this emotion from where they stand, segment by segment: "
               "`[happy] Great news! [sad:0.6] But we have to leave.`")

CATEGORY_COLORS = {
    "neutral": "#7f7f7f", "happy": "#e6a700", "sad": "#1f77b4", "angry": "#d62728", "fearful": "#9467bd",
    "disgusted": "#2ca02c", "surprised": "#ff7f0e", "contempt": "#8c564b",
}
# Label offsets (points) and alignment where two categories sit close together on the plane.
LABEL_PLACEMENT = {"fearful": (-8, 8, "right"), "angry": (8, -14, "left")}

# Columns: text, emotion mode, category, intensity, mixture, description, seed. None leaves a control as it is.
SPEAK_EXAMPLES = [
    ["I can't believe it, we actually won the match!", "mixture", None, None, "happy:0.7+surprised:0.3", None, 0],
    ["[happy] Great news! [sad:0.6] But we have to leave.", "category", "neutral", 1.0, None, None, 0],
    ["Who left the door open?", "description", None, None, None, "quietly furious", 0],
    ["Please, just tell me the truth.", "category", "sad", 0.8, None, None, 0],
]
TALK_EXAMPLES = [
    [None, "[happy] Great news! [sad:0.6] But we have to leave.", None, "category", "neutral", 1.0, None, None, 256, 0],
    [None, "Who left the door open?", None, "description", None, None, None, "quietly furious", 256, 0],
]

F = TypeVar("F", bound=Callable[..., Any])


# -- errors ------------------------------------------------------------------------------------

def user_errors(fn: F) -> F:
    """Show an :class:`EmostudioError` as ``gr.Error`` with the same sentence the CLI prints."""

    @functools.wraps(fn)  # keeps the signature, so Gradio still finds the gr.Progress parameter
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except EmostudioError as error:
            raise gr.Error(str(error), print_exception=False) from error

    return wrapper  # type: ignore[return-value]


# -- emotion input -----------------------------------------------------------------------------

@dataclass
class EmotionInput:
    """The emotion controls of one tab; ``components`` are the inputs of :func:`emotion_string`."""

    mode: gr.Radio
    category: gr.Dropdown
    intensity: gr.Slider
    mixture: gr.Textbox
    description: gr.Textbox
    resolved: gr.Markdown

    @property
    def components(self) -> list[gr.components.Component]:
        return [self.mode, self.category, self.intensity, self.mixture, self.description]


def emotion_string(mode: str, category: str | None, intensity: float | None, mixture: str | None,
                   description: str | None) -> str:
    """The emotion, in the text form Studio reads, that the controls ask for."""
    if mode == "mixture":
        if not (mixture or "").strip():
            raise EmostudioError("The mixture is empty; write categories with amounts such as "
                                 "'happy:0.7+surprised:0.3'.")
        return mixture.strip()  # type: ignore[union-attr]
    if mode == "description":
        if not (description or "").strip():
            raise EmostudioError("The description is empty; describe the feeling in a few words, such as "
                                 "'quietly furious'.")
        return description.strip()  # type: ignore[union-attr]
    if mode != "category":
        raise EmostudioError(f"Unknown emotion mode {mode!r}; choose Category, Mix or Describe.")
    name = category or "neutral"
    level = 1.0 if intensity is None else float(intensity)
    return f"{name}:{level:g}"


def emotion_spec(mode: str, category: str | None, intensity: float | None, mixture: str | None,
                 description: str | None) -> EmotionSpec:
    """The spec the controls resolve to (descriptions go through the sentence-embedding model)."""
    return Studio.resolve(emotion_string(mode, category, intensity, mixture, description))


def preview_emotion(mode: str, category: str | None, intensity: float | None, mixture: str | None,
                    description: str | None) -> str:
    """Markdown naming the mixture the controls resolve to, or what is wrong with them."""
    try:
        spec = emotion_spec(mode, category, intensity, mixture, description)
    except EmostudioError as error:
        return f"⚠️ {error}"
    return f"**Resolves to:** {spec.describe()}"


def _mode_visibility(mode: str) -> list[Any]:
    return [gr.update(visible=mode == shown) for shown in ("category", "mixture", "description")]


def emotion_input(prefix: str, category: str = "neutral", intensity: float = 1.0) -> EmotionInput:
    """Build the emotion controls inside the current Blocks context and wire their preview."""
    with gr.Group():
        mode = gr.Radio(list(MODES), value="category", label="Emotion",
                        info="a category, a mix of categories, or a description in your own words",
                        elem_id=f"{prefix}-emotion-mode")
        with gr.Row(visible=True) as category_row:
            category_box = gr.Dropdown(list(CATEGORIES), value=category, label="Category",
                                       elem_id=f"{prefix}-category")
            intensity_slider = gr.Slider(0.0, 1.0, value=intensity, step=0.05, label="Intensity",
                                         elem_id=f"{prefix}-intensity")
        with gr.Row(visible=False) as mixture_row:
            mixture = gr.Textbox(label="Mixture", placeholder="happy:0.7+surprised:0.3",
                                 info="amounts per category; they add up to the intensity, so at most 1",
                                 elem_id=f"{prefix}-mixture")
        with gr.Row(visible=False) as description_row:
            description = gr.Textbox(label="Description", placeholder="quietly furious",
                                     max_length=MAX_DESCRIPTION_CHARS,
                                     info="a few words; press Enter to see what it resolves to",
                                     elem_id=f"{prefix}-description")
        resolved = gr.Markdown(preview_emotion("category", category, intensity, "", ""),
                               elem_id=f"{prefix}-resolved", padding=True)
        gr.Markdown(MARKUP_NOTE, padding=True)
    controls = EmotionInput(mode, category_box, intensity_slider, mixture, description, resolved)
    inputs = controls.components
    mode.change(_mode_visibility, mode, [category_row, mixture_row, description_row], queue=False,
                show_progress="hidden")
    for trigger in (mode.change, category_box.change, intensity_slider.release, mixture.submit, mixture.blur,
                    description.submit, description.blur):
        trigger(preview_emotion, inputs, resolved, show_progress="minimal")
    return controls


# -- plots -------------------------------------------------------------------------------------

def learned_bank_plot() -> Figure | None:
    """The bundled trained bank's prototypes and codebook, or nothing when none is installed."""
    from ..generation.analysis import load_embedder
    from .plots import learned_bank_figure

    try:
        _, bank = load_embedder()
    except EmostudioError:
        return None
    return learned_bank_figure(bank)


def va_figure(spec: EmotionSpec | None = None, bank: Any = None) -> Figure:
    """The bank's category prototypes on the valence-arousal plane, with ``spec``'s point marked.

    Each ellipse is the prototype's one-standard-deviation Gaussian projected back to VAD units.
    """
    import torch

    if bank is None:
        from ..conditioning import EmotionBank

        bank = EmotionBank()
    with torch.no_grad():
        projection = bank.vad_projection.double()  # (D, 3), orthonormal columns
        scale = float(bank.config.prior_scale)
        centers = (bank.prototype_mean.double() @ projection / scale).numpy()
        variances = torch.exp(bank.prototype_logvar.double())
        vad = bank.prototype_vad.double().numpy()

    figure = Figure(figsize=(5.6, 5.2), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    for index, name in enumerate(bank.categories):
        color = CATEGORY_COLORS.get(name, "#333333")
        with torch.no_grad():
            covariance = (projection.T @ torch.diag(variances[index]) @ projection).numpy()[:2, :2] / scale**2
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)
        angle = float(np.degrees(np.arctan2(eigenvectors[1, 1], eigenvectors[0, 1])))
        width, height = 2 * np.sqrt(np.maximum(eigenvalues[::-1], 0.0))
        axes.add_patch(Ellipse((centers[index, 0], centers[index, 1]), width, height, angle=angle,
                               facecolor=color, alpha=0.18, edgecolor=color))
        axes.plot(vad[index, 0], vad[index, 1], "o", color=color, markersize=7)
        dx, dy, align = LABEL_PLACEMENT.get(name, (6, 6, "left"))
        axes.annotate(name, (vad[index, 0], vad[index, 1]), xytext=(dx, dy), textcoords="offset points",
                      ha=align, fontsize=10, color=color, fontweight="bold")
    if spec is not None:
        valence, arousal, _ = spec.vad
        axes.plot([0, valence], [0, arousal], "--", color="black", linewidth=1)
        axes.plot(valence, arousal, "*", color="black", markersize=16, label="your emotion")
        axes.legend(loc="lower right")
        axes.set_title(f"Prototypes and your emotion\n({str(spec)})", fontsize=11)
    else:
        axes.set_title("Emotion prototypes", fontsize=11)
    axes.axhline(0, color="#cccccc", linewidth=0.8, zorder=0)
    axes.axvline(0, color="#cccccc", linewidth=0.8, zorder=0)
    axes.set_xlim(-1, 1)
    axes.set_ylim(-1, 1)
    axes.set_aspect("equal")
    axes.set_xlabel("valence (unpleasant → pleasant)")
    axes.set_ylabel("arousal (calm → excited)")
    axes.grid(alpha=0.3)
    return figure


def voice_contour(audio: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Pitch contour with the range fitted to the voice, which removes most octave jumps.

    Two passes after De Looze & Hirst (2008): a wide first pass, then floor 0.75 x Q1 and ceiling
    1.5 x Q3 of its voiced frames.
    """
    times, f0 = pitch_contour(audio, rate)
    voiced = f0[~np.isnan(f0)]
    if len(voiced) < 5:
        return times, f0
    q1, q3 = np.percentile(voiced, [25, 75])
    return pitch_contour(audio, rate, floor=max(40.0, 0.75 * q1), ceiling=1.5 * q3)


def pitch_figure(neutral: tuple[np.ndarray, int], emotional: tuple[np.ndarray, int], label: str) -> Figure:
    """Pitch contours of the neutral and the emotional take, with the mean F0 shift in the title."""
    figure = Figure(figsize=(7.0, 4.0), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    means = []
    for (audio, rate), name, color in ((neutral, "neutral", "#7f7f7f"), (emotional, label, "#d62728")):
        times, f0 = voice_contour(audio, rate)
        axes.plot(times, f0, ".-", color=color, markersize=3, linewidth=1.2, label=name)
        voiced = f0[~np.isnan(f0)]
        means.append(float(voiced.mean()) if len(voiced) else float("nan"))
    if all(np.isfinite(means)) and min(means) > 0:
        shift = 12 * np.log2(means[1] / means[0])
        axes.set_title(f"Mean F0 {means[0]:.0f} Hz → {means[1]:.0f} Hz ({shift:+.1f} semitones)", fontsize=11)
    else:
        axes.set_title("Pitch contour (too little voiced speech to compare means)", fontsize=11)
    axes.set_xlabel("time (s)")
    axes.set_ylabel("F0 (Hz)")
    axes.grid(alpha=0.3)
    axes.legend(loc="upper right")
    return figure


# -- handlers ----------------------------------------------------------------------------------

def _segments_markdown(segments: Sequence[SegmentTiming], headline: str) -> str:
    lines = [headline, "", "| segment | emotion | time |", "|---|---|---|"]
    for segment in segments:
        text = segment.text.replace("|", "\\|")
        lines.append(f"| {text} | {segment.spec.describe()} | {segment.start:.2f}–{segment.end:.2f} s |")
    return "\n".join(lines)


def _example_labels(examples: list[list[Any]], text_column: int, emotion_column: int) -> list[str]:
    """'text · emotion' per example row; the five emotion controls' values start at ``emotion_column``."""
    labels = []
    for row in examples:
        mode, category, intensity, mixture, description = row[emotion_column:emotion_column + 5]
        emotion = {"mixture": mixture, "description": description}.get(mode) or f"{category}:{intensity:g}"
        labels.append(f"{row[text_column]}  ·  {emotion}")
    return labels


def before_after(source: str | os.PathLike, styled: str | os.PathLike, still: bool):
    """The middle frame of the styled clip beside the same moment of the input, as one picture."""
    from PIL import Image

    from ..generation.face.perception import load_image
    from ..generation.media import read_video_frames, read_video_info

    frames = read_video_info(styled)["frames"] or 1
    after = next(frame for index, frame in enumerate(read_video_frames(styled)) if index >= frames // 2)
    if still:
        before = load_image(source)
    else:
        before = next(frame for index, frame in enumerate(read_video_frames(source)) if index >= frames // 2)
    height = min(after.shape[0], 360)
    pictures = [Image.fromarray(p).resize((round(p.shape[1] * height / p.shape[0]), height)) for p in (before, after)]
    sheet = Image.new("RGB", (pictures[0].width + pictures[1].width + 8, height), "white")
    sheet.paste(pictures[0], (0, 0))
    sheet.paste(pictures[1], (pictures[0].width + 8, 0))
    return sheet


PIPER_CHOICE, NEURAL_CHOICE = "Piper (embedded)", "Neural (trained model)"
WARP_CHOICE, DIFFUSION_CHOICE = "Face rig (CPU)", "Diffusion model"


def _seed(value: float | None) -> int | None:
    return None if value is None else int(value)


class Handlers:
    """The app's event handlers, all on one shared Studio."""

    def __init__(self, studio: Studio) -> None:
        self.studio = studio

    def _new_path(self, prefix: str, suffix: str) -> Path:
        handle, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=self.studio.work_dir)
        os.close(handle)
        return Path(name)

    @user_errors
    def speak(self, text: str, mode: str, category: str | None, intensity: float | None, mixture: str | None,
              description: str | None, seed: float | None, backend: str = PIPER_CHOICE) -> tuple[str, str]:
        emotion = emotion_string(mode, category, intensity, mixture, description)
        model = self.studio.speech_model if backend == NEURAL_CHOICE else None
        result = self.studio.speak(text, emotion, seed=_seed(seed), model=model)
        path = result.save(self._new_path("speak-", ".wav"))
        return str(path), _segments_markdown(result.segments, f"**{result.duration:.1f} s** of speech")

    @user_errors
    def talk(self, portrait: str | None, text: str | None, audio: str | None, mode: str, category: str | None,
             intensity: float | None, mixture: str | None, description: str | None, size: int | str,
             seed: float | None, backend: str = WARP_CHOICE, progress: gr.Progress = gr.Progress()
             ) -> tuple[str, str]:
        emotion = emotion_string(mode, category, intensity, mixture, description)
        text = text if text and text.strip() else None
        diffusion = backend == DIFFUSION_CHOICE and self.studio.talking_head_model is not None
        progress(0, desc="Preparing the face and the voice")

        def frames_done(done: int, total: int) -> None:
            progress((done, total), desc="Rendering frames", unit="frames")

        result = self.studio.talk(text=text, audio=audio or None, emotion=emotion, portrait=portrait or None,
                                  size=int(size), seed=_seed(seed), progress=frames_done,
                                  **({"backend": "diffusion", "model": self.studio.talking_head_model}
                                     if diffusion else {}))
        headline = f"**{result.duration:.1f} s**, {result.frames} frames at {result.fps:g} fps"
        summary = _segments_markdown(result.segments, headline)
        if result.warnings:
            summary += "\n\n" + "\n".join(f"*Note: {warning}*" for warning in result.warnings)
        return str(result.video_path), summary

    @user_errors
    def style(self, footage: str | None, timeline: str | None, mode: str, category: str | None,
              intensity: float | None, mixture: str | None, description: str | None, duration: float,
              seed: float | None, progress: gr.Progress = gr.Progress()) -> tuple[str, str, str, str]:
        from ..generation.video.grading import STILL_SUFFIXES

        if not footage:
            raise EmostudioError("Upload a video or a still image to style first.")
        emotion = timeline.strip() if timeline and timeline.strip() else emotion_string(mode, category, intensity,
                                                                                         mixture, description)
        still = Path(footage).suffix.lower() in STILL_SUFFIXES
        progress(0, desc="Reading the footage")

        def frames_done(done: int, total: int) -> None:
            progress((done, total), desc="Grading frames", unit="frames")

        lut = self._new_path("look-", ".cube")
        result = self.studio.style(footage, emotion, seed=_seed(seed), duration=float(duration) if still else None,
                                   output=self._new_path("style-", ".mp4"), export_lut=lut, progress=frames_done)
        comparison = self._new_path("before-after-", ".jpg")
        before_after(footage, result.path, still).save(comparison, quality=88)
        how = "copied untouched (intensity 0)" if result.copied else f"{result.width}x{result.height}"
        summary = (f"**{result.duration:.1f} s**, {how}; emotion `{result.timeline.describe()}`. The LUT holds the "
                   "look's colour at the start (load it in Resolve, Premiere or FFmpeg's lut3d).")
        return str(result.path), str(comparison), str(lut), summary

    @user_errors
    def lab(self, text: str, mode: str, category: str | None, intensity: float | None, mixture: str | None,
            description: str | None, seed: float | None) -> tuple[Figure, Figure, str]:
        spec = emotion_spec(mode, category, intensity, mixture, description)
        backend = self.studio.speech_backend()
        space = va_figure(spec, backend.bank)
        take_seed = _seed(seed) if seed is not None else random.randrange(2**31)
        emotional = self.studio.speak(text, spec, seed=take_seed)
        plain = Timeline.parse(text).text if has_markup(text) else text
        neutral = self.studio.speak(plain, "neutral", seed=take_seed)
        label = str(spec) if plain == text else "with the text's tags"
        pitch = pitch_figure((neutral.waveform, neutral.sample_rate),
                             (emotional.waveform, emotional.sample_rate), label)
        note = (f"**{spec.describe()}**; both takes use seed {take_seed}. "
                + ("Tags in the text set the emotional take's emotion per segment; the neutral take drops them."
                   if plain != text else ""))
        return space, pitch, note

    @user_errors
    def batch(self, jobs: str | None, progress: gr.Progress = gr.Progress()) -> tuple[list[list[str]], str, str]:
        if not jobs:
            raise EmostudioError("Upload a jobs file (.jsonl or .csv) first.")
        from .batch import run_batch

        out = Path(tempfile.mkdtemp(prefix="batch-", dir=self.studio.work_dir))
        progress(0, desc="Checking the jobs")

        def jobs_done(done: int, total: int) -> None:
            progress((done, total), desc="Running jobs", unit="jobs")

        summary = run_batch(jobs, out, progress=jobs_done, studio=self.studio)
        rows = [[str(row.get(column, "") or "") for column in BATCH_COLUMNS] for row in summary.rows]
        archive = shutil.make_archive(str(out), "zip", root_dir=out)
        text = (f"{summary.total} jobs: **{summary.done} done**, {summary.skipped} skipped, "
                f"**{summary.failed} failed**. The zip holds the outputs and `manifest.jsonl`.")
        return rows, archive, text


# -- the app -----------------------------------------------------------------------------------

def build_app(studio: Studio | None = None) -> gr.Blocks:
    """The five-tab app on ``studio`` (a new one by default), queued for one CPU job at a time."""
    # Gradio runs handlers in threads, and diffusers' lazy module loading is not thread-safe: load the
    # neural adapters (which subclass diffusers' ModelMixin) once here, before any handler can race.
    from ..conditioning import adapters, bank, heads  # noqa: F401

    handlers = Handlers(studio or Studio())
    # Gradio's concurrency limit is per event listener; one shared id makes it one job at a time overall.
    heavy = {"concurrency_id": "cpu", "concurrency_limit": 1}
    with gr.Blocks(title="emostudio", analytics_enabled=False, delete_cache=(3600, 86400)) as app:
        gr.Markdown("# emostudio\nEmotion-controlled speech, talking heads and video, running on this machine's "
                    "CPU.")
        with gr.Tabs():
            with gr.Tab("Speak", id="speak"):
                with gr.Row():
                    with gr.Column():
                        speak_text = gr.Textbox(label="Text", lines=3, max_length=MAX_TEXT_CHARS,
                                                placeholder="What a wonderful day!", elem_id="speak-text")
                        speak_emotion = emotion_input("speak")
                        speak_seed = gr.Number(0, precision=0, label="Seed",
                                               info="the same seed gives the same take; clear it for a new one")
                        # The neural voice is offered only when a model folder was configured.
                        speak_backend = gr.Radio([PIPER_CHOICE, NEURAL_CHOICE], value=PIPER_CHOICE, label="Voice",
                                                 visible=handlers.studio.speech_model is not None,
                                                 elem_id="speak-backend")
                        speak_button = gr.Button("Generate", variant="primary", elem_id="speak-generate")
                    with gr.Column():
                        speak_audio = gr.Audio(type="filepath", label="Speech", interactive=False, buttons=["download"],
                                               elem_id="speak-audio")
                        speak_summary = gr.Markdown(elem_id="speak-summary")
                speak_inputs = [speak_text, *speak_emotion.components, speak_seed]
                speak_outputs = [speak_audio, speak_summary]
                speak_button.click(handlers.speak, [*speak_inputs, speak_backend], speak_outputs, **heavy)
                speak_text.submit(handlers.speak, [*speak_inputs, speak_backend], speak_outputs, **heavy)
                examples = gr.Examples(SPEAK_EXAMPLES, speak_inputs, cache_examples=False,
                                       label="Examples (click one to speak it)",
                                       example_labels=_example_labels(SPEAK_EXAMPLES, 0, 1))
                examples.load_input_event.then(handlers.speak, [*speak_inputs, speak_backend], speak_outputs, **heavy)

            with gr.Tab("Talking head", id="talk"):
                with gr.Row():
                    with gr.Column():
                        portrait = gr.Image(type="filepath", label="Portrait (optional; empty uses the bundled "
                                            "portrait)", sources=["upload", "clipboard"], height=260,
                                            elem_id="talk-portrait")
                        talk_text = gr.Textbox(label="Text", lines=2, max_length=MAX_TEXT_CHARS,
                                               placeholder="Who left the door open?", elem_id="talk-text")
                        talk_audio = gr.Audio(type="filepath", sources=["upload", "microphone"],
                                              label=f"…or a recording to lip-sync (up to {MAX_AUDIO_SECONDS} s; "
                                              "give text or a recording, not both)", elem_id="talk-audio")
                        talk_emotion = emotion_input("talk")
                        with gr.Row():
                            size = gr.Radio(list(SIZES), value=DEFAULT_APP_SIZE, label="Size (pixels)",
                                            elem_id="talk-size")
                            talk_seed = gr.Number(0, precision=0, label="Seed")
                        # The diffusion talking head is offered only when a model folder was configured.
                        talk_backend = gr.Radio([WARP_CHOICE, DIFFUSION_CHOICE], value=WARP_CHOICE, label="Backend",
                                                visible=handlers.studio.talking_head_model is not None,
                                                elem_id="talk-backend")
                        talk_button = gr.Button("Generate", variant="primary", elem_id="talk-generate")
                    with gr.Column():
                        video = gr.Video(label="Talking head", interactive=False, buttons=["download"],
                                         elem_id="talk-video")
                        talk_summary = gr.Markdown(elem_id="talk-summary")
                talk_inputs = [portrait, talk_text, talk_audio, *talk_emotion.components, size, talk_seed]
                talk_outputs = [video, talk_summary]
                talk_button.click(handlers.talk, [*talk_inputs, talk_backend], talk_outputs, **heavy)
                talk_examples = gr.Examples(TALK_EXAMPLES, talk_inputs, cache_examples=False,
                                            label="Examples (click one to render it)",
                                            example_labels=_example_labels(TALK_EXAMPLES, 1, 3))
                talk_examples.load_input_event.then(handlers.talk, talk_inputs, talk_outputs, **heavy)

            with gr.Tab("Emotion lab", id="lab"):
                gr.Markdown("Where the emotion sits among the eight category prototypes, and what it does to the "
                            "voice: the same sentence and seed spoken neutrally and with the emotion.")
                with gr.Row():
                    with gr.Column(scale=1):
                        lab_text = gr.Textbox(LAB_SENTENCE, label="Sentence", max_length=MAX_TEXT_CHARS,
                                              elem_id="lab-text")
                        lab_emotion = emotion_input("lab", category=LAB_EMOTION)
                        lab_seed = gr.Number(0, precision=0, label="Seed")
                        lab_button = gr.Button("Show", variant="primary", elem_id="lab-show")
                        lab_note = gr.Markdown(elem_id="lab-note")
                    with gr.Column(scale=2):
                        space_plot = gr.Plot(label="Valence-arousal plane", format="png", elem_id="lab-space")
                        pitch_plot = gr.Plot(label="Pitch contour", format="png", elem_id="lab-pitch")
                        bank_plot = gr.Plot(label="Learned Emotion Bank (trained embedder)", format="png",
                                            elem_id="lab-bank")
                lab_inputs = [lab_text, *lab_emotion.components, lab_seed]
                lab_outputs = [space_plot, pitch_plot, lab_note]
                lab_button.click(handlers.lab, lab_inputs, lab_outputs, **heavy)
                app.load(handlers.lab, lab_inputs, lab_outputs, **heavy)
                app.load(learned_bank_plot, None, bank_plot)

            with gr.Tab("Video", id="video"):
                gr.Markdown("Tell footage in an emotion: colour, light, texture and camera motion. A still image "
                            "becomes a short clip with a gentle camera move; a video keeps its sound.")
                with gr.Row():
                    with gr.Column():
                        footage = gr.File(label="Footage (video) or a still image",
                                          file_types=["video", "image"], type="filepath", elem_id="style-input")
                        style_emotion = emotion_input("style")
                        style_timeline = gr.Textbox(label="…or an emotion timeline (overrides the emotion above)",
                                                    placeholder="[calm] [fearful @4s] [sad:0.6 @9s]",
                                                    elem_id="style-timeline")
                        with gr.Row():
                            style_duration = gr.Slider(1, 30, value=6, step=1, label="Seconds (for a still)")
                            style_seed = gr.Number(0, precision=0, label="Seed")
                        style_button = gr.Button("Generate", variant="primary", elem_id="style-generate")
                    with gr.Column():
                        styled = gr.Video(label="Styled", interactive=False, buttons=["download"],
                                          elem_id="style-video")
                        comparison = gr.Image(label="Before | after (middle frame)", interactive=False,
                                              elem_id="style-compare")
                        look = gr.File(label="The look as a 3D LUT (.cube)", interactive=False, elem_id="style-lut")
                        style_summary = gr.Markdown(elem_id="style-summary")
                style_inputs = [footage, style_timeline, *style_emotion.components, style_duration, style_seed]
                style_button.click(handlers.style, style_inputs, [styled, comparison, look, style_summary],
                                   **heavy)

            with gr.Tab("Batch", id="batch"):
                gr.Markdown("Run many jobs from a JSONL or CSV file with the columns `id`, `task` (speak or "
                            "talk or style), `text`, `emotion`, and optionally `intensity`, `portrait`, `audio`, "
                            "`voice`, `input` (style), `seed`, `size`, `fps`, `duration`. Every row is checked before anything runs. Paths in the file "
                            "must be absolute on this machine.")
                jobs = gr.File(label="Jobs file (.jsonl or .csv)", file_types=[".jsonl", ".csv"], type="filepath",
                               elem_id="batch-jobs")
                batch_button = gr.Button("Run", variant="primary", elem_id="batch-run")
                batch_summary = gr.Markdown(elem_id="batch-summary")
                table = gr.Dataframe(headers=list(BATCH_COLUMNS), interactive=False, wrap=True,
                                     elem_id="batch-table")
                archive = gr.File(label="Outputs (zip)", interactive=False, elem_id="batch-zip")
                batch_button.click(handlers.batch, jobs, [table, archive, batch_summary], **heavy)
    app.queue(default_concurrency_limit=1, max_size=16)
    return app


def launch(host: str = "127.0.0.1", port: int = 7860, speech_model: str | None = None,
           talking_head_model: str | None = None) -> None:
    """Serve the app until interrupted; local only (no share link, no analytics)."""
    studio = Studio(speech_model=speech_model)
    studio.talking_head_model = talking_head_model
    app = build_app(studio)
    print(f"emostudio app on http://{host}:{port} (models load on first use; Ctrl+C stops it)", flush=True)
    app.launch(server_name=host, server_port=port, share=False, max_file_size=MAX_UPLOAD, ssr_mode=False,
               allowed_paths=[str(studio.work_dir)], mcp_server=False, quiet=True)
