"""DisentangledEmotionEmbedder: emotion from audio and/or video, without who is speaking.

After DICE-Talk's disentangled emotion embedder. An audio encoder reads log-mel spectrograms
(``audio_features="log_mel"``) or, in the bundled model, what is left of the voice once the speaker
and the recording are normalised away (``"normalised"``, see :func:`normalised_audio_features`), a
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
    return torch.log(mel_power(_resample(waveform, sample_rate)) + 1e-6)


def mel_power(audio: np.ndarray) -> torch.Tensor:
    """(frames, N_MELS) mel-band power of 16 kHz audio, 25 ms windows, 10 ms hop."""
    signal = torch.tensor(audio, dtype=torch.float32)
    window = int(0.025 * SAMPLE_RATE)
    spectrum = torch.stft(signal, n_fft=512, hop_length=int(HOP_S * SAMPLE_RATE), win_length=window,
                          window=torch.hann_window(window), return_complex=True).abs() ** 2
    mel = torch.tensor(_mel_filters(512, N_MELS, SAMPLE_RATE), dtype=torch.float32) @ spectrum
    return mel.T


# Tracks added to the log-mel by the normalised audio features, one value per 10 ms frame.
PROSODY_TRACKS: tuple[str, ...] = ("pitch_semitones", "voiced", "loudness", "pitch_slope")
AUDIO_FEATURE_KINDS: tuple[str, ...] = ("log_mel", "normalised")
PITCH_FLOOR_HZ, PITCH_CEILING_HZ = 60.0, 700.0
# Frames within this many dB of the recording's loudest count as speech for the level estimates.
SPEECH_RANGE_DB = 35.0


def audio_channels(kind: str, n_mels: int = N_MELS) -> int:
    """Values per frame of an audio feature kind."""
    if kind not in AUDIO_FEATURE_KINDS:
        raise ValueError(f"unknown audio features {kind!r}; use one of {', '.join(AUDIO_FEATURE_KINDS)}")
    return n_mels + (len(PROSODY_TRACKS) if kind == "normalised" else 0)


def audio_features(waveform: np.ndarray, sample_rate: int, kind: str = "log_mel") -> torch.Tensor:
    """(frames, audio_channels(kind)) features of a waveform, as the embedder of that kind reads them."""
    if kind == "log_mel":
        return log_mel(waveform, sample_rate)
    if kind == "normalised":
        return normalised_audio_features(waveform, sample_rate)
    raise ValueError(f"unknown audio features {kind!r}; use one of {', '.join(AUDIO_FEATURE_KINDS)}")


def _resample(waveform: np.ndarray, sample_rate: int) -> np.ndarray:
    from scipy.signal import resample_poly

    audio = np.asarray(waveform, dtype=np.float64)
    if sample_rate != SAMPLE_RATE:
        divisor = math.gcd(int(sample_rate), SAMPLE_RATE)
        audio = resample_poly(audio, SAMPLE_RATE // divisor, int(sample_rate) // divisor)
    return audio


def pitch_track(waveform: np.ndarray, sample_rate: int, frames: int) -> np.ndarray:
    """F0 in Hz per 10 ms frame (0 where unvoiced), by Praat's autocorrelation method."""
    import parselmouth

    audio = _resample(waveform, sample_rate)
    f0 = np.zeros(frames)
    if len(audio) < 0.05 * SAMPLE_RATE or not np.any(audio):
        return f0
    pitch = parselmouth.Sound(audio, SAMPLE_RATE).to_pitch_ac(time_step=HOP_S, pitch_floor=PITCH_FLOOR_HZ,
                                                              pitch_ceiling=PITCH_CEILING_HZ)
    values = pitch.selected_array["frequency"]
    # Praat's frame k is centred at xs()[k]; the log-mel's frame i at i * HOP_S.
    index = np.round(pitch.xs() / HOP_S).astype(int)
    keep = (index >= 0) & (index < frames)
    f0[index[keep]] = values[keep]
    return f0


