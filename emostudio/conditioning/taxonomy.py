"""The emotion categories, where they sit in valence-arousal-dominance space, and the words for them.

The eight categories are those of the MEAD corpus, the common label set of emotional talking-head
work. Each has a valence-arousal-dominance (VAD) coordinate on the -1..1 scale of

    Russell, J. A. & Mehrabian, A. (1977). Evidence for a three-factor theory of emotions.
    Journal of Research in Personality, 11(3), 273-294.

using the ratings of the adjective that names the category ("happy", "sad", "angry", "fearful",
"surprised"; "disgust" for disgusted). Neutral is the origin. Contempt has no entry in that
study; its coordinate is an estimate placed by the sign pattern dimensional studies report for it
(unpleasant, mildly aroused, dominant) and is marked as such in ``VAD_SOURCES``.
"""

from __future__ import annotations

CATEGORIES: tuple[str, ...] = (
    "neutral",
    "happy",
    "sad",
    "angry",
    "fearful",
    "disgusted",
    "surprised",
    "contempt",
)

# (valence, arousal, dominance) on -1..1.
CATEGORY_VAD: dict[str, tuple[float, float, float]] = {
    "neutral": (0.00, 0.00, 0.00),
    "happy": (0.81, 0.51, 0.46),
    "sad": (-0.63, -0.27, -0.33),
    "angry": (-0.51, 0.59, 0.25),
    "fearful": (-0.64, 0.60, -0.43),
    "disgusted": (-0.60, 0.35, 0.11),
    "surprised": (0.40, 0.67, -0.13),
    "contempt": (-0.45, 0.20, 0.40),
}

VAD_SOURCES: dict[str, str] = {
    name: "Russell & Mehrabian (1977)" for name in CATEGORIES if name not in ("neutral", "contempt")
}
VAD_SOURCES["neutral"] = "origin by definition"
VAD_SOURCES["contempt"] = "estimate: not rated by Russell & Mehrabian (1977)"

# Category names people type instead of the canonical adjective.
CATEGORY_ALIASES: dict[str, str] = {
    "happiness": "happy",
    "joy": "happy",
    "sadness": "sad",
    "anger": "angry",
    "fear": "fearful",
    "afraid": "fearful",
    "disgust": "disgusted",
    "surprise": "surprised",
    "contemptuous": "contempt",
    "calm": "neutral",
    "none": "neutral",
}

# Common emotion words as mixtures of the categories (weights) and an intensity.
VOCABULARY: dict[str, tuple[dict[str, float], float]] = {
    "joyful": ({"happy": 1.0}, 0.9),
    "cheerful": ({"happy": 1.0}, 0.7),
    "content": ({"happy": 1.0}, 0.4),
    "delighted": ({"happy": 0.8, "surprised": 0.2}, 0.9),
    "excited": ({"happy": 0.7, "surprised": 0.3}, 1.0),
    "ecstatic": ({"happy": 0.8, "surprised": 0.2}, 1.0),
    "proud": ({"happy": 0.8, "contempt": 0.2}, 0.7),
    "tender": ({"happy": 0.7, "sad": 0.3}, 0.4),
    "hopeful": ({"happy": 0.7, "fearful": 0.3}, 0.5),
    "amused": ({"happy": 0.8, "surprised": 0.2}, 0.6),
    "relieved": ({"happy": 0.8, "sad": 0.2}, 0.5),
    "melancholy": ({"sad": 1.0}, 0.5),
    "gloomy": ({"sad": 1.0}, 0.6),
    "depressed": ({"sad": 1.0}, 0.9),
    "disappointed": ({"sad": 0.7, "angry": 0.3}, 0.6),
    "lonely": ({"sad": 0.8, "fearful": 0.2}, 0.6),
    "bored": ({"neutral": 0.5, "sad": 0.3, "contempt": 0.2}, 0.5),
    "tired": ({"sad": 1.0}, 0.3),
    "furious": ({"angry": 1.0}, 1.0),
    "irritated": ({"angry": 1.0}, 0.5),
    "annoyed": ({"angry": 0.8, "disgusted": 0.2}, 0.5),
    "frustrated": ({"angry": 0.7, "sad": 0.3}, 0.7),
    "outraged": ({"angry": 0.7, "disgusted": 0.3}, 1.0),
    "scared": ({"fearful": 1.0}, 0.8),
    "terrified": ({"fearful": 0.8, "surprised": 0.2}, 1.0),
    "anxious": ({"fearful": 1.0}, 0.6),
    "nervous": ({"fearful": 1.0}, 0.5),
    "worried": ({"fearful": 0.7, "sad": 0.3}, 0.5),
    "shocked": ({"surprised": 0.7, "fearful": 0.3}, 1.0),
    "amazed": ({"surprised": 0.7, "happy": 0.3}, 0.9),
    "astonished": ({"surprised": 1.0}, 0.9),
    "confused": ({"surprised": 0.5, "fearful": 0.5}, 0.4),
    "disgusted": ({"disgusted": 1.0}, 1.0),
    "repulsed": ({"disgusted": 1.0}, 0.9),
    "grossed": ({"disgusted": 1.0}, 0.7),
    "scornful": ({"contempt": 1.0}, 0.9),
    "disdainful": ({"contempt": 1.0}, 0.8),
    "sarcastic": ({"contempt": 0.7, "happy": 0.3}, 0.6),
    "smug": ({"contempt": 0.6, "happy": 0.4}, 0.6),
    "jealous": ({"angry": 0.5, "sad": 0.3, "fearful": 0.2}, 0.6),
    "ashamed": ({"sad": 0.6, "fearful": 0.4}, 0.6),
    "serene": ({"neutral": 0.6, "happy": 0.4}, 0.4),
    "relaxed": ({"neutral": 0.5, "happy": 0.5}, 0.4),
}


def canonical_category(word: str) -> str | None:
    """The category a word names (``"joy"`` -> ``"happy"``), or None if it names none."""
    word = word.strip().lower()
    if word in CATEGORIES:
        return word
    return CATEGORY_ALIASES.get(word)


def known_words() -> list[str]:
    """Every single word :class:`EmotionSpec` understands, sorted."""
    return sorted(set(CATEGORIES) | set(CATEGORY_ALIASES) | set(VOCABULARY))
