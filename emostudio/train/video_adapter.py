"""Train the emotion adapter of a Wan2.1 text-to-video backbone.

    emostudio train video-adapter --config configs/video_adapter_tiny.yaml --output-dir RUN_DIR
    accelerate launch -m emostudio.train.video_adapter --config CONFIG.yaml

The loss is Wan's own flow matching (``x_t = (1 - s) x0 + s noise``, the transformer predicts
``noise - x0``, with Wan's shifted sigmas) with the Emotion Bank's tokens attended through the
decoupled cross-attention adapter, plus DICE-Talk's emotion-discrimination objective: the bank's
classifier, read from pooled features of the denoised latent by a ``LatentEmotionProbe``, should
name the clip's emotion (``discrimination_weight``). Each row's emotion stream is dropped with
``emotion_dropout``, so that the model also learns the clip without it and scale 0 stays the base.

* ``base_model`` set (a diffusers-format Wan2.1 T2V folder, e.g. a local copy of
  ``Wan-AI/Wan2.1-T2V-1.3B-Diffusers``, or that hub id when you have it): the backbone is frozen
  (in ``mixed_precision``'s dtype); the adapter, the probe and optional LoRA on the transformer's
  attention (``lora_rank`` > 0, through peft) train.
* ``base_model`` empty (the tiny CPU recipe): a randomly initialised Wan cannot make pictures, so
  a tiny one (transformer, VAE, a small UMT5 encoder and a character tokenizer made here) is built
  from configs and its transformer and VAE are trained from scratch beside the adapter (the VAE on
  reconstruction). Captions never name the emotion, so the adapter is the only way it gets in.
* ``manifest`` empty: a synthetic corpus is made first in ``OUTPUT/corpus`` by the embedded tier:
  neutral footage (public-domain photographs shipped with scikit-image, with a gentle camera move)
  graded into each emotion by ``generation/video/grading.py``.

Data is the project's manifest (``train/data/manifest.py``) read in the EmoVid annotation layout:
each row is one clip (``video``), its emotion label (``emotion``, with ``intensity``) and its
caption (``text``). Checkpoints, exact resume and TensorBoard are as in ``train/embedder.py``;
validation every ``validation_steps`` exports the run and renders ``validation_prompt`` in a few
emotions into ``OUTPUT/validation``, logging their colour statistics.
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
import torch.nn.functional as F

from ..conditioning import CATEGORIES, EmotionBank, EmotionSpec
from ..conditioning.adapters import DecoupledCrossAttentionAdapter, LatentEmotionProbe, stream_dropout
from ..errors import EmostudioError
from ..generation.video.neural import (ADAPTER_FOLDER, BACKBONE_FOLDER, BANK_FOLDER, EMOTION_STREAM, LORA_FOLDER,
                                       LORA_TARGETS, VIDEO_ADAPTER_KIND, GenerationSettings)
from .common import TrainingConfig, add_lora, load_config, make_accelerator, mark_run, save_lora
from .data.manifest import Clip, read_manifest, write_manifest

# Public-domain or CC0 photographs that ship with scikit-image, and captions that never name a mood.
SYNTHETIC_SCENES = (
    ("astronaut.png", "an astronaut in a white suit beside a flag"),
    ("chelsea.png", "a ginger cat looking up"),
    ("coffee.png", "a cup of coffee on a saucer"),
    ("rocket.jpg", "a rocket on a launch pad"),
    ("hubble_deep_field.jpg", "galaxies in deep space"),
)
TOKENIZER_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789 .,!?;:'\"-()"
VALIDATION_EMOTIONS = ("neutral", "happy", "sad", "fearful")


@dataclasses.dataclass
class VideoAdapterConfig(TrainingConfig):
    base_model: str = ""  # diffusers-format Wan2.1 T2V folder or hub id; empty: a tiny Wan trained here
    height: int = 32
    width: int = 32
    num_frames: int = 5  # 4k + 1 (Wan's VAE folds 4 frames into one latent frame after the first)
    fps: float = 8.0
    # The tiny backbone (base_model empty).
    layers: int = 2
    heads: int = 2
    head_dim: int = 12
    text_dim: int = 32
    text_layers: int = 2
    vae_base_dim: int = 8
    reconstruction_weight: float = 1.0
    kl_weight: float = 1e-4
    # The adapter and its objectives.
    emotion_dropout: float = 0.2
    discrimination_weight: float = 0.1
    flow_shift: float = 3.0
    lora_rank: int = 0  # > 0: LoRA on the transformer's attention (with a pretrained base_model)
    max_sequence_length: int = 32
    # Validation renders and the defaults the run generates with.
    validation_prompt: str = "a street at night"
    inference_steps: int = 20
    guidance_scale: float = 1.0
    # The synthetic corpus, when no manifest is given.
    synthetic_scenes: int = 5
    synthetic_emotions: str = ""  # comma-separated categories; empty: all eight
    synthetic_intensity: float = 1.0
    synthetic_size: int = 64


# -- data ------------------------------------------------------------------------------------------


def synthesize_video_corpus(folder: str | Path, scenes: int = 5, emotions: tuple[str, ...] = CATEGORIES,
                            intensity: float = 1.0, size: int = 64, seed: int = 0) -> Path:
    """Neutral footage graded into each emotion by the embedded tier, and its manifest.

    Every scene is a still turned into a one-second clip with a gentle camera move, graded into
    every emotion (neutral at intensity 0). The last scene is held out for validation. Existing
    clips are kept, so a rerun finishes an interrupted corpus.
    """
    import skimage
    from tqdm import tqdm

    from ..generation.video.grading import FootageGrader

    if not 1 <= scenes <= len(SYNTHETIC_SCENES):
        raise EmostudioError(f"The synthetic corpus has 1..{len(SYNTHETIC_SCENES)} scenes; change synthetic_scenes.")
    target = Path(folder)
    (target / "clips").mkdir(parents=True, exist_ok=True)
    pictures = Path(skimage.__file__).parent / "data"
    grader = FootageGrader()
    jobs = [(number, emotion) for number in range(scenes) for emotion in emotions]
    clips = []
    for index, (number, emotion) in enumerate(tqdm(jobs, desc="synthetic footage", unit="clip")):
        picture, caption = SYNTHETIC_SCENES[number]
        name = Path(picture).stem
        level = 0.0 if emotion == "neutral" else intensity
        path = target / "clips" / f"{name}_{emotion}.mp4"
        if not path.exists():
            spec = EmotionSpec.parse(emotion).with_intensity(level)
            grader.style(pictures / picture, path, spec, seed=seed + index, size=size, duration=1.0)
        clip_split = "val" if number == scenes - 1 and scenes > 1 else "train"
        clips.append(Clip(f"{name}_{emotion}", None, str(path), f"synthetic:{name}", emotion, level, caption,
                          clip_split, "synthetic"))
    return write_manifest(clips, target / "manifest.jsonl")


def load_clip_frames(path: str | Path, num_frames: int, height: int, width: int) -> torch.Tensor:
    """(3, F, H, W) in [-1, 1]: ``num_frames`` frames spread over the clip, centre-cropped and resized."""
    import cv2

    from ..generation.media import read_video_frames

    frames = list(read_video_frames(path))
    if not frames:
        raise EmostudioError(f"{path} has no frames; remove it from the manifest.")
    picks = np.linspace(0, len(frames) - 1, num_frames).round().astype(int)
    out = []
    for index in picks:
        frame = frames[index]
        rows, cols = frame.shape[:2]
        scale = max(height / rows, width / cols)
        crop_rows, crop_cols = round(height / scale), round(width / scale)
        top, left = (rows - crop_rows) // 2, (cols - crop_cols) // 2
        crop = frame[top: top + crop_rows, left: left + crop_cols]
        out.append(cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA))
    pixels = torch.from_numpy(np.stack(out)).float().div(127.5).sub(1.0)
    return pixels.permute(3, 0, 1, 2).contiguous()


class VideoClips(torch.utils.data.Dataset):
    """Clips of a manifest as frames, caption token ids and emotion."""

    def __init__(self, clips: list[Clip], tokenizer, config: VideoAdapterConfig) -> None:
        self.clips = clips
        self.tokenizer = tokenizer
        self.config = config

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> dict:
        clip = self.clips[index]
        text = self.tokenizer(clip.text or "", padding="max_length", max_length=self.config.max_sequence_length,
                              truncation=True, return_tensors="pt")
        return {"pixels": load_clip_frames(clip.video, self.config.num_frames, self.config.height, self.config.width),
                "input_ids": text.input_ids[0], "attention_mask": text.attention_mask[0],
                "emotion": clip.emotion, "intensity": float(clip.intensity)}


def collate(items: list[dict]) -> dict:
    return {"pixels": torch.stack([i["pixels"] for i in items]),
            "input_ids": torch.stack([i["input_ids"] for i in items]),
            "attention_mask": torch.stack([i["attention_mask"] for i in items]),
            "specs": [EmotionSpec.parse(i["emotion"]).with_intensity(i["intensity"]) for i in items]}


def prepare_data(config: VideoAdapterConfig, accelerator) -> list[Clip]:
    output = Path(config.output_dir)
    if config.manifest:
        manifest = Path(config.manifest)
    else:
        manifest = output / "corpus" / "manifest.jsonl"
        if accelerator.is_main_process and not manifest.is_file():
            emotions = tuple(e.strip() for e in config.synthetic_emotions.split(",") if e.strip()) or CATEGORIES
            unknown = [e for e in emotions if e not in CATEGORIES]
            if unknown:
                raise EmostudioError(f"synthetic_emotions names {unknown[0]!r}, not a category; use "
                                     f"{', '.join(CATEGORIES)}.")
            synthesize_video_corpus(output / "corpus", config.synthetic_scenes, emotions, config.synthetic_intensity,
                                    config.synthetic_size, config.seed)
        accelerator.wait_for_everyone()
    clips = [c for c in read_manifest(manifest) if c.split in ("train", "val")]
    missing = [c.id for c in clips if not c.video or not c.text]
    if missing:
        raise EmostudioError(f"{len(missing)} clip(s) in {manifest} lack a video or a caption (first: {missing[0]}); "
                             "video training needs both.")
    if not any(c.split == "train" for c in clips):
        raise EmostudioError(f"{manifest} has no 'train' clips; mark some clips split 'train'.")
    return clips


# -- the tiny backbone -----------------------------------------------------------------------------


def make_caption_tokenizer(texts: list[str], folder: Path):
    """A character-level tokenizer (case-folded; pad 0, end 1, unknown 2, as T5's) made offline."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    characters = sorted(set("".join(t.lower() for t in texts)) | set(TOKENIZER_ALPHABET))
    vocabulary = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{c: i + 3 for i, c in enumerate(characters)}}
    tokenizer = Tokenizer(models.WordLevel(vocabulary, unk_token="<unk>"))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>",
                                      unk_token="<unk>")
    folder.mkdir(parents=True, exist_ok=True)
    wrapped.save_pretrained(str(folder))
    return wrapped


