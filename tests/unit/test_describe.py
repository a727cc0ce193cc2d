"""Freestyle descriptions, resolved with the real bundled sentence-embedding model (offline)."""

from __future__ import annotations

import pytest

from emostudio.conditioning.describe import (
    DEFAULT_DESCRIPTION_INTENSITY,
    MAX_DESCRIPTION_CHARS,
    DescriptionResolver,
    default_resolver,
    degree_intensity,
)
from emostudio.conditioning.spec import EmotionSpec
from emostudio.conditioning.taxonomy import CATEGORIES
from emostudio.errors import EmostudioError


@pytest.fixture(scope="module")
def resolver() -> DescriptionResolver:
    # The cached default, so Timeline.parse (which uses it too) shares the loaded model.
    return default_resolver()


def test_quietly_furious_is_angry_and_subdued(resolver: DescriptionResolver) -> None:
    spec = resolver.resolve("quietly furious")
    assert spec.dominant() == "angry"
    assert spec.intensity < DEFAULT_DESCRIPTION_INTENSITY
    assert spec.intensity == pytest.approx(0.5)
    assert spec.source == "description"
    assert spec.label == "quietly furious"


def test_nervous_but_hopeful_mixes_fear_and_happiness(resolver: DescriptionResolver) -> None:
    spec = resolver.resolve("nervous but hopeful")
    assert {"fearful", "happy"} <= set(spec.weights)
    assert spec.weights["fearful"] > 0 and spec.weights["happy"] > 0
    assert sum(spec.weights.values()) == pytest.approx(1.0)
    assert len(spec.weights) <= resolver.max_categories
    assert spec.intensity == pytest.approx(DEFAULT_DESCRIPTION_INTENSITY)


def test_heartbroken_is_sad(resolver: DescriptionResolver) -> None:
    spec = resolver.resolve("heartbroken after the loss")
    assert spec.dominant() == "sad"
    assert spec.source == "description"


def test_extremely_happy_is_full_intensity(resolver: DescriptionResolver) -> None:
    spec = resolver.resolve("extremely happy")
    assert spec.dominant() == "happy"
    assert spec.weights["happy"] > 0.9
    assert spec.intensity == pytest.approx(1.0)


def test_parse_routes_descriptions_to_the_resolver(resolver: DescriptionResolver) -> None:
    spec = EmotionSpec.parse("  quietly furious ", resolver=resolver)
    assert spec.source == "description"
    assert spec.dominant() == "angry"
    # every category's similarity is recorded for inspection
    assert set(spec.details) == {f"similarity:{name}" for name in CATEGORIES}
    assert all(-1.0 <= value <= 1.0 for value in spec.details.values())
    assert spec.details["similarity:angry"] == max(spec.details.values())


def test_category_scores_rank_the_named_category_first(resolver: DescriptionResolver) -> None:
    scores = resolver.category_scores("disgusted by the smell")
    assert scores.shape == (len(CATEGORIES),)
    assert CATEGORIES[int(scores.argmax())] == "disgusted"


@pytest.mark.parametrize("text", ["123 !!", "...", "12 34"])
def test_description_without_letters_raises(resolver: DescriptionResolver, text: str) -> None:
    with pytest.raises(EmostudioError, match="describe it in words"):
        resolver.resolve(text)
    with pytest.raises(EmostudioError):  # a single token such as '...' fails as a term instead
        EmotionSpec.parse(text, resolver=resolver)


def test_overlong_description_raises(resolver: DescriptionResolver) -> None:
    with pytest.raises(EmostudioError, match=f"under {MAX_DESCRIPTION_CHARS}"):
        resolver.resolve("sad " * 100)


# -- degree words (no model needed) ----------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("quietly furious", 0.5),
    ("extremely happy", 1.0),
    ("slightly annoyed", 0.3),
    ("a bit sad", 0.3),
    ("Very Happy", 0.9),
    ("nervous but hopeful", DEFAULT_DESCRIPTION_INTENSITY),
    ("heartbroken after the loss", DEFAULT_DESCRIPTION_INTENSITY),
])
def test_degree_intensity(text: str, expected: float) -> None:
    assert degree_intensity(text) == pytest.approx(expected)


def test_degree_words_match_whole_words_only() -> None:
    # "so" inside "also", "bit" inside "bitter" are not degree words
    assert degree_intensity("also worried") == DEFAULT_DESCRIPTION_INTENSITY
    assert degree_intensity("a bitter taste") == DEFAULT_DESCRIPTION_INTENSITY
    assert degree_intensity("so worried") == pytest.approx(0.85)


def test_degree_word_furthest_from_default_wins() -> None:
    assert degree_intensity("very slightly annoyed") == pytest.approx(0.3)
    assert degree_intensity("really extremely angry") == pytest.approx(1.0)
