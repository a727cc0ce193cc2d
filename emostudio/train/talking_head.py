"""Train the neural talking head: audio and emotion adapters on Stable Video Diffusion's UNet.

    emostudio train talking-head --config configs/talking_head_tiny.yaml --output-dir RUN_DIR
    emostudio train talking-head --config configs/face_finetune.yaml --video me.mp4 --output-dir FACE_DIR
    accelerate launch -m emostudio.train.talking_head --config CONFIG.yaml

Each clip (a manifest's ``video`` with its sound) is framed around the face of its first frame
(as the face rig frames a portrait, or a close-up ``face_scale`` face boxes wide), resampled to
``fps``, encoded by the frozen VAE and cut into windows of ``frames_per_sample`` frames; its speech
is encoded once by the frozen speech encoder, and face and lip boxes are taken from the face mesh.
The reference is a neutral frame of the same identity (the first frame of its neutral clip where
there is one), so the emotion has to come from the emotion tokens.

The loss is SVD's (EDM preconditioning, v-prediction, log-normal noise levels) on the denoised
latent, weighted up on the face and lips, plus the emotion-discrimination objective: the bank's
classifier reads the emotion from the pooled denoised latent (``LatentEmotionProbe``, which learns
from the training clips' own latents only). Reference, audio and emotion are each dropped at
random, which is what makes their guidance scales separate.

* ``base_model`` set (an SVD image-to-video folder): the backbone is frozen; the adapters, the
  audio projector, the emotion bank (``train_emotion_bank``) and the probe train, with optional
  LoRA on the UNet's attention (``lora_rank``).
* ``base_model`` empty (the tiny CPU recipe): a random frozen SVD cannot draw a face, so a tiny
  VAE is fitted first (``vae_steps``) and the tiny UNet trains with the adapters.
* ``base_run`` set (fine-tuning on a face, ``--video``): a trained talking-head run stays frozen
  and a LoRA on its UNet learns the person in the video.
* ``manifest`` empty (and no video): a synthetic corpus is rendered first in ``OUTPUT/corpus`` by
  the embedded talking head (``train/synth.py``).

Checkpoints, exact resume and TensorBoard are as in ``train/embedder.py``; every
``validation_steps`` a validation clip per emotion is rendered into ``OUTPUT/validation``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

from ..conditioning import EmotionBank, EmotionSpec
from ..conditioning.adapters import LatentEmotionProbe, stream_dropout
from ..errors import EmostudioError
from ..generation.face.diffusion import (AUDIO_RATE, FACE_LORA_KIND, LORA_TARGETS, TALKING_HEAD_KIND,
                                         EmotionTalkingHeadPipeline, audio_windows, encode_audio, encoder_rate,
                                         face_region, load_pipeline, locate_model, resample)
from .common import TrainingConfig, add_lora, load_config, make_accelerator, mark_run, save_lora
from .data.manifest import Clip, read_manifest

SCHEDULER = dict(beta_end=0.012, beta_schedule="scaled_linear", beta_start=0.00085, interpolation_type="linear",
                 num_train_timesteps=1000, prediction_type="v_prediction", sigma_max=700.0, sigma_min=0.002,
                 steps_offset=1, timestep_spacing="leading", timestep_type="continuous", use_karras_sigmas=True)


@dataclasses.dataclass
class TalkingHeadConfig(TrainingConfig):
    base_model: str = ""  # SVD image-to-video folder; empty: a tiny backbone built from configs, trained here
    audio_encoder: str = ""  # a Wav2Vec2Model folder (e.g. wav2vec2-base-960h); empty: a tiny one from a config
    base_run: str = ""  # fine-tuning: a talking-head run whose UNet gets a face LoRA
    video: str = ""  # fine-tuning: a talking video of one person, with sound (a minute or more)
    resolution: int = 64
    face_scale: float = 0.0  # 0: frames as the face rig frames a portrait; else a close-up this many face boxes wide
    fps: float = 12.5
    frames_per_sample: int = 8
    audio_context: int = 2  # encoder states each side of a frame's time
    audio_tokens: int = 4
    lora_rank: int = 0
    face_weight: float = 1.0
    lip_weight: float = 2.0
    emotion_loss_weight: float = 0.1
    # The discrimination probe also sees each frame's latent averaged on a grid x grid layout: the mean and
    # spread of the whole latent tell a darker face, not where the brows and the lips are.
    probe_grid: int = 4
    # The EmotionBank learns with the adapters, as DICE-Talk's emotion banks do (frozen when fine-tuning a face).
    train_emotion_bank: bool = True
    drop_reference: float = 0.1
    drop_audio: float = 0.2
    drop_emotion: float = 0.3
    noise_aug_strength: float = 0.02
    motion_bucket_id: int = 127
    noise_mean: float = 0.7  # log-normal noise levels (SVD fine-tuning's P_mean, P_std)
    noise_std: float = 1.6
    max_clip_seconds: float = 120.0
    # The tiny backbone (base_model empty).
    vae_steps: int = 100
    vae_learning_rate: float = 0.001
    vae_batch_frames: int = 4
    # Generation settings written into the run (what 'talk --backend diffusion' uses).
    num_inference_steps: int = 12
    window_frames: int = 8
    overlap_frames: int = 2
    reference_guidance_scale: float = 1.5
    audio_guidance_scale: float = 2.0
    emotion_guidance_scale: float = 2.0
    validation_emotions: str = "neutral,happy,angry"
    validation_seconds: float = 1.0
    # The synthetic corpus, when no manifest or video is given.
    synthetic_identities: int = 3
    synthetic_sentences: int = 2
    synthetic_intensities: str = "1.0"
    synthetic_size: int = 128


# -- the backbone ----------------------------------------------------------------------------------


def tiny_backbone(resolution: int, seed: int = 0) -> dict:
    """SVD's five components at toy size, from configs (nothing downloaded)."""
    from diffusers import AutoencoderKLTemporalDecoder, EulerDiscreteScheduler, UNetSpatioTemporalConditionModel
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from ..generation.face.diffusion import clip_image_processor_class

    torch.manual_seed(seed)
    vae = AutoencoderKLTemporalDecoder(block_out_channels=(32, 32, 64, 64), down_block_types=("DownEncoderBlock2D",) * 4,
                                       latent_channels=4, layers_per_block=1, sample_size=resolution)
    unet = UNetSpatioTemporalConditionModel(
        block_out_channels=(32, 64), down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"), cross_attention_dim=32,
        num_attention_heads=(4, 8), in_channels=8, out_channels=4, layers_per_block=1, sample_size=resolution // 8,
        projection_class_embeddings_input_dim=96, addition_time_embed_dim=32)
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, projection_dim=32, num_hidden_layers=2, num_attention_heads=4, image_size=32, patch_size=4,
        intermediate_size=37))
    return {"vae": vae, "unet": unet, "image_encoder": image_encoder,
            "scheduler": EulerDiscreteScheduler(**SCHEDULER),
            "feature_extractor": clip_image_processor_class()(crop_size={"height": 32, "width": 32},
                                                              size={"shortest_edge": 32})}