def tiny_backbone(config: VideoAdapterConfig, tokenizer) -> dict:
    """Wan's components built from configs: transformer, VAE, a small UMT5 encoder, UniPC."""
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    z_dim = 16
    vae = AutoencoderKLWan(base_dim=config.vae_base_dim, z_dim=z_dim, dim_mult=[1, 2, 2, 2], num_res_blocks=1,
                           temperal_downsample=[False, True, True], latents_mean=[0.0] * z_dim,
                           latents_std=[1.0] * z_dim)
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=config.heads, attention_head_dim=config.head_dim,
        in_channels=z_dim, out_channels=z_dim, text_dim=config.text_dim, freq_dim=32,
        ffn_dim=2 * config.heads * config.head_dim, num_layers=config.layers, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", rope_max_seq_len=32)
    text_encoder = UMT5EncoderModel(UMT5Config(
        vocab_size=len(tokenizer), d_model=config.text_dim, d_kv=config.text_dim // 4, d_ff=2 * config.text_dim,
        num_layers=config.text_layers, num_heads=4, relative_attention_num_buckets=8,
        relative_attention_max_distance=32, dropout_rate=0.0, pad_token_id=0, eos_token_id=1,
        decoder_start_token_id=0))
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                        num_train_timesteps=1000, flow_shift=config.flow_shift)
    return {"tokenizer": tokenizer, "text_encoder": text_encoder.eval(), "vae": vae, "transformer": transformer,
            "scheduler": scheduler}


