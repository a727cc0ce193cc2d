"""Emotion-conditioned text-to-video on Wan2.1: the neural tier of emotion-styled video.

``EmotionVideoPipeline`` is diffusers' Wan2.1 text-to-video pipeline (``WanTransformer3DModel``,
``AutoencoderKLWan``, the UMT5 text encoder and its tokenizer, a flow-matching scheduler) with the
Emotion Bank's tokens attended through the shared decoupled cross-attention adapter
(:mod:`emostudio.conditioning.adapters`): extra key/value projections beside each block's text
cross-attention, outputs initialised at zero. The backbone's own processors run as they are, so
Wan's split of its context into image and text tokens is never reinterpreted.

* The emotion scale is the adapter's own and independent of the text guidance scale: the emotion
  tokens enter both the conditional and the unconditional pass of classifier-free guidance, so
  text guidance never amplifies them. Scale 0 (or an untrained adapter) is the base model exactly.
* The spec's intensity and a timeline (``[calm] [fearful @2s]``) are honoured per latent frame:
  each latent frame gets the tokens of the emotion at its time, with the same smooth transitions as
  the embedded tier's grading.

A run folder of ``emostudio train video-adapter`` holds ``adapter/`` and ``bank/`` (safetensors),
optionally ``lora/``, ``generation.json`` (the size and sampling it was trained for) and either
``backbone/`` (the tiny recipe's own Wan, in diffusers' layout) or, in its run record, the base
model it was tuned on (a local folder such as a copy of ``Wan-AI/Wan2.1-T2V-1.3B-Diffusers``, or
that hub id when the user has it).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import WanPipeline

from ...conditioning.adapters import DecoupledCrossAttentionAdapter, TokenConditioning
from ...conditioning.bank import EmotionBank
from ...conditioning.spec import EmotionSpec
from ...conditioning.timeline import TimedTimeline, smooth_steps
from ...errors import EmostudioError
from ..runs import load_lora, open_run

VIDEO_ADAPTER_KIND = "video-adapter"
EMOTION_STREAM = "emotion"
ADAPTER_FOLDER, BANK_FOLDER, BACKBONE_FOLDER, LORA_FOLDER = "adapter", "bank", "backbone", "lora"
GENERATION_FILE = "generation.json"
LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]
TRANSITION_S = 1.0
"""How long a change of emotion takes on screen, as in the embedded tier's grading."""


@dataclasses.dataclass
class GenerationSettings:
    """What a run was trained for, and so what it generates by default."""

    height: int = 480
    width: int = 832
    num_frames: int = 81
    fps: float = 16.0
    num_inference_steps: int = 50
    guidance_scale: float = 5.0
    max_sequence_length: int = 512

    @classmethod
    def read(cls, folder: str | os.PathLike) -> GenerationSettings:
        path = Path(folder) / GENERATION_FILE
        if not path.is_file():
            return cls()
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
            return cls(**{k: v for k, v in values.items() if k in {f.name for f in dataclasses.fields(cls)}})
        except (ValueError, TypeError, AttributeError, OSError) as error:
            raise EmostudioError(f"{path} is unreadable ({error}); train the model again.") from error

    def write(self, folder: str | os.PathLike) -> Path:
        path = Path(folder) / GENERATION_FILE
        path.write_text(json.dumps(dataclasses.asdict(self), indent=2))
        return path


def as_timeline(emotion: TimedTimeline | EmotionSpec | str | None) -> TimedTimeline:
    if isinstance(emotion, TimedTimeline):
        return emotion
    if isinstance(emotion, EmotionSpec):
        return TimedTimeline.constant(emotion)
    return TimedTimeline.parse(emotion or "neutral")


def latent_frame_times(num_frames: int, temporal_factor: int, fps: float) -> np.ndarray:
    """Seconds at the middle of the pixel frames each latent frame stands for.

    Wan's causal VAE keeps frame 0 alone and folds every ``temporal_factor`` later frames into one.
    """
    latent_frames = (num_frames - 1) // temporal_factor + 1
    centres = [0.0] + [temporal_factor * k - (temporal_factor - 1) / 2 for k in range(1, latent_frames)]
    return np.asarray(centres) / float(fps)


def timeline_tokens(bank: EmotionBank, timeline: TimedTimeline, times: np.ndarray) -> torch.Tensor:
    """(1, F, N, D) bank tokens of the emotion at each time, with smooth transitions between segments.

    The mixture and intensity (not the tokens) are interpolated, so every frame's tokens are ones
    the bank makes for a real mixture.
    """
    weights, intensity = bank.weights_for(list(timeline.specs))
    segments = torch.cat([weights, intensity[:, None]], dim=-1).cpu().numpy()
    curve = torch.as_tensor(smooth_steps(times, timeline.boundaries, segments, TRANSITION_S), dtype=torch.float32)
    curve = curve.to(weights.device)
    with torch.no_grad():
        embedding = bank(curve[:, :-1], curve[:, -1])
    return embedding.tokens[None]


