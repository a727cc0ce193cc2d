"""Heads: emotion embedding -> the controls an embedded generator understands.

Every head is a per-category table of controls (trainable) plus a zero-initialised residual from
the embedding vector; the output is ``neutral + intensity * (weights @ table - neutral + residual)``
so mixtures interpolate and intensity 0 is exactly neutral.

Their default tables, with the findings they reproduce, are in ``controls`` (torch-free, so the
default path of a generator needs no torch).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .bank import EmotionEmbedding
from .controls import (_EMFACS, ACTION_UNITS, DEFAULT_EXPRESSION_TABLE,  # noqa: F401 (public names)
                       DEFAULT_GRADING_TABLE, DEFAULT_PROSODY_TABLE, EXPRESSION_TABLE_PATH, EXPRESSION_UNITS,
                       GRADING_CONTROLS, NON_NEGATIVE_GRADING_INDICES, PROSODY_CONTROLS, GradingControls,
                       ProsodyControls)
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