def tiny_audio_encoder(seed: int = 0):
    """A wav2vec2 encoder at toy size (50 states per second of 16 kHz audio), from a config."""
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(seed + 1)
    return Wav2Vec2Model(Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                        intermediate_size=37, conv_dim=(32,) * 7, num_conv_pos_embeddings=16,
                                        num_conv_pos_embedding_groups=2))


def save_backbone(parts: dict, folder: Path) -> None:
    for name in ("vae", "unet", "image_encoder", "scheduler", "feature_extractor"):
        parts[name].save_pretrained(str(folder / name))


def fit_vae(vae, frames: torch.Tensor, config: TalkingHeadConfig, accelerator) -> None:
    """Fit the tiny VAE to the corpus' frames (L1 + a light KL), then set its latent scaling to unit variance."""
    from tqdm import tqdm

    generator = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=config.vae_learning_rate)
    vae.train()
    count = config.vae_batch_frames
    for _ in tqdm(range(config.vae_steps), desc="fitting the VAE", disable=not accelerator.is_main_process):
        start = int(torch.randint(0, max(len(frames) - count, 0) + 1, (1,), generator=generator))
        batch = frames[start: start + count]
        posterior = vae.encode(batch).latent_dist
        decoded = vae.decode(posterior.sample(generator), num_frames=len(batch)).sample
        loss = (decoded - batch).abs().mean() + 1e-6 * posterior.kl().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    vae.eval().requires_grad_(False)
    with torch.no_grad():
        latents = torch.cat([vae.encode(frames[i: i + 16]).latent_dist.mode() for i in range(0, len(frames), 16)])
    vae.register_to_config(scaling_factor=float(1.0 / latents.std().clamp(min=1e-3)))