# -- the model -------------------------------------------------------------------------------------


class VideoAdapterTrainingModel(torch.nn.Module):
    """VAE, text encoder, transformer, adapter, probe and bank as one module for accelerate."""

    def __init__(self, components: dict, adapter: DecoupledCrossAttentionAdapter, probe: LatentEmotionProbe,
                 bank: EmotionBank, config: VideoAdapterConfig, train_backbone: bool) -> None:
        super().__init__()
        self.vae = components["vae"]
        self.text_encoder = components["text_encoder"].requires_grad_(False)
        self.transformer = components["transformer"]
        self.adapter = adapter
        self.probe = probe
        self.bank = bank.requires_grad_(False)
        self.config = config
        self.train_backbone = train_backbone
        adapter.attach(self.transformer)
        mean = torch.tensor(self.vae.config.latents_mean).view(1, -1, 1, 1, 1)
        std = torch.tensor(self.vae.config.latents_std).view(1, -1, 1, 1, 1)
        self.register_buffer("latents_mean", mean, persistent=False)
        self.register_buffer("latents_std", std, persistent=False)

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """As Wan's pipeline does: the encoder's states with padding positions zeroed."""
        with torch.no_grad():
            states = self.text_encoder(input_ids, attention_mask).last_hidden_state
        return states * attention_mask[..., None].to(states)

    def forward(self, batch: dict, generator: torch.Generator) -> dict:
        config = self.config
        pixels = batch["pixels"]
        parts: dict[str, torch.Tensor] = {}
        dtype = self.transformer.dtype
        if self.train_backbone:
            posterior = self.vae.encode(pixels).latent_dist
            sampled = posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=generator).to(
                posterior.mean)
            reconstruction = self.vae.decode(sampled).sample
            parts["reconstruction"] = config.reconstruction_weight * F.mse_loss(reconstruction, pixels) + \
                config.kl_weight * posterior.kl().mean()
            latents = sampled.detach()
        else:
            with torch.no_grad():
                latents = self.vae.encode(pixels.to(self.vae.dtype)).latent_dist.mode()
        x0 = ((latents - self.latents_mean) / self.latents_std).float()
        batch_size = x0.shape[0]
        noise = torch.randn(x0.shape, generator=generator).to(x0)
        uniform = torch.rand(batch_size, generator=generator).to(x0)
        sigma = config.flow_shift * uniform / (1 + (config.flow_shift - 1) * uniform)  # Wan's shifted sigmas
        s = sigma.view(-1, 1, 1, 1, 1)
        noisy = (1 - s) * x0 + s * noise
        text = self.encode_text(batch["input_ids"], batch["attention_mask"]).to(dtype)
        with torch.no_grad():
            emotion = self.bank.embed(batch["specs"])
        keep = stream_dropout(batch_size, config.emotion_dropout, generator, device=x0.device)
        with self.adapter.conditioned(tokens={EMOTION_STREAM: emotion.tokens.to(x0.device)},
                                      scales={EMOTION_STREAM: keep.to(dtype)}, frames_in_sequence=x0.shape[2]):
            velocity = self.transformer(noisy.to(dtype), sigma * 1000, text, return_dict=False)[0].float()
        parts["flow"] = F.mse_loss(velocity, noise - x0)
        kept = keep > 0
        if config.discrimination_weight > 0 and kept.any():
            denoised = noisy - s * velocity
            parts["emotion"] = config.discrimination_weight * self.probe.loss(denoised[kept], self.bank,
                                                                              emotion.weights[kept])
        parts["loss"] = sum(parts.values())
        return parts


