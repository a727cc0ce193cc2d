"""Timeline markup and the raised-cosine transitions between segments."""

from __future__ import annotations

import numpy as np
import pytest

from emostudio.conditioning.spec import EmotionSpec
from emostudio.conditioning.timeline import Timeline, has_markup, smooth_steps
from emostudio.errors import EmostudioError

# -- markup ----------------------------------------------------------------------------------------


def test_two_tagged_segments() -> None:
    timeline = Timeline.parse("[happy] Great news! [sad:0.6] But we have to leave.")
    assert [segment.text for segment in timeline.segments] == ["Great news!", "But we have to leave."]
    happy, sad = timeline.specs
    assert happy == EmotionSpec.parse("happy")
    assert sad.weights == {"sad": 1.0}
    assert sad.intensity == pytest.approx(0.6)
    assert timeline.text == "Great news! But we have to leave."
    assert timeline.has_markup


def test_text_before_the_first_tag_uses_the_default() -> None:
    default = EmotionSpec.parse("cheerful")
    timeline = Timeline.parse("Hello there. [angry] Stop that!", default=default)
    assert [segment.text for segment in timeline.segments] == ["Hello there.", "Stop that!"]
    assert timeline.specs[0] == default
    assert timeline.specs[1] == EmotionSpec.parse("angry")


def test_default_default_is_neutral() -> None:
    timeline = Timeline.parse("Hello there. [angry] Stop that!")
    assert timeline.specs[0].is_neutral
    untagged = Timeline.parse("  Just   plain text.  ")
    assert len(untagged.segments) == 1
    assert untagged.segments[0].text == "Just plain text."  # whitespace normalised
    assert not untagged.has_markup


def test_tag_keeps_applying_until_the_next() -> None:
    timeline = Timeline.parse("[happy:0.7+surprised:0.3] One. Two. [fear] Three.")
    assert [segment.text for segment in timeline.segments] == ["One. Two.", "Three."]
    assert timeline.specs[0].weights == pytest.approx({"happy": 0.7, "surprised": 0.3})
    assert timeline.specs[1].weights == {"fearful": 1.0}


def test_description_inside_a_tag() -> None:
    # Uses the cached default resolver (the real bundled model), shared with test_describe.
    timeline = Timeline.parse("[nervous but hopeful] I think it will work. [happy] It did!")
    first, second = timeline.specs
    assert first.source == "description"
    assert {"fearful", "happy"} <= set(first.weights)
    assert second == EmotionSpec.parse("happy")


def test_constant_timeline() -> None:
    spec = EmotionSpec.parse("sad")
    timeline = Timeline.constant("  Goodbye. ", spec)
    assert timeline.text == "Goodbye."
    assert timeline.specs == [spec]
    assert not timeline.has_markup


def test_has_markup() -> None:
    assert has_markup("[happy] hi")
    assert not has_markup("hi there")


@pytest.mark.parametrize("text", ["[happy", "a]b", "[happy] ok ]", "[[happy]] nested", "hi [sad"])
def test_unmatched_brackets_raise(text: str) -> None:
    with pytest.raises(EmostudioError, match="unmatched"):
        Timeline.parse(text)


@pytest.mark.parametrize("text", ["[] hello", "hello [  ] there"])
def test_empty_tag_raises(text: str) -> None:
    with pytest.raises(EmostudioError, match="empty emotion tag"):
        Timeline.parse(text)


def test_bad_emotion_in_tag_raises() -> None:
    with pytest.raises(EmostudioError, match="did you mean 'happy'"):
        Timeline.parse("[hapy] Great news!")


# -- smooth_steps ----------------------------------------------------------------------------------

RAMP = 0.35
TIMES = np.arange(2001) * 0.001  # 0 .. 2 s at 1 ms, exactly containing 1.0


