"""Cached clip features for training: audio features and normalised face landmarks per clip.

Tracking faces in video is the slow part of reading a clip, so each clip is read once and its
features are stored as ``<cache>/<clip id>.safetensors``; later epochs and later runs read those.
The audio is stored as the embedder's kind of features (``audio_<kind>``), and for training clips
also as features of ``voice_variants`` re-recorded copies (``audio_<kind>_<n>``, see
:func:`vary_recording`), so that a speaker's voice or a microphone cannot carry the label.
"""

from __future__ import annotations

import random
import zlib
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch.utils.data import Dataset

from ...conditioning import CATEGORIES
from ...conditioning.embedder import audio_features
from ...errors import EmostudioError
from ...generation.analysis import ClipFeatures, read_clip
from ...generation.media import MAX_AUDIO_SECONDS, read_audio
from .manifest import Clip

EMPTY = torch.zeros(0)


def audio_key(kind: str, variant: int = 0) -> str:
    return f"audio_{kind}" if variant == 0 else f"audio_{kind}_{variant}"


def cache_features(clips: list[Clip], base: Path, cache: Path, show_progress: bool = True, kind: str = "log_mel",
                   voice_variants: int = 0, seed: int = 0) -> None:
    """Compute and store the features of every clip not cached yet (and any variant missing).

    ``voice_variants`` re-recorded copies are made of the clips in the train split only.
    """
    from tqdm import tqdm

    cache.mkdir(parents=True, exist_ok=True)

    def wanted(clip: Clip) -> list[str]:
        variants = voice_variants if clip.split == "train" else 0
        return ["visual"] + [audio_key(kind, n) for n in range(variants + 1)]

    def stored(clip: Clip) -> dict[str, torch.Tensor]:
        path = cache / f"{clip.id}.safetensors"
        return load_file(str(path)) if path.exists() else {}

    missing = [clip for clip in clips if not set(wanted(clip)) <= set(stored(clip))]
    for clip in tqdm(missing, desc="features", unit="clip", disable=not show_progress or None):
        tensors = stored(clip)
        features = None
        for key in wanted(clip):
            if key in tensors:
                continue
            if features is None:
                features = _read(base / (clip.video or clip.audio), track_faces="visual" not in tensors)
            if key == "visual":
                visual = features.visual_features()
                tensors["visual"] = visual if visual is not None else EMPTY
                continue
            variant = int(key.rsplit("_", 1)[1]) if key != audio_key(kind) else 0
            if features.audio is None:
                tensors[key] = EMPTY
                continue
            waveform = features.audio
            if variant:
                rng = np.random.default_rng([seed, variant, zlib.crc32(clip.id.encode())])
                waveform = vary_recording(waveform, features.sample_rate, rng)
            tensors[key] = audio_features(waveform, features.sample_rate, kind)
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(cache / f"{clip.id}.safetensors"))


def _read(path: Path, track_faces: bool) -> ClipFeatures:
    """A clip's features; without ``track_faces`` only its sound is read (tracking is the slow part)."""
    if track_faces:
        return read_clip(path)
    try:
        audio, rate = read_audio(path, MAX_AUDIO_SECONDS)
    except EmostudioError:
        audio, rate = None, 16000
    return ClipFeatures(audio, rate, None, 25.0, 0.0 if audio is None else len(audio) / rate)