def build(config: VideoAdapterConfig, clips: list[Clip], output: Path) -> tuple[dict, bool]:
    """The backbone's components and whether it trains (tiny) or stays frozen (pretrained base)."""
    if config.base_model:
        from diffusers import WanPipeline

        dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(config.mixed_precision, torch.float32)
        try:
            base = WanPipeline.from_pretrained(config.base_model, torch_dtype=dtype)
        except (OSError, ValueError) as error:
            raise EmostudioError(f"{config.base_model} is not a diffusers Wan2.1 model ({str(error)[:160]}); give a "
                                 "folder in diffusers' layout, e.g. a copy of Wan-AI/Wan2.1-T2V-1.3B-Diffusers.") from error
        components = {name: getattr(base, name) for name in ("tokenizer", "text_encoder", "vae", "transformer",
                                                              "scheduler")}
        for name in ("text_encoder", "vae", "transformer"):
            components[name].requires_grad_(False)
        return components, False
    tokenizer = make_caption_tokenizer([c.text or "" for c in clips] + [config.validation_prompt],
                                       output / "tokenizer")
    return tiny_backbone(config, tokenizer), True


# -- training --------------------------------------------------------------------------------------


def train(config: VideoAdapterConfig) -> dict[str, float]:
    from torch.utils.data import DataLoader

    from .common import fit

    if config.lora_rank and not config.base_model:
        raise EmostudioError("lora_rank needs a pretrained base_model (the tiny backbone is trained whole); "
                             "set base_model or lora_rank: 0.")
    if config.num_frames % 4 != 1 or config.height % 16 or config.width % 16:
        raise EmostudioError(f"num_frames must be 4k + 1 and height and width multiples of 16 (Wan's VAE and patches); "
                             f"got {config.num_frames} frames at {config.width}x{config.height}.")
    accelerator = make_accelerator(config)
    output = Path(config.output_dir)
    clips = prepare_data(config, accelerator)
    torch.manual_seed(config.seed)  # the tiny backbone's initialisation
    components, train_backbone = build(config, clips, output)
    tokenizer = components["tokenizer"]
    bank = EmotionBank()
    adapter = DecoupledCrossAttentionAdapter.for_backbone(components["transformer"],
                                                          {EMOTION_STREAM: bank.config.embedding_dim})
    probe = LatentEmotionProbe(latent_channels=components["transformer"].config.in_channels,
                               embedding_dim=bank.config.embedding_dim)
    if config.lora_rank:
        add_lora(components["transformer"], LORA_TARGETS, config.lora_rank)
    model = VideoAdapterTrainingModel(components, adapter, probe, bank, config, train_backbone)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=config.weight_decay)
    order = torch.Generator().manual_seed(config.seed)
    train_data = VideoClips([c for c in clips if c.split == "train"], tokenizer, config)
    val_clips = [c for c in clips if c.split == "val"] or [c for c in clips if c.split == "train"][:4]
    train_loader = DataLoader(train_data, batch_size=config.batch_size, shuffle=True, generator=order,
                              collate_fn=collate, drop_last=len(train_data) > config.batch_size,
                              num_workers=config.num_workers)
    steps_per_epoch = math.ceil(len(train_loader) / config.gradient_accumulation_steps)
    total_steps = config.max_steps or config.epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.learning_rate, total_steps=total_steps,
                                                    pct_start=0.1)
    model, optimizer, train_loader, scheduler = accelerator.prepare(model, optimizer, train_loader, scheduler)
    if accelerator.is_main_process and config.report_to not in ("", "none"):
        accelerator.init_trackers("video_adapter", config={k: v for k, v in dataclasses.asdict(config).items()
                                                           if isinstance(v, (int, float, str, bool))})
    val_batch = collate([VideoClips(val_clips, tokenizer, config)[i] for i in range(min(len(val_clips),
                                                                                          config.batch_size))])

    def validate(step: int) -> dict[str, float]:
        unwrapped = accelerator.unwrap_model(model)
        unwrapped.eval()
        with torch.no_grad():
            loss = float(unwrapped(val_batch, torch.Generator().manual_seed(0))["flow"])
        export(unwrapped, components, output, config)
        values = {"flow_loss": loss, **render_validation(output, step, config.validation_prompt)}
        unwrapped.train()
        accelerator.print(f"step {step}: validation flow loss {loss:.3f}")
        return values

    history, metrics = fit(accelerator, config, model, optimizer, train_loader, scheduler, trainable, total_steps,
                           steps_per_epoch, order, validate)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        final = accelerator.unwrap_model(model)
        export(final, components, output, config)
        metrics["train_loss"] = history[-1]["loss"] if history else float("nan")
        (output / "metrics.json").write_text(json.dumps(metrics, indent=2))
        with open(output / "loss_history.jsonl", "a", encoding="utf-8") as handle:
            for row in history:
                handle.write(json.dumps(row) + "\n")
    accelerator.end_training()
    return metrics