def test_far_from_boundary_values_are_the_segment_values() -> None:
    curve = smooth_steps(TIMES, [1.0], np.array([0.2, 1.4]), RAMP)
    assert curve.shape == TIMES.shape
    before = TIMES < 1.0 - RAMP / 2 - 1e-9
    after = TIMES > 1.0 + RAMP / 2 + 1e-9
    np.testing.assert_allclose(curve[before], 0.2, atol=1e-12)
    np.testing.assert_allclose(curve[after], 1.4, atol=1e-12)


@pytest.mark.parametrize(("first", "second"), [(0.0, 1.0), (3.0, -2.0)])
def test_transition_is_monotone_and_continuous(first: float, second: float) -> None:
    curve = smooth_steps(TIMES, [1.0], np.array([first, second]), RAMP)
    steps = np.diff(curve) * np.sign(second - first)
    assert np.all(steps >= -1e-12)  # monotone
    jump = abs(second - first)
    max_step = float(np.abs(np.diff(curve)).max())
    assert max_step < 0.01 * jump  # < 1 % of the jump per ms
    # the raised cosine's steepest slope is pi / (2 ramp) per second
    assert max_step == pytest.approx(jump * np.pi / (2 * RAMP) * 0.001, rel=1e-3)


def test_boundary_is_the_midpoint() -> None:
    curve = smooth_steps(np.array([1.0]), [1.0], np.array([0.2, 1.4]), RAMP)
    assert curve[0] == pytest.approx(0.8)
    curve_full = smooth_steps(TIMES, [1.0], np.array([0.2, 1.4]), RAMP)
    assert curve_full[1000] == pytest.approx(0.8)


def test_ramp_is_symmetric_about_the_boundary() -> None:
    curve = smooth_steps(TIMES, [1.0], np.array([0.0, 1.0]), RAMP)
    offsets = np.arange(1, 200)
    np.testing.assert_allclose(curve[1000 - offsets] + curve[1000 + offsets], 1.0, atol=1e-9)


def test_three_segments() -> None:
    curve = smooth_steps(TIMES, [0.6, 1.4], np.array([0.0, 1.0, -1.0]), 0.2)
    assert curve[0] == pytest.approx(0.0)
    assert curve[1000] == pytest.approx(1.0)
    assert curve[-1] == pytest.approx(-1.0)
    assert curve[600] == pytest.approx(0.5)
    assert curve[1400] == pytest.approx(0.0)


def test_two_dimensional_values() -> None:
    values = np.array([[0.0, 10.0], [1.0, 4.0], [-2.0, 4.0]])
    curve = smooth_steps(TIMES, [0.6, 1.4], values, RAMP)
    assert curve.shape == (len(TIMES), 2)
    for column in range(2):
        np.testing.assert_allclose(curve[:, column], smooth_steps(TIMES, [0.6, 1.4], values[:, column], RAMP),
                                   atol=1e-12)
    np.testing.assert_allclose(curve[0], values[0], atol=1e-12)
    np.testing.assert_allclose(curve[-1], values[2], atol=1e-12)
    np.testing.assert_allclose(curve[600], (values[0] + values[1]) / 2, atol=1e-12)


def test_zero_ramp_is_a_step() -> None:
    curve = smooth_steps(TIMES, [1.0], np.array([0.2, 1.4]), 0.0)
    np.testing.assert_array_equal(curve[TIMES < 1.0], 0.2)
    np.testing.assert_array_equal(curve[TIMES >= 1.0], 1.4)


def test_single_segment_is_constant() -> None:
    curve = smooth_steps(TIMES, [], np.array([[0.3, -0.3]]), RAMP)
    assert curve.shape == (len(TIMES), 2)
    np.testing.assert_array_equal(curve, np.broadcast_to([0.3, -0.3], curve.shape))


def test_boundary_count_must_match() -> None:
    with pytest.raises(ValueError, match="one boundary"):
        smooth_steps(TIMES, [0.5, 1.0], np.array([0.0, 1.0]), RAMP)
