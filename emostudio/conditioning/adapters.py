"""Adapters: the one family of ways emotion enters a neural backbone.

Every adapter here is zero-initialised (untrained, it changes nothing), carries its own scale
(emotion strength is never tied to text, lip or identity guidance), saves and loads as safetensors
through ``save_pretrained``/``from_pretrained``, and is attached without copying a backbone's code:
either by swapping attention processors (decoupled cross-attention beside the backbone's own) or by
offsetting an embedding the backbone already takes (the speaker embedding of a TTS model).
"""

from __future__ import annotations

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import nn

from .bank import EmotionEmbedding
from .taxonomy import CATEGORIES

NEUTRAL_INDEX = CATEGORIES.index("neutral")


# ---------------------------------------------------------------------------------------------
# Speaker-embedding offset (TTS backbones conditioned on a speaker vector, e.g. SpeechT5)
# ---------------------------------------------------------------------------------------------


class SpeakerEmotionConditioner(ModelMixin, ConfigMixin):
    """Maps an ``EmotionEmbedding`` to an offset of a speaker embedding.

    Emotion as a direction in speaker-embedding space, kept apart from identity: the speaker vector
    is passed through unchanged and the emotion is added to it as
    ``emotion_scale * amount * f(mixture, VAD direction)``, where the amount is the intensity times
    the non-neutral share of the mixture (neutral is the absence of emotion, not an emotion).
    Intensity multiplies the emotion term only, so intensity 0, plain neutral or scale 0 return
    the speaker exactly; the output layer starts at zero, so an untrained conditioner is a no-op.
    """

    config_name = "speaker_emotion_conditioner_config.json"

    @register_to_config
    def __init__(self, speaker_dim: int = 512, num_categories: int = len(CATEGORIES), hidden_dim: int = 128):
        super().__init__()
        # Input: the category mixture and the VAD point per unit intensity (the direction only).
        self.body = nn.Sequential(nn.Linear(num_categories + 3, hidden_dim), nn.SiLU(),
                                  nn.Linear(hidden_dim, hidden_dim), nn.SiLU())
        self.to_offset = nn.Linear(hidden_dim, speaker_dim)
        nn.init.zeros_(self.to_offset.weight)
        nn.init.zeros_(self.to_offset.bias)
        self.emotion_scale = 1.0

    def offset(self, emotion: EmotionEmbedding, scale: float | None = None) -> torch.Tensor:
        """(B, speaker_dim) offset for the emotion; zero where intensity or scale is zero."""
        intensity = emotion.intensity.to(self.to_offset.weight).reshape(-1, 1)
        weights = emotion.weights.to(intensity)
        direction = emotion.vad.to(intensity) / intensity.clamp(min=1e-3)
        features = torch.cat([weights, direction], dim=-1)
        strength = self.emotion_scale if scale is None else scale
        amount = intensity * (1.0 - weights[:, NEUTRAL_INDEX: NEUTRAL_INDEX + 1])
        return strength * amount * self.to_offset(self.body(features))

    def forward(self, speaker_embeddings: torch.Tensor, emotion: EmotionEmbedding,
                scale: float | None = None) -> torch.Tensor:
        """Speaker embeddings (B, D) or (D,) moved by the emotion's offset."""
        offset = self.offset(emotion, scale)
        if speaker_embeddings.dim() == 1:
            speaker_embeddings = speaker_embeddings[None].expand(offset.shape[0], -1)
        return speaker_embeddings + offset.to(speaker_embeddings)