def export(model: VideoAdapterTrainingModel, components: dict, output: Path, config: VideoAdapterConfig) -> None:
    """Write the run folder ``EmotionVideoPipeline.from_run`` loads."""
    from diffusers import WanPipeline

    from ..generation.runs import RUN_KIND_FILE

    if model.train_backbone:
        model.adapter.detach(model.transformer)  # the backbone is saved with its own processors
        WanPipeline(tokenizer=components["tokenizer"], text_encoder=model.text_encoder, vae=model.vae,
                    transformer=model.transformer, scheduler=components["scheduler"]).save_pretrained(
            str(output / BACKBONE_FOLDER))
        model.adapter.attach(model.transformer)
    elif config.lora_rank:
        save_lora(model.transformer, output / LORA_FOLDER, LORA_TARGETS, config.lora_rank)
    model.adapter.save_pretrained(str(output / ADAPTER_FOLDER))
    model.bank.save_pretrained(str(output / BANK_FOLDER))
    model.probe.save_pretrained(str(output / "probe"))
    GenerationSettings(height=config.height, width=config.width, num_frames=config.num_frames, fps=config.fps,
                       num_inference_steps=config.inference_steps, guidance_scale=config.guidance_scale,
                       max_sequence_length=config.max_sequence_length).write(output)
    if not (output / RUN_KIND_FILE).is_file():  # the run id stays the same across validations and resumes
        mark_run(output, VIDEO_ADAPTER_KIND, backbone="wan2.1", base_model=config.base_model or None)