class EmotionVideoPipeline(WanPipeline):
    """Wan2.1 text-to-video with the emotion adapter attached.

    ``pipe(prompt, emotion="fearful", intensity=0.8, emotion_scale=1.0, ...)`` takes Wan's own
    arguments (``height``, ``width``, ``num_frames``, ``guidance_scale``, ``generator``, ...)
    beside the emotion: a spec, a description or a timeline of tags with start times. Without an
    adapter set (``set_emotion_adapter``), it is Wan's pipeline unchanged.
    """

    emotion_adapter: DecoupledCrossAttentionAdapter | None = None
    emotion_bank: EmotionBank | None = None

    def set_emotion_adapter(self, adapter: DecoupledCrossAttentionAdapter, bank: EmotionBank) -> None:
        """Attach ``adapter`` to the transformer (replacing any attached before) with ``bank``'s tokens."""
        if EMOTION_STREAM not in adapter.streams:
            raise EmostudioError(f"This adapter has no {EMOTION_STREAM!r} stream; use one trained by "
                                 "'emostudio train video-adapter'.")
        if self.emotion_adapter is not None:
            self.emotion_adapter.detach(self.transformer)
        adapter.attach(self.transformer)
        self.emotion_adapter = adapter.requires_grad_(False).eval()
        self.emotion_bank = bank.requires_grad_(False).eval()

    @classmethod
    def from_run(cls, run_dir: str | os.PathLike, torch_dtype: torch.dtype | None = None,
                 **kwargs: Any) -> EmotionVideoPipeline:
        """The pipeline of a ``train video-adapter`` run: its backbone, LoRA, adapter and bank."""
        from diffusers.utils import logging as diffusers_logging
        from transformers.utils import logging as transformers_logging

        # Bars for loading local weights are noise on a CLI's stderr.
        diffusers_logging.disable_progress_bar()
        transformers_logging.disable_progress_bar()
        source = Path(run_dir)
        record = check_run(source)
        backbone = source / BACKBONE_FOLDER if (source / BACKBONE_FOLDER).is_dir() else record.get("base_model")
        settings = GenerationSettings.read(source)
        try:
            pipe = cls.from_pretrained(str(backbone), torch_dtype=torch_dtype, **kwargs)
            adapter = DecoupledCrossAttentionAdapter.from_pretrained(str(source / ADAPTER_FOLDER))
            bank = EmotionBank.from_pretrained(str(source / BANK_FOLDER))
        except (OSError, ValueError, KeyError) as error:
            raise EmostudioError(f"The model in {source} could not be loaded ({str(error).splitlines()[0][:200]}); "
                                 "train again or copy the whole folder.") from error
        load_lora(pipe.transformer, source / LORA_FOLDER)
        pipe.set_emotion_adapter(adapter, bank)
        pipe.generation_settings = settings
        pipe.set_progress_bar_config(disable=True)  # callers show their own progress
        return pipe

    def emotion_tokens(self, emotion: TimedTimeline | EmotionSpec | str | None, num_frames: int, fps: float,
                       intensity: float | None = None) -> torch.Tensor:
        """(1, F, N, D) tokens, one set per latent frame of a ``num_frames`` clip at ``fps``."""
        if self.emotion_bank is None:
            raise EmostudioError("No emotion adapter is set; load a run with EmotionVideoPipeline.from_run.")
        timeline = as_timeline(emotion).with_intensity(intensity)
        times = latent_frame_times(num_frames, self.vae_scale_factor_temporal, fps)
        return timeline_tokens(self.emotion_bank, timeline, times)

    def enable_gpu_savings(self, device: str | torch.device = "cuda", offload: bool = True) -> str:
        """On a GPU: model CPU offload (or the whole pipeline on ``device``), VAE tiling, and xformers
        attention when it is installed (SDPA otherwise). Returns the attention used."""
        import importlib.util

        if offload:
            self.enable_model_cpu_offload(device=device)
        else:
            self.to(device)
        self.vae.enable_tiling()
        if importlib.util.find_spec("xformers") is None:
            return "sdpa"
        adapter, bank = self.emotion_adapter, self.emotion_bank
        if adapter is not None:
            adapter.detach(self.transformer)
        self.transformer.set_attention_backend("xformers")
        if adapter is not None:
            self.set_emotion_adapter(adapter, bank)
        return "xformers"

    def __call__(self, prompt: str | list[str] | None = None, *args: Any,
                 emotion: TimedTimeline | EmotionSpec | str | None = "neutral", intensity: float | None = None,
                 emotion_scale: float = 1.0, fps: float = 16.0, num_frames: int = 81, **kwargs: Any):
        if self.emotion_adapter is None or emotion_scale == 0:
            return super().__call__(prompt, *args, num_frames=num_frames, **kwargs)
        device = self._execution_device
        # The adapter is small and lives outside the transformer's modules: keep it beside the transformer.
        self.emotion_adapter.to(device)
        if self.emotion_adapter.dtype != self.transformer.dtype:
            self.emotion_adapter.to(self.transformer.dtype)
        tokens = self.emotion_tokens(emotion, num_frames, fps, intensity).to(device)
        conditioning = TokenConditioning(tokens={EMOTION_STREAM: tokens}, scales={EMOTION_STREAM: float(emotion_scale)},
                                         frames_in_sequence=tokens.shape[1])
        with self.emotion_adapter.conditioned(conditioning):
            return super().__call__(prompt, *args, num_frames=num_frames, **kwargs)