def vary_recording(waveform: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """The same performance as another speaker in another room with another microphone.

    Praat's PSOLA "Change gender" moves the voice's median pitch by up to 7 semitones and its
    formants by a factor 0.85..1.2 (a different vocal tract), stretches the timing by up to 10%
    and the pitch range by up to 10% (how lively a speaker is by habit); then the gain changes by
    up to 12 dB, the spectrum is tilted by up to 3 dB per octave around 1 kHz (a microphone),
    sometimes band-limited like a telephone, sometimes reverberated (0.1 to 0.6 s), and noise is
    added at 10 to 40 dB SNR.
    """
    import parselmouth
    from parselmouth.praat import call
    from scipy.signal import butter, fftconvolve, sosfilt

    audio = np.asarray(waveform, dtype=np.float64)
    sound = parselmouth.Sound(audio, sample_rate)
    pitch = sound.to_pitch_ac(time_step=0.01, pitch_floor=60, pitch_ceiling=700).selected_array["frequency"]
    voiced = pitch[pitch > 0]
    median = float(np.median(voiced)) if len(voiced) else 0.0
    new_median = median * 2 ** (rng.uniform(-7, 7) / 12) if median else 0.0
    changed = call(sound, "Change gender", 60, 700, rng.uniform(0.85, 1.2), new_median, rng.uniform(0.9, 1.1),
                   rng.uniform(0.9, 1.1))
    audio = changed.values[0].astype(np.float64)
    spectrum = np.fft.rfft(audio)
    frequencies = np.fft.rfftfreq(len(audio), 1 / sample_rate)
    octaves = np.log2(np.maximum(frequencies, 100.0) / 1000.0)
    spectrum *= 10 ** (rng.uniform(-3, 3) * octaves / 20)
    audio = np.fft.irfft(spectrum, len(audio))
    if rng.random() < 0.15:
        audio = sosfilt(butter(4, [300, min(3400, sample_rate / 2 - 1)], "bandpass", fs=sample_rate, output="sos"),
                        audio)
    if rng.random() < 0.3:
        decay = rng.uniform(0.1, 0.6)
        length = int(decay * sample_rate)
        response = rng.standard_normal(length) * np.exp(-6.9 * np.arange(length) / length)
        response[0] = 1.0 / rng.uniform(0.05, 0.3)
        audio = fftconvolve(audio, response / np.abs(response).sum() * 4.0)[: len(audio)]
    power = np.mean(audio**2) + 1e-12
    if rng.random() < 0.7:
        audio = audio + rng.standard_normal(len(audio)) * np.sqrt(power / 10 ** (rng.uniform(10, 40) / 10))
    audio *= 10 ** (rng.uniform(-12, 12) / 20)
    return audio / max(1.0, float(np.abs(audio).max()))


class ClipFeatureDataset(Dataset):
    """Cached features with labels: emotion index, intensity and identity index.

    With ``random_crop`` (training), each item is a random stretch of a random one of the clip's
    cached recordings (the original or a voice variant), with the face stretched a little.
    """

    def __init__(self, clips: list[Clip], cache: Path, identities: list[str], max_seconds: float = 3.0,
                 random_crop: bool = False, kind: str = "log_mel", voice_variants: int = 0) -> None:
        self.clips = clips
        self.cache = cache
        self.identity_index = {name: i for i, name in enumerate(identities)}
        self.max_audio = int(max_seconds / 0.01)
        self.max_visual = int(max_seconds * 25)
        self.random_crop = random_crop
        self.kind = kind
        self.voice_variants = voice_variants

    def __len__(self) -> int:
        return len(self.clips)

    def _crop(self, features: torch.Tensor, limit: int, start_fraction: float) -> torch.Tensor:
        if features.numel() == 0 or len(features) <= limit:
            return features
        start = int(start_fraction * (len(features) - limit))
        return features[start: start + limit]

    def __getitem__(self, index: int) -> dict:
        clip = self.clips[index]
        tensors = load_file(str(self.cache / f"{clip.id}.safetensors"))
        where = random.random() if self.random_crop else 0.5
        variant = random.randint(0, self.voice_variants) if self.random_crop else 0
        audio = tensors.get(audio_key(self.kind, variant), tensors.get(audio_key(self.kind), EMPTY))
        audio = self._crop(audio, self.max_audio, where)
        visual = self._crop(tensors["visual"], self.max_visual, where)
        if self.random_crop:
            audio, visual = augment(audio, visual, shift_bands=self.kind == "log_mel")
        return {
            "audio": audio,
            "visual": visual,
            "emotion": CATEGORIES.index(clip.emotion),
            "intensity": float(clip.intensity),
            "identity": self.identity_index.get(clip.identity, -1),
        }


def augment(audio: torch.Tensor, visual: torch.Tensor, shift_bands: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Identity-like variation that must not change the label: voice and face shape.

    The log-mel is shifted by up to four bands (a few semitones of pitch and formants; the
    normalised features get their voice changes from re-recorded variants instead), and the face
    is stretched by up to 8% horizontally and vertically.
    """
    if audio.numel() and shift_bands:
        shift = random.randint(-4, 4)
        if shift:
            audio = torch.roll(audio, shift, dims=1)
            edge = slice(0, shift) if shift > 0 else slice(shift, None)
            audio[:, edge] = audio[:, edge].min()
    if visual.numel():
        scale = torch.tensor([random.uniform(0.92, 1.08), random.uniform(0.92, 1.08)])
        visual = (visual.reshape(len(visual), -1, 2) * scale).reshape(len(visual), -1)
    return audio, visual


def _pad(items: list[torch.Tensor], width: int) -> tuple[torch.Tensor, torch.Tensor]:
    length = max([len(t) for t in items] + [1])
    batch = torch.zeros(len(items), length, width)
    mask = torch.zeros(len(items), length, dtype=torch.bool)
    for row, tensor in enumerate(items):
        if tensor.numel():
            batch[row, : len(tensor)] = tensor
            mask[row, : len(tensor)] = True
    return batch, mask


def collate(samples: list[dict], audio_width: int, visual_width: int) -> dict:
    audio, audio_mask = _pad([s["audio"] for s in samples], audio_width)
    visual, visual_mask = _pad([s["visual"] for s in samples], visual_width)
    return {
        "audio": audio, "audio_mask": audio_mask, "visual": visual, "visual_mask": visual_mask,
        "emotion": torch.tensor([s["emotion"] for s in samples]),
        "intensity": torch.tensor([s["intensity"] for s in samples]),
        "identity": torch.tensor([s["identity"] for s in samples]),
    }
