"""DisentangledEmotionEmbedder: emotion from audio and/or video, without who is speaking.

After DICE-Talk's disentangled emotion embedder. An audio encoder reads log-mel spectrograms, a
visual encoder reads face-mesh landmarks over time (normalised to the face, so position, size and
roll are gone), cross-modal attention lets each stream look at the other, and the pooled result
is a Gaussian (mean, log-variance) in the EmotionBank's space. Either stream may be missing.

Identity is removed by training, not assumed: an identity classifier reads the embedding through
a gradient-reversal layer, so the encoders are pushed to make identity unpredictable while the
emotion objective (likelihood under the bank's prototypes) keeps emotion readable; after training,
the directions in which the training speakers still differ (for the same emotion) are projected
out, a fixed linear "identity bank" subtracted from every embedding. See ``emostudio.train.embedder``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .pretrained import PretrainedModule, register_to_config

SAMPLE_RATE = 16000
N_MELS = 64
HOP_S = 0.01
# Untrained defaults of the input standardisation (training replaces them with the training set's
# per-channel statistics): log-mel of speech at ordinary levels is about -7 +- 4.6.
LOG_MEL_MEAN, LOG_MEL_STD = -7.0, 4.6
# Landmarks the visual encoder reads: brows, eyes, nose, lips and the face outline, as MediaPipe
# indices (subject's right first). A subset keeps the encoder small and ignores the dense cheeks.
VISUAL_LANDMARKS: tuple[int, ...] = (
    # brows
    107, 55, 66, 65, 105, 52, 63, 53, 70, 46, 336, 285, 296, 295, 334, 282, 293, 283, 300, 276,
    # eyes (rings)
    33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246,
    263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466,
    # nose
    1, 4, 5, 6, 48, 64, 98, 129, 278, 294, 327, 358,
    # lips (outer and inner)
    61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 146, 91, 181, 84, 17, 314, 405, 321, 375,
    78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 95, 88, 178, 87, 14, 317, 402, 318, 324,
    # cheeks and jaw line
    50, 280, 117, 346, 10, 152, 234, 454, 58, 288, 172, 397, 136, 365, 149, 378,
)
_EYE_RIGHT = (33, 133)
_EYE_LEFT = (263, 362)


def log_mel(waveform: np.ndarray, sample_rate: int) -> torch.Tensor:
    """(frames, N_MELS) log-mel spectrogram at 16 kHz, 25 ms windows, 10 ms hop."""
    from scipy.signal import resample_poly

    audio = np.asarray(waveform, dtype=np.float64)
    if sample_rate != SAMPLE_RATE:
        divisor = math.gcd(int(sample_rate), SAMPLE_RATE)
        audio = resample_poly(audio, SAMPLE_RATE // divisor, int(sample_rate) // divisor)
    signal = torch.tensor(audio, dtype=torch.float32)
    window = int(0.025 * SAMPLE_RATE)
    spectrum = torch.stft(signal, n_fft=512, hop_length=int(HOP_S * SAMPLE_RATE), win_length=window,
                          window=torch.hann_window(window), return_complex=True).abs() ** 2
    mel = torch.tensor(_mel_filters(512, N_MELS, SAMPLE_RATE), dtype=torch.float32) @ spectrum
    return torch.log(mel + 1e-6).T


def _mel_filters(n_fft: int, n_mels: int, sample_rate: int) -> np.ndarray:
    """Triangular filters evenly spaced on the mel scale (HTK formula), (n_mels, n_fft // 2 + 1)."""
    def to_mel(hz):
        return 2595.0 * np.log10(1.0 + hz / 700.0)

    def to_hz(mel):
        return 700.0 * (10 ** (mel / 2595.0) - 1.0)

    edges = to_hz(np.linspace(to_mel(50.0), to_mel(sample_rate / 2), n_mels + 2))
    bins = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    filters = np.zeros((n_mels, len(bins)))
    for m in range(n_mels):
        low, centre, high = edges[m: m + 3]
        filters[m] = np.clip(np.minimum((bins - low) / (centre - low), (high - bins) / (high - centre)), 0, None)
    return filters


def normalize_landmarks(landmarks: np.ndarray) -> torch.Tensor:
    """(T, 478, 2+) pixel landmarks -> (T, len(VISUAL_LANDMARKS) * 2) face-normalised coordinates.

    Each frame is centred between the eyes, scaled by the interocular distance and de-rotated, so
    head position, face size and roll carry no information; what is left is expression and shape.
    """
    points = np.asarray(landmarks, dtype=np.float64)[..., :2]
    right = points[:, list(_EYE_RIGHT)].mean(axis=1)
    left = points[:, list(_EYE_LEFT)].mean(axis=1)
    axis = left - right
    scale = np.linalg.norm(axis, axis=1, keepdims=True) + 1e-9
    x_axis = axis / scale
    y_axis = np.stack([-x_axis[:, 1], x_axis[:, 0]], axis=1)
    centred = points[:, list(VISUAL_LANDMARKS)] - ((left + right) / 2)[:, None]
    face = np.stack([(centred * x_axis[:, None]).sum(-1), (centred * y_axis[:, None]).sum(-1)], axis=-1)
    return torch.tensor(face / scale[:, None], dtype=torch.float32).reshape(len(points), -1)


class GradientReversal(torch.autograd.Function):
    """Identity forward; gradient times -lambda backward (Ganin & Lempitsky, 2015)."""

    @staticmethod
    def forward(ctx, inputs: torch.Tensor, strength: float) -> torch.Tensor:
        ctx.strength = strength
        return inputs.view_as(inputs)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.strength * grad, None


def _temporal_encoder(in_features: int, width: int, layers: int) -> nn.Sequential:
    blocks: list[nn.Module] = [nn.Conv1d(in_features, width, 5, padding=2), nn.GELU()]
    for _ in range(layers - 1):
        blocks += [nn.Conv1d(width, width, 5, padding=2, stride=2), nn.GroupNorm(8, width), nn.GELU()]
    return nn.Sequential(*blocks)


@dataclass
class EmbedderOutput:
    mean: torch.Tensor  # (B, D)
    logvar: torch.Tensor  # (B, D)
    identity_logits: torch.Tensor | None  # (B, identities) through gradient reversal, when trained


class DisentangledEmotionEmbedder(PretrainedModule):
    config_name = "emotion_embedder_config.json"

    @register_to_config
    def __init__(self, embedding_dim: int = 64, width: int = 96, layers: int = 3, heads: int = 4,
                 num_identities: int = 0, n_mels: int = N_MELS, num_landmarks: int = len(VISUAL_LANDMARKS)) -> None:
        super().__init__()
        self.audio_encoder = _temporal_encoder(n_mels, width, layers)
        self.visual_encoder = _temporal_encoder(2 * num_landmarks, width, layers)
        self.modality = nn.Parameter(torch.zeros(2, width))
        self.audio_to_visual = nn.MultiheadAttention(width, heads, batch_first=True)
        self.visual_to_audio = nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Sequential(nn.Linear(2 * width, width), nn.GELU(), nn.Linear(width, 2 * embedding_dim))
        self.identity_classifier = (nn.Sequential(nn.Linear(embedding_dim, width), nn.GELU(),
                                                  nn.Linear(width, num_identities)) if num_identities else None)
        # Per-channel standardisation of the inputs, fitted on the training set and saved with the
        # model. Expression moves landmarks by a few percent of the face, far less than the spread
        # between landmarks, so unstandardised coordinates barely train. Not per clip: that would
        # erase a constant expression and the loudness of the voice, both emotion cues.
        self.register_buffer("audio_mean", torch.full((n_mels,), LOG_MEL_MEAN))
        self.register_buffer("audio_std", torch.full((n_mels,), LOG_MEL_STD))
        self.register_buffer("visual_mean", torch.zeros(2 * num_landmarks))
        self.register_buffer("visual_std", torch.ones(2 * num_landmarks))
        # Projection that removes the identity subspace found after training (identity by default).
        self.register_buffer("identity_projection", torch.eye(embedding_dim))

    @torch.no_grad()
    def fit_input_statistics(self, audio: list[torch.Tensor], visual: list[torch.Tensor]) -> None:
        """Set the standardisation from training features (lists of (T, F) tensors, empty ones skipped)."""
        for frames, mean, std in ((audio, self.audio_mean, self.audio_std), (visual, self.visual_mean,
                                                                             self.visual_std)):
            stacked = [f for f in frames if f.numel()]
            if stacked:
                values = torch.cat(stacked)
                mean.copy_(values.mean(0))
                std.copy_(values.std(0).clamp(min=1e-3))

    def _encode(self, encoder: nn.Module, features: torch.Tensor, mask: torch.Tensor | None,
                index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, F) features -> (B, T', W) tokens and (B, T') validity (True = real frame)."""
        tokens = encoder(features.transpose(1, 2)).transpose(1, 2) + self.modality[index]
        if mask is None:
            valid = torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)
        else:
            stride = math.ceil(features.shape[1] / tokens.shape[1])
            valid = mask[:, ::stride][:, : tokens.shape[1]]
        return tokens, valid

    @staticmethod
    def _pool(tokens: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        weights = valid.float().unsqueeze(-1)
        return (tokens * weights).sum(1) / weights.sum(1).clamp(min=1.0)

    def forward(self, audio: torch.Tensor | None = None, visual: torch.Tensor | None = None,
                audio_mask: torch.Tensor | None = None, visual_mask: torch.Tensor | None = None,
                reversal_strength: float = 0.0) -> EmbedderOutput:
        """Embed a batch. ``audio``: (B, T, n_mels) log-mel; ``visual``: (B, T, 2 * landmarks).

        Masks are (B, T) booleans, True on real frames (for padded batches). A sample missing one
        stream entirely can pass an all-False mask for it.
        """
        if audio is None and visual is None:
            raise ValueError("the embedder needs audio, video or both")
        pooled = []
        streams = {}
        if audio is not None:
            audio = (audio - self.audio_mean) / self.audio_std
            streams["audio"] = self._encode(self.audio_encoder, audio, audio_mask, 0)
        if visual is not None:
            visual = (visual - self.visual_mean) / self.visual_std
            streams["visual"] = self._encode(self.visual_encoder, visual, visual_mask, 1)
        if len(streams) == 2:
            (a, a_valid), (v, v_valid) = streams["audio"], streams["visual"]
            has_v, has_a = v_valid.any(1), a_valid.any(1)
            # Attend only where the other stream exists; samples without it keep their own tokens.
            a_cross, _ = self.audio_to_visual(a, v, v, key_padding_mask=~(v_valid | ~has_v[:, None]))
            v_cross, _ = self.visual_to_audio(v, a, a, key_padding_mask=~(a_valid | ~has_a[:, None]))
            a = self.norm(a + a_cross * has_v[:, None, None])
            v = self.norm(v + v_cross * has_a[:, None, None])
            a_pool, v_pool = self._pool(a, a_valid), self._pool(v, v_valid)
            # A missing stream borrows the present one's summary, so the head sees a full input.
            a_pool = torch.where(has_a[:, None], a_pool, v_pool)
            v_pool = torch.where(has_v[:, None], v_pool, a_pool)
            pooled = [a_pool, v_pool]
        else:
            tokens, valid = next(iter(streams.values()))
            summary = self._pool(self.norm(tokens), valid)
            pooled = [summary, summary]
        mean, logvar = self.head(torch.cat(pooled, dim=-1)).chunk(2, dim=-1)
        mean = mean @ self.identity_projection
        logvar = logvar.clamp(-8.0, 4.0)
        identity_logits = None
        if self.identity_classifier is not None and reversal_strength > 0:
            identity_logits = self.identity_classifier(GradientReversal.apply(mean, reversal_strength))
        return EmbedderOutput(mean, logvar, identity_logits)