@dataclasses.dataclass(frozen=True)
class GeneratedClip:
    path: Path
    frames: np.ndarray  # (F, H, W, 3) uint8, as written
    fps: float
    timeline: TimedTimeline

    @property
    def duration(self) -> float:
        return len(self.frames) / self.fps


def frames_for(seconds: float, fps: float) -> int:
    """The Wan frame count (4k + 1) closest to ``seconds`` of video at ``fps``."""
    return 4 * max(round((seconds * fps - 1) / 4), 0) + 1


def generate_clip(pipe: EmotionVideoPipeline, prompt: str, emotion: TimedTimeline | EmotionSpec | str | None,
                  output: str | os.PathLike, intensity: float | None = None, emotion_scale: float = 1.0,
                  seed: int = 0, duration: float | None = None, size: int | None = None,
                  num_inference_steps: int | None = None, guidance_scale: float | None = None) -> GeneratedClip:
    """Generate ``prompt`` in ``emotion`` and write it as a signed MP4 (``size``: output height)."""
    import cv2

    from ..media import VIDEO_SUFFIXES, VideoWriter, check_output_path, provenance
    from ..provenance import signing_credentials

    target = check_output_path(output, VIDEO_SUFFIXES)
    if size is not None and not (16 <= size <= 2160 and size % 2 == 0):
        raise EmostudioError(f"Size {size} is out of range; give an even height from 16 to 2160 pixels.")
    signing_credentials()  # a bad signing certificate fails before any generation
    settings: GenerationSettings = getattr(pipe, "generation_settings", GenerationSettings())
    timeline = as_timeline(emotion).with_intensity(intensity)
    num_frames = settings.num_frames if duration is None else frames_for(duration, settings.fps)
    video = pipe(prompt, emotion=timeline, emotion_scale=emotion_scale, fps=settings.fps, num_frames=num_frames,
                 height=settings.height, width=settings.width,
                 num_inference_steps=num_inference_steps or settings.num_inference_steps,
                 guidance_scale=settings.guidance_scale if guidance_scale is None else guidance_scale,
                 max_sequence_length=settings.max_sequence_length,
                 generator=torch.Generator().manual_seed(seed), output_type="np").frames[0]
    frames = (np.clip(video, 0.0, 1.0) * 255.0).round().astype(np.uint8)
    if size is not None and size != frames.shape[1]:
        width = 2 * max(round(frames.shape[2] * size / frames.shape[1] / 2), 1)
        frames = np.stack([cv2.resize(frame, (width, size), interpolation=cv2.INTER_CUBIC) for frame in frames])
    metadata = provenance("emostudio style (Wan2.1 emotion adapter)",
                          f"{timeline.describe()} (emotion scale {emotion_scale:g}); prompt: {prompt}")
    with VideoWriter(target, frames.shape[2], frames.shape[1], settings.fps, metadata=metadata) as writer:
        for frame in frames:
            writer.write(frame)
    return GeneratedClip(target, frames, settings.fps, timeline)


def check_run(folder: str | os.PathLike) -> dict:
    """The run record of a ``train video-adapter`` folder, checked before anything heavy loads."""
    source = Path(folder)
    record = open_run(source, VIDEO_ADAPTER_KIND, required=(ADAPTER_FOLDER, BANK_FOLDER))
    if not (source / BACKBONE_FOLDER).is_dir() and not record.get("base_model"):
        raise EmostudioError(f"The model folder {source} names no backbone (no {BACKBONE_FOLDER}/ and no base "
                             "model in its run record); train again or copy the whole folder.")
    return record
