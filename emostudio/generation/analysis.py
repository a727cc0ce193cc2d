"""Reading emotion from a recording: features of a clip, and the embedder applied to them.

A clip is audio, video or both. Video frames go through MediaPipe face-mesh tracking; audio
becomes a log-mel spectrogram. The trained DisentangledEmotionEmbedder turns either or both into
a point in the EmotionBank's space, and the bank reads a category mixture off it. Used by
``--emotion-from`` (emotion transfer without identity), ``emostudio analyze`` and training.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..conditioning import CATEGORIES, EmotionSpec
from ..conditioning.embedder import HOP_S, audio_features, normalize_landmarks, speech_evidence
from ..errors import EmostudioError
from .media import MAX_AUDIO_SECONDS, read_audio, read_video_frames, read_video_info

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".flv", ".m4v")
MAX_ANALYSIS_SIDE = 480  # frames are shrunk to this before tracking: landmarks need no more


@dataclass
class ClipFeatures:
    """What the embedder reads from a clip; either part may be missing."""

    audio: np.ndarray | None
    sample_rate: int
    landmarks: np.ndarray | None  # (T, 478, 3) pixels, NaN where no face was found
    fps: float
    duration: float

    def audio_features(self, start: float = 0.0, end: float | None = None,
                       kind: str = "log_mel") -> torch.Tensor | None:
        """Audio features of a stretch, computed over the whole recording and then cut, so that a
        stretch is normalised by the recording's levels, not by its own."""
        if self.audio is None:
            return None
        begin = int(start * self.sample_rate)
        stop = len(self.audio) if end is None else int(end * self.sample_rate)
        if stop - begin <= 0.1 * self.sample_rate:
            return None
        whole = self._whole_audio_features(kind)
        return whole[int(round(start / HOP_S)): int(round(stop / self.sample_rate / HOP_S))]

    def _whole_audio_features(self, kind: str) -> torch.Tensor:
        cache = self.__dict__.setdefault("_audio_cache", {})
        if kind not in cache:
            cache[kind] = audio_features(self.audio, self.sample_rate, kind)
        return cache[kind]

    def speech_evidence(self, start: float = 0.0, end: float | None = None) -> float:
        """0..1, how much of the stretch is speech with a moving tone (see the embedder's ``speech_evidence``)."""
        if self.audio is None:
            return 0.0
        piece = self.audio[int(start * self.sample_rate): None if end is None else int(end * self.sample_rate)]
        return speech_evidence(piece, self.sample_rate) if len(piece) else 0.0

    def face_evidence(self, start: float = 0.0, end: float | None = None) -> float:
        """0..1, the share of the stretch's frames in which a face was found."""
        if self.landmarks is None:
            return 0.0
        piece = self.landmarks[int(start * self.fps): None if end is None else int(end * self.fps)]
        return float((~np.isnan(piece).any(axis=(1, 2))).mean()) if len(piece) else 0.0

    def visual_features(self, start: float = 0.0, end: float | None = None) -> torch.Tensor | None:
        if self.landmarks is None:
            return None
        begin = int(start * self.fps)
        stop = len(self.landmarks) if end is None else int(end * self.fps)
        piece = self.landmarks[begin:stop]
        piece = piece[~np.isnan(piece).any(axis=(1, 2))]
        return normalize_landmarks(piece) if len(piece) >= 3 else None


def read_clip(path: str | os.PathLike, max_seconds: float = MAX_AUDIO_SECONDS) -> ClipFeatures:
    """Audio and face landmarks of a recording (any audio format, or a video with or without sound)."""
    source = Path(path)
    if not source.is_file():
        raise EmostudioError(f"The clip {source} does not exist; give an audio or video file.")
    landmarks, fps, duration = None, 25.0, 0.0
    if source.suffix.lower() in VIDEO_SUFFIXES:
        info = read_video_info(source)
        if info["duration"] and info["duration"] > max_seconds + 0.25:
            raise EmostudioError(f"{source.name} is {info['duration']:.0f} s long, over the {max_seconds:.0f} s "
                                 "limit; trim it first.")
        fps, duration = float(info["fps"] or 25.0), float(info["duration"] or 0.0)
        landmarks = track_landmarks(read_video_frames(source))
        if np.isnan(landmarks).all():
            landmarks = None
    audio, rate = None, 16000
    try:
        audio, rate = read_audio(source, max_seconds)
        duration = max(duration, len(audio) / rate)
    except EmostudioError:
        if landmarks is None:
            raise
    if audio is None and landmarks is None:
        raise EmostudioError(f"{source.name} has neither sound nor a visible face; give a clip with speech or a face.")
    return ClipFeatures(audio, rate, landmarks, fps, duration)


def track_landmarks(frames) -> np.ndarray:
    """(T, 478, 3) landmarks of the largest face in each frame, NaN where none was found."""
    import cv2

    from .face.perception import LandmarkTracker

    rows = []
    with LandmarkTracker() as tracker:
        for frame in frames:
            scale = min(1.0, MAX_ANALYSIS_SIDE / max(frame.shape[:2]))
            small = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else frame
            found = tracker(small)
            rows.append(np.full((478, 3), np.nan) if found is None else found / scale)
    return np.array(rows, dtype=np.float32) if rows else np.zeros((0, 478, 3), np.float32)


# -- the trained embedder ----------------------------------------------------------------------

def default_model_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "assets" / "emotion_embedder"


