"""Fine-tune a tts run on a new voice from a few minutes of recordings with transcripts.

    emostudio train voice --config configs/voice_tiny.yaml --base TTS_DIR --recordings DIR_OR_MANIFEST

Recordings: a folder of ``NAME.wav`` (or .flac/.ogg/.mp3/.m4a) with ``NAME.txt`` transcripts beside
them, or a manifest (clips with ``audio`` and ``text``). Every file is checked before any model
loads: resampled to 16 kHz, silence trimmed; unreadable, silent or too-short files, missing
transcripts and characters the tokenizer lacks are named.

What is learned is the new speaker embedding itself (initialised from the mean of the base's
speakers), plus LoRA on the decoder's attention when ``lora_rank`` > 0; no speaker-verification
model is needed. An x-vector the user already has (``x_vector``: a .npy of the base's speaker
size) may be given instead, and is then used as it is. The base's emotion conditioner is kept
unchanged, so the new voice speaks every emotion though it was recorded in one.

Without ``--recordings`` the tiny recipe makes its own recordings of a voice the base never
heard (the embedded voice shifted to a pitch and timbre none of the training voices has).
The output folder holds only the new speaker (and LoRA) and names its base by path and run id.
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

from ..conditioning import EmotionBank
from ..errors import EmostudioError
from ..generation.speech.neural import SpeechT5Backbone, TTS_FILES, TTS_KIND, VOICE_KIND
from .common import TrainingConfig, add_lora, fit, load_config, make_accelerator, mark_run, open_run, save_lora
from .data.manifest import Clip, read_manifest
from .tts import (LORA_TARGETS, IndexedItems, TTSTrainingModel, check_text, clip_features, collate,
                  load_clip_audio, synthesize_speech_corpus)

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".m4a")
UNSEEN_VOICE = (("unseen", 7.0, -3.0),)  # higher and darker than every synthetic training voice


@dataclasses.dataclass
class VoiceConfig(TrainingConfig):
    base: str = ""  # the tts run folder (or --base)
    recordings: str = ""  # folder of NAME.wav + NAME.txt, or a manifest; empty: the recipe's own unseen voice
    speaker_name: str = "new-voice"
    x_vector: str = ""  # a .npy speaker embedding to use as it is, instead of learning one
    lora_rank: int = 0
    max_seconds: float = 15.0
    min_recordings: int = 3
    own_voice_sentences: int = 10


def recordings_as_clips(source: str | Path, speaker: str) -> list[Clip]:
    """Clips from a folder of NAME.wav + NAME.txt or from a manifest; pairing problems name the file."""
    path = Path(source)
    if not path.exists():
        raise EmostudioError(f"The recordings {path} do not exist; give a folder of NAME.wav + NAME.txt or a "
                             "manifest.")
    if path.is_file():
        return [c for c in read_manifest(path) if c.audio and c.split in ("train", "val")]
    clips = []
    for audio in sorted(p for p in path.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES):
        transcript = audio.with_suffix(".txt")
        if not transcript.is_file():
            raise EmostudioError(f"The recording {audio} has no transcript {transcript.name}; write what is said "
                                 "in it into that file.")
        text = transcript.read_text(encoding="utf-8").strip()
        if not text:
            raise EmostudioError(f"The transcript {transcript} is empty; write what is said in {audio.name}.")
        clips.append(Clip(audio.stem, str(audio), None, f"voice:{speaker}", "neutral", 0.0, text, "train", "voice"))
    if not clips:
        raise EmostudioError(f"{path} holds no recordings ({', '.join(AUDIO_SUFFIXES)}); add NAME.wav files with "
                             "NAME.txt transcripts.")
    return clips


def check_recordings(clips: list[Clip], tokenizer, max_seconds: float, minimum: int) -> None:
    """Every file readable, with speech, not too long, its transcript encodable — before loading models."""
    for clip in clips:
        if not clip.text:
            raise EmostudioError(f"The recording {clip.audio} has no transcript; give the words spoken in it.")
        check_text(tokenizer, clip.text, clip.audio)
        load_clip_audio(clip.audio, max_seconds)
    if len(clips) < minimum:
        raise EmostudioError(f"There are {len(clips)} recordings; give at least {minimum} (a few minutes of speech "
                             "in all works best).")


def train(config: VoiceConfig) -> dict[str, float]:
    from safetensors.torch import load_file
    from transformers import SpeechT5ForTextToSpeech, SpeechT5Tokenizer

    from ..conditioning.adapters import SpeakerEmotionConditioner

    if not config.base:
        raise EmostudioError("No base model; give --base TTS_DIR (the output of 'emostudio train tts').")
    torch.set_flush_denormal(True)
    base = Path(config.base).resolve()
    base_record = open_run(base, TTS_KIND, TTS_FILES)
    tokenizer = SpeechT5Tokenizer.from_pretrained(str(base / "tokenizer"))
    accelerator = make_accelerator(config)
    output = Path(config.output_dir)
    known = load_file(str(base / "speakers.safetensors"))
    if config.x_vector:
        vector = _read_x_vector(config.x_vector, next(iter(known.values())).shape[0])
        _export_voice(output, base, base_record, config, vector, None)
        return {}
    if config.recordings:
        clips = recordings_as_clips(config.recordings, config.speaker_name)
    else:
        manifest = synthesize_speech_corpus(output / "recordings", 1, config.own_voice_sentences, seed=config.seed,
                                            voice_table=UNSEEN_VOICE, emotions=("neutral",), split="train")
        clips = read_manifest(manifest)
    check_recordings(clips, tokenizer, config.max_seconds, config.min_recordings)

    backbone = SpeechT5ForTextToSpeech.from_pretrained(str(base / "model")).requires_grad_(False)
    conditioner = SpeakerEmotionConditioner.from_pretrained(str(base / "conditioner")).requires_grad_(False)
    if config.lora_rank:
        add_lora(SpeechT5Backbone.lora_module(backbone), LORA_TARGETS, config.lora_rank)
    items = clip_features(clips, tokenizer, backbone.config.reduction_factor, 256, config.max_seconds)
    for item in items:
        item["identity"] = config.speaker_name
    start = torch.stack(list(known.values())).mean(0, keepdim=True)
    model = TTSTrainingModel(backbone, conditioner, start.clone(), None, EmotionBank(), False, 0)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=0.0)
    order = torch.Generator().manual_seed(config.seed)
    data = IndexedItems(items, [config.speaker_name])
    loader = torch.utils.data.DataLoader(data, batch_size=config.batch_size, shuffle=True, generator=order,
                                         collate_fn=collate, drop_last=len(data) > config.batch_size)
    steps_per_epoch = math.ceil(len(loader) / config.gradient_accumulation_steps)
    total_steps = config.max_steps or config.epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.learning_rate, total_steps=total_steps,
                                                    pct_start=0.1)
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    if accelerator.is_main_process and config.report_to not in ("", "none"):
        accelerator.init_trackers("voice", config={k: v for k, v in dataclasses.asdict(config).items()
                                                   if isinstance(v, (int, float, str, bool))})
    check_batch = collate(data.items[: config.batch_size])

    def validate(step: int) -> dict[str, float]:
        unwrapped = accelerator.unwrap_model(model)
        unwrapped.eval()
        with torch.no_grad():
            loss = float(unwrapped(check_batch, torch.Generator())["speech"])
        unwrapped.train()
        accelerator.print(f"step {step}: loss on the recordings {loss:.3f}")
        return {"loss": loss}

    history, metrics = fit(accelerator, config, model, optimizer, loader, scheduler, trainable, total_steps,
                           steps_per_epoch, order, validate)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        final = accelerator.unwrap_model(model)
        _export_voice(output, base, base_record, config, final.speakers[0].detach(),
                      final.backbone if config.lora_rank else None)
        metrics["train_loss"] = history[-1]["loss"] if history else float("nan")
        (output / "metrics.json").write_text(json.dumps(metrics, indent=2))
        with open(output / "loss_history.jsonl", "a", encoding="utf-8") as handle:
            for row in history:
                handle.write(json.dumps(row) + "\n")
    accelerator.end_training()
    return metrics


def _read_x_vector(path: str, size: int) -> torch.Tensor:
    try:
        vector = np.load(path, allow_pickle=False).astype(np.float32).reshape(-1)
    except (OSError, ValueError) as error:
        raise EmostudioError(f"{path} is not a readable .npy x-vector ({error}); save it with numpy.save.") from error
    if vector.shape[0] != size:
        raise EmostudioError(f"The x-vector {path} has {vector.shape[0]} values; the base expects {size}.")
    return torch.from_numpy(vector)


def _export_voice(output: Path, base: Path, base_record: dict, config: VoiceConfig, vector: torch.Tensor,
                  backbone) -> None:
    from safetensors.torch import save_file

    output.mkdir(parents=True, exist_ok=True)
    save_file({config.speaker_name: vector.clone().contiguous().float()}, str(output / "speakers.safetensors"))
    if backbone is not None:
        save_lora(SpeechT5Backbone.lora_module(backbone), output / "lora", LORA_TARGETS, config.lora_rank)
    mark_run(output, VOICE_KIND, base=str(base), base_run_id=base_record.get("run_id"),
             default_speaker=config.speaker_name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="emostudio train voice", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="YAML file of settings (see VoiceConfig)")
    parser.add_argument("--base", help="the tts run folder to tune from")
    parser.add_argument("--recordings", help="folder of NAME.wav + NAME.txt, or a manifest (default: the recipe's "
                        "own unseen voice)")
    parser.add_argument("--output-dir", help="override the config's output_dir")
    parser.add_argument("--resume-from-checkpoint", help="'latest' or a checkpoint folder")
    parser.add_argument("--max-steps", type=int, help="stop after this many optimiser steps")
    args = parser.parse_args(argv)
    try:
        config = load_config(VoiceConfig, args.config, base=args.base, recordings=args.recordings,
                             output_dir=args.output_dir, resume_from_checkpoint=args.resume_from_checkpoint,
                             max_steps=args.max_steps)
        train(config)
    except EmostudioError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
