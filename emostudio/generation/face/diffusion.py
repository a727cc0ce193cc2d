"""The neural talking head: Stable Video Diffusion with audio and emotion token adapters.

The design of DICE-Talk and Sonic on SVD's image-to-video components: the portrait is the
reference (its CLIP image embedding as SVD's context, its VAE latent concatenated to every noisy
frame), and two token streams enter the UNet's spatial cross-attention layers through the shared
decoupled cross-attention adapter (``conditioning/adapters.py``), restricted to the face:

* **audio** tokens per frame: a speech encoder from transformers (wav2vec2) over the whole track,
  a window of its hidden states around each frame's time, projected to a few tokens;
* **emotion** tokens per frame from the EmotionBank (a timeline's segments joined by smooth ramps),
  a bank with slot projections, so that its tokens differ from one another and the face's
  parts can attend to different ones (with one token repeated, emotion entered the face as one
  offset everywhere, and anger never came through).

SVD's UNet copies one context to every frame and its temporal blocks read frame 0's context only,
so the adapter sits on the spatial layers, where frames are folded into the batch and each frame
meets its own tokens. Guidance composes three conditional predictions with separate scales::

    eps = e(-) + s_ref (e(ref) - e(-)) + s_audio (e(ref, audio) - e(ref)) + s_emo (e(ref, emo) - e(ref))

so the audio and emotion terms are each measured against the reference alone and neither carries
the other's difference (taken against e(ref, audio), a strong emotion scale also scaled how the
emotion row heard the audio, and wiped out the tiny model's lip sync), and at ``s_emo = 0`` its
row is not even computed: the result is exactly the audio-only one. Long clips are made window by window,
each window's first frames pulled toward the previous window's last ones while denoising and
blended with them after, so memory stays that of one window whatever the clip's length.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import (AutoencoderKLTemporalDecoder, ConfigMixin, DiffusionPipeline, EulerDiscreteScheduler,
                       ModelMixin, UNetSpatioTemporalConditionModel)
from diffusers.configuration_utils import register_to_config
from diffusers.utils import BaseOutput
from torch import nn

from ...conditioning import EmotionBank, EmotionSpec
from ...conditioning.adapters import DecoupledCrossAttentionAdapter, TokenConditioning
from ...errors import EmostudioError
from .diffusion_run import FACE_LORA_KIND, TALKING_HEAD_KIND, TalkingHeadModel, locate_model  # noqa: F401
from .talking_head import EXPRESSION_TRANSITION_S, TalkingHeadBackend

AUDIO_RATE = 16_000
LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]
STREAMS = ("audio", "emotion")


def spatial_cross_attention(name: str) -> bool:
    """SVD's spatial cross-attention layers: frames folded into the batch, one context per frame."""
    return name.endswith("attn2.processor") and "temporal" not in name


class AudioTokenProjector(ModelMixin, ConfigMixin):
    """A window of speech-encoder states around each frame -> ``num_tokens`` audio tokens per frame."""

    config_name = "audio_projector_config.json"

    @register_to_config
    def __init__(self, hidden_dim: int, context: int = 2, num_tokens: int = 4, token_dim: int = 32,
                 width: int = 128):
        super().__init__()
        positions = 2 * context + 1
        self.norm = nn.LayerNorm(hidden_dim)
        self.body = nn.Sequential(nn.Linear(positions * hidden_dim, width), nn.SiLU(),
                                  nn.Linear(width, num_tokens * token_dim))
        self.token_norm = nn.LayerNorm(token_dim)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """(B, F, 2 * context + 1, H) encoder states -> (B, F, num_tokens, token_dim)."""
        batch, frames = windows.shape[:2]
        flat = self.norm(windows).flatten(2)
        tokens = self.body(flat).reshape(batch, frames, self.config.num_tokens, self.config.token_dim)
        return self.token_norm(tokens)


def encoder_rate(audio_encoder) -> float:
    """States per second of a wav2vec2-style encoder at 16 kHz (its convolutions' total stride)."""
    return AUDIO_RATE / float(np.prod(audio_encoder.config.conv_stride))


