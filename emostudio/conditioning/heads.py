"""Heads: emotion embedding -> the controls an embedded generator understands.

Every head is a per-category table of controls (trainable) plus a zero-initialised residual from
the embedding vector; the output is ``neutral + intensity * (weights @ table - neutral + residual)``
so mixtures interpolate and intensity 0 is exactly neutral.

Their default tables, with the findings they reproduce, are in ``controls`` (prosody and grading,
torch-free so the default path of a generator needs no torch) and below (expression).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .bank import EmotionEmbedding
from .controls import (DEFAULT_GRADING_TABLE, DEFAULT_PROSODY_TABLE, GRADING_CONTROLS,  # noqa: F401 (public names)
                       NON_NEGATIVE_GRADING_INDICES, PROSODY_CONTROLS, GradingControls, ProsodyControls)
from .pretrained import PretrainedModule, register_to_config
from .taxonomy import CATEGORIES


class CategoryTableHead(PretrainedModule):
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
    "AU10",  # upper lip raiser
    "AU12",  # lip corner puller
    "AU14R",  # dimpler, subject's right only
    "AU15",  # lip corner depressor
    "AU16",  # lower lip depressor
    "AU17",  # chin raiser
    "AU20",  # lip stretcher
    "AU23",  # lip tightener
    "AU24",  # lip pressor
    "AU26",  # jaw drop
    "AU27",  # mouth stretch
)

# Ekman & Friesen's EMFACS prototypes (as listed for the MEAD categories): 1.0 = the AU at full
# strength for that emotion at intensity 1. They are where the legibility fit starts.
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
# The shipped table: the prototypes' intensities fitted so that an outside observer (a FER2013
# expression classifier) reads each emotion on many faces, by benchmarks/fit_expression_table.py.
EXPRESSION_TABLE_PATH = Path(__file__).resolve().parents[1] / "assets" / "expression_table.json"


def _expression_table() -> dict[str, dict[str, float]]:
    if not EXPRESSION_TABLE_PATH.exists():
        return _EMFACS
    fitted = json.loads(EXPRESSION_TABLE_PATH.read_text())["table"]
    return {name: fitted.get(name, _EMFACS[name]) for name in _EMFACS}


EXPRESSION_UNITS: dict[str, dict[str, float]] = _expression_table()
DEFAULT_EXPRESSION_TABLE: dict[str, tuple[float, ...]] = {
    name: tuple(units.get(au, 0.0) for au in ACTION_UNITS) for name, units in EXPRESSION_UNITS.items()
}


class ExpressionHead(CategoryTableHead):
    """Emotion embedding -> FACS action-unit intensities (fitted EMFACS defaults, trainable)."""

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


# -- grading ---------------------------------------------------------------------------------------


class GradingHead(CategoryTableHead):
    """Emotion embedding -> grading controls for footage (published colour-emotion findings, trainable)."""

    config_name = "grading_head_config.json"

    @register_to_config
    def __init__(self, categories: tuple[str, ...] = CATEGORIES, embedding_dim: int = 64,
                 hidden_dim: int = 64) -> None:
        super().__init__()
        self._build([DEFAULT_GRADING_TABLE[name] for name in categories], embedding_dim, hidden_dim)

    def grading(self, embedding: EmotionEmbedding) -> list[GradingControls]:
        with torch.no_grad():
            rows = self(embedding)
            rows[:, NON_NEGATIVE_GRADING_INDICES] = rows[:, NON_NEGATIVE_GRADING_INDICES].clamp(min=0.0)
            return [GradingControls.from_vector(row) for row in rows]
