"""Train the emotion conditioner of a SpeechT5 text-to-speech model.

    emostudio train tts --config configs/tts_tiny.yaml --output-dir TTS_DIR
    accelerate launch -m emostudio.train.tts --config CONFIG.yaml

Each clip (manifest with ``audio`` and ``text``) becomes 80-bin log-mel labels (SpeechT5's own
feature extractor at 16 kHz); the loss is SpeechT5's (L1 mel before and after the postnet, stop
token, guided attention) with the speaker embedding ``speaker + conditioner(emotion)``. The
conditioner is the only path by which the emotion label reaches the model.

* ``base_model`` set (a folder with a pretrained ``SpeechT5ForTextToSpeech``, e.g. a local copy of
  ``microsoft/speecht5_tts``, and ``base_vocoder`` with ``microsoft/speecht5_hifigan``): the backbone
  and vocoder stay frozen; the conditioner, one learned speaker embedding per identity, and
  optional LoRA on the decoder's attention (``lora_rank`` > 0, through peft) are trained.
* ``base_model`` empty (the tiny CPU recipe): a randomly initialised frozen SpeechT5 cannot speak,
  so the tiny backbone is trained from scratch jointly with the conditioner and speakers, and a
  tiny HiFi-GAN is trained beside it on crops of the same clips (multi-resolution STFT loss).
* ``manifest`` empty: a synthetic emotional corpus is made first in ``OUTPUT/corpus`` by the
  embedded tier (the Piper voice, a few pitch-shifted speakers, all eight emotions, the
  rule-based prosody) — the data for tests and the CPU recipe, not a substitute for ESD & co.

Checkpoints, exact resume and TensorBoard are as in ``train/embedder.py``; validation every
``validation_steps`` logs the held-out loss and writes one audio sample per emotion.
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
from ..conditioning.adapters import SpeakerEmotionConditioner
from ..errors import EmostudioError
from ..generation.speech.neural import SAMPLE_RATE, TTS_KIND, SpeechT5Backbone
from .common import TrainingConfig, add_lora, fit, load_config, make_accelerator, mark_run
from .data.manifest import Clip, read_manifest, write_manifest

SENTENCES = (
    "I did not expect to see you here today.",
    "The results came in this morning.",
    "We will have to talk about this later.",
    "Please put the box on the table.",
    "That is the last train of the night.",
    "Good morning.",
    "I have bad news.",
    "Where did you put my keys?",
    "She will call you back tomorrow.",
    "The door was open all night.",
)
# (name, semitones, spectral tilt in dB): distinct speakers made from the one embedded voice.
SYNTHETIC_VOICES = (("joe", 0.0, 0.0), ("low", -4.0, -2.0), ("high", 4.0, 2.0), ("bright", 2.0, 4.0),
                    ("deep", -6.0, 1.0))
TOKENIZER_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789 .,!?;:'\"-()"
LORA_TARGETS = ["q_proj", "v_proj"]


@dataclasses.dataclass
class TTSConfig(TrainingConfig):
    base_model: str = ""  # pretrained SpeechT5ForTextToSpeech folder; empty: a tiny one trained here
    base_vocoder: str = ""  # pretrained SpeechT5HifiGan folder; empty: a tiny one trained here
    speaker_dim: int = 512
    hidden_size: int = 64
    layers: int = 2
    heads: int = 2
    conditioner_hidden: int = 64
    vocoder_channels: int = 32
    vocoder_crop_frames: int = 16
    lora_rank: int = 0  # > 0: LoRA on the decoder's attention (only with a frozen pretrained base)
    max_seconds: float = 6.0
    validation_text: str = "Good morning. I have bad news."
    # The synthetic corpus, when no manifest is given.
    synthetic_voices: int = 3
    synthetic_sentences: int = 10
    synthetic_intensities: str = "1.0"


# -- data ------------------------------------------------------------------------------------------


def synthesize_speech_corpus(folder: str | Path, voices: int = 3, sentences: int = 10,
                             intensities: tuple[float, ...] = (1.0,), seed: int = 0,
                             voice_table=SYNTHETIC_VOICES, emotions: tuple[str, ...] = CATEGORIES,
                             split: str | None = None) -> Path:
    """WAV clips of every voice saying every sentence in every emotion, and their manifest.

    The last sentence is held out for validation unless ``split`` puts every clip in one split.
    Existing clips are kept, so a rerun finishes an interrupted corpus.
    """
    from tqdm import tqdm

    from ..generation.speech.piper import PiperSpeechBackend
    from ..generation.speech.variant import VoiceVariant

    if not 1 <= voices <= len(voice_table) or not 1 <= sentences <= len(SENTENCES):
        raise EmostudioError(f"The synthetic corpus has 1..{len(voice_table)} voices and 1..{len(SENTENCES)} "
                             "sentences; change synthetic_voices or synthetic_sentences.")
    target = Path(folder)
    (target / "clips").mkdir(parents=True, exist_ok=True)
    piper = PiperSpeechBackend()
    jobs = [(voice, emotion, level, number) for voice in voice_table[:voices] for emotion in emotions
            for level in ((0.0,) if emotion == "neutral" else intensities) for number in range(sentences)]
    clips = []
    for index, ((name, semitones, tilt), emotion, level, number) in enumerate(
            tqdm(jobs, desc="synthetic speech", unit="clip")):
        clip_id = f"{name}_{emotion}_{int(level * 100):03d}_{number}"
        path = target / "clips" / f"{clip_id}.wav"
        if not path.exists():
            spec = EmotionSpec.parse(emotion).with_intensity(level)
            VoiceVariant(piper, semitones, tilt).speak(SENTENCES[number], spec, seed=seed + index).save(path)
        clip_split = split or ("val" if number == sentences - 1 and sentences > 1 else "train")
        clips.append(Clip(clip_id, str(path), None, f"synthetic:{name}", emotion, level, SENTENCES[number],
                          clip_split, "synthetic"))
    return write_manifest(clips, target / "manifest.jsonl")


def load_clip_audio(path: str | Path, max_seconds: float) -> np.ndarray:
    """Mono float32 at 16 kHz, silence trimmed at both ends; an unreadable or silent file is an error."""
    from scipy.signal import resample_poly

    from ..generation.media import read_audio

    audio, rate = read_audio(path, max_seconds=max_seconds + 60)
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim > 1:
        audio = audio.mean(axis=-1 if audio.shape[-1] <= 2 else 0)
    if rate != SAMPLE_RATE:
        divisor = math.gcd(int(rate), SAMPLE_RATE)
        audio = resample_poly(audio, SAMPLE_RATE // divisor, int(rate) // divisor).astype(np.float32)
    loud = np.flatnonzero(np.abs(audio) > 0.01 * max(float(np.abs(audio).max(initial=0.0)), 1e-9))
    if audio.size == 0 or float(np.abs(audio).max(initial=0.0)) < 1e-4 or loud.size == 0:
        raise EmostudioError(f"{path} is silent; record the speech again or leave the file out.")
    margin = int(0.05 * SAMPLE_RATE)
    audio = audio[max(loud[0] - margin, 0): loud[-1] + margin]
    if len(audio) / SAMPLE_RATE > max_seconds:
        raise EmostudioError(f"{path} lasts {len(audio) / SAMPLE_RATE:.1f} s after trimming; the limit is "
                             f"{max_seconds:g} s per clip, so cut it into sentences.")
    if len(audio) < 0.3 * SAMPLE_RATE:
        raise EmostudioError(f"{path} holds under 0.3 s of sound; give a whole sentence per file.")
    return audio


def clip_features(clips: list[Clip], tokenizer, reduction_factor: int, hop: int, max_seconds: float) -> list[dict]:
    """Token ids, log-mel labels (frames a multiple of the reduction factor) and the matching audio."""
    from tqdm import tqdm
    from transformers import SpeechT5FeatureExtractor

    extractor = SpeechT5FeatureExtractor()
    items = []
    for clip in tqdm(clips, desc="mel features", unit="clip", leave=False):
        if not clip.text or not clip.audio:
            raise EmostudioError(f"The clip {clip.id} has no {'text' if clip.audio else 'audio'}; speech training "
                                 "needs both (a transcript per recording).")
        audio = load_clip_audio(clip.audio, max_seconds)
        mel = torch.tensor(extractor(audio_target=audio, sampling_rate=SAMPLE_RATE)["input_values"][0])
        frames = mel.shape[0] // reduction_factor * reduction_factor
        ids = check_text(tokenizer, clip.text, clip.id)
        wave = np.zeros(frames * hop, dtype=np.float32)
        wave[: min(len(audio), frames * hop)] = audio[: frames * hop]
        items.append({"ids": torch.tensor(ids), "mel": mel[:frames].float(), "wave": torch.from_numpy(wave),
                      "identity": clip.identity, "emotion": clip.emotion, "intensity": float(clip.intensity)})
    return items


def check_text(tokenizer, text: str, where: str) -> list[int]:
    ids = tokenizer(text)["input_ids"]
    if tokenizer.unk_token_id in ids:
        raise EmostudioError(f"The transcript of {where} ({text[:60]!r}) has characters the tokenizer cannot "
                             "encode; write it with plain letters and punctuation.")
    return ids


def collate(items: list[dict]) -> dict:
    ids = torch.nn.utils.rnn.pad_sequence([i["ids"] for i in items], batch_first=True, padding_value=1)
    mask = torch.nn.utils.rnn.pad_sequence([torch.ones(len(i["ids"]), dtype=torch.long) for i in items],
                                           batch_first=True)
    mels = torch.nn.utils.rnn.pad_sequence([i["mel"] for i in items], batch_first=True, padding_value=-100.0)
    return {"input_ids": ids, "attention_mask": mask, "labels": mels,
            "mel_list": [i["mel"] for i in items], "waves": [i["wave"] for i in items],
            "speaker": torch.tensor([i["speaker"] for i in items]),
            "specs": [EmotionSpec.parse(i["emotion"]).with_intensity(i["intensity"]) for i in items]}


class IndexedItems(torch.utils.data.Dataset):
    def __init__(self, items: list[dict], speakers: list[str]) -> None:
        self.items = [{**item, "speaker": speakers.index(item["identity"])} for item in items]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        return self.items[index]


# -- models ----------------------------------------------------------------------------------------


def train_tokenizer(texts: list[str], folder: Path):
    """A character-level sentencepiece model (case-folded) saved as a SpeechT5Tokenizer."""
    import sentencepiece as spm
    from transformers import SpeechT5Tokenizer

    folder.mkdir(parents=True, exist_ok=True)
    lines = [t.lower() for t in texts] + [TOKENIZER_ALPHABET] * 3
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_prefix=str(folder / "spm_char"),
                                   model_type="char", character_coverage=1.0, hard_vocab_limit=False,
                                   vocab_size=len(set("".join(lines))) + 4, bos_id=0, pad_id=1, eos_id=2, unk_id=3,
                                   normalization_rule_name="nmt_nfkc_cf", minloglevel=2)
    tokenizer = SpeechT5Tokenizer(vocab_file=str(folder / "spm_char.model"))
    tokenizer.save_pretrained(str(folder))
    return tokenizer


def tiny_backbone(config: TTSConfig, vocab_size: int):
    from transformers import SpeechT5Config, SpeechT5ForTextToSpeech

    width = config.hidden_size
    settings = SpeechT5Config(
        vocab_size=vocab_size, hidden_size=width, encoder_layers=config.layers, decoder_layers=config.layers,
        encoder_attention_heads=config.heads, decoder_attention_heads=config.heads, encoder_ffn_dim=2 * width,
        decoder_ffn_dim=2 * width, speech_decoder_prenet_units=width, speech_decoder_postnet_units=width,
        speech_decoder_postnet_layers=3, speaker_embedding_dim=config.speaker_dim, num_mel_bins=80,
        reduction_factor=2, max_speech_positions=1000, max_text_positions=300, use_guided_attention_loss=True,
        guided_attention_loss_num_heads=config.heads, positional_dropout=0.0, hidden_dropout=0.0,
        attention_dropout=0.0, activation_dropout=0.0, speech_decoder_prenet_dropout=0.5,
        encoder_layerdrop=0.0, decoder_layerdrop=0.0)  # with two layers, layerdrop could drop them all
    return SpeechT5ForTextToSpeech(settings)


def tiny_vocoder(config: TTSConfig, mel_statistics: tuple[torch.Tensor, torch.Tensor]):
    from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

    settings = SpeechT5HifiGanConfig(upsample_initial_channel=config.vocoder_channels,
                                     upsample_rates=[4, 4, 4, 4], upsample_kernel_sizes=[8, 8, 8, 8],
                                     resblock_kernel_sizes=[3, 7], resblock_dilation_sizes=[[1, 3], [1, 3]],
                                     sampling_rate=SAMPLE_RATE, normalize_before=True)
    vocoder = SpeechT5HifiGan(settings)
    mean, std = mel_statistics
    vocoder.mean.copy_(mean)
    vocoder.scale.copy_(std.clamp(min=1e-3))
    return vocoder


def stft_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Multi-resolution STFT loss (spectral convergence + log magnitude), as in Parallel WaveGAN."""
    total = predicted.new_zeros(())
    for size in (256, 512, 1024):
        window = torch.hann_window(size, device=predicted.device)
        spectra = [torch.stft(x, size, size // 4, window=window, return_complex=True).abs().clamp(min=1e-5)
                   for x in (predicted, target)]
        total = total + (spectra[1] - spectra[0]).norm() / spectra[1].norm() + F.l1_loss(spectra[0].log(),
                                                                                         spectra[1].log())
    return total / 3


class TTSTrainingModel(torch.nn.Module):
    """Backbone, conditioner, speaker table and (tiny recipe) vocoder as one module for accelerate."""

    def __init__(self, backbone, conditioner: SpeakerEmotionConditioner, speakers: torch.Tensor, vocoder,
                 bank: EmotionBank, train_vocoder: bool, crop_frames: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.conditioner = conditioner
        self.speakers = torch.nn.Parameter(speakers)
        self.vocoder = vocoder
        self.bank = bank.requires_grad_(False)
        self.train_vocoder = train_vocoder
        self.crop_frames = crop_frames

    def speaker_embeddings(self, speaker: torch.Tensor, specs: list[EmotionSpec]) -> torch.Tensor:
        with torch.no_grad():
            emotion = self.bank.embed(specs)
        return self.conditioner(self.speakers[speaker], emotion)

    def forward(self, batch: dict, generator: torch.Generator) -> dict:
        output = self.backbone(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                               speaker_embeddings=self.speaker_embeddings(batch["speaker"], batch["specs"]),
                               labels=batch["labels"])
        parts = {"speech": output.loss}
        if self.train_vocoder:
            mels, waves = [], []
            hop = int(np.prod(self.vocoder.config.upsample_rates))
            for mel, wave in zip(batch["mel_list"], batch["waves"]):
                frames = min(self.crop_frames, mel.shape[0])
                start = int(torch.randint(0, mel.shape[0] - frames + 1, (1,), generator=generator))
                mels.append(mel[start: start + frames])
                waves.append(wave[start * hop: (start + frames) * hop])
            frames = min(m.shape[0] for m in mels)
            predicted = self.vocoder(torch.stack([m[:frames] for m in mels]).to(output.loss.device))
            target = torch.stack([w[: frames * hop] for w in waves]).to(predicted)
            parts["vocoder"] = stft_loss(predicted, target)
        parts["loss"] = sum(parts.values())
        return parts


# -- training --------------------------------------------------------------------------------------


def prepare_data(config: TTSConfig, accelerator) -> tuple[list[Clip], Path]:
    output = Path(config.output_dir)
    if config.manifest:
        manifest = Path(config.manifest)
    else:
        manifest = output / "corpus" / "manifest.jsonl"
        if accelerator.is_main_process and not manifest.is_file():
            levels = tuple(float(x) for x in config.synthetic_intensities.split(","))
            synthesize_speech_corpus(output / "corpus", config.synthetic_voices, config.synthetic_sentences,
                                     levels, config.seed)
        accelerator.wait_for_everyone()
    clips = [c for c in read_manifest(manifest) if c.split in ("train", "val")]
    missing = [c.id for c in clips if not c.text or not c.audio]
    if missing:
        raise EmostudioError(f"{len(missing)} clip(s) in {manifest} lack text or audio (first: {missing[0]}); "
                             "speech training needs a transcript per recording.")
    if not any(c.split == "train" for c in clips):
        raise EmostudioError(f"{manifest} has no 'train' clips; mark some clips split 'train'.")
    return clips, manifest


def train(config: TTSConfig) -> dict[str, float]:
    from torch.utils.data import DataLoader

    if config.lora_rank and not config.base_model:
        raise EmostudioError("lora_rank needs a pretrained base_model (the tiny backbone is trained whole); "
                             "set base_model or lora_rank: 0.")
    torch.set_flush_denormal(True)  # a young vocoder's near-silent activations are denormal: 30x slower on CPU
    accelerator = make_accelerator(config)
    output = Path(config.output_dir)
    clips, _ = prepare_data(config, accelerator)

    from transformers import SpeechT5ForTextToSpeech, SpeechT5HifiGan, SpeechT5Tokenizer

    if config.base_model:
        backbone = SpeechT5ForTextToSpeech.from_pretrained(config.base_model)
        tokenizer = SpeechT5Tokenizer.from_pretrained(config.base_model)
        tokenizer.save_pretrained(str(output / "tokenizer"))
    else:
        tokenizer = train_tokenizer([c.text for c in clips], output / "tokenizer")
        backbone = tiny_backbone(config, len(tokenizer))
    hop = 256
    items = clip_features(clips, tokenizer, backbone.config.reduction_factor, hop, config.max_seconds)
    speakers = sorted({item["identity"] for item in items})
    train_items = [i for i, c in zip(items, clips) if c.split == "train"]
    val_items = [i for i, c in zip(items, clips) if c.split == "val"] or train_items[:4]
    if config.base_vocoder:
        vocoder = SpeechT5HifiGan.from_pretrained(config.base_vocoder).requires_grad_(False)
    else:
        frames = torch.cat([i["mel"] for i in train_items])
        vocoder = tiny_vocoder(config, (frames.mean(0), frames.std(0)))
    if config.base_model:
        backbone.requires_grad_(False)
        backbone.save_pretrained(str(output / "model"))  # frozen: saved as loaded, LoRA apart
        if config.lora_rank:
            add_lora(SpeechT5Backbone.lora_module(backbone), LORA_TARGETS, config.lora_rank)
    conditioner = SpeakerEmotionConditioner(speaker_dim=backbone.config.speaker_embedding_dim,
                                            hidden_dim=config.conditioner_hidden)
    generator = torch.Generator().manual_seed(config.seed)
    table = torch.randn(len(speakers), backbone.config.speaker_embedding_dim, generator=generator)
    model = TTSTrainingModel(backbone, conditioner, table, vocoder, EmotionBank(), not config.base_vocoder,
                             config.vocoder_crop_frames)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=config.weight_decay)
    order = torch.Generator().manual_seed(config.seed)
    train_data = IndexedItems(train_items, speakers)
    train_loader = DataLoader(train_data, batch_size=config.batch_size, shuffle=True, generator=order,
                              collate_fn=collate, drop_last=len(train_data) > config.batch_size)
    steps_per_epoch = math.ceil(len(train_loader) / config.gradient_accumulation_steps)
    total_steps = config.max_steps or config.epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.learning_rate, total_steps=total_steps,
                                                    pct_start=0.1)
    model, optimizer, train_loader, scheduler = accelerator.prepare(model, optimizer, train_loader, scheduler)
    if accelerator.is_main_process and config.report_to not in ("", "none"):
        accelerator.init_trackers("tts", config={k: v for k, v in dataclasses.asdict(config).items()
                                                 if isinstance(v, (int, float, str, bool))})
    val_batch = collate(IndexedItems(val_items, speakers).items[: config.batch_size])

    def validate(step: int) -> dict[str, float]:
        unwrapped = accelerator.unwrap_model(model)
        unwrapped.eval()
        with torch.no_grad():
            loss = float(unwrapped(val_batch, torch.Generator().manual_seed(0))["speech"])
        export(unwrapped, output, speakers, config)
        write_validation_audio(output, step, config.validation_text)
        unwrapped.train()
        accelerator.print(f"step {step}: validation loss {loss:.3f}")
        return {"loss": loss}

    history, metrics = fit(accelerator, config, model, optimizer, train_loader, scheduler, trainable, total_steps,
                           steps_per_epoch, order, validate)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        final = accelerator.unwrap_model(model)
        export(final, output, speakers, config)
        metrics["train_loss"] = history[-1]["loss"] if history else float("nan")
        (output / "metrics.json").write_text(json.dumps(metrics, indent=2))
        with open(output / "loss_history.jsonl", "a", encoding="utf-8") as handle:
            for row in history:
                handle.write(json.dumps(row) + "\n")
    accelerator.end_training()
    return metrics