@torch.no_grad()
def encode_audio(audio_encoder, audio: np.ndarray, chunk_seconds: float = 20.0) -> torch.Tensor:
    """(L, H) encoder states of a 16 kHz mono track, in chunks so long tracks stay in memory."""
    parameter = next(audio_encoder.parameters())
    wave = torch.as_tensor(np.asarray(audio, dtype=np.float32))
    wave = (wave - wave.mean()) / (wave.std() + 1e-7)  # wav2vec2's feature extractor normalisation
    hop = int(np.prod(audio_encoder.config.conv_stride))
    chunk = int(chunk_seconds * AUDIO_RATE) // hop * hop
    minimum = int(sum(audio_encoder.config.conv_kernel))  # shorter input leaves the convolutions nothing
    states = []
    for start in range(0, max(len(wave), 1), chunk):
        piece = wave[start: start + chunk]
        if len(piece) < minimum:
            piece = torch.nn.functional.pad(piece, (0, minimum - len(piece)))
        out = audio_encoder(piece[None].to(parameter.device, parameter.dtype)).last_hidden_state[0]
        states.append(out.float().cpu())
    return torch.cat(states)


def audio_windows(states: torch.Tensor, rate: float, times: np.ndarray, context: int) -> torch.Tensor:
    """(F, 2 * context + 1, H): the states around each frame time (edges repeated)."""
    centres = np.clip(np.round(np.asarray(times) * rate).astype(np.int64), 0, len(states) - 1)
    offsets = np.arange(-context, context + 1)
    index = np.clip(centres[:, None] + offsets[None], 0, len(states) - 1)
    return states[torch.as_tensor(index)]


def face_region(box: tuple[float, float, float, float], image_size: tuple[int, int], latent_size: tuple[int, int],
                margin: float = 0.15) -> torch.Tensor:
    """(1, 1, h, w) soft mask of a face box (pixels of the image), at latent resolution, widened by ``margin``."""
    height, width = image_size
    x0, y0, x1, y1 = box
    grow_x, grow_y = margin * (x1 - x0), margin * (y1 - y0)
    x0, x1 = (x0 - grow_x) / width, (x1 + grow_x) / width
    y0, y1 = (y0 - grow_y) / height, (y1 + grow_y) / height
    rows = (torch.arange(latent_size[0]) + 0.5) / latent_size[0]
    cols = (torch.arange(latent_size[1]) + 0.5) / latent_size[1]
    inside = ((rows >= y0) & (rows <= y1))[:, None] & ((cols >= x0) & (cols <= x1))[None]
    return inside.float()[None, None]


def close_up_square(face_box: tuple[float, float, float, float], scale: float) -> tuple[float, float, float]:
    """(left, top, side) of the square ``scale`` times the face box's larger side, centred on the face."""
    x0, y0, x1, y1 = face_box
    side = scale * max(x1 - x0, y1 - y0)
    return (x0 + x1 - side) / 2, (y0 + y1 - side) / 2, side


def close_up(image: np.ndarray, square: tuple[float, float, float], size: int) -> np.ndarray:
    """The ``square`` (from :func:`close_up_square`) of an RGB uint8 image at ``size`` pixels, edges repeated."""
    import cv2

    left, top, side = square
    factor = size / side
    if factor < 1.0:  # shrink the whole image first, so the close-up averages pixels rather than samples them
        image = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        left, top, factor = left * factor, top * factor, 1.0
    matrix = np.array([[factor, 0.0, -left * factor], [0.0, factor, -top * factor]], dtype=np.float32)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def to_close_up(points: np.ndarray, square: tuple[float, float, float], size: int) -> np.ndarray:
    """(N, 2) image pixels -> pixels of the ``size`` close-up of ``square``."""
    left, top, side = square
    return (np.asarray(points, dtype=np.float64)[:, :2] - (left, top)) * (size / side)


def overlap_weights(overlap: int) -> torch.Tensor:
    """How much of the previous window each of the ``overlap`` shared frames keeps: a ramp from near 1 to near 0."""
    return 1.0 - torch.arange(1, overlap + 1, dtype=torch.float32) / (overlap + 1)


