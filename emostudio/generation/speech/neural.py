"""Neural emotional speech: a transformers TTS backbone whose speaker embedding carries the emotion.

A run folder (written by ``emostudio train tts``) holds the backbone, its vocoder and tokenizer,
the ``SpeakerEmotionConditioner`` and the known speakers' embeddings; a voice folder (written by
``emostudio train voice``) holds a new speaker (and optional LoRA) and names the tts run it was
tuned from. The emotion never touches the speaker vector itself: each segment is spoken with
``speaker + conditioner(emotion)``, so intensity 0 is exactly the plain voice.

Timeline segments are synthesised one sentence at a time with their own emotion, the mel
spectrograms are laid end to end with short pauses and vocoded once, so joins are smooth.
Timings: the backbone (SpeechT5) gives no alignment, so word times are honest estimates: each
sentence's span (exact, from its own frames) is shared among its words in proportion to their
characters, and a word's span evenly among its phonemes (espeak-ng).

Only SpeechT5 is implemented; another transformers backbone plugs in as a ``Backbone`` without
touching the callers.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...conditioning import EmotionSpec, Timeline
from ...errors import EmostudioError
from ..runs import open_run
from .base import SegmentTiming, SpeechBackend, SpeechResult, Timing

TTS_KIND, VOICE_KIND = "tts", "voice"
TTS_FILES = ("model", "vocoder", "tokenizer", "conditioner", "speakers.safetensors")
VOICE_FILES = ("speakers.safetensors",)
SAMPLE_RATE = 16_000
SENTENCE_PAUSE_S = 0.2
MAX_FRAMES_PER_CHAR = 8.0  # stop decoding if the stop token never fires
_SENTENCE_RE = re.compile(r"[^.!?…]+[.!?…]*")
_WORD_RE = re.compile(r"\S+")


@dataclass(frozen=True)
class RunFolders:
    """Where a model's parts are: the tts run, and the voice folder when one was given."""

    base: Path
    voice: Path | None
    speaker: str | None  # the default speaker's name


def locate_run(folder: str | os.PathLike) -> RunFolders:
    """Check a tts or voice folder (and a voice's base) is complete; cheap, before any model loads."""
    source = Path(folder)
    record = open_run(source, (TTS_KIND, VOICE_KIND))
    if record["kind"] == TTS_KIND:
        open_run(source, TTS_KIND, TTS_FILES)
        return RunFolders(source, None, record.get("default_speaker"))
    open_run(source, VOICE_KIND, VOICE_FILES)
    base = Path(record.get("base", ""))
    if not base.is_absolute():
        base = (source / base).resolve()
    base_record = open_run(base, TTS_KIND, TTS_FILES)
    if base_record.get("run_id") != record.get("base_run_id"):
        raise EmostudioError(f"The voice {source} was tuned from another tts run than {base} (run ids differ); "
                             "tune the voice again on this base or restore the base it was tuned from.")
    return RunFolders(base, source, record.get("default_speaker"))


def read_speakers(path: Path) -> dict[str, "torch.Tensor"]:  # noqa: F821
    from safetensors.torch import load_file

    return dict(load_file(str(path)))