# -- data ------------------------------------------------------------------------------------------


@dataclasses.dataclass
class ClipData:
    """One clip, encoded: latents per frame, audio windows per frame, face and lip masks, its emotion."""

    clip: Clip
    latents: torch.Tensor  # (N, C, h, w), scaled
    audio: torch.Tensor  # (N, 2 * context + 1, H)
    face: torch.Tensor  # (1, h, w)
    lips: torch.Tensor  # (1, h, w)
    first_frame: np.ndarray  # the framed first frame, RGB uint8


def load_clip_frames(clip: Clip, fps: float, resolution: int, max_seconds: float, face_scale: float = 0.0):
    """The clip's frames framed around the first frame's face, at ``fps``; its face and lip boxes; its sound.

    With ``face_scale`` the frames are close-ups of the face (a square that many face boxes wide),
    as ``DiffusionTalkingHead`` draws from a portrait framed the same way.
    """
    from ..generation.face import topology
    from ..generation.face.diffusion import close_up, close_up_square, to_close_up
    from ..generation.face.perception import _frame, analyze_image
    from ..generation.media import read_audio, read_video_frames, read_video_info

    path = Path(clip.video)
    if not path.is_file():
        raise EmostudioError(f"The clip {clip.id} points at {path}, which does not exist; fix the manifest line "
                             "or restore the file.")
    info = read_video_info(path)
    if not info["has_audio"]:
        raise EmostudioError(f"{path} has no sound; the talking head learns from speech, so give videos with sound.")
    source_fps = info["fps"] or 25.0
    frames, wanted, analysis = [], 0, None
    for index, frame in enumerate(read_video_frames(path)):
        if index / source_fps > max_seconds:
            break
        if analysis is None:
            analysis = analyze_image(frame, 128, str(path))
        if index < round(wanted * source_fps / fps):
            continue
        wanted += 1
        if face_scale:
            # The analysis is in 128-pixel framed coordinates; frame large enough that the close-up
            # is sampled down to ``resolution``, never up.
            left, top, side = close_up_square(analysis.face_box, face_scale)
            working = max(128, int(np.ceil(128 * resolution / side)))
            framed, _, _ = _frame(frame, np.asarray(analysis.source_box), working)
            factor = working / 128
            framed = close_up(framed, (left * factor, top * factor, side * factor), resolution)
        else:
            framed, _, _ = _frame(frame, np.asarray(analysis.source_box), resolution)
        frames.append(framed)
    if analysis is None:
        raise EmostudioError(f"{path} has no frames; give a video of a talking face.")
    square = close_up_square(analysis.face_box, face_scale) if face_scale else (0.0, 0.0, 128.0)
    points = to_close_up(analysis.landmarks, square, resolution)
    face = tuple(float(v) for v in to_close_up(np.reshape(analysis.face_box, (2, 2)), square, resolution).ravel())
    lips = points[topology.LIPS_OUTER_LOOP]
    lip_box = (float(lips[:, 0].min()), float(lips[:, 1].min()), float(lips[:, 0].max()), float(lips[:, 1].max()))
    audio, rate = read_audio(path, max_seconds + 5)
    return frames, face, lip_box, resample(audio, rate, AUDIO_RATE)[: int(len(frames) / fps * AUDIO_RATE) + 1]


