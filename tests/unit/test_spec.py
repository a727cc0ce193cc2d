"""EmotionSpec: the text grammar, VAD points, and the errors users see."""

from __future__ import annotations

import numpy as np
import pytest

from emostudio.conditioning.spec import EmotionSpec
from emostudio.conditioning.taxonomy import CATEGORIES, CATEGORY_VAD
from emostudio.errors import EmostudioError

NON_NEUTRAL = [name for name in CATEGORIES if name != "neutral"]


def _close(weights: dict[str, float], expected: dict[str, float]) -> None:
    assert set(weights) == set(expected)
    for name, value in expected.items():
        assert weights[name] == pytest.approx(value, abs=1e-9)


# -- the text grammar ------------------------------------------------------------------------------


def test_single_category_is_full_intensity() -> None:
    spec = EmotionSpec.parse("happy")
    _close(spec.weights, {"happy": 1.0})
    assert spec.intensity == 1.0
    assert spec.source == "category"
    assert spec.label == "happy"
    assert spec.dominant() == "happy"


def test_category_with_weight_sets_intensity() -> None:
    spec = EmotionSpec.parse("happy:0.6")
    _close(spec.weights, {"happy": 1.0})
    assert spec.intensity == pytest.approx(0.6)


def test_whitespace_and_case_are_ignored() -> None:
    spec = EmotionSpec.parse("  Happy : 0.6 ")
    _close(spec.weights, {"happy": 1.0})
    assert spec.intensity == pytest.approx(0.6)
    assert spec.source == "category"


def test_weighted_mixture_summing_to_one() -> None:
    spec = EmotionSpec.parse("happy:0.7+surprised:0.3")
    _close(spec.weights, {"happy": 0.7, "surprised": 0.3})
    assert spec.intensity == pytest.approx(1.0)
    assert spec.source == "mixture"
    assert spec.dominant() == "happy"


def test_weighted_mixture_amounts_add_up_to_intensity() -> None:
    spec = EmotionSpec.parse("happy:0.3+sad:0.2")
    assert spec.intensity == pytest.approx(0.5)
    _close(spec.weights, {"happy": 0.6, "sad": 0.4})


def test_unweighted_mixture_gives_equal_shares() -> None:
    spec = EmotionSpec.parse("happy+surprised")
    _close(spec.weights, {"happy": 0.5, "surprised": 0.5})
    assert spec.intensity == pytest.approx(1.0)

    three = EmotionSpec.parse("happy + sad + angry")
    _close(three.weights, {"happy": 1 / 3, "sad": 1 / 3, "angry": 1 / 3})


@pytest.mark.parametrize(("alias", "category"), [("joy", "happy"), ("anger", "angry"), ("fear", "fearful"),
                                                 ("disgust", "disgusted"), ("surprise", "surprised"),
                                                 ("calm", "neutral")])
def test_aliases_name_their_category(alias: str, category: str) -> None:
    spec = EmotionSpec.parse(alias)
    _close(spec.weights, {category: 1.0})
    assert spec.intensity == 1.0
    assert spec.source == "category"


def test_alias_takes_a_weight() -> None:
    spec = EmotionSpec.parse("joy:0.4+sadness:0.4")
    _close(spec.weights, {"happy": 0.5, "sad": 0.5})
    assert spec.intensity == pytest.approx(0.8)


def test_vocabulary_word_resolves_to_its_mixture() -> None:
    furious = EmotionSpec.parse("furious")
    _close(furious.weights, {"angry": 1.0})
    assert furious.intensity == pytest.approx(1.0)
    assert furious.source == "vocabulary"

    nervous = EmotionSpec.parse("nervous")
    _close(nervous.weights, {"fearful": 1.0})
    assert nervous.intensity == pytest.approx(0.5)

    excited = EmotionSpec.parse("excited")
    _close(excited.weights, {"happy": 0.7, "surprised": 0.3})


def test_vocabulary_word_with_weight_overrides_its_intensity() -> None:
    spec = EmotionSpec.parse("nervous:0.9")
    _close(spec.weights, {"fearful": 1.0})
    assert spec.intensity == pytest.approx(0.9)