def export(model: TTSTrainingModel, output: Path, speakers: list[str], config: TTSConfig) -> None:
    """Write the run folder ``NeuralSpeechBackend`` loads (model, vocoder, conditioner, speakers)."""
    from safetensors.torch import save_file

    from ..generation.runs import RUN_KIND_FILE, save_lora

    if not config.base_model:
        model.backbone.save_pretrained(str(output / "model"))
    elif config.lora_rank:
        save_lora(SpeechT5Backbone.lora_module(model.backbone), output / "lora", LORA_TARGETS, config.lora_rank)
    model.vocoder.save_pretrained(str(output / "vocoder"))
    model.conditioner.save_pretrained(str(output / "conditioner"))
    save_file({name: vector.detach().clone().contiguous() for name, vector in zip(speakers, model.speakers)},
              str(output / "speakers.safetensors"))
    if not (output / RUN_KIND_FILE).is_file():  # the run id stays the same across validations and resumes
        mark_run(output, TTS_KIND, backbone="speecht5", default_speaker=speakers[0])


def write_validation_audio(output: Path, step: int, text: str) -> None:
    from ..generation.speech.neural import NeuralSpeechBackend

    backend = NeuralSpeechBackend(output)
    folder = output / "validation"
    folder.mkdir(exist_ok=True)
    for emotion in ("neutral", "happy", "sad", "angry"):
        backend.speak(text, emotion, seed=0).save(folder / f"step-{step:06d}-{emotion}.wav")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="emostudio train tts", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="YAML file of settings (see TTSConfig)")
    parser.add_argument("--manifest", help="override the config's manifest (clips with audio and text)")
    parser.add_argument("--output-dir", help="override the config's output_dir")
    parser.add_argument("--resume-from-checkpoint", help="'latest' or a checkpoint folder")
    parser.add_argument("--max-steps", type=int, help="stop after this many optimiser steps")
    args = parser.parse_args(argv)
    try:
        config = load_config(TTSConfig, args.config, manifest=args.manifest, output_dir=args.output_dir,
                             resume_from_checkpoint=args.resume_from_checkpoint, max_steps=args.max_steps)
        train(config)
    except EmostudioError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