@torch.no_grad()
def encode_clip(pipeline: EmotionTalkingHeadPipeline, clip: Clip, config: TalkingHeadConfig) -> ClipData:
    frames, face_box, lip_box, audio = load_clip_frames(clip, config.fps, config.resolution, config.max_clip_seconds,
                                                        config.face_scale)
    if len(frames) < config.frames_per_sample:
        raise EmostudioError(f"{clip.video} lasts under {config.frames_per_sample / config.fps:.1f} s; training "
                             "windows need longer clips.")
    latents = []
    for start in range(0, len(frames), 16):
        pixels = torch.from_numpy(np.stack(frames[start: start + 16])).permute(0, 3, 1, 2).float() / 127.5 - 1
        latents.append(pipeline.vae.encode(pixels).latent_dist.mode() * pipeline.vae.config.scaling_factor)
    latents = torch.cat(latents)
    states = encode_audio(pipeline.audio_encoder, audio)
    times = np.arange(len(frames)) / config.fps
    windows = audio_windows(states, encoder_rate(pipeline.audio_encoder), times, config.audio_context)
    size = (config.resolution, config.resolution)
    latent_size = tuple(latents.shape[-2:])
    return ClipData(clip, latents, windows, face_region(face_box, size, latent_size)[0],
                    face_region(lip_box, size, latent_size, margin=0.3)[0], frames[0])