def test_zero_weight_is_neutral() -> None:
    spec = EmotionSpec.parse("happy:0")
    assert spec.intensity == 0.0
    assert spec.is_neutral


# -- VAD points ------------------------------------------------------------------------------------


def test_vad_point_of_happy_resolves_to_happy() -> None:
    spec = EmotionSpec.parse("vad:0.81,0.51,0.46")
    assert spec.source == "vad"
    assert spec.dominant() == "happy"
    assert spec.weights["happy"] > 0.9
    assert spec.intensity == pytest.approx(1.0, abs=1e-6)


def test_bare_vad_triple_is_accepted() -> None:
    assert EmotionSpec.parse("0.81, 0.51, 0.46").weights == EmotionSpec.parse("vad:0.81,0.51,0.46").weights


def test_origin_is_neutral() -> None:
    spec = EmotionSpec.parse("vad:0,0,0")
    assert spec.is_neutral
    assert spec.intensity == 0.0


@pytest.mark.parametrize("category", NON_NEUTRAL)
def test_half_of_a_category_point_gives_that_category_at_half_intensity(category: str) -> None:
    point = [0.5 * x for x in CATEGORY_VAD[category]]
    spec = EmotionSpec.from_vad(*point)
    assert spec.dominant() == category
    assert spec.weights[category] == pytest.approx(1.0, abs=1e-3)
    assert spec.intensity == pytest.approx(0.5, abs=1e-3)


def test_vad_round_trip_inside_the_cone() -> None:
    """Points that are small non-negative mixtures of the category points come back exactly."""
    rng = np.random.default_rng(1234)
    basis = np.array([CATEGORY_VAD[name] for name in NON_NEUTRAL])  # (7, 3)
    for _ in range(100):
        amounts = rng.dirichlet(np.full(len(NON_NEUTRAL), 0.5)) * rng.uniform(0.05, 1.0)
        point = amounts @ basis
        spec = EmotionSpec.from_vad(*point)
        assert spec.source == "vad"
        assert 0.0 < spec.intensity <= 1.0
        np.testing.assert_allclose(spec.vad, point, atol=1e-3)


@pytest.mark.parametrize("category", NON_NEUTRAL)
def test_vad_round_trip_of_half_category_points(category: str) -> None:
    point = np.array(CATEGORY_VAD[category]) * 0.5
    np.testing.assert_allclose(EmotionSpec.from_vad(*point).vad, point, atol=1e-3)


def test_vad_round_trip_of_the_disgusted_point() -> None:
    point = CATEGORY_VAD["disgusted"]
    np.testing.assert_allclose(EmotionSpec.parse("vad:-0.6,0.35,0.11").vad, point, atol=1e-3)


# -- using a spec ----------------------------------------------------------------------------------


def test_vad_property_is_weighted_point_scaled_by_intensity() -> None:
    assert EmotionSpec.parse("happy").vad == pytest.approx(CATEGORY_VAD["happy"])
    assert EmotionSpec.parse("happy:0.5").vad == pytest.approx([0.5 * x for x in CATEGORY_VAD["happy"]])
    mixture = EmotionSpec.parse("happy:0.3+sad:0.2")
    expected = 0.3 * np.array(CATEGORY_VAD["happy"]) + 0.2 * np.array(CATEGORY_VAD["sad"])
    np.testing.assert_allclose(mixture.vad, expected, atol=1e-12)
    assert EmotionSpec.neutral().vad == (0.0, 0.0, 0.0)


def test_with_intensity_keeps_the_mixture() -> None:
    spec = EmotionSpec.parse("happy:0.7+surprised:0.3")
    quieter = spec.with_intensity(0.25)
    assert quieter.weights == spec.weights
    assert quieter.intensity == 0.25
    assert quieter.source == spec.source and quieter.label == spec.label
    assert spec.intensity == pytest.approx(1.0)  # the original is untouched
    np.testing.assert_allclose(quieter.vad, np.array(spec.vad) * 0.25, atol=1e-12)


