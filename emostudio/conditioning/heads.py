"""Heads: emotion embedding -> the controls an embedded generator understands.

Every head is a per-category table of controls (trainable) plus a zero-initialised residual from
the embedding vector; the output is ``neutral + intensity * (weights @ table - neutral + residual)``
so mixtures interpolate and intensity 0 is exactly neutral.

ProsodyHead gives speech prosody. Its default table reproduces the prosodic correlates of vocal
emotion reviewed by

    Murray, I. R. & Arnott, J. L. (1993). Toward the simulation of emotion in synthetic speech:
    a review of the literature on human vocal emotion. JASA 93(2), 1097-1108.

for the direction of each change (pitch average, pitch range, speech rate, intensity, voice
quality), with magnitudes in the range of the rule sets collected by

    Schröder, M. (2001). Emotional speech synthesis: a review. Proc. Eurospeech 2001, 561-564.

Surprise and contempt are not in Murray & Arnott; surprise follows the high-pitch, wide-range,
loud pattern Schröder's review lists for it, contempt the low-pitch, slow, quiet pattern of
Banse & Scherer (1996, JPSP 70(3)). All controls live in units where mixing is linear (semitones,
decibels, log2 factors), so a mixture interpolates, and intensity scales the displacement from
neutral, so intensity 0 is exactly neutral. The table is a parameter: it can be fitted to data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import nn

from .bank import EmotionEmbedding
from .taxonomy import CATEGORIES

PROSODY_CONTROLS: tuple[str, ...] = (
    "f0_shift_semitones",  # pitch level
    "f0_range_log2",       # pitch excursion around the speaker's median, log2 factor
    "tempo_log2",          # speech rate, log2 factor (+ = faster)
    "loudness_db",         # level
    "tilt_db",             # high-frequency emphasis above ~1 kHz (+ = tense/bright, - = soft/lax)
    "pause_log2",          # pause length between phrases, log2 factor
    "variability_log2",    # the voice's own noise scales: irregularity of timing and voicing
)

# One row per category, columns as PROSODY_CONTROLS; values at intensity 1.
DEFAULT_PROSODY_TABLE: dict[str, tuple[float, ...]] = {
    #              f0 st  range  tempo  dB    tilt  pause  var
    "neutral":   (0.0,   0.00,  0.00,  0.0,  0.0,  0.00,  0.00),
    "happy":     (3.5,   0.60,  0.12,  3.0,  2.0, -0.25,  0.20),
    "sad":       (-2.0, -0.60, -0.25, -4.0, -4.0,  0.50, -0.30),
    "angry":     (3.0,   0.70,  0.15,  5.0,  5.0, -0.30,  0.20),
    "fearful":   (5.0,   0.45,  0.30,  0.0,  1.0, -0.15,  0.50),
    "disgusted": (-3.0,  0.15, -0.35, -2.0, -1.0,  0.35,  0.00),
    "surprised": (5.0,   0.85,  0.15,  3.0,  2.0,  0.00,  0.20),
    "contempt":  (-2.0, -0.15, -0.20, -1.5, -1.0,  0.25, -0.10),
}


@dataclass(frozen=True)
class ProsodyControls:
    """Prosody controls in linear-mixing units; the properties give the factors generators apply."""

    f0_shift_semitones: float = 0.0
    f0_range_log2: float = 0.0
    tempo_log2: float = 0.0
    loudness_db: float = 0.0
    tilt_db: float = 0.0
    pause_log2: float = 0.0
    variability_log2: float = 0.0

    @classmethod
    def from_vector(cls, values: torch.Tensor | list[float]) -> ProsodyControls:
        return cls(*(float(v) for v in values))

    def as_list(self) -> list[float]:
        return [getattr(self, name) for name in PROSODY_CONTROLS]

    @property
    def f0_factor(self) -> float:
        return 2.0 ** (self.f0_shift_semitones / 12.0)

    @property
    def f0_range_factor(self) -> float:
        return 2.0**self.f0_range_log2

    @property
    def tempo_factor(self) -> float:
        return 2.0**self.tempo_log2

    @property
    def pause_factor(self) -> float:
        return 2.0**self.pause_log2

    @property
    def variability_factor(self) -> float:
        return 2.0**self.variability_log2


class CategoryTableHead(ModelMixin, ConfigMixin):
    """Shared machinery of the heads: category table, residual, intensity scaling."""

    def _build(self, table: list[tuple[float, ...]], embedding_dim: int, hidden_dim: int) -> None:
        self.table = nn.Parameter(torch.tensor(table, dtype=torch.float32))
        self.residual = nn.Sequential(nn.Linear(embedding_dim, hidden_dim), nn.SiLU(),
                                      nn.Linear(hidden_dim, self.table.shape[1]))
        nn.init.zeros_(self.residual[-1].weight)
        nn.init.zeros_(self.residual[-1].bias)

    def forward(self, embedding: EmotionEmbedding) -> torch.Tensor:
        """(B, C) controls; intensity 0 gives the neutral row exactly."""
        neutral = self.table[list(self.config.categories).index("neutral")]
        displacement = embedding.weights @ self.table - neutral + self.residual(embedding.vector)
        return neutral + embedding.intensity[:, None] * displacement


class ProsodyHead(CategoryTableHead):
    config_name = "prosody_head_config.json"

    @register_to_config
    def __init__(self, categories: tuple[str, ...] = CATEGORIES, embedding_dim: int = 64,
                 hidden_dim: int = 64) -> None:
        super().__init__()
        self._build([DEFAULT_PROSODY_TABLE[name] for name in categories], embedding_dim, hidden_dim)

    def controls(self, embedding: EmotionEmbedding) -> list[ProsodyControls]:
        with torch.no_grad():
            return [ProsodyControls.from_vector(row) for row in self(embedding)]


# FACS action units the face rig animates. AU14R is the unilateral dimpler of contempt, on the
# subject's right side.
ACTION_UNITS: tuple[str, ...] = (
    "AU1",   # inner brow raiser
    "AU2",   # outer brow raiser
    "AU4",   # brow lowerer
    "AU5",   # upper lid raiser
    "AU6",   # cheek raiser
    "AU7",   # lid tightener
    "AU9",   # nose wrinkler
    "AU12",  # lip corner puller
    "AU14R",  # dimpler, subject's right only
    "AU15",  # lip corner depressor
    "AU16",  # lower lip depressor
    "AU20",  # lip stretcher
    "AU23",  # lip tightener
    "AU26",  # jaw drop
)

# Ekman & Friesen's EMFACS prototypes (as listed for the MEAD categories): 1.0 = the AU at full
# strength for that emotion at intensity 1.
_EMFACS: dict[str, dict[str, float]] = {
    "neutral": {},
    "happy": {"AU6": 1.0, "AU12": 1.0},
    "sad": {"AU1": 1.0, "AU4": 0.7, "AU15": 1.0},
    "angry": {"AU4": 1.0, "AU5": 0.7, "AU7": 1.0, "AU23": 1.0},
    "fearful": {"AU1": 1.0, "AU2": 0.8, "AU4": 0.6, "AU5": 1.0, "AU20": 1.0, "AU26": 0.5},
    "disgusted": {"AU9": 1.0, "AU15": 0.8, "AU16": 0.6},
    "surprised": {"AU1": 1.0, "AU2": 1.0, "AU5": 1.0, "AU26": 0.8},
    "contempt": {"AU14R": 1.0},
}
DEFAULT_EXPRESSION_TABLE: dict[str, tuple[float, ...]] = {
    name: tuple(units.get(au, 0.0) for au in ACTION_UNITS) for name, units in _EMFACS.items()
}


class ExpressionHead(CategoryTableHead):
    """Emotion embedding -> FACS action-unit intensities (EMFACS defaults, trainable)."""

    config_name = "expression_head_config.json"

    @register_to_config
    def __init__(self, categories: tuple[str, ...] = CATEGORIES, embedding_dim: int = 64,
                 hidden_dim: int = 64) -> None:
        super().__init__()
        self._build([DEFAULT_EXPRESSION_TABLE[name] for name in categories], embedding_dim, hidden_dim)

    def action_units(self, embedding: EmotionEmbedding) -> np.ndarray:
        """(B, len(ACTION_UNITS)) intensities clipped to [0, 1]."""
        with torch.no_grad():
            return self(embedding).clamp(0.0, 1.0).numpy()