class SpeechT5Backbone:
    """SpeechT5ForTextToSpeech + SpeechT5HifiGan + SpeechT5Tokenizer from a run folder."""

    name = "speecht5"

    def __init__(self, folder: Path) -> None:
        from transformers import SpeechT5Tokenizer

        self.folder = folder
        self.tokenizer = SpeechT5Tokenizer.from_pretrained(str(folder / "tokenizer"))

    def encode(self, text: str) -> list[int]:
        """Token ids (with the end token); characters the tokenizer lacks are an error naming them."""
        ids = self.tokenizer(text)["input_ids"]
        unknown = self.tokenizer.unk_token_id
        if unknown in ids:
            pieces = self.tokenizer.convert_ids_to_tokens(self.tokenizer(text, add_special_tokens=False)["input_ids"])
            known = set(self.tokenizer.get_vocab())
            missing = sorted({ch for ch in text if ch.strip() and ch not in known and ch not in pieces})
            shown = "".join(missing) or "some characters"
            raise EmostudioError(f"The model's tokenizer cannot encode {shown!r} in {text[:60]!r}; write the text "
                                 "with the letters and punctuation it was trained on.")
        return ids

    @staticmethod
    def lora_module(model):
        """Where LoRA goes (and is saved from): the decoder, which turns text and speaker into mel."""
        return model.speecht5.decoder

    @functools.cached_property
    def model(self):
        from transformers import SpeechT5ForTextToSpeech

        return SpeechT5ForTextToSpeech.from_pretrained(str(self.folder / "model")).eval()

    @functools.cached_property
    def vocoder(self):
        from transformers import SpeechT5HifiGan

        return SpeechT5HifiGan.from_pretrained(str(self.folder / "vocoder")).eval()

    @property
    def sample_rate(self) -> int:
        return int(self.vocoder.config.sampling_rate)

    @property
    def hop_length(self) -> int:
        return int(np.prod(self.vocoder.config.upsample_rates))

    def mel(self, ids: list[int], speaker: "torch.Tensor") -> "torch.Tensor":  # noqa: F821
        """(frames, mel bins) log-mel spectrogram for one sentence."""
        import torch

        input_ids = torch.tensor([ids])
        with torch.no_grad():
            return self.model.generate_speech(input_ids, speaker[None], attention_mask=torch.ones_like(input_ids),
                                              minlenratio=0.5, maxlenratio=MAX_FRAMES_PER_CHAR)

    def vocode(self, mel: "torch.Tensor") -> np.ndarray:  # noqa: F821
        import torch

        with torch.no_grad():
            return self.vocoder(mel).numpy().astype(np.float32).reshape(-1)


BACKBONES = {SpeechT5Backbone.name: SpeechT5Backbone}