class WindowDataset(torch.utils.data.Dataset):
    """Training windows of ``frames`` frames (every half window) with their clip's reference and emotion."""

    def __init__(self, clips: list[ClipData], references: dict[str, tuple[torch.Tensor, torch.Tensor]],
                 bank: EmotionBank, frames: int) -> None:
        self.clips, self.references, self.frames = clips, references, frames
        self.index = [(c, s) for c, data in enumerate(clips)
                      for s in range(0, len(data.latents) - frames + 1, max(frames // 2, 1))]
        specs = [EmotionSpec.parse(d.clip.emotion).with_intensity(d.clip.intensity) for d in clips]
        self.weights, self.intensity = bank.weights_for(specs)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, item: int) -> dict:
        number, start = self.index[item]
        data = self.clips[number]
        embedding, latent = self.references[data.clip.identity]
        return {"latents": data.latents[start: start + self.frames], "audio": data.audio[start: start + self.frames],
                "face": data.face, "lips": data.lips, "reference_embedding": embedding, "reference_latent": latent,
                "weights": self.weights[number], "intensity": self.intensity[number]}


def collate(items: list[dict]) -> dict:
    return {key: torch.stack([item[key] for item in items]) for key in items[0]}


def pick_references(pipeline: EmotionTalkingHeadPipeline, clips: list[ClipData], config: TalkingHeadConfig
                    ) -> tuple[dict, dict]:
    """Per identity: the first frame of a neutral clip (else of its first clip), encoded as SVD's reference."""
    chosen: dict[str, np.ndarray] = {}
    for data in sorted(clips, key=lambda d: d.clip.emotion != "neutral"):
        chosen.setdefault(data.clip.identity, data.first_frame)
    generator = torch.Generator().manual_seed(config.seed)
    encoded = {}
    for identity, frame in chosen.items():
        embedding, latent = pipeline.encode_reference(frame, config.noise_aug_strength, generator)
        encoded[identity] = (embedding[0].float(), latent[0].float())
    return encoded, chosen


def prepare_clips(config: TalkingHeadConfig, accelerator=None) -> list[Clip] | None:
    """The clips to train on, checked; None when the synthetic corpus is still to be made (no accelerator yet)."""
    output = Path(config.output_dir)
    if config.video:
        video = Path(config.video)
        if not video.is_file():
            raise EmostudioError(f"The video {video} does not exist; give a talking video of the face, with sound.")
        from ..generation.media import read_video_info

        info = read_video_info(video)
        if not info["has_audio"]:
            raise EmostudioError(f"{video} has no sound; give a video of the person talking, with sound.")
        if (info["duration"] or 0.0) < 2 * config.frames_per_sample / config.fps:
            raise EmostudioError(f"{video} is too short to cut into training windows; give a minute or more of "
                                 "the person talking.")
        return [Clip("face", None, str(video.resolve()), "face:video", "neutral", 0.0, None, "train", "video")]
    if config.manifest:
        manifest = Path(config.manifest)
    else:
        from .synth import synthesize_corpus

        manifest = output / "corpus" / "manifest.jsonl"
        if accelerator is None:
            return None
        if accelerator.is_main_process and not manifest.is_file():
            levels = tuple(float(x) for x in config.synthetic_intensities.split(","))
            synthesize_corpus(output / "corpus", config.synthetic_identities, config.synthetic_sentences, levels,
                              config.synthetic_size, config.seed, val_identities=1, test_identities=0)
        accelerator.wait_for_everyone()
    clips = [c for c in read_manifest(manifest) if c.split in ("train", "val")]
    missing_video = [c.id for c in clips if not c.video]
    if missing_video:
        raise EmostudioError(f"{len(missing_video)} clip(s) in {manifest} have no video (first: {missing_video[0]}); "
                             "the talking head learns from videos with sound.")
    for clip in clips:
        if not Path(clip.video).is_file():
            raise EmostudioError(f"The manifest {manifest} points at {clip.video}, which does not exist (clip "
                                 f"{clip.id}); fix the line or restore the file.")
    if not any(c.split == "train" for c in clips):
        raise EmostudioError(f"{manifest} has no 'train' clips; mark some clips split 'train'.")
    return clips


# -- the model -------------------------------------------------------------------------------------


class TalkingHeadTrainingModel(torch.nn.Module):
    """UNet (adapters attached), audio projector and probe as one module for accelerate; the loss in forward."""

    def __init__(self, pipeline: EmotionTalkingHeadPipeline, probe: LatentEmotionProbe,
                 config: TalkingHeadConfig) -> None:
        super().__init__()
        self.unet = pipeline.unet
        self.adapter = pipeline.adapter
        self.audio_projector = pipeline.audio_projector
        self.probe = probe
        self.bank = pipeline.emotion_bank
        self.config = config
        self.register_buffer("time_ids", torch.tensor([[config.fps - 1, config.motion_bucket_id,
                                                        config.noise_aug_strength]]), persistent=False)

    def forward(self, batch: dict, generator: torch.Generator) -> dict:
        config = self.config
        clean = batch["latents"]
        rows = clean.shape[0]
        device = clean.device
        keep_reference = stream_dropout(rows, config.drop_reference, generator, device)
        keep_audio = stream_dropout(rows, config.drop_audio, generator, device)
        keep_emotion = stream_dropout(rows, config.drop_emotion, generator, device)
        sigma = torch.exp(config.noise_mean + config.noise_std * torch.randn(rows, generator=generator))
        sigma = sigma.to(device).reshape(rows, 1, 1, 1, 1)
        noise = torch.randn(clean.shape, generator=generator).to(device)
        noisy = clean + sigma * noise
        scale_in = 1 / torch.sqrt(sigma**2 + 1)
        reference = (batch["reference_latent"] * keep_reference.reshape(-1, 1, 1, 1))[:, None]
        model_input = torch.cat([noisy * scale_in, reference.expand(-1, clean.shape[1], -1, -1, -1)], dim=2)
        with torch.set_grad_enabled(self.bank.prototype_mean.requires_grad):
            emotion = self.bank(batch["weights"], batch["intensity"]).tokens
        tokens = {"audio": self.audio_projector(batch["audio"]), "emotion": emotion}
        with self.adapter.conditioned(tokens=tokens, scales={"audio": keep_audio, "emotion": keep_emotion},
                                      region=batch["face"]):
            velocity = self.unet(model_input, (0.25 * sigma.log()).flatten(),
                                 encoder_hidden_states=batch["reference_embedding"] * keep_reference.reshape(-1, 1, 1),
                                 added_time_ids=self.time_ids.expand(rows, -1)).sample
        denoised = velocity * (-sigma * scale_in) + noisy / (sigma**2 + 1)
        weight = (sigma**2 + 1) / sigma**2
        region = (1 + config.face_weight * batch["face"] + config.lip_weight * batch["lips"])[:, None]
        parts = {"diffusion": (weight * region * (denoised - clean) ** 2).mean()}
        if config.emotion_loss_weight:
            parts["emotion"] = self.probe.discrimination_loss(denoised, clean, self.bank, batch["weights"],
                                                              channel_dim=2, row_weights=keep_emotion)
        parts["loss"] = parts["diffusion"] + config.emotion_loss_weight * parts.get("emotion", 0.0)
        return parts


# -- training --------------------------------------------------------------------------------------


def build_pipeline(config: TalkingHeadConfig, output: Path, accelerator) -> tuple[EmotionTalkingHeadPipeline, dict]:
    """The pipeline to train and the run record it will be saved under (backbone and what trains)."""
    from transformers import Wav2Vec2Model

    if config.base_run:
        located = locate_model(config.base_run)
        pipeline = load_pipeline(located)
        return pipeline, {"kind": FACE_LORA_KIND, "base": str(located.run.resolve()),
                          "base_run_id": located.record.get("run_id")}
    if config.audio_encoder:
        audio_encoder = Wav2Vec2Model.from_pretrained(config.audio_encoder)
    else:
        audio_encoder = tiny_audio_encoder(config.seed)
    audio_encoder.requires_grad_(False).eval()
    if config.base_model:
        pipeline = EmotionTalkingHeadPipeline.from_svd(config.base_model, audio_encoder, config.audio_context,
                                                       config.audio_tokens)
        backbone = str(Path(config.base_model).resolve())
    else:
        parts = tiny_backbone(config.resolution, config.seed)
        if (output / "vae" / "config.json").is_file():  # fitted before a resume: the same latents again
            from diffusers import AutoencoderKLTemporalDecoder

            parts["vae"] = AutoencoderKLTemporalDecoder.from_pretrained(str(output / "vae"))
        pipeline = EmotionTalkingHeadPipeline.with_new_adapters(**parts, audio_encoder=audio_encoder,
                                                                audio_context=config.audio_context,
                                                                audio_tokens=config.audio_tokens)
        backbone = "."
    return pipeline, {"kind": TALKING_HEAD_KIND, "backbone": backbone}


def check_config(config: TalkingHeadConfig) -> None:
    if config.video and not config.base_run:
        raise EmostudioError("Fine-tuning on a --video needs base_run (a folder from 'emostudio train talking-head') "
                             "in the config.")
    if config.base_run and config.base_model:
        raise EmostudioError("Give base_run (tune a face LoRA on a trained model) or base_model (train adapters on "
                             "an SVD backbone), not both.")
    if config.base_run and not config.lora_rank:
        raise EmostudioError("Fine-tuning on a face trains a LoRA: set lora_rank (e.g. 8) in the config.")
    if config.lora_rank and not (config.base_model or config.base_run):
        raise EmostudioError("lora_rank needs a frozen backbone (base_model or base_run); the tiny backbone is "
                             "trained whole, so set lora_rank: 0.")
    if config.resolution % 8 or config.resolution < 32:
        raise EmostudioError(f"resolution must be a multiple of 8 of at least 32, not {config.resolution}.")
    if not 0 <= config.overlap_frames < config.window_frames:
        raise EmostudioError("overlap_frames must be at least 0 and below window_frames.")
    if config.probe_grid < 1:
        raise EmostudioError(f"probe_grid must be 1 (the whole latent) or more (a grid per frame), not "
                             f"{config.probe_grid}.")


def train(config: TalkingHeadConfig) -> dict[str, float]:
    from torch.utils.data import DataLoader

    from .common import fit

    check_config(config)
    output = Path(config.output_dir)
    if config.base_run:
        base = locate_model(config.base_run)  # a wrong base fails before the corpus or any model
        # The face is framed as the model draws it.
        config = dataclasses.replace(config, face_scale=float(base.record.get("face_scale") or 0.0))
    clips = prepare_clips(config)  # a bad manifest or video fails before anything is written
    accelerator = make_accelerator(config)
    clips = clips or prepare_clips(config, accelerator)
    pipeline, record = build_pipeline(config, output, accelerator)
    trains_backbone = record["kind"] == TALKING_HEAD_KIND and record["backbone"] == "."
    pipeline.vae.requires_grad_(False).eval()
    pipeline.image_encoder.requires_grad_(False).eval()
    if trains_backbone and not (output / "vae" / "config.json").is_file():
        frames = [load_clip_frames(c, config.fps, config.resolution, config.max_clip_seconds, config.face_scale)[0]
                  for c in clips if c.split == "train"]
        pixels = torch.from_numpy(np.concatenate(frames)).permute(0, 3, 1, 2).float() / 127.5 - 1
        pipeline.vae.requires_grad_(True)
        fit_vae(pipeline.vae, pixels, config, accelerator)
        if accelerator.is_main_process:
            save_backbone(pipeline.components, output)
    encoded = [encode_clip(pipeline, clip, config) for clip in clips]
    references, reference_frames = pick_references(pipeline, encoded, config)
    train_clips = [d for d in encoded if d.clip.split == "train"]
    val_clips = [d for d in encoded if d.clip.split == "val"] or train_clips[:1]

    pipeline.unet.requires_grad_(trains_backbone)
    if config.lora_rank:
        add_lora(pipeline.unet, LORA_TARGETS, config.lora_rank, adapter_name="face" if config.base_run else "model")
    frozen_adapters = bool(config.base_run)
    for module in (pipeline.adapter, pipeline.audio_projector):
        module.requires_grad_(not frozen_adapters)
    pipeline.emotion_bank.requires_grad_(config.train_emotion_bank and not frozen_adapters)
    if config.base_run and (Path(config.base_run) / "probe").is_dir():
        probe = LatentEmotionProbe.from_pretrained(str(Path(config.base_run) / "probe"))
    else:
        probe = LatentEmotionProbe(pipeline.vae.config.latent_channels, pipeline.emotion_bank.config.embedding_dim,
                                   grid=config.probe_grid)
    probe.requires_grad_(not frozen_adapters)
    model = TalkingHeadTrainingModel(pipeline, probe, config)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=config.weight_decay)
    order = torch.Generator().manual_seed(config.seed)
    dataset = WindowDataset(train_clips, references, pipeline.emotion_bank, config.frames_per_sample)
    loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=True, generator=order, collate_fn=collate,
                        drop_last=len(dataset) > config.batch_size)
    steps_per_epoch = math.ceil(len(loader) / config.gradient_accumulation_steps)
    total_steps = config.max_steps or config.epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.learning_rate, total_steps=total_steps,
                                                    pct_start=0.1)
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    if accelerator.is_main_process and config.report_to not in ("", "none"):
        accelerator.init_trackers("talking_head", config={k: v for k, v in dataclasses.asdict(config).items()
                                                          if isinstance(v, (int, float, str, bool))})
    validation_set = WindowDataset(val_clips, references, pipeline.emotion_bank, config.frames_per_sample)
    val_batch = collate([validation_set[i] for i in range(min(len(validation_set), config.batch_size))])

    def validate(step: int) -> dict[str, float]:
        unwrapped = accelerator.unwrap_model(model)
        unwrapped.eval()
        with torch.no_grad():
            loss = float(unwrapped(val_batch, torch.Generator().manual_seed(0))["diffusion"])
        export(pipeline, unwrapped.probe, output, config, record)
        write_validation_clips(output, step, config, val_clips[0], reference_frames[val_clips[0].clip.identity])
        unwrapped.train()
        accelerator.print(f"step {step}: validation loss {loss:.4f}")
        return {"loss": loss}

    history, metrics = fit(accelerator, config, model, optimizer, loader, scheduler, trainable, total_steps,
                           steps_per_epoch, order, validate)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        final = accelerator.unwrap_model(model)
        export(pipeline, final.probe, output, config, record)
        metrics["train_loss"] = history[-1]["loss"] if history else float("nan")
        (output / "metrics.json").write_text(json.dumps(metrics, indent=2))
        with open(output / "loss_history.jsonl", "a", encoding="utf-8") as handle:
            for row in history:
                handle.write(json.dumps(row) + "\n")
    accelerator.end_training()
    return metrics