def blend_overlap(previous: torch.Tensor, current: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Blend two windows' latents over their shared frames (dimension 1), ``weights`` from :func:`overlap_weights`."""
    shape = (1, len(weights)) + (1,) * (current.dim() - 2)
    weights = weights.to(current).reshape(shape)
    return weights * previous + (1 - weights) * current


def window_starts(frames: int, window: int, overlap: int) -> list[int]:
    """Start frames of windows of ``window`` frames sharing ``overlap`` frames, covering ``frames``."""
    if frames <= window:
        return [0]
    stride = window - overlap
    starts = list(range(0, frames - window, stride))
    return starts + [starts[-1] + stride]


@dataclass
class EmotionTalkingHeadOutput(BaseOutput):
    frames: np.ndarray | torch.Tensor  # (F, H, W, 3) uint8, or (1, F, C, h, w) latents


class EmotionTalkingHeadPipeline(DiffusionPipeline):
    """A portrait + speech + emotion -> a talking-head clip, on Stable Video Diffusion's components."""

    model_cpu_offload_seq = "image_encoder->audio_encoder->unet->vae"
    # Small, and the adapter runs inside the UNet's forward: kept on the GPU under offloading.
    _exclude_from_cpu_offload = ["audio_projector", "adapter", "emotion_bank"]
    _callback_tensor_inputs = ["latents"]

    def __init__(self, vae: AutoencoderKLTemporalDecoder, image_encoder, unet: UNetSpatioTemporalConditionModel,
                 scheduler: EulerDiscreteScheduler, feature_extractor, audio_encoder,
                 audio_projector: AudioTokenProjector, adapter: DecoupledCrossAttentionAdapter,
                 emotion_bank: EmotionBank):
        super().__init__()
        self.register_modules(vae=vae, image_encoder=image_encoder, unet=unet, scheduler=scheduler,
                              feature_extractor=feature_extractor, audio_encoder=audio_encoder,
                              audio_projector=audio_projector, adapter=adapter, emotion_bank=emotion_bank)
        self.vae_scale_factor = 2 ** (len(vae.config.block_out_channels) - 1)
        adapter.attach(unet)

    # -- building ----------------------------------------------------------------------------------

    @classmethod
    def from_svd(cls, svd: str | os.PathLike, audio_encoder, audio_context: int = 2, audio_tokens: int = 4,
                 torch_dtype: torch.dtype | None = None, emotion_bank: EmotionBank | None = None,
                 ) -> EmotionTalkingHeadPipeline:
        """New (zero-initialised) adapters on an SVD image-to-video folder (``stable-video-diffusion-img2vid-xt`` layout)."""
        parts = load_backbone(svd, torch_dtype)
        return cls.with_new_adapters(**parts, audio_encoder=audio_encoder, audio_context=audio_context,
                                     audio_tokens=audio_tokens, emotion_bank=emotion_bank)

    @classmethod
    def with_new_adapters(cls, vae, image_encoder, unet, scheduler, feature_extractor, audio_encoder,
                          audio_context: int = 2, audio_tokens: int = 4,
                          emotion_bank: EmotionBank | None = None) -> EmotionTalkingHeadPipeline:
        bank = emotion_bank or EmotionBank(slot_projections=True)
        token_dim = unet.config.cross_attention_dim
        projector = AudioTokenProjector(audio_encoder.config.hidden_size, audio_context, audio_tokens, token_dim)
        adapter = DecoupledCrossAttentionAdapter.for_backbone(
            unet, {"audio": token_dim, "emotion": bank.config.embedding_dim}, select=spatial_cross_attention)
        if unet.dtype != torch.float32:
            projector, adapter, bank = (part.to(unet.dtype) for part in (projector, adapter, bank))
        return cls(vae, image_encoder, unet, scheduler, feature_extractor, audio_encoder, projector, adapter, bank)

    def save_adapters(self, folder: str | os.PathLike) -> None:
        """Write the trained parts (adapter, audio projector, audio encoder, bank) as safetensors."""
        target = Path(folder)
        self.adapter.save_pretrained(target / "adapter")
        self.audio_projector.save_pretrained(target / "audio_projector")
        self.audio_encoder.save_pretrained(target / "audio_encoder")
        self.emotion_bank.save_pretrained(target / "emotion_bank")

    def enable_xformers_memory_efficient_attention(self, attention_op: Callable | None = None) -> None:
        # xformers replaces every processor; the adapter wraps whatever the backbone uses, so it goes
        # back on top afterwards.
        self.adapter.detach(self.unet)
        super().enable_xformers_memory_efficient_attention(attention_op)
        self.adapter.attach(self.unet)

    def use_fastest_attention(self) -> str:
        """xformers' memory-efficient attention when installed (and on a GPU), PyTorch's SDPA otherwise."""
        import importlib.util

        if importlib.util.find_spec("xformers") is not None and self.unet.device.type == "cuda":
            self.enable_xformers_memory_efficient_attention()
            return "xformers"
        return "sdpa"  # diffusers' default processors already call scaled_dot_product_attention

    # -- conditioning ------------------------------------------------------------------------------

    @torch.no_grad()
    def encode_reference(self, image: np.ndarray, noise_aug_strength: float,
                         generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        """CLIP image embedding (1, 1, D) and VAE latent (1, C, h, w) of an RGB uint8 portrait (SVD's recipe)."""
        device, dtype = self._execution_device, self.unet.dtype
        pixels = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255.0
        size = self.feature_extractor.crop_size
        clip_size = (size, size) if isinstance(size, int) else (int(size["height"]), int(size["width"]))
        clip_input = torch.nn.functional.interpolate(pixels, size=clip_size, mode="bicubic", antialias=True,
                                                     align_corners=False).clamp(0, 1)
        mean = torch.tensor(self.feature_extractor.image_mean).reshape(1, 3, 1, 1)
        std = torch.tensor(self.feature_extractor.image_std).reshape(1, 3, 1, 1)
        clip_input = ((clip_input - mean) / std).to(device, self.image_encoder.dtype)
        embedding = self.image_encoder(clip_input).image_embeds[:, None].to(dtype)
        scaled = pixels * 2 - 1
        noise = torch.randn(scaled.shape, generator=generator)
        scaled = (scaled + noise_aug_strength * noise).to(device, self.vae.dtype)
        latent = self.vae.encode(scaled).latent_dist.mode().to(dtype)
        return embedding, latent

    @torch.no_grad()
    def emotion_tokens(self, emotion: EmotionSpec | str | None) -> torch.Tensor:
        """(N, D) bank tokens of one emotion."""
        spec = emotion if isinstance(emotion, EmotionSpec) else EmotionSpec.parse(emotion or "neutral")
        return self.emotion_bank.embed(spec).tokens[0]

    # -- generation --------------------------------------------------------------------------------

    def stream(self, image: np.ndarray, audio: np.ndarray, num_frames: int, fps: float,
               emotion: EmotionSpec | str | None = None, emotion_tokens: torch.Tensor | None = None,
               face_box: tuple[float, float, float, float] | None = None, num_inference_steps: int = 25,
               reference_guidance_scale: float = 2.0, audio_guidance_scale: float = 3.0,
               emotion_guidance_scale: float = 2.0, window_frames: int = 14, overlap_frames: int = 4,
               motion_bucket_id: int = 127, noise_aug_strength: float = 0.02, decode_chunk_size: int = 8,
               generator: torch.Generator | None = None, output_type: str = "np",
               callback_on_step_end: Callable | None = None) -> Iterator[np.ndarray | torch.Tensor]:
        """Frames (RGB uint8, or latents with ``output_type="latent"``), one window at a time.

        ``image``: the portrait (H, W, 3) uint8 at the model's size; ``audio``: 16 kHz mono speech;
        ``emotion`` one emotion for the clip, or ``emotion_tokens`` (F, N, D) per frame (None of
        both: audio only); ``face_box`` (x0, y0, x1, y1) in ``image`` pixels restricts the token
        streams to the face.
        """
        if num_frames < 1:
            raise EmostudioError("A clip needs at least one frame; give longer speech.")
        if not 0 <= overlap_frames < window_frames:
            raise ValueError("overlap_frames must be at least 0 and smaller than window_frames.")
        device, dtype = self._execution_device, self.unet.dtype
        height, width = image.shape[:2]
        latent_size = (height // self.vae_scale_factor, width // self.vae_scale_factor)
        embedding, reference = self.encode_reference(image, noise_aug_strength, generator)
        states = encode_audio(self.audio_encoder, audio)
        times = np.arange(num_frames) / fps
        windows = audio_windows(states, encoder_rate(self.audio_encoder), times, self.audio_projector.config.context)
        if emotion_tokens is None and emotion is not None:
            emotion_tokens = self.emotion_tokens(emotion)
        if emotion_tokens is not None and emotion_tokens.dim() == 2:
            emotion_tokens = emotion_tokens[None].expand(num_frames, -1, -1)
        use_emotion = emotion_tokens is not None and emotion_guidance_scale != 0
        # Rows: (reference, audio, emotion) switched on; the last only when it has any effect. Emotion is
        # measured against the reference alone, as audio is, so neither term carries the other's effect.
        rows = [(0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (1.0, 1.0, 0.0)] + ([(1.0, 0.0, 1.0)] if use_emotion else [])
        switches = torch.tensor(rows, device=device, dtype=dtype)
        count = len(rows)
        region = None
        if face_box is not None:
            region = face_region(face_box, (height, width), latent_size).to(device, dtype).expand(count, -1, -1, -1)
        time_ids = torch.tensor([[fps - 1, motion_bucket_id, noise_aug_strength]], device=device, dtype=dtype)
        context = embedding * switches[:, 0].reshape(-1, 1, 1)
        weights = overlap_weights(overlap_frames).to(device)
        channels = self.vae.config.latent_channels
        previous: torch.Tensor | None = None
        starts = window_starts(num_frames, window_frames, overlap_frames)
        for number, start in enumerate(starts):
            stop = min(start + window_frames, num_frames)
            frames = stop - start
            last = number == len(starts) - 1
            shared = 0 if previous is None else min(previous.shape[1], frames)
            self.scheduler.set_timesteps(num_inference_steps, device=device)
            noise = torch.randn((1, frames, channels, *latent_size), generator=generator).to(device, dtype)
            latents = noise * self.scheduler.init_noise_sigma
            with torch.no_grad():
                audio_tokens = self.audio_projector(windows[start:stop][None].to(device, dtype))
            tokens = {"audio": audio_tokens.expand(count, -1, -1, -1)}
            scales: dict[str, Any] = {"audio": switches[:, 1]}
            if use_emotion:
                tokens["emotion"] = emotion_tokens[start:stop][None].to(device, dtype).expand(count, -1, -1, -1)
                scales["emotion"] = switches[:, 2]
            conditioning = TokenConditioning(tokens=tokens, scales=scales, region=region)
            image_latents = (reference * switches[:, 0].reshape(-1, 1, 1, 1))[:, None].expand(-1, frames, -1, -1, -1)
            sigmas = self.scheduler.sigmas.to(device)
            for step, timestep in enumerate(self.scheduler.timesteps):
                model_input = self.scheduler.scale_model_input(latents.expand(count, -1, -1, -1, -1), timestep)
                model_input = torch.cat([model_input, image_latents], dim=2)
                with torch.no_grad(), self.adapter.conditioned(conditioning):
                    predictions = self.unet(model_input, timestep, encoder_hidden_states=context,
                                            added_time_ids=time_ids.expand(count, -1), return_dict=False)[0]
                unconditional, referenced, spoken = predictions[0:1], predictions[1:2], predictions[2:3]
                guided = (unconditional + reference_guidance_scale * (referenced - unconditional)
                          + audio_guidance_scale * (spoken - referenced))
                if use_emotion:
                    guided = guided + emotion_guidance_scale * (predictions[3:4] - referenced)
                latents = self.scheduler.step(guided, timestep, latents).prev_sample
                if shared:
                    # Pull the shared frames toward the previous window's, noised to the current level.
                    level = sigmas[step + 1]
                    anchor = previous[:, -shared:] + level * noise[:, :shared]
                    latents[:, :shared] = blend_overlap(anchor, latents[:, :shared], weights[:shared])
                if callback_on_step_end is not None:
                    result = callback_on_step_end(self, step, timestep, {"latents": latents}) or {}
                    latents = result.get("latents", latents)
            finished = latents
            if shared:
                finished = latents.clone()
                finished[:, :shared] = blend_overlap(previous[:, -shared:], latents[:, :shared], weights[:shared])
            emit = finished if last else finished[:, : frames - overlap_frames]
            previous = latents[:, frames - overlap_frames:] if overlap_frames else None
            if output_type == "latent":
                yield from emit[0]
            else:
                yield from self.decode(emit, decode_chunk_size)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, chunk: int) -> Iterator[np.ndarray]:
        """RGB uint8 frames of (1, F, C, h, w) latents, decoded ``chunk`` frames at a time."""
        flat = latents[0] / self.vae.config.scaling_factor
        for start in range(0, flat.shape[0], chunk):
            piece = flat[start: start + chunk].to(self.vae.dtype)
            pixels = self.vae.decode(piece, num_frames=piece.shape[0]).sample.float()
            images = ((pixels.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
            yield from images

    def __call__(self, image: np.ndarray, audio: np.ndarray, num_frames: int, fps: float = 25.0,
                 return_dict: bool = True, **options: Any) -> EmotionTalkingHeadOutput | tuple:
        """All frames at once (see :meth:`stream` for the options and for long clips)."""
        frames = list(self.stream(image, audio, num_frames, fps, **options))
        stacked = np.stack(frames) if options.get("output_type", "np") != "latent" else torch.stack(frames)
        self.maybe_free_model_hooks()
        return EmotionTalkingHeadOutput(frames=stacked) if return_dict else (stacked,)


# ---------------------------------------------------------------------------------------------
# Run folders: checked cheaply first, loaded after
# ---------------------------------------------------------------------------------------------


def clip_image_processor_class() -> type:
    """CLIP's PIL-based image processor: transformers 5 names it apart, as its default one needs torchvision."""
    try:
        from transformers import CLIPImageProcessorPil
    except ImportError:  # transformers 4
        from transformers import CLIPImageProcessor as CLIPImageProcessorPil
    return CLIPImageProcessorPil


def load_backbone(folder: str | os.PathLike, torch_dtype: torch.dtype | None = None) -> dict[str, Any]:
    """SVD's image-to-video components from a folder of its layout."""
    from transformers import CLIPVisionModelWithProjection
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # bars for loading local weights are noise on a CLI's stderr
    CLIPImageProcessor = clip_image_processor_class()
    source = Path(folder)
    dtype = {"torch_dtype": torch_dtype} if torch_dtype is not None else {}
    return {
        "vae": AutoencoderKLTemporalDecoder.from_pretrained(source / "vae", **dtype),
        "image_encoder": CLIPVisionModelWithProjection.from_pretrained(source / "image_encoder", **dtype),
        "unet": UNetSpatioTemporalConditionModel.from_pretrained(source / "unet", **dtype),
        "scheduler": EulerDiscreteScheduler.from_pretrained(source / "scheduler"),
        "feature_extractor": CLIPImageProcessor.from_pretrained(source / "feature_extractor"),
    }


def load_pipeline(model: TalkingHeadModel, torch_dtype: torch.dtype | None = None) -> EmotionTalkingHeadPipeline:
    """The pipeline of a located run (and its face LoRA), in eval mode."""
    from transformers import Wav2Vec2Model

    from ..runs import load_lora

    parts = load_backbone(model.backbone, torch_dtype)
    dtype = {"torch_dtype": torch_dtype} if torch_dtype is not None else {}
    run = model.run
    if (run / "unet_lora").is_dir():  # LoRA trained with the model itself
        load_lora(parts["unet"], run / "unet_lora", adapter_name="model")
    if model.face is not None:
        load_lora(parts["unet"], model.face / "lora", adapter_name="face")
    pipeline = EmotionTalkingHeadPipeline(
        **parts, audio_encoder=Wav2Vec2Model.from_pretrained(run / "audio_encoder", **dtype),
        audio_projector=AudioTokenProjector.from_pretrained(run / "audio_projector", **dtype),
        adapter=DecoupledCrossAttentionAdapter.from_pretrained(run / "adapter", **dtype),
        emotion_bank=EmotionBank.from_pretrained(run / "emotion_bank", **dtype))
    for module in pipeline.components.values():
        if isinstance(module, nn.Module):
            module.requires_grad_(False).eval()
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


# ---------------------------------------------------------------------------------------------
# The talking-head backend the ``talk`` job drives
# ---------------------------------------------------------------------------------------------


class DiffusionTalkingHead(TalkingHeadBackend):
    """The neural backend: a trained talking-head run (and optionally a face LoRA), loaded on first use."""

    name = "diffusion"

    def __init__(self, model: str | os.PathLike, lora: str | os.PathLike | None = None,
                 num_inference_steps: int | None = None, reference_scale: float | None = None,
                 audio_scale: float | None = None, emotion_scale: float | None = None,
                 device: str | None = None, dtype: str = "auto", cpu_offload: bool = False) -> None:
        self.located = locate_model(model, lora)
        settings = self.located.record.get("generation", {})
        self.steps = num_inference_steps or int(settings.get("num_inference_steps", 25))
        self.scales = (settings.get("reference_guidance_scale", 2.0) if reference_scale is None else reference_scale,
                       settings.get("audio_guidance_scale", 3.0) if audio_scale is None else audio_scale,
                       settings.get("emotion_guidance_scale", 2.0) if emotion_scale is None else emotion_scale)
        self.window = int(settings.get("window_frames", 14))
        self.overlap = int(settings.get("overlap_frames", 4))
        self.resolution = int(self.located.record.get("resolution", 64))
        # A model trained on close-ups of the face (face_scale) draws the same close-up of the portrait.
        self.face_scale = float(self.located.record.get("face_scale") or 0.0)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.dtype = dtype
        self.cpu_offload = cpu_offload
        self._pipeline: EmotionTalkingHeadPipeline | None = None

    def with_options(self, emotion_scale: float | None = None, steps: int | None = None) -> DiffusionTalkingHead:
        """The same loaded model with another emotion scale or step count (for one request)."""
        if emotion_scale is None and steps is None:
            return self
        other = copy.copy(self)
        if steps is not None:
            other.steps = int(steps)
        if emotion_scale is not None:
            other.scales = (*self.scales[:2], float(emotion_scale))
        other._owner = self
        return other

    @property
    def pipeline(self) -> EmotionTalkingHeadPipeline:
        owner = getattr(self, "_owner", None)
        if owner is not None:
            return owner.pipeline
        if self._pipeline is None:
            chosen = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}.get(self.dtype)
            if chosen is None:  # auto: half precision on a GPU, full on a CPU
                chosen = torch.float16 if self.device.startswith("cuda") else torch.float32
            pipeline = load_pipeline(self.located, chosen)
            if self.cpu_offload and self.device.startswith("cuda"):
                pipeline.enable_model_cpu_offload()
            else:
                pipeline.to(self.device)
            pipeline.use_fastest_attention()
            self._pipeline = pipeline
        return self._pipeline

    def framing(self, face) -> tuple[float, float, float]:
        """The square of the portrait the model draws: (left, top, side) in its pixels."""
        if not self.face_scale:
            return 0.0, 0.0, float(face.image.shape[0])
        return close_up_square(face.face_box, self.face_scale)

    def frames(self, face, speech, fps: float, seed: int | None = None) -> Iterator[np.ndarray]:
        import cv2

        from ...conditioning.timeline import smooth_steps

        pipeline = self.pipeline
        size = self.resolution
        square = self.framing(face)
        image = close_up(face.image, square, size)
        box = tuple(to_close_up(np.reshape(face.face_box, (2, 2)), square, size).ravel())
        count = self.frame_count(speech, fps)
        times = np.arange(count) / fps
        specs = [segment.spec for segment in speech.segments]
        with torch.no_grad():
            tokens = pipeline.emotion_bank.embed(specs).tokens.float().cpu().numpy()  # (S, N, D)
        boundaries = [(a.end + b.start) / 2 for a, b in zip(speech.segments[:-1], speech.segments[1:])]
        per_frame = smooth_steps(times, boundaries, tokens.reshape(len(specs), -1), EXPRESSION_TRANSITION_S)
        emotion_tokens = torch.tensor(per_frame, dtype=torch.float32).reshape(count, *tokens.shape[1:])
        audio = resample(speech.audio, speech.sample_rate, AUDIO_RATE)
        generator = torch.Generator().manual_seed(seed if seed is not None else 0)
        target = face.image.shape[1], face.image.shape[0]
        reference, audio_scale, emotion_scale = self.scales
        for frame in pipeline.stream(image, audio, count, fps, emotion_tokens=emotion_tokens, face_box=box,
                                     num_inference_steps=self.steps, reference_guidance_scale=reference,
                                     audio_guidance_scale=audio_scale, emotion_guidance_scale=emotion_scale,
                                     window_frames=self.window, overlap_frames=self.overlap, generator=generator):
            yield cv2.resize(frame, target, interpolation=cv2.INTER_CUBIC)


def resample(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Mono float32 at ``target`` Hz."""
    from scipy.signal import resample_poly

    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim > 1:
        audio = audio.mean(axis=-1 if audio.shape[-1] <= 2 else 0)
    if int(rate) == target:
        return audio
    divisor = math.gcd(int(rate), target)
    return resample_poly(audio, target // divisor, int(rate) // divisor).astype(np.float32)


__all__: Sequence[str] = ("EmotionTalkingHeadPipeline", "AudioTokenProjector", "DiffusionTalkingHead",
                          "locate_model", "load_pipeline", "TALKING_HEAD_KIND", "FACE_LORA_KIND")