@pytest.mark.parametrize("intensity", [-0.1, 1.5, float("nan")])
def test_with_intensity_out_of_range_raises(intensity: float) -> None:
    with pytest.raises(EmostudioError, match="from 0 to 1"):
        EmotionSpec.parse("happy").with_intensity(intensity)


def test_is_neutral() -> None:
    assert EmotionSpec.neutral().is_neutral
    assert EmotionSpec.parse("neutral").is_neutral
    assert EmotionSpec.parse("calm").is_neutral
    assert EmotionSpec.parse("happy").with_intensity(0.0).is_neutral
    assert not EmotionSpec.parse("happy").is_neutral
    assert not EmotionSpec.parse("happy:0.1").is_neutral
    assert not EmotionSpec.parse("calm+happy").is_neutral


def test_weight_vector_follows_category_order() -> None:
    vector = EmotionSpec.parse("happy:0.3+sad:0.2").weight_vector()
    assert vector.shape == (len(CATEGORIES),)
    assert vector[CATEGORIES.index("happy")] == pytest.approx(0.6)
    assert vector[CATEGORIES.index("sad")] == pytest.approx(0.4)
    assert vector.sum() == pytest.approx(1.0)


def test_direct_construction_validates() -> None:
    with pytest.raises(EmostudioError, match="Unknown emotion category"):
        EmotionSpec({"jolly": 1.0})
    with pytest.raises(EmostudioError, match="sum to 1"):
        EmotionSpec({"happy": 0.5, "sad": 0.2})


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_raises(text: str) -> None:
    with pytest.raises(EmostudioError, match="empty") as error:
        EmotionSpec.parse(text)
    assert "happy" in str(error.value)  # shows an example


def test_unknown_word_suggests_the_close_one() -> None:
    with pytest.raises(EmostudioError, match="did you mean 'happy'") as error:
        EmotionSpec.parse("hapy")
    assert "'hapy'" in str(error.value)


def test_unknown_word_without_close_match_still_explains() -> None:
    with pytest.raises(EmostudioError, match="Unknown emotion word 'zzzq'") as error:
        EmotionSpec.parse("zzzq")
    assert "did you mean" not in str(error.value)


def test_malformed_term_raises() -> None:
    with pytest.raises(EmostudioError, match="Could not read the emotion term 'happy:abc'") as error:
        EmotionSpec.parse("happy:abc")
    assert "NAME:WEIGHT" in str(error.value)


def test_weights_summing_over_one_raise() -> None:
    with pytest.raises(EmostudioError, match=r"sum to 1\.40") as error:
        EmotionSpec.parse("happy:0.7+sad:0.7")
    assert "at most 1" in str(error.value)


@pytest.mark.parametrize("text", ["happy:1.5", "happy:-0.2"])
def test_weight_out_of_range_raises(text: str) -> None:
    with pytest.raises(EmostudioError, match="weights are amounts from 0 to 1"):
        EmotionSpec.parse(text)


def test_duplicated_category_raises() -> None:
    with pytest.raises(EmostudioError, match="'happy' appears twice"):
        EmotionSpec.parse("happy:0.3+happy:0.2")


def test_duplicated_category_through_an_alias_raises() -> None:
    with pytest.raises(EmostudioError, match="twice"):
        EmotionSpec.parse("happy:0.5+joy:0.3")


def test_mixed_weighted_and_unweighted_terms_raise() -> None:
    with pytest.raises(EmostudioError, match="some do not"):
        EmotionSpec.parse("happy:0.5+sad")


@pytest.mark.parametrize("text", ["vad:2,0,0", "vad:0,-1.5,0", "0,0,1.01"])
def test_vad_out_of_range_raises(text: str) -> None:
    with pytest.raises(EmostudioError, match="out of range"):
        EmotionSpec.parse(text)


def test_unreadable_vad_raises() -> None:
    with pytest.raises(EmostudioError, match="valence-arousal-dominance"):
        EmotionSpec.parse("vad 1 2")


def test_errors_are_value_errors() -> None:
    with pytest.raises(ValueError):
        EmotionSpec.parse("hapy")