def export(pipeline: EmotionTalkingHeadPipeline, probe: LatentEmotionProbe, output: Path,
           config: TalkingHeadConfig, record: dict) -> None:
    """Write the run folder ``talk --backend diffusion`` loads (or a face LoRA folder)."""
    from ..generation.runs import RUN_KIND_FILE

    if record["kind"] == FACE_LORA_KIND:
        save_lora(pipeline.unet, output / "lora", LORA_TARGETS, config.lora_rank, adapter_name="face")
        if not (output / RUN_KIND_FILE).is_file():
            mark_run(output, FACE_LORA_KIND, base=record["base"], base_run_id=record["base_run_id"])
        return
    if record["backbone"] == ".":
        pipeline.unet.save_pretrained(str(output / "unet"))
        if not (output / "vae").is_dir():
            save_backbone(pipeline.components, output)
    elif config.lora_rank:
        save_lora(pipeline.unet, output / "unet_lora", LORA_TARGETS, config.lora_rank, adapter_name="model")
    pipeline.save_adapters(output)
    probe.save_pretrained(str(output / "probe"))
    if not (output / RUN_KIND_FILE).is_file():  # the run id stays the same across validations and resumes
        generation = {key: getattr(config, key) for key in (
            "num_inference_steps", "window_frames", "overlap_frames", "reference_guidance_scale",
            "audio_guidance_scale", "emotion_guidance_scale", "motion_bucket_id", "noise_aug_strength")}
        framing = {"face_scale": config.face_scale} if config.face_scale else {}
        mark_run(output, TALKING_HEAD_KIND, backbone=record["backbone"], resolution=config.resolution, fps=config.fps,
                 generation=generation, **framing)