def render_validation(output: Path, step: int, prompt: str) -> dict[str, float]:
    """One clip per emotion from the exported run; returns each one's mean L* and colourfulness."""
    from ..generation.video.neural import EmotionVideoPipeline, generate_clip
    from .grading import colour_statistics

    pipe = EmotionVideoPipeline.from_run(output)
    folder = output / "validation"
    folder.mkdir(exist_ok=True)
    values = {}
    for emotion in VALIDATION_EMOTIONS:
        result = generate_clip(pipe, prompt, emotion, folder / f"step-{step:06d}-{emotion}.mp4", seed=0)
        stats = colour_statistics(list(result.frames))
        values[f"{emotion}_lightness"] = float(stats[0])
        values[f"{emotion}_colourfulness"] = float(stats[8])
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="emostudio train video-adapter", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="YAML file of settings (see VideoAdapterConfig)")
    parser.add_argument("--manifest", help="override the config's manifest (clips with video, emotion and caption)")
    parser.add_argument("--output-dir", help="override the config's output_dir")
    parser.add_argument("--resume-from-checkpoint", help="'latest' or a checkpoint folder")
    parser.add_argument("--max-steps", type=int, help="stop after this many optimiser steps")
    args = parser.parse_args(argv)
    try:
        config = load_config(VideoAdapterConfig, args.config, manifest=args.manifest, output_dir=args.output_dir,
                             resume_from_checkpoint=args.resume_from_checkpoint, max_steps=args.max_steps)
        train(config)
    except EmostudioError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
