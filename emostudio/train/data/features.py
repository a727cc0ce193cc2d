"""Cached clip features for training: log-mel audio and normalised face landmarks per clip.

Tracking faces in video is the slow part of reading a clip, so each clip is read once and its
features are stored as ``<cache>/<clip id>.safetensors``; later epochs and later runs read those.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch.utils.data import Dataset

from ...conditioning import CATEGORIES
from ...generation.analysis import read_clip
from .manifest import Clip

EMPTY = torch.zeros(0)


def cache_features(clips: list[Clip], base: Path, cache: Path, show_progress: bool = True) -> None:
    """Compute and store the features of every clip not cached yet."""
    from tqdm import tqdm

    cache.mkdir(parents=True, exist_ok=True)
    missing = [clip for clip in clips if not (cache / f"{clip.id}.safetensors").exists()]
    for clip in tqdm(missing, desc="features", unit="clip", disable=not show_progress or None):
        tensors = {}
        if clip.video:
            features = read_clip(base / clip.video)
        else:
            features = read_clip(base / clip.audio)
        audio = features.audio_features()
        visual = features.visual_features()
        tensors["audio"] = audio if audio is not None else EMPTY
        tensors["visual"] = visual if visual is not None else EMPTY
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(cache / f"{clip.id}.safetensors"))


class ClipFeatureDataset(Dataset):
    """Cached features with labels: emotion index, intensity and identity index."""

    def __init__(self, clips: list[Clip], cache: Path, identities: list[str], max_seconds: float = 3.0,
                 random_crop: bool = False) -> None:
        self.clips = clips
        self.cache = cache
        self.identity_index = {name: i for i, name in enumerate(identities)}
        self.max_audio = int(max_seconds / 0.01)
        self.max_visual = int(max_seconds * 25)
        self.random_crop = random_crop

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
        audio = self._crop(tensors["audio"], self.max_audio, where)
        visual = self._crop(tensors["visual"], self.max_visual, where)
        if self.random_crop:
            audio, visual = augment(audio, visual)
        return {
            "audio": audio,
            "visual": visual,
            "emotion": CATEGORIES.index(clip.emotion),
            "intensity": float(clip.intensity),
            "identity": self.identity_index.get(clip.identity, -1),
        }


def augment(audio: torch.Tensor, visual: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Identity-like variation that must not change the label: voice and face shape.

    The log-mel is shifted by up to four bands (a few semitones of pitch and formants),
    and the face is stretched by up to 8% horizontally and vertically.
    """
    if audio.numel():
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