def normalised_audio_features(waveform: np.ndarray, sample_rate: int) -> torch.Tensor:
    """Log-mel and prosody tracks with the speaker's and the recording's levels taken out.

    Per frame: the log-mel minus the recording's speech level (one number for the whole clip, so
    the spectral balance between bands, the vocal effort, stays while the microphone gain goes);
    pitch in semitones from the recording's median pitch (0 where unvoiced), so a high voice and
    a low voice saying the same thing give the same track; a voicing flag; loudness in tens of dB
    from the recording's median speech loudness; and the pitch slope in semitones per frame. Tempo
    stays as the timing of these tracks. A lone clip cannot tell a speaker's habits from their
    emotion beyond this: its own median is the best reference it has.
    """
    audio = _resample(waveform, sample_rate)
    power = mel_power(audio).double()
    frames = len(power)
    # Floors relative to the recording's own power, so that scaling the sound changes nothing.
    reference = power.sum(-1).max().clamp(min=1e-20)
    loudness_db = 10.0 * torch.log10(power.sum(-1) + 1e-9 * reference)
    speech = loudness_db > loudness_db.max() - SPEECH_RANGE_DB
    mel = torch.log(power + 1e-9 * reference)
    level = mel[speech].mean()
    f0 = torch.tensor(pitch_track(audio, SAMPLE_RATE, frames))
    voiced = f0 > 0
    semitones = torch.zeros(frames, dtype=torch.float64)
    if voiced.any():
        semitones[voiced] = 12.0 * torch.log2(f0[voiced] / f0[voiced].median())
    slope = torch.zeros(frames, dtype=torch.float64)
    both = voiced[1:] & voiced[:-1]
    slope[1:][both] = (semitones[1:] - semitones[:-1])[both].clamp(-2.0, 2.0)
    loudness = ((loudness_db - loudness_db[speech].median()).clamp(-40.0, 20.0)) / 10.0
    tracks = torch.stack([semitones.clamp(-24.0, 24.0) / 6.0, voiced.double(), loudness, slope], dim=-1)
    return torch.cat([mel - level, tracks], dim=-1).float()


def speech_evidence(waveform: np.ndarray, sample_rate: int) -> float:
    """0..1: how much of a stretch of audio is speech whose tone moves, the raw material of a reading.

    Running speech is voiced for roughly half its duration and its pitch wanders by a few
    semitones; a held tone is voiced with a flat pitch, noise and silence are not voiced at all,
    and a short phrase padded with silence is voiced for a small part of the stretch. Full
    evidence needs a third of the stretch voiced and a pitch spread of 1.5 semitones.
    """
    audio = _resample(waveform, sample_rate)
    frames = int(len(audio) / (HOP_S * SAMPLE_RATE)) + 1
    f0 = pitch_track(audio, SAMPLE_RATE, frames)
    voiced = f0 > 0
    if voiced.sum() < 5:
        return 0.0
    semitones = 12.0 * np.log2(f0[voiced] / np.median(f0[voiced]))
    spread = float(np.percentile(semitones, 90) - np.percentile(semitones, 10)) / 2.0
    return float(np.clip(voiced.mean() / 0.33, 0, 1) * np.clip(spread / 1.5, 0, 1))


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
                 num_identities: int = 0, n_mels: int = N_MELS, num_landmarks: int = len(VISUAL_LANDMARKS),
                 audio_features: str = "log_mel") -> None:
        super().__init__()
        channels = audio_channels(audio_features, n_mels)
        self.audio_encoder = _temporal_encoder(channels, width, layers)
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
        # erase a constant expression; the normalised audio features take out the recording's
        # level themselves, once per clip, keeping the balance between bands.
        self.register_buffer("audio_mean", torch.full((channels,), LOG_MEL_MEAN))
        self.register_buffer("audio_std", torch.full((channels,), LOG_MEL_STD))
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
        """Embed a batch. ``audio``: (B, T, channels) audio features; ``visual``: (B, T, 2 * landmarks).

        ``audio`` is what :func:`audio_features` gives for ``config.audio_features``.
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
