"""The emotion representation shared by every generator (imports nothing else of emostudio's)."""

from __future__ import annotations

import importlib
from typing import Any

from .spec import EmotionSpec
from .taxonomy import CATEGORIES, CATEGORY_VAD
from .timeline import Segment, Timeline, TimedTimeline

# Torch-backed parts load on first use, so parsing a spec stays fast.
_LAZY = {
    "EmotionBank": ".bank",
    "EmotionEmbedding": ".bank",
    "ProsodyHead": ".heads",
    "ProsodyControls": ".controls",
    "ExpressionHead": ".heads",
    "GradingHead": ".heads",
    "GradingControls": ".controls",
    "DescriptionResolver": ".describe",
}

__all__ = ["CATEGORIES", "CATEGORY_VAD", "EmotionSpec", "Segment", "Timeline", "TimedTimeline", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(name)