class NeuralSpeechBackend(SpeechBackend):
    """Emotional speech from a trained tts run (or a voice tuned from one)."""

    name = "neural"

    def __init__(self, folder: str | os.PathLike, speaker: str | None = None, bank=None,
                 emotion_scale: float | None = None) -> None:
        self.folders = locate_run(folder)
        record = open_run(self.folders.base, TTS_KIND)
        backbone = BACKBONES.get(record.get("backbone", "speecht5"))
        if backbone is None:
            raise EmostudioError(f"{self.folders.base} holds a {record.get('backbone')!r} backbone this version "
                                 f"cannot run; the known ones are {', '.join(BACKBONES)}.")
        self.backbone = backbone(self.folders.base)
        self.speaker_name = speaker or self.folders.speaker
        self._bank = bank
        self._emotion_scale = emotion_scale
        self._loaded = False

    @functools.cached_property
    def speakers(self) -> dict[str, "torch.Tensor"]:  # noqa: F821
        known = read_speakers(self.folders.base / "speakers.safetensors")
        if self.folders.voice is not None:
            known.update(read_speakers(self.folders.voice / "speakers.safetensors"))
        return known

    def speaker(self) -> "torch.Tensor":  # noqa: F821
        name = self.speaker_name or next(iter(self.speakers))
        if name not in self.speakers:
            raise EmostudioError(f"The model has no speaker {name!r}; its speakers are {', '.join(self.speakers)}.")
        return self.speakers[name]

    @functools.cached_property
    def conditioner(self):
        from ...conditioning.adapters import SpeakerEmotionConditioner

        conditioner = SpeakerEmotionConditioner.from_pretrained(str(self.folders.base / "conditioner")).eval()
        if self._emotion_scale is not None:
            conditioner.emotion_scale = self._emotion_scale
        return conditioner

    @functools.cached_property
    def bank(self):
        from ...conditioning import EmotionBank

        return self._bank or EmotionBank()

    def load(self) -> "NeuralSpeechBackend":
        """Load every model now (otherwise the first synthesis does), e.g. before timing it."""
        from ..runs import load_lora

        if self._loaded:
            return self
        target = self.backbone.lora_module(self.backbone.model)
        if self.folders.voice is not None and (self.folders.voice / "lora").is_dir():
            load_lora(target, self.folders.voice / "lora")
        elif (self.folders.base / "lora").is_dir():
            load_lora(target, self.folders.base / "lora")
        _ = self.backbone.vocoder, self.conditioner, self.speakers
        self._loaded = True
        return self

    def speaker_for(self, specs: list[EmotionSpec]) -> "torch.Tensor":  # noqa: F821
        """(len(specs), D) speaker embeddings moved by each emotion."""
        import torch

        with torch.no_grad():
            return self.conditioner(self.speaker(), self.bank.embed(specs))

    def synthesize(self, timeline: Timeline, seed: int | None = None) -> SpeechResult:
        import torch

        # Text problems (characters the tokenizer lacks) surface before any model loads.
        plan = [[(sentence, self.backbone.encode(sentence)) for sentence in _sentences(segment.text)]
                for segment in timeline.segments]
        if not any(plan):
            raise EmostudioError("The text has no words to speak; give a sentence with letters or numbers.")
        self.load()
        torch.set_flush_denormal(True)  # denormal activations make CPU convolutions many times slower
        speakers = self.speaker_for(timeline.specs)
        hop, rate = self.backbone.hop_length, self.backbone.sample_rate
        pause = int(round(SENTENCE_PAUSE_S * rate / hop))
        mels: list[torch.Tensor] = []
        cursor = 0
        spans: list[tuple[int, str, int, int]] = []  # (segment, sentence, first frame, end frame)
        # SpeechT5's decoder prenet keeps dropout on when generating; the seed fixes the draw.
        rng = torch.random.fork_rng() if seed is not None else contextlib.nullcontext()
        with rng:
            if seed is not None:
                torch.manual_seed(seed)
            for index, sentences in enumerate(plan):
                for sentence, ids in sentences:
                    if mels:
                        mels.append(None)  # a pause, filled once the floor is known
                        cursor += pause
                    mel = self.backbone.mel(ids, speakers[index])
                    mels.append(mel)
                    spans.append((index, sentence, cursor, cursor + mel.shape[0]))
                    cursor += mel.shape[0]
        floor = torch.cat([m for m in mels if m is not None]).min(dim=0).values
        joined = torch.cat([floor.expand(pause, -1) if m is None else m for m in mels])
        audio = self.backbone.vocode(joined)
        peak = float(np.abs(audio).max()) if audio.size else 0.0
        if peak > 0.99:
            audio = audio * (0.99 / peak)

        segments: list[SegmentTiming] = []
        words: list[Timing] = []
        phonemes: list[Timing] = []
        for index, segment in enumerate(timeline.segments):
            own = [span for span in spans if span[0] == index]
            if own:
                segments.append(SegmentTiming(segment.text, segment.spec, own[0][2] * hop / rate,
                                              own[-1][3] * hop / rate))
        for _, sentence, first, end in spans:
            sentence_words, sentence_phonemes = _estimated_timings(sentence, first * hop / rate, end * hop / rate)
            words += sentence_words
            phonemes += sentence_phonemes
        spec_text = "; ".join(f"{s.text[:40]!r}={s.spec}" for s in segments) if len(segments) > 1 else str(
            segments[0].spec)
        where = self.folders.voice or self.folders.base
        metadata = {"generator": f"emostudio neural/{self.backbone.name}/{where.name}", "emotion": spec_text}
        return SpeechResult(audio, rate, phonemes, words, segments, metadata)


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_RE.findall(text) if any(ch.isalnum() for ch in s)]


@functools.cache
def _phonemizer():
    from .phonemize import EspeakPhonemizer

    return EspeakPhonemizer("en-us")


def _estimated_timings(sentence: str, start: float, end: float) -> tuple[list[Timing], list[Timing]]:
    """Words share the sentence's span by their characters; phonemes share their word's span evenly."""
    written = _WORD_RE.findall(sentence)
    if not written:
        return [], []
    weights = np.array([len(word) + 1 for word in written], dtype=np.float64)
    edges = start + (end - start) * np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
    words = [Timing(word, float(a), float(b)) for word, a, b in zip(written, edges[:-1], edges[1:])]
    phonemes: list[Timing] = []
    try:
        spoken = [_phonemizer().sentences(word) for word in written]
    except EmostudioError:
        return words, []
    for word, parts in zip(words, spoken):
        sounds = [ch for part in parts for ch in part.phonemes if ch.strip() and ch not in "ˈˌːˑ"]
        if not sounds:
            continue
        step = (word.end - word.start) / len(sounds)
        phonemes += [Timing(ch, word.start + k * step, word.start + (k + 1) * step) for k, ch in enumerate(sounds)]
    return words, phonemes