@functools.cache
def load_embedder(path: str | None = None):
    """(embedder, bank) from a folder holding ``embedder/`` and ``bank/`` (default: the bundled ones)."""
    from ..conditioning import EmotionBank
    from ..conditioning.embedder import DisentangledEmotionEmbedder

    folder = Path(path) if path else default_model_dir()
    if not (folder / "embedder").is_dir() or not (folder / "bank").is_dir():
        raise EmostudioError(f"No trained emotion embedder in {folder}; pass --embedder with the output folder of "
                             "'emostudio train embedder'.")
    try:
        embedder = DisentangledEmotionEmbedder.from_pretrained(folder / "embedder").eval()
        bank = EmotionBank.from_pretrained(folder / "bank").eval()
    except (OSError, ValueError, RuntimeError, KeyError) as error:
        raise EmostudioError(f"{folder} does not hold an emotion embedder and bank saved by emostudio ({error}).") from error
    return embedder, bank


# A reading below this confidence is reported as "neutral/unclear" rather than as an emotion.
UNCLEAR_BELOW = 0.3


@dataclass
class Reading:
    """The emotion read from a clip or a stretch of it."""

    embedding: object  # EmotionEmbedding (mixture, intensity) of the stretch
    confidence: float  # 0..1: evidence in the stretch times the certainty of the category

    @property
    def weights(self) -> np.ndarray:
        return self.embedding.weights[0].detach().numpy()

    @property
    def intensity(self) -> float:
        return float(self.embedding.intensity[0])

    @property
    def unclear(self) -> bool:
        return self.confidence < UNCLEAR_BELOW


def embed(features: ClipFeatures, embedder, bank, start: float = 0.0,
          end: float | None = None) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(mean, logvar) of a clip or a stretch of it, or None if the stretch has neither stream."""
    audio = features.audio_features(start, end, embedder.config.audio_features)
    visual = features.visual_features(start, end)
    if audio is None and visual is None:
        return None
    with torch.no_grad():
        output = embedder(audio=None if audio is None else audio[None], visual=None if visual is None else visual[None])
    return output.mean, output.logvar


def reading_confidence(features: ClipFeatures, embedder, bank, mean: torch.Tensor, start: float = 0.0,
                       end: float | None = None) -> float:
    """0..1: how far to trust the reading of a stretch.

    The evidence (speech with a moving tone, or a visible face, whichever is stronger) times the
    certainty of the category: the most likely category's probability, from 0 when all are
    equally likely to 1 when one takes everything. A held tone, noise, silence, or a word lost in
    silence gives little evidence; an embedding halfway between prototypes gives little certainty.
    """
    evidence = features.speech_evidence(start, end)
    if features.visual_features(start, end) is not None:
        evidence = max(evidence, features.face_evidence(start, end))
    with torch.no_grad():
        posterior = bank.posterior(mean)[0]
    chance = 1.0 / len(posterior)
    certainty = float((posterior.max() - chance) / (1.0 - chance))
    return float(np.clip(evidence * certainty, 0.0, 1.0))


def read_emotion(features: ClipFeatures, embedder, bank, start: float = 0.0,
                 end: float | None = None) -> Reading | None:
    """The reading of a clip or a stretch of it, or None if the stretch has neither stream."""
    result = embed(features, embedder, bank, start, end)
    if result is None:
        return None
    with torch.no_grad():
        embedding = bank.embedding_from_vector(*result)
    return Reading(embedding, reading_confidence(features, embedder, bank, result[0], start, end))


def spec_from_clip(path: str | os.PathLike, embedder_path: str | None = None) -> EmotionSpec:
    """The emotion of a reference recording as a spec (its mixture and intensity, no identity).

    The intensity is scaled by the reading's confidence, so a weak or unclear reading transfers a
    weak emotion instead of a confident wrong one.
    """
    embedder, bank = load_embedder(embedder_path)
    features = read_clip(path)
    reading = read_emotion(features, embedder, bank)
    if reading is None:
        raise EmostudioError(f"{Path(path).name} is too short to read an emotion from; give at least a second.")
    weights = {name: float(w) for name, w in zip(CATEGORIES, reading.weights) if w >= 0.05}
    total = sum(weights.values())
    note = "unclear, " if reading.unclear else ""
    spec = EmotionSpec({k: v / total for k, v in weights.items()}, reading.intensity * reading.confidence,
                       "reference", f"from {Path(path).name} ({note}confidence {reading.confidence:.2f})")
    return spec


def analyze_clip(path: str | os.PathLike, embedder_path: str | None = None,
                 window: float = 1.0) -> tuple[Reading, list[tuple[float, float, np.ndarray, float, float]]]:
    """The whole clip's reading, and (start, end, category weights, intensity, confidence) for each
    ``window`` seconds of it."""
    embedder, bank = load_embedder(embedder_path)
    features = read_clip(path)
    overall = read_emotion(features, embedder, bank)
    rows = []
    start = 0.0
    while start < features.duration - 1e-6:
        end = min(start + window, features.duration)
        reading = read_emotion(features, embedder, bank, start, end)
        if reading is not None:
            rows.append((start, end, reading.weights, reading.intensity, reading.confidence))
        start = end
    if overall is None or not rows:
        raise EmostudioError(f"{Path(path).name} has no stretch with speech or a face to analyse.")
    return overall, rows


def emotion_over_time(path: str | os.PathLike, embedder_path: str | None = None,
                      window: float = 1.0) -> list[tuple[float, float, np.ndarray, float, float]]:
    """(start, end, category weights, intensity, confidence) for each ``window`` seconds of a clip."""
    return analyze_clip(path, embedder_path, window)[1]