def write_validation_clips(output: Path, step: int, config: TalkingHeadConfig, clip: ClipData,
                           reference: np.ndarray) -> None:
    """A short clip per validation emotion: the held-out clip's speech on its identity's reference."""
    import cv2

    from ..generation.face.diffusion import DiffusionTalkingHead
    from ..generation.face.talking_head import talk
    from ..generation.media import read_audio, write_audio
    from ..generation.provenance import provenance

    folder = output / "validation"
    folder.mkdir(exist_ok=True)
    audio, rate = read_audio(clip.clip.video)
    speech = folder / "speech.wav"
    write_audio(speech, audio[: int(config.validation_seconds * rate)], rate,
                provenance("emostudio validation excerpt", clip.clip.emotion, ingredients=(clip.clip.video,)))
    portrait = folder / "reference.png"
    cv2.imwrite(str(portrait), cv2.cvtColor(cv2.resize(reference, (256, 256), interpolation=cv2.INTER_CUBIC),
                                            cv2.COLOR_RGB2BGR))
    backend = DiffusionTalkingHead(output)
    for emotion in [e.strip() for e in config.validation_emotions.split(",") if e.strip()]:
        talk(folder / f"step-{step:06d}-{emotion}.mp4", audio=speech, emotion=emotion, portrait=portrait, size=128,
             fps=config.fps, seed=0, head_backend=backend)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="emostudio train talking-head", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="YAML file of settings (see TalkingHeadConfig)")
    parser.add_argument("--manifest", help="override the config's manifest (clips with video and sound)")
    parser.add_argument("--video", help="fine-tune a face LoRA on this talking video (with base_run in the config)")
    parser.add_argument("--output-dir", help="override the config's output_dir")
    parser.add_argument("--resume-from-checkpoint", help="'latest' or a checkpoint folder")
    parser.add_argument("--max-steps", type=int, help="stop after this many optimiser steps")
    args = parser.parse_args(argv)
    try:
        config = load_config(TalkingHeadConfig, args.config, manifest=args.manifest, video=args.video,
                             output_dir=args.output_dir, resume_from_checkpoint=args.resume_from_checkpoint,
                             max_steps=args.max_steps)
        train(config)
    except EmostudioError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
